/*
 * tree_model.h - what the codec predicts about a node, and how it stores
 * what the prediction misses.
 *
 * Predictions mirror sklearn's own arithmetic (sklearn/tree/_criterion.pyx)
 * so that they are usually exact.  They use only +, -, *, / and rint on
 * doubles, which IEEE 754 rounds the same everywhere (the library is built
 * with -ffp-contract=off), and a NaN prediction is replaced by 0, because
 * the bits of a NaN that arithmetic produces differ between CPUs.  So a
 * file written on one machine decodes identically on any other.
 */
#ifndef CODEC_TREE_MODEL_H
#define CODEC_TREE_MODEL_H

#include <math.h>

#include "base/buf.h"
#include "sklearn/tree.h"

/* ---- residuals on doubles ------------------------------------------------ */

/* Map a double's bits to an integer that orders like the doubles: the
 * difference of two mapped values is their distance in ulps.  A bijection
 * on all 2^64 patterns, so NaN payloads and -0.0 survive. */
static inline uint64_t f64_to_ordered(double d)
{
    uint64_t u = f64_to_bits(d);
    return (u >> 63) ? ~u : (u | (1ull << 63));
}
static inline double ordered_to_f64(uint64_t o) { return bits_to_f64((o >> 63) ? (o & ~(1ull << 63)) : ~o); }

static inline double pred_canon(double p) { return p != p ? 0.0 : p; }

/* zigzag of the ulp distance from the prediction: 0 when exact. */
static inline uint64_t resid_encode(double actual, double pred)
{
    return zigzag((int64_t)(f64_to_ordered(actual) - f64_to_ordered(pred_canon(pred))));
}
static inline double resid_decode(uint64_t r, double pred)
{
    return ordered_to_f64(f64_to_ordered(pred_canon(pred)) + (uint64_t)unzigzag(r));
}

static inline unsigned varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

/* A whole number a varint carries exactly: not -0.0, whose sign an
 * integer would lose. */
static inline bool is_count(double x)
{
    return x >= 0.0 && x < 9007199254740992.0 && f64_to_bits(x) == f64_to_bits((double)(int64_t)x);
}

/* ---- predictions ---------------------------------------------------------- */

static inline const double *node_values(const sktree *t, uint64_t i)
{
    return t->values + i * t->n_outputs * t->n_classes;
}

/* Gini.node_impurity / children_impurity: exact for integer weights. */
double pred_gini(const sktree *t, uint64_t i);
/* The same when the values are class fractions (scikit-learn >= 1.4) whose
 * counts are not whole numbers: the counts are fraction * weight. */
double pred_gini_of_fractions(const sktree *t, uint64_t i);

/* Regression value of an internal node: the children's weighted mean. */
static inline double pred_mean(const sktree *t, uint64_t i, uint64_t e)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    const uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
    return (t->weighted[l] * t->values[l * per + e] + t->weighted[r] * t->values[r * per + e]) / t->weighted[i];
}

/* Class counts of an internal node: the children's sum. */
static inline double pred_sum(const sktree *t, uint64_t i, uint64_t e)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    return t->values[(uint64_t)t->left[i] * per + e] + t->values[(uint64_t)t->right[i] * per + e];
}

/* ---- MSE impurity on its grid ---------------------------------------------
 * sklearn's squared-error impurity is sq_sum/w - mean^2; it cannot be
 * recomputed without the data, but it is always a whole multiple of
 * ulp(v*v) (leaves) or of u = max(ulp(v*v), ulp(P)) (internal nodes, P
 * the law-of-total-variance prediction).  The codec stores that multiple
 * (leaves) or its distance from rint(P/u) (internal nodes): small ints. */

/* 2^(E-1075) for the biased exponent E of |x|: the ulp of a normal x;
 * 0 where that would not be a normal number. */
static inline double gridunit(double x)
{
    uint64_t e = (f64_to_bits(x) >> 52) & 0x7ff;
    if (e <= 52 || e == 0x7ff) return 0.0;
    return bits_to_f64((e - 52) << 52);
}

double pred_mse_internal(const sktree *t, uint64_t i);

/* Encode impurity I on the grid: returns the varint payload (zigzag+1), or
 * 0 when I is not on the grid (the caller then stores I raw). */
