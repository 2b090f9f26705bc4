/*
 * records_section.c - structured arrays column by column in SEC_RECORDS
 * sections (the format is in records_section.h): each column transformed
 * and compressed, a block checked by decoding it again on compress, and
 * the arrays' bytes given back one block at a time on expand.  Which
 * arrays are stored is sklearn/records.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "base/lzma2.h"
#include "base/zstd_ctx.h"
#include "codec/records_cv.h"
#include "codec/records_section.h"

/* Blocks are cut at about this many record bytes, as tree blocks are. */
#define REC_BLOCK_TARGET ((uint64_t)8 << 20)

/* ---- layout --------------------------------------------------------------- */

static void layout_write(const rec_layout *lay, bytebuf *out)
{
    bytebuf_varint(out, lay->itemsize);
    bytebuf_varint(out, lay->ncols);
    for (uint32_t k = 0; k < lay->ncols; k++) {
        bytebuf_varint(out, lay->off[k]);
        bytebuf_varint(out, lay->width[k]);
        bytebuf_u8(out, lay->type[k]);
    }
}

/* Columns must tile the record exactly, in order. */
static bool layout_read(cursor *c, uint64_t itemsize, rec_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    lay->itemsize = itemsize <= REC_MAX_ITEMSIZE ? (uint32_t)itemsize : 0;
    lay->ncols = (uint32_t)cursor_varint_max(c, REC_MAX_COLS);
    uint32_t at = 0;
    for (uint32_t k = 0; k < lay->ncols && !c->bad; k++) {
        lay->off[k] = (uint32_t)cursor_varint_max(c, REC_MAX_ITEMSIZE);
        lay->width[k] = (uint32_t)cursor_varint_max(c, REC_MAX_ITEMSIZE);
        lay->type[k] = cursor_u8(c);
        if (lay->off[k] != at || lay->width[k] == 0 || lay->type[k] > REC_TYPE_MAX) return false;
        at += lay->width[k];
    }
    return !c->bad && lay->itemsize > 0 && at == lay->itemsize;
}
/* ---- transforms --------------------------------------------------------------- */

static bool is_big(uint8_t type) { return type == REC_INT_BE || type == REC_FLOAT_BE; }

static bool transform_applies(int t, uint8_t type, uint32_t w)
{
    if (t == REC_T_PLANES) return w > 1;
    if (t == REC_T_DELTA) return type != REC_BYTES && w <= 8;
    if (t == REC_T_FDELTA) return (type == REC_FLOAT_LE || type == REC_FLOAT_BE) && (w == 4 || w == 8);
    return true;
}

/* REC_T_FDELTA: a float's bits mapped to an integer in the floats' order
 * (negative ones inverted, positive ones with the sign bit set), so that
 * sorted floats give small positive deltas. */
static uint64_t fmap(uint64_t u, uint32_t w)
{
    const uint64_t sign = (uint64_t)1 << (8 * w - 1), mask = w == 8 ? ~(uint64_t)0 : (sign << 1) - 1;
    return (u & sign ? ~u : u | sign) & mask;
}

static uint64_t funmap(uint64_t m, uint32_t w)
{
    const uint64_t sign = (uint64_t)1 << (8 * w - 1), mask = w == 8 ? ~(uint64_t)0 : (sign << 1) - 1;
    return (m & sign ? m ^ sign : ~m) & mask;
}

/* col (n values of w bytes) -> out */
static void forward(int t, bool big, const uint8_t *col, uint64_t n, uint32_t w, uint8_t *out, uint8_t *tmp)
{
    if (t == REC_T_RAW) {
        memcpy(out, col, (size_t)(n * w));
        return;
    }
    const uint8_t *src = col;
    if (t == REC_T_DELTA || t == REC_T_FDELTA) {
        /* differences of consecutive values, as little-endian w-byte
         * integers (wrapping) */
        uint64_t prev = 0, mask = w == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * w)) - 1);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = load_w(col + i * w, w, big);
            if (t == REC_T_FDELTA) v = fmap(v, w);
            store_w(tmp + i * w, w, false, (v - prev) & mask);
            prev = v;
        }
        src = tmp;
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < w; k++) out[k * n + i] = src[i * w + k];
}

static void inverse(int t, bool big, const uint8_t *in, uint64_t n, uint32_t w, uint8_t *col)
{
    if (t == REC_T_RAW) {
        memcpy(col, in, (size_t)(n * w));
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < w; k++) col[i * w + k] = in[k * n + i];
    if (t == REC_T_DELTA || t == REC_T_FDELTA) {
        uint64_t prev = 0, mask = w == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * w)) - 1);
        for (uint64_t i = 0; i < n; i++) {
            prev = (prev + load_w(col + i * w, w, false)) & mask;
            store_w(col + i * w, w, big, t == REC_T_FDELTA ? funmap(prev, w) : prev);
        }
    }
}

static tp_code corrupt(tp_ctx *ctx, const char *what);
static tp_code corrupt_refs(tp_ctx *ctx) { return corrupt(ctx, "it refers to arrays that are not there"); }

/* ---- the HistGradientBoosting node model --------------------------------------- */

/* What a column of a predictor's node record is, by its field's name. */
enum rec_role {
    ROLE_COUNT = 0, ROLE_FEATURE, ROLE_THRESHOLD, ROLE_LEFT, ROLE_RIGHT, ROLE_DEPTH, ROLE_IS_LEAF, ROLE_BIN,
    ROLE_IS_CAT, ROLE_VALUE, ROLE_GAIN, ROLE_MISSING_LEFT, ROLE_N
};
static const char *const role_field[ROLE_N] = {"count", "feature_idx", "num_threshold", "left", "right",
                                               "depth", "is_leaf", "bin_threshold", "is_categorical",
                                               "value", "gain", "missing_go_to_left"};

typedef struct rec_model {
    uint64_t kind;            /* enum rec_model_kind */
    cv_model cv;              /* REC_MODEL_CV (records_cv.h); the rest is
                                 REC_MODEL_HGB's */
    int col[ROLE_N];          /* column of each role, -1: none */
    uint64_t nref;            /* bin threshold arrays, one per feature */
    uint64_t *ref;            /* record index + 1 of each, 0: none */
    uint8_t predict;          /* PREDICT_*: value and gain of internal nodes
                                 from their children */
    double shrink, l2;        /* the learning rate leaves were multiplied
                                 by; l2 regularisation */
} rec_model;

static void rec_model_free(rec_model *m)
{
    free(m->ref);
    m->ref = NULL;
    cv_model_free(&m->cv);
}

#define PREDICT_VALUE 1
#define PREDICT_GAIN 2
#define PREDICT_SOLVE 4 /* hessian sums solved from value and gain (alone) */


/* The referenced bin thresholds as doubles, feature by feature. */
typedef struct thr_table {
    double *v;
    uint64_t *start;          /* nref + 1 */
    uint8_t *have;            /* nref */
} thr_table;

static void thr_table_free(thr_table *t)
{
    free(t->v), free(t->start), free(t->have);
    memset(t, 0, sizeof *t);
}

static bool role_type_ok(int role, const rec_layout *lay, int k)
{
    if (role == ROLE_THRESHOLD) return lay->type[k] == REC_FLOAT_LE && lay->width[k] == 8;
    if (role == ROLE_VALUE || role == ROLE_GAIN) return lay->type[k] == REC_FLOAT_LE;
    return lay->type[k] == REC_INT_LE && lay->width[k] <= 8;
}

/* Which roles a model column may have, and what it needs decoded first. */
static bool role_modelled(int role)
{
    return role == ROLE_LEFT || role == ROLE_RIGHT || role == ROLE_DEPTH || role == ROLE_COUNT ||
           role == ROLE_THRESHOLD || role == ROLE_VALUE || role == ROLE_GAIN || role == ROLE_MISSING_LEFT;
}

