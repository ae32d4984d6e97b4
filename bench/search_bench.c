/*
 * search_bench.c: message search on a large store (issue 8: 1,000,000 messages,
 * a typical query p99 ≤ 50 ms).
 *
 *   pipit-search-bench populate DATA_DIR [MESSAGES] [CONVERSATIONS] [USERS]
 *   pipit-search-bench query PORT [QUERIES] [USERS]
 *
 * populate writes a store through pipit's own store layer, search triggers on,
 * so the index is built exactly as the server builds it (encrypted at rest, as
 * pipitd does, when PIPIT_MASTER_KEY or PIPIT_MASTER_KEY_FILE names a key): USERS users (u1…,
 * password "bench-password"), CONVERSATIONS groups of 3–20 random members, and
 * MESSAGES messages spread over them, 60% English-like text (words drawn with a
 * Zipf law from 5,000 made-up words) and 40% Chinese (two-character words made
 * of 400 common characters, also Zipf, with Chinese punctuation). Deterministic.
 *
 * query logs in as random users and sends QUERIES searches over one keep-alive
 * connection each, one at a time, and prints latency percentiles per kind of
 * query: a mid-frequency English word (Zipf ranks 20–2,000), a two-character
 * Chinese word (ranks 20–2,000), a four-character Chinese phrase, two English
 * words, and the commonest English word (the worst case: it is in a fifth of
 * the messages). Run it against a server started on the populated data dir.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "keys/keyring.h"
#include "store/store.h"
#include "store/store_chat.h"

#define VOCAB_EN 5000
#define VOCAB_ZH 3000
#define PASSWORD "bench-password"

static const char common_han[] =
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说"
    "产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点"
    "从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原"
    "又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革"
    "位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强"
    "放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交"
    "受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八"
    "离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布";

static char *vocab_en[VOCAB_EN];
static char *vocab_zh[VOCAB_ZH];
static double zipf_cdf_en[VOCAB_EN];
static double zipf_cdf_zh[VOCAB_ZH];
static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double uniform(void)
{
    return (double)(next_rand() >> 11) / 9007199254740992.0;
}

static int pick(int n)
{
    return (int)(next_rand() % (uint64_t)n);
}

static void zipf_table(double *cdf, int n)
{
    double sum = 0;

    for (int i = 0; i < n; i++) {
        sum += 1.0 / (i + 1);
        cdf[i] = sum;
    }
    for (int i = 0; i < n; i++) {
        cdf[i] /= sum;
    }
}

static int zipf(const double *cdf, int n)
{
    double u = uniform();
    int lo = 0, hi = n - 1;

    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (cdf[mid] < u) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The same made-up vocabularies on every run (the generator starts from a fixed seed). */
static void make_vocabularies(void)
{
    static const char *const onset[] = { "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p",
                                         "r", "s", "t", "v", "w", "st", "tr", "pl", "ch" };
    static const char *const vowel[] = { "a", "e", "i", "o", "u", "ea", "ou", "ai" };
    size_t nhan = strlen(common_han) / 3;

    for (int i = 0; i < VOCAB_EN; i++) {
        char w[32] = "";
        int syllables = 1 + pick(3);

        for (int s = 0; s < syllables; s++) {
            strcat(w, onset[pick(20)]);
            strcat(w, vowel[pick(8)]);
        }
        if (pick(2)) {
            strcat(w, onset[pick(13)]);
        }
        vocab_en[i] = strdup(w);
    }
    for (int i = 0; i < VOCAB_ZH; i++) {
        char w[8];
        size_t a = (size_t)pick((int)nhan), b = (size_t)pick((int)nhan);

        memcpy(w, common_han + 3 * a, 3);
        memcpy(w + 3, common_han + 3 * b, 3);
        w[6] = '\0';
        vocab_zh[i] = strdup(w);
    }
    zipf_table(zipf_cdf_en, VOCAB_EN);
    zipf_table(zipf_cdf_zh, VOCAB_ZH);
}

