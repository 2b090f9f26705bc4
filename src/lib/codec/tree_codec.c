/*
 * tree_codec.c - the columnar tree codec.
 *
 * Per tree, in this order (the decoder reads in the same order):
 *   meta        sizes, layout, n_features, flags, the value and impurity models
 *   topology    one bit per node (internal = 1); in preorder trees that is
 *               the whole topology, otherwise the children follow
 *   splits      feature and threshold of each internal node, in node order
 *   exceptions  leaves whose feature or threshold are not sklearn's -2
 *   node data   bottom-up (children before parents), so that a parent's
 *               prediction can use its children; for each node:
 *               n_node_samples, weighted_n_node_samples, values, impurity
 *   rest        node bytes no known field covers
 */
#include <stdio.h>
#include <stdlib.h>

#include "format/container.h"
#include "base/cursor.h"
#include "codec/planes.h"
#include "codec/tree_codec.h"
#include "codec/tree_model.h"

/* VM_FRACTION: the values are class fractions k / weighted_n_node_samples
 * (scikit-learn >= 1.4); the block holds the counts k as VM_COUNTS does,
 * and every prediction (sums, Gini) works on the counts, which the
 * decoder divides by the weights once the whole tree is read. */
/* VM_UNITS: classifier leaves whose values are whole multiples of a unit
 * per class (class_weight: every sample of class c weighs k * w_c, so a
 * leaf's weighted count is a multiple of w_c to within an ulp or two).
 * The tree's meta holds the units; a leaf stores per class the multiple
 * and its residual, its weight is predicted as the sum of its values, and
 * internal values are the children's sums as in VM_SUM. */
/* VM_UNIT_FRACTIONS: the same for scikit-learn >= 1.4, whose values are
 * the class sums divided by the node's weight: a leaf stores the multiples
 * of its class sums, its weight is predicted as their sum and each value
 * as multiple * unit / weight; internal values are as in VM_MEAN. */
/* VM_QUANT: regression on targets that are whole multiples of a quantum
 * q (prices, counts, ratings, two-decimal figures): a leaf's value is its
 * samples' sum over its weight, and that sum a multiple k of q; a leaf
 * stores k and the residual against k * q / w.  Internal values as in
 * VM_MEAN.  One output only; q is in the tree's meta. */
enum value_model {
    VM_RAW = 0, VM_COUNTS = 1, VM_SUM = 2, VM_MEAN = 3, VM_FRACTION = 4, VM_UNITS = 5, VM_UNIT_FRACTIONS = 6,
    VM_QUANT = 7
};

static bool units_model(int vm) { return vm == VM_UNITS || vm == VM_UNIT_FRACTIONS; }
/* Are internal values predicted as the weighted mean of the children's? */
static bool mean_model(int vm) { return vm == VM_MEAN || vm == VM_UNIT_FRACTIONS || vm == VM_QUANT; }

static bool counts_model(int vm) { return vm == VM_COUNTS || vm == VM_FRACTION; }
/* IM_GINI_FRACTIONS: Gini of class fractions whose counts are not whole
 * numbers (class_weight, sample_weight; scikit-learn >= 1.4). */
/* IM_QUANT (with VM_QUANT, or VM_MEAN where the forest's table of leaf
 * values codes them better): squared error from the sum of squares,
 * sq / w - v * v, where sq is a whole multiple K of q * q: a leaf stores K
 * and the residual, an internal node only the residual, its K being the
 * sum of its children's. */
/* IM_SQ (one class, several outputs): residuals against the impurity the
 * sums of squares give (tree_model.h, pred_sq_impurity), or the raw double
 * where there is no prediction or it misses by far: a leaf that is a right
 * child gets its sum of squares by sklearn's subtraction from its parent's,
 * which no one can redo. */
/* IM_ABS (one output, one class): absolute error (criterion
 * "absolute_error"), whose value is a median of the targets and impurity
 * sum(w |y - median|) / w: on targets that are multiples of a quantum
 * that sum is a multiple K of q (half the targets' quantum: a median may
 * fall between two), so every node stores K and the residual against
 * K q / w, with q in the tree's meta. */
enum imp_model { IM_RAW = 0, IM_GINI = 1, IM_MSE = 2, IM_GINI_FRACTIONS = 3, IM_QUANT = 4, IM_SQ = 5, IM_ABS = 6 };

/* IM_SQ's code of an impurity: its residual + 1, or 0 for the raw double. */
#define SQ_RESIDUAL_MAX ((uint64_t)1 << 48)
static uint64_t sq_code(const sktree *t, uint64_t i)
{
    double p = pred_sq_impurity(t, i);
    if (p != p) return 0;
    uint64_t r = resid_encode(t->impurity[i], p);
    return r < SQ_RESIDUAL_MAX ? r + 1 : 0;
}

#define META_VALUES_BIG 0x01
#define META_VALUES_FORTRAN 0x02
#define META_PREORDER 0x04
#define META_THR_DICT 0x08  /* thresholds of tabled features are indices */
#define META_LEAF_DICT 0x10 /* leaf values are indices into the leaf table */
#define META_RAWPAR 0x20    /* parents of leaves keep their values raw */
#define META_REST_MISSING 0x40 /* the first rest byte is XOR missing_go_to_left's prediction */
#define META_KNOWN 0x7f

/* Is that prediction right for at least 7 internal nodes in 8? */
static bool rest_missing_pays(const sktree *t, uint32_t rest_size)
{
    if (rest_size == 0) return false;
    uint64_t internal = 0, wrong = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        internal += t->left[i] != -1;
        wrong += t->rest[i * rest_size] != missing_go_to_left_pred(t, i);
    }
    return internal && 8 * wrong < internal;
}

int column_part(int col)
{
    switch (col) {
    case COL_TOPO:
    case COL_CHILDREN: return TP_PART_TOPOLOGY;
    case COL_FEATURE: return TP_PART_FEATURES;
    case COL_THRESHOLD:
    case COL_THR_INDEX: return TP_PART_THRESHOLDS;
    case COL_N_LEAF:
    case COL_N_INT:
    case COL_W_LEAF:
    case COL_W_ESC:
    case COL_W_INT: return TP_PART_COUNTS;
    case COL_V_SYM:
    case COL_V_COUNTS:
    case COL_V_RAW:
    case COL_V_INDEX:
    case COL_V_INT:
    case COL_V_INT_RAW: return TP_PART_VALUES;
    case COL_I_LEAF:
    case COL_I_INT:
    case COL_I_RAW: return TP_PART_IMPURITY;
    }
    return TP_PART_OTHER;
}

/* Width of the fixed-size records a column holds, stored as byte planes;
 * 0 for byte streams (varints, bits). */
static size_t column_width(int col, const forest_dict *dict)
{
    switch (col) {
    case COL_THRESHOLD:
    case COL_W_ESC:
    case COL_V_RAW:
    case COL_V_INT_RAW:
    case COL_I_RAW: return 8;
    case COL_THR_INDEX: return dict ? dict->thr_width : 0;
    case COL_V_INDEX: return dict ? dict->leaf_width : 0;
    }
    return 0;
}

/* zstd level of a column.  The residual, symbol and bit streams are small
 * and gain 10-40% from zstd's strongest levels at little cost; the bulk
 * of the time goes into the planes of doubles (thresholds, raw values)
 * and of table indices, which gain a few percent at most: they get the
 * level asked for. */
int column_level(int col, int level)
{
    if (column_width(col, NULL) == 8 || col == COL_REST || col == COL_THR_INDEX || col == COL_V_INDEX) return level;
    /* The small-integer columns gain from zstd's optimal parser, but
     * little from its slowest levels: on a 48 MB regression forest, +4
     * (level 13 by default) made the file 0.2% larger than +10 did and
     * its columns three times faster to compress (275 ms against 805 ms
     * of 1.2 s in all), which is what a forest of gigabytes waits for. */
    return MIN_OF(TP_LEVEL_MAX, level + 4);
}

/* ---- the models of a tree ----------------------------------------------------- */

typedef struct models {
    int vm, im;
    uint8_t flags;
    double *units; /* units models: one per output and class */
    double quantum; /* VM_QUANT, IM_QUANT */
    double abs_quantum; /* IM_ABS */
    uint64_t *sq;   /* IM_QUANT: each node's multiple of quantum^2 */
    /* their scratch: per output and class, and per output */
    double *sums;
    uint64_t *mult, *resid;
    uint32_t *sym;
} models;

static void models_free(models *m)
{
    free(m->units), free(m->sums), free(m->mult), free(m->resid), free(m->sym), free(m->sq);
    m->sq = NULL;
    m->units = m->sums = NULL;
    m->mult = m->resid = NULL;
    m->sym = NULL;
}

/* The scratch of a units model; false when out of memory. */
static bool models_scratch(models *m, const sktree *t)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    m->sums = malloc((size_t)per * sizeof *m->sums);
    m->mult = malloc((size_t)per * sizeof *m->mult);
    m->resid = malloc((size_t)per * sizeof *m->resid);
    m->sym = malloc((size_t)t->n_outputs * sizeof *m->sym);
    return m->sums && m->mult && m->resid && m->sym;
}

/* ---- model choice (encoder only) ------------------------------------------- */