static bool model_can(const rec_model *m, int role)
{
    if (m->kind != REC_MODEL_HGB || m->col[role] < 0 || m->col[ROLE_IS_LEAF] < 0) return false;
    if (role == ROLE_COUNT) return m->col[ROLE_LEFT] >= 0 && m->col[ROLE_RIGHT] >= 0;
    if (role == ROLE_MISSING_LEFT) return m->col[ROLE_LEFT] >= 0 && m->col[ROLE_RIGHT] >= 0 && m->col[ROLE_COUNT] >= 0;
    if (role == ROLE_THRESHOLD) return m->col[ROLE_FEATURE] >= 0 && m->col[ROLE_BIN] >= 0;
    return role_modelled(role);
}

static tp_code thr_table_load(tp_ctx *ctx, const rec_model *m, const rec_refs *refs, thr_table *t)
{
    memset(t, 0, sizeof *t);
    if (!m->nref) return TP_OK;
    t->start = calloc((size_t)m->nref + 1, sizeof *t->start);
    t->have = calloc((size_t)m->nref, 1);
    if (!t->start || !t->have) return ctx_fail(ctx, TP_E_NOMEM, -1, "threshold table");
    bytebuf all = {0};
    for (uint64_t f = 0; f < m->nref; f++) {
        t->start[f] = all.len / 8;
        if (!m->ref[f]) continue;
        if (!refs) {
            bytebuf_free(&all);
            return corrupt_refs(ctx);
        }
        const uint8_t *p;
        size_t len;
        const rec_layout *lay;
        tp_code rc = refs->get(refs->op, ctx, m->ref[f] - 1, &p, &len, &lay);
        if (rc) {
            bytebuf_free(&all);
            return rc;
        }
        if (lay->itemsize != 8 || lay->ncols != 1 || lay->type[0] != REC_FLOAT_LE) continue;
        t->have[f] = 1;
        bytebuf_append(&all, p, len & ~(size_t)7);
    }
    t->start[m->nref] = all.len / 8;
    if (all.failed) {
        bytebuf_free(&all);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "threshold table");
    }
    t->v = (double *)(void *)all.data; /* malloc'd: aligned */
    return TP_OK;
}

static uint64_t rec_get(const uint8_t *rec, const rec_layout *lay, int k)
{
    return load_w(rec + lay->off[k], lay->width[k], false);
}

/* The predictions of column role for the n records of one array
 * (node indices are the array's own).  Left, right and depth follow from
 * is_leaf when the nodes are in preorder; a count is the sum of its
 * children's (records after it: predictions are made from the last node
 * back, on decoded values); a split value is the feature's bin
 * threshold (+inf one past the last: a split on missing values). */
static void predict(const rec_model *m, const thr_table *t, int role, const uint8_t *recs, uint64_t n,
                    const rec_layout *lay, uint64_t *pred, uint64_t *stack)
{
    const uint32_t isz = lay->itemsize;
    const int lk = m->col[ROLE_IS_LEAF];
    if (role == ROLE_LEFT || role == ROLE_RIGHT || role == ROLE_DEPTH) {
        uint64_t sp = 0, depth = 0;
        for (uint64_t i = 0; i < n; i++) {
            const bool leaf = rec_get(recs + i * isz, lay, lk) != 0;
            pred[i] = role == ROLE_DEPTH ? depth : 0;
            if (!leaf) {
                if (role == ROLE_LEFT) pred[i] = i + 1;
                stack[sp++] = i;
                depth++;
            } else if (sp) {
                uint64_t p = stack[--sp];
                if (role == ROLE_RIGHT) pred[p] = i + 1;
                /* the right child of p is one deeper than p */
                depth = role == ROLE_DEPTH ? pred[p] + 1 : 0;
            } else {
                depth = 0;
            }
        }
        return;
    }
    if (role == ROLE_COUNT) {
        const int L = m->col[ROLE_LEFT], R = m->col[ROLE_RIGHT], C = m->col[ROLE_COUNT];
        for (uint64_t i = n; i-- > 0;) {
            const uint8_t *r = recs + i * isz;
            uint64_t l = rec_get(r, lay, L), rr = rec_get(r, lay, R);
            pred[i] = 0;
            if (rec_get(r, lay, lk) == 0 && l > i && rr > i && l < n && rr < n)
                pred[i] = rec_get(recs + l * isz, lay, C) + rec_get(recs + rr * isz, lay, C);
        }
        return;
    }
    if (role == ROLE_MISSING_LEFT) {
        /* trained without missing values, scikit-learn sends them to the
         * child with more samples (grower.py, split_next); leaves 0 */
        const int L = m->col[ROLE_LEFT], R = m->col[ROLE_RIGHT], C = m->col[ROLE_COUNT];
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *r = recs + i * isz;
            uint64_t l = rec_get(r, lay, L), rr = rec_get(r, lay, R);
            pred[i] = rec_get(r, lay, lk) == 0 && l < n && rr < n &&
                      rec_get(recs + l * isz, lay, C) > rec_get(recs + rr * isz, lay, C);
        }
        return;
    }
    /* ROLE_THRESHOLD */
    const int F = m->col[ROLE_FEATURE], B = m->col[ROLE_BIN], K = m->col[ROLE_IS_CAT];
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *r = recs + i * isz;
        pred[i] = 0;
        if (rec_get(r, lay, lk) != 0 || (K >= 0 && rec_get(r, lay, K) != 0)) continue;
        uint64_t f = rec_get(r, lay, F), b = rec_get(r, lay, B);
        if (f >= m->nref || !t->have[f]) continue;
        uint64_t len = t->start[f + 1] - t->start[f];
        if (b < len) memcpy(&pred[i], &t->v[t->start[f] + b], 8);
        else if (b == len) pred[i] = 0x7ff0000000000000ull; /* +inf */
    }
}

/* The bits of the predicted value or gain of internal node i (0 when
 * its children are not after it).  With constant hessians (squared
 * error, no sample weights) a node's sum of gradients is -value x
 * (count + l2), the sum of its children's, and its gain is
 * sum(child value^2 x (count + l2)) - value^2 x (count + l2); leaves hold
 * value x shrink. */
static double unshrunk(const rec_model *m, const uint8_t *r, const rec_layout *lay)
{
    uint64_t b = rec_get(r, lay, m->col[ROLE_VALUE]);
    double v;
    memcpy(&v, &b, 8);
    return rec_get(r, lay, m->col[ROLE_IS_LEAF]) != 0 ? v / m->shrink : v;
}

static uint64_t predict_float(const rec_model *m, int role, const uint8_t *recs, uint64_t n, uint64_t i,
                              const rec_layout *lay)
{
    const uint32_t isz = lay->itemsize;
    const uint8_t *r = recs + i * isz;
    uint64_t l = rec_get(r, lay, m->col[ROLE_LEFT]), rr = rec_get(r, lay, m->col[ROLE_RIGHT]);
    if (!(l > i && rr > i && l < n && rr < n)) return 0;
    const uint8_t *a = recs + l * isz, *b = recs + rr * isz;
    const int C = m->col[ROLE_COUNT];
    double ca = (double)rec_get(a, lay, C) + m->l2, cb = (double)rec_get(b, lay, C) + m->l2;
    double c = (double)rec_get(r, lay, C) + m->l2;
    double ua = unshrunk(m, a, lay), ub = unshrunk(m, b, lay), p;
    if (role == ROLE_VALUE) {
        p = (ua * ca + ub * cb) / c;
    } else {
        double u = unshrunk(m, r, lay);
        p = ua * ua * ca + ub * ub * cb - u * u * c;
    }
    uint64_t bits;
    memcpy(&bits, &p, 8);
    return bits;
}

/* Column k's value and gain layout: the internal nodes of the whole block
 * first, then the leaves.  Moves the leaves' values of column k (w bytes)
 * between the records and res (after the internal ones; decode: into the
 * records) and gives the number of records and of internal nodes. */
