#include "net/limits.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/config.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "util/metrics.h"

_Static_assert(LIMIT_KINDS == METRICS_NLIMITS, "a metric for each limit");

#define SLOTS 65536
#define STRIPES 64
#define EXEMPT_MAX 32

struct bucket {
    uint64_t key;               /* the hashed (kind, key) that owns it; 0: empty */
    double tokens;
    int64_t at_ms;              /* when tokens was last brought up to date */
};

struct cidr {
    uint8_t addr[16];           /* IPv4 as IPv4-mapped IPv6 */
    int bits;
};

struct limits {
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    double rate[LIMIT_KINDS], burst[LIMIT_KINDS]; /* buckets */
    int64_t max[LIMIT_KINDS];                     /* counts */
    struct cidr exempt[EXEMPT_MAX];
    int nexempt;
    struct metrics *metrics;
    uv_mutex_t stripes[STRIPES];
    struct bucket buckets[SLOTS];
    atomic_int counts[SLOTS];
};

/* An address as 16 bytes (IPv4 mapped into IPv6); false when it is none. */
static bool parse_addr(const char *text, uint8_t out[16])
{
    struct in_addr v4;

    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

static bool is_v4(const uint8_t a[16])
{
    static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static bool cidr_contains(const struct cidr *c, const uint8_t a[16])
{
    int whole = c->bits / 8, rest = c->bits % 8;

    return memcmp(c->addr, a, (size_t)whole) == 0 &&
           (rest == 0 || ((c->addr[whole] ^ a[whole]) & (0xff00 >> rest)) == 0);
}

/* "A/bits" or "A" (a single address); IPv4 bits count within the IPv4 part. */
static bool parse_cidr(const char *text, struct cidr *out)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t n = slash != NULL ? (size_t)(slash - text) : strlen(text);
    char *end;
    long bits;

    if (n == 0 || n >= sizeof(addr)) {
        return false;
    }
    memcpy(addr, text, n);
    addr[n] = '\0';
    if (!parse_addr(addr, out->addr)) {
        return false;
    }
    if (slash == NULL) {
        out->bits = 128;
        return true;
    }
    bits = strtol(slash + 1, &end, 10);
    if (*end != '\0' || end == slash + 1 || bits < 0 || bits > (is_v4(out->addr) ? 32 : 128)) {
        return false;
    }
    out->bits = (int)bits + (is_v4(out->addr) && strchr(addr, ':') == NULL ? 96 : 0);
    return true;
}

static int parse_exempt(struct limits *l, const char *list, char *err, size_t errlen)
{
    char item[80];

    while (*list != '\0') {
        size_t n = strcspn(list, ",");
        size_t from = 0, to = n;

        while (from < to && list[from] == ' ') {
            from++;
        }
        while (to > from && list[to - 1] == ' ') {
            to--;
        }
        if (to > from) {
            if (to - from >= sizeof(item) || l->nexempt == EXEMPT_MAX) {
                snprintf(err, errlen, "rate_limit_exempt: at most %d addresses of up to %zu "
                         "characters", EXEMPT_MAX, sizeof(item) - 1);
                return -1;
            }
            memcpy(item, list + from, to - from);
            item[to - from] = '\0';
            if (!parse_cidr(item, &l->exempt[l->nexempt])) {
                snprintf(err, errlen, "rate_limit_exempt: '%s' is not an address or CIDR "
                         "block", item);
                return -1;
            }
            l->nexempt++;
        }
        list += n + (list[n] == ',');
    }
    return 0;
}

struct limits *limits_new(const struct config *cfg, struct metrics *metrics, char *err,
                          size_t errlen)
{
    struct limits *l = xcalloc(1, sizeof(*l));

    randombytes_buf(l->hash_key, sizeof(l->hash_key));
    l->metrics = metrics;
    l->rate[LIMIT_IP_REQUESTS] = (double)cfg->ip_request_rate;
    l->burst[LIMIT_IP_REQUESTS] = (double)cfg->ip_request_burst;
    l->rate[LIMIT_USER_REQUESTS] = (double)cfg->user_request_rate;
    l->burst[LIMIT_USER_REQUESTS] = (double)cfg->user_request_burst;
    l->rate[LIMIT_USER_MESSAGES] = (double)cfg->user_message_rate;
    l->burst[LIMIT_USER_MESSAGES] = (double)cfg->user_message_burst;
    l->max[LIMIT_IP_CONNECTIONS] = cfg->ip_connections_max;
    l->max[LIMIT_IP_PREAUTH] = cfg->ip_preauth_max;
    if (parse_exempt(l, cfg->rate_limit_exempt, err, errlen) != 0) {
        free(l);
        return NULL;
    }
    for (int i = 0; i < STRIPES; i++) {
        uv_mutex_init(&l->stripes[i]);
    }
    return l;
}

void limits_free(struct limits **lp)
{
    if (*lp != NULL) {
        for (int i = 0; i < STRIPES; i++) {
            uv_mutex_destroy(&(*lp)->stripes[i]);
        }
        PIPIT_FREE(*lp);
    }
}

void limits_addr(const struct limits *l, const char *ip, struct limit_addr *out)
{
    uint8_t a[16];

    out->key = 1;
    out->exempt = false;
    if (!parse_addr(ip, a)) {
        return;
    }
    for (int i = 0; i < l->nexempt && !out->exempt; i++) {
        out->exempt = cidr_contains(&l->exempt[i], a);
    }
    /* IPv4: the address; IPv6: its /64, which one subscriber is given whole. */
    out->key = is_v4(a) ? (uint64_t)1 << 32 | bytes_get_be(a + 12, 4) : bytes_get_be(a, 8);
}

static uint64_t hash_of(const struct limits *l, enum limit_kind kind, uint64_t key)
{
    uint8_t in[9];
    uint64_t h;

    in[0] = (uint8_t)kind;
    bytes_put_be(in + 1, key, 8);
    crypto_shorthash((unsigned char *)&h, in, sizeof(in), l->hash_key);
    return h | 1; /* 0 marks an empty bucket */
}

static void refused(struct limits *l, enum limit_kind kind)
{
    atomic_fetch_add_explicit(&l->metrics->rate_limited[kind], 1, memory_order_relaxed);
}

int64_t limits_take(struct limits *l, enum limit_kind kind, uint64_t key, int64_t now_ms)
{
    double rate = l->rate[kind], burst = l->burst[kind];
    uint64_t h;
    struct bucket *b;
    int64_t wait = 0;

    if (rate <= 0) {
        return 0;
    }
    h = hash_of(l, kind, key);
    b = &l->buckets[h % SLOTS];
    uv_mutex_lock(&l->stripes[h % STRIPES]);
    if (b->key != h) {
        b->key = h;
        b->tokens = burst;
    } else if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
        if (b->tokens > burst) {
            b->tokens = burst;
        }
    }
    b->at_ms = now_ms > b->at_ms ? now_ms : b->at_ms;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        wait = (int64_t)((1.0 - b->tokens) * 1000.0 / rate) + 1;
    }
    uv_mutex_unlock(&l->stripes[h % STRIPES]);
    if (wait > 0) {
        refused(l, kind);
    }
    return wait;
}

bool limits_enter(struct limits *l, enum limit_kind kind, uint64_t key)
{
    atomic_int *n;

    if (l->max[kind] <= 0) {
        return true;
    }
    n = &l->counts[hash_of(l, kind, key) % SLOTS];
    if (atomic_fetch_add(n, 1) >= l->max[kind]) {
        atomic_fetch_sub(n, 1);
        refused(l, kind);
        return false;
    }
    return true;
}

void limits_leave(struct limits *l, enum limit_kind kind, uint64_t key)
{
    if (l->max[kind] > 0) {
        atomic_fetch_sub(&l->counts[hash_of(l, kind, key) % SLOTS], 1);
    }
}
