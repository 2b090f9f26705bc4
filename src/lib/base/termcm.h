/*
 * termcm.h - a context-mixing coder for lists of terms.
 *
 * Vocabularies are lists of short strings, one per line: sorted (every
 * term shares a prefix with the one before and differs from it in a
 * larger byte), in the order first seen, or in hash order.  A general
 * compressor sees them as text; this coder also knows where a term
 * starts, what the previous term was at the same position, the current
 * term's prefix and its words.  Each bit is predicted by several models
 * (hashed contexts: the last 1-6 bytes, the term's prefix, its current
 * word, the word before it, the previous term at the same position),
 * mixed in the logistic domain, refined by an SSE stage and coded with a
 * binary arithmetic coder.  Integer arithmetic only: the same bits on
 * every machine.
 *
 * The input is any byte string; lines (LF) are what the contexts assume.
 */
#ifndef BASE_TERMCM_H
#define BASE_TERMCM_H

#include "base/buf.h"
#include "base/common.h"

/* Append the coded form of data[0..n) to out. */
tp_code termcm_encode(tp_ctx *ctx, const uint8_t *data, size_t n, bytebuf *out);
/* Decode exactly n bytes into dst from in[0..len); anything else (input
 * left over, or running out) is corruption. */
tp_code termcm_decode(tp_ctx *ctx, const uint8_t *in, size_t len, uint8_t *dst, size_t n);

#endif
