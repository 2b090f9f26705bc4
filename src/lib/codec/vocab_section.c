/*
 * vocab_section.c - the vocabulary section: every vocabulary of a file as
 * its model (sklearn/vocab.h) plus its terms, the terms as one stream
 * (newline-separated or length-prefixed, compressed with zstd, LZMA2 or
 * the context-mixing coder, whichever is smallest), and the order of the
 * listed terms as ranks in sorted order when that is cheaper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "base/cursor.h"
#include "base/lzma2.h"
#include "base/termcm.h"
#include "codec/vocab_section.h"
#include "format/container.h"

typedef struct term_ref {
    const uint8_t *p;
    uint64_t n;
    uint64_t idx;      /* listed index, or UINT64_MAX for a raw item's term */
} term_ref;

static int term_cmp(const void *a, const void *b)
{
    const term_ref *x = a, *y = b;
    return vocab_term_cmp(x->p, x->n, y->p, y->n);
}

/* rank[i] = place of listed term i among every term of the vocabulary in
 * sorted order (Python sorts str by code point; UTF-8 bytes sort alike). */
static bool listed_ranks(const vocabulary *v, uint64_t *rank)
{
    size_t total = (size_t)v->nlisted + v->nraw;
    term_ref *t = malloc((total ? total : 1) * sizeof *t);
    if (!t) return false;
    for (uint64_t i = 0; i < v->nlisted; i++)
        t[i] = (term_ref){v->text + v->toff[i], v->toff[i + 1] - v->toff[i], i};
    for (size_t r = 0; r < v->nraw; r++)
        t[v->nlisted + r] = (term_ref){v->rawbuf + v->raw[r].term_off, v->raw[r].term_len, UINT64_MAX};
    qsort(t, total, sizeof *t, term_cmp);
    for (size_t i = 0; i < total; i++)
        if (t[i].idx != UINT64_MAX) rank[t[i].idx] = i;
    free(t);
    return true;
}

/* ---- the section ------------------------------------------------------------ */

#define VOCAB_SECTION_VERSION 1
enum { TCODEC_STORED = 0, TCODEC_ZSTD = 1, TCODEC_LZMA2 = 2, TCODEC_CM = 3 };
enum { TERMS_NEWLINE = 0, TERMS_LENGTHS = 1 };

static bool has_newline(const vocabulary *v)
{
    return v->nlisted && memchr(v->text, '\n', (size_t)v->toff[v->nlisted]) != NULL;
}

/* Raw LZMA2 with literal context for text; the options go before the data. */
/* A stream inside the section: varint raw length, varint stored length,
 * u8 codec, stored bytes.  Picks the smaller of zstd and (for terms) LZMA2. */
static tp_code put_stream(tp_ctx *ctx, const bytebuf *raw, int level, bool try_lzma, bytebuf *out)
{
    bytebuf z = {0}, x = {0}, m = {0};
    tp_code rc = zstd_compress_into(ctx, raw->data, raw->len, level, &z);
    if (rc) goto done;
    const bytebuf *best = &z;
    uint8_t codec = TCODEC_ZSTD;
    if (try_lzma && raw->len && lzma2_encode(raw->data, raw->len, 4, 0, 0, &x) && !x.failed && x.len < best->len)
        best = &x, codec = TCODEC_LZMA2;
    if (try_lzma && raw->len) {
        if ((rc = termcm_encode(ctx, raw->data, raw->len, &m))) goto done;
        if (m.len < best->len) best = &m, codec = TCODEC_CM;
    }
    if (raw->len <= best->len) best = raw, codec = TCODEC_STORED;
    bytebuf_varint(out, raw->len);
    bytebuf_varint(out, best->len);
    bytebuf_u8(out, codec);
    bytebuf_append(out, best->data, best->len);
done:
    bytebuf_free(&z);
    bytebuf_free(&x);
    bytebuf_free(&m);
    return rc;
}

