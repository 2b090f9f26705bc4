/*
 * records_cv.h - the cv_results_ model of SEC_RECORDS blocks: a search's
 * mean and standard deviation of each score, and its rank, computed back
 * from the per-split scores the way scikit-learn and numpy compute them.
 *
 * scikit-learn (model_selection/_search.py, _store) reshapes a score's
 * values to (candidates, splits) and stores
 *   mean = np.average(a, axis=1)                        (float64)
 *   std  = np.sqrt(np.average((a - mean[:, None])**2, axis=1))
 *   rank = rankdata(-mean, method="min")                (int32; NaN means
 *          ranked below every other)
 * numpy sums a row of the C-ordered array with its pairwise summation
 * (numpy/core/src/umath/loops_utils.h: fewer than 8 values in order from
 * 0.0; up to 128 in eight interleaved sums, then the rest; more: split in
 * halves at a multiple of 8) and divides by the count.  Older searches
 * that weighted folds by their size (iid=True, scikit-learn < 0.24) give
 * other means: their residuals are simply not zero.
 *
 * In a block (after the varint 0 that announces a model):
 *
 *   varint kind          2
 *   u8 order             how a row is summed: 0 numpy's pairwise
 *                        summation, 1 left to right from 0.0
 *   varint D             derived arrays, then D times:
 *     varint j           the array's index within the block (increasing)
 *     u8 what            1 mean, 2 standard deviation (blocks of one
 *                        float64 column), 3 rank (one integer column)
 *     mean, std:         varint S (1 to 4096), S x varint: the block
 *                        indices of the splits' arrays, each before j
 *     rank:              varint: the index of the mean's array (in
 *                        records order), in an earlier block
 *
 * Every array named has as many values as array j.  The column then holds
 * array j's bits XOR its prediction (floats) or its value minus the
 * prediction (ranks, wrapping at the column's width); a decoder restores
 * the arrays in block order, so the splits are whole when a mean or a
 * deviation needs them.  The mean's block is decoded on its own for a
 * rank, and its model refers to nothing outside it.
 */
#ifndef CODEC_RECORDS_CV_H
#define CODEC_RECORDS_CV_H

#include "base/cursor.h"
#include "sklearn/records.h"

/* The arrays a model refers to, looked up by record index: the bytes and
 * the layout of its block; valid until the next call. */
typedef struct rec_refs {
    tp_code (*get)(void *op, tp_ctx *ctx, uint64_t index, const uint8_t **p, size_t *len, const rec_layout **lay);
    void *op;
} rec_refs;

enum cv_what { CV_WHAT_MEAN = 1, CV_WHAT_STD = 2, CV_WHAT_RANK = 3 };

typedef struct cv_derived {
    uint64_t j;               /* index within the block */
    uint8_t what;             /* enum cv_what */
    uint32_t nsrc;            /* mean, std: splits; rank: 1 */
    uint64_t *src;            /* block indices (mean, std), record index (rank) */
} cv_derived;

typedef struct cv_model {
    uint8_t order;            /* 0 pairwise, 1 left to right */
    uint64_t n;
    cv_derived *d;
} cv_model;

void cv_model_free(cv_model *m);

/* Compress side: the derived arrays of the block [first, first + count)
 * of recs (records order, one layout) whose sources the model can use;
 * false when there are none. */
bool cv_model_find(const found_records *recs, size_t first, size_t count, cv_model *m);

void cv_model_write(const cv_model *m, bytebuf *out);
/* After the kind: false if malformed (indices out of range or out of
 * order).  The block's layout comes after the model: */
bool cv_model_read(cursor *c, uint64_t first, uint64_t count, cv_model *m);
/* does the model apply to a block of this layout? */
bool cv_model_fits(const cv_model *m, const rec_layout *lay);

/* The block's single column, arrays one after the other (counts[a]
 * values each, a < narrays): encode (decode false) writes the residuals
 * of `all` into res; decode writes the arrays into `all` from the
 * residuals in res.  refs finds a rank's mean.  A count that does not
 * match, or a reference that is not there, is corrupt. */
tp_code cv_model_apply(tp_ctx *ctx, const cv_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                       const rec_layout *lay, const rec_refs *refs, uint8_t *res, bool decode);

/* Compress side: the summation order that predicts more of the block's
 * means and deviations bit for bit (goes to m->order); false if neither
 * predicts any value of any derived array. */
bool cv_model_tune(tp_ctx *ctx, cv_model *m, uint8_t *all, const uint64_t *counts, uint64_t narrays,
                   const rec_layout *lay, const rec_refs *refs);

#endif
