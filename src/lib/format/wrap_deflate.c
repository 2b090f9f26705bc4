/*
 * wrap_deflate.c - the methods zlib codes: zlib (joblib's ".z"), gzip and
 * the legacy "ZF" of joblib < 0.10 (a header, then zlib data).  Each is
 * detected by its magic bytes, decompressed with inflate, and compressed
 * again with deflate at the level its header points to.
 */
#include <stdlib.h>
#include <zlib.h>

#include "base/cursor.h"
#include "format/wrap_method.h"

/* joblib < 0.10: "ZF", then the stream length as "0x..." padded with
 * spaces to len(hex(2**64)) = 19 characters (numpy_pickle_compat.py). */
#define ZF_HEADER 21

/* ---- the headers ------------------------------------------------------------ */

static tp_code zf_prefix(tp_ctx *ctx, const uint8_t *in, size_t len, size_t *start)
{
    /* joblib skips one more byte if it is a space (joblib <= 0.8.4) */
    *start = ZF_HEADER + (len > ZF_HEADER && in[ZF_HEADER] == ' ');
    if (len < *start) return ctx_fail(ctx, TP_E_JOBLIB, 0, "the ZF header is cut short");
    return TP_OK;
}

/* Length of a gzip member header (RFC 1952), 0 if it is malformed. */
static size_t gzip_header(const uint8_t *in, size_t len)
{
    cursor c = cursor_make(in, len);
    const uint8_t *h = cursor_take(&c, 10);
    if (!h || h[2] != 8 || (h[3] & 0xe0)) return 0; /* deflate, no reserved flags */
    if (h[3] & 4) cursor_take(&c, cursor_u16(&c)); /* FEXTRA */
    for (int f = 8; f <= 16; f <<= 1) {                  /* FNAME, FCOMMENT */
        if (!(h[3] & f)) continue;
        while (!c.bad && cursor_u8(&c) != 0) {}
    }
    if (h[3] & 2) cursor_take(&c, 2); /* FHCRC */
    return c.bad ? 0 : c.pos;
}

/* The gzip header, whatever wrote it (Python's gzip module writes the file
 * name and time), is kept as the prefix so that it comes back as it was. */
static tp_code gzip_prefix(tp_ctx *ctx, const uint8_t *in, size_t len, size_t *start)
{
    *start = gzip_header(in, len);
    if (!*start) return ctx_fail(ctx, TP_E_JOBLIB, 0, "the gzip header is malformed or cut short");
    return TP_OK;
}

/* ---- decompressing -------------------------------------------------------------- */

static tp_code inflate_all(wrap_dec *d, const uint8_t *in, size_t len, int wbits, size_t *used)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK) return ctx_fail(d->ctx, TP_E_NOMEM, -1, "zlib");
    z.next_in = (Bytef *)(uintptr_t)in;
    tp_code rc = TP_OK;
    size_t left = len;
    for (;;) {
        uint8_t *p = NULL;
        unsigned room = 0, give = 0;
        if ((rc = wrap_dec_window(d, left, &p, &room, &give))) break;
        z.avail_in = give;
        z.next_out = p;
        z.avail_out = room;
        int r = inflate(&z, Z_NO_FLUSH);
        left -= give - z.avail_in;
        d->buf->len += room - z.avail_out;
        if (r == Z_STREAM_END) break;
        if (r == Z_NEED_DICT || r == Z_DATA_ERROR) {
            rc = wrap_dec_corrupt(d, z.msg ? z.msg : "corrupt");
            break;
        }
        if (r == Z_MEM_ERROR) {
            rc = ctx_fail(d->ctx, TP_E_NOMEM, -1, "zlib");
            break;
        }
        if (r == Z_BUF_ERROR && left == 0) {
            rc = wrap_dec_corrupt(d, "truncated");
            break;
        }
    }
    *used = len - left;
    inflateEnd(&z);
    return rc;
}

static tp_code zlib_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    return inflate_all(d, in, len, 15, used);
}

/* Raw deflate, then the 8-byte trailer: CRC-32 and size of the stream. */
static tp_code gzip_decompress(wrap_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    tp_code rc = inflate_all(d, in, len, -15, used);
    if (rc) return rc;
    if (len - *used < 8) return wrap_dec_corrupt(d, "truncated");
    const uint8_t *p = in + *used;
    const bytebuf *b = d->buf;
    uint32_t crc = 0;
    for (size_t at = 0; at < b->len; at += (size_t)1 << 30)
        crc = (uint32_t)crc32(crc, b->data + at, (uInt)MIN_OF(b->len - at, (size_t)1 << 30));
    if (load_le32(p) != crc || load_le32(p + 4) != (uint32_t)b->len)
        return wrap_dec_corrupt(d, "corrupt (its CRC or size differs)");
    *used += 8;
    return TP_OK;
}

/* ---- the levels ----------------------------------------------------------------- */

