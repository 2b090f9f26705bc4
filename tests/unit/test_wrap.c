/*
 * test_wrap.c - compressed joblib files: detection, decompression within
 * the memory limit, settings that reproduce the file, the section, and
 * compressing again on expand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format/container.h"
#include "format/wrap.h"

/* A stream with some structure, ~300 kB, a few WRAP_CHUNKs would be too
 * slow for xz in a unit test; chunking is exercised with a small chunk
 * boundary anyway because the writer gets odd-sized pieces. */
static uint8_t *make_stream(size_t n)
{
    uint8_t *s = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (uint8_t)((i % 97 < 60) ? (i / 7) : (x >> 24));
    }
    return s;
}

typedef struct mem {
    uint8_t *p;
    size_t n, cap;
} mem;

static int mem_write(void *opaque, const void *data, size_t len)
{
    mem *m = opaque;
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return 0;
}

/* A sink that takes cap bytes and refuses more. */
static int mem_write_until(void *opaque, const void *data, size_t len)
{
    mem *m = opaque;
    if (m->n + len > m->cap) return 1;
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return 0;
}

/* Compress with the libraries directly, as joblib (through Python) does. */
static size_t compress_with(int method, int level, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    switch (method) {
    case WRAP_ZLIB:
    case WRAP_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof z);
        assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, method == WRAP_GZIP ? 31 : 15, 8, 0), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t r = cap - z.avail_out;
        deflateEnd(&z);
        return r;
    }
    case WRAP_BZ2: {
        unsigned r = (unsigned)cap;
        assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out, &r, (char *)(uintptr_t)in, (unsigned)n, level, 0, 0),
                         BZ_OK);
        return r;
    }
    case WRAP_XZ:
    case WRAP_LZMA: {
        /* the streaming encoders, as Python's lzma module uses them (the
         * one-shot lzma_easy_buffer_encode writes sizes into the block
         * header, which joblib's files never have) */
        lzma_options_lzma o;
        lzma_lzma_preset(&o, (uint32_t)level);
        lzma_stream s = LZMA_STREAM_INIT;
        if (method == WRAP_XZ)
            assert_int_equal(lzma_easy_encoder(&s, (uint32_t)level, LZMA_CHECK_CRC64), LZMA_OK);
        else
            assert_int_equal(lzma_alone_encoder(&s, &o), LZMA_OK);
        s.next_in = in;
        s.avail_in = n;
        s.next_out = out;
        s.avail_out = cap;
        assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
        size_t r = cap - s.avail_out;
        lzma_end(&s);
        return r;
    }
    case WRAP_LZ4: {
        LZ4F_preferences_t p;
        memset(&p, 0, sizeof p);
        p.compressionLevel = level;
        size_t r = LZ4F_compressFrame(out, cap, in, n, &p);
        assert_false(LZ4F_isError(r));
        return r;
    }
    }
    fail();
    return 0;
}

static void each_method_is_reproduced(void **state)
{
    (void)state;
    const size_t n = 300000;
    uint8_t *stream = make_stream(n);
    size_t cap = n * 2 + 1024;
    uint8_t *file = malloc(cap);
    static const struct {
        int method, level;
    } cases[] = {{WRAP_ZLIB, 3}, {WRAP_ZLIB, 9}, {WRAP_GZIP, 1}, {WRAP_GZIP, 5}, {WRAP_BZ2, 9}, {WRAP_BZ2, 2},
                 {WRAP_XZ, 1},   {WRAP_LZMA, 0}, {WRAP_LZ4, 0},  {WRAP_LZ4, 9}};
    tp_ctx *ctx = tp_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = compress_with(cases[i].method, cases[i].level, stream, n, file, cap);
        wrap_info w;
        ctx_reset(ctx);
        assert_int_equal(wrap_open(ctx, file, len, NULL, &w), TP_OK);
        assert_int_equal(w.method, cases[i].method);
        assert_int_equal(w.stream.len, n);
        assert_memory_equal(w.stream.data, stream, n);
        if (!w.exact) fail_msg("case %zu (method %d level %d) not reproduced", i, cases[i].method, cases[i].level);
        assert_int_equal(w.suffix_len, 0);

        /* through the section and back */
        bytebuf sec = {0};
        wrap_serialize(&w, &sec);
        wrap_info r;
        assert_int_equal(wrap_parse(ctx, &sec, &r), TP_OK);
        assert_int_equal(r.method, w.method);
        assert_int_equal(r.level, w.level);

        /* the writer, fed in odd pieces, gives the file back */
        mem out = {0};
        tp_sink next = {.write = mem_write, .opaque = &out}, as;
        wrap_writer *ww;
        assert_int_equal(wrap_writer_new(ctx, &r, n, &next, &ww, &as), TP_OK);
        for (size_t at = 0; at < n;) {
            size_t k = (at * 7 + 1000) % 70001 + 1;
            if (k > n - at) k = n - at;
            assert_int_equal(as.write(as.opaque, stream + at, k), 0);
            at += k;
        }
        assert_int_equal(wrap_writer_finish(ww), TP_OK);
        wrap_writer_free(ww);
        assert_int_equal(out.n, len);
        assert_memory_equal(out.p, file, len);
        free(out.p);
        wrap_free(&r);
        bytebuf_free(&sec);
        wrap_free(&w);
    }
    tp_ctx_free(ctx);
    free(file);
    free(stream);
}

