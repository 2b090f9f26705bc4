/*
 * wrap.c - compressed joblib files: detect, decompress, find settings that
 * compress the stream back to the same bytes, and compress on expand.
 */
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>
#include <zlib.h>

#include "format/container.h"
#include "base/cursor.h"
#include "format/wrap.h"

const char *tp_wrap_name(int method)
{
    static const char *names[] = {"", "zlib", "gzip", "bz2", "xz", "lzma", "lz4", "zf"};
    return method >= 0 && method <= WRAP_METHOD_MAX ? names[method] : "?";
}

/* joblib < 0.10: "ZF", then the stream length as "0x..." padded with
 * spaces to len(hex(2**64)) = 19 characters (numpy_pickle_compat.py). */
#define ZF_HEADER 21

/* ---- the compressors ---------------------------------------------------- */

/* Receives compressed bytes; nonzero stops the compressor. */
typedef int (*enc_out_fn)(void *opaque, const uint8_t *p, size_t n);

typedef struct enc {
    uint8_t method;
    bool live;
    union {
        z_stream z;
        bz_stream bz;
        lzma_stream lz;
        LZ4F_cctx *c4;
    } u;
    LZ4F_preferences_t prefs;
    uint32_t crc, isize;      /* gzip: the trailer, computed as data goes in */
    uint8_t *obuf;
    size_t ocap;
    enc_out_fn out;
    void *opaque;
    bool stopped;             /* the receiver said stop */
} enc;

static tp_code enc_error(tp_ctx *ctx, const enc *e, const char *what)
{
    if (e->stopped) return tp_fail(ctx, TP_E_WRITE, -1, "the output refused compressed bytes");
    return tp_fail(ctx, TP_E_INTERNAL, -1, "%s compressor: %s", tp_wrap_name(e->method), what);
}

static void lz4_prefs(const tp_wrap *w, uint64_t stream_len, LZ4F_preferences_t *p)
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

static tp_code enc_init(tp_ctx *ctx, enc *e, const tp_wrap *w, uint64_t stream_len, enc_out_fn out, void *opaque)
{
    memset(e, 0, sizeof *e);
    e->method = w->method;
    e->out = out;
    e->opaque = opaque;
    e->ocap = WRAP_CHUNK;
    int ok = 1;
    switch (w->method) {
    case WRAP_ZLIB:
    case WRAP_ZF:
    case WRAP_GZIP:
        /* joblib's BinaryZlibFile: compressobj(level, DEFLATED, wbits, DEF_MEM_LEVEL, 0).
         * gzip: raw deflate between the header (kept as the prefix, so
         * that any writer's header comes back: Python's gzip module
         * writes the file name and time) and a trailer made here. */
        ok = deflateInit2(&e->u.z, w->level, Z_DEFLATED, w->method == WRAP_GZIP ? -15 : 15, 8,
                          Z_DEFAULT_STRATEGY) == Z_OK;
        e->crc = (uint32_t)crc32(0, Z_NULL, 0);
        break;
    case WRAP_BZ2:
        ok = BZ2_bzCompressInit(&e->u.bz, w->level, 0, 0) == BZ_OK;
        break;
    case WRAP_XZ:
        e->u.lz = (lzma_stream)LZMA_STREAM_INIT;
        ok = lzma_easy_encoder(&e->u.lz, (uint32_t)w->level, (lzma_check)w->param) == LZMA_OK;
        break;
    case WRAP_LZMA: {
        lzma_options_lzma o;
        e->u.lz = (lzma_stream)LZMA_STREAM_INIT;
        ok = !lzma_lzma_preset(&o, (uint32_t)w->level) && lzma_alone_encoder(&e->u.lz, &o) == LZMA_OK;
        break;
    }
    case WRAP_LZ4:
        lz4_prefs(w, stream_len, &e->prefs);
        ok = !LZ4F_isError(LZ4F_createCompressionContext(&e->u.c4, LZ4F_VERSION));
        if (ok) e->ocap = TP_MAX(LZ4F_compressBound(WRAP_CHUNK, &e->prefs), (size_t)LZ4F_HEADER_SIZE_MAX);
        break;
    default:
        return tp_fail(ctx, TP_E_INTERNAL, -1, "no compressor for method %d", w->method);
    }
    if (!ok) return tp_fail(ctx, TP_E_NOMEM, -1, "%s compressor", tp_wrap_name(w->method));
    e->live = true;
    e->obuf = malloc(e->ocap);
    if (!e->obuf) return tp_fail(ctx, TP_E_NOMEM, -1, "compression buffer");
    if (w->method == WRAP_LZ4) {
        size_t r = LZ4F_compressBegin(e->u.c4, e->obuf, e->ocap, &e->prefs);
        if (LZ4F_isError(r)) return enc_error(ctx, e, LZ4F_getErrorName(r));
        if (e->out(e->opaque, e->obuf, r)) {
            e->stopped = true;
            return enc_error(ctx, e, "");
        }
    }
    return TP_OK;
}

