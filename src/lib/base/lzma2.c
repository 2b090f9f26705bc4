/*
 * lzma2.c - raw LZMA2 (see lzma2.h).
 */
#include <lzma.h>

#include "base/cursor.h"
#include "base/lzma2.h"

bool lzma2_encode(const uint8_t *src, size_t n, int lc, int lp, int pb, bytebuf *out)
{
    lzma_options_lzma o;
    if (lzma_lzma_preset(&o, 9 | LZMA_PRESET_EXTREME)) return false;
    o.lc = (uint32_t)lc, o.lp = (uint32_t)lp, o.pb = (uint32_t)pb;
    /* a dictionary beyond the input costs the decoder memory for nothing */
    while (o.dict_size > 4096 && o.dict_size / 2 >= n) o.dict_size /= 2;
    lzma_filter f[2] = {{LZMA_FILTER_LZMA2, &o}, {LZMA_VLI_UNKNOWN, NULL}};
    size_t cap = lzma_stream_buffer_bound(n) + 16, pos = 0;
    bytebuf_u8(out, (uint8_t)o.lc);
    bytebuf_u8(out, (uint8_t)o.lp);
    bytebuf_u8(out, (uint8_t)o.pb);
    bytebuf_varint(out, o.dict_size);
    uint8_t *p = bytebuf_grow(out, cap);
    if (!p) return false;
    if (lzma_raw_buffer_encode(f, NULL, src, n, p, &pos, cap) != LZMA_OK) return false;
    out->len -= cap - pos;
    return true;
}

tp_code lzma2_decode(tp_ctx *ctx, const uint8_t *src, size_t n, uint8_t *dst, size_t raw_len, const char *what)
{
    cursor c = cursor_make(src, n);
    lzma_options_lzma o;
    memset(&o, 0, sizeof o);
    o.lc = cursor_u8(&c), o.lp = cursor_u8(&c), o.pb = cursor_u8(&c);
    uint64_t most = MAX_OF((uint64_t)raw_len * 2, (uint64_t)8192);
    o.dict_size = (uint32_t)cursor_varint_max(&c, MIN_OF(most, (uint64_t)1 << 30));
    if (c.bad || o.lc > 4 || o.lp > 4 || o.pb > 4 || o.lc + o.lp > 4 || o.dict_size < 4096)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "%s: bad LZMA2 options", what);
    lzma_filter f[2] = {{LZMA_FILTER_LZMA2, &o}, {LZMA_VLI_UNKNOWN, NULL}};
    size_t ip = c.pos, op = 0;
    lzma_ret r = lzma_raw_buffer_decode(f, NULL, src, &ip, n, dst, &op, raw_len);
    if ((r != LZMA_OK && r != LZMA_STREAM_END) || op != raw_len || ip != n)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "%s: the LZMA2 stream does not decode to its %zu bytes", what,
                       raw_len);
    return TP_OK;
}