/* zlib's FLEVEL: 0 for level 1, 1 for 2-5, 2 for 6, 3 for 7-9; the
 * default of the writer (joblib: 3; ZF: 1) first. */
static size_t flevel_candidates(const uint8_t *in, size_t len, int dflt, int *out)
{
    size_t n = 0;
    int fl = len > 1 ? in[1] >> 6 : -1;
    for (int l = 0; l <= 9; l++) {
        int lv = l == 0 ? dflt : l;
        if (l && l == dflt) continue;
        int f = lv < 2 ? 0 : lv < 6 ? 1 : lv == 6 ? 2 : 3;
        if (fl < 0 || f == fl) out[n++] = lv;
    }
    return n;
}

static size_t zlib_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file;
    return flevel_candidates(in, len, 3, out);
}

static size_t zf_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)file;
    return flevel_candidates(in, len, 1, out);
}

/* XFL (zlib and Python's gzip alike): 2 for level 9, 4 for level 1, 0
 * otherwise.  joblib's default 3 first, then gzip's 9. */
static size_t gzip_candidates(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    (void)w, (void)in, (void)len;
    static const int order[] = {3, 9, 1, 2, 4, 5, 6, 7, 8};
    size_t n = 0;
    int xfl = file[8];
    for (size_t i = 0; i < ARRAY_LEN(order); i++) {
        int lv = order[i], x = lv == 9 ? 2 : lv == 1 ? 4 : 0;
        if (x == xfl || (xfl != 2 && xfl != 4 && xfl != 0)) out[n++] = lv;
    }
    return n;
}

/* ---- compressing ------------------------------------------------------------------ */

typedef struct deflater {
    z_stream z;
    bool gzip;
    uint32_t crc, isize;      /* gzip: the trailer, computed as data goes in */
} deflater;

/* joblib's BinaryZlibFile: compressobj(level, DEFLATED, wbits, DEF_MEM_LEVEL, 0).
 * gzip: raw deflate between the header (the prefix) and a trailer made here. */
static tp_code deflate_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len)
{
    (void)stream_len;
    bool gzip = w->method == WRAP_GZIP;
    deflater *s = calloc(1, sizeof *s);
    if (!s || deflateInit2(&s->z, w->level, Z_DEFLATED, gzip ? -15 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(s);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "%s compressor", e->m->name);
    }
    s->gzip = gzip;
    s->crc = (uint32_t)crc32(0, Z_NULL, 0);
    e->state = s;
    return TP_OK;
}

static tp_code deflate_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish)
{
    deflater *s = e->state;
    z_stream *z = &s->z;
    tp_code rc;
    if (s->gzip && n) {
        s->crc = (uint32_t)crc32(s->crc, p, (uInt)n);
        s->isize += (uint32_t)n;
    }
    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = e->obuf;
        z->avail_out = (uInt)e->ocap;
        int r = deflate(z, finish ? Z_FINISH : Z_NO_FLUSH);
        if (r == Z_STREAM_ERROR) return wrap_enc_error(ctx, e, "deflate failed");
        if ((rc = wrap_enc_emit(ctx, e, e->ocap - z->avail_out))) return rc;
        if (finish ? r == Z_STREAM_END : z->avail_in == 0 && z->avail_out != 0) break;
    }
    if (finish && s->gzip) {
        store_le32(e->obuf, s->crc);
        store_le32(e->obuf + 4, s->isize);
        return wrap_enc_emit(ctx, e, 8);
    }
    return TP_OK;
}

static void deflate_free(void *state)
{
    deflater *s = state;
    deflateEnd(&s->z);
    free(s);
}

/* ---- the methods ------------------------------------------------------------------- */

const wrap_method wrap_method_zlib = {
    .id = WRAP_ZLIB, .name = "zlib", .magic = "\x78", .magic_len = 1,
    .level_min = 0, .level_max = 9, .fallback_level = 3,
    .decompress = zlib_decompress, .candidates = zlib_candidates,
    .enc_init = deflate_init, .enc_run = deflate_run, .enc_end = deflate_free,
};

const wrap_method wrap_method_gzip = {
    .id = WRAP_GZIP, .name = "gzip", .magic = "\x1f\x8b", .magic_len = 2,
    .level_min = 0, .level_max = 9, .fallback_level = 3,
    .prefix = gzip_prefix, .decompress = gzip_decompress, .candidates = gzip_candidates,
    .enc_init = deflate_init, .enc_run = deflate_run, .enc_end = deflate_free,
};

const wrap_method wrap_method_zf = {
    .id = WRAP_ZF, .name = "zf", .magic = "ZF", .magic_len = 2,
    .level_min = 0, .level_max = 9, .fallback_level = 1,
    .prefix = zf_prefix, .decompress = zlib_decompress, .candidates = zf_candidates,
    .enc_init = deflate_init, .enc_run = deflate_run, .enc_end = deflate_free,
};