/* A leaf's class sum: its value, or under fractions value * weight. */
static double leaf_class_sum(const sktree *t, uint64_t i, uint64_t e, bool fractions)
{
    const double x = t->values[i * (uint64_t)t->n_outputs * t->n_classes + e];
    return fractions ? x * t->weighted[i] : x;
}

/* The unit of each output's class: its smallest positive leaf sum (a
 * leaf of one sample drawn once), 1 where there is none.  Sums below
 * 2^-40 of the largest are no multiples of anything real weights give: a
 * stray tiny value must not become the unit of every other leaf. */
static void leaf_units(const sktree *t, double *units, bool fractions)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    for (uint64_t e = 0; e < per; e++) {
        double top = 0.0, u = INFINITY;
        for (uint64_t i = 0; i < t->n; i++) {
            double x = t->left[i] == -1 ? leaf_class_sum(t, i, e, fractions) : 0.0;
            if (x > top && x < INFINITY) top = x;
        }
        for (uint64_t i = 0; i < t->n; i++) {
            double x = t->left[i] == -1 ? leaf_class_sum(t, i, e, fractions) : 0.0;
            if (x > 0.0 && x >= top * 0x1p-40 && x < u) u = x;
        }
        units[e] = u < INFINITY ? u : 1.0;
    }
}

/* A leaf under a units model: per output its symbol, per output and class
 * the multiple k of the unit and the residual of the value against what
 * the decoder predicts from k (sums: scratch for k * u); returns the
 * residual of the weight.  A class that is +0.0 in an output with one
 * non-zero class (a pure leaf) is not stored: its k is 0. */
static uint64_t units_leaf(const sktree *t, uint64_t i, const double *units, bool fractions, double *sums,
                           uint64_t *mult, uint64_t *resid, uint32_t *sym)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    const double *v = node_values(t, i);
    const double w = t->weighted[i];
    for (uint32_t o = 0; o < t->n_outputs; o++) {
        const uint64_t b = (uint64_t)o * t->n_classes;
        uint32_t cls = UINT32_MAX, nonzero = 0;
        for (uint32_t c = 0; c < t->n_classes; c++)
            if (f64_to_bits(v[b + c]) != 0) nonzero++, cls = c;
        sym[o] = nonzero == 1 ? cls : t->n_classes;
        for (uint32_t c = 0; c < t->n_classes; c++) {
            bool stored = sym[o] == t->n_classes || c == sym[o];
            uint64_t k = stored ? unit_multiple(leaf_class_sum(t, i, b + c, fractions), units[b + c]) : 0;
            sums[b + c] = stored ? (double)k * units[b + c] : 0.0;
            mult[b + c] = k;
        }
    }
    for (uint64_t e = 0; e < per; e++) resid[e] = resid_encode(v[e], fractions ? sums[e] / w : sums[e]);
    /* sums of classes: the values themselves, closer to the weight than
     * k * u; fractions need the weight, which comes from k * u */
    return resid_encode(w, leaf_weight_of_sums(fractions ? sums : v, t->n_classes));
}

/* Do a tree's leaf values and weights take under half their bytes as
 * doubles (about: zstd takes some off both) under a units model? */
static bool units_pay(const sktree *t, const double *units, bool fractions)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    uint64_t cost_units = 0, cost_raw = 0;
    models m = {0};
    const bool ok = models_scratch(&m, t);
    for (uint64_t i = 0; ok && i < t->n; i++) {
        if (t->left[i] != -1) continue;
        cost_units += varint_len(units_leaf(t, i, units, fractions, m.sums, m.mult, m.resid, m.sym));
        for (uint64_t e = 0; e < per; e++) cost_units += varint_len(m.mult[e]) + varint_len(m.resid[e]);
        cost_raw += 8 * per + (is_count(t->weighted[i]) ? 1 : 9);
    }
    models_free(&m);
    return ok && 2 * cost_units < cost_raw;
}

/* ---- quantised regression targets -------------------------------------------- */

/* Quanta tried: whole numbers, halves and quarters, then decimals. */
static const double quanta[] = {1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001, 1e-4, 1e-5, 1e-6};

/* Bytes the leaves' values take under VM_QUANT with quantum q, counting
 * at most `leaves` leaves, or until the count passes `stop`. */
static uint64_t quant_leaf_cost(const sktree *t, double q, uint64_t leaves, uint64_t stop)
{
    uint64_t cost = 0;
    for (uint64_t i = 0; i < t->n && leaves && cost < stop; i++) {
        if (t->left[i] != -1) continue;
        const double v = t->values[i], w = t->weighted[i];
        int64_t k = quant_multiple(v * w, q);
        cost += varint_len(zigzag(k)) + varint_len(resid_encode(v, quant_value(k, q, w)));
        leaves--;
    }
    return cost;
}

/* Bytes the leaves' values take under VM_QUANT with the best quantum,
 * which goes to *q; UINT64_MAX where the model does not apply or does
 * not pay.  The quanta are ranked on the first leaves, so that a forest
 * of continuous targets (most of them) pays one pass over a few hundred
 * leaves a tree. */
static uint64_t quant_cost(const sktree *t, uint64_t leaves, double *q)
{
    if (t->n_classes != 1 || t->n_outputs != 1) return UINT64_MAX;
    const uint64_t sample = MIN_OF(leaves, 256);
    uint64_t best = UINT64_MAX;
    for (size_t c = 0; c < ARRAY_LEN(quanta); c++) {
        uint64_t cost = quant_leaf_cost(t, quanta[c], sample, best);
        if (cost < best) best = cost, *q = quanta[c];
    }
    /* doubles take 8 bytes a leaf, some less under zstd */
    if (best >= 5 * sample) return UINT64_MAX;
    return quant_leaf_cost(t, *q, leaves, UINT64_MAX);
}

static int choose_value_model(const sktree *t, bool *rawpar, double *units, double *quantum, uint64_t *cost_quant)
{
    *cost_quant = UINT64_MAX;
    *rawpar = false;
    if (tree_values_are_counts(t)) return VM_COUNTS;
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    uint64_t cost_sum = 0, cost_mean = 0, internal = 0, cost_pl = 0, n_pl = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        if (t->left[i] == -1) continue;
        internal++;
        bool parent_of_leaf = t->left[t->left[i]] == -1 || t->left[t->right[i]] == -1;
        for (uint64_t e = 0; e < per; e++) {
            double x = t->values[i * per + e];
            cost_sum += varint_len(resid_encode(x, pred_sum(t, i, e)));
            unsigned lm = varint_len(resid_encode(x, pred_mean(t, i, e)));
            cost_mean += lm;
            if (parent_of_leaf) cost_pl += lm, n_pl++;
        }
    }
    if (!internal) return VM_MEAN;
    /* Gradient boosting replaces leaf values after the fit: their parents
     * are then unpredictable, and cheaper as plain doubles. */
    if (cost_mean <= cost_sum && n_pl && cost_pl > 6 * n_pl) *rawpar = true;
    uint64_t best = MIN_OF(cost_sum, cost_mean);
    if (best >= 8 * internal * per) return VM_RAW;
    const bool mean = cost_mean <= cost_sum;
    if (mean && !*rawpar && t->n_classes == 1) {
        uint64_t leaves = t->n - internal, cost = quant_cost(t, leaves, quantum);
        if (cost < 5 * leaves) {
            *cost_quant = cost;
            return VM_QUANT;
        }
    }
    if (t->n_classes > 1 && units) {
        leaf_units(t, units, mean);
        if (units_pay(t, units, mean)) {
            *rawpar = false;
            return mean ? VM_UNIT_FRACTIONS : VM_UNITS;
        }
    }
    return mean ? VM_MEAN : VM_SUM;
}

static bool parent_of_leaf(const sktree *t, uint64_t i)
{
    return t->left[t->left[i]] == -1 || t->left[t->right[i]] == -1;
}

/* With replaced leaf values (gradient boosting, META_RAWPAR), the grid of
 * a leaf and of its parent is meaningless: their impurity goes raw. */
static bool impurity_raw_by_rawpar(const sktree *t, uint64_t i, bool rawpar)
{
    return rawpar && (t->left[i] == -1 || parent_of_leaf(t, i));
}

/* Bytes of the impurity under IM_QUANT; sq (n entries) gets every node's
 * multiple of q * q, order is children before parents. */
static uint64_t quant_impurity_cost(const sktree *t, double q, const uint64_t *order, uint64_t *sq)
{
    uint64_t cost = 0;
    for (uint64_t k = 0; k < t->n; k++) {
        const uint64_t i = order[k];
        const double v = t->values[i], w = t->weighted[i];
        if (t->left[i] == -1) {
            sq[i] = quant_squares(t->impurity[i], v, w, q);
            cost += varint_len(sq[i]);
        } else {
            sq[i] = sq[t->left[i]] + sq[t->right[i]];
        }
        cost += varint_len(resid_encode(t->impurity[i], quant_impurity(sq[i], v, w, q)));
    }
    return cost;
}

/* Bytes of the impurity under IM_ABS with quantum q, for at most n nodes
 * or until the count passes stop. */