static void message_text(char *out, size_t cap)
{
    size_t n = 0;

    out[0] = '\0';
    if (uniform() < 0.6) {
        int words = 4 + pick(16);

        for (int i = 0; i < words && n + 40 < cap; i++) {
            n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "",
                                  vocab_en[zipf(zipf_cdf_en, VOCAB_EN)]);
        }
    } else {
        int words = 4 + pick(12);

        for (int i = 0; i < words && n + 16 < cap; i++) {
            n += (size_t)snprintf(out + n, cap - n, "%s%s", vocab_zh[zipf(zipf_cdf_zh, VOCAB_ZH)],
                                  pick(5) == 0 ? (pick(2) ? "，" : "。") : "");
        }
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This process's CPU time, user and system. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int populate(const char *dir, int64_t messages, int convs, int users)
{
    struct store_conn *sc;
    char err[256], hash[STORE_HASH_MAX], name[32], text[512], body[1200];
    int64_t *conv_ids = calloc((size_t)convs, sizeof(int64_t));
    int64_t *conv_seq = calloc((size_t)convs, sizeof(int64_t));
    int64_t **conv_members = calloc((size_t)convs, sizeof(int64_t *));
    int *conv_nmembers = calloc((size_t)convs, sizeof(int));
    int64_t first_user = 0, now = (int64_t)time(NULL) * 1000 - messages * 10;
    struct keyring *keys = NULL;
    uint8_t master[KEYRING_KEY_LEN];
    bool rebuilt;
    double t0 = now_s(), cpu0 = cpu_s();
    int64_t sealed;
    int has_master;

    if (password_init() != 0 || password_hash(PASSWORD, hash) != 0 ||
        (has_master = keyring_master_load(NULL, dir, master, err, sizeof(err))) < 0 ||
        keyring_load(dir, has_master ? master : NULL, true, &keys, err, sizeof(err)) != 0 ||
        store_open(dir, STORE_READ_WRITE, 2, keys, &sc, err, sizeof(err)) != 0 ||
        store_search_enable(sc, true, &rebuilt) != 0 ||
        (keys != NULL && store_seal_plain(sc, now, &sealed) != 0)) {
        fprintf(stderr, "populate: cannot open the store in %s: %s\n", dir, err);
        return 1;
    }
    printf("populate: encryption at rest %s\n", keys != NULL ? "on" : "off");
    store_set_cache_size(sc, 256LL * 1024 * 1024);
    store_begin(sc);
    for (int i = 1; i <= users; i++) {
        int64_t id;

        snprintf(name, sizeof(name), "u%d", i);
        if (store_user_insert(sc, STORE_DEFAULT_APP, name, hash, "user", now, &id) != 0) {
            fprintf(stderr, "populate: cannot add %s (is the data dir fresh?)\n", name);
            return 1;
        }
        if (i == 1) {
            first_user = id;
        }
    }
    for (int c = 0; c < convs; c++) {
        struct store_conv conv = { .app_id = STORE_DEFAULT_APP, .created_by = first_user,
                                   .created_at = now, .last_ts = now };

        snprintf(conv.type, sizeof(conv.type), "group");
        conv.title = name;
        snprintf(name, sizeof(name), "group %d", c + 1);
        store_conv_insert(sc, &conv, NULL);
        conv_ids[c] = conv.id;
        conv_nmembers[c] = 3 + pick(18);
        conv_members[c] = calloc((size_t)conv_nmembers[c], sizeof(int64_t));
        for (int m = 0; m < conv_nmembers[c]; m++) {
            int64_t user = first_user + pick(users);

            conv_members[c][m] = user;
            /* A repeated pick fails on the primary key and is simply not added twice. */
            store_member_join(sc, conv.id, user, m == 0 ? "owner" : "member", 1, now);
        }
    }
    store_commit(sc);
    printf("populate: %d users, %d conversations in %.1f s\n", users, convs, now_s() - t0);
    for (int64_t i = 0; i < messages; i++) {
        int c = pick(convs);
        struct store_event ev = { .conv_id = conv_ids[c], .seq = ++conv_seq[c], .kind = "message",
                                  .sender = conv_members[c][pick(conv_nmembers[c])],
                                  .ts = now + i * 10 };

        if (i % 10000 == 0) {
            if (i > 0) {
                store_search_flush(sc);
                store_commit(sc);
            }
            store_begin(sc);
        }
        message_text(text, sizeof(text));
        snprintf(body, sizeof(body), "{\"type\":\"text\",\"text\":\"%s\"}", text);
        ev.body = body;
        if (store_event_insert(sc, &ev) != 0) {
            fprintf(stderr, "populate: insert failed: %s\n", store_errmsg(sc));
            return 1;
        }
        if ((i + 1) % 100000 == 0) {
            printf("populate: %" PRId64 " messages, %.0f/s\n", i + 1, (double)(i + 1) / (now_s() - t0));
            fflush(stdout);
        }
    }
    for (int c = 0; c < convs; c++) {
        store_conv_save_tail(sc, conv_ids[c]);
    }
    store_search_flush(sc);
    store_commit(sc);
    printf("populate: %" PRId64 " messages indexed in %.1f s (%.1f us of CPU each); db %.0f "
           "MiB\n", messages, now_s() - t0, (cpu_s() - cpu0) * 1e6 / (double)messages,
           (double)store_disk_bytes(dir) / 1048576.0);
    store_close(&sc);
    keyring_free(keys);
    return 0;
}

/* ---- query ---- */

struct sink {
    char buf[65536];
    size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t take = size * n;

    if (s->len + take < sizeof(s->buf)) {
        memcpy(s->buf + s->len, p, take);
        s->len += take;
        s->buf[s->len] = '\0';
    }
    return size * n;
}

static CURL *login(int port, int user, struct curl_slist **headers)
{
    CURL *h = curl_easy_init();
    struct sink s = { .len = 0 };
    char url[128], body[128], auth[256];
    const char *tok;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/auth/login", port);
    snprintf(body, sizeof(body), "{\"username\":\"u%d\",\"password\":\"" PASSWORD "\"}", user);
    *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (curl_easy_perform(h) != CURLE_OK || (tok = strstr(s.buf, "\"token\":\"")) == NULL) {
        fprintf(stderr, "query: cannot log in as u%d: %s\n", user, s.buf);
        exit(1);
    }
    tok += 9;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %.*s", (int)strcspn(tok, "\""), tok);
    curl_slist_free_all(*headers);
    *headers = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
    return h;
}

