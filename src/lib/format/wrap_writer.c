/*
 * wrap_writer.c - the expand side of a compressed joblib file: a sink
 * that compresses the rebuilt stream as the wrapper section says (prefix,
 * compressed data, suffix) and, when the settings reproduce the file,
 * checks the result against its size and checksum; and wrap_rewrap,
 * the same for a stream already in memory.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "format/wrap_method.h"

struct wrap_writer {
    tp_ctx *ctx;              /* the caller's, for setup and finish */
    tp_ctx err;               /* errors while streaming: the writes may come
                                 from another thread (expand's output pipe) */
    const wrap_info *w;
    tp_sink *next;
    wrap_enc e;
    uint8_t *chunk;
    size_t clen;
    XXH3_state_t *hash;
    uint64_t written;
};

static int writer_out(void *opaque, const uint8_t *p, size_t n)
{
    wrap_writer *ww = opaque;
    XXH3_128bits_update(ww->hash, p, n);
    ww->written += n;
    if (ww->next && ww->next->write(ww->next->opaque, p, n)) {
        ctx_fail(&ww->err, TP_E_WRITE, -1, "the output refused %zu bytes", n);
        return 1;
    }
    return 0;
}

/* The compressor is fed whole chunks of WRAP_CHUNK, as on compress when
 * the settings were found, so that the output does not depend on how the
 * caller cuts the stream. */
static int writer_write(void *opaque, const void *data, size_t len)
{
    wrap_writer *ww = opaque;
    const uint8_t *p = data;
    while (len) {
        size_t take = MIN_OF(len, WRAP_CHUNK - ww->clen);
        memcpy(ww->chunk + ww->clen, p, take);
        ww->clen += take;
        p += take;
        len -= take;
        if (ww->clen == WRAP_CHUNK) {
            if (wrap_enc_run(&ww->err, &ww->e, ww->chunk, ww->clen, false)) return 1;
            ww->clen = 0;
        }
    }
    return 0;
}

tp_code wrap_writer_new(tp_ctx *ctx, const wrap_info *w, uint64_t stream_size, tp_sink *next, wrap_writer **out,
                           tp_sink *as_sink)
{
    *out = NULL;
    wrap_writer *ww = calloc(1, sizeof *ww);
    if (!ww) return ctx_fail(ctx, TP_E_NOMEM, -1, "wrapper");
    ww->ctx = ctx;
    ctx_reset(&ww->err);
    ww->w = w;
    ww->next = next;
    ww->chunk = malloc(WRAP_CHUNK);
    ww->hash = XXH3_createState();
    tp_code rc = TP_OK;
    if (!ww->chunk || !ww->hash || XXH3_128bits_reset(ww->hash) != XXH_OK)
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "wrapper");
    /* the prefix goes out before the compressor says anything */
    if (!rc && w->prefix_len && writer_out(ww, w->prefix, w->prefix_len)) rc = wrap_writer_error(ww, ctx);
    if (!rc && wrap_enc_init(&ww->err, &ww->e, w, stream_size, writer_out, ww)) rc = wrap_writer_error(ww, ctx);
    if (rc) {
        wrap_writer_free(ww);
        return rc;
    }
    *out = ww;
    *as_sink = (tp_sink){.write = writer_write, .opaque = ww};
    return TP_OK;
}

tp_code wrap_writer_error(wrap_writer *ww, tp_ctx *ctx)
{
    if (!ww->err.code) return ctx->code ? ctx->code : TP_E_WRITE;
    /* replace a generic "output refused" with the cause */
    if (!ctx->code || ctx->code == TP_E_WRITE) *ctx = ww->err;
    return ctx->code;
}

tp_code wrap_writer_finish(wrap_writer *ww)
{
    if (ww->err.code) return wrap_writer_error(ww, ww->ctx);
    tp_code rc = wrap_enc_run(&ww->err, &ww->e, ww->chunk, ww->clen, true);
    ww->clen = 0;
    if (!rc && ww->w->suffix_len && writer_out(ww, ww->w->suffix, ww->w->suffix_len)) rc = TP_E_WRITE;
    if (rc) return wrap_writer_error(ww, ww->ctx);
    if (!ww->w->exact) return TP_OK;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(ww->hash));
    if (ww->written != ww->w->file_size || memcmp(c.digest, ww->w->file_checksum, 16) != 0)
        return ctx_fail(ww->ctx, TP_E_MISMATCH, -1,
                       "the %s file written is not the original, although the stream inside it is; "
                       "this zlib/bz2/lzma/lz4 build compresses differently from the one that checked it",
                       wrap_name(ww->w->method));
    return TP_OK;
}

void wrap_writer_free(wrap_writer *ww)
{
    if (!ww) return;
    wrap_enc_free(&ww->e);
    free(ww->chunk);
    if (ww->hash) XXH3_freeState(ww->hash);
    free(ww);
}

tp_code wrap_rewrap(tp_ctx *ctx, const uint8_t *container, size_t container_len, const uint8_t *stream, size_t n,
                       tp_sink *out)
{
    wrap_info w;
    tp_code rc = wrap_load(ctx, container, container_len, &w);
    if (rc) return rc;
    if (!w.method) {
        if (out && n && out->write(out->opaque, stream, n))
            return ctx_fail(ctx, TP_E_WRITE, -1, "the output refused %zu bytes", n);
        return TP_OK;
    }
    wrap_writer *ww = NULL;
    tp_sink as;
    rc = wrap_writer_new(ctx, &w, n, out, &ww, &as);
    if (!rc && n && as.write(as.opaque, stream, n)) rc = wrap_writer_error(ww, ctx);
    if (!rc) rc = wrap_writer_finish(ww);
    wrap_writer_free(ww);
    wrap_free(&w);
    return rc;
}