static uint64_t abs_impurity_cost(const sktree *t, double q, uint64_t n, uint64_t stop)
{
    uint64_t cost = 0;
    for (uint64_t i = 0; i < t->n && i < n && cost < stop; i++) {
        const double w = t->weighted[i];
        const int64_t k = quant_multiple(t->impurity[i] * w, q);
        cost += varint_len(zigzag(k)) + varint_len(resid_encode(t->impurity[i], quant_value(k, q, w)));
    }
    return cost;
}

/* The best quantum for IM_ABS (into *q), ranked on the first nodes, and
 * the bytes it takes; UINT64_MAX where it does not apply or pay. */
static uint64_t abs_cost(const sktree *t, double *q)
{
    if (t->n_classes != 1 || t->n_outputs != 1) return UINT64_MAX;
    const uint64_t sample = MIN_OF(t->n, 256);
    uint64_t best = UINT64_MAX;
    for (size_t c = 0; c < 2 * ARRAY_LEN(quanta); c++) {
        const double qc = c % 2 ? quanta[c / 2] / 2 : quanta[c / 2];
        uint64_t cost = abs_impurity_cost(t, qc, sample, best);
        if (cost < best) best = cost, *q = qc;
    }
    if (best >= 5 * sample) return UINT64_MAX;
    return abs_impurity_cost(t, *q, t->n, UINT64_MAX);
}

static int choose_impurity_model(const sktree *t, bool rawpar, uint64_t cost_quant, uint64_t cost_abs)
{
    uint64_t cost_gini = 0, cost_mse = 0, cost_frac = 0, cost_sq = 0;
    const bool several = t->n_classes == 1 && t->n_outputs > 1;
    for (uint64_t i = 0; i < t->n; i++) {
        if (several) {
            uint64_t code = sq_code(t, i);
            cost_sq += code ? varint_len(code) : 9;
        }
        cost_gini += varint_len(resid_encode(t->impurity[i], pred_gini(t, i)));
        if (t->n_classes > 1) cost_frac += varint_len(resid_encode(t->impurity[i], pred_gini_of_fractions(t, i)));
        if (t->n_classes != 1) continue;
        if (impurity_raw_by_rawpar(t, i, rawpar)) {
            cost_mse += 8;
            continue;
        }
        uint64_t code = t->left[i] == -1 ? grid_encode_leaf(t, i, t->impurity[i])
                                         : grid_encode_internal(t, i, t->impurity[i]);
        cost_mse += code ? varint_len(code) : 9;
    }
    if (t->n_classes != 1) cost_mse = UINT64_MAX;
    if (t->n_classes == 1) cost_frac = UINT64_MAX;
    if (!several) cost_sq = UINT64_MAX;
    uint64_t best = MIN_OF(MIN_OF(MIN_OF(MIN_OF(MIN_OF(cost_gini, cost_mse), cost_frac), cost_quant), cost_sq), cost_abs);
    if (best >= 7 * t->n) return IM_RAW;
    if (best == cost_abs) return IM_ABS;
    if (best == cost_gini) return IM_GINI;
    if (best == cost_sq) return IM_SQ;
    if (best == cost_quant) return IM_QUANT;
    return best == cost_mse ? IM_MSE : IM_GINI_FRACTIONS;
}

/* ---- encoder ----------------------------------------------------------------- */

/* A column's codec: CODEC_STORED, CODEC_ZSTD, or COLUMN_FILL, one byte
 * repeated: the residuals of a model that predicts every node are zeros,
 * and a zstd frame of zeros costs 13-16 bytes, most of a tree of a few
 * dozen nodes' columns. */
enum { COLUMN_FILL = 2 };

typedef struct enc {
    bytebuf col[COL_COUNT];
    const forest_dict *dict;
} enc;

static void put_f64(bytebuf *b, double d) { bytebuf_u64(b, f64_to_bits(d)); }

/* IM_SQ: the code in col, and the raw double after a code of 0. */
static void put_sq(enc *E, int col, const sktree *t, uint64_t i)
{
    const uint64_t code = sq_code(t, i);
    bytebuf_varint(&E->col[col], code);
    if (!code) put_f64(&E->col[COL_I_RAW], t->impurity[i]);
}

/* IM_ABS: K, then the residual against K q / w. */
static void put_abs(bytebuf *b, double imp, double w, double q)
{
    const int64_t k = quant_multiple(imp * w, q);
    bytebuf_varint(b, zigzag(k));
    bytebuf_varint(b, resid_encode(imp, quant_value(k, q, w)));
}

static void put_index(bytebuf *b, size_t idx, size_t width)
{
    uint8_t t[8];
    store_le64(t, idx);
    bytebuf_append(b, t, width);
}

static bool has_thr_table(const forest_dict *d, int64_t f)
{
    return d && f >= 0 && (uint64_t)f < d->nfeatures && d->thr[f].n;
}

static double node_gini(const sktree *t, uint64_t i, const models *m)
{
    return m->im == IM_GINI_FRACTIONS ? pred_gini_of_fractions(t, i) : pred_gini(t, i);
}

/* A value through a table: its index, or the escape (the table's size)
 * and the double in the fallback column. */
static void put_tabled(enc *E, const forest_dict_table *t, size_t width, double v, int index_col, int raw_col)
{
    size_t idx = forest_dict_find(t, v);
    put_index(&E->col[index_col], idx == SIZE_MAX ? t->n : idx, width);
    if (idx == SIZE_MAX) put_f64(&E->col[raw_col], v);
}

/* Units models: per output the class of a pure leaf (every other class
 * +0.0) or n_classes, then each stored class's multiple and residual; the
 * weight's residual against the sum of the class sums goes to COL_W_LEAF. */
static void encode_leaf_units(enc *E, const sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    bytebuf_varint(&E->col[COL_W_LEAF],
                   units_leaf(t, i, m->units, m->vm == VM_UNIT_FRACTIONS, m->sums, m->mult, m->resid, m->sym));
    for (uint32_t o = 0; o < t->n_outputs; o++) bytebuf_varint(&E->col[COL_V_SYM], m->sym[o]);
    for (uint64_t e = 0; e < per; e++) {
        uint32_t o = (uint32_t)(e / t->n_classes), c = (uint32_t)(e % t->n_classes);
        if (m->sym[o] != t->n_classes && c != m->sym[o]) continue;
        bytebuf_varint(&E->col[COL_V_COUNTS], m->mult[e]);
        bytebuf_varint(&E->col[COL_V_COUNTS], m->resid[e]);
    }
}

static void encode_leaf(enc *E, const sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    const double *v = node_values(t, i);
    const int64_t n = t->nsamples[i];
    const double w = t->weighted[i];
    bytebuf_svarint(&E->col[COL_N_LEAF], n);
    if (units_model(m->vm)) {
        encode_leaf_units(E, t, i, m);
    } else if (is_count(w) && n >= 0 && (int64_t)w >= n) {
        /* weighted next to n: bootstrap multiplicities make w - n small */
        bytebuf_varint(&E->col[COL_W_LEAF], (uint64_t)((int64_t)w - n) + 1);
    } else {
        bytebuf_varint(&E->col[COL_W_LEAF], 0);
        put_f64(&E->col[COL_W_ESC], w);
    }
    if (counts_model(m->vm)) {
        for (uint32_t o = 0; o < t->n_outputs; o++) {
            const double *vo = v + (uint64_t)o * t->n_classes;
            uint32_t cls = UINT32_MAX;
            bool pure = true;
            for (uint32_t c = 0; c < t->n_classes && pure; c++) {
                if (f64_to_bits(vo[c]) == f64_to_bits(w) && cls == UINT32_MAX) cls = c;
                else if (f64_to_bits(vo[c]) != 0) pure = false;
            }
            if (pure && cls != UINT32_MAX) {
                /* a pure leaf: all its weight in one class */
                bytebuf_varint(&E->col[COL_V_SYM], cls);
            } else {
                bytebuf_varint(&E->col[COL_V_SYM], t->n_classes);
                for (uint32_t c = 0; c < t->n_classes; c++) bytebuf_varint(&E->col[COL_V_COUNTS], (uint64_t)vo[c]);
            }
        }
    } else if (units_model(m->vm)) {
        /* done above */
    } else if (m->vm == VM_QUANT) {
        int64_t k = quant_multiple(v[0] * w, m->quantum);
        bytebuf_varint(&E->col[COL_V_COUNTS], zigzag(k));
        bytebuf_varint(&E->col[COL_V_COUNTS], resid_encode(v[0], quant_value(k, m->quantum, w)));
    } else if (m->flags & META_LEAF_DICT) {
        for (uint64_t e = 0; e < per; e++) put_tabled(E, &E->dict->leaf, E->dict->leaf_width, v[e], COL_V_INDEX, COL_V_RAW);
    } else {
        for (uint64_t e = 0; e < per; e++) put_f64(&E->col[COL_V_RAW], v[e]);
    }
    const double imp = t->impurity[i];
    uint64_t code;
    if (m->im == IM_SQ) {
        put_sq(E, COL_I_LEAF, t, i);
    } else if (m->im == IM_ABS) {
        put_abs(&E->col[COL_I_LEAF], imp, w, m->abs_quantum);
    } else if (m->im == IM_QUANT) {
        bytebuf_varint(&E->col[COL_I_LEAF], m->sq[i]);
        bytebuf_varint(&E->col[COL_I_LEAF], resid_encode(imp, quant_impurity(m->sq[i], v[0], w, m->quantum)));
    } else if (m->im == IM_GINI || m->im == IM_GINI_FRACTIONS) {
        bytebuf_varint(&E->col[COL_I_LEAF], resid_encode(imp, node_gini(t, i, m)));
    } else if (m->im == IM_MSE && !(m->flags & META_RAWPAR)) {
        code = grid_encode_leaf(t, i, imp);
        bytebuf_varint(&E->col[COL_I_LEAF], code);
        if (!code) put_f64(&E->col[COL_I_RAW], imp);
    } else {
        put_f64(&E->col[COL_I_RAW], imp);
    }
}