static uint64_t leaves_move(uint8_t *all, const uint64_t *counts, uint64_t narrays, const rec_layout *lay, int lk,
                            int k, uint32_t w, uint8_t *res, bool decode, uint64_t *nrec_out)
{
    const uint32_t isz = lay->itemsize;
    uint64_t nrec = 0, nint = 0;
    for (uint64_t a = 0; a < narrays; a++) nrec += counts[a];
    for (uint64_t i = 0; i < nrec; i++) nint += rec_get(all + i * isz, lay, lk) == 0;
    for (uint64_t i = 0, q = nint; i < nrec; i++) {
        uint8_t *r = all + i * isz;
        if (rec_get(r, lay, lk) == 0) continue;
        if (decode) memcpy(r + lay->off[k], res + q++ * w, w);
        else memcpy(res + q++ * w, r + lay->off[k], w);
    }
    *nrec_out = nrec;
    return nint;
}

/* Residuals of column k (role) against its predictions, array by array,
 * into res (nrec values of the column's width); or, with decode set, the
 * column written back into the records from the residuals in res.  The
 * records hold every column the prediction reads. */
static void model_apply(const rec_model *m, const thr_table *t, int role, uint8_t *all, const uint64_t *counts,
                        uint64_t narrays, const rec_layout *lay, uint8_t *res, bool decode, uint64_t *pred,
                        uint64_t *stack)
{
    const int k = m->col[role];
    const uint32_t w = lay->width[k], isz = lay->itemsize;
    const uint64_t mask = w == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * w)) - 1);
    uint64_t at = 0;
    if (role == ROLE_VALUE || role == ROLE_GAIN) {
        /* the values of internal nodes, then those of leaves (of the
         * whole block), which differ in kind; those of internal nodes
         * XOR their prediction when there is one */
        const bool pr = (m->predict & (role == ROLE_VALUE ? PREDICT_VALUE : PREDICT_GAIN)) != 0;
        const int lk = m->col[ROLE_IS_LEAF];
        uint64_t nrec, q = leaves_move(all, counts, narrays, lay, lk, k, w, res, decode, &nrec);
        /* internal nodes, from the last back: children before parents */
        at = nrec;
        for (uint64_t a = narrays; a-- > 0;) {
            const uint64_t n = counts[a];
            at -= n;
            uint8_t *recs = all + at * isz;
            for (uint64_t i = n; i-- > 0;) {
                uint8_t *r = recs + i * isz;
                if (rec_get(r, lay, lk) != 0) continue;
                uint64_t p = pr ? predict_float(m, role, recs, n, i, lay) : 0;
                q--;
                if (decode) store_w(r + lay->off[k], w, false, load_w(res + q * w, w, false) ^ p);
                else store_w(res + q * w, w, false, load_w(r + lay->off[k], w, false) ^ p);
            }
        }
        return;
    }
    for (uint64_t a = 0; a < narrays; a++) {
        const uint64_t n = counts[a];
        uint8_t *recs = all + at * isz;
        if (role == ROLE_COUNT && decode) {
            /* children first: each prediction reads decoded counts */
            const int L = m->col[ROLE_LEFT], R = m->col[ROLE_RIGHT], lk = m->col[ROLE_IS_LEAF];
            for (uint64_t i = n; i-- > 0;) {
                uint8_t *r = recs + i * isz;
                uint64_t l = rec_get(r, lay, L), rr = rec_get(r, lay, R), p = 0;
                if (rec_get(r, lay, lk) == 0 && l > i && rr > i && l < n && rr < n)
                    p = rec_get(recs + l * isz, lay, k) + rec_get(recs + rr * isz, lay, k);
                store_w(r + lay->off[k], w, false, (load_w(res + (at + i) * w, w, false) + p) & mask);
            }
        } else {
            predict(m, t, role, recs, n, lay, pred, stack);
            for (uint64_t i = 0; i < n; i++) {
                uint8_t *r = recs + i * isz + lay->off[k];
                uint8_t *q = res + (at + i) * w;
                if (role == ROLE_THRESHOLD) {
                    store_w(decode ? r : q, w, false, load_w(decode ? q : r, w, false) ^ pred[i]);
                } else if (decode) {
                    store_w(r, w, false, (load_w(q, w, false) + pred[i]) & mask);
                } else {
                    store_w(q, w, false, (load_w(r, w, false) - pred[i]) & mask);
                }
            }
        }
        at += n;
    }
}

static double f64_at(const uint8_t *r, const rec_layout *lay, int k) { return bits_to_f64(rec_get(r, lay, k)); }

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* How many of (up to) the first 4096 internal nodes role's prediction
 * gets within 2^-20 of the value (XOR below 2^32). */
static uint64_t predict_hits(const rec_model *m, int role, const uint8_t *all, const uint64_t *counts,
                             uint64_t narrays, const rec_layout *lay)
{
    uint64_t hits = 0, seen = 0, at = 0;
    const int k = m->col[role];
    for (uint64_t a = 0; a < narrays && seen < 4096; a++) {
        const uint8_t *recs = all + at * lay->itemsize;
        for (uint64_t i = 0; i < counts[a] && seen < 4096; i++) {
            const uint8_t *r = recs + i * lay->itemsize;
            if (rec_get(r, lay, m->col[ROLE_IS_LEAF]) != 0) continue;
            seen++;
            hits += (rec_get(r, lay, k) ^ predict_float(m, role, recs, counts[a], i, lay)) < ((uint64_t)1 << 32);
        }
        at += counts[a];
    }
    return hits;
}

/* Compress side: whether values and gains follow from the children (see
 * predict_float), and the learning rate that makes them: estimated from
 * nodes whose children are leaves, and that estimate rounded to a few
 * digits, whichever predicts more nodes. */
static void model_apply_solve(const rec_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                              const rec_layout *lay, uint8_t *res_v, uint8_t *res_g, bool decode, double *h,
                              uint8_t *known);

static void add_cand(double *c, int *n, double v)
{
    if (!(isfinite(v) && v > 0)) return;
    for (int i = 0; i < *n; i++)
        if (c[i] == v) return;
    c[(*n)++] = v;
}

