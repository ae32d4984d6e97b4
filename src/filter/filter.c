#include "filter/filter.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "util/intmap.h"
#include "util/mem.h"
#include "util/utf8.h"

/* ---- normalisation ---- */

/*
 * Chinese sentence punctuation ends a match: "方法，轮到你" holds no "法轮". Other
 * symbols between characters are skipped, as evasions use them.
 */
#define BREAK 1u

/* The character as matched: folded, BREAK, or 0 when it is skipped (not a letter or digit). */
static inline uint32_t fold(uint32_t cp)
{
    if (cp == 0x3001 || cp == 0x3002 || cp == 0xFF0C || cp == 0xFF01 || cp == 0xFF1F ||
        cp == 0xFF1B || cp == 0xFF1A) {
        return BREAK; /* 、。，！？；： */
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        cp -= 0xFEE0; /* full-width forms: their ASCII */
    }
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') {
            return cp + 32;
        }
        return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ? cp : 0;
    }
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE10 && cp <= 0xFE6F) || (cp >= 0xFF00 && cp <= 0xFF0F) || cp == 0xFEFF ||
        (cp >= 0xA0 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 ||
        (cp >= 0x0300 && cp <= 0x036F)) {
        return 0; /* punctuation, spaces, zero-width and combining marks */
    }
    if ((cp >= 0xC0 && cp <= 0xDE) || (cp >= 0x0391 && cp <= 0x03A9) ||
        (cp >= 0x0410 && cp <= 0x042F)) {
        return cp + 32; /* Latin-1, Greek and Cyrillic capitals */
    }
    if (cp >= 0x0400 && cp <= 0x040F) {
        return cp + 80;
    }
    return cp;
}

static bool latin_word_char(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 0xE0 && cp <= 0xFF);
}

/* A normalised character and where it came from in the text. */
struct nchar {
    uint32_t cp;
    uint32_t start, end;        /* byte offsets of the original character */
};

/* Normalises text into out (len entries at most); returns how many. */
static size_t normalise(const char *text, size_t len, struct nchar *out)
{
    size_t n = 0, i = 0;

    while (i < len) {
        unsigned char b = (unsigned char)text[i];
        uint32_t cp;
        size_t k = 1;

        if (b < 0x80) {
            cp = fold(b); /* most text: no decoding */
        } else if ((k = utf8_decode((const unsigned char *)text + i, len - i, &cp)) != 0) {
            cp = fold(cp);
        } else {
            k = 1; /* not UTF-8: skipped like a separator */
            cp = 0;
        }
        if (cp != 0) {
            out[n].cp = cp;
            out[n].start = (uint32_t)i;
            out[n].end = (uint32_t)(i + k);
            n++;
        }
        i += k;
    }
    return n;
}

/* ---- the automaton ---- */

struct edge {
    uint32_t cp;
    uint32_t to;
};

struct node {
    uint32_t first_edge, nedges; /* sorted by cp */
    uint32_t fail;
    uint32_t out;               /* the nearest node (itself or down its fail chain) ending a word; 0: none */
    int32_t word;               /* the word ending here; -1: none */
    uint16_t depth;
};

struct word {
    enum filter_action action;
    uint16_t len;               /* characters */
    bool bound_start, bound_end; /* a Latin letter or digit at that end: needs a word boundary */
    char *list;
    char *text;
};

/*
 * Most characters of a text lead nowhere and send the scan back to the root,
 * which has an edge for every first character of every word: the root's edges
 * of the Basic Multilingual Plane are a table (256 KiB), not a search.
 */
#define ROOT_TABLE 65536

/*
 * Latin text goes deep into the trie and back all the time: for letters and
 * digits every node has its whole transition (child, or where its failure chain
 * leads) in one row, so such a character costs one load. The top bit marks a
 * node where a word ends (itself or down its failure chain).
 */
#define ALNUM 36
#define HAS_OUT 0x80000000u

static int alnum_of(uint32_t cp)
{
    return cp >= 'a' && cp <= 'z' ? (int)(cp - 'a') : cp >= '0' && cp <= '9' ? (int)(cp - '0') + 26 : -1;
}