static void enc_free(enc *e)
{
    if (e->live) {
        switch (e->method) {
        case WRAP_ZLIB:
        case WRAP_ZF:
        case WRAP_GZIP: deflateEnd(&e->u.z); break;
        case WRAP_BZ2: BZ2_bzCompressEnd(&e->u.bz); break;
        case WRAP_XZ:
        case WRAP_LZMA: lzma_end(&e->u.lz); break;
        case WRAP_LZ4: LZ4F_freeCompressionContext(e->u.c4); break;
        }
    }
    free(e->obuf);
    memset(e, 0, sizeof *e);
}

static tp_code emit_out(tp_ctx *ctx, enc *e, size_t n)
{
    if (n && e->out(e->opaque, e->obuf, n)) {
        e->stopped = true;
        return enc_error(ctx, e, "");
    }
    return TP_OK;
}

/* Feed n bytes (finish: and end the stream). */
static tp_code enc_run(tp_ctx *ctx, enc *e, const uint8_t *p, size_t n, bool finish)
{
    tp_code rc = TP_OK;
    switch (e->method) {
    case WRAP_ZLIB:
    case WRAP_ZF:
    case WRAP_GZIP: {
        z_stream *z = &e->u.z;
        if (e->method == WRAP_GZIP && n) {
            e->crc = (uint32_t)crc32(e->crc, p, (uInt)n);
            e->isize += (uint32_t)n;
        }
        z->next_in = (Bytef *)(uintptr_t)p;
        z->avail_in = (uInt)n;
        for (;;) {
            z->next_out = e->obuf;
            z->avail_out = (uInt)e->ocap;
            int r = deflate(z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (r == Z_STREAM_ERROR) return enc_error(ctx, e, "deflate failed");
            if ((rc = emit_out(ctx, e, e->ocap - z->avail_out))) return rc;
            if (finish ? r == Z_STREAM_END : z->avail_in == 0 && z->avail_out != 0) break;
        }
        if (finish && e->method == WRAP_GZIP) {
            tp_put_le32(e->obuf, e->crc);
            tp_put_le32(e->obuf + 4, e->isize);
            return emit_out(ctx, e, 8);
        }
        return TP_OK;
    }
    case WRAP_BZ2: {
        bz_stream *b = &e->u.bz;
        b->next_in = (char *)(uintptr_t)p;
        b->avail_in = (unsigned)n;
        for (;;) {
            b->next_out = (char *)e->obuf;
            b->avail_out = (unsigned)e->ocap;
            int r = BZ2_bzCompress(b, finish ? BZ_FINISH : BZ_RUN);
            if (r < 0) return enc_error(ctx, e, "BZ2_bzCompress failed");
            if ((rc = emit_out(ctx, e, e->ocap - b->avail_out))) return rc;
            if (finish ? r == BZ_STREAM_END : b->avail_in == 0) break;
        }
        return TP_OK;
    }
    case WRAP_XZ:
    case WRAP_LZMA: {
        lzma_stream *s = &e->u.lz;
        s->next_in = p;
        s->avail_in = n;
        for (;;) {
            s->next_out = e->obuf;
            s->avail_out = e->ocap;
            lzma_ret r = lzma_code(s, finish ? LZMA_FINISH : LZMA_RUN);
            if (r != LZMA_OK && r != LZMA_STREAM_END) return enc_error(ctx, e, "lzma_code failed");
            if ((rc = emit_out(ctx, e, e->ocap - s->avail_out))) return rc;
            if (finish ? r == LZMA_STREAM_END : s->avail_in == 0 && s->avail_out != 0) break;
        }
        return TP_OK;
    }
    case WRAP_LZ4: {
        if (n) {
            size_t r = LZ4F_compressUpdate(e->u.c4, e->obuf, e->ocap, p, n, NULL);
            if (LZ4F_isError(r)) return enc_error(ctx, e, LZ4F_getErrorName(r));
            if ((rc = emit_out(ctx, e, r))) return rc;
        }
        if (finish) {
            size_t r = LZ4F_compressEnd(e->u.c4, e->obuf, e->ocap, NULL);
            if (LZ4F_isError(r)) return enc_error(ctx, e, LZ4F_getErrorName(r));
            if ((rc = emit_out(ctx, e, r))) return rc;
        }
        return TP_OK;
    }
    }
    return tp_fail(ctx, TP_E_INTERNAL, -1, "no compressor");
}

/* ---- the decompressors ----------------------------------------------------- */

typedef struct dec_out {
    tp_ctx *ctx;
    tp_buf *buf;
    uint64_t limit;
    uint8_t method;
} dec_out;

/* Room for more output: grow geometrically, never past the limit (the
 * buffer is sized here, not by tp_buf's doubling, which could overshoot). */
static tp_code dec_room(dec_out *d, uint8_t **p, size_t *n)
{
    tp_buf *b = d->buf;
    if (b->cap - b->len < 65536) {
        if (b->len >= d->limit)
            return tp_fail(d->ctx, TP_E_LIMIT_MEMORY, -1,
                           "the %s stream decompresses to more than the memory limit of %llu bytes",
                           tp_wrap_name(d->method), (unsigned long long)d->limit);
        uint64_t cap = TP_MAX((uint64_t)b->cap * 2, (uint64_t)1 << 20);
        if (cap > d->limit) cap = d->limit;
        if (cap > SIZE_MAX / 2) return tp_fail(d->ctx, TP_E_LIMIT_MEMORY, -1, "decompression buffer");
        uint8_t *q = realloc(b->data, (size_t)cap);
        if (!q) return tp_fail(d->ctx, TP_E_NOMEM, -1, "decompression buffer of %llu bytes", (unsigned long long)cap);
        b->data = q;
        b->cap = (size_t)cap;
    }
    *p = b->data + b->len;
    *n = b->cap - b->len;
    return TP_OK;
}

static tp_code corrupt(dec_out *d, const char *what)
{
    return tp_fail(d->ctx, TP_E_JOBLIB, -1, "the %s stream is %s", tp_wrap_name(d->method), what);
}

/* Each returns the number of input bytes the compressed stream took. */
static tp_code dec_zlib(dec_out *d, const uint8_t *in, size_t len, int wbits, size_t *used)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK) return tp_fail(d->ctx, TP_E_NOMEM, -1, "zlib");
    z.next_in = (Bytef *)(uintptr_t)in;
    tp_code rc = TP_OK;
    size_t left = len;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = dec_room(d, &p, &n))) break;
        /* avail_in/out are 32-bit: feed at most 1 GiB at a time */
        uInt give = (uInt)TP_MIN(left, (size_t)1 << 30);
        z.avail_in = give;
        z.next_out = p;
        z.avail_out = (uInt)TP_MIN(n, (size_t)1 << 30);
        uInt out0 = z.avail_out;
        int r = inflate(&z, Z_NO_FLUSH);
        left -= give - z.avail_in;
        d->buf->len += out0 - z.avail_out;
        if (r == Z_STREAM_END) break;
        if (r == Z_NEED_DICT || r == Z_DATA_ERROR) {
            rc = corrupt(d, z.msg ? z.msg : "corrupt");
            break;
        }
        if (r == Z_MEM_ERROR) {
            rc = tp_fail(d->ctx, TP_E_NOMEM, -1, "zlib");
            break;
        }
        if (r == Z_BUF_ERROR && left == 0) {
            rc = corrupt(d, "truncated");
            break;
        }
    }
    *used = len - left;
    inflateEnd(&z);
    return rc;
}

