/*
 * zstd_ctx.h - zstd and XXH3 for every layer: one compression and one
 * decompression context per thread, kept between calls, whole-buffer
 * helpers, checksums.
 *
 * Creating a context allocates and clears its tables; a boosting model
 * has hundreds of small columns and sections, and doing that for each
 * cost more than compressing them.  A kept context reuses its tables and
 * is freed when its thread ends.  Only for small inputs: a large one gets
 * a context of its own, freed at once, so that the tables sized for it
 * are not held (and counted in the peak memory) for the rest of the run.
 */
#ifndef BASE_ZSTD_CTX_H
#define BASE_ZSTD_CTX_H

#include <zstd.h>

#include "base/buf.h"

/* A context, fresh session and default parameters, for about n bytes of
 * input (compress) or output (decompress): the calling thread's kept one,
 * or for large n a new one that *own also points to; the caller ends with
 * ZSTD_freeCCtx(*own) / ZSTD_freeDCtx(*own) (nothing when NULL).  NULL
 * when out of memory. */
ZSTD_CCtx *zstd_thread_cctx(size_t n, ZSTD_CCtx **own);
ZSTD_DCtx *zstd_thread_dctx(size_t n, ZSTD_DCtx **own);

/* One zstd frame of src at level, with its content size, into out. */
tp_code zstd_compress_into(tp_ctx *ctx, const void *src, size_t n, int level, bytebuf *out);
/* Decompress exactly raw_len bytes into dst; anything else is corruption. */
tp_code zstd_decompress_exact(tp_ctx *ctx, const uint8_t *src, size_t n, uint8_t *dst, size_t raw_len);

/* The XXH3-128 of data in canonical byte order, and XXH3-64. */
void checksum128(const void *data, size_t len, uint8_t out[16]);
uint64_t checksum64(const void *data, size_t len);

#endif