enum kind { EN_WORD, ZH_WORD, ZH_PHRASE, EN_TWO, EN_COMMONEST, KINDS };
static const char *const kind_names[KINDS] = {
    "English word (rank 20-2000)", "Chinese word, 2 chars", "Chinese phrase, 4 chars",
    "two English words", "commonest English word",
};

static void make_query(enum kind k, char *q, size_t cap)
{
    int a = 20 + pick(1980), b = 20 + pick(1980);

    switch (k) {
    case EN_WORD: snprintf(q, cap, "%s", vocab_en[a]); break;
    case ZH_WORD: snprintf(q, cap, "%s", vocab_zh[a]); break;
    case ZH_PHRASE: snprintf(q, cap, "%s%s", vocab_zh[pick(20)], vocab_zh[pick(200)]); break;
    case EN_TWO: snprintf(q, cap, "%s %s", vocab_en[pick(200)], vocab_en[b]); break;
    case EN_COMMONEST: snprintf(q, cap, "%s", vocab_en[0]); break;
    default: break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int query(int port, int queries, int users)
{
    double *lat[KINDS];
    int n[KINDS] = { 0 }, hits[KINDS] = { 0 };
    int per_user = 50;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int k = 0; k < KINDS; k++) {
        lat[k] = calloc((size_t)queries, sizeof(double));
    }
    for (int done = 0; done < queries * KINDS;) {
        struct curl_slist *headers;
        CURL *h = login(port, 1 + pick(users), &headers);

        for (int i = 0; i < per_user && done < queries * KINDS; i++, done++) {
            enum kind k = (enum kind)(done % KINDS);
            struct sink s = { .len = 0 };
            char q[128], url[512];
            char *esc;
            double t0;
            long status = 0;

            make_query(k, q, sizeof(q));
            esc = curl_easy_escape(h, q, 0);
            snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/search?limit=20&q=%s", port, esc);
            curl_free(esc);
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
            t0 = now_s();
            if (curl_easy_perform(h) != CURLE_OK) {
                fprintf(stderr, "query: request failed\n");
                return 1;
            }
            lat[k][n[k]++] = (now_s() - t0) * 1000;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (status != 200) {
                fprintf(stderr, "query: %ld for %s: %s\n", status, q, s.buf);
                return 1;
            }
            hits[k] += strstr(s.buf, "\"results\":[]") == NULL;
        }
        curl_easy_cleanup(h);
        curl_slist_free_all(headers);
    }
    printf("%-30s %7s %7s %7s %7s %7s  %s\n", "query kind", "n", "p50 ms", "p95 ms", "p99 ms",
           "max ms", "with results");
    for (int k = 0; k < KINDS; k++) {
        qsort(lat[k], (size_t)n[k], sizeof(double), cmp_double);
        printf("%-30s %7d %7.1f %7.1f %7.1f %7.1f  %d%%\n", kind_names[k], n[k],
               lat[k][n[k] / 2], lat[k][(int)(n[k] * 0.95)], lat[k][(int)(n[k] * 0.99)],
               lat[k][n[k] - 1], 100 * hits[k] / n[k]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    make_vocabularies();
    if (argc >= 3 && strcmp(argv[1], "populate") == 0) {
        return populate(argv[2], argc > 3 ? atoll(argv[3]) : 1000000,
                        argc > 4 ? atoi(argv[4]) : 10000, argc > 5 ? atoi(argv[5]) : 2000);
    }
    if (argc >= 3 && strcmp(argv[1], "query") == 0) {
        return query(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 1000, argc > 4 ? atoi(argv[4]) : 2000);
    }
    fprintf(stderr, "usage: pipit-search-bench populate DATA_DIR [MESSAGES] [CONVERSATIONS] [USERS]\n"
                    "       pipit-search-bench query PORT [QUERIES] [USERS]\n");
    return 2;
}
