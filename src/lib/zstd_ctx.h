/*
 * zstd_ctx.h - one zstd compression and one decompression context per
 * thread, kept between calls.
 *
 * Creating a context allocates and clears its tables; a boosting model
 * has hundreds of small columns and sections, and doing that for each
 * cost more than compressing them.  A kept context reuses its tables
 * (zstd shrinks them itself when they stay much larger than needed) and
 * is freed when its thread ends.
 */
#ifndef TP_ZSTD_CTX_H
#define TP_ZSTD_CTX_H

#include <zstd.h>

/* The calling thread's contexts, reset to a fresh session with default
 * parameters; NULL when out of memory.  Not to be freed. */
ZSTD_CCtx *tp_zstd_cctx(void);
ZSTD_DCtx *tp_zstd_dctx(void);

#endif