struct filter {
    struct node *nodes;
    size_t nnodes;
    uint32_t *root;             /* ROOT_TABLE: the root's child by character, 0: none */
    uint32_t *alnum;            /* nnodes rows of ALNUM transitions (HAS_OUT flagged) */
    struct edge *edges;
    struct word *words;
    size_t nwords;
};

static uint32_t step(const struct filter *f, uint32_t node, uint32_t cp)
{
    const struct node *n = &f->nodes[node];
    uint32_t lo = n->first_edge, hi = n->first_edge + n->nedges;

    if (node == 0 && cp < ROOT_TABLE && f->root != NULL) {
        return f->root[cp];
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;

        if (f->edges[mid].cp < cp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n->first_edge + n->nedges && f->edges[lo].cp == cp ? f->edges[lo].to : 0;
}

/* The trie while it is built: children as linked lists. */
struct tnode {
    uint32_t child, sibling;
    uint32_t cp;
    int32_t word;
    uint16_t depth;
};

static int cmp_edge(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;

    return x->cp < y->cp ? -1 : x->cp > y->cp;
}

struct filter *filter_new(const char *const *words, const enum filter_action *actions,
                          const char *const *lists, size_t n)
{
    struct filter *f = xcalloc(1, sizeof(*f));
    struct tnode *t = xcalloc(1, sizeof(*t));
    size_t nt = 1, cap = 1, nedges = 0;
    struct nchar norm[4 * FILTER_WORD_MAX]; /* one per byte of a word we take */
    uint32_t *queue;
    size_t qh = 0, qt = 0;

    t[0].word = -1;
    f->words = xcalloc(n ? n : 1, sizeof(*f->words));
    for (size_t i = 0; i < n; i++) {
        size_t wl = strlen(words[i]), len;
        uint32_t at = 0;

        if (wl > 4 * FILTER_WORD_MAX) {
            continue;
        }
        len = normalise(words[i], wl, norm);
        if (len == 0 || len > FILTER_WORD_MAX) {
            continue;
        }
        for (size_t c = 0; c < len; c++) {
            uint32_t k = t[at].child;

            while (k != 0 && t[k].cp != norm[c].cp) {
                k = t[k].sibling;
            }
            if (k == 0) {
                if (nt == cap) {
                    cap = cap * 2 + 64;
                    t = xrealloc(t, cap * sizeof(*t));
                }
                k = (uint32_t)nt++;
                t[k] = (struct tnode){ 0, t[at].child, norm[c].cp, -1, (uint16_t)(c + 1) };
                t[at].child = k;
                nedges++;
            }
            at = k;
        }
        if (t[at].word >= 0) {
            struct word *w = &f->words[t[at].word];

            if (actions[i] > w->action) { /* the strictest list wins */
                w->action = actions[i];
                free(w->list);
                w->list = xstrdup(lists[i]);
            }
            continue;
        }
        t[at].word = (int32_t)f->nwords;
        f->words[f->nwords++] = (struct word){
            actions[i], (uint16_t)len, latin_word_char(norm[0].cp),
            latin_word_char(norm[len - 1].cp), xstrdup(lists[i]), xstrdup(words[i]) };
    }

    /* Flatten: each node's edges sorted, contiguous. */
    f->nnodes = nt;
    f->nodes = xcalloc(nt, sizeof(*f->nodes));
    f->edges = xcalloc(nedges ? nedges : 1, sizeof(*f->edges));
    nedges = 0;
    for (size_t i = 0; i < nt; i++) {
        f->nodes[i].first_edge = (uint32_t)nedges;
        for (uint32_t k = t[i].child; k != 0; k = t[k].sibling) {
            f->edges[nedges++] = (struct edge){ t[k].cp, k };
        }
        f->nodes[i].nedges = (uint32_t)nedges - f->nodes[i].first_edge;
        qsort(f->edges + f->nodes[i].first_edge, f->nodes[i].nedges, sizeof(struct edge),
              cmp_edge);
        f->nodes[i].word = t[i].word;
        f->nodes[i].depth = t[i].depth;
    }

    f->root = xcalloc(ROOT_TABLE, sizeof(*f->root));
    for (uint32_t e = 0; e < f->nodes[0].nedges; e++) {
        if (f->edges[e].cp < ROOT_TABLE) {
            f->root[f->edges[e].cp] = f->edges[e].to;
        }
    }

    /* Failure links, breadth first: a node's fail is the longest proper suffix in the trie. */
    queue = xcalloc(nt, sizeof(*queue));
    for (uint32_t e = 0; e < f->nodes[0].nedges; e++) {
        queue[qt++] = f->edges[e].to;
    }
    while (qh < qt) {
        uint32_t u = queue[qh++];
        struct node *un = &f->nodes[u];

        un->out = un->word >= 0 ? u : f->nodes[un->fail].out;
        for (uint32_t e = un->first_edge; e < un->first_edge + un->nedges; e++) {
            uint32_t v = f->edges[e].to, fl = un->fail;

            while (fl != 0 && step(f, fl, f->edges[e].cp) == 0) {
                fl = f->nodes[fl].fail;
            }
            fl = step(f, fl, f->edges[e].cp);
            f->nodes[v].fail = fl != v ? fl : 0;
            queue[qt++] = v;
        }
    }
    /* Breadth first again: a node's failure target has its row already. */
    f->alnum = xcalloc(nt * ALNUM, sizeof(*f->alnum));
    for (size_t i = 0; i <= qt; i++) {
        uint32_t u = i == 0 ? 0 : queue[i - 1];

        for (int c = 0; c < ALNUM; c++) {
            uint32_t cp = c < 26 ? 'a' + (uint32_t)c : '0' + (uint32_t)(c - 26);
            uint32_t v = step(f, u, cp);

            if (v == 0 && u != 0) {
                v = f->alnum[(size_t)f->nodes[u].fail * ALNUM + c] & ~HAS_OUT;
            }
            f->alnum[(size_t)u * ALNUM + c] = v | (f->nodes[v].out != 0 ? HAS_OUT : 0);
        }
    }
    free(queue);
    free(t);
    return f;
}

void filter_free(struct filter *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->nwords; i++) {
        free(f->words[i].list);
        free(f->words[i].text);
    }
    free(f->words);
    free(f->root);
    free(f->alnum);
    free(f->nodes);
    free(f->edges);
    free(f);
}

/* Whether the original text has a Latin letter or digit right at byte offset `at`. */
static bool latin_at(const char *text, size_t len, size_t at)
{
    uint32_t cp;

    if (at >= len || utf8_decode((const unsigned char *)text + at, len - at, &cp) == 0) {
        return false;
    }
    return latin_word_char(fold(cp));
}

/* Whether the character ending at byte offset `end` is a Latin letter or digit. */
static bool latin_before(const char *text, size_t end)
{
    size_t at = end;

    while (at > 0 && end - at < 4) {
        at--;
        if (((unsigned char)text[at] & 0xC0) != 0x80) {
            return latin_at(text, end, at);
        }
    }
    return false;
}

/* Masked spans: byte ranges of the text. */
struct spans {
    uint32_t (*r)[2];
    size_t n, cap;
};

static void add_span(struct spans *s, uint32_t start, uint32_t end)
{
    if (s->n == s->cap) {
        s->cap = s->cap * 2 + 8;
        s->r = xrealloc(s->r, s->cap * sizeof(*s->r));
    }
    s->r[s->n][0] = start;
    s->r[s->n][1] = end;
    s->n++;
}

static int cmp_span(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The text with each span (sorted, overlapping ones merged) replaced by "***". */
static char *apply_spans(const char *text, size_t len, struct spans *s)
{
    char *out = xmalloc(len + 3 * s->n + 1), *p = out;
    size_t from = 0, m = 0;

    qsort(s->r, s->n, sizeof(*s->r), cmp_span);
    for (size_t i = 0; i < s->n; i++) {
        if (m > 0 && s->r[i][0] <= s->r[m - 1][1]) {
            if (s->r[i][1] > s->r[m - 1][1]) {
                s->r[m - 1][1] = s->r[i][1];
            }
        } else {
            s->r[m][0] = s->r[i][0];
            s->r[m][1] = s->r[i][1];
            m++;
        }
    }
    s->n = m;
    for (size_t i = 0; i < s->n; i++) {
        memcpy(p, text + from, s->r[i][0] - from);
        p += s->r[i][0] - from;
        memcpy(p, "***", 3);
        p += 3;
        from = s->r[i][1];
    }
    memcpy(p, text + from, len - from);
    p[len - from] = '\0';
    return out;
}

static void note_hit(struct filter_hit *hit, const struct word *w)
{
    if (w->action > hit->action) {
        hit->action = w->action;
        snprintf(hit->list, sizeof(hit->list), "%s", w->list);
        snprintf(hit->word, sizeof(hit->word), "%s", w->text);
    }
}

enum filter_action filter_check(const struct filter *f, const char *text, size_t len,
                                char **masked, struct filter_hit *hit)
{
    struct nchar small[512], *norm = small;
    struct spans spans = { NULL, 0, 0 };
    uint32_t state = 0;
    size_t n;

    memset(hit, 0, sizeof(*hit));
    *masked = NULL;
    if (f == NULL || f->nwords == 0 || len == 0) {
        return FILTER_NONE;
    }
    if (len > sizeof(small) / sizeof(small[0])) {
        norm = xmalloc(len * sizeof(*norm)); /* one entry per byte at most */
    }
    n = normalise(text, len, norm);
    for (size_t i = 0; i < n && hit->action != FILTER_REJECT; i++) {
        int c = alnum_of(norm[i].cp);
        uint32_t next;

        if (c >= 0) {
            next = f->alnum[(size_t)state * ALNUM + c];
            state = next & ~HAS_OUT;
            if (!(next & HAS_OUT)) {
                continue;
            }
        } else {
            while ((next = step(f, state, norm[i].cp)) == 0 && state != 0) {
                state = f->nodes[state].fail;
            }
            state = next;
        }
        for (uint32_t o = f->nodes[state].out; o != 0; o = f->nodes[f->nodes[o].fail].out) {
            const struct word *w = &f->words[f->nodes[o].word];
            const struct nchar *first = &norm[i + 1 - w->len], *last = &norm[i];

            if ((w->bound_start && latin_before(text, first->start)) ||
                (w->bound_end && latin_at(text, len, last->end))) {
                continue; /* inside a longer word */
            }
            note_hit(hit, w);
            if (w->action == FILTER_MASK) {
                add_span(&spans, first->start, last->end);
            }
        }
    }
    if (hit->action == FILTER_MASK) {
        *masked = apply_spans(text, len, &spans);
    }
    free(spans.r);
    if (norm != small) {
        free(norm);
    }
    return hit->action;
}

/* ---- the lists on disk ---- */

#define ALL_APPS 0

/* What the lists were built from: names, sizes and times, to see a change. */
struct listing {
    char *text;
    size_t len, cap;
};

struct filters {
    atomic_int refs;
    struct intmap by_app;       /* app id (ALL_APPS for every app) → struct filter */
    size_t words;
};

struct filter_set {
    char *dir;
    uv_mutex_t lock;            /* guards current: held for a load and a reference */
    struct filters *current;
    char *seen;                 /* the listing current was built from */
};

static void filters_unref(struct filters *fs)
{
    if (fs == NULL || atomic_fetch_sub(&fs->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < fs->by_app.cap; i++) {
        if (fs->by_app.slots[i].key != 0) {
            filter_free(fs->by_app.slots[i].value);
        }
    }
    intmap_cleanup(&fs->by_app);
    free(fs);
}

struct filter_set *filter_set_new(const char *dir)
{
    struct filter_set *s = xcalloc(1, sizeof(*s));

    s->dir = xstrdup(dir);
    uv_mutex_init(&s->lock);
    s->seen = xstrdup("");
    return s;
}

void filter_set_free(struct filter_set **sp)
{
    struct filter_set *s = *sp;

    if (s == NULL) {
        return;
    }
    filters_unref(s->current);
    uv_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->seen);
    free(s);
    *sp = NULL;
}

static void listing_add(struct listing *l, const char *fmt, const char *a, long long b,
                        long long c)
{
    int need = snprintf(NULL, 0, fmt, a, b, c);

    if (l->len + (size_t)need + 1 > l->cap) {
        l->cap = (l->len + (size_t)need + 1) * 2;
        l->text = xrealloc(l->text, l->cap);
    }
    snprintf(l->text + l->len, l->cap - l->len, fmt, a, b, c);
    l->len += (size_t)need;
}

/* "<list>.<action>.txt": its action, and the list's name in list; FILTER_NONE if not a list. */
static enum filter_action list_file(const char *name, char list[FILTER_LIST_MAX + 1])
{
    static const struct { const char *suffix; enum filter_action action; } kinds[] = {
        { ".reject.txt", FILTER_REJECT }, { ".mask.txt", FILTER_MASK }, { ".flag.txt", FILTER_FLAG },
    };
    size_t n = strlen(name);

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t sl = strlen(kinds[i].suffix);

        if (n > sl && n - sl <= FILTER_LIST_MAX && strcmp(name + n - sl, kinds[i].suffix) == 0 &&
            name[0] != '.') {
            memcpy(list, name, n - sl);
            list[n - sl] = '\0';
            return kinds[i].action;
        }
    }
    return FILTER_NONE;
}

/* The words being gathered for one app's filter. */
struct gather {
    char **words;
    enum filter_action *actions;
    char **lists;
    size_t n, cap;
};

static void gather_free(struct gather *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->words[i]);
        free(g->lists[i]);
    }
    free(g->words);
    free(g->actions);
    free(g->lists);
    memset(g, 0, sizeof(*g));
}