uint64_t grid_encode_leaf(const sktree *t, uint64_t i, double imp);
double grid_decode_leaf(const sktree *t, uint64_t i, uint64_t code);
uint64_t grid_encode_internal(const sktree *t, uint64_t i, double imp);
double grid_decode_internal(const sktree *t, uint64_t i, uint64_t code);

/* ---- multiples: class units, quantised targets, missing_go_to_left ------
 * Class weights make every count a whole multiple of a unit per class;
 * regression on whole or decimal targets makes every sum a multiple of a
 * quantum q and every sum of squares one of q * q.  The codec stores the
 * multiples (tree_codec.c says which model uses which). */

/* scikit-learn >= 1.3 writes missing_go_to_left (one byte, the first of a
 * node's rest bytes: its fields end with it, then padding) and, where no
 * sample of the split's feature was missing in training, sends missing
 * values to the child with more samples: the byte is n_left > n_right for
 * an internal node and 0 for a leaf, which the codec predicts. */
static inline uint8_t missing_go_to_left_pred(const sktree *t, uint64_t i)
{
    return t->left[i] != -1 && t->nsamples[t->left[i]] > t->nsamples[t->right[i]];
}

/* The whole multiple of unit nearest x; 0 where there is none (the
 * residual then carries x). */
static inline uint64_t unit_multiple(double x, double unit)
{
    double q = x / unit;
    return q >= 0.0 && q < 9007199254740992.0 ? (uint64_t)rint(q) : 0;
}

/* A leaf's weight predicted from its class sums (values, or multiples
 * times units): the sum of the first output's, in class order. */
static inline double leaf_weight_of_sums(const double *v, uint32_t n_classes)
{
    double s = 0.0;
    for (uint32_t c = 0; c < n_classes; c++) s += v[c];
    return s;
}

/* The whole number nearest x / q, 0 where that is no int64 a double
 * carries exactly (the residual then carries the value). */
static inline int64_t quant_multiple(double x, double q)
{
    double m = rint(x / q);
    return m > -9007199254740992.0 && m < 9007199254740992.0 ? (int64_t)m : 0;
}

static inline double quant_value(int64_t k, double q, double w) { return ((double)k * q) / w; }

/* A leaf's multiple of q * q in its sum of squares (sq = (imp + v v) w). */
static inline uint64_t quant_squares(double imp, double v, double w, double q)
{
    double m = rint((imp + v * v) * w / (q * q));
    return m >= 0.0 && m < 9223372036854775808.0 ? (uint64_t)m : 0;
}

/* sklearn's MSE impurity from the sum of squares K q q. */
static inline double quant_impurity(uint64_t k2, double v, double w, double q)
{
    return ((double)k2 * (q * q)) / w - v * v;
}

/* ---- squared error of several outputs from sums of squares -------------
 * sklearn's MSE impurity of a node is (SQ / w - sum_k v_k^2) / outputs, SQ
 * the sum of w_i y_ik^2 over its samples and outputs.  A node's SQ comes
 * back from its impurity and values, and a parent's is its children's sum;
 * a leaf of one sample has SQ = sum_k (w v_k) v_k. */
static inline double sq_impurity(double sq, const double *v, uint32_t n_outputs, double w)
{
    double imp = sq / w;
    for (uint32_t k = 0; k < n_outputs; k++) imp -= v[k] * v[k];
    return imp / (double)n_outputs;
}

static inline double sq_of_node(const sktree *t, uint64_t i)
{
    const double *v = node_values(t, i);
    double s = t->impurity[i] * (double)t->n_outputs;
    for (uint32_t k = 0; k < t->n_outputs; k++) s += v[k] * v[k];
    return s * t->weighted[i];
}

/* The prediction of a node's impurity: from its children's sums of
 * squares, or for a leaf of one sample from its values; NaN where there
 * is none (a leaf of several samples). */
static inline double pred_sq_impurity(const sktree *t, uint64_t i)
{
    const double *v = node_values(t, i);
    const double w = t->weighted[i];
    double sq;
    if (t->left[i] != -1) {
        sq = sq_of_node(t, (uint64_t)t->left[i]) + sq_of_node(t, (uint64_t)t->right[i]);
    } else if (t->nsamples[i] == 1) {
        sq = 0.0;
        for (uint32_t k = 0; k < t->n_outputs; k++) sq += (w * v[k]) * v[k];
    } else {
        return NAN;
    }
    return sq_impurity(sq, v, t->n_outputs, w);
}

#endif
