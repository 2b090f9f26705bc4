/*
 * wrap_io.c - what the compression methods' coders share: the
 * decompression buffer, grown up to the memory limit, and handing
 * compressed bytes to their receiver, with the errors of both.
 */
#include <stdlib.h>

#include "format/wrap_method.h"

/* Grow geometrically, never past the limit (the buffer is sized here, not
 * by bytebuf's doubling, which could overshoot it). */
tp_code wrap_dec_room(wrap_dec *d, uint8_t **p, size_t *n)
{
    bytebuf *b = d->buf;
    if (b->cap - b->len < 65536) {
        if (b->len >= d->limit)
            return ctx_fail(d->ctx, TP_E_LIMIT_MEMORY, -1,
                           "the %s stream decompresses to more than the memory limit of %llu bytes", d->m->name,
                           (unsigned long long)d->limit);
        uint64_t cap = MAX_OF((uint64_t)b->cap * 2, (uint64_t)1 << 20);
        if (cap > d->limit) cap = d->limit;
        if (cap > SIZE_MAX / 2) return ctx_fail(d->ctx, TP_E_LIMIT_MEMORY, -1, "decompression buffer");
        uint8_t *q = realloc(b->data, (size_t)cap);
        if (!q) return ctx_fail(d->ctx, TP_E_NOMEM, -1, "decompression buffer of %llu bytes", (unsigned long long)cap);
        b->data = q;
        b->cap = (size_t)cap;
    }
    *p = b->data + b->len;
    *n = b->cap - b->len;
    return TP_OK;
}

tp_code wrap_dec_window(wrap_dec *d, size_t left, uint8_t **p, unsigned *out_n, unsigned *in_n)
{
    size_t n = 0;
    tp_code rc = wrap_dec_room(d, p, &n);
    if (rc) return rc;
    *out_n = (unsigned)MIN_OF(n, (size_t)1 << 30);
    *in_n = (unsigned)MIN_OF(left, (size_t)1 << 30);
    return TP_OK;
}

tp_code wrap_dec_corrupt(wrap_dec *d, const char *what)
{
    return ctx_fail(d->ctx, TP_E_JOBLIB, -1, "the %s stream is %s", d->m->name, what);
}

tp_code wrap_enc_error(tp_ctx *ctx, const wrap_enc *e, const char *what)
{
    if (e->stopped) return ctx_fail(ctx, TP_E_WRITE, -1, "the output refused compressed bytes");
    return ctx_fail(ctx, TP_E_INTERNAL, -1, "%s compressor: %s", e->m->name, what);
}

tp_code wrap_enc_emit(tp_ctx *ctx, wrap_enc *e, size_t n)
{
    if (n && e->out(e->opaque, e->obuf, n)) {
        e->stopped = true;
        return wrap_enc_error(ctx, e, "");
    }
    return TP_OK;
}