/* A gzip header with every optional field (as other writers make them):
 * kept as it is, and the file still comes back byte for byte. */
static void any_gzip_header(void **state)
{
    (void)state;
    const size_t n = 100000;
    uint8_t *stream = make_stream(n);
    size_t cap = 2 * n + 256;
    uint8_t *file = malloc(cap);
    static const uint8_t head[] = {0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 1, 2, 3, 4, 0, 3, 3, 0, 'a', 'b', 'c',
                                   'm', '.', 'p', 'k', 'l', 0, 'h', 'i', 0, 0x12, 0x34};
    memcpy(file, head, sizeof head);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, 0), Z_OK);
    z.next_in = stream;
    z.avail_in = (uInt)n;
    z.next_out = file + sizeof head;
    z.avail_out = (uInt)(cap - sizeof head - 8);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = sizeof head + z.total_out;
    deflateEnd(&z);
    uint32_t crc = (uint32_t)crc32(0, stream, (uInt)n);
    for (int i = 0; i < 4; i++) file[len++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) file[len++] = (uint8_t)(n >> (8 * i));
    tp_ctx *ctx = tp_ctx_new();
    wrap_info w;
    assert_int_equal(wrap_open(ctx, file, len, NULL, &w), TP_OK);
    assert_int_equal(w.method, WRAP_GZIP);
    assert_int_equal(w.prefix_len, sizeof head);
    assert_int_equal(w.exact, 1); /* at level 6, or a level whose output is the same */
    wrap_free(&w);
    /* a wrong CRC is corruption */
    file[len - 8] ^= 1;
    ctx_reset(ctx);
    assert_int_equal(wrap_open(ctx, file, len, NULL, &w), TP_E_JOBLIB);
    /* a header cut in its file name */
    ctx_reset(ctx);
    assert_int_equal(wrap_open(ctx, file, 17, NULL, &w), TP_E_JOBLIB);
    tp_ctx_free(ctx);
    free(file);
    free(stream);
}

static void not_compressed_is_none(void **state)
{
    (void)state;
    wrap_info w;
    tp_ctx *ctx = tp_ctx_new();
    assert_int_equal(wrap_open(ctx, (const uint8_t *)"\x80\x04N.", 4, NULL, &w), TP_OK);
    assert_int_equal(w.method, WRAP_NONE);
    assert_null(w.stream.data);
    tp_ctx_free(ctx);
}

/* A zlib bomb stops at the memory limit; nothing a header claims is
 * allocated. */
static void decompression_is_bounded(void **state)
{
    (void)state;
    const size_t n = 64u << 20;
    uint8_t *zeros = calloc(n, 1);
    size_t cap = LZ4F_compressFrameBound(n, NULL);
    uint8_t *file = malloc(cap);
    tp_ctx *ctx = tp_ctx_new();
    int methods[] = {WRAP_ZLIB, WRAP_BZ2, WRAP_LZ4};
    for (int i = 0; i < 3; i++) {
        size_t len = compress_with(methods[i], 1, zeros, n, file, cap);
        tp_limits lim = {.max_memory = 1u << 20};
        wrap_info w;
        ctx_reset(ctx);
        assert_int_equal(wrap_open(ctx, file, len, &lim, &w), TP_E_LIMIT_MEMORY);
        assert_null(w.stream.data);
    }
    tp_ctx_free(ctx);
    free(file);
    free(zeros);
}