static void encode_internal(enc *E, const sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    const uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
    uint64_t nsum = (uint64_t)t->nsamples[l] + (uint64_t)t->nsamples[r];
    bytebuf_svarint(&E->col[COL_N_INT], (int64_t)((uint64_t)t->nsamples[i] - nsum));
    bytebuf_varint(&E->col[COL_W_INT], resid_encode(t->weighted[i], t->weighted[l] + t->weighted[r]));
    bool raw = m->vm == VM_RAW || ((m->flags & META_RAWPAR) && parent_of_leaf(t, i));
    for (uint64_t e = 0; e < per; e++) {
        double x = t->values[i * per + e];
        if (raw) put_f64(&E->col[COL_V_INT_RAW], x);
        else bytebuf_varint(&E->col[COL_V_INT], resid_encode(x, mean_model(m->vm) ? pred_mean(t, i, e) : pred_sum(t, i, e)));
    }
    const double imp = t->impurity[i];
    if (m->im == IM_SQ) {
        put_sq(E, COL_I_INT, t, i);
    } else if (m->im == IM_ABS) {
        put_abs(&E->col[COL_I_INT], imp, t->weighted[i], m->abs_quantum);
    } else if (m->im == IM_QUANT) {
        bytebuf_varint(&E->col[COL_I_INT],
                       resid_encode(imp, quant_impurity(m->sq[i], t->values[i], t->weighted[i], m->quantum)));
    } else if (m->im == IM_GINI || m->im == IM_GINI_FRACTIONS) {
        bytebuf_varint(&E->col[COL_I_INT], resid_encode(imp, node_gini(t, i, m)));
    } else if (m->im == IM_MSE && !impurity_raw_by_rawpar(t, i, m->flags & META_RAWPAR)) {
        uint64_t code = grid_encode_internal(t, i, imp);
        bytebuf_varint(&E->col[COL_I_INT], code);
        if (!code) put_f64(&E->col[COL_I_RAW], imp);
    } else {
        put_f64(&E->col[COL_I_RAW], imp);
    }
}

/* Rebuild the right children of a preorder tree from its internal bits;
 * false if the bits are no preorder of a full binary tree.  Shared by the
 * encoder (to see whether a tree is in preorder) and the decoder. */
static bool preorder_children(uint64_t n, const uint8_t *internal, int64_t *left, int64_t *right, uint64_t *stack)
{
    uint64_t sp = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i > 0 && !internal[i - 1]) {
            if (!sp) return false;
            right[stack[--sp]] = (int64_t)i;
        }
        if (internal[i]) {
            if (i + 1 >= n) return false;
            left[i] = (int64_t)i + 1;
            stack[sp++] = i;
        } else {
            left[i] = right[i] = -1;
        }
    }
    return sp == 0;
}

/* Children before parents: the reverse of a depth-first preorder.  The
 * topology must have been validated (a tree, reached from node 0). */
static void bottom_up(const sktree *t, uint64_t *order, uint64_t *stack)
{
    uint64_t sp = 0, k = t->n;
    stack[sp++] = 0;
    while (sp) {
        uint64_t i = stack[--sp];
        order[--k] = i;
        if (t->left[i] != -1) {
            stack[sp++] = (uint64_t)t->right[i];
            stack[sp++] = (uint64_t)t->left[i];
        }
    }
}

typedef struct scratch {
    uint8_t *internal;
    int64_t *l2, *r2;
    uint64_t *order, *stack;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->internal);
    free(s->l2);
    free(s->r2);
    free(s->order);
    free(s->stack);
    memset(s, 0, sizeof *s);
}

static bool scratch_alloc(scratch *s, uint64_t n)
{
    memset(s, 0, sizeof *s);
    if (n > SIZE_MAX / 8 - 1) return false;
    size_t m = (size_t)n + 1;
    s->internal = malloc(m);
    s->l2 = malloc(m * 8);
    s->r2 = malloc(m * 8);
    s->order = malloc(m * 8);
    s->stack = malloc(m * 8);
    if (s->internal && s->l2 && s->r2 && s->order && s->stack) return true;
    scratch_free(s);
    return false;
}

static bool tree_in_preorder(const sktree *t, scratch *s)
{
    if (!tree_is_preorder(t)) return false;
    for (uint64_t i = 0; i < t->n; i++) s->internal[i] = t->left[i] != -1;
    if (!preorder_children(t->n, s->internal, s->l2, s->r2, s->stack)) return false;
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] != -1 && s->r2[i] != t->right[i]) return false;
    return true;
}

static bool is_leaf_sentinel(const sktree *t, uint64_t i)
{
    return t->feature[i] == -2 && f64_to_bits(t->threshold[i]) == f64_to_bits(-2.0);
}

/* Use a table for a tree when most of its values are in it: escaped
 * values cost an index on top of the double. */
static uint8_t choose_dict_flags(const sktree *t, const forest_dict *d, int vm)
{
    uint8_t flags = 0;
    if (!d) return 0;
    if (d->thr_width) {
        uint64_t found = 0, uses = 0;
        for (uint64_t i = 0; i < t->n; i++)
            if (t->left[i] != -1 && has_thr_table(d, t->feature[i])) {
                uses++;
                found += forest_dict_find(&d->thr[t->feature[i]], t->threshold[i]) != SIZE_MAX;
            }
        if (uses && 2 * found >= uses) flags |= META_THR_DICT;
    }
    if (d->leaf.n && !counts_model(vm) && !units_model(vm) && vm != VM_QUANT) {
        const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
        uint64_t found = 0, uses = 0;
        for (uint64_t i = 0; i < t->n; i++)
            for (uint64_t e = 0; t->left[i] == -1 && e < per; e++) {
                uses++;
                found += forest_dict_find(&d->leaf, t->values[i * per + e]) != SIZE_MAX;
            }
        if (uses && 2 * found >= uses) flags |= META_LEAF_DICT;
    }
    return flags;
}

/* Bytes of the leaf values of a one-output tree through the leaf table. */
static uint64_t leaf_dict_cost(const sktree *t, const forest_dict *d)
{
    uint64_t cost = 0;
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] == -1)
            cost += d->leaf_width + (forest_dict_find(&d->leaf, t->values[i]) == SIZE_MAX ? 8 : 0);
    return cost;
}

