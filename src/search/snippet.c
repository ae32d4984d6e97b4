/*
 * snippet.c: pipit_snippet(), the FTS5 auxiliary function that cuts a search
 * result's snippet (registered with the tokenizer: tokenizer.h).
 *
 *   pipit_snippet(table, column, open, close, ellipsis, tokens)
 *
 * The text of column, cut to a window of `tokens` positions around its first match
 * (all of it when shorter), each match between open and close, ellipsis where the
 * text was cut. A column without a match gives its first `tokens` positions,
 * unmarked; an empty or NULL one, ''.
 *
 * Why not FTS5's snippet(): the tokenizer's CJK bigrams overlap (北京 is bytes 0-6,
 * 京大 3-9), so two matches at neighbouring positions ("谢"* in 谢谢你) cover
 * overlapping bytes, and the SQLite 3.40 of Debian 12 then copies the rest of the
 * text again ("[谢谢]你[谢你]"). Here the matches' byte ranges are merged first.
 * Like snippet(), a match (a phrase instance) is marked from its first token's
 * first byte to its last token's last byte.
 */
#include "search/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

#define SNIPPET_MAX_TOKENS 64
#define SNIPPET_MAX_BYTES (64 * 1024)

/* The byte range of each position of the column (colocated tokens widen it). */
struct span {
    int start;
    int end;
};

struct positions {
    struct span *at;
    int count;
    int cap;
};

static int on_position(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    struct positions *p = ctx;
    struct span *last = p->count > 0 ? &p->at[p->count - 1] : NULL;

    (void)token;
    (void)n;
    if ((tflags & FTS5_TOKEN_COLOCATED) && last != NULL) {
        last->start = start < last->start ? start : last->start;
        last->end = end > last->end ? end : last->end;
        return SQLITE_OK;
    }
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->at = xrealloc(p->at, (size_t)p->cap * sizeof(*p->at));
    }
    p->at[p->count++] = (struct span){ start, end };
    return SQLITE_OK;
}

struct range {
    int first; /* positions */
    int last;
};

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;

    return x->first != y->first ? (x->first > y->first) - (x->first < y->first)
                                : (x->last > y->last) - (x->last < y->last);
}

/* The matches of this column, as position ranges sorted by where they start. */
static int column_matches(const Fts5ExtensionApi *api, Fts5Context *fts, int col, int npos,
                          struct range **out, int *count)
{
    int ninst = 0, n = 0;
    struct range *r;

    *out = NULL;
    *count = 0;
    if (api->xInstCount(fts, &ninst) != SQLITE_OK) {
        return SQLITE_ERROR;
    }
    r = xcalloc((size_t)ninst + 1, sizeof(*r));
    for (int i = 0; i < ninst; i++) {
        int phrase, icol, off, last;

        if (api->xInst(fts, i, &phrase, &icol, &off) != SQLITE_OK) {
            free(r);
            return SQLITE_ERROR;
        }
        if (icol != col || off < 0 || off >= npos) {
            continue;
        }
        last = off + api->xPhraseSize(fts, phrase) - 1;
        r[n].first = off;
        r[n].last = last < off ? off : last < npos ? last : npos - 1;
        n++;
    }
    qsort(r, (size_t)n, sizeof(*r), range_cmp);
    *out = r;
    *count = n;
    return SQLITE_OK;
}

static const char *text_arg(sqlite3_value *v)
{
    const char *s = (const char *)sqlite3_value_text(v);

    return s != NULL ? s : "";
}

/* text[from, to) with the matches in it marked, overlapping ones merged. */
static int append_marked(struct buf *b, const char *text, int from, int to,
                         const struct positions *pos, const struct range *m, int nm,
                         const char *open, const char *close)
{
    int at = from, rc = 0;

    for (int i = 0; i < nm && rc == 0;) {
        int s = pos->at[m[i].first].start, e = pos->at[m[i].last].end;

        /* Every later match that starts inside this one joins it. */
        for (i++; i < nm && pos->at[m[i].first].start <= e; i++) {
            e = pos->at[m[i].last].end > e ? pos->at[m[i].last].end : e;
        }
        s = s < at ? at : s;
        e = e > to ? to : e;
        if (s >= e) {
            continue;
        }
        rc = buf_append(b, text + at, (size_t)(s - at));
        rc = rc ? rc : buf_appendz(b, open);
        rc = rc ? rc : buf_append(b, text + s, (size_t)(e - s));
        rc = rc ? rc : buf_appendz(b, close);
        at = e;
    }
    return rc ? rc : buf_append(b, text + at, (size_t)(to - at));
}

static void pipit_snippet(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                          int nval, sqlite3_value **val)
{
    struct positions pos = { NULL, 0, 0 };
    struct range *m = NULL;
    struct buf b;
    const char *text = NULL, *open, *close, *ellipsis;
    int col, want, n = 0, nm = 0, first, last, from, to, rc;

    if (nval != 5) {
        sqlite3_result_error(ctx, "pipit_snippet: wrong number of arguments", -1);
        return;
    }
    col = sqlite3_value_int(val[0]);
    open = text_arg(val[1]);
    close = text_arg(val[2]);
    ellipsis = text_arg(val[3]);
    want = sqlite3_value_int(val[4]);
    want = want < 1 ? 1 : want > SNIPPET_MAX_TOKENS ? SNIPPET_MAX_TOKENS : want;
    if (col < 0 || col >= api->xColumnCount(fts) ||
        api->xColumnText(fts, col, &text, &n) != SQLITE_OK) {
        sqlite3_result_error(ctx, "pipit_snippet: no such column", -1);
        return;
    }
    if (text == NULL || n <= 0) {
        sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
        return;
    }
    rc = api->xTokenize(fts, text, n, &pos, on_position);
    if (rc == SQLITE_OK && pos.count > 0) {
        rc = column_matches(api, fts, col, pos.count, &m, &nm);
    }
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        goto out;
    }
    /* The window: `want` positions, the first match in the middle of it. */
    first = 0;
    if (nm > 0) {
        int span = m[0].last - m[0].first + 1;

        first = m[0].first - (want > span ? (want - span) / 2 : 0);
    }
    first = first > pos.count - want ? pos.count - want : first;
    first = first < 0 ? 0 : first;
    last = first + want > pos.count ? pos.count : first + want; /* exclusive */
    from = first == 0 || pos.count == 0 ? 0 : pos.at[first].start;
    to = last == pos.count ? n : pos.at[last - 1].end;
    buf_init(&b, SNIPPET_MAX_BYTES);
    rc = buf_appendz(&b, from > 0 ? ellipsis : "");
    rc = rc ? rc : append_marked(&b, text, from, to, &pos, m, nm, open, close);
    rc = rc ? rc : buf_appendz(&b, to < n ? ellipsis : "");
    if (rc == 0) {
        sqlite3_result_text(ctx, b.data != NULL ? b.data : "", (int)b.len, SQLITE_TRANSIENT);
    } else {
        sqlite3_result_error_toobig(ctx);
    }
    buf_cleanup(&b);
out:
    free(m);
    free(pos.at);
}

int search__snippet_register(fts5_api *api)
{
    return api->xCreateFunction(api, SEARCH_SNIPPET_NAME, NULL, pipit_snippet, NULL) ==
                   SQLITE_OK
               ? 0
               : -1;
}
