/*
 * wrap_xz.c - the methods liblzma codes: xz (joblib's ".xz") and
 * LZMA-alone (joblib's ".lzma").  The level is found from the dictionary
 * size the header records (each preset has its own); xz's check comes
 * from its stream header.
 */
#include <lzma.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "format/wrap_method.h"

/* ---- decompressing ---------------------------------------------------------- */

static tp_code lzma_decompress_any(wrap_dec *d, const uint8_t *in, size_t len, bool alone, size_t *used)
{
    lzma_stream s = LZMA_STREAM_INIT;
    /* the decoder's own tables are bounded too (dictionary size) */
    uint64_t memlimit = d->limit;
    lzma_ret r = alone ? lzma_alone_decoder(&s, memlimit) : lzma_stream_decoder(&s, memlimit, 0);
    if (r != LZMA_OK) return ctx_fail(d->ctx, TP_E_NOMEM, -1, "liblzma");
    s.next_in = in;
    s.avail_in = len;
    tp_code rc = TP_OK;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = wrap_dec_room(d, &p, &n))) break;
        s.next_out = p;
        s.avail_out = n;
        r = lzma_code(&s, LZMA_FINISH);
        d->buf->len += n - s.avail_out;
        if (r == LZMA_STREAM_END) break;
        if (r == LZMA_OK) continue;
        if (r == LZMA_MEMLIMIT_ERROR || r == LZMA_MEM_ERROR)
            rc = ctx_fail(d->ctx, TP_E_LIMIT_MEMORY, -1, "the %s stream needs more memory than allowed", d->m->name);
        else
            rc = wrap_dec_corrupt(d, r == LZMA_BUF_ERROR ? "truncated" : "corrupt");
        break;
    }
    *used = len - s.avail_in;
    lzma_end(&s);
    return rc;
}

static tp_code xz_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    return lzma_decompress_any(d, in, len, false, used);
}

static tp_code lzma_alone_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    return lzma_decompress_any(d, in, len, true, used);
}

/* ---- the settings ------------------------------------------------------------ */

/* Dictionary size an LZMA2 property byte stands for (xz's format spec). */
static uint64_t lzma2_dict(uint8_t p)
{
    if (p > 40) return 0;
    if (p == 40) return 0xFFFFFFFFu;
    return (uint64_t)(2 | (p & 1)) << (p / 2 + 11);
}

/* The xz block header's LZMA2 dictionary size, 0 if not a plain LZMA2 chain. */
static uint64_t xz_dict(const uint8_t *in, size_t len)
{
    cursor c = cursor_make(in, len);
    cursor_take(&c, 12);                  /* stream header */
    uint8_t size = cursor_u8(&c);
    uint8_t flags = cursor_u8(&c);
    if (c.bad || size == 0 || (flags & 3) != 0) return 0; /* one filter */
    if (flags & 0x40) cursor_varint(&c);  /* compressed size */
    if (flags & 0x80) cursor_varint(&c);  /* uncompressed size */
    uint64_t id = cursor_varint(&c), psize = cursor_varint(&c);
    uint8_t prop = cursor_u8(&c);
    return !c.bad && id == 0x21 && psize == 1 ? lzma2_dict(prop) : 0;
}

static uint64_t preset_dict(int preset)
{
    lzma_options_lzma o;
    return lzma_lzma_preset(&o, (uint32_t)preset) ? 0 : o.dict_size;
}

/* The presets whose dictionary is the header's, 6 (the default) first;
 * none when the header's literal and position bits are no preset's. */
static size_t dict_candidates(uint64_t dict, bool plain, int *out)
{
    size_t n = 0;
    for (int l = -1; l <= 9; l++) {
        int lv = l < 0 ? 6 : l;
        if (l == 6) continue;
        if (plain && preset_dict(lv) == dict) out[n++] = lv;
    }
    return n;
}

static size_t xz_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file;
    return dict_candidates(xz_dict(in, len), true, out);
}

static size_t lzma_alone_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file;
    /* properties byte 0x5d: lc=3 lp=0 pb=2, what presets use; then the
     * dictionary size */
    return dict_candidates(len >= 5 ? load_le32(in + 1) : 0, in[0] == 0x5d, out);
}

/* The stream header's check id. */
static uint32_t xz_header_param(const uint8_t *in, size_t len)
{
    if (len <= 7) return 0;
    uint32_t check = in[7] & 0x0f;
    /* a check this liblzma cannot write would fail at expand time */
    return lzma_check_is_supported((lzma_check)check) ? check : LZMA_CHECK_CRC64;
}

static bool xz_param_ok(uint64_t param)
{
    return lzma_check_is_supported((lzma_check)param);
}

/* ---- compressing ------------------------------------------------------------- */

static tp_code lzma_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len)
{
    (void)stream_len;
    lzma_stream *s = malloc(sizeof *s);
    bool ok = s != NULL;
    if (ok) {
        *s = (lzma_stream)LZMA_STREAM_INIT;
        if (w->method == WRAP_XZ) {
            ok = lzma_easy_encoder(s, (uint32_t)w->level, (lzma_check)w->param) == LZMA_OK;
        } else {
            lzma_options_lzma o;
            ok = !lzma_lzma_preset(&o, (uint32_t)w->level) && lzma_alone_encoder(s, &o) == LZMA_OK;
        }
    }
    if (!ok) {
        free(s);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "%s compressor", e->m->name);
    }
    e->state = s;
    return TP_OK;
}

static tp_code lzma_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish)
{
    lzma_stream *s = e->state;
    tp_code rc;
    s->next_in = p;
    s->avail_in = n;
    for (;;) {
        s->next_out = e->obuf;
        s->avail_out = e->ocap;
        lzma_ret r = lzma_code(s, finish ? LZMA_FINISH : LZMA_RUN);
        if (r != LZMA_OK && r != LZMA_STREAM_END) return wrap_enc_error(ctx, e, "lzma_code failed");
        if ((rc = wrap_enc_emit(ctx, e, e->ocap - s->avail_out))) return rc;
        if (finish ? r == LZMA_STREAM_END : s->avail_in == 0 && s->avail_out != 0) break;
    }
    return TP_OK;
}

static void lzma_free(void *state)
{
    lzma_end(state);
    free(state);
}

/* ---- the methods --------------------------------------------------------------- */

const wrap_method wrap_method_xz = {
    .id = WRAP_XZ, .name = "xz", .magic = "\xfd\x37\x7a\x58\x5a", .magic_len = 5,
    .level_min = 0, .level_max = 9, .fallback_level = 6,
    .decompress = xz_decompress, .candidates = xz_candidates,
    .header_param = xz_header_param, .param_ok = xz_param_ok,
    .enc_init = lzma_init, .enc_run = lzma_run, .enc_end = lzma_free,
};

const wrap_method wrap_method_lzma = {
    .id = WRAP_LZMA, .name = "lzma", .magic = "\x5d\x00", .magic_len = 2,
    .level_min = 0, .level_max = 9, .fallback_level = 6,
    .decompress = lzma_alone_decompress, .candidates = lzma_alone_candidates,
    .enc_init = lzma_init, .enc_run = lzma_run, .enc_end = lzma_free,
};