static tp_code encode_tree(tp_ctx *ctx, enc *E, const tree_block_in *in)
{
    const sktree *t = in->tree;
    const uint64_t n = t->n;
    scratch s;
    if (!scratch_alloc(&s, n)) return ctx_fail(ctx, TP_E_NOMEM, -1, "encoding a tree of %llu nodes", (unsigned long long)n);
    /* class fractions: encode the tree of counts they come from */
    sktree counted;
    double *counts = NULL;
    if (!tree_values_are_counts(t)) {
        counts = malloc((size_t)tree_values_count(t) * sizeof *counts + 1);
        if (!counts) {
            scratch_free(&s);
            return ctx_fail(ctx, TP_E_NOMEM, -1, "encoding a tree of %llu nodes", (unsigned long long)n);
        }
        if (tree_fraction_counts(t, counts)) {
            counted = *t;
            counted.values = counts;
            t = &counted;
        } else {
            free(counts);
            counts = NULL;
        }
    }
    bool pre = tree_in_preorder(t, &s), rawpar;
    models m = {0};
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    m.units = counts ? NULL : malloc((size_t)per * sizeof *m.units);
    uint64_t cost_quant;
    bottom_up(t, s.order, s.stack);
    m.vm = choose_value_model(t, &rawpar, m.units, &m.quantum, &cost_quant);
    if (counts) m.vm = VM_FRACTION;
    /* a quantum found: the impurity may use it whatever codes the values */
    const bool quantised = m.vm == VM_QUANT;
    if (m.vm == VM_QUANT && (choose_dict_flags(t, E->dict, VM_MEAN) & META_LEAF_DICT) &&
        leaf_dict_cost(t, E->dict) <= cost_quant)
        m.vm = VM_MEAN; /* the forest's table of leaf values does better */
    if ((quantised && !(m.sq = malloc((size_t)n * sizeof *m.sq + 1))) ||
        (units_model(m.vm) && !models_scratch(&m, t))) {
        models_free(&m);
        scratch_free(&s);
        free(counts);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "encoding a tree of %llu nodes", (unsigned long long)n);
    }
    const uint64_t cost_imp_quant = quantised ? quant_impurity_cost(t, m.quantum, s.order, m.sq) : UINT64_MAX;
    /* absolute error (criterion "absolute_error"; quanta ranked on a few
     * hundred nodes, the losers stopping early) */
    const uint64_t cost_abs = abs_cost(t, &m.abs_quantum);
    m.im = choose_impurity_model(t, rawpar, cost_imp_quant, cost_abs);
    m.flags = (uint8_t)((t->values_big ? META_VALUES_BIG : 0) | (t->values_fortran ? META_VALUES_FORTRAN : 0) |
                        (pre ? META_PREORDER : 0) | (rawpar ? META_RAWPAR : 0) | choose_dict_flags(t, E->dict, m.vm) |
                        (rest_missing_pays(t, in->rest_size) ? META_REST_MISSING : 0));

    bytebuf *meta = &E->col[COL_META];
    bytebuf_varint(meta, n);
    bytebuf_varint(meta, t->n_outputs);
    bytebuf_varint(meta, t->n_classes);
    bytebuf_varint(meta, in->layout);
    bytebuf_svarint(meta, in->n_features);
    bytebuf_u8(meta, m.flags);
    bytebuf_u8(meta, (uint8_t)m.vm);
    bytebuf_u8(meta, (uint8_t)m.im);
    for (uint64_t e = 0; units_model(m.vm) && e < per; e++) put_f64(meta, m.units[e]);
    if (m.vm == VM_QUANT || m.im == IM_QUANT) put_f64(meta, m.quantum);
    if (m.im == IM_ABS) put_f64(meta, m.abs_quantum);

    /* topology: bits, most significant first, each tree byte-aligned */
    uint8_t *bits = bytebuf_grow(&E->col[COL_TOPO], (size_t)((n + 7) / 8));
    if (bits) {
        memset(bits, 0, (size_t)((n + 7) / 8));
        for (uint64_t i = 0; i < n; i++)
            if (t->left[i] != -1) bits[i / 8] |= (uint8_t)(0x80 >> (i % 8));
    }
    if (!pre)
        for (uint64_t i = 0; i < n; i++)
            if (t->left[i] != -1) {
                bytebuf_svarint(&E->col[COL_CHILDREN], t->left[i] - (int64_t)i);
                bytebuf_svarint(&E->col[COL_CHILDREN], t->right[i] - (int64_t)i);
            }

    uint64_t nexcept = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (t->left[i] == -1) {
            nexcept += !is_leaf_sentinel(t, i);
            continue;
        }
        int64_t f = t->feature[i];
        bytebuf_varint(&E->col[COL_FEATURE], (uint64_t)f);
        if ((m.flags & META_THR_DICT) && has_thr_table(E->dict, f))
            put_tabled(E, &E->dict->thr[f], E->dict->thr_width, t->threshold[i], COL_THR_INDEX, COL_THRESHOLD);
        else
            put_f64(&E->col[COL_THRESHOLD], t->threshold[i]);
    }
    bytebuf_varint(&E->col[COL_EXCEPT], nexcept);
    for (uint64_t i = 0, last = 0; nexcept && i < n; i++) {
        if (t->left[i] != -1 || is_leaf_sentinel(t, i)) continue;
        bytebuf_varint(&E->col[COL_EXCEPT], i - last);
        bytebuf_svarint(&E->col[COL_EXCEPT], t->feature[i]);
        bytebuf_u64(&E->col[COL_EXCEPT], f64_to_bits(t->threshold[i]));
        last = i;
    }

    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = s.order[k];
        if (t->left[i] == -1) encode_leaf(E, t, i, &m);
        else encode_internal(E, t, i, &m);
    }
    uint8_t *rest = in->rest_size ? bytebuf_grow(&E->col[COL_REST], (size_t)(n * in->rest_size)) : NULL;
    if (rest) {
        memcpy(rest, t->rest, (size_t)(n * in->rest_size));
        for (uint64_t i = 0; (m.flags & META_REST_MISSING) && i < n; i++)
            rest[i * in->rest_size] ^= missing_go_to_left_pred(t, i);
    }
    scratch_free(&s);
    free(counts);
    models_free(&m);
    return TP_OK;
}

/* A small block may come out smaller as one zstd frame of all its
 * columns, stored, with their directory ("joined"): a tree of a few
 * dozen nodes has a dozen short columns, each a frame of its own with a
 * header, where one frame also finds what the columns share.  Blocks of
 * up to JOINED_MAX bytes of columns try it. */
#define JOINED_MAX ((uint64_t)64 << 10)

/* The report's bytes of each column of a joined block: the frame's bytes
 * shared out in proportion to the columns' raw bytes (rounded down), the
 * same on both sides.  total is their sum (at most R: small). */
static void joined_shares(const uint64_t *inner, uint64_t total, uint64_t frame, uint64_t *stored)
{
    for (int c = 0; c < COL_COUNT; c++) stored[c] = total ? inner[c] * frame / total : 0;
}

/* The block at out + start, in columns, becomes joined when that is
 * smaller; stored[] (the columns' stored bytes) then holds their shares. */
static tp_code try_joined(tp_ctx *ctx, const enc *E, size_t k, const uint8_t *codec, const bytebuf *z, int level,
                          bytebuf *out, size_t start, uint64_t *stored)
{
    uint64_t total = 0, inner_len[COL_COUNT];
    for (int c = 0; c < COL_COUNT; c++) {
        inner_len[c] = codec[c] == COLUMN_FILL ? 1 : E->col[c].len;
        total += inner_len[c];
    }
    if (total > JOINED_MAX) return TP_OK;
    bytebuf inner = {0}, frame = {0};
    bytebuf_varint(&inner, k);
    bytebuf_varint(&inner, COL_COUNT);
    for (int c = 0; c < COL_COUNT; c++) {
        bytebuf_varint(&inner, E->col[c].len);
        bytebuf_varint(&inner, inner_len[c]);
        bytebuf_u8(&inner, codec[c] == COLUMN_FILL ? COLUMN_FILL : CODEC_STORED);
    }
    for (int c = 0; c < COL_COUNT; c++)
        if (inner_len[c]) bytebuf_append(&inner, codec[c] == COLUMN_FILL ? z[c].data : E->col[c].data, (size_t)inner_len[c]);
    tp_code rc = inner.failed ? ctx_fail(ctx, TP_E_NOMEM, -1, "block buffer") : TP_OK;
    /* at most 64 KiB: the strongest level costs a few ms at the default
     * and up (boosting models 0.3-0.7% smaller than at level + 4) */
    if (!rc) rc = zstd_compress_into(ctx, inner.data, inner.len, level >= TP_LEVEL_DEFAULT ? TP_LEVEL_MAX : level, &frame);
    if (!rc) {
        bytebuf head = {0};
        bytebuf_varint(&head, k);
        bytebuf_varint(&head, 0); /* no columns: joined */
        bytebuf_varint(&head, inner.len);
        if (head.len + frame.len < out->len - start) {
            out->len = start;
            bytebuf_append(out, head.data, head.len);
            bytebuf_append(out, frame.data, frame.len);
            if (out->failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "block buffer");
            joined_shares(inner_len, total, frame.len, stored);
        }
        bytebuf_free(&head);
    }
    bytebuf_free(&inner), bytebuf_free(&frame);
    return rc;
}

tp_code tree_block_encode(tp_ctx *ctx, const tree_block_in *trees, size_t k, const forest_dict *dict, int level,
                        bool may_join, bytebuf *out, uint64_t *part_stored)
{
    enc E;
    memset(&E, 0, sizeof E);
    E.dict = dict;
    tp_code rc = TP_OK;
    for (size_t i = 0; i < k && !rc; i++) rc = encode_tree(ctx, &E, &trees[i]);
    for (int c = 0; c < COL_COUNT && !rc; c++)
        if (E.col[c].failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "column buffers");

    bytebuf z[COL_COUNT];
    memset(z, 0, sizeof z);
    uint8_t codec[COL_COUNT] = {0};
    for (int c = 0; c < COL_COUNT && !rc; c++) {
        bytebuf *src = &E.col[c];
        if (src->len == 0) continue;
        size_t width = column_width(c, dict);
        if (width > 1) {
            bytebuf planes = {0};
            if (!bytebuf_reserve(&planes, src->len)) {
                rc = ctx_fail(ctx, TP_E_NOMEM, -1, "column buffers");
                break;
            }
            planes_split(src->data, planes.data, src->len / width, width);
            planes.len = src->len;
            bytebuf_free(src);
            *src = planes;
        }
        if (bytes_are_one_run(src->data, src->len)) {
            codec[c] = COLUMN_FILL;
            bytebuf_u8(&z[c], src->data[0]);
            continue;
        }
        if ((rc = zstd_compress_into(ctx, src->data, src->len, column_level(c, level), &z[c]))) break;
        codec[c] = CODEC_ZSTD;
        if (z[c].len >= src->len) { /* incompressible: keep it as is */
            codec[c] = CODEC_STORED;
            z[c].len = 0;
            bytebuf_append(&z[c], src->data, src->len);
        }
    }
    const size_t start = out->len;
    uint64_t stored[COL_COUNT] = {0};
    if (!rc) {
        bytebuf_varint(out, k);
        bytebuf_varint(out, COL_COUNT);
        for (int c = 0; c < COL_COUNT; c++) {
            bytebuf_varint(out, E.col[c].len);
            bytebuf_varint(out, z[c].len);
            bytebuf_u8(out, codec[c]);
        }
        for (int c = 0; c < COL_COUNT; c++) {
            bytebuf_append(out, z[c].data, z[c].len);
            stored[c] = z[c].len;
        }
        if (out->failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "block buffer");
    }
    if (!rc && may_join) rc = try_joined(ctx, &E, k, codec, z, level, out, start, stored);
    if (!rc && part_stored)
        for (int c = 0; c < COL_COUNT; c++) part_stored[column_part(c)] += stored[c];
    for (int c = 0; c < COL_COUNT; c++) {
        bytebuf_free(&E.col[c]);
        bytebuf_free(&z[c]);
    }
    return rc;
}