static int read_list(struct gather *g, const char *path, const char *list,
                     enum filter_action action, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char line[1024];

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t n = strcspn(line, "#\r\n");

        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) {
            n--;
        }
        line[n] = '\0';
        if (n == 0) {
            continue;
        }
        if (g->n == g->cap) {
            g->cap = g->cap * 2 + 256;
            g->words = xrealloc(g->words, g->cap * sizeof(*g->words));
            g->actions = xrealloc(g->actions, g->cap * sizeof(*g->actions));
            g->lists = xrealloc(g->lists, g->cap * sizeof(*g->lists));
        }
        g->words[g->n] = xstrdup(line + strspn(line, " \t"));
        g->actions[g->n] = action;
        g->lists[g->n] = xstrdup(list);
        g->n++;
    }
    fclose(fp);
    return 0;
}

/*
 * What the lists of one directory are, into the listing, and their words into g
 * (NULL: not read). A missing directory has no lists.
 */
static int read_dir(const char *dir, struct gather *g, struct listing *l, bool *any_subdir,
                    char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL && errno == ENOENT) {
        return 0;
    }
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char path[4096], list[FILTER_LIST_MAX + 1];
        enum filter_action action = list_file(e->d_name, list);
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (any_subdir != NULL && e->d_name[0] != '.' && stat(path, &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            *any_subdir = true;
        }
        if (action == FILTER_NONE || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        listing_add(l, "%s %lld %lld\n", path, (long long)st.st_size,
                    (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
        if (g != NULL) {
            rc = read_list(g, path, list, action, err, errlen);
        }
    }
    closedir(d);
    return rc;
}

static void put_filter(struct filters *fs, int64_t app, struct gather *g)
{
    struct filter *f;

    if (g->n == 0) {
        return;
    }
    f = filter_new((const char *const *)g->words, g->actions, (const char *const *)g->lists,
                   g->n);
    fs->words += f->nwords;
    intmap_put(&fs->by_app, app + 1, f); /* intmap keys are never 0 */
}

/*
 * Walks the lists (the directory, then its app subdirectories) into the listing
 * l; with fs, reads their words and builds each app's filter into it too.
 */
static int scan(const char *dir, struct listing *l, struct filters *fs, char *err, size_t errlen)
{
    struct gather g = { 0 };
    bool subdirs = false;
    struct dirent *e;
    DIR *d;
    int rc = read_dir(dir, fs != NULL ? &g : NULL, l, &subdirs, err, errlen);

    if (rc == 0 && fs != NULL) {
        put_filter(fs, ALL_APPS, &g);
    }
    gather_free(&g);
    d = rc == 0 && subdirs ? opendir(dir) : NULL;
    while (d != NULL && rc == 0 && (e = readdir(d)) != NULL) {
        char sub[4096], *end;
        long long app = strtoll(e->d_name, &end, 10);

        if (e->d_name[0] < '1' || e->d_name[0] > '9' || *end != '\0' || app <= 0) {
            continue; /* app directories are named by the app's id */
        }
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        rc = read_dir(sub, fs != NULL ? &g : NULL, l, NULL, err, errlen);
        if (rc == 0 && fs != NULL) {
            put_filter(fs, app, &g);
        }
        gather_free(&g);
    }
    if (d != NULL) {
        closedir(d);
    }
    return rc;
}

int filter_set_reload(struct filter_set *s, char *err, size_t errlen)
{
    struct listing l = { xstrdup(""), 0, 1 };
    struct filters *fs, *old;
    int rc;

    if (s->dir[0] == '\0') {
        free(l.text);
        return 0;
    }
    /* A look at names, sizes and times first: reading and building is for a change. */
    rc = scan(s->dir, &l, NULL, err, errlen);
    if (rc != 0 || strcmp(l.text, s->seen) == 0) {
        free(l.text);
        return rc;
    }
    l.len = 0;
    l.text[0] = '\0';
    fs = xcalloc(1, sizeof(*fs));
    atomic_init(&fs->refs, 1);
    intmap_init(&fs->by_app);
    rc = scan(s->dir, &l, fs, err, errlen);
    if (rc != 0) {
        free(l.text);
        filters_unref(fs);
        return rc;
    }
    free(s->seen);
    s->seen = l.text;
    uv_mutex_lock(&s->lock);
    old = s->current;
    s->current = fs;
    uv_mutex_unlock(&s->lock);
    filters_unref(old);
    return 1;
}

static struct filters *filters_get(struct filter_set *s)
{
    struct filters *fs;

    uv_mutex_lock(&s->lock);
    fs = s->current;
    if (fs != NULL) {
        atomic_fetch_add(&fs->refs, 1);
    }
    uv_mutex_unlock(&s->lock);
    return fs;
}

enum filter_action filter_set_check(struct filter_set *s, int64_t app_id, const char *text,
                                    size_t len, char **masked, struct filter_hit *hit)
{
    struct filters *fs = filters_get(s);
    struct filter_hit other;
    char *once = NULL;

    memset(hit, 0, sizeof(*hit));
    *masked = NULL;
    if (fs == NULL) {
        return FILTER_NONE;
    }
    filter_check(intmap_get(&fs->by_app, ALL_APPS + 1), text, len, masked, hit);
    if (hit->action != FILTER_REJECT) {
        /* The app's lists see what the first pass left (masked or not). */
        const char *t = *masked != NULL ? *masked : text;

        filter_check(intmap_get(&fs->by_app, app_id + 1), t, *masked != NULL ? strlen(t) : len,
                     &once, &other);
        if (once != NULL) {
            free(*masked);
            *masked = once;
        }
        if (other.action > hit->action) {
            *hit = other;
        }
    }
    if (hit->action != FILTER_MASK) {
        free(*masked);
        *masked = NULL;
    }
    filters_unref(fs);
    return hit->action;
}

size_t filter_set_words(struct filter_set *s)
{
    struct filters *fs = filters_get(s);
    size_t n = fs != NULL ? fs->words : 0;

    filters_unref(fs);
    return n;
}