static void model_tune(rec_model *m, const uint8_t *all, const uint64_t *counts, uint64_t narrays,
                       const rec_layout *lay, const hgb_params *hint)
{
    m->predict = 0;
    m->l2 = 0;
    /* the L2 regularisation, added to every hessian sum: 0, or the
     * estimator's when the scan found it */
    const double l2s[2] = {0.0, hint->known && hint->l2 > 0 && isfinite(hint->l2) ? hint->l2 : 0.0};
    const int nl2 = l2s[1] > 0 ? 2 : 1;
    const int V = m->col[ROLE_VALUE], C = m->col[ROLE_COUNT], L = m->col[ROLE_LEFT], R = m->col[ROLE_RIGHT],
              G = m->col[ROLE_GAIN], lk = m->col[ROLE_IS_LEAF];
    if (V < 0 || L < 0 || R < 0 || lk < 0 || lay->width[V] != 8) return;
    double est[512], cand[40];
    int nc = 0;
    size_t ne = 0;
    uint64_t at = 0, nint = 0, nrec = 0, maxn = 1;
    for (uint64_t a = 0; a < narrays; a++) {
        const uint64_t n = counts[a];
        const uint8_t *recs = all + at * lay->itemsize;
        nrec += n;
        if (n > maxn) maxn = n;
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *r = recs + i * lay->itemsize;
            if (rec_get(r, lay, lk) != 0) continue;
            nint++;
            uint64_t l = rec_get(r, lay, L), rr = rec_get(r, lay, R);
            if (C < 0 || ne == 512 || !(l > i && rr > i && l < n && rr < n)) continue;
            const uint8_t *x = recs + l * lay->itemsize, *y = recs + rr * lay->itemsize;
            if (rec_get(x, lay, lk) == 0 || rec_get(y, lay, lk) == 0) continue;
            double e = (f64_at(x, lay, V) * (double)rec_get(x, lay, C) + f64_at(y, lay, V) * (double)rec_get(y, lay, C)) /
                       (f64_at(r, lay, V) * (double)rec_get(r, lay, C));
            if (isfinite(e) && e > 0) est[ne++] = e;
        }
        at += n;
    }
    if (!nint) return;
    if (hint->known) add_cand(cand, &nc, hint->shrink); /* the estimator's learning rate */
    if (ne >= 8) {
        qsort(est, ne, sizeof *est, by_double);
        add_cand(cand, &nc, est[ne / 2]);
        for (int d = 1; d < 5; d++) {
            char t[32];
            snprintf(t, sizeof t, "%.*g", d, est[ne / 2]);
            add_cand(cand, &nc, strtod(t, NULL));
        }
    }
    /* learning rates people choose */
    static const double common[] = {0.1, 0.05, 0.2, 0.3, 0.01, 0.02, 0.03, 0.04, 0.06, 0.07, 0.08, 0.15,
                                    0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.001, 0.005, 0.005, 0.35, 0.45};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) add_cand(cand, &nc, common[i]);

    /* constant hessians: value and gain from counts */
    double best_c = 0, shrink_c = 0, l2_c = 0;
    const uint64_t seen = nint < 4096 ? nint : 4096;
    if (C >= 0 && (ne >= 8 || hint->known)) {
        uint64_t best = 0;
        for (int q = 0; q < nl2; q++)
            for (int d = 0; d < 6 && d < nc; d++) {
                m->shrink = cand[d];
                m->l2 = l2s[q];
                uint64_t h = predict_hits(m, ROLE_VALUE, all, counts, narrays, lay);
                if (h > best) best = h, shrink_c = cand[d], l2_c = l2s[q];
            }
        m->shrink = shrink_c;
        m->l2 = l2_c;
        uint64_t hg = 0;
        if (G >= 0 && lay->width[G] == 8) {
            m->predict = PREDICT_GAIN;
            hg = predict_hits(m, ROLE_GAIN, all, counts, narrays, lay);
            m->predict = 0;
        }
        best_c = (double)(best + hg) / (double)(2 * seen);
        if (best * 4 < seen) best_c = 0;
        m->l2 = 0;
    }
    /* hessian sums solved */
    double best_s = 0, shrink_s = 0, l2_s = 0;
    if (G >= 0 && lay->width[G] == 8) {
        uint8_t *rv = malloc((size_t)nrec * 8 + 1), *rg = malloc((size_t)nrec * 8 + 1), *kn = malloc((size_t)maxn);
        double *h = malloc((size_t)maxn * sizeof *h);
        if (rv && rg && kn && h)
            for (int q = 0; q < nl2; q++)
                for (int d = 0; d < nc; d++) {
                    m->shrink = cand[d];
                    m->l2 = l2s[q];
                    m->predict = PREDICT_SOLVE;
                    model_apply_solve(m, (uint8_t *)all, counts, narrays, lay, rv, rg, false, h, kn);
                    uint64_t hits = 0;
                    for (uint64_t k = 0; k < nint; k++)
                        hits += (load_w(rv + k * 8, 8, false) < ((uint64_t)1 << 32)) +
                                (load_w(rg + k * 8, 8, false) < ((uint64_t)1 << 32));
                    double f = (double)hits / (double)(2 * nint);
                    if (f > best_s) best_s = f, shrink_s = cand[d], l2_s = l2s[q];
                }
        free(rv), free(rg), free(kn), free(h);
        m->predict = 0;
        m->l2 = 0;
    }
    if (best_c >= best_s && best_c > 0) {
        m->shrink = shrink_c;
        m->l2 = l2_c;
        m->predict = PREDICT_VALUE;
        if (G >= 0 && lay->width[G] == 8) {
            m->predict = PREDICT_GAIN;
            uint64_t hg = predict_hits(m, ROLE_GAIN, all, counts, narrays, lay);
            m->predict = PREDICT_VALUE | (hg * 4 >= seen ? PREDICT_GAIN : 0);
        }
    } else if (best_s >= 0.15) {
        m->shrink = shrink_s;
        m->l2 = l2_s;
        m->predict = PREDICT_SOLVE;
    }
}

/* PREDICT_SOLVE (hessians not constant: log loss): a node's value is
 * -G / h and its gain v_l^2 h_l + v_r^2 h_r - v^2 h, h = H + l2, with
 * G and H the sums of its children's (h = h_l + h_r - l2).  From the last node back, the
 * hessian sums of a node's children are known when they are internal
 * (the sum of theirs); then value and gain are predicted.  With one
 * known, the other follows from the value, and the gain is predicted;
 * with none, both follow from value and gain.  Value and gain residuals
 * in res_v and res_g (internal nodes in order, then leaves); decode
 * restores both columns.  h and known: n entries. */
static void model_apply_solve(const rec_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                              const rec_layout *lay, uint8_t *res_v, uint8_t *res_g, bool decode, double *h,
                              uint8_t *known)
{
    const uint32_t isz = lay->itemsize;
    const int lk = m->col[ROLE_IS_LEAF], V = m->col[ROLE_VALUE], G = m->col[ROLE_GAIN], L = m->col[ROLE_LEFT],
              R = m->col[ROLE_RIGHT];
    /* h holds hessian sums plus the L2 regularisation; without it (l2 0)
     * the arithmetic is exactly that of containers written before it */
    const double lam = m->l2;
    uint64_t nrec, at, q = leaves_move(all, counts, narrays, lay, lk, V, 8, res_v, decode, &nrec);
    leaves_move(all, counts, narrays, lay, lk, G, 8, res_g, decode, &nrec);
    at = nrec;
    for (uint64_t a = narrays; a-- > 0;) {
        const uint64_t n = counts[a];
        at -= n;
        uint8_t *recs = all + at * isz;
        memset(known, 0, (size_t)n);
        for (uint64_t i = n; i-- > 0;) {
            uint8_t *r = recs + i * isz;
            if (rec_get(r, lay, lk) != 0) continue;
            q--;
            uint64_t l = rec_get(r, lay, L), rr = rec_get(r, lay, R), pvb = 0, pg = 0;
            const bool ok = l > i && rr > i && l < n && rr < n && l != rr;
            double ul = 0, ur = 0;
            if (ok) {
                ul = unshrunk(m, recs + l * isz, lay);
                ur = unshrunk(m, recs + rr * isz, lay);
            }
            const bool both = ok && known[l] && known[rr], one = ok && !both && (known[l] || known[rr]);
            if (both) pvb = f64_to_bits((ul * h[l] + ur * h[rr]) / (lam ? h[l] + h[rr] - lam : h[l] + h[rr]));
            /* the value */
            if (decode) store_w(r + lay->off[V], 8, false, load_w(res_v + q * 8, 8, false) ^ pvb);
            else store_w(res_v + q * 8, 8, false, rec_get(r, lay, V) ^ pvb);
            const double v = f64_at(r, lay, V);
            if (ok && !both && lam) {
                if (one && known[l]) h[rr] = (h[l] * (ul - v) + v * lam) / (v - ur);
                else if (one) h[l] = (h[rr] * (ur - v) + v * lam) / (v - ul);
            } else if (ok && !both) {
                if (one && known[l]) h[rr] = h[l] * (ul - v) / (v - ur);
                else if (one) h[l] = h[rr] * (ur - v) / (v - ul);
            }
            if ((both || one) && lam) pg = f64_to_bits(ul * ul * h[l] + ur * ur * h[rr] - v * v * (h[l] + h[rr] - lam));
            else if (both || one) pg = f64_to_bits(ul * ul * h[l] + ur * ur * h[rr] - v * v * (h[l] + h[rr]));
            /* the gain */
            if (decode) store_w(r + lay->off[G], 8, false, load_w(res_g + q * 8, 8, false) ^ pg);
            else store_w(res_g + q * 8, 8, false, rec_get(r, lay, G) ^ pg);
            if (!ok) continue;
            if (!both && !one && lam) {
                /* h_l (v - v_l) + h_r (v - v_r) = v lam (the value) and
                 * h_l (v_l^2 - v^2) + h_r (v_r^2 - v^2) = g - v^2 lam */
                const double g = f64_at(r, lay, G), a1 = v - ul, b1 = v - ur, c1 = v * lam, a2 = ul * ul - v * v,
                             b2 = ur * ur - v * v, c2 = g - v * v * lam, det = a1 * b2 - a2 * b1;
                h[l] = (c1 * b2 - c2 * b1) / det;
                h[rr] = (a1 * c2 - a2 * c1) / det;
            } else if (!both && !one) {
                const double g = f64_at(r, lay, G), k = (v - ul) / (ur - v);
                h[l] = g / ((ul * ul - v * v) + k * (ur * ur - v * v));
                h[rr] = h[l] * k;
            }
            h[i] = lam ? h[l] + h[rr] - lam : h[l] + h[rr];
            known[i] = known[l] = known[rr] = 1;
        }
    }
}