/* ---- decoder ------------------------------------------------------------------ */

typedef struct col_dir {
    uint64_t raw, stored;
    uint8_t codec;
} col_dir;

/* The directory of a block in columns; in a joined block's frame
 * (`joined`) no column may be zstd. */
static tp_code read_directory(tp_ctx *ctx, cursor *c, bool joined, uint64_t *k, col_dir *dir)
{
    *k = cursor_varint(c);
    uint64_t ncols = cursor_varint(c);
    if (c->bad || ncols != COL_COUNT) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block has a bad directory");
    uint64_t total = 0;
    for (int i = 0; i < COL_COUNT; i++) {
        dir[i].raw = cursor_varint(c);
        dir[i].stored = cursor_varint(c);
        dir[i].codec = cursor_u8(c);
        if (c->bad || dir[i].codec > COLUMN_FILL || (joined && dir[i].codec == CODEC_ZSTD) ||
            (dir[i].codec == CODEC_STORED && dir[i].raw != dir[i].stored) ||
            (dir[i].codec == COLUMN_FILL && (dir[i].stored != 1 || dir[i].raw < 2)) ||
            !add_ok(total, dir[i].stored, &total))
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block has a bad directory");
    }
    if (total != cursor_left(c)) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block's columns do not add up");
    return TP_OK;
}

/* A joined block (tree count, 0 columns, varint R, one zstd frame of R
 * bytes): its frame decoded into *buf, which *in and *len then describe,
 * with *frame its stored bytes; any other block is left as it is (*buf
 * NULL).  R is bounded by what a writer joins, never taken on trust. */
#define JOINED_DIR_MAX (2 + COL_COUNT * 21)
static tp_code unjoin(tp_ctx *ctx, const uint8_t **in, size_t *len, uint8_t **buf, uint64_t *frame)
{
    cursor c = cursor_make(*in, *len);
    *buf = NULL;
    uint64_t k = cursor_varint(&c), ncols = cursor_varint(&c);
    if (c.bad || ncols != 0) return TP_OK; /* in columns: read_directory judges it */
    uint64_t r = cursor_varint(&c);
    if (c.bad || k == 0 || r > JOINED_MAX + JOINED_DIR_MAX)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a joined tree block has a bad header");
    *frame = cursor_left(&c);
    if (!(*buf = malloc((size_t)r + 1))) return ctx_fail(ctx, TP_E_NOMEM, -1, "a tree block");
    tp_code rc = zstd_decompress_exact(ctx, *in + c.pos, (size_t)*frame, *buf, (size_t)r);
    /* the same tree count inside */
    cursor d = cursor_make(*buf, (size_t)r);
    if (!rc && cursor_varint(&d) != k) rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a joined tree block miscounts its trees");
    if (rc) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *in = *buf;
    *len = (size_t)r;
    return TP_OK;
}

/* A block's directory, its frame decoded first if it is joined: *c is
 * then at its columns, in *buf (to free; NULL for a block in columns),
 * and *frame the frame's stored bytes. */
