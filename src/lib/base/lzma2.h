/*
 * lzma2.h - raw LZMA2 for the parts zstd leaves large.
 *
 * zstd is the container's codec because it decodes at memory speed; on
 * small, irregular data (a boosting model's skeleton, a column of
 * doubles, a term list) LZMA2 is often 10-30% smaller, and there its
 * slower coding costs milliseconds.  The callers try it within a budget
 * of bytes per file and keep it only when it wins.
 *
 * Stored form: u8 lc, u8 lp, u8 pb, varint dict_size, then the raw LZMA2
 * stream (no xz container: the section around it has its own checksum).
 */
#ifndef BASE_LZMA2_H
#define BASE_LZMA2_H

#include "base/buf.h"

/* Bytes of input a file may spend on LZMA2 trials (compress side). */
#define LZMA2_TRIAL_BUDGET ((uint64_t)4 << 20)

/* Append the stored form of src to out; false when out of memory or
 * liblzma fails.  lc/lp/pb as xz's options (lc + lp <= 4). */
bool lzma2_encode(const uint8_t *src, size_t n, int lc, int lp, int pb, bytebuf *out);

/* Decode a stored form into exactly raw_len bytes at dst.  A dictionary
 * larger than twice the output is refused (it would only cost memory). */
tp_code lzma2_decode(tp_ctx *ctx, const uint8_t *src, size_t n, uint8_t *dst, size_t raw_len, const char *what);

/* Take n bytes from a trial budget; false (and nothing taken) if it has
 * fewer left. */
static inline bool lzma2_budget_take(uint64_t *budget, uint64_t n)
{
    if (!budget || *budget < n) return false;
    *budget -= n;
    return true;
}

#endif