static void model_write(const rec_model *m, bytebuf *out)
{
    bytebuf_varint(out, 0); /* no itemsize: a model follows */
    bytebuf_varint(out, m->kind);
    if (m->kind == REC_MODEL_CV) {
        cv_model_write(&m->cv, out);
        return;
    }
    uint64_t nroles = 0;
    for (int r = 0; r < ROLE_N; r++) nroles += m->col[r] >= 0;
    bytebuf_varint(out, nroles);
    for (int r = 0; r < ROLE_N; r++)
        if (m->col[r] >= 0) {
            bytebuf_u8(out, (uint8_t)r);
            bytebuf_varint(out, (uint64_t)m->col[r]);
        }
    bytebuf_varint(out, m->nref);
    for (uint64_t f = 0; f < m->nref; f++) bytebuf_varint(out, m->ref[f]);
    bytebuf_u8(out, m->predict);
    if (m->predict) {
        uint64_t b;
        memcpy(&b, &m->shrink, 8);
        bytebuf_u64(out, b);
        memcpy(&b, &m->l2, 8);
        bytebuf_u64(out, b);
    }
}

/* After the varint 0: the model, checked against the layout later. */
static bool model_read(cursor *c, uint64_t first, uint64_t count, rec_model *m)
{
    m->kind = cursor_varint(c);
    if (!c->bad && m->kind == REC_MODEL_CV) return cv_model_read(c, first, count, &m->cv);
    if (c->bad || m->kind != REC_MODEL_HGB) return false;
    uint64_t nroles = cursor_varint_max(c, ROLE_N);
    for (uint64_t i = 0; i < nroles && !c->bad; i++) {
        uint8_t r = cursor_u8(c);
        uint64_t k = cursor_varint_max(c, REC_MAX_COLS - 1);
        if (c->bad || r >= ROLE_N || m->col[r] >= 0) return false;
        m->col[r] = (int)k;
    }
    m->nref = cursor_varint_max(c, first); /* earlier arrays only */
    if (c->bad) return false;
    if (m->nref && !(m->ref = calloc((size_t)m->nref, sizeof *m->ref))) return false;
    for (uint64_t f = 0; f < m->nref && !c->bad; f++) {
        m->ref[f] = cursor_varint_max(c, first);
    }
    m->predict = cursor_u8(c);
    if (m->predict & ~(PREDICT_VALUE | PREDICT_GAIN | PREDICT_SOLVE) ||
        ((m->predict & PREDICT_SOLVE) && m->predict != PREDICT_SOLVE))
        return false;
    if (m->predict) {
        uint64_t b = cursor_u64(c);
        memcpy(&m->shrink, &b, 8);
        b = cursor_u64(c);
        memcpy(&m->l2, &b, 8);
    }
    return !c->bad;
}

static bool model_fits(const rec_model *m, const rec_layout *lay)
{
    if (m->kind == REC_MODEL_CV) return cv_model_fits(&m->cv, lay);
    for (int r = 0; r < ROLE_N; r++) {
        if (m->col[r] < 0) continue;
        if ((uint32_t)m->col[r] >= lay->ncols || !role_type_ok(r, lay, m->col[r])) return false;
        for (int q = 0; q < r; q++)
            if (m->col[q] == m->col[r]) return false;
    }
    if (m->predict == PREDICT_SOLVE) {
        if (m->col[ROLE_VALUE] < 0 || m->col[ROLE_GAIN] < 0 || m->col[ROLE_LEFT] < 0 || m->col[ROLE_RIGHT] < 0 ||
            lay->width[m->col[ROLE_VALUE]] != 8 || lay->width[m->col[ROLE_GAIN]] != 8)
            return false;
    } else if (m->predict) {
        if (m->col[ROLE_VALUE] < 0 || m->col[ROLE_COUNT] < 0 || m->col[ROLE_LEFT] < 0 || m->col[ROLE_RIGHT] < 0 ||
            m->col[ROLE_IS_LEAF] < 0 || lay->width[m->col[ROLE_VALUE]] != 8)
            return false;
        if ((m->predict & PREDICT_GAIN) && (m->col[ROLE_GAIN] < 0 || lay->width[m->col[ROLE_GAIN]] != 8)) return false;
    }
    return true;
}

/* The model an encoder uses for a block: the roles by field name (the
 * first array's dtype), the bin thresholds of the last _BinMapper before
 * it. */
static bool model_find(const found_records *recs, size_t first, rec_model *m)
{
    const found_records *r0 = &recs[first];
    const rec_layout *lay = &r0->layout;
    memset(m, 0, sizeof *m);
    for (int r = 0; r < ROLE_N; r++) m->col[r] = -1;
    if (r0->plain) return false;
    for (int f = 0; f < r0->arr.dtype.nfields; f++) {
        const npy_field *fd = &r0->arr.dtype.fields[f];
        for (int r = 0; r < ROLE_N; r++) {
            if (strcmp(fd->name, role_field[r]) != 0) continue;
            for (uint32_t k = 0; k < lay->ncols; k++)
                if (lay->off[k] == fd->offset && lay->width[k] == fd->type.size && role_type_ok(r, lay, (int)k))
                    m->col[r] = (int)k;
        }
    }
    m->kind = REC_MODEL_HGB;
    if (!model_fits(m, lay) || m->col[ROLE_IS_LEAF] < 0) {
        m->kind = REC_MODEL_NONE;
        return false;
    }
    if (m->col[ROLE_THRESHOLD] >= 0) {
        size_t g = first;
        while (g > 0 && !recs[g - 1].thr_group) g--;
        if (g > 0) {
            const uint32_t group = recs[g - 1].thr_group;
            uint64_t nref = 0;
            for (size_t i = 0; i < first; i++)
                if (recs[i].thr_group == group && recs[i].thr_feature + (uint64_t)1 > nref) nref = recs[i].thr_feature + 1;
            if (nref && nref <= first && (m->ref = calloc((size_t)nref, sizeof *m->ref))) {
                m->nref = nref;
                for (size_t i = 0; i < first; i++)
                    if (recs[i].thr_group == group) m->ref[recs[i].thr_feature] = i + 1;
            }
        }
    }
    return true;
}

/* ---- encoding ------------------------------------------------------------------ */

