/*
 * records.h - structured numpy arrays stored column by column.
 *
 * A structured array is a run of fixed-size records; each field of the
 * dtype is a column.  Written as they are, the columns interleave and a
 * general-purpose compressor sees noise.  Here every field becomes its
 * own column, each column is transformed (kept, split into byte planes,
 * or delta-coded then split) and compressed with zstd, whichever
 * transform gives the fewest bytes.  Bytes no field covers (padding,
 * overlapping fields) are columns of plain bytes.  Nothing depends on
 * the field names: any structured array can use it.  The locator feeds it
 * the node arrays of HistGradientBoosting's TreePredictor objects.
 *
 * Arrays are grouped in blocks that share one column layout; a block is
 * one SEC_RECORDS section:
 *
 *   varint first            index of the block's first array
 *   varint count            arrays in the block
 *   varint stream bytes     what the arrays take in the original (text forms
 *                           of protocols 0-2 take more than their bytes)
 *   layout                  varint itemsize, varint ncols, then per column:
 *                           varint offset, varint width, u8 type (rec_type)
 *   count x varint          records in each array
 *   ncols x column          u8 transform (rec_transform), varint stored
 *                           length, then that many bytes of one zstd frame
 *                           (empty when the column has no bytes)
 *
 * A column holds the column's bytes of every array of the block, one
 * array after the other.
 */
#ifndef TP_RECORDS_H
#define TP_RECORDS_H

#include "base/buf.h"
#include "format/container.h"
#include "numpy/npy.h"

#define REC_MAX_COLS (2 * NPY_MAX_FIELDS + 1)

enum rec_type { REC_BYTES = 0, REC_INT_LE, REC_INT_BE, REC_FLOAT_LE, REC_FLOAT_BE, REC_TYPE_MAX = REC_FLOAT_BE };
enum rec_transform { REC_T_RAW = 0, REC_T_PLANES, REC_T_DELTA, REC_T_MAX = REC_T_DELTA };

typedef struct rec_layout {
    uint32_t itemsize;
    uint32_t ncols;
    uint32_t off[REC_MAX_COLS];
    uint32_t width[REC_MAX_COLS];
    uint8_t type[REC_MAX_COLS];
} rec_layout;

/* A structured array found in the stream. */
typedef struct tp_found_records {
    uint64_t offset;          /* of the object that holds it */
    npy_array arr;            /* 1-D, structured, any payload form */
    rec_layout layout;
    bool plain;               /* a plain numeric array as one column (arr
                                 flattened: shape[0] = its element count),
                                 not a predictor's nodes */
} tp_found_records;

/* Columns of a structured dtype; false if it is not structured or its
 * item size is out of range. */
bool rec_layout_from_dtype(const npy_dtype *dt, rec_layout *lay);

/* Is this object a HistGradientBoosting TreePredictor whose `nodes` this
 * module can store?  1 yes (r filled), 0 not a predictor, -1 a predictor
 * left as is (*why says why). */
int tp_records_examine(const pv_vm *vm, const pv_obj *o, tp_found_records *r, const char **why);

struct tp_scan;
/* After the scan: sort the scan's records by payload offset and drop any
 * whose payload overlaps a tree's or an earlier record's (a crafted pickle
 * can hand one array to several objects through the memo); those count
 * as predictors left as they were. */
tp_code tp_records_settle(tp_ctx *ctx, struct tp_scan *scan);

/* ---- compress side ---------------------------------------------------- */

/* Encode the arrays [first, first+count) of recs (all with one layout)
 * into one block appended to out, then decode it again and compare with
 * the input: a mismatch is an internal error, never a wrong file.
 * `in` is the stream the arrays' offsets refer to.  Columns try LZMA2
 * too while *lzma_budget (base/lzma2.h; may be NULL) lasts. */
tp_code tp_records_encode(tp_ctx *ctx, const uint8_t *in, const tp_found_records *recs, size_t first, size_t count,
                          int level, uint64_t *lzma_budget, tp_buf *out);

/* Cut recs (in splice order) into blocks and write each as a SEC_RECORDS
 * section; adds to *nsec, and the record bytes and section bytes to *raw
 * and *stored. */
tp_code tp_records_write(tp_ctx *ctx, tpk_writer *w, const uint8_t *in, const tp_found_records *recs, size_t n,
                         int level, uint64_t *lzma_budget, uint64_t *nsec, uint64_t *raw, uint64_t *stored);

/* ---- expand side ------------------------------------------------------ */

typedef struct rec_block {
    const uint8_t *data;      /* the section payload */
    size_t len;
    uint64_t first, count;
} rec_block;

typedef struct tp_records_set {
    rec_block *blocks;
    size_t nblocks;
    uint64_t count;           /* arrays in all blocks */
    /* the decoded block in use */
    size_t cur;               /* SIZE_MAX: none */
    tp_buf bytes;             /* its arrays, one after the other */
    uint64_t *starts;         /* count + 1 offsets into bytes */
} tp_records_set;

/* Index the SEC_RECORDS sections of a parsed container. */
tp_code tp_records_load(tp_ctx *ctx, const uint8_t *file, const tpk_section *secs, size_t nsecs, tp_records_set *rs);
void tp_records_set_free(tp_records_set *rs);

/* The bytes of array `index`, decoding its block if needed; *budget is
 * the number of bytes decoding may still produce (the stream's size). */
tp_code tp_records_bytes(tp_ctx *ctx, tp_records_set *rs, uint64_t index, uint64_t *budget, const uint8_t **p,
                         size_t *len);

/* Stored and raw sizes of the blocks, for reports. */
void tp_records_sizes(const tp_records_set *rs, uint64_t *raw, uint64_t *stored);

#endif
