/*
 * records_cv.c - a search's means, deviations and ranks of its scores,
 * predicted from the per-split scores (records_cv.h says how and why).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "codec/records_cv.h"

#define CV_MAX_SOURCES 4096

void cv_model_free(cv_model *m)
{
    for (uint64_t i = 0; i < m->n; i++) free(m->d[i].src);
    free(m->d);
    memset(m, 0, sizeof *m);
}

/* ---- numpy's sums ------------------------------------------------------------ */

/* numpy's pairwise_sum of doubles (loops_utils.h.src). */
static double pairwise(const double *a, size_t n)
{
    if (n < 8) {
        double r = 0.;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

/* A row's sum as np.add.reduce gives it: its identity 0.0 plus the
 * pairwise sum; or left to right. */
static double row_sum(const double *x, size_t n, uint8_t order)
{
    if (order == 1) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++) r += x[i];
        return r;
    }
    return 0.0 + pairwise(x, n);
}

static double f64_load(const uint8_t *p) { return bits_to_f64(load_le64(p)); }

/* Value i of the mean or deviation of the splits' arrays at src (S of
 * them); row (S doubles) is scratch. */
static double predict_stat(const uint8_t *const *src, size_t S, uint64_t i, uint8_t what, uint8_t order, double *row)
{
    for (size_t k = 0; k < S; k++) row[k] = f64_load(src[k] + i * 8);
    const double mean = row_sum(row, S, order) / (double)S;
    if (what == CV_WHAT_MEAN) return mean;
    for (size_t k = 0; k < S; k++) {
        const double d = row[k] - mean;
        row[k] = d * d;
    }
    return sqrt(row_sum(row, S, order) / (double)S);
}

/* ---- ranks ----------------------------------------------------------------- */

typedef struct ranked {
    double v;
    uint64_t i;
} ranked;

static int by_value_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* rankdata(-mean, method="min") with NaN means below every other (as
 * scikit-learn replaces them by the smallest mean less one): 1 + the
 * number of means above. */
static bool predict_ranks(const uint8_t *mean, uint64_t n, uint64_t *rank)
{
    ranked *r = malloc((size_t)n * sizeof *r + 1);
    if (!r) return false;
    for (uint64_t i = 0; i < n; i++) {
        double v = f64_load(mean + i * 8);
        r[i].v = v != v ? -INFINITY : v;
        r[i].i = i;
    }
    qsort(r, (size_t)n, sizeof *r, by_value_desc);
    uint64_t first = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (k == 0 || r[k].v != r[k - 1].v) first = k;
        rank[r[k].i] = first + 1;
    }
    free(r);
    return true;
}

/* ---- the model --------------------------------------------------------------- */

static bool one_column(const rec_layout *lay, uint8_t type)
{
    return lay->ncols == 1 && lay->off[0] == 0 && lay->type[0] == type &&
           (type == REC_FLOAT_LE ? lay->width[0] == 8 : lay->width[0] >= 2 && lay->width[0] <= 8);
}

static bool add_derived(cv_model *m, uint64_t j, uint8_t what, const uint64_t *src, uint32_t nsrc)
{
    cv_derived *d = realloc(m->d, (size_t)(m->n + 1) * sizeof *d);
    if (!d) return false;
    m->d = d;
    uint64_t *s = malloc((size_t)nsrc * sizeof *s);
    if (!s) return false;
    memcpy(s, src, (size_t)nsrc * sizeof *s);
    m->d[m->n++] = (cv_derived){j, what, nsrc, s};
    return true;
}

