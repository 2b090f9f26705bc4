/*
 * splice.h - the table that says where each payload goes back into the
 * skeleton.
 *
 * The skeleton is the original with every recognised payload cut out.
 * Splice k says: copy `gap` skeleton bytes, then write payload `which` of
 * tree `tree`, which takes `stream_len` bytes in the original, encoded as
 * `payload` (raw bytes, or protocol 2's latin-1 text as UTF-8).
 */
#ifndef FORMAT_SPLICE_H
#define FORMAT_SPLICE_H

#include "base/buf.h"
#include "base/common.h"

/* SPLICE_RECORDS: `tree` is then the index of a structured array (records.h). */
/* SPLICE_VOCAB: `tree` is the index of a vocabulary (vocab.h). */
enum splice_which { SPLICE_NODES = 0, SPLICE_VALUES = 1, SPLICE_RECORDS = 2, SPLICE_VOCAB = 3 };

typedef struct splice_entry {
    uint64_t gap;
    uint64_t tree;
    uint8_t which;
    uint8_t payload;     /* npy_payload */
    uint64_t stream_len;
} splice_entry;

void splices_write(const splice_entry *s, size_t n, bytebuf *out);
/* Parse a table; checks that gaps and lengths stay within total_len (the
 * original's size) and that tree indices are below ntrees (record indices
 * below nrecords, vocabulary indices below nvocabs). */
tp_code splices_read(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t total_len, uint64_t ntrees,
                        uint64_t nrecords, uint64_t nvocabs, splice_entry **out, size_t *n);

#endif