/* All arrays' bytes one after the other: the form blocks decode to. */
static tp_code gather(tp_ctx *ctx, const uint8_t *in, const found_records *recs, size_t count, bytebuf *all)
{
    tp_code rc = TP_OK;
    for (size_t i = 0; i < count && !rc; i++) {
        const uint8_t *p = NULL;
        uint8_t *own = NULL;
        if ((rc = npy_array_bytes(ctx, in, &recs[i].arr, &p, &own))) break;
        bytebuf_append(all, p, (size_t)recs[i].arr.nbytes);
        free(own);
        if (all->failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record buffer");
    }
    return rc;
}

static tp_code decode_block(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t *budget, uint64_t *first,
                            uint64_t *count, bytebuf *out, uint64_t **starts, const rec_refs *refs,
                            rec_layout *lay_out);

/* A column's transform byte: the transform, this bit when the column
 * holds the residuals of the block's model, and this one when it is coded
 * with LZMA2 instead of zstd. */
#define REC_MODELLED 0x40
#define REC_LZMA2 0x80

/* The arrays before a block, from the input (compress side). */
typedef struct enc_refs {
    const uint8_t *in;
    const found_records *recs;
    size_t first;
    bytebuf bytes;
} enc_refs;

static tp_code enc_get(void *op, tp_ctx *ctx, uint64_t index, const uint8_t **p, size_t *len, const rec_layout **lay)
{
    enc_refs *e = op;
    if (index >= e->first) return corrupt_refs(ctx);
    const uint8_t *q = NULL;
    uint8_t *own = NULL;
    tp_code rc = npy_array_bytes(ctx, e->in, &e->recs[index].arr, &q, &own);
    if (rc) return rc;
    e->bytes.len = 0;
    bytebuf_append(&e->bytes, q, (size_t)e->recs[index].arr.nbytes);
    free(own);
    if (e->bytes.failed) return ctx_fail(ctx, TP_E_NOMEM, -1, "record buffer");
    *p = e->bytes.data;
    *len = e->bytes.len;
    *lay = &e->recs[index].layout;
    return TP_OK;
}

static int role_of(const rec_model *m, uint32_t k)
{
    for (int r = 0; r < ROLE_N; r++)
        if (m->col[r] == (int)k) return r;
    return -1;
}

tp_code records_encode(tp_ctx *ctx, const uint8_t *in, const found_records *recs, size_t first, size_t count,
                          int level, uint64_t *lzma_budget, bytebuf *out)
{
    const rec_layout *lay = &recs[first].layout;
    bytebuf all = {0}, col = {0}, fwd = {0}, tmp = {0}, z = {0}, best = {0}, check = {0}, res = {0};
    uint64_t *starts = NULL, *counts = NULL, *pred = NULL, *stack = NULL;
    const size_t start_len = out->len;
    rec_model m;
    thr_table tt = {0};
    enc_refs er = {in, recs, first, {0}};
    rec_refs refs = {enc_get, &er};
    const bool modelled = model_find(recs, first, &m); /* the HGB model */
    tp_code rc = gather(ctx, in, recs + first, count, &all);
    if (rc) goto done;
    const uint64_t nrec = all.len / lay->itemsize;
    uint64_t maxn = 1;
    counts = malloc((count + 1) * sizeof *counts);
    if (!counts) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record counts");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        counts[i] = recs[first + i].arr.shape[0];
        if (counts[i] > maxn) maxn = counts[i];
    }
    /* a search's means, deviations and ranks from its splits' scores */
    if (!rc && !modelled && cv_model_find(recs, first, count, &m.cv)) {
        if (cv_model_tune(ctx, &m.cv, all.data, counts, count, lay, &refs)) m.kind = REC_MODEL_CV;
        else cv_model_free(&m.cv);
    }
    if (modelled) {
        model_tune(&m, all.data, counts, count, lay, &recs[first].hgb);
        if ((rc = thr_table_load(ctx, &m, &refs, &tt))) goto done;
        pred = malloc((size_t)maxn * sizeof *pred);
        stack = malloc((size_t)maxn * sizeof *stack);
        if (!pred || !stack) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record model");
            goto done;
        }
    }

    uint64_t stream_bytes = 0;
    for (size_t i = 0; i < count; i++) stream_bytes += recs[first + i].arr.data_len;
    bytebuf_varint(out, first);
    bytebuf_varint(out, count);
    bytebuf_varint(out, stream_bytes);
    if (m.kind != REC_MODEL_NONE) model_write(&m, out);
    layout_write(lay, out);
    for (size_t i = 0; i < count; i++) bytebuf_varint(out, counts[i]);
    for (uint32_t k = 0; k < lay->ncols && !rc; k++) {
        const uint32_t w = lay->width[k];
        const size_t n = (size_t)(nrec * w);
        col.len = fwd.len = tmp.len = res.len = 0;
        if (!bytebuf_grow(&col, n + 1) || !bytebuf_grow(&fwd, n + 1) || !bytebuf_grow(&tmp, n + 1) ||
            !bytebuf_grow(&res, n + 1)) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record column");
            break;
        }
        for (uint64_t i = 0; i < nrec; i++) memcpy(col.data + i * w, all.data + i * lay->itemsize + lay->off[k], w);
        const int role = modelled ? role_of(&m, k) : -1;
        const bool cv = m.kind == REC_MODEL_CV; /* one column */
        const bool can_model = cv || (role >= 0 && role_modelled(role) && model_can(&m, role));
        if (cv && (rc = cv_model_apply(ctx, &m.cv, all.data, counts, count, lay, &refs, res.data, false))) break;
        /* solved hessians: value and gain both through the model */
        const bool solved = can_model && m.predict == PREDICT_SOLVE && (role == ROLE_VALUE || role == ROLE_GAIN);
        if (solved) {
            uint8_t *other = malloc(n + 1), *kn = malloc((size_t)maxn);
            double *h = malloc((size_t)maxn * sizeof *h);
            if (other && kn && h)
                model_apply_solve(&m, all.data, counts, count, lay, role == ROLE_VALUE ? res.data : other,
                                  role == ROLE_VALUE ? other : res.data, false, h, kn);
            else
                rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record model");
            free(other), free(kn), free(h);
            if (rc) break;
        } else if (can_model && !cv) {
            model_apply(&m, &tt, role, all.data, counts, count, lay, res.data, false, pred, stack);
        }
        /* per source (the column, its residuals): the transform zstd
         * codes best */
        int best_t = -1;
        bool best_m = false, best_lz = false;
        for (int pass = solved; pass < 1 + can_model && !rc; pass++) {
            const uint8_t *src = pass ? res.data : col.data;
            const uint8_t type = pass ? REC_INT_LE : lay->type[k];
            const bool big = pass ? false : is_big(lay->type[k]);
            for (int t = REC_T_RAW; t <= REC_T_MAX && !rc; t++) {
                if (!transform_applies(t, type, w)) continue;
                forward(t, big, src, nrec, w, fwd.data, tmp.data);
                z.len = 0;
                if (bytes_are_one_run(fwd.data, n)) bytebuf_u8(&z, fwd.data[0]); /* see column_decode */
                else if (n && (rc = zstd_compress_into(ctx, fwd.data, n, level, &z))) break;
                if (best_t < 0 || z.len < best.len) {
                    best_t = t;
                    best_m = pass;
                    best_lz = false;
                    best.len = 0;
                    bytebuf_append(&best, z.data, z.len);
                    if (best.failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record column");
                }
            }
        }
        /* LZMA2 once, of the source and transform zstd coded best: trying
         * it on both sources doubled the time it takes (half the time of
         * compressing a boosting model) for a few bytes; a column that
         * zstd takes to a few dozen bytes is left alone */
        if (!rc && best_t >= 0 && best.len > 64 && level >= 5 && lzma2_budget_take(lzma_budget, n)) {
            const uint8_t *src = best_m ? res.data : col.data;
            forward(best_t, best_m ? false : is_big(lay->type[k]), src, nrec, w, fwd.data, tmp.data);
            z.len = 0;
            if (lzma2_encode(fwd.data, n, 0, 0, w == 8 ? 3 : w == 4 ? 2 : 0, &z) && !z.failed &&
                z.len + z.len / 32 < best.len) {
                best_lz = true;
                best.len = 0;
                bytebuf_append(&best, z.data, z.len);
                if (best.failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record column");
            }
        }
        uint8_t tbyte = (uint8_t)(best_t | (best_m ? REC_MODELLED : 0) | (best_lz ? REC_LZMA2 : 0));
        bytebuf_u8(out, tbyte);
        bytebuf_varint(out, best.len);
        bytebuf_append(out, best.data, best.len);
    }
    if (!rc && out->failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record block");
    if (rc) goto done;

    /* decode what was written and compare */
    uint64_t budget = UINT64_MAX, f2, c2;
    rec_layout lay2;
    rc = decode_block(ctx, out->data + start_len, out->len - start_len, &budget, &f2, &c2, &check, &starts, &refs,
                      &lay2);
    if (rc || f2 != first || c2 != count || check.len != all.len || memcmp(check.data, all.data, all.len)) {
        char cause[sizeof ctx->msg];
        snprintf(cause, sizeof cause, "%s", rc ? ctx->msg : "different bytes");
        ctx_reset(ctx);
        rc = ctx_fail(ctx, TP_E_INTERNAL, (int64_t)recs[first].offset,
                     "a block of structured arrays does not survive its own round trip (%s); please report this",
                     cause);
    }
done:
    bytebuf_free(&all), bytebuf_free(&col), bytebuf_free(&fwd), bytebuf_free(&tmp), bytebuf_free(&res);
    bytebuf_free(&z), bytebuf_free(&best), bytebuf_free(&check), bytebuf_free(&er.bytes);
    free(starts), free(counts), free(pred), free(stack);
    rec_model_free(&m);
    thr_table_free(&tt);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------- */

static tp_code corrupt(tp_ctx *ctx, const char *what)
{
    return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a block of structured arrays is malformed: %s", what);
}

/* One column's bytes: decompressed and the transform undone, into col. */
static tp_code column_decode(tp_ctx *ctx, uint8_t t, const uint8_t *z, size_t zlen, uint64_t nrec, uint32_t w,
                             bool big, bytebuf *raw, bytebuf *col)
{
    const size_t n = (size_t)(nrec * w);
    const bool lzma2 = (t & REC_LZMA2) != 0;
    t &= (uint8_t)~(REC_LZMA2 | REC_MODELLED);
    col->len = raw->len = 0;
    if (!bytebuf_grow(col, n + 1) || !bytebuf_grow(raw, n + 1)) return ctx_fail(ctx, TP_E_NOMEM, -1, "record column");
    tp_code rc;
    if (n && lzma2 && (rc = lzma2_decode(ctx, z, zlen, raw->data, n, "a column of structured arrays"))) return rc;
    /* one byte stands for that byte repeated: no zstd frame is that short */
    if (n && !lzma2 && zlen == 1 && n >= 2) memset(raw->data, z[0], n);
    else if (n && !lzma2 && (rc = zstd_decompress_exact(ctx, z, zlen, raw->data, n))) return rc;
    inverse(t, big, raw->data, nrec, w, col->data);
    return TP_OK;
}

static tp_code decode_block(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t *budget, uint64_t *first,
                            uint64_t *count, bytebuf *out, uint64_t **starts, const rec_refs *refs,
                            rec_layout *lay_out)
{
    cursor c = cursor_make(data, len);
    rec_layout lay;
    rec_model m;
    memset(&m, 0, sizeof m);
    for (int r = 0; r < ROLE_N; r++) m.col[r] = -1;
    *first = cursor_varint(&c);
    *count = cursor_varint_max(&c, len); /* each array takes a byte at least */
    cursor_varint(&c);                   /* stream bytes: for reports */
    uint64_t itemsize = cursor_varint(&c);
    if (!c.bad && itemsize == 0) { /* a model, then the layout */
        bool ok = model_read(&c, *first, *count, &m);
        itemsize = cursor_varint(&c);
        if (!ok || c.bad || itemsize == 0) {
            rec_model_free(&m);
            return corrupt(ctx, "model");
        }
    }
    if (c.bad || !layout_read(&c, itemsize, &lay) || (m.kind && !model_fits(&m, &lay))) {
        rec_model_free(&m);
        return corrupt(ctx, "header");
    }
    *lay_out = lay;
    *starts = calloc((size_t)*count + 1, sizeof **starts);
    uint64_t *counts = calloc((size_t)*count + 1, sizeof *counts);
    if (!*starts || !counts) {
        rec_model_free(&m), free(counts);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "record table");
    }
    uint64_t nrec = 0, bytes, maxn = 1;
    tp_code rc = TP_OK;
    for (uint64_t i = 0; i < *count && !rc; i++) {
        uint64_t n = cursor_varint(&c);
        (*starts)[i] = nrec * lay.itemsize;
        counts[i] = n;
        if (n > maxn) maxn = n;
        if (c.bad || !add_ok(nrec, n, &nrec)) rc = corrupt(ctx, "record counts");
    }
    if (!rc && (!mul_ok(nrec, lay.itemsize, &bytes) || bytes > *budget || bytes > SIZE_MAX / 2))
        rc = corrupt(ctx, "more records than the original could hold");
    if (rc) {
        rec_model_free(&m), free(counts);
        return rc;
    }
    (*starts)[*count] = bytes;
    *budget -= bytes;
    out->len = 0;
    bytebuf col = {0}, raw = {0};
    const uint8_t *mz[ROLE_N] = {0};
    size_t mzlen[ROLE_N] = {0};
    uint8_t mt[ROLE_N] = {0};
    bool mdo[ROLE_N] = {0};
    uint64_t *pred = NULL, *stack = NULL;
    thr_table tt = {0};
    if (!bytebuf_grow(out, (size_t)bytes + 1))
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "records of %llu bytes", (unsigned long long)bytes);
    else
        out->len = (size_t)bytes;
    /* the columns as they are; those of the model after them */
    for (uint32_t k = 0; k < lay.ncols && !rc; k++) {
        const uint32_t w = lay.width[k];
        const size_t n = (size_t)(nrec * w);
        uint8_t t = cursor_u8(&c);
        const uint8_t tr = t & (uint8_t)~(REC_LZMA2 | REC_MODELLED);
        uint64_t zlen = cursor_varint_max(&c, cursor_left(&c));
        const uint8_t *z = cursor_take(&c, (size_t)zlen);
        const bool cv = (t & REC_MODELLED) && m.kind == REC_MODEL_CV;
        const int role = (t & REC_MODELLED) && !cv ? role_of(&m, k) : -1;
        if (c.bad || tr > REC_T_MAX || (n == 0) != (zlen == 0) ||
            !transform_applies(tr, role >= 0 || cv ? REC_INT_LE : lay.type[k], w) ||
            ((t & REC_MODELLED) && !cv && (role < 0 || !model_can(&m, role)))) {
            rc = corrupt(ctx, "column header");
            break;
        }
        if (cv) { /* one column: the model writes the arrays */
            rc = column_decode(ctx, t, z, (size_t)zlen, nrec, w, false, &raw, &col);
            if (!rc) rc = cv_model_apply(ctx, &m.cv, out->data, counts, *count, &lay, refs, col.data, true);
            if (rc) break;
            continue;
        }
        if (role >= 0) {
            mz[role] = z, mzlen[role] = (size_t)zlen, mt[role] = t, mdo[role] = true;
            continue;
        }
        if ((rc = column_decode(ctx, t, z, (size_t)zlen, nrec, w, is_big(lay.type[k]), &raw, &col))) break;
        for (uint64_t i = 0; i < nrec; i++) memcpy(out->data + i * lay.itemsize + lay.off[k], col.data + i * w, w);
    }
    if (!rc && cursor_left(&c)) rc = corrupt(ctx, "trailing bytes");
    static const int order[] = {ROLE_LEFT,      ROLE_RIGHT,     ROLE_DEPTH, ROLE_COUNT, ROLE_MISSING_LEFT,
                                ROLE_THRESHOLD, ROLE_VALUE,     ROLE_GAIN};
    bool any = false;
    for (int i = 0; i < ROLE_N; i++) any |= mdo[i];
    if (!rc && any) {
        pred = malloc((size_t)maxn * sizeof *pred);
        stack = malloc((size_t)maxn * sizeof *stack);
        if (!pred || !stack) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record model");
    }
    if (!rc && mdo[ROLE_THRESHOLD]) rc = thr_table_load(ctx, &m, refs, &tt);
    for (size_t o = 0; o < sizeof order / sizeof *order && !rc; o++) {
        const int role = order[o];
        if (m.predict == PREDICT_SOLVE && (role == ROLE_VALUE || role == ROLE_GAIN)) {
            /* both columns at once, when the gain's turn comes */
            if (!mdo[ROLE_VALUE] || !mdo[ROLE_GAIN]) {
                rc = corrupt(ctx, "value and gain not both modelled");
                break;
            }
            if (role == ROLE_VALUE) continue;
            bytebuf colv = {0};
            uint8_t *kn = malloc((size_t)maxn);
            double *h = malloc((size_t)maxn * sizeof *h);
            if (!kn || !h) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "record model");
            if (!rc) rc = column_decode(ctx, mt[ROLE_VALUE], mz[ROLE_VALUE], mzlen[ROLE_VALUE], nrec, 8, false, &raw, &colv);
            if (!rc) rc = column_decode(ctx, mt[ROLE_GAIN], mz[ROLE_GAIN], mzlen[ROLE_GAIN], nrec, 8, false, &raw, &col);
            if (!rc) model_apply_solve(&m, out->data, counts, *count, &lay, colv.data, col.data, true, h, kn);
            bytebuf_free(&colv);
            free(kn), free(h);
            if (rc) break;
            continue;
        }
        if (!mdo[role]) continue;
        const int k = m.col[role];
        if ((rc = column_decode(ctx, mt[role], mz[role], mzlen[role], nrec, lay.width[k], false, &raw, &col))) break;
        model_apply(&m, &tt, role, out->data, counts, *count, &lay, col.data, true, pred, stack);
    }
    bytebuf_free(&col);
    bytebuf_free(&raw);
    thr_table_free(&tt);
    rec_model_free(&m), free(counts), free(pred), free(stack);
    return rc;
}

