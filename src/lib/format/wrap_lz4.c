/*
 * wrap_lz4.c - the lz4 method (joblib's ".lz4", the LZ4 frame format):
 * decompressed and compressed again with liblz4; the frame's flags and
 * block size come from its header, the level is searched.
 */
#include <lz4frame.h>
#include <stdlib.h>

#include "format/wrap_method.h"

static tp_code lz4_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    LZ4F_dctx *dc;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION))) return ctx_fail(d->ctx, TP_E_NOMEM, -1, "lz4");
    tp_code rc = TP_OK;
    size_t pos = 0;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = wrap_dec_room(d, &p, &n))) break;
        size_t in_n = len - pos, out_n = n;
        size_t r = LZ4F_decompress(dc, p, &out_n, in + pos, &in_n, NULL);
        pos += in_n;
        d->buf->len += out_n;
        if (LZ4F_isError(r)) {
            rc = wrap_dec_corrupt(d, LZ4F_getErrorName(r));
            break;
        }
        if (r == 0) break; /* the frame is complete */
        if (pos == len && out_n == 0) {
            rc = wrap_dec_corrupt(d, "truncated");
            break;
        }
    }
    *used = pos;
    LZ4F_freeDecompressionContext(dc);
    return rc;
}

/* 0 (same output as 1 and 2), then the high-compression levels: the
 * header says nothing of the level. */
static size_t lz4_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file, (void)in, (void)len;
    static const int lv[] = {0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(lv); i++) out[n++] = lv[i];
    return n;
}

/* The frame descriptor's FLG and BD bytes as the section's param: bit 0
 * block checksums, bit 1 content checksum, bit 2 content size, bit 3
 * independent blocks, bits 4-6 block size id (4..7). */
static uint32_t lz4_header_param(const uint8_t *in, size_t len)
{
    if (len <= 5) return 0;
    uint8_t flg = in[4], bd = in[5];
    return ((flg >> 4) & 1) | (((flg >> 2) & 1) << 1) | (((flg >> 3) & 1) << 2) | (((flg >> 5) & 1) << 3) |
           ((((bd >> 4) & 7) >= 4 ? (bd >> 4) & 7 : 4u) << 4);
}

typedef struct lz4_enc {
    LZ4F_cctx *c;
    LZ4F_preferences_t prefs;
} lz4_enc;

static void lz4_prefs(const wrap_info *w, uint64_t stream_len, LZ4F_preferences_t *p)
{
    memset(p, 0, sizeof *p);
    p->frameInfo.blockChecksumFlag = (w->param & 1) ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
    p->frameInfo.contentChecksumFlag = (w->param & 2) ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
    p->frameInfo.contentSize = (w->param & 4) ? stream_len : 0;
    p->frameInfo.blockMode = (w->param & 8) ? LZ4F_blockIndependent : LZ4F_blockLinked;
    unsigned id = (w->param >> 4) & 7;
    p->frameInfo.blockSizeID = id >= 4 ? (LZ4F_blockSizeID_t)id : LZ4F_max64KB;
    p->compressionLevel = w->level;
}

static tp_code lz4_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len)
{
    lz4_enc *s = malloc(sizeof *s);
    if (!s || LZ4F_isError(LZ4F_createCompressionContext(&s->c, LZ4F_VERSION))) {
        free(s);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "%s compressor", e->m->name);
    }
    lz4_prefs(w, stream_len, &s->prefs);
    /* room for the frame header, or for a chunk compressed whatever it holds */
    e->ocap = MAX_OF(LZ4F_compressBound(WRAP_CHUNK, &s->prefs), (size_t)LZ4F_HEADER_SIZE_MAX);
    e->state = s;
    return TP_OK;
}

static tp_code lz4_begin(tp_ctx *ctx, wrap_enc *e)
{
    lz4_enc *s = e->state;
    size_t r = LZ4F_compressBegin(s->c, e->obuf, e->ocap, &s->prefs);
    if (LZ4F_isError(r)) return wrap_enc_error(ctx, e, LZ4F_getErrorName(r));
    return wrap_enc_emit(ctx, e, r);
}

static tp_code lz4_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish)
{
    lz4_enc *s = e->state;
    tp_code rc;
    if (n) {
        size_t r = LZ4F_compressUpdate(s->c, e->obuf, e->ocap, p, n, NULL);
        if (LZ4F_isError(r)) return wrap_enc_error(ctx, e, LZ4F_getErrorName(r));
        if ((rc = wrap_enc_emit(ctx, e, r))) return rc;
    }
    if (finish) {
        size_t r = LZ4F_compressEnd(s->c, e->obuf, e->ocap, NULL);
        if (LZ4F_isError(r)) return wrap_enc_error(ctx, e, LZ4F_getErrorName(r));
        if ((rc = wrap_enc_emit(ctx, e, r))) return rc;
    }
    return TP_OK;
}

static void lz4_free(void *state)
{
    lz4_enc *s = state;
    LZ4F_freeCompressionContext(s->c);
    free(s);
}

const wrap_method wrap_method_lz4 = {
    .id = WRAP_LZ4, .name = "lz4", .magic = "\x04\x22\x4d\x18", .magic_len = 4,
    .level_min = -65536, .level_max = 16, .fallback_level = 0,
    .decompress = lz4_decompress, .candidates = lz4_candidates, .header_param = lz4_header_param,
    .enc_init = lz4_init, .enc_begin = lz4_begin, .enc_run = lz4_run, .enc_end = lz4_free,
};