static tp_code dec_bz2(dec_out *d, const uint8_t *in, size_t len, size_t *used)
{
    bz_stream b;
    memset(&b, 0, sizeof b);
    if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK) return tp_fail(d->ctx, TP_E_NOMEM, -1, "bz2");
    b.next_in = (char *)(uintptr_t)in;
    tp_code rc = TP_OK;
    size_t left = len;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = dec_room(d, &p, &n))) break;
        unsigned give = (unsigned)TP_MIN(left, (size_t)1 << 30);
        b.avail_in = give;
        b.next_out = (char *)p;
        b.avail_out = (unsigned)TP_MIN(n, (size_t)1 << 30);
        unsigned out0 = b.avail_out;
        int r = BZ2_bzDecompress(&b);
        left -= give - b.avail_in;
        d->buf->len += out0 - b.avail_out;
        if (r == BZ_STREAM_END) break;
        if (r != BZ_OK) {
            rc = r == BZ_MEM_ERROR ? tp_fail(d->ctx, TP_E_NOMEM, -1, "bz2") : corrupt(d, "corrupt");
            break;
        }
        if (left == 0 && out0 == b.avail_out) {
            rc = corrupt(d, "truncated");
            break;
        }
    }
    *used = len - left;
    BZ2_bzDecompressEnd(&b);
    return rc;
}

