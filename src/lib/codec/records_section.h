/*
 * records_section.h - structured arrays (sklearn/records.h) stored column
 * by column in SEC_RECORDS sections.
 *
 * Every column is transformed (kept, split into byte planes, delta-coded
 * then split, or for floats delta-coded in float order then split) and
 * compressed with zstd, whichever transform gives the fewest bytes; LZMA2
 * is tried too within a budget.
 *
 * Arrays are grouped in blocks that share one column layout; a block is
 * one SEC_RECORDS section:
 *
 *   varint first            index of the block's first array
 *   varint count            arrays in the block
 *   varint stream bytes     what the arrays take in the original (text forms
 *                           of protocols 0-2 take more than their bytes)
 *   [model]                 only when the next varint is 0 (see below)
 *   layout                  varint itemsize, varint ncols, then per column:
 *                           varint offset, varint width, u8 type (rec_type)
 *   count x varint          records in each array
 *   ncols x column          u8 transform (rec_transform in bits 0-5; bit 6
 *                           set when the column holds the model's residuals
 *                           instead of its values; bit 7 set when the
 *                           column is raw LZMA2, base/lzma2.h, instead of
 *                           zstd), varint stored length, then that many
 *                           bytes of one zstd frame or LZMA2 stream (empty
 *                           when the column has no bytes)
 *
 * A column holds the column's bytes of every array of the block, one
 * array after the other; the transform applies to them (or to the
 * residuals, read as little-endian integers of the column's width).
 *
 * The model (HistGradientBoosting predictor nodes, REC_MODEL_HGB):
 *
 *   varint 0                (an itemsize of 0 cannot be)
 *   varint kind             1
 *   varint R, R x (u8 role, varint column)
 *                           the columns that are the fields the model
 *                           knows (role: 0 count, 1 feature_idx,
 *                           2 num_threshold, 3 left, 4 right, 5 depth,
 *                           6 is_leaf, 7 bin_threshold, 8 is_categorical,
 *                           9 value, 10 gain, 11 missing_go_to_left);
 *                           little-endian integers,
 *                           num_threshold a little-endian float64, value
 *                           and gain little-endian floats
 *   varint F, F x varint    per feature: 1 + the index of the array of its
 *                           bin thresholds (a float64 array of an earlier
 *                           block without a model), 0 for none
 *   u8 predict              bit 0: internal nodes' values predicted, bit 1:
 *                           their gains (both need value, count, left,
 *                           right and is_leaf, value and gain float64);
 *                           4 alone: both, from hessian sums solved from
 *                           the nodes (log loss; see below)
 *   [f64 shrink, f64 l2]    when predict is not 0
 *
 * Residuals, per array, nodes numbered from 0 within it, is_leaf non-zero
 * for a leaf: left, right and depth are the value minus (wrapping) the
 * one is_leaf gives for nodes in preorder (left = i + 1 for an internal
 * node, right = the node after its left subtree, 0 for leaves, depth
 * from the root); count is the value minus the sum of its children's
 * counts for an internal node whose children come after it, the value
 * itself otherwise; num_threshold is its bits XOR the bits of
 * thresholds[feature_idx][bin_threshold] (+inf for bin_threshold one past
 * the last; 0 for leaves, categorical splits and features without
 * thresholds); missing_go_to_left is the value minus (wrapping) 1 for an
 * internal node whose left child has the greater count, else 0.  value and gain: those of the internal nodes of the block
 * in order, then those of the leaves; with a predict bit the internal
 * ones are XOR the prediction from the children l, r (leaf values divided
 * by shrink, c = count + l2): value (v_l c_l + v_r c_r) / c, gain
 * v_l^2 c_l + v_r^2 c_r - v^2 c (0 where a child does not come after its
 * node).  With predict 4 (solve) a node's value is -G/h and its gain
 * v_l^2 h_l + v_r^2 h_r - v^2 h, h = H + l2, G and H its children's sums
 * (without l2 terms at all when l2 is 0, as before it was used): from the
 * last node back, a child's H is the sum of its children's when it is
 * internal, else it is solved from the node's value and gain; value and
 * gain are XOR that prediction where the sums are known (the exact order
 * of operations is model_apply_solve's in records_section.c).
 * A decoder restores the columns without residuals first, then
 * left, right, depth, count (from the last node back), missing_go_to_left,
 * num_threshold,
 * value (from the last node back), gain (idem).
 */
#ifndef CODEC_RECORDS_SECTION_H
#define CODEC_RECORDS_SECTION_H

#include "format/container.h"
#include "sklearn/records.h"

enum rec_transform { REC_T_RAW = 0, REC_T_PLANES, REC_T_DELTA, REC_T_FDELTA, REC_T_MAX = REC_T_FDELTA };
enum rec_model_kind { REC_MODEL_NONE = 0, REC_MODEL_HGB = 1, REC_MODEL_CV = 2 };

/* ---- compress side ---------------------------------------------------- */

/* Encode the arrays [first, first+count) of recs (all with one layout)
 * into one block appended to out, then decode it again and compare with
 * the input: a mismatch is an internal error, never a wrong file.
 * `in` is the stream the arrays' offsets refer to.  Columns try LZMA2
 * too while *lzma_budget (base/lzma2.h; may be NULL) lasts. */
tp_code records_encode(tp_ctx *ctx, const uint8_t *in, const found_records *recs, size_t first, size_t count,
                          int level, uint64_t *lzma_budget, bytebuf *out);

/* Cut recs (in splice order) into blocks and write each as a SEC_RECORDS
 * section; adds to *nsec, and the record bytes and section bytes to *raw
 * and *stored. */
tp_code records_write(tp_ctx *ctx, tpk_writer *w, const uint8_t *in, const found_records *recs, size_t n,
                         int level, uint64_t *lzma_budget, uint64_t *nsec, uint64_t *raw, uint64_t *stored);

/* ---- expand side ------------------------------------------------------ */

typedef struct rec_block {
    const uint8_t *data;      /* the section payload */
    size_t len;
    uint64_t first, count;
} rec_block;

typedef struct records_set {
    rec_block *blocks;
    size_t nblocks;
    uint64_t count;           /* arrays in all blocks */
    /* the decoded block in use */
    size_t cur;               /* SIZE_MAX: none */
    bytebuf bytes;             /* its arrays, one after the other */
    uint64_t *starts;         /* count + 1 offsets into bytes */
    /* the block of the arrays a model refers to, decoded on its own */
    bool ref_ok;
    size_t ref_cur;
    bytebuf ref_bytes;
    uint64_t *ref_starts;
    rec_layout ref_lay;
    uint64_t ref_budget;
} records_set;

/* Index the SEC_RECORDS sections of a parsed container. */
tp_code records_load(tp_ctx *ctx, const uint8_t *file, const tpk_section *secs, size_t nsecs, records_set *rs);
void records_set_free(records_set *rs);

/* The bytes of array `index`, decoding its block if needed; *budget is
 * the number of bytes decoding may still produce (the stream's size). */
tp_code records_bytes(tp_ctx *ctx, records_set *rs, uint64_t index, uint64_t *budget, const uint8_t **p,
                         size_t *len);

/* Stored and raw sizes of the blocks, for reports. */
void records_sizes(const records_set *rs, uint64_t *raw, uint64_t *stored);

#endif