bool cv_model_find(const found_records *recs, size_t first, size_t count, cv_model *m)
{
    memset(m, 0, sizeof *m);
    const rec_layout *lay = &recs[first].layout;
    const bool floats = one_column(lay, REC_FLOAT_LE), ints = one_column(lay, REC_INT_LE);
    if (!recs[first].plain || (!floats && !ints)) return false;
    uint64_t *src = malloc(CV_MAX_SOURCES * sizeof *src);
    if (!src) return false;
    for (size_t j = 0; j < count; j++) {
        const found_records *r = &recs[first + j];
        const cv_mark *c = &r->cv;
        const uint64_t n = r->arr.shape[0];
        if (floats && (c->role == CV_MEAN || c->role == CV_STD)) {
            /* splits 0, 1, ... of the same score, earlier in the block */
            uint32_t S = 0;
            for (size_t q = 0; q < j; q++) {
                const found_records *s = &recs[first + q];
                if (s->cv.group != c->group || s->cv.score != c->score || s->cv.role != CV_SPLIT) continue;
                if (s->cv.split != S || s->arr.shape[0] != n || S == CV_MAX_SOURCES) {
                    S = 0;
                    break;
                }
                src[S++] = q;
            }
            if (S && !add_derived(m, j, c->role == CV_MEAN ? CV_WHAT_MEAN : CV_WHAT_STD, src, S)) break;
        } else if (ints && c->role == CV_RANK) {
            /* the mean of the same score, in an earlier block */
            for (size_t q = 0; q < first; q++) {
                const found_records *s = &recs[q];
                if (s->cv.group == c->group && s->cv.score == c->score && s->cv.role == CV_MEAN &&
                    s->arr.shape[0] == n && one_column(&s->layout, REC_FLOAT_LE)) {
                    src[0] = q;
                    if (!add_derived(m, j, CV_WHAT_RANK, src, 1)) q = first;
                    break;
                }
            }
        }
    }
    free(src);
    if (!m->n) cv_model_free(m);
    return m->n > 0;
}

void cv_model_write(const cv_model *m, bytebuf *out)
{
    bytebuf_u8(out, m->order);
    bytebuf_varint(out, m->n);
    for (uint64_t i = 0; i < m->n; i++) {
        const cv_derived *d = &m->d[i];
        bytebuf_varint(out, d->j);
        bytebuf_u8(out, d->what);
        if (d->what != CV_WHAT_RANK) bytebuf_varint(out, d->nsrc);
        for (uint32_t k = 0; k < d->nsrc; k++) bytebuf_varint(out, d->src[k]);
    }
}

bool cv_model_fits(const cv_model *m, const rec_layout *lay)
{
    for (uint64_t i = 0; i < m->n; i++)
        if (!one_column(lay, m->d[i].what == CV_WHAT_RANK ? REC_INT_LE : REC_FLOAT_LE)) return false;
    return m->n > 0;
}

bool cv_model_read(cursor *c, uint64_t first, uint64_t count, cv_model *m)
{
    memset(m, 0, sizeof *m);
    m->order = cursor_u8(c);
    uint64_t n = cursor_varint_max(c, count);
    if (c->bad || m->order > 1 || n == 0) return false;
    uint64_t *src = malloc(CV_MAX_SOURCES * sizeof *src);
    bool ok = src != NULL;
    for (uint64_t i = 0; i < n && ok; i++) {
        uint64_t j = cursor_varint_max(c, count - 1);
        uint8_t what = cursor_u8(c);
        ok = !c->bad && (i == 0 || j > m->d[i - 1].j) && what >= CV_WHAT_MEAN && what <= CV_WHAT_RANK;
        if (!ok) break;
        uint32_t S = 1;
        if (what != CV_WHAT_RANK) {
            uint64_t s = cursor_varint_max(c, CV_MAX_SOURCES);
            ok = !c->bad && s >= 1;
            S = (uint32_t)s;
        }
        /* splits before j in the block; a rank's mean before the block */
        for (uint32_t k = 0; k < S && ok; k++) {
            src[k] = cursor_varint_max(c, what == CV_WHAT_RANK ? (first ? first - 1 : 0) : (j ? j - 1 : 0));
            ok = !c->bad && (what == CV_WHAT_RANK ? first > 0 : j > 0);
        }
        ok = ok && add_derived(m, j, what, src, S);
    }
    free(src);
    if (!ok) cv_model_free(m);
    return ok;
}

/* ---- applying it ------------------------------------------------------------- */