static tp_code open_block(tp_ctx *ctx, const uint8_t *in, size_t len, cursor *c, uint8_t **buf, uint64_t *frame,
                          uint64_t *k, col_dir *dir)
{
    *frame = 0;
    tp_code rc = unjoin(ctx, &in, &len, buf, frame);
    if (rc) return rc;
    *c = cursor_make(in, len);
    if ((rc = read_directory(ctx, c, *buf != NULL, k, dir))) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

tp_code tree_block_sizes(tp_ctx *ctx, const uint8_t *in, size_t len, uint64_t *ntrees, uint64_t *part_stored)
{
    uint8_t *buf;
    uint64_t frame;
    cursor c;
    col_dir dir[COL_COUNT];
    tp_code rc = open_block(ctx, in, len, &c, &buf, &frame, ntrees, dir);
    if (rc) return rc;
    const bool joined = buf != NULL;
    free(buf);
    uint64_t stored[COL_COUNT], total = 0;
    for (int i = 0; i < COL_COUNT; i++) stored[i] = dir[i].stored, total += dir[i].stored;
    if (joined) joined_shares(stored, total, frame, stored);
    for (int i = 0; i < COL_COUNT; i++) part_stored[column_part(i)] += stored[i];
    return TP_OK;
}

void tree_block_out_free(tree_block_out *out)
{
    for (size_t i = 0; i < out->k; i++) tree_free(&out->trees[i]);
    free(out->trees);
    free(out->layout);
    memset(out, 0, sizeof *out);
}

typedef struct dec {
    cursor col[COL_COUNT];
    const forest_dict *dict;
    bool bad_index;
} dec;

static double get_f64(cursor *c) { return bits_to_f64(cursor_u64(c)); }

static size_t get_index(cursor *c, size_t width)
{
    const uint8_t *p = cursor_take(c, width);
    if (!p) return SIZE_MAX;
    uint64_t v = 0;
    for (size_t b = width; b-- > 0;) v = (v << 8) | p[b];
    return (size_t)v;
}

/* A value through a table: an entry, or after the escape index the
 * double from the fallback column; past that the block is corrupt. */
static double get_tabled(dec *D, const forest_dict_table *t, size_t width, int index_col, int raw_col)
{
    size_t idx = get_index(&D->col[index_col], width);
    if (idx < t->n) return ordered_to_f64(t->keys[idx]);
    if (idx == t->n) return get_f64(&D->col[raw_col]);
    D->bad_index = true;
    return 0.0;
}

/* Leaf values through the table are loads from all over a table of
 * megabytes, each a cache miss that stalled the decoder (a seventh of
 * expanding a forest).  Their indices come in order in their column, so
 * the entry LEAF_AHEAD indices on is fetched while this one is decoded.
 * Only a hint: it reads nothing past the column and changes no value. */
#define LEAF_AHEAD 16

static inline void prefetch_tabled(const cursor *c, const forest_dict_table *t, size_t width)
{
    if (c->bad || width == 0 || width > 8 || c->len - c->pos < (LEAF_AHEAD + 1) * width) return;
    const uint8_t *p = c->data + c->pos + LEAF_AHEAD * width;
    uint64_t v = 0;
    for (size_t b = width; b-- > 0;) v = (v << 8) | p[b];
    if (v < t->n) __builtin_prefetch(&t->keys[v]);
}

static void decode_leaf_impurity(dec *D, sktree *t, uint64_t i, const models *m);

static void decode_leaf_units(dec *D, sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    double *v = t->values + i * per;
    for (uint32_t o = 0; o < t->n_outputs; o++) {
        uint64_t sym = cursor_varint(&D->col[COL_V_SYM]);
        if (sym > t->n_classes) {
            D->col[COL_V_SYM].bad = true;
            return;
        }
        m->sym[o] = (uint32_t)sym;
    }
    /* the class sums k * u first: the weight is predicted from them */
    for (uint64_t e = 0; e < per; e++) {
        uint32_t o = (uint32_t)(e / t->n_classes), c = (uint32_t)(e % t->n_classes);
        m->resid[e] = 0;
        m->sums[e] = 0.0;
        if (m->sym[o] != t->n_classes && c != m->sym[o]) continue;
        uint64_t k = cursor_varint(&D->col[COL_V_COUNTS]);
        m->resid[e] = cursor_varint(&D->col[COL_V_COUNTS]);
        m->sums[e] = (double)k * m->units[e];
    }
    const bool fractions = m->vm == VM_UNIT_FRACTIONS;
    if (!fractions) {
        for (uint64_t e = 0; e < per; e++) v[e] = resid_decode(m->resid[e], m->sums[e]);
        t->weighted[i] = resid_decode(cursor_varint(&D->col[COL_W_LEAF]), leaf_weight_of_sums(v, t->n_classes));
        return;
    }
    const double w = resid_decode(cursor_varint(&D->col[COL_W_LEAF]), leaf_weight_of_sums(m->sums, t->n_classes));
    t->weighted[i] = w;
    for (uint64_t e = 0; e < per; e++) v[e] = resid_decode(m->resid[e], m->sums[e] / w);
}

static void decode_leaf(dec *D, sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    double *v = t->values + i * per;
    const int64_t n = unzigzag(cursor_varint(&D->col[COL_N_LEAF]));
    t->nsamples[i] = n;
    if (units_model(m->vm)) {
        decode_leaf_units(D, t, i, m);
        if (D->col[COL_V_SYM].bad) return;
        decode_leaf_impurity(D, t, i, m);
        return;
    }
    uint64_t wcode = cursor_varint(&D->col[COL_W_LEAF]);
    const double w = wcode ? (double)(int64_t)((uint64_t)n + wcode - 1) : get_f64(&D->col[COL_W_ESC]);
    t->weighted[i] = w;
    if (counts_model(m->vm)) {
        for (uint32_t o = 0; o < t->n_outputs; o++) {
            double *vo = v + (uint64_t)o * t->n_classes;
            uint64_t sym = cursor_varint(&D->col[COL_V_SYM]);
            if (sym < t->n_classes) {
                for (uint32_t c = 0; c < t->n_classes; c++) vo[c] = 0.0;
                vo[sym] = w;
            } else if (sym == t->n_classes) {
                for (uint32_t c = 0; c < t->n_classes; c++) vo[c] = (double)cursor_varint(&D->col[COL_V_COUNTS]);
            } else {
                D->col[COL_V_SYM].bad = true;
                return;
            }
        }
    } else if (m->vm == VM_QUANT) {
        int64_t k = unzigzag(cursor_varint(&D->col[COL_V_COUNTS]));
        v[0] = resid_decode(cursor_varint(&D->col[COL_V_COUNTS]), quant_value(k, m->quantum, w));
    } else if (m->flags & META_LEAF_DICT) {
        for (uint64_t e = 0; e < per; e++) {
            prefetch_tabled(&D->col[COL_V_INDEX], &D->dict->leaf, D->dict->leaf_width);
            v[e] = get_tabled(D, &D->dict->leaf, D->dict->leaf_width, COL_V_INDEX, COL_V_RAW);
        }
    } else {
        for (uint64_t e = 0; e < per; e++) v[e] = get_f64(&D->col[COL_V_RAW]);
    }
    decode_leaf_impurity(D, t, i, m);
}

/* IM_SQ: the code (residual + 1) against the prediction, or 0 and the raw
 * double; a code without a prediction is corrupt. */
static double decode_sq(dec *D, sktree *t, uint64_t i, int col)
{
    uint64_t code = cursor_varint(&D->col[col]);
    if (!code) return get_f64(&D->col[COL_I_RAW]);
    double p = pred_sq_impurity(t, i);
    if (p != p || code > SQ_RESIDUAL_MAX) {
        D->col[col].bad = true;
        return 0.0;
    }
    return resid_decode(code - 1, p);
}

static double get_abs(cursor *c, double w, double q)
{
    const int64_t k = unzigzag(cursor_varint(c));
    return resid_decode(cursor_varint(c), quant_value(k, q, w));
}

static void decode_leaf_impurity(dec *D, sktree *t, uint64_t i, const models *m)
{
    if (m->im == IM_ABS) {
        t->impurity[i] = get_abs(&D->col[COL_I_LEAF], t->weighted[i], m->abs_quantum);
    } else if (m->im == IM_SQ) {
        t->impurity[i] = decode_sq(D, t, i, COL_I_LEAF);
    } else if (m->im == IM_QUANT) {
        m->sq[i] = cursor_varint(&D->col[COL_I_LEAF]);
        t->impurity[i] = resid_decode(cursor_varint(&D->col[COL_I_LEAF]),
                                      quant_impurity(m->sq[i], t->values[i], t->weighted[i], m->quantum));
    } else if (m->im == IM_GINI || m->im == IM_GINI_FRACTIONS) {
        t->impurity[i] = resid_decode(cursor_varint(&D->col[COL_I_LEAF]), node_gini(t, i, m));
    } else if (m->im == IM_MSE && !(m->flags & META_RAWPAR)) {
        uint64_t code = cursor_varint(&D->col[COL_I_LEAF]);
        t->impurity[i] = code ? grid_decode_leaf(t, i, code) : get_f64(&D->col[COL_I_RAW]);
    } else {
        t->impurity[i] = get_f64(&D->col[COL_I_RAW]);
    }
}

static void decode_internal(dec *D, sktree *t, uint64_t i, const models *m)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    const uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
    uint64_t nsum = (uint64_t)t->nsamples[l] + (uint64_t)t->nsamples[r];
    t->nsamples[i] = (int64_t)(nsum + (uint64_t)unzigzag(cursor_varint(&D->col[COL_N_INT])));
    t->weighted[i] = resid_decode(cursor_varint(&D->col[COL_W_INT]), t->weighted[l] + t->weighted[r]);
    bool raw = m->vm == VM_RAW || ((m->flags & META_RAWPAR) && parent_of_leaf(t, i));
    for (uint64_t e = 0; e < per; e++) {
        if (raw) t->values[i * per + e] = get_f64(&D->col[COL_V_INT_RAW]);
        else
            t->values[i * per + e] = resid_decode(cursor_varint(&D->col[COL_V_INT]),
                                                mean_model(m->vm) ? pred_mean(t, i, e) : pred_sum(t, i, e));
    }
    if (m->im == IM_ABS) {
        t->impurity[i] = get_abs(&D->col[COL_I_INT], t->weighted[i], m->abs_quantum);
    } else if (m->im == IM_SQ) {
        t->impurity[i] = decode_sq(D, t, i, COL_I_INT);
    } else if (m->im == IM_QUANT) {
        m->sq[i] = m->sq[l] + m->sq[r];
        t->impurity[i] = resid_decode(cursor_varint(&D->col[COL_I_INT]),
                                      quant_impurity(m->sq[i], t->values[i], t->weighted[i], m->quantum));
    } else if (m->im == IM_GINI || m->im == IM_GINI_FRACTIONS) {
        t->impurity[i] = resid_decode(cursor_varint(&D->col[COL_I_INT]), node_gini(t, i, m));
    } else if (m->im == IM_MSE && !impurity_raw_by_rawpar(t, i, m->flags & META_RAWPAR)) {
        uint64_t code = cursor_varint(&D->col[COL_I_INT]);
        t->impurity[i] = code ? grid_decode_internal(t, i, code) : get_f64(&D->col[COL_I_RAW]);
    } else {
        t->impurity[i] = get_f64(&D->col[COL_I_RAW]);
    }
}

static tp_code corrupt(tp_ctx *ctx, size_t tree, const char *what)
{
    return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "tree %zu of a block: %s", tree, what);
}

static tp_code decode_topology(tp_ctx *ctx, dec *D, sktree *t, const models *m, scratch *s, size_t idx)
{
    const uint64_t n = t->n;
    const uint8_t *bits = cursor_take(&D->col[COL_TOPO], (size_t)((n + 7) / 8));
    if (!bits) return corrupt(ctx, idx, "topology cut short");
    for (uint64_t i = 0; i < n; i++) s->internal[i] = (bits[i / 8] >> (7 - i % 8)) & 1;
    if (m->flags & META_PREORDER) {
        if (!preorder_children(n, s->internal, t->left, t->right, s->stack))
            return corrupt(ctx, idx, "topology is no tree");
        return TP_OK;
    }
    cursor *ch = &D->col[COL_CHILDREN];
    for (uint64_t i = 0; i < n; i++) {
        if (!s->internal[i]) {
            t->left[i] = t->right[i] = -1;
            continue;
        }
        t->left[i] = (int64_t)((uint64_t)unzigzag(cursor_varint(ch)) + i);
        t->right[i] = (int64_t)((uint64_t)unzigzag(cursor_varint(ch)) + i);
    }
    return TP_OK;
}

static tp_code decode_splits(tp_ctx *ctx, dec *D, sktree *t, const models *m, const scratch *s, size_t idx)
{
    const uint64_t n = t->n;
    const forest_dict *d = D->dict;
    for (uint64_t i = 0; i < n; i++) {
        if (!s->internal[i]) {
            t->feature[i] = -2;
            t->threshold[i] = -2.0;
            continue;
        }
        int64_t f = (int64_t)cursor_varint(&D->col[COL_FEATURE]);
        t->feature[i] = f;
        if ((m->flags & META_THR_DICT) && has_thr_table(d, f))
            t->threshold[i] = get_tabled(D, &d->thr[f], d->thr_width, COL_THR_INDEX, COL_THRESHOLD);
        else
            t->threshold[i] = get_f64(&D->col[COL_THRESHOLD]);
    }
    uint64_t nexc = cursor_varint_max(&D->col[COL_EXCEPT], n);
    for (uint64_t e = 0, at = 0; e < nexc; e++) {
        at += cursor_varint(&D->col[COL_EXCEPT]);
        int64_t f = unzigzag(cursor_varint(&D->col[COL_EXCEPT]));
        double th = get_f64(&D->col[COL_EXCEPT]);
        if (at >= n || s->internal[at]) return corrupt(ctx, idx, "bad leaf exception");
        t->feature[at] = f;
        t->threshold[at] = th;
    }
    return TP_OK;
}

