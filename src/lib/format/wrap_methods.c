/*
 * wrap_methods.c - the list of compression methods (each defined in the
 * file of the library that codes it, see wrap_method.h), detection by
 * magic bytes, and the compressor's dispatch to the method.
 */
#include <stdlib.h>

#include "format/wrap_method.h"

/* By id, as the section records it. */
static const wrap_method *const by_id[] = {
    [WRAP_ZLIB] = &wrap_method_zlib, [WRAP_GZIP] = &wrap_method_gzip, [WRAP_BZ2] = &wrap_method_bz2,
    [WRAP_XZ] = &wrap_method_xz,     [WRAP_LZMA] = &wrap_method_lzma, [WRAP_LZ4] = &wrap_method_lz4,
    [WRAP_ZF] = &wrap_method_zf,
};

/* In the order detection tries their magic bytes: "ZF" before the others,
 * as joblib does. */
static const wrap_method *const detect_order[] = {
    &wrap_method_zf,   &wrap_method_zlib, &wrap_method_gzip, &wrap_method_bz2,
    &wrap_method_lzma, &wrap_method_xz,   &wrap_method_lz4,
};

const wrap_method *wrap_method_of(int id)
{
    return id > WRAP_NONE && id <= WRAP_METHOD_MAX ? by_id[id] : NULL;
}

const char *wrap_name(int method)
{
    if (method == WRAP_NONE) return "";
    const wrap_method *m = wrap_method_of(method);
    return m ? m->name : "?";
}

int wrap_detect(const uint8_t *in, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(detect_order); i++) {
        const wrap_method *m = detect_order[i];
        if (len >= m->magic_len && memcmp(in, m->magic, m->magic_len) == 0) return m->id;
    }
    return WRAP_NONE;
}

/* ---- the compressor ---------------------------------------------------------- */

tp_code wrap_enc_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len, wrap_out_fn out,
                      void *opaque)
{
    memset(e, 0, sizeof *e);
    e->m = wrap_method_of(w->method);
    e->out = out;
    e->opaque = opaque;
    e->ocap = WRAP_CHUNK;
    if (!e->m) return ctx_fail(ctx, TP_E_INTERNAL, -1, "no compressor for method %d", w->method);
    tp_code rc = e->m->enc_init(ctx, e, w, stream_len);
    if (rc) return rc;
    e->obuf = malloc(e->ocap);
    if (!e->obuf) return ctx_fail(ctx, TP_E_NOMEM, -1, "compression buffer");
    return e->m->enc_begin ? e->m->enc_begin(ctx, e) : TP_OK;
}

tp_code wrap_enc_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish)
{
    return e->m->enc_run(ctx, e, p, n, finish);
}

void wrap_enc_free(wrap_enc *e)
{
    if (e->state) e->m->enc_end(e->state);
    free(e->obuf);
    memset(e, 0, sizeof *e);
}