tp_code records_load(tp_ctx *ctx, const uint8_t *file, const tpk_section *secs, size_t nsecs, records_set *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->cur = SIZE_MAX;
    size_t n = 0;
    for (size_t i = 0; i < nsecs; i++) n += secs[i].kind == SEC_RECORDS;
    if (!n) return TP_OK;
    rs->blocks = calloc(n, sizeof *rs->blocks);
    if (!rs->blocks) return ctx_fail(ctx, TP_E_NOMEM, -1, "record blocks");
    for (size_t i = 0; i < nsecs; i++) {
        const tpk_section *s = &secs[i];
        if (s->kind != SEC_RECORDS) continue;
        if (s->codec != CODEC_STORED)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "a block of structured arrays is not stored");
        rec_block *b = &rs->blocks[rs->nblocks];
        b->data = file + s->offset;
        b->len = (size_t)s->stored_len;
        cursor c = cursor_make(b->data, b->len);
        b->first = cursor_varint(&c);
        b->count = cursor_varint_max(&c, b->len);
        if (c.bad || b->first != rs->count || !add_ok(rs->count, b->count, &rs->count))
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "blocks of structured arrays are out of order");
        rs->nblocks++;
    }
    return TP_OK;
}

void records_set_free(records_set *rs)
{
    free(rs->blocks);
    bytebuf_free(&rs->bytes);
    free(rs->starts);
    bytebuf_free(&rs->ref_bytes);
    free(rs->ref_starts);
    memset(rs, 0, sizeof *rs);
    rs->cur = SIZE_MAX;
}

