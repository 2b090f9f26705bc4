/*
 * zstd_ctx.h - one zstd compression and one decompression context per
 * thread, kept between calls.
 *
 * Creating a context allocates and clears its tables; a boosting model
 * has hundreds of small columns and sections, and doing that for each
 * cost more than compressing them.  A kept context reuses its tables and
 * is freed when its thread ends.  Only for small inputs: a large one gets
 * a context of its own, freed at once, so that the tables sized for it
 * are not held (and counted in the peak memory) for the rest of the run.
 */
#ifndef TP_ZSTD_CTX_H
#define TP_ZSTD_CTX_H

#include <zstd.h>

/* A context, fresh session and default parameters, for about n bytes of
 * input (compress) or output (decompress): the calling thread's kept one,
 * or for large n a new one that *own also points to; the caller ends with
 * ZSTD_freeCCtx(*own) / ZSTD_freeDCtx(*own) (nothing when NULL).  NULL
 * when out of memory. */
ZSTD_CCtx *tp_zstd_cctx(size_t n, ZSTD_CCtx **own);
ZSTD_DCtx *tp_zstd_dctx(size_t n, ZSTD_DCtx **own);

#endif
