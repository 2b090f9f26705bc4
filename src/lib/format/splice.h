/*
 * splice.h - the table that says where each payload goes back into the
 * skeleton.
 *
 * The skeleton is the original with every recognised payload cut out.
 * Splice k says: copy `gap` skeleton bytes, then write payload `which` of
 * tree `tree`, which takes `stream_len` bytes in the original, encoded as
 * `payload` (raw bytes, or protocol 2's latin-1 text as UTF-8).
 */
#ifndef TP_SPLICE_H
#define TP_SPLICE_H

#include "base/buf.h"
#include "base/common.h"

/* SPLICE_RECORDS: `tree` is then the index of a structured array (records.h). */
/* SPLICE_VOCAB: `tree` is the index of a vocabulary (vocab.h). */
enum tp_splice_which { SPLICE_NODES = 0, SPLICE_VALUES = 1, SPLICE_RECORDS = 2, SPLICE_VOCAB = 3 };

typedef struct tp_splice {
    uint64_t gap;
    uint64_t tree;
    uint8_t which;
    uint8_t payload;     /* npy_payload */
    uint64_t stream_len;
} tp_splice;

void tp_splices_write(const tp_splice *s, size_t n, tp_buf *out);
/* Parse a table; checks that gaps and lengths stay within total_len (the
 * original's size) and that tree indices are below ntrees (record indices
 * below nrecords, vocabulary indices below nvocabs). */
tp_code tp_splices_read(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t total_len, uint64_t ntrees,
                        uint64_t nrecords, uint64_t nvocabs, tp_splice **out, size_t *n);

#endif