static tp_code dec_lzma(dec_out *d, const uint8_t *in, size_t len, bool alone, size_t *used)
{
    lzma_stream s = LZMA_STREAM_INIT;
    /* the decoder's own tables are bounded too (dictionary size) */
    uint64_t memlimit = d->limit;
    lzma_ret r = alone ? lzma_alone_decoder(&s, memlimit) : lzma_stream_decoder(&s, memlimit, 0);
    if (r != LZMA_OK) return tp_fail(d->ctx, TP_E_NOMEM, -1, "liblzma");
    s.next_in = in;
    s.avail_in = len;
    tp_code rc = TP_OK;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = dec_room(d, &p, &n))) break;
        s.next_out = p;
        s.avail_out = n;
        r = lzma_code(&s, LZMA_FINISH);
        d->buf->len += n - s.avail_out;
        if (r == LZMA_STREAM_END) break;
        if (r == LZMA_OK) continue;
        if (r == LZMA_MEMLIMIT_ERROR || r == LZMA_MEM_ERROR)
            rc = tp_fail(d->ctx, TP_E_LIMIT_MEMORY, -1, "the %s stream needs more memory than allowed",
                         tp_wrap_name(d->method));
        else
            rc = corrupt(d, r == LZMA_BUF_ERROR ? "truncated" : "corrupt");
        break;
    }
    *used = len - s.avail_in;
    lzma_end(&s);
    return rc;
}

static tp_code dec_lz4(dec_out *d, const uint8_t *in, size_t len, size_t *used)
{
    LZ4F_dctx *dc;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION))) return tp_fail(d->ctx, TP_E_NOMEM, -1, "lz4");
    tp_code rc = TP_OK;
    size_t pos = 0;
    for (;;) {
        uint8_t *p = NULL;
        size_t n = 0;
        if ((rc = dec_room(d, &p, &n))) break;
        size_t in_n = len - pos, out_n = n;
        size_t r = LZ4F_decompress(dc, p, &out_n, in + pos, &in_n, NULL);
        pos += in_n;
        d->buf->len += out_n;
        if (LZ4F_isError(r)) {
            rc = corrupt(d, LZ4F_getErrorName(r));
            break;
        }
        if (r == 0) break; /* the frame is complete */
        if (pos == len && out_n == 0) {
            rc = corrupt(d, "truncated");
            break;
        }
    }
    *used = pos;
    LZ4F_freeDecompressionContext(dc);
    return rc;
}

/* ---- finding settings that reproduce the file -------------------------------- */

typedef struct trial {
    const uint8_t *expect;
    size_t len, pos;
    bool differs;
} trial;

static int trial_out(void *opaque, const uint8_t *p, size_t n)
{
    trial *t = opaque;
    if (n > t->len - t->pos || memcmp(p, t->expect + t->pos, n)) {
        t->differs = true;
        return 1;
    }
    t->pos += n;
    return 0;
}

/* Compress the stream with w's settings, stopping at the first byte that
 * differs from the file's compressed data. */
static bool reproduces(const tp_wrap *w, const uint8_t *expect, size_t len)
{
    trial t = {expect, len, 0, false};
    enc e;
    tp_ctx quiet;
    tp_ctx_reset(&quiet);
    tp_code rc = enc_init(&quiet, &e, w, w->stream.len, trial_out, &t);
    for (size_t at = 0; !rc && at < w->stream.len; at += WRAP_CHUNK)
        rc = enc_run(&quiet, &e, w->stream.data + at, TP_MIN(WRAP_CHUNK, w->stream.len - at), false);
    if (!rc) rc = enc_run(&quiet, &e, NULL, 0, true);
    enc_free(&e);
    return !rc && !t.differs && t.pos == len;
}

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
    tp_cursor c = tp_cursor_make(in, len);
    tp_cursor_take(&c, 12);                  /* stream header */
    uint8_t size = tp_cursor_u8(&c);
    uint8_t flags = tp_cursor_u8(&c);
    if (c.bad || size == 0 || (flags & 3) != 0) return 0; /* one filter */
    if (flags & 0x40) tp_cursor_varint(&c);  /* compressed size */
    if (flags & 0x80) tp_cursor_varint(&c);  /* uncompressed size */
    uint64_t id = tp_cursor_varint(&c), psize = tp_cursor_varint(&c);
    uint8_t prop = tp_cursor_u8(&c);
    return !c.bad && id == 0x21 && psize == 1 ? lzma2_dict(prop) : 0;
}

static uint64_t preset_dict(int preset)
{
    lzma_options_lzma o;
    return lzma_lzma_preset(&o, (uint32_t)preset) ? 0 : o.dict_size;
}

/* Levels worth trying, the likeliest first, from what the header says
 * (`in` is the compressed data, after any prefix; `file` the whole file). */