static tp_code get_stream(tp_ctx *ctx, cursor *c, uint64_t max_raw, bytebuf *raw, uint64_t *stored)
{
    uint64_t rl = cursor_varint(c), sl = cursor_varint(c);
    uint8_t codec = cursor_u8(c);
    const uint8_t *p = cursor_take(c, (size_t)MIN_OF(sl, SIZE_MAX));
    if (c->bad || rl > max_raw || codec > TCODEC_CM || (codec == TCODEC_STORED && rl != sl))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a vocabulary stream is malformed");
    if (stored) *stored = sl;
    raw->len = 0;
    uint8_t *dst = bytebuf_grow(raw, (size_t)rl + 1);
    if (!dst) return ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary stream of %llu bytes", (unsigned long long)rl);
    raw->len = (size_t)rl;
    if (codec == TCODEC_STORED) {
        if (rl) memcpy(dst, p, (size_t)rl);
        return TP_OK;
    }
    if (codec == TCODEC_ZSTD) return zstd_decompress_exact(ctx, p, (size_t)sl, dst, (size_t)rl);
    if (codec == TCODEC_CM) return termcm_decode(ctx, p, (size_t)sl, dst, (size_t)rl);
    return lzma2_decode(ctx, p, (size_t)sl, dst, (size_t)rl, "the vocabulary terms");
}

