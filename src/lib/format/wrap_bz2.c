/*
 * wrap_bz2.c - the bz2 method (joblib's ".bz2"): detected by "BZ",
 * decompressed and compressed again with libbz2 at the block size its
 * header names.
 */
#include <bzlib.h>
#include <stdlib.h>

#include "format/wrap_method.h"

static tp_code bz2_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    bz_stream b;
    memset(&b, 0, sizeof b);
    if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK) return ctx_fail(d->ctx, TP_E_NOMEM, -1, "bz2");
    b.next_in = (char *)(uintptr_t)in;
    tp_code rc = TP_OK;
    size_t left = len;
    for (;;) {
        uint8_t *p = NULL;
        unsigned room = 0, give = 0;
        if ((rc = wrap_dec_window(d, left, &p, &room, &give))) break;
        b.avail_in = give;
        b.next_out = (char *)p;
        b.avail_out = room;
        int r = BZ2_bzDecompress(&b);
        left -= give - b.avail_in;
        d->buf->len += room - b.avail_out;
        if (r == BZ_STREAM_END) break;
        if (r != BZ_OK) {
            rc = r == BZ_MEM_ERROR ? ctx_fail(d->ctx, TP_E_NOMEM, -1, "bz2") : wrap_dec_corrupt(d, "corrupt");
            break;
        }
        if (left == 0 && room == b.avail_out) {
            rc = wrap_dec_corrupt(d, "truncated");
            break;
        }
    }
    *used = len - left;
    BZ2_bzDecompressEnd(&b);
    return rc;
}

/* "BZh" and the block size in 100 kB, which is the level. */
static size_t bz2_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file;
    size_t n = 0;
    if (len > 3 && in[3] >= '1' && in[3] <= '9') out[n++] = in[3] - '0';
    return n;
}

static tp_code bz2_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len)
{
    (void)stream_len;
    bz_stream *b = calloc(1, sizeof *b);
    if (!b || BZ2_bzCompressInit(b, w->level, 0, 0) != BZ_OK) {
        free(b);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "%s compressor", e->m->name);
    }
    e->state = b;
    return TP_OK;
}

static tp_code bz2_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish)
{
    bz_stream *b = e->state;
    tp_code rc;
    b->next_in = (char *)(uintptr_t)p;
    b->avail_in = (unsigned)n;
    for (;;) {
        b->next_out = (char *)e->obuf;
        b->avail_out = (unsigned)e->ocap;
        int r = BZ2_bzCompress(b, finish ? BZ_FINISH : BZ_RUN);
        if (r < 0) return wrap_enc_error(ctx, e, "BZ2_bzCompress failed");
        if ((rc = wrap_enc_emit(ctx, e, e->ocap - b->avail_out))) return rc;
        if (finish ? r == BZ_STREAM_END : b->avail_in == 0) break;
    }
    return TP_OK;
}

static void bz2_free(void *state)
{
    BZ2_bzCompressEnd(state);
    free(state);
}

const wrap_method wrap_method_bz2 = {
    .id = WRAP_BZ2, .name = "bz2", .magic = "BZ", .magic_len = 2,
    .level_min = 1, .level_max = 9, .fallback_level = 9,
    .decompress = bz2_decompress, .candidates = bz2_candidates,
    .enc_init = bz2_init, .enc_run = bz2_run, .enc_end = bz2_free,
};