tp_code cv_model_apply(tp_ctx *ctx, const cv_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                       const rec_layout *lay, const rec_refs *refs, uint8_t *res, bool decode)
{
    const uint32_t w = lay->width[0];
    uint64_t *start = malloc((size_t)(narrays + 1) * sizeof *start);
    const uint8_t **src = malloc(CV_MAX_SOURCES * sizeof *src);
    double *row = malloc(CV_MAX_SOURCES * sizeof *row);
    uint64_t *rank = NULL;
    tp_code rc = start && src && row ? TP_OK : ctx_fail(ctx, TP_E_NOMEM, -1, "cv_results_ model");
    if (!rc) {
        start[0] = 0;
        for (uint64_t a = 0; a < narrays; a++) start[a + 1] = start[a] + counts[a] * w;
        /* the arrays without residuals as they are; the others follow */
        if (decode) memcpy(all, res, (size_t)start[narrays]);
        else memcpy(res, all, (size_t)start[narrays]);
    }
    for (uint64_t i = 0; i < m->n && !rc; i++) {
        const cv_derived *d = &m->d[i];
        if (d->j >= narrays) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a cv_results_ model names an array that is not there");
            break;
        }
        const uint64_t n = counts[d->j];
        uint8_t *at = all + start[d->j], *r = res + start[d->j];
        if (d->what == CV_WHAT_RANK) {
            const uint8_t *p;
            size_t len;
            const rec_layout *ml;
            if (!refs || (rc = refs->get(refs->op, ctx, d->src[0], &p, &len, &ml))) {
                if (!rc) rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a cv_results_ rank without its mean");
                break;
            }
            if (!one_column(ml, REC_FLOAT_LE) || len != n * 8) {
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a cv_results_ rank and its mean differ in length");
                break;
            }
            free(rank);
            if (!(rank = malloc((size_t)n * sizeof *rank + 1)) || !predict_ranks(p, n, rank)) {
                rc = ctx_fail(ctx, TP_E_NOMEM, -1, "cv_results_ ranks");
                break;
            }
            for (uint64_t v = 0; v < n; v++) {
                uint64_t x = load_w(decode ? r + v * w : at + v * w, w, false);
                /* wrapping at the column's width: store_w keeps w bytes */
                store_w(decode ? at + v * w : r + v * w, w, false, decode ? x + rank[v] : x - rank[v]);
            }
            continue;
        }
        for (uint32_t k = 0; k < d->nsrc; k++) {
            if (d->src[k] >= d->j || counts[d->src[k]] != n) {
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a cv_results_ mean and its splits differ in length");
                break;
            }
            src[k] = all + start[d->src[k]];
        }
        for (uint64_t v = 0; v < n && !rc; v++) {
            uint64_t p = f64_to_bits(predict_stat(src, d->nsrc, v, d->what, m->order, row));
            store_le64(decode ? at + v * 8 : r + v * 8, load_le64(decode ? r + v * 8 : at + v * 8) ^ p);
        }
    }
    free(start), free(src), free(row), free(rank);
    return rc;
}

bool cv_model_tune(tp_ctx *ctx, cv_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                   const rec_layout *lay, const rec_refs *refs)
{
    uint64_t total = 0;
    for (uint64_t a = 0; a < narrays; a++) total += counts[a] * lay->width[0];
    uint8_t *res = malloc((size_t)total + 1);
    uint64_t hits[2] = {0, 0};
    for (uint8_t order = 0; order < 2 && res; order++) {
        m->order = order;
        if (cv_model_apply(ctx, m, all, counts, narrays, lay, refs, res, false)) {
            ctx_reset(ctx);
            break;
        }
        uint64_t at = 0;
        for (uint64_t a = 0, i = 0; a < narrays; a++) {
            const uint64_t bytes = counts[a] * lay->width[0];
            if (i < m->n && m->d[i].j == a) {
                for (uint64_t b = 0; b < bytes; b++) hits[order] += res[at + b] == 0;
                i++;
            }
            at += bytes;
        }
    }
    free(res);
    m->order = hits[1] > hits[0] ? 1 : 0;
    return hits[m->order] > 0;
}