static size_t candidates(const tp_wrap *w, const uint8_t *file, const uint8_t *in, size_t len, int *out)
{
    size_t n = 0;
    int dflt = 0;
    switch (w->method) {
    case WRAP_ZLIB:
    case WRAP_ZF: {
        /* FLEVEL: 0 for level 1, 1 for 2-5, 2 for 6, 3 for 7-9 */
        int fl = len > 1 ? in[1] >> 6 : -1;
        dflt = w->method == WRAP_ZLIB ? 3 : 1;
        for (int l = 0; l <= 9; l++) {
            int lv = l == 0 ? dflt : l;
            if (l && l == dflt) continue;
            int f = lv < 2 ? 0 : lv < 6 ? 1 : lv == 6 ? 2 : 3;
            if (fl < 0 || f == fl) out[n++] = lv;
        }
        break;
    }
    case WRAP_GZIP: {
        /* XFL (zlib and Python's gzip alike): 2 for level 9, 4 for level
         * 1, 0 otherwise.  joblib's default 3 first, then gzip's 9. */
        static const int order[] = {3, 9, 1, 2, 4, 5, 6, 7, 8};
        int xfl = file[8];
        for (size_t i = 0; i < TP_ARRAY_LEN(order); i++) {
            int lv = order[i], x = lv == 9 ? 2 : lv == 1 ? 4 : 0;
            if (x == xfl || (xfl != 2 && xfl != 4 && xfl != 0)) out[n++] = lv;
        }
        break;
    }
    case WRAP_BZ2:
        if (len > 3 && in[3] >= '1' && in[3] <= '9') out[n++] = in[3] - '0';
        break;
    case WRAP_XZ:
    case WRAP_LZMA: {
        uint64_t dict = w->method == WRAP_XZ ? xz_dict(in, len) : len >= 5 ? tp_le32(in + 1) : 0;
        bool plain = w->method == WRAP_XZ || in[0] == 0x5d; /* lc=3 lp=0 pb=2, what presets use */
        for (int l = -1; l <= 9; l++) {
            int lv = l < 0 ? 6 : l;
            if (l == 6) continue;
            if (plain && preset_dict(lv) == dict) out[n++] = lv;
        }
        break;
    }
    case WRAP_LZ4: {
        /* 0 (same output as 1 and 2), then the high-compression levels */
        static const int lv[] = {0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        for (size_t i = 0; i < TP_ARRAY_LEN(lv); i++) out[n++] = lv[i];
        break;
    }
    }
    return n;
}

/* The level to compress with when nothing reproduces the file. */
static int default_level(const tp_wrap *w, const int *cand, size_t n)
{
    if (n) return cand[0];
    switch (w->method) {
    case WRAP_BZ2: return 9;
    case WRAP_XZ:
    case WRAP_LZMA: return 6;
    case WRAP_LZ4: return 0;
    case WRAP_ZF: return 1;
    default: return 3;
    }
}

/* Settings the header fixes outright. */
static void header_params(tp_wrap *w, const uint8_t *in, size_t len)
{
    w->param = 0;
    if (w->method == WRAP_XZ && len > 7) {
        w->param = in[7] & 0x0f;
        /* a check this liblzma cannot write would fail at expand time */
        if (!lzma_check_is_supported((lzma_check)w->param)) w->param = LZMA_CHECK_CRC64;
    }
    if (w->method == WRAP_LZ4 && len > 5) {
        uint8_t flg = in[4], bd = in[5];
        w->param = ((flg >> 4) & 1) | (((flg >> 2) & 1) << 1) | (((flg >> 3) & 1) << 2) | (((flg >> 5) & 1) << 3) |
                   ((((bd >> 4) & 7) >= 4 ? (bd >> 4) & 7 : 4u) << 4);
    }
}

/* Length of a gzip member header (RFC 1952), 0 if it is malformed. */
static size_t gzip_header(const uint8_t *in, size_t len)
{
    tp_cursor c = tp_cursor_make(in, len);
    const uint8_t *h = tp_cursor_take(&c, 10);
    if (!h || h[2] != 8 || (h[3] & 0xe0)) return 0; /* deflate, no reserved flags */
    if (h[3] & 4) tp_cursor_take(&c, tp_cursor_u16(&c)); /* FEXTRA */
    for (int f = 8; f <= 16; f <<= 1) {                  /* FNAME, FCOMMENT */
        if (!(h[3] & f)) continue;
        while (!c.bad && tp_cursor_u8(&c) != 0) {}
    }
    if (h[3] & 2) tp_cursor_take(&c, 2); /* FHCRC */
    return c.bad ? 0 : c.pos;
}

/* The 8-byte trailer after the deflate data: CRC-32 and size of the stream. */
static tp_code gzip_trailer(dec_out *d, const uint8_t *p, size_t left, size_t *used)
{
    if (left < 8) return corrupt(d, "truncated");
    const tp_buf *b = d->buf;
    uint32_t crc = 0;
    for (size_t at = 0; at < b->len; at += (size_t)1 << 30)
        crc = (uint32_t)crc32(crc, b->data + at, (uInt)TP_MIN(b->len - at, (size_t)1 << 30));
    if (tp_le32(p) != crc || tp_le32(p + 4) != (uint32_t)b->len) return corrupt(d, "corrupt (its CRC or size differs)");
    *used += 8;
    return TP_OK;
}

int tp_wrap_detect(const uint8_t *in, size_t len)
{
    static const struct {
        const char *magic;
        size_t n;
        int method;
    } m[] = {
        {"ZF", 2, WRAP_ZF},           {"\x78", 1, WRAP_ZLIB},
        {"\x1f\x8b", 2, WRAP_GZIP},   {"BZ", 2, WRAP_BZ2},
        {"\x5d\x00", 2, WRAP_LZMA},   {"\xfd\x37\x7a\x58\x5a", 5, WRAP_XZ},
        {"\x04\x22\x4d\x18", 4, WRAP_LZ4},
    };
    for (size_t i = 0; i < TP_ARRAY_LEN(m); i++)
        if (len >= m[i].n && memcmp(in, m[i].magic, m[i].n) == 0) return m[i].method;
    return WRAP_NONE;
}

tp_code tp_wrap_open(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, tp_wrap *w)
{
    memset(w, 0, sizeof *w);
    w->method = (uint8_t)tp_wrap_detect(in, len);
    if (w->method == WRAP_NONE) return TP_OK;
    w->file_size = len;
    tp_checksum128(in, len, w->file_checksum);
    uint64_t limit = lim && lim->max_memory ? lim->max_memory : (uint64_t)4 << 30;
    dec_out d = {ctx, &w->stream, limit, w->method};

    size_t start = 0, used = 0;
    if (w->method == WRAP_ZF) {
        /* joblib skips one more byte if it is a space (joblib <= 0.8.4) */
        start = ZF_HEADER + (len > ZF_HEADER && in[ZF_HEADER] == ' ');
        if (len < start) return tp_fail(ctx, TP_E_JOBLIB, 0, "the ZF header is cut short");
        w->prefix = in;
        w->prefix_len = start;
    }
    if (w->method == WRAP_GZIP) {
        start = gzip_header(in, len);
        if (!start) return tp_fail(ctx, TP_E_JOBLIB, 0, "the gzip header is malformed or cut short");
        w->prefix = in;
        w->prefix_len = start;
    }
    const uint8_t *z = in + start;
    size_t zlen = len - start;
    tp_code rc;
    switch (w->method) {
    case WRAP_ZLIB:
    case WRAP_ZF: rc = dec_zlib(&d, z, zlen, 15, &used); break;
    case WRAP_GZIP:
        rc = dec_zlib(&d, z, zlen, -15, &used);
        if (!rc) rc = gzip_trailer(&d, z + used, zlen - used, &used);
        break;
    case WRAP_BZ2: rc = dec_bz2(&d, z, zlen, &used); break;
    case WRAP_XZ: rc = dec_lzma(&d, z, zlen, false, &used); break;
    case WRAP_LZMA: rc = dec_lzma(&d, z, zlen, true, &used); break;
    default: rc = dec_lz4(&d, z, zlen, &used); break;
    }
    if (rc) {
        tp_wrap_free(w);
        return rc;
    }
    w->suffix = z + used;
    w->suffix_len = zlen - used;

    int cand[16];
    size_t n = candidates(w, in, z, zlen, cand);
    if (!n) cand[n++] = default_level(w, cand, 0);
    header_params(w, z, zlen);
    for (size_t i = 0; i < n && !w->exact; i++) {
        w->level = cand[i];
        w->exact = reproduces(w, z, used);
    }
    if (!w->exact) w->level = default_level(w, cand, n);
    return TP_OK;
}

void tp_wrap_free(tp_wrap *w)
{
    tp_buf_free(&w->stream);
    tp_buf_free(&w->section);
    memset(w, 0, sizeof *w);
}

/* ---- the section --------------------------------------------------------------- */

void tp_wrap_serialize(const tp_wrap *w, tp_buf *out)
{
    tp_buf_u8(out, 1);
    tp_buf_u8(out, w->method);
    tp_buf_u8(out, w->exact);
    tp_buf_svarint(out, w->level);
    tp_buf_varint(out, w->param);
    tp_buf_varint(out, w->file_size);
    tp_buf_append(out, w->file_checksum, 16);
    tp_buf_varint(out, w->prefix_len);
    tp_buf_append(out, w->prefix, w->prefix_len);
    tp_buf_varint(out, w->suffix_len);
    tp_buf_append(out, w->suffix, w->suffix_len);
}

static bool level_ok(int method, int64_t level)
{
    switch (method) {
    case WRAP_ZLIB:
    case WRAP_ZF:
    case WRAP_GZIP: return level >= 0 && level <= 9;
    case WRAP_BZ2: return level >= 1 && level <= 9;
    case WRAP_XZ:
    case WRAP_LZMA: return level >= 0 && level <= 9;
    case WRAP_LZ4: return level >= -65536 && level <= 16;
    }
    return false;
}

tp_code tp_wrap_parse(tp_ctx *ctx, tp_buf *raw, tp_wrap *w)
{
    memset(w, 0, sizeof *w);
    w->section = *raw;
    memset(raw, 0, sizeof *raw);
    tp_cursor c = tp_cursor_make(w->section.data, w->section.len);
    uint8_t version = tp_cursor_u8(&c);
    w->method = tp_cursor_u8(&c);
    w->exact = tp_cursor_u8(&c);
    int64_t level = tp_unzigzag(tp_cursor_varint(&c));
    uint64_t param = tp_cursor_varint(&c);
    w->file_size = tp_cursor_varint(&c);
    const uint8_t *sum = tp_cursor_take(&c, 16);
    w->prefix_len = (size_t)tp_cursor_varint_max(&c, tp_cursor_left(&c));
    w->prefix = tp_cursor_take(&c, w->prefix_len);
    w->suffix_len = (size_t)tp_cursor_varint_max(&c, tp_cursor_left(&c));
    w->suffix = tp_cursor_take(&c, w->suffix_len);
    bool ok = !c.bad && !tp_cursor_left(&c) && version == 1 && w->method >= 1 && w->method <= WRAP_METHOD_MAX &&
              w->exact <= 1 && level_ok(w->method, level) && param <= 0xff;
    if (ok && w->method == WRAP_XZ) ok = lzma_check_is_supported((lzma_check)param);
    if (!ok) {
        tp_wrap_free(w);
        return tp_fail(ctx, TP_E_TPK_CORRUPT, -1, "the wrapper section is malformed");
    }
    w->level = (int32_t)level;
    w->param = (uint32_t)param;
    memcpy(w->file_checksum, sum, 16);
    return TP_OK;
}

void tp_wrap_annotate(tp_ctx *ctx, const tp_wrap *w)
{
    if (w->method == WRAP_NONE || !ctx->code) return;
    size_t n = strlen(ctx->msg);
    snprintf(ctx->msg + n, sizeof ctx->msg - n, " (in the %s-decompressed stream)", tp_wrap_name(w->method));
}

void tp_wrap_report(const tp_wrap *w, tp_report *rep)
{
    rep->stream_size = rep->original_size;
    memcpy(rep->stream_checksum, rep->checksum, 16);
    if (w->method == WRAP_NONE) return;
    snprintf(rep->wrapper, sizeof rep->wrapper, "%s", tp_wrap_name(w->method));
    rep->wrapper_level = w->level;
    rep->wrapper_exact = w->exact;
    rep->original_size = w->file_size;
    memcpy(rep->checksum, w->file_checksum, 16);
}

/* ---- compressing on expand ---------------------------------------------------------- */

struct tp_wrap_writer {
    tp_ctx *ctx;              /* the caller's, for setup and finish */
    tp_ctx err;               /* errors while streaming: the writes may come
                                 from another thread (expand's output pipe) */
    const tp_wrap *w;
    tp_sink *next;
    enc e;
    uint8_t *chunk;
    size_t clen;
    XXH3_state_t *hash;
    uint64_t written;
};

static int writer_out(void *opaque, const uint8_t *p, size_t n)
{
    tp_wrap_writer *ww = opaque;
    XXH3_128bits_update(ww->hash, p, n);
    ww->written += n;
    if (ww->next && ww->next->write(ww->next->opaque, p, n)) {
        tp_fail(&ww->err, TP_E_WRITE, -1, "the output refused %zu bytes", n);
        return 1;
    }
    return 0;
}

static int writer_write(void *opaque, const void *data, size_t len)
{
    tp_wrap_writer *ww = opaque;
    const uint8_t *p = data;
    while (len) {
        size_t take = TP_MIN(len, WRAP_CHUNK - ww->clen);
        memcpy(ww->chunk + ww->clen, p, take);
        ww->clen += take;
        p += take;
        len -= take;
        if (ww->clen == WRAP_CHUNK) {
            if (enc_run(&ww->err, &ww->e, ww->chunk, ww->clen, false)) return 1;
            ww->clen = 0;
        }
    }
    return 0;
}

tp_code tp_wrap_writer_new(tp_ctx *ctx, const tp_wrap *w, uint64_t stream_size, tp_sink *next, tp_wrap_writer **out,
                           tp_sink *as_sink)
{
    *out = NULL;
    tp_wrap_writer *ww = calloc(1, sizeof *ww);
    if (!ww) return tp_fail(ctx, TP_E_NOMEM, -1, "wrapper");
    ww->ctx = ctx;
    tp_ctx_reset(&ww->err);
    ww->w = w;
    ww->next = next;
    ww->chunk = malloc(WRAP_CHUNK);
    ww->hash = XXH3_createState();
    tp_code rc = TP_OK;
    if (!ww->chunk || !ww->hash || XXH3_128bits_reset(ww->hash) != XXH_OK)
        rc = tp_fail(ctx, TP_E_NOMEM, -1, "wrapper");
    /* the prefix goes out before the compressor says anything */
    if (!rc && w->prefix_len && writer_out(ww, w->prefix, w->prefix_len)) rc = tp_wrap_writer_error(ww, ctx);
    if (!rc && enc_init(&ww->err, &ww->e, w, stream_size, writer_out, ww)) rc = tp_wrap_writer_error(ww, ctx);
    if (rc) {
        tp_wrap_writer_free(ww);
        return rc;
    }
    *out = ww;
    *as_sink = (tp_sink){.write = writer_write, .opaque = ww};
    return TP_OK;
}

tp_code tp_wrap_writer_error(tp_wrap_writer *ww, tp_ctx *ctx)
{
    if (!ww->err.code) return ctx->code ? ctx->code : TP_E_WRITE;
    /* replace a generic "output refused" with the cause */
    if (!ctx->code || ctx->code == TP_E_WRITE) *ctx = ww->err;
    return ctx->code;
}

tp_code tp_wrap_writer_finish(tp_wrap_writer *ww)
{
    if (ww->err.code) return tp_wrap_writer_error(ww, ww->ctx);
    tp_code rc = enc_run(&ww->err, &ww->e, ww->chunk, ww->clen, true);
    ww->clen = 0;
    if (!rc && ww->w->suffix_len && writer_out(ww, ww->w->suffix, ww->w->suffix_len)) rc = TP_E_WRITE;
    if (rc) return tp_wrap_writer_error(ww, ww->ctx);
    if (!ww->w->exact) return TP_OK;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(ww->hash));
    if (ww->written != ww->w->file_size || memcmp(c.digest, ww->w->file_checksum, 16) != 0)
        return tp_fail(ww->ctx, TP_E_MISMATCH, -1,
                       "the %s file written is not the original, although the stream inside it is; "
                       "this zlib/bz2/lzma/lz4 build compresses differently from the one that checked it",
                       tp_wrap_name(ww->w->method));
    return TP_OK;
}