/* An array a model refers to (expand side): its block decoded on its
 * own, without a model that refers further. */
static tp_code set_get(void *op, tp_ctx *ctx, uint64_t index, const uint8_t **p, size_t *len, const rec_layout **lay)
{
    records_set *rs = op;
    size_t b = 0;
    while (b < rs->nblocks && index >= rs->blocks[b].first + rs->blocks[b].count) b++;
    if (b == rs->nblocks) return corrupt_refs(ctx);
    if (!rs->ref_ok || rs->ref_cur != b) {
        free(rs->ref_starts);
        rs->ref_starts = NULL;
        rs->ref_ok = false;
        uint64_t first, count, budget = rs->ref_budget;
        tp_code rc = decode_block(ctx, rs->blocks[b].data, rs->blocks[b].len, &budget, &first, &count,
                                  &rs->ref_bytes, &rs->ref_starts, NULL, &rs->ref_lay);
        if (rc) return rc;
        if (first != rs->blocks[b].first || count != rs->blocks[b].count)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a block of structured arrays miscounts its arrays");
        rs->ref_ok = true;
        rs->ref_cur = b;
    }
    uint64_t k = index - rs->blocks[b].first;
    *p = rs->ref_bytes.data + rs->ref_starts[k];
    *len = (size_t)(rs->ref_starts[k + 1] - rs->ref_starts[k]);
    *lay = &rs->ref_lay;
    return TP_OK;
}

tp_code records_bytes(tp_ctx *ctx, records_set *rs, uint64_t index, uint64_t *budget, const uint8_t **p,
                         size_t *len)
{
    size_t b = 0;
    while (b < rs->nblocks && index >= rs->blocks[b].first + rs->blocks[b].count) b++;
    if (b == rs->nblocks)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "structured array %llu is in no block", (unsigned long long)index);
    if (rs->cur != b) {
        free(rs->starts);
        rs->starts = NULL;
        rs->cur = SIZE_MAX;
        uint64_t first, count;
        rec_layout lay;
        rs->ref_budget = *budget;
        rec_refs refs = {set_get, rs};
        tp_code rc = decode_block(ctx, rs->blocks[b].data, rs->blocks[b].len, budget, &first, &count, &rs->bytes,
                                  &rs->starts, &refs, &lay);
        if (rc) return rc;
        if (first != rs->blocks[b].first || count != rs->blocks[b].count)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a block of structured arrays miscounts its arrays");
        rs->cur = b;
    }
    uint64_t k = index - rs->blocks[b].first;
    *p = rs->bytes.data + rs->starts[k];
    *len = (size_t)(rs->starts[k + 1] - rs->starts[k]);
    return TP_OK;
}

void records_sizes(const records_set *rs, uint64_t *raw, uint64_t *stored)
{
    for (size_t b = 0; b < rs->nblocks; b++) {
        cursor c = cursor_make(rs->blocks[b].data, rs->blocks[b].len);
        cursor_varint(&c);
        cursor_varint(&c);
        uint64_t stream_bytes = cursor_varint(&c);
        if (!c.bad) *raw += stream_bytes;
        *stored += rs->blocks[b].len;
    }
}

tp_code records_write(tp_ctx *ctx, tpk_writer *w, const uint8_t *in, const found_records *recs, size_t n,
                         int level, uint64_t *lzma_budget, uint64_t *nsec, uint64_t *raw, uint64_t *stored)
{
    bytebuf block = {0};
    tp_code rc = TP_OK;
    for (size_t first = 0; first < n && !rc;) {
        /* a block: consecutive arrays with the first one's layout */
        size_t count = 0;
        uint64_t bytes = 0;
        uint64_t stream_bytes = 0;
        while (first + count < n && bytes < REC_BLOCK_TARGET &&
               memcmp(&recs[first + count].layout, &recs[first].layout, sizeof(rec_layout)) == 0) {
            stream_bytes += recs[first + count].arr.data_len;
            bytes += recs[first + count++].arr.nbytes;
        }
        block.len = 0;
        if ((rc = records_encode(ctx, in, recs, first, count, level, lzma_budget, &block))) break;
        rc = tpk_write_section(w, SEC_RECORDS, SEC_REQUIRED, CODEC_STORED, block.data, block.len, block.len);
        (*nsec)++;
        *raw += stream_bytes;
        *stored += block.len;
        first += count;
    }
    bytebuf_free(&block);
    return rc;
}