static void truncated_and_corrupt_streams_fail(void **state)
{
    (void)state;
    const size_t n = 50000;
    uint8_t *stream = make_stream(n);
    size_t cap = n * 2;
    uint8_t *file = malloc(cap);
    tp_ctx *ctx = tp_ctx_new();
    int methods[] = {WRAP_ZLIB, WRAP_GZIP, WRAP_BZ2, WRAP_XZ, WRAP_LZMA, WRAP_LZ4};
    for (int i = 0; i < 6; i++) {
        size_t len = compress_with(methods[i], 1, stream, n, file, cap);
        wrap_info w;
        for (size_t cut = 1; cut < len; cut += 1 + len / 40) {
            ctx_reset(ctx);
            tp_code rc = wrap_open(ctx, file, cut, NULL, &w);
            if (rc == TP_OK) { /* a prefix that happens to end a stream: then it is shorter */
                assert_true(w.stream.len < n);
                wrap_free(&w);
            } else {
                assert_true(rc == TP_E_JOBLIB);
            }
        }
        /* flip bytes in the middle: an error or another stream, never a crash */
        for (size_t at = 12; at < len; at += 1 + len / 30) {
            file[at] ^= 0x55;
            ctx_reset(ctx);
            if (wrap_open(ctx, file, len, NULL, &w) == TP_OK) wrap_free(&w);
            file[at] ^= 0x55;
        }
    }
    tp_ctx_free(ctx);
    free(file);
    free(stream);
}

/* Bytes after the compressed stream are kept as they are; a stream the
 * usual settings cannot produce is marked not exact. */