/* The nodes of a tree whose header decode_tree has read and checked. */
static tp_code decode_nodes(tp_ctx *ctx, dec *D, sktree *t, const models *mp, int64_t n_features, uint32_t rest,
                            size_t idx)
{
    const models m = *mp;
    const uint64_t n = t->n, per = (uint64_t)t->n_outputs * t->n_classes;
    scratch s;
    if (!scratch_alloc(&s, n)) return ctx_fail(ctx, TP_E_NOMEM, -1, "a tree of %llu nodes", (unsigned long long)n);
    tp_code rc = decode_topology(ctx, D, t, &m, &s, idx);
    if (!rc) rc = decode_splits(ctx, D, t, &m, &s, idx);
    /* The node data decode walks the topology: it must be a tree, with
     * features sklearn can use. */
    char why[160];
    /* a preorder topology is a tree by construction (preorder_children):
     * only its features can be wrong */
    if (!rc && !((m.flags & META_PREORDER) ? tree_features_ok(t, n_features, why, sizeof why)
                                           : tree_validate(t, n_features, why, sizeof why)))
        rc = corrupt(ctx, idx, why);
    if (!rc) {
        bottom_up(t, s.order, s.stack);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t i = s.order[k];
            if (t->left[i] == -1) decode_leaf(D, t, i, &m);
            else decode_internal(D, t, i, &m);
        }
        if (m.vm == VM_FRACTION) {
            for (uint64_t i = 0; i < n; i++)
                for (uint64_t e = 0; e < per; e++) t->values[i * per + e] /= t->weighted[i];
        }
        const uint8_t *r = cursor_take(&D->col[COL_REST], (size_t)(n * rest));
        if (r) memcpy(t->rest, r, (size_t)(n * rest));
        for (uint64_t i = 0; r && rest && (m.flags & META_REST_MISSING) && i < n; i++)
            t->rest[i * rest] ^= missing_go_to_left_pred(t, i);
        if (D->bad_index) rc = corrupt(ctx, idx, "an index points outside its table");
        for (int c = 0; c < COL_COUNT && !rc; c++)
            if (D->col[c].bad) rc = corrupt(ctx, idx, "a column is cut short");
    }
    scratch_free(&s);
    return rc;
}

static tp_code decode_tree(tp_ctx *ctx, dec *D, sktree *t, uint32_t *layout_out, const node_layout *layouts,
                           size_t nlayouts, uint64_t *budget, size_t idx)
{
    cursor *meta = &D->col[COL_META];
    uint64_t n = cursor_varint(meta);
    uint64_t nout = cursor_varint(meta);
    uint64_t ncls = cursor_varint(meta);
    uint64_t lay = cursor_varint(meta);
    int64_t n_features = unzigzag(cursor_varint(meta));
    models m = {0};
    m.flags = cursor_u8(meta);
    m.vm = cursor_u8(meta);
    m.im = cursor_u8(meta);
    if (meta->bad || lay >= nlayouts) return corrupt(ctx, idx, "bad tree header");
    if (m.flags & ~META_KNOWN || m.vm > VM_QUANT || m.im > IM_ABS)
        return corrupt(ctx, idx, "a tree model this treepack does not know (a newer treepack's file, or a damaged one)");
    if (n == 0 || nout == 0 || ncls == 0 || nout > UINT32_MAX || ncls > UINT32_MAX)
        return corrupt(ctx, idx, "bad tree sizes");
    if ((m.im == IM_QUANT && m.vm != VM_QUANT && m.vm != VM_MEAN) ||
        ((m.vm == VM_QUANT || m.im == IM_QUANT || m.im == IM_ABS) && (ncls != 1 || nout != 1)) ||
        (m.im == IM_SQ && ncls != 1))
        return corrupt(ctx, idx, "bad tree header");
    if ((m.flags & META_LEAF_DICT) && (!D->dict || !D->dict->leaf.n))
        return corrupt(ctx, idx, "refers to a leaf table that is not there");
    /* What the tree will occupy in the original, checked against what is
     * left of the original's size before anything is allocated. */
    uint64_t per, vbytes, nbytes, total;
    if (n > UINT64_MAX / 8 || !mul_ok(nout, ncls, &per) || !mul_ok(per, 8 * n, &vbytes) ||
        !mul_ok(n, layouts[lay].itemsize, &nbytes) || !add_ok(vbytes, nbytes, &total) || total > *budget)
        return corrupt(ctx, idx, "the tree is larger than the original file");
    *budget -= total;
    *layout_out = (uint32_t)lay;
    const uint32_t rest = layouts[lay].rest_size;
    /* the units are in the meta column: no more than it holds */
    if (units_model(m.vm) && per > cursor_left(meta) / 8) return corrupt(ctx, idx, "bad tree header");
    if (!tree_alloc(t, n, (uint32_t)nout, (uint32_t)ncls, rest))
        return ctx_fail(ctx, TP_E_NOMEM, -1, "a tree of %llu nodes", (unsigned long long)n);
    if (m.vm == VM_QUANT || m.im == IM_QUANT) {
        m.quantum = get_f64(meta);
        m.sq = m.im == IM_QUANT ? malloc((size_t)n * sizeof *m.sq + 1) : NULL;
        if (m.im == IM_QUANT && !m.sq)
            return ctx_fail(ctx, TP_E_NOMEM, -1, "a tree of %llu nodes", (unsigned long long)n);
    }
    if (m.im == IM_ABS) m.abs_quantum = get_f64(meta); /* after the other, as written */
    if (units_model(m.vm)) {
        m.units = malloc((size_t)per * sizeof *m.units);
        if (!m.units || !models_scratch(&m, t)) {
            models_free(&m);
            return ctx_fail(ctx, TP_E_NOMEM, -1, "a tree of %llu nodes", (unsigned long long)n);
        }
        for (uint64_t e = 0; e < per; e++) m.units[e] = get_f64(meta);
    }
    t->n_features = n_features;
    t->values_big = (m.flags & META_VALUES_BIG) != 0;
    t->values_fortran = (m.flags & META_VALUES_FORTRAN) != 0;
    tp_code rc = decode_nodes(ctx, D, t, &m, n_features, rest, idx);
    models_free(&m);
    return rc;
}

tp_code tree_block_decode(tp_ctx *ctx, const uint8_t *in, size_t len, const node_layout *layouts,
                        size_t nlayouts, const forest_dict *dict, uint64_t *node_budget, tree_block_out *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *unjoined;
    uint64_t frame, k;
    cursor c;
    col_dir dir[COL_COUNT];
    tp_code rc = open_block(ctx, in, len, &c, &unjoined, &frame, &k, dir);
    if (rc) return rc;
    /* every tree takes several meta bytes */
    if (k == 0 || k > dir[COL_META].raw) {
        free(unjoined);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block counts %llu trees", (unsigned long long)k);
    }
    uint8_t *raw[COL_COUNT] = {0};
    dec D;
    memset(&D, 0, sizeof D);
    D.dict = dict;
    for (int i = 0; i < COL_COUNT && !rc; i++) {
        const uint8_t *src = cursor_take(&c, (size_t)dir[i].stored);
        size_t width = column_width(i, dict);
        /* No column is larger than twice the bytes it describes. */
        if (*node_budget < UINT64_MAX / 4 && dir[i].raw > 2 * *node_budget + 4096) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a column declares %llu bytes", (unsigned long long)dir[i].raw);
            break;
        }
        if (dir[i].raw && (i == COL_THR_INDEX || i == COL_V_INDEX) && width == 0) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a column of indices without its table");
            break;
        }
        if (width > 1 && dir[i].raw % width) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a column of fixed-size values has a partial value");
            break;
        }
        raw[i] = malloc(dir[i].raw ? (size_t)dir[i].raw : 1);
        if (!raw[i]) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "a column of %llu bytes", (unsigned long long)dir[i].raw);
            break;
        }
        if (dir[i].codec == CODEC_STORED) memcpy(raw[i], src, (size_t)dir[i].raw);
        else if (dir[i].codec == COLUMN_FILL) memset(raw[i], src[0], (size_t)dir[i].raw);
        else rc = zstd_decompress_exact(ctx, src, (size_t)dir[i].stored, raw[i], (size_t)dir[i].raw);
        if (!rc && width > 1 && dir[i].raw) {
            uint8_t *joined = malloc((size_t)dir[i].raw);
            if (!joined) {
                rc = ctx_fail(ctx, TP_E_NOMEM, -1, "a column of %llu bytes", (unsigned long long)dir[i].raw);
                break;
            }
            planes_join(raw[i], joined, (size_t)dir[i].raw / width, width);
            free(raw[i]);
            raw[i] = joined;
        }
        D.col[i] = cursor_make(raw[i], (size_t)dir[i].raw);
    }
    if (!rc) {
        out->trees = calloc((size_t)k, sizeof *out->trees);
        out->layout = calloc((size_t)k, sizeof *out->layout);
        if (!out->trees || !out->layout) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "tree list");
    }
    for (uint64_t i = 0; i < k && !rc; i++) {
        rc = decode_tree(ctx, &D, &out->trees[i], &out->layout[i], layouts, nlayouts, node_budget, (size_t)i);
        out->k = (size_t)i + 1;
    }
    if (!rc)
        for (int i = 0; i < COL_COUNT; i++)
            if (cursor_left(&D.col[i])) {
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block has %zu bytes left over in a column",
                             cursor_left(&D.col[i]));
                break;
            }
    for (int i = 0; i < COL_COUNT; i++) free(raw[i]);
    free(unjoined);
    if (rc) tree_block_out_free(out);
    return rc;
}