void tp_wrap_writer_free(tp_wrap_writer *ww)
{
    if (!ww) return;
    enc_free(&ww->e);
    free(ww->chunk);
    if (ww->hash) XXH3_freeState(ww->hash);
    free(ww);
}

tp_code tp_wrap_load(tp_ctx *ctx, const uint8_t *container, size_t container_len, tp_wrap *w)
{
    memset(w, 0, sizeof *w);
    tpk_header h;
    tpk_section *secs = NULL;
    size_t nsecs = 0;
    tp_code rc = tpk_parse(ctx, container, container_len, &h, &secs, &nsecs);
    const tpk_section *sec = NULL;
    for (size_t i = 0; !rc && i < nsecs; i++)
        if (secs[i].kind == SEC_WRAP) sec = &secs[i];
    if (!rc && sec) {
        tp_buf raw = {0};
        rc = tpk_section_read(ctx, container, sec, &raw);
        if (!rc) rc = tp_wrap_parse(ctx, &raw, w);
        tp_buf_free(&raw);
    }
    free(secs);
    return rc;
}

const char *tp_wrap_loader_risk(const tp_wrap *w)
{
    if (w->suffix_len)
        return "bytes after the compressed stream (a second gzip member, say), which Python's readers take for "
               "more of the pickle";
    /* pickle.load given the file as it is stops at its first byte: 0x1f,
     * 'Z', and the first bytes of the other methods, are no opcodes */
    const char *magic = w->method == WRAP_GZIP ? "\x1f\x8b" : w->method == WRAP_ZF ? "ZF" : NULL;
    if (w->prefix_len && (!magic || w->prefix_len < 2 || memcmp(w->prefix, magic, 2)))
        return "a header that does not start the way the compression method's does";
    return NULL;
}

tp_code tp_wrap_rewrap(tp_ctx *ctx, const uint8_t *container, size_t container_len, const uint8_t *stream, size_t n,
                       tp_sink *out)
{
    tp_wrap w;
    tp_code rc = tp_wrap_load(ctx, container, container_len, &w);
    if (rc) return rc;
    if (!w.method) {
        if (out && n && out->write(out->opaque, stream, n))
            return tp_fail(ctx, TP_E_WRITE, -1, "the output refused %zu bytes", n);
        return TP_OK;
    }
    tp_wrap_writer *ww = NULL;
    tp_sink as;
    rc = tp_wrap_writer_new(ctx, &w, n, out, &ww, &as);
    if (!rc && n && as.write(as.opaque, stream, n)) rc = tp_wrap_writer_error(ww, ctx);
    if (!rc) rc = tp_wrap_writer_finish(ww);
    tp_wrap_writer_free(ww);
    tp_wrap_free(&w);
    return rc;
}