static void suffix_and_inexact(void **state)
{
    (void)state;
    const size_t n = 40000;
    uint8_t *stream = make_stream(n);
    uint8_t *file = malloc(2 * n);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15, 9, Z_FILTERED), Z_OK);
    z.next_in = stream;
    z.avail_in = (uInt)n;
    z.next_out = file;
    z.avail_out = (uInt)(2 * n);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = 2 * n - z.avail_out;
    deflateEnd(&z);
    memcpy(file + len, "TAIL", 4);
    tp_ctx *ctx = tp_ctx_new();
    wrap_info w;
    assert_int_equal(wrap_open(ctx, file, len + 4, NULL, &w), TP_OK);
    assert_int_equal(w.method, WRAP_ZLIB);
    assert_int_equal(w.exact, 0);
    assert_int_equal(w.suffix_len, 4);
    assert_memory_equal(w.suffix, "TAIL", 4);
    /* the writer still ends with the tail, and does not claim the file */
    mem out = {0};
    tp_sink next = {.write = mem_write, .opaque = &out}, as;
    wrap_writer *ww;
    assert_int_equal(wrap_writer_new(ctx, &w, n, &next, &ww, &as), TP_OK);
    assert_int_equal(as.write(as.opaque, stream, n), 0);
    assert_int_equal(wrap_writer_finish(ww), TP_OK);
    wrap_writer_free(ww);
    assert_memory_equal(out.p + out.n - 4, "TAIL", 4);
    uLongf dl = n;
    uint8_t *back = malloc(n);
    assert_int_equal(uncompress(back, &dl, out.p, out.n - 4), Z_OK);
    assert_int_equal(dl, n);
    assert_memory_equal(back, stream, n);
    /* an exact wrap whose checksum does not match is a mismatch */
    w.exact = 1;
    out.n = 0;
    assert_int_equal(wrap_writer_new(ctx, &w, n, &next, &ww, &as), TP_OK);
    assert_int_equal(as.write(as.opaque, stream, n), 0);
    assert_int_equal(wrap_writer_finish(ww), TP_E_MISMATCH);
    wrap_writer_free(ww);
    free(back);
    free(out.p);
    wrap_free(&w);
    tp_ctx_free(ctx);
    free(file);
    free(stream);
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("TP_FIXTURES");
    if (!dir) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*len + 1);
    assert_int_equal(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

/* The whole path through the public API, and the two steps an expand
 * that inspects the stream before writing it takes instead. */
static void container_round_trip_and_rewrap(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *file = read_fixture("gb_classifier_multiclass.joblib.gz", &len);
    if (!file) skip();
    tp_ctx *ctx = tp_ctx_new();
    mem c = {0}, e = {0}, st = {0}, back = {0};
    tp_sink cs = {.write = mem_write, .opaque = &c}, es = {.write = mem_write, .opaque = &e}, ss = {.write = mem_write, .opaque = &st}, bs = {.write = mem_write, .opaque = &back};
    tp_report rep;
    tp_report_init(&rep);
    assert_int_equal(tp_compress(ctx, file, len, NULL, &cs, &rep), TP_OK);
    assert_string_equal(rep.wrapper, "gzip");
    assert_int_equal(rep.wrapper_exact, 1);
    assert_int_equal(rep.original_size, len);
    assert_true(rep.stream_size > len);
    assert_int_equal(rep.trees, 80);
    assert_int_equal(rep.nested_pickles, 1);
    assert_int_equal(tp_expand(ctx, c.p, c.n, NULL, &es, NULL), TP_OK);
    assert_int_equal(e.n, len);
    assert_memory_equal(e.p, file, len);
    int wrapped = 0;
    assert_int_equal(expand_stream(ctx, c.p, c.n, NULL, &ss, NULL, &wrapped), TP_OK);
    assert_int_equal(wrapped, 1);
    assert_int_equal(st.n, rep.stream_size);
    assert_int_equal(st.p[0], 0x80); /* a pickle */
    assert_int_equal(wrap_rewrap(ctx, c.p, c.n, st.p, st.n, &bs), TP_OK);
    assert_int_equal(back.n, len);
    assert_memory_equal(back.p, file, len);
    /* a sink that refuses, at a few points: the cause is the sink */
    for (size_t at = 0; at < len; at += len / 5 + 1) {
        mem f = {0};
        tp_sink fs = {.write = mem_write_until, .opaque = &f};
        f.cap = at; /* mem_write_until refuses past cap */
        f.p = malloc(at + 1);
        ctx_reset(ctx);
        assert_int_equal(tp_expand(ctx, c.p, c.n, NULL, &fs, NULL), TP_E_WRITE);
        assert_non_null(strstr(tp_ctx_message(ctx), "refused"));
        free(f.p);
    }
    /* info tells the same as compress */
    tp_report info;
    tp_report_init(&info);
    assert_int_equal(tp_info(ctx, c.p, c.n, &info), TP_OK);
    assert_string_equal(info.wrapper, "gzip");
    assert_int_equal(info.wrapper_level, 3);
    assert_int_equal(info.stream_size, rep.stream_size);
    assert_memory_equal(info.stream_checksum, rep.stream_checksum, 16);
    assert_memory_equal(info.checksum, rep.checksum, 16);
    assert_int_equal(info.arrays, rep.arrays);
    free(c.p), free(e.p), free(st.p), free(back.p);
    free(file);
    tp_ctx_free(ctx);
}

static void malformed_sections_are_refused(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    static const uint8_t good[] = {1, WRAP_GZIP, 1, 6, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t cut = 0; cut < sizeof good; cut++) {
        bytebuf b = {0};
        bytebuf_append(&b, good, cut);
        wrap_info w;
        ctx_reset(ctx);
        assert_int_equal(wrap_parse(ctx, &b, &w), TP_E_TPK_CORRUPT);
        bytebuf_free(&b);
    }
    bytebuf b = {0};
    bytebuf_append(&b, good, sizeof good);
    wrap_info w;
    assert_int_equal(wrap_parse(ctx, &b, &w), TP_OK);
    assert_int_equal(w.level, 3);
    wrap_free(&w);
    /* unknown method, bad level */
    uint8_t bad[sizeof good];
    memcpy(bad, good, sizeof good);
    bad[1] = 99;
    bytebuf_append(&b, bad, sizeof bad);
    ctx_reset(ctx);
    assert_int_equal(wrap_parse(ctx, &b, &w), TP_E_TPK_CORRUPT);
    memcpy(bad, good, sizeof good);
    bad[3] = 40; /* level 20 */
    bytebuf_append(&b, bad, sizeof bad);
    ctx_reset(ctx);
    assert_int_equal(wrap_parse(ctx, &b, &w), TP_E_TPK_CORRUPT);
    bytebuf_free(&b);
    tp_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_method_is_reproduced),
        cmocka_unit_test(not_compressed_is_none),
        cmocka_unit_test(any_gzip_header),
        cmocka_unit_test(decompression_is_bounded),
        cmocka_unit_test(truncated_and_corrupt_streams_fail),
        cmocka_unit_test(suffix_and_inexact),
        cmocka_unit_test(malformed_sections_are_refused),
        cmocka_unit_test(container_round_trip_and_rewrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
