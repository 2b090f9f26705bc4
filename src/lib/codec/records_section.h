/*
 * records_section.h - structured arrays (sklearn/records.h) stored column
 * by column in SEC_RECORDS sections.
 *
 * Every column is transformed (kept, split into byte planes, or
 * delta-coded then split) and compressed with zstd, whichever transform
 * gives the fewest bytes; LZMA2 is tried too within a budget.
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
 *   ncols x column          u8 transform (rec_transform; bit 7 set when the
 *                           column is raw LZMA2, base/lzma2.h, instead of
 *                           zstd), varint stored length, then that many
 *                           bytes of one zstd frame or LZMA2 stream (empty
 *                           when the column has no bytes)
 *
 * A column holds the column's bytes of every array of the block, one
 * array after the other.
 */
#ifndef TP_RECORDS_SECTION_H
#define TP_RECORDS_SECTION_H

#include "format/container.h"
#include "sklearn/records.h"

enum rec_transform { REC_T_RAW = 0, REC_T_PLANES, REC_T_DELTA, REC_T_FDELTA, REC_T_MAX = REC_T_FDELTA };
enum rec_model_kind { REC_MODEL_NONE = 0, REC_MODEL_HGB = 1 };

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
    /* the block of the arrays a model refers to, decoded on its own */
    bool ref_ok;
    size_t ref_cur;
    tp_buf ref_bytes;
    uint64_t *ref_starts;
    rec_layout ref_lay;
    uint64_t ref_budget;
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
