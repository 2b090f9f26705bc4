/*
 * zstd_ctx.c - zstd contexts kept per thread, whole-buffer zstd, XXH3
 * checksums (see zstd_ctx.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>

#include "base/zstd_ctx.h"

typedef struct zstd_pair {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} zstd_pair;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;

static void pair_free(void *p)
{
    zstd_pair *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

static void make_key(void) { key_ok = pthread_key_create(&key, pair_free) == 0; }

static zstd_pair *thread_pair(void)
{
    pthread_once(&key_once, make_key);
    if (!key_ok) return NULL;
    zstd_pair *z = pthread_getspecific(key);
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z) return NULL;
        if (pthread_setspecific(key, z) != 0) {
            free(z);
            return NULL;
        }
    }
    return z;
}

/* From this size on, a context of its own. */
#define KEEP_MAX ((size_t)128 << 10)

ZSTD_CCtx *zstd_thread_cctx(size_t n, ZSTD_CCtx **own)
{
    *own = NULL;
    if (n >= KEEP_MAX) return *own = ZSTD_createCCtx();
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->c && !(z->c = ZSTD_createCCtx())) return NULL;
    ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
    return z->c;
}

ZSTD_DCtx *zstd_thread_dctx(size_t n, ZSTD_DCtx **own)
{
    *own = NULL;
    if (n >= KEEP_MAX) return *own = ZSTD_createDCtx();
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->d && !(z->d = ZSTD_createDCtx())) return NULL;
    ZSTD_DCtx_reset(z->d, ZSTD_reset_session_and_parameters);
    return z->d;
}

/* ---- whole buffers ------------------------------------------------------ */

tp_code zstd_compress_into(tp_ctx *ctx, const void *src, size_t n, int level, bytebuf *out)
{
    out->len = 0;
    size_t bound = ZSTD_compressBound(n);
    if (!bytebuf_reserve(out, bound)) return ctx_fail(ctx, TP_E_NOMEM, -1, "compression buffer of %zu bytes", bound);
    ZSTD_CCtx *own;
    ZSTD_CCtx *cc = zstd_thread_cctx(n, &own);
    if (!cc) return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    /* The content size lets a reader check lengths before decoding; the
     * checksum is the container's job. */
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1);
    size_t r = ZSTD_compress2(cc, out->data, out->cap, src, n);
    ZSTD_freeCCtx(own);
    if (ZSTD_isError(r)) return ctx_fail(ctx, TP_E_ZSTD, -1, "%s", ZSTD_getErrorName(r));
    out->len = r;
    return TP_OK;
}

tp_code zstd_decompress_exact(tp_ctx *ctx, const uint8_t *src, size_t n, uint8_t *dst, size_t raw_len)
{
    ZSTD_DCtx *own;
    ZSTD_DCtx *dc = zstd_thread_dctx(raw_len, &own);
    if (!dc) return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    ZSTD_inBuffer in = {src, n, 0};
    ZSTD_outBuffer out = {dst, raw_len, 0};
    tp_code rc = TP_OK;
    for (;;) {
        size_t r = ZSTD_decompressStream(dc, &out, &in);
        if (ZSTD_isError(r)) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "zstd: %s", ZSTD_getErrorName(r));
            break;
        }
        if (r == 0) { /* a frame ended */
            if (in.pos != in.size || out.pos != raw_len)
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a compressed stream has the wrong length");
            break;
        }
        if (out.pos == raw_len) {
            /* Full, but the frame is not over: more data than declared,
             * unless only the frame epilogue is left. */
            uint8_t probe;
            ZSTD_outBuffer extra = {&probe, 1, 0};
            r = ZSTD_decompressStream(dc, &extra, &in);
            if (ZSTD_isError(r) || extra.pos || r != 0 || in.pos != in.size)
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a compressed stream is longer than declared");
            break;
        }
        if (in.pos == in.size) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a compressed stream is truncated");
            break;
        }
    }
    ZSTD_freeDCtx(own);
    return rc;
}

/* ---- checksums ----------------------------------------------------------- */

void checksum128(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

uint64_t checksum64(const void *data, size_t len) { return XXH3_64bits(data, len); }