tp_code vocab_section_write(tp_ctx *ctx, vocabulary *const *vs, size_t nv, int level, bytebuf *out)
{
    bytebuf meta = {0}, terms = {0};
    tp_code rc = TP_OK;
    uint64_t *rank = NULL;
    for (size_t k = 0; k < nv && !rc; k++) {
        const vocabulary *v = vs[k];
        bytebuf_u8(&meta, v->kind);
        bytebuf_u8(&meta, v->flags);
        bytebuf_u8(&meta, v->role);
        bytebuf_varint(&meta, v->n);
        bytebuf_varint(&meta, v->memo_first);
        bytebuf_varint(&meta, v->filler);
        if (v->flags & VF_NUMPY) {
            bytebuf_varint(&meta, v->np_scalar);
            bytebuf_varint(&meta, v->np_dtype);
            if (v->flags & VF_NUMPY_CODECS) {
                bytebuf_varint(&meta, v->np_encode);
                bytebuf_varint(&meta, v->np_latin1);
            }
        }
        bytebuf_varint(&meta, v->stream_len);
        bytebuf_varint(&meta, v->nbatches);
        for (size_t i = 0; i < v->nbatches; i++) bytebuf_varint(&meta, v->batches[i].count << 1 | v->batches[i].single);
        bytebuf_varint(&meta, v->nframes);
        for (size_t i = 0; i < v->nframes; i++) {
            bytebuf_varint(&meta, v->frames[i].off - (i ? v->frames[i - 1].off : 0));
            bytebuf_varint(&meta, v->frames[i].len);
        }
        bytebuf_varint(&meta, v->nraw);
        for (size_t i = 0; i < v->nraw; i++) {
            const vocab_raw *r = &v->raw[i];
            bytebuf_varint(&meta, r->pos - (i ? v->raw[i - 1].pos + 1 : 0));
            bytebuf_varint(&meta, r->puts);
            bytebuf_varint(&meta, r->blob_len);
            bytebuf_append(&meta, v->rawbuf + r->blob_off, (size_t)r->blob_len);
            bytebuf_varint(&meta, r->term_len);
            bytebuf_append(&meta, v->rawbuf + r->term_off, (size_t)r->term_len);
        }
        bytebuf_varint(&meta, v->ngets);
        for (size_t i = 0; i < v->ngets; i++) {
            bytebuf_varint(&meta, v->gets[i].pos - (i ? v->gets[i - 1].pos + 1 : 0));
            bytebuf_varint(&meta, v->gets[i].memo);
        }
        if (v->kind == VOCAB_DICT) {
            free(rank);
            rank = malloc((v->nlisted ? (size_t)v->nlisted : 1) * sizeof *rank);
            if (!rank || !listed_ranks(v, rank)) {
                rc = ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary ranks");
                break;
            }
            uint64_t nexc = 0;
            for (uint64_t i = 0; i < v->nlisted; i++) nexc += (uint64_t)v->ids[i] != rank[i];
            bytebuf_varint(&meta, nexc);
            uint64_t prev = 0;
            for (uint64_t i = 0; i < v->nlisted; i++) {
                if ((uint64_t)v->ids[i] == rank[i]) continue;
                bytebuf_varint(&meta, i - prev);
                bytebuf_svarint(&meta, (int64_t)((uint64_t)v->ids[i] - rank[i]));
                prev = i + 1;
            }
        }
        bool nl = has_newline(v);
        bytebuf_u8(&meta, nl ? TERMS_LENGTHS : TERMS_NEWLINE);
        bytebuf_varint(&meta, v->nlisted);
        for (uint64_t i = 0; i < v->nlisted; i++) {
            uint64_t a = v->toff[i], b = v->toff[i + 1];
            if (nl) bytebuf_varint(&terms, b - a);
            bytebuf_append(&terms, v->text + a, (size_t)(b - a));
            if (!nl) bytebuf_u8(&terms, '\n');
        }
    }
    free(rank);
    if (!rc && (meta.failed || terms.failed)) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary section");
    if (!rc) {
        bytebuf_u8(out, VOCAB_SECTION_VERSION);
        bytebuf_varint(out, nv);
        rc = put_stream(ctx, &meta, level, false, out);
        if (!rc) rc = put_stream(ctx, &terms, level, true, out);
        if (!rc && out->failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary section");
    }
    bytebuf_free(&meta);
    bytebuf_free(&terms);
    return rc;
}

#define CHECK(cond)                                                                                                  \
    do {                                                                                                             \
        if (!(cond)) goto corrupt;                                                                                   \
    } while (0)

static tp_code read_one(tp_ctx *ctx, cursor *c, cursor *t, uint64_t total_len, vocabulary *v)
{
    memset(v, 0, sizeof *v);
    v->kind = cursor_u8(c);
    v->flags = cursor_u8(c);
    v->role = cursor_u8(c);
    v->n = cursor_varint_max(c, total_len);
    v->memo_first = cursor_varint(c);
    v->filler = cursor_varint_max(c, total_len);
    if (v->flags & VF_NUMPY) {
        v->np_scalar = cursor_varint(c);
        v->np_dtype = cursor_varint(c);
        if (v->flags & VF_NUMPY_CODECS) {
            v->np_encode = cursor_varint(c);
            v->np_latin1 = cursor_varint(c);
        }
    }
    v->stream_len = cursor_varint_max(c, total_len);
    CHECK(!c->bad && v->kind <= VOCAB_LIST && !(v->flags & ~VF_ALL) && v->role <= ROLE_FEATURE_NAMES &&
          v->stream_len > 0);
    CHECK(!(v->flags & VF_NUMPY) || v->kind == VOCAB_DICT);
    /* each batch, frame, raw item and GET takes at least a byte of the range */
    /* every count is bounded by the bytes that describe its entries too,
     * so that a small section cannot ask for a large allocation */
    v->nbatches = (size_t)cursor_varint_max(c, MIN_OF(v->stream_len, cursor_left(c)));
    CHECK(!c->bad);
    v->batches = calloc(v->nbatches + 1, sizeof *v->batches);
    if (!v->batches) goto nomem;
    uint64_t items = 0;
    for (size_t i = 0; i < v->nbatches; i++) {
        uint64_t x = cursor_varint(c);
        v->batches[i].count = x >> 1;
        v->batches[i].single = x & 1;
        /* a single-item batch is one SETITEM or APPEND: sets have no such opcode */
        CHECK(!(v->batches[i].single && (v->batches[i].count != 1 || v->kind == VOCAB_SET)));
        CHECK(add_ok(items, x >> 1, &items) && items <= v->n);
    }
    CHECK(!c->bad && items == v->n);
    v->nframes = (size_t)cursor_varint_max(c, MIN_OF(v->stream_len / 9, cursor_left(c) / 2));
    CHECK(!c->bad);
    v->frames = calloc(v->nframes + 1, sizeof *v->frames);
    if (!v->frames) goto nomem;
    for (size_t i = 0; i < v->nframes; i++) {
        uint64_t d = cursor_varint(c);
        CHECK(add_ok(i ? v->frames[i - 1].off : 0, d, &v->frames[i].off) && v->frames[i].off <= v->stream_len);
        v->frames[i].len = cursor_varint(c);
    }
    v->nraw = (size_t)cursor_varint_max(c, MIN_OF(v->n, cursor_left(c) / 4));
    CHECK(!c->bad);
    v->raw = calloc(v->nraw + 1, sizeof *v->raw);
    if (!v->raw) goto nomem;
    size_t rawbytes = 0;
    const uint8_t *rawstart = c->data + c->pos;
    for (size_t i = 0; i < v->nraw; i++) {
        vocab_raw *r = &v->raw[i];
        uint64_t d = cursor_varint(c);
        CHECK(add_ok(i ? v->raw[i - 1].pos + 1 : 0, d, &r->pos) && r->pos < v->n);
        r->puts = cursor_varint_max(c, v->stream_len);
        r->blob_len = cursor_varint_max(c, v->stream_len);
        r->blob_off = (uint64_t)(c->data + c->pos - rawstart);
        cursor_take(c, (size_t)r->blob_len);
        r->term_len = cursor_varint_max(c, total_len);
        r->term_off = (uint64_t)(c->data + c->pos - rawstart);
        cursor_take(c, (size_t)r->term_len);
        CHECK(!c->bad);
        rawbytes = (size_t)(c->data + c->pos - rawstart);
    }
    if (v->nraw) {
        v->rawbuf = malloc(rawbytes);
        if (!v->rawbuf) goto nomem;
        memcpy(v->rawbuf, rawstart, rawbytes);
        v->rawbuf_len = rawbytes;
    }
    v->ngets = (size_t)cursor_varint_max(c, MIN_OF(v->n, cursor_left(c) / 2));
    CHECK(!c->bad);
    v->gets = calloc(v->ngets + 1, sizeof *v->gets);
    if (!v->gets) goto nomem;
    for (size_t i = 0; i < v->ngets; i++) {
        uint64_t d = cursor_varint(c);
        CHECK(add_ok(i ? v->gets[i - 1].pos + 1 : 0, d, &v->gets[i].pos) && v->gets[i].pos < v->n);
        v->gets[i].memo = cursor_varint(c);
    }
    CHECK(!c->bad && v->nraw <= v->n);
    v->nlisted = v->n - v->nraw;
    uint64_t nexc = 0;
    const uint8_t *exc_at = NULL;
    if (v->kind == VOCAB_DICT) {
        nexc = cursor_varint_max(c, v->nlisted);
        exc_at = c->data + c->pos;
        for (uint64_t i = 0; i < nexc; i++) {
            cursor_varint(c);
            cursor_varint(c);
        }
    }
    uint8_t coding = cursor_u8(c);
    uint64_t nl = cursor_varint(c);
    /* each listed term takes at least a byte of the terms stream */
    CHECK(!c->bad && coding <= TERMS_LENGTHS && nl == v->nlisted && nl <= cursor_left(t));
    /* terms: one pass for the offsets, one to copy them out */
    v->toff = malloc(((size_t)v->nlisted + 1) * sizeof *v->toff);
    if (!v->toff) goto nomem;
    size_t t0 = t->pos;
    v->toff[0] = 0;
    for (uint64_t i = 0; i < v->nlisted; i++) {
        uint64_t l;
        if (coding == TERMS_LENGTHS) {
            l = cursor_varint_max(t, t->len);
            CHECK(cursor_take(t, (size_t)l));
        } else {
            const uint8_t *p = t->data + t->pos;
            const uint8_t *nlp = t->pos < t->len ? memchr(p, '\n', t->len - t->pos) : NULL;
            CHECK(nlp);
            l = (uint64_t)(nlp - p);
            t->pos += (size_t)l + 1;
        }
        v->toff[i + 1] = v->toff[i] + l;
    }
    v->text = malloc(v->nlisted ? (size_t)v->toff[v->nlisted] + 1 : 1);
    if (!v->text) goto nomem;
    {
        cursor r = cursor_make(t->data, t->len);
        r.pos = t0;
        for (uint64_t i = 0; i < v->nlisted; i++) {
            uint64_t l = v->toff[i + 1] - v->toff[i];
            if (coding == TERMS_LENGTHS) cursor_varint(&r);
            memcpy(v->text + v->toff[i], cursor_take(&r, (size_t)l), (size_t)l);
            if (coding == TERMS_NEWLINE) cursor_take(&r, 1);
        }
    }
    /* ids: ranks, then the exceptions */
    if (v->kind == VOCAB_DICT) {
        v->ids = malloc(((size_t)v->nlisted + 1) * sizeof *v->ids);
        uint64_t *rank = malloc(((size_t)v->nlisted + 1) * sizeof *rank);
        if (!v->ids || !rank || !listed_ranks(v, rank)) {
            free(rank);
            goto nomem;
        }
        for (uint64_t i = 0; i < v->nlisted; i++) v->ids[i] = (int64_t)rank[i];
        free(rank);
        cursor e = cursor_make(exc_at, (size_t)(c->data + c->pos - exc_at));
        uint64_t at = 0;
        for (uint64_t i = 0; i < nexc; i++) {
            uint64_t d = cursor_varint(&e);
            int64_t delta = unzigzag(cursor_varint(&e));
            CHECK(!e.bad && add_ok(at, d, &at) && at < v->nlisted);
            v->ids[at] = (int64_t)((uint64_t)v->ids[at] + (uint64_t)delta);
            at++;
        }
    }
    return TP_OK;
corrupt:
    vocab_free(v);
    return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the vocabulary section is malformed");
nomem:
    vocab_free(v);
    return ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary");
}

tp_code vocab_section_read(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t total_len, vocabulary **out,
                              size_t *nout)
{
    *out = NULL;
    *nout = 0;
    cursor c = cursor_make(data, len);
    uint8_t version = cursor_u8(&c);
    uint64_t nv = cursor_varint_max(&c, total_len / 3);
    if (c.bad || version != VOCAB_SECTION_VERSION)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the vocabulary section is malformed (version %u)", version);
    bytebuf meta = {0}, terms = {0};
    tp_code rc = get_stream(ctx, &c, total_len * 4 + 64, &meta, NULL);
    /* a term may be written once and used again through the memo (the
     * keys of DictVectorizer.vocabulary_ are GETs of feature_names_), so
     * the terms may add up to more than the original: bounded all the same */
    if (!rc) rc = get_stream(ctx, &c, total_len * 8 + 4096, &terms, NULL);
    if (!rc && cursor_left(&c)) rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the vocabulary section has trailing bytes");
    vocabulary *v = rc ? NULL : calloc((size_t)nv + 1, sizeof *v);
    if (!rc && !v) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "vocabularies");
    size_t k = 0;
    cursor mc = cursor_make(meta.data, meta.len), tc = cursor_make(terms.data, terms.len);
    for (; !rc && k < nv; k++) rc = read_one(ctx, &mc, &tc, total_len, &v[k]);
    if (!rc && (cursor_left(&mc) || cursor_left(&tc)))
        rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the vocabulary section has trailing bytes");
    bytebuf_free(&meta);
    bytebuf_free(&terms);
    if (rc) {
        for (size_t i = 0; i < k; i++) vocab_free(&v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *nout = (size_t)nv;
    return TP_OK;
}

