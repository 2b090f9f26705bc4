/*
 * tree_model.c - predictions of node fields from sklearn's formulas.
 */
#include "codec/tree_model.h"

/* sklearn's Gini of a node: per output 1 - sum(count^2) / weight^2, with
 * the weighted class counts.  scale is 1 when the values are those counts
 * (scikit-learn < 1.4) and the node's weight when they are fractions
 * count / weight (>= 1.4): fraction * weight gives the count back, to
 * within an ulp or so, when the counts are not whole numbers (class or
 * sample weights) and the fractions model of the values cannot apply. */
static double gini(const sktree *t, uint64_t i, bool fractions)
{
    const double *v = node_values(t, i);
    const double w = t->weighted[i];
    const double scale = fractions ? w : 1.0;
    double g = 0.0;
    for (uint32_t o = 0; o < t->n_outputs; o++) {
        double sq = 0.0;
        for (uint32_t c = 0; c < t->n_classes; c++) {
            double x = v[o * t->n_classes + c] * scale;
            sq += x * x;
        }
        g += 1.0 - sq / (w * w);
    }
    return g / (double)t->n_outputs;
}

double pred_gini(const sktree *t, uint64_t i) { return gini(t, i, false); }

double pred_gini_of_fractions(const sktree *t, uint64_t i) { return pred_canon(gini(t, i, true)); }

/* Law of total variance: the children's impurities, weighted, plus the
 * spread of their means.  Only the first output is used: with several
 * outputs the grid rarely holds and the codec falls back to raw. */
double pred_mse_internal(const sktree *t, uint64_t i)
{
    const uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
    const double wl = t->weighted[l], wr = t->weighted[r], w = t->weighted[i];
    const double vl = node_values(t, l)[0], vr = node_values(t, r)[0];
    const double d = vl - vr;
    return pred_canon((wl * t->impurity[l] + wr * t->impurity[r]) / w + (wl * wr) / (w * w) * (d * d));
}

/* Multiples are whole numbers of at most 53 bits (so that they and their
 * differences are exact doubles); the stored residual k stays small. */
#define GRID_MAX_MULTIPLE 9007199254740992.0 /* 2^53 */
#define GRID_MAX_RESIDUAL 34359738368.0      /* 2^35 */

static uint64_t grid_code(double imp, double u, double base)
{
    if (u == 0.0) return 0;
    double q = imp / u;
    if (!(q == q) || q != rint(q) || fabs(q) > GRID_MAX_MULTIPLE || fabs(q - base) >= GRID_MAX_RESIDUAL) return 0;
    double k = q - base;
    /* the decoder computes (k + base) * u: it must give these very bits */
    if (f64_to_bits((k + base) * u) != f64_to_bits(imp)) return 0;
    return zigzag((int64_t)k) + 1;
}

uint64_t grid_encode_leaf(const sktree *t, uint64_t i, double imp)
{
    double v = node_values(t, i)[0];
    return grid_code(imp, gridunit(v * v), 0.0);
}

double grid_decode_leaf(const sktree *t, uint64_t i, uint64_t code)
{
    double v = node_values(t, i)[0];
    return (double)unzigzag(code - 1) * gridunit(v * v);
}

static double internal_unit(const sktree *t, uint64_t i, double p)
{
    double v = node_values(t, i)[0];
    double a = gridunit(v * v), b = gridunit(p);
    return a > b ? a : b;
}

uint64_t grid_encode_internal(const sktree *t, uint64_t i, double imp)
{
    double p = pred_mse_internal(t, i);
    double u = internal_unit(t, i, p);
    if (u == 0.0) return 0;
    double base = rint(p / u);
    if (!(base == base) || fabs(base) > GRID_MAX_MULTIPLE) return 0;
    return grid_code(imp, u, base);
}

double grid_decode_internal(const sktree *t, uint64_t i, uint64_t code)
{
    double p = pred_mse_internal(t, i);
    double u = internal_unit(t, i, p);
    double base = rint(p / u);
    return ((double)unzigzag(code - 1) + base) * u;
}
