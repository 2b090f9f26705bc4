/*
 * splice.h - the table that says where each payload goes back into the
 * skeleton.
 *
 * The skeleton is the original with every recognised payload cut out.
 * Splice k says: copy `gap` skeleton bytes, then write payload `which` of
 * tree `tree`, which takes `stream_len` bytes in the original, encoded as
 * `payload` (raw bytes, or protocol 2's latin-1 text as UTF-8), or the
 * memo index after a PUT opcode (SPLICE_MEMO).
 */
#ifndef FORMAT_SPLICE_H
#define FORMAT_SPLICE_H

#include "base/buf.h"
#include "base/common.h"
#include "pickle/opcodes.h"

/* SPLICE_RECORDS: `tree` is then the index of a structured array (records.h). */
/* SPLICE_VOCAB: `tree` is the index of a vocabulary (vocab.h). */
/* SPLICE_MEMO: the argument of a PUT, BINPUT or LONG_BINPUT opcode (the
 * opcode byte itself stays in the skeleton): `payload` is the opcode,
 * `tree` the memo index.  A pickler numbers its memo 0, 1, 2 ... and
 * protocols 0-3 write every number (as text after PUT, in four bytes
 * after LONG_BINPUT past 255), which no byte compressor predicts.  These
 * are not in the splice table but in a table of their own (SEC_MEMO),
 * column by column: where each goes among the skeleton's bytes, the
 * opcodes, and each index as its distance from one more than the index
 * before, almost always 0. */
enum splice_which { SPLICE_NODES = 0, SPLICE_VALUES = 1, SPLICE_RECORDS = 2, SPLICE_VOCAB = 3, SPLICE_MEMO = 4 };

/* The longest argument: 20 digits and a newline. */
#define SPLICE_MEMO_ARG_MAX 21
/* The argument that `op` (OP_PUT, OP_BINPUT or OP_LONG_BINPUT) is given
 * for memo index idx by CPython's pickler (PUT: the decimal digits, no
 * sign or leading zero, and a newline), into out; its length, or 0 when
 * op is none of the three or idx does not fit its argument. */
size_t splice_memo_arg(uint8_t op, uint64_t idx, uint8_t out[SPLICE_MEMO_ARG_MAX]);

typedef struct splice_entry {
    uint64_t gap;
    uint64_t tree;
    uint8_t which;
    uint8_t payload;     /* npy_payload */
    uint64_t stream_len;
} splice_entry;

/* The table of the entries other than SPLICE_MEMO into out, and the
 * SPLICE_MEMO entries (indices rising) into memo; memo stays empty when
 * there are none. */
void splices_write(const splice_entry *s, size_t n, bytebuf *out, bytebuf *memo);
/* Parse a table and the memo table (memo_len 0: none) into one list in
 * stream order; checks that gaps and lengths stay within total_len (the
 * original's size), that tree indices are below ntrees (record indices
 * below nrecords, vocabulary indices below nvocabs) and that each memo
 * index fits its opcode. */
tp_code splices_read(tp_ctx *ctx, const uint8_t *data, size_t len, const uint8_t *memo, size_t memo_len,
                     uint64_t total_len, uint64_t ntrees, uint64_t nrecords, uint64_t nvocabs, splice_entry **out,
                     size_t *n);

#endif
