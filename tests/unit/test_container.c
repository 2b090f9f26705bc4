/*
 * test_container.c - the .tpk container (writer, parser, section reader)
 * and the public operations on top of it: tp_compress, tp_expand, tp_info.
 */
#include <malloc.h>

#include "helpers.h"

#include <xxhash.h>

#include "base/cursor.h"
#include "format/container.h"
#include "base/skeleton_dict.h"
#include "format/splice.h"
#include "numpy/npy.h"

/* ---- a small container written into memory ----------------------------------------- */

typedef struct built {
    tt_membuf m;
    size_t sec_at[8]; /* offsets of the section headers, END last */
    size_t nsec;
    uint8_t skeleton[1000];
    uint8_t trees[300];
} built;

static const char layouts_payload[] = "hello layouts";

/* header, SKELETON (zstd), LAYOUTS (stored), [extra], TREES (stored), END */
static void build(built *b, int extra_kind, uint16_t extra_flags, int end_count_delta)
{
    memset(b, 0, sizeof *b);
    tp_sink sink = tt_membuf_sink(&b->m);
    tp_ctx *ctx = tp_ctx_new();
    tpk_writer w = {ctx, &sink, 0, 0, 1}; /* version 1 */
    tpk_header h;
    memset(&h, 0, sizeof h);
    h.original_size = 123456;
    for (int i = 0; i < 16; i++) h.checksum[i] = (uint8_t)(i * 17);
    snprintf(h.name, sizeof h.name, "model.pkl");
    assert_int_equal(tpk_write_header(&w, &h), TP_OK);
    assert_int_equal(w.written, 50 + 9);
    for (size_t i = 0; i < sizeof b->skeleton; i++) b->skeleton[i] = (uint8_t)(i % 7 == 0 ? i : 'a' + i % 3);
    tt_rng rng = {3};
    tt_fill(&rng, b->trees, sizeof b->trees);
    uint64_t count = 0;
    b->sec_at[b->nsec++] = w.written;
    assert_int_equal(tpk_write_zstd_section(&w, SEC_SKELETON, b->skeleton, sizeof b->skeleton, 3), TP_OK);
    count++;
    b->sec_at[b->nsec++] = w.written;
    assert_int_equal(tpk_write_section(&w, SEC_LAYOUTS, SEC_REQUIRED, CODEC_STORED, layouts_payload,
                                       sizeof layouts_payload - 1, sizeof layouts_payload - 1),
                     TP_OK);
    count++;
    if (extra_kind >= 0) {
        b->sec_at[b->nsec++] = w.written;
        assert_int_equal(tpk_write_section(&w, (uint16_t)extra_kind, extra_flags, CODEC_STORED, "xyz", 3, 3), TP_OK);
        count++;
    }
    b->sec_at[b->nsec++] = w.written;
    assert_int_equal(tpk_write_section(&w, SEC_TREES, SEC_REQUIRED, CODEC_STORED, b->trees, sizeof b->trees,
                                       sizeof b->trees),
                     TP_OK);
    count++;
    b->sec_at[b->nsec++] = w.written;
    assert_int_equal(tpk_write_end(&w, (uint64_t)((int64_t)count + end_count_delta)), TP_OK);
    assert_int_equal(w.written, b->m.len);
    tp_ctx_free(ctx);
}

/* Parse an exact-size copy (so that ASan sees reads past the end). */
static tp_code parse_copy(const uint8_t *data, size_t len, tp_ctx *ctx, tpk_header *h, tpk_section **secs,
                          size_t *n)
{
    uint8_t *c = malloc(len ? len : 1);
    if (len) memcpy(c, data, len);
    ctx_reset(ctx);
    tp_code rc = tpk_parse(ctx, c, len, h, secs, n);
    assert_int_equal(tp_ctx_code(ctx), rc);
    if (rc) {
        assert_null(*secs);
        assert_int_equal(*n, 0);
    }
    free(c);
    return rc;
}

static void write_then_parse(void **state)
{
    (void)state;
    built b;
    build(&b, -1, 0, 0);
    assert_true(tp_is_container(b.m.data, b.m.len));
    assert_false(tp_is_container(b.m.data, 7));
    tp_ctx *ctx = tp_ctx_new();
    tpk_header h;
    tpk_section *secs;
    size_t n;
    assert_int_equal(tpk_parse(ctx, b.m.data, b.m.len, &h, &secs, &n), TP_OK);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.original_size, 123456);
    assert_int_equal(h.checksum[15], 15 * 17);
    assert_string_equal(h.name, "model.pkl");
    assert_int_equal(h.header_size, 59);
    assert_int_equal(n, 3);
    assert_int_equal(secs[0].kind, SEC_SKELETON);
    assert_int_equal(secs[0].codec, CODEC_ZSTD);
    assert_int_equal(secs[0].flags, SEC_REQUIRED);
    assert_int_equal(secs[0].raw_len, sizeof b.skeleton);
    assert_int_equal(secs[0].offset, b.sec_at[0] + TPK_VERSION_1_SECTION_HEADER);
    assert_int_equal(secs[1].kind, SEC_LAYOUTS);
    assert_int_equal(secs[1].codec, CODEC_STORED);
    assert_int_equal(secs[1].stored_len, sizeof layouts_payload - 1);
    assert_int_equal(secs[2].kind, SEC_TREES);
    assert_int_equal(secs[2].offset, b.sec_at[2] + TPK_VERSION_1_SECTION_HEADER);
    bytebuf out = {0};
    assert_int_equal(tpk_section_read(ctx, b.m.data, &secs[0], &out), TP_OK);
    assert_int_equal(out.len, sizeof b.skeleton);
    assert_memory_equal(out.data, b.skeleton, sizeof b.skeleton);
    assert_int_equal(tpk_section_read(ctx, b.m.data, &secs[1], &out), TP_OK);
    assert_int_equal(out.len, sizeof layouts_payload - 1);
    assert_memory_equal(out.data, layouts_payload, out.len);
    assert_int_equal(tpk_section_read(ctx, b.m.data, &secs[2], &out), TP_OK);
    assert_memory_equal(out.data, b.trees, sizeof b.trees);
    bytebuf_free(&out);
    free(secs);
    assert_string_equal(tpk_kind_name(SEC_SKELETON), "skeleton");
    assert_string_equal(tpk_kind_name(999), "unknown");
    /* a header with an empty name, and one with the longest */
    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    tpk_writer w = {ctx, &sink, 0, 0, 1}; /* version 1 */
    tpk_header hh;
    memset(&hh, 0, sizeof hh);
    assert_int_equal(tpk_write_header(&w, &hh), TP_OK);
    assert_int_equal(tpk_write_end(&w, 0), TP_OK);
    assert_int_equal(tpk_parse(ctx, m.data, m.len, &h, &secs, &n), TP_OK);
    assert_int_equal(n, 0);
    assert_string_equal(h.name, "");
    free(secs);
    tt_membuf_free(&m);
    sink = tt_membuf_sink(&m);
    w.written = 0;
    memset(hh.name, 'n', TPK_NAME_MAX);
    hh.name[TPK_NAME_MAX] = 0;
    assert_int_equal(tpk_write_header(&w, &hh), TP_OK);
    assert_int_equal(tpk_write_end(&w, 0), TP_OK);
    assert_int_equal(tpk_parse(ctx, m.data, m.len, &h, &secs, &n), TP_OK);
    assert_int_equal(strlen(h.name), TPK_NAME_MAX);
    free(secs);
    tt_membuf_free(&m);
    tt_membuf_free(&b.m);
    tp_ctx_free(ctx);
}

static void every_truncation_fails(void **state)
{
    (void)state;
    built b;
    build(&b, -1, 0, 0);
    tp_ctx *ctx = tp_ctx_new();
    tpk_header h;
    tpk_section *secs;
    size_t n;
    for (size_t cut = 0; cut < b.m.len; cut++) {
        tp_code rc = parse_copy(b.m.data, cut, ctx, &h, &secs, &n);
        if (cut < TPK_MAGIC_LEN) {
            assert_int_equal(rc, TP_E_NOT_TPK);
        } else {
            if (rc != TP_E_TPK_TRUNCATED && rc != TP_E_TPK_CORRUPT)
                print_message("cut %zu: %s\n", cut, tp_ctx_message(ctx));
            assert_true(rc == TP_E_TPK_TRUNCATED || rc == TP_E_TPK_CORRUPT);
        }
    }
    tp_ctx_free(ctx);
    tt_membuf_free(&b.m);
}

/* Read every section the parser returns. */
static tp_code parse_and_read(tp_ctx *ctx, const uint8_t *data, size_t len)
{
    tpk_header h;
    tpk_section *secs;
    size_t n;
    tp_code rc = parse_copy(data, len, ctx, &h, &secs, &n);
    if (rc) return rc;
    bytebuf out = {0};
    for (size_t i = 0; i < n && !rc; i++) rc = tpk_section_read(ctx, data, &secs[i], &out);
    bytebuf_free(&out);
    free(secs);
    return rc;
}

static void every_bit_flip_is_noticed(void **state)
{
    (void)state;
    built b;
    build(&b, -1, 0, 0);
    tp_ctx *ctx = tp_ctx_new();
    size_t accepted = 0;
    for (size_t at = 0; at < b.m.len; at++)
        for (int bit = 0; bit < 8; bit++) {
            b.m.data[at] ^= (uint8_t)(1u << bit);
            tp_code rc = parse_and_read(ctx, b.m.data, b.m.len);
            b.m.data[at] ^= (uint8_t)(1u << bit);
            if (rc == TP_OK) {
                /* The section headers (kind, flags, codec, lengths) are
                 * covered by no checksum.  What passes here must be a
                 * kind or flags bit; the lengths and codec are checked by
                 * framing and decoding, and expand checks the rest. */
                bool in_kind_or_flags = false;
                for (size_t s = 0; s < b.nsec; s++)
                    if (at >= b.sec_at[s] && at < b.sec_at[s] + 4) in_kind_or_flags = true;
                /* END carries no payload: its codec byte is not looked at */
                if (at == b.sec_at[b.nsec - 1] + 4) in_kind_or_flags = true;
                if (!in_kind_or_flags)
                    print_message("byte %zu bit %d: accepted (sections at %zu %zu %zu %zu)\n", at, bit, b.sec_at[0],
                                  b.sec_at[1], b.sec_at[2], b.sec_at[3]);
                assert_true(in_kind_or_flags);
                accepted++;
                continue;
            }
            if (!(rc == TP_E_NOT_TPK || rc == TP_E_TPK_VERSION || rc == TP_E_TPK_TRUNCATED ||
                  rc == TP_E_TPK_CHECKSUM || rc == TP_E_TPK_UNKNOWN || rc == TP_E_TPK_CORRUPT ||
                  rc == TP_E_LIMIT_SIZE))
                print_message("byte %zu bit %d: %s\n", at, bit, tp_ctx_message(ctx));
            /* (a raw length with its top bit set is refused as too large) */
            assert_true(rc == TP_E_NOT_TPK || rc == TP_E_TPK_VERSION || rc == TP_E_TPK_TRUNCATED ||
                        rc == TP_E_TPK_CHECKSUM || rc == TP_E_TPK_UNKNOWN || rc == TP_E_TPK_CORRUPT ||
                        rc == TP_E_LIMIT_SIZE);
            /* inside the header or a payload, it is the checksum */
            bool in_header_sums = at >= 12 && at < 59 - 8;
            if (in_header_sums) assert_true(rc == TP_E_TPK_CHECKSUM || rc == TP_E_TPK_CORRUPT || rc == TP_E_TPK_TRUNCATED);
            for (size_t s = 0; s + 1 < b.nsec; s++)
                if (at >= b.sec_at[s] + TPK_VERSION_1_SECTION_HEADER && at < b.sec_at[s + 1])
                    assert_int_equal(rc, TP_E_TPK_CHECKSUM);
        }
    print_message("%zu of %zu bit flips pass the container checks (section kind/flags bits, END's codec)\n", accepted,
                  b.m.len * 8);
    tp_ctx_free(ctx);
    tt_membuf_free(&b.m);
}

static void refusals(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    tpk_header h;
    tpk_section *secs;
    size_t n;
    built b;
    build(&b, -1, 0, 0);
    uint8_t *d = b.m.data;

    /* bad magic, empty input */
    d[3] ^= 0x20;
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_NOT_TPK);
    assert_int_equal(tp_ctx_offset(ctx), 0);
    d[3] ^= 0x20;
    assert_int_equal(parse_copy(d, 0, ctx, &h, &secs, &n), TP_E_NOT_TPK);

    /* a version from the future, even with a good header checksum */
    d[8] = 3;
    store_le64(d + 51, checksum64(d, 51));
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_VERSION);
    assert_int_equal(tp_ctx_offset(ctx), 8);
    assert_non_null(strstr(tp_ctx_message(ctx), "version 3"));
    d[8] = 0;
    store_le64(d + 51, checksum64(d, 51));
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_VERSION);
    d[8] = 1;
    store_le64(d + 51, checksum64(d, 51));
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_OK);
    free(secs);

    /* reserved header bits, even with a good checksum */
    d[9] = 1;
    store_le64(d + 51, checksum64(d, 51));
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[9] = 0;
    d[13] = 1;
    store_le64(d + 51, checksum64(d, 51));
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[13] = 0;
    store_le64(d + 51, checksum64(d, 51));

    /* the header checksum */
    d[45] ^= 1; /* a letter of the name */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CHECKSUM);
    d[45] ^= 1;

    /* a section's reserved bytes, codec, and stored lengths */
    size_t s1 = b.sec_at[1];
    d[s1 + 5] = 1;
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    assert_int_equal(tp_ctx_offset(ctx), s1);
    d[s1 + 5] = 0;
    d[s1 + 4] = 2;
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[s1 + 4] = 0;
    d[s1 + 2] |= 2; /* an unknown flag */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[s1 + 2] &= (uint8_t)~2;
    d[s1 + 16] += 1; /* raw_len of a stored section */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[s1 + 16] -= 1;
    d[s1 + 9] ^= 0x10; /* stored_len 4 KiB beyond the file */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_TRUNCATED);
    d[s1 + 9] ^= 0x10;
    d[s1 + 8] += 1; /* one byte more: a stored section's lengths now differ */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    d[s1 + 8] -= 1;
    d[s1 + 15] = 0x80; /* stored_len near 2^64 */
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_TRUNCATED);
    d[s1 + 15] = 0;
    /* a payload byte */
    d[s1 + TPK_VERSION_1_SECTION_HEADER] ^= 4;
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CHECKSUM);
    assert_int_equal(tp_ctx_offset(ctx), s1);
    d[s1 + TPK_VERSION_1_SECTION_HEADER] ^= 4;
    assert_int_equal(parse_copy(d, b.m.len, ctx, &h, &secs, &n), TP_OK);
    free(secs);

    /* nothing after END */
    uint8_t *more = malloc(b.m.len + 1);
    memcpy(more, d, b.m.len);
    more[b.m.len] = 0;
    assert_int_equal(parse_copy(more, b.m.len + 1, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    assert_int_equal(tp_ctx_offset(ctx), b.m.len);
    free(more);
    /* no END at all */
    assert_int_equal(parse_copy(d, b.sec_at[b.nsec - 1], ctx, &h, &secs, &n), TP_E_TPK_TRUNCATED);
    tt_membuf_free(&b.m);

    /* END counting the wrong number of sections */
    build(&b, -1, 0, +1);
    assert_int_equal(parse_copy(b.m.data, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    assert_int_equal(tp_ctx_offset(ctx), b.sec_at[b.nsec - 1]);
    tt_membuf_free(&b.m);
    build(&b, -1, 0, -1);
    assert_int_equal(parse_copy(b.m.data, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    tt_membuf_free(&b.m);
    /* an END with a payload */
    build(&b, 0, SEC_REQUIRED, 0);
    assert_int_equal(parse_copy(b.m.data, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_CORRUPT);
    tt_membuf_free(&b.m);

    /* a required section this build does not know */
    build(&b, 77, SEC_REQUIRED, 0);
    assert_int_equal(parse_copy(b.m.data, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_UNKNOWN);
    assert_int_equal(tp_ctx_offset(ctx), b.sec_at[2]);
    assert_non_null(strstr(tp_ctx_message(ctx), "newer treepack"));
    assert_non_null(strstr(tp_ctx_message(ctx), "77"));
    tt_membuf_free(&b.m);
    build(&b, SEC_KIND_MAX_KNOWN + 1, SEC_REQUIRED, 0);
    assert_int_equal(parse_copy(b.m.data, b.m.len, ctx, &h, &secs, &n), TP_E_TPK_UNKNOWN);
    tt_membuf_free(&b.m);
    tp_ctx_free(ctx);
}

/* An optional section of an unknown kind is skipped: the parser returns
 * the known sections only, whatever their order.  Run in a child: see
 * the BUG below. */
static int optional_case(void *arg)
{
    int where = *(int *)arg;
    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    tp_ctx *ctx = tp_ctx_new();
    tpk_writer w = {ctx, &sink, 0, 0, 1}; /* version 1 */
    tpk_header h;
    memset(&h, 0, sizeof h);
    tpk_write_header(&w, &h);
    static const uint16_t kinds[3] = {SEC_SKELETON, SEC_LAYOUTS, SEC_TREES};
    for (int i = 0; i <= 3; i++) {
        if (i == where) tpk_write_section(&w, 300, 0, CODEC_STORED, "opt", 3, 3);
        if (i < 3) tpk_write_section(&w, kinds[i], SEC_REQUIRED, CODEC_STORED, "abcd", 4, 4);
    }
    tpk_write_end(&w, 4);
    tpk_section *secs;
    size_t n;
    int bad = 0;
    if (tpk_parse(ctx, m.data, m.len, &h, &secs, &n) != TP_OK) {
        bad = 2;
    } else {
        if (n != 3) bad = 1;
        for (size_t i = 0; i < n && i < 3 && !bad; i++)
            if (secs[i].kind != kinds[i] || secs[i].stored_len != 4) bad = 1;
        free(secs);
    }
    tt_membuf_free(&m);
    tp_ctx_free(ctx);
    return bad;
}

static void unknown_optional_section_is_skipped(void **state)
{
    (void)state;
    int st[4];
    for (int where = 0; where <= 3; where++) st[where] = tt_in_child(optional_case, &where);
    bool bug = false;
    for (int where = 0; where <= 3; where++) bug |= st[where] != 0;
    FAIL_IF(bug, "container.c tpk_parse: an unknown optional section does `n++; continue;` with n also the "
                   "index into the list, so the list gets a hole: an optional section first crashes "
                   "(list is still NULL; child %s), in the middle or last it leaves an uninitialised entry "
                   "(result %d, %d, %d: 1 = wrong sections returned)",
              st[0] < 0 ? "killed by a signal" : "survived", st[1], st[2], st[3]);
    for (int where = 0; where <= 3; where++) assert_int_equal(st[where], 0);
}

static void section_read_checks_lengths(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    uint8_t raw[5000];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)(i / 50);
    bytebuf z = {0};
    assert_int_equal(zstd_compress_into(ctx, raw, sizeof raw, 3, &z), TP_OK);
    assert_true(z.len < sizeof raw);

    /* the file is just the payload here: offset 0 */
    tpk_section s = {.kind = SEC_SKELETON, .codec = CODEC_ZSTD, .stored_len = z.len, .raw_len = sizeof raw};
    bytebuf out = {0};
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_OK);
    assert_memory_equal(out.data, raw, sizeof raw);
    /* declared longer or shorter than what comes out */
    s.raw_len = sizeof raw + 1;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_E_TPK_CORRUPT);
    s.raw_len = sizeof raw - 1;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_E_TPK_CORRUPT);
    /* a "zip bomb": a tiny declared size stops the decoder early */
    s.raw_len = 10;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_E_TPK_CORRUPT);
    assert_true(out.cap < (1 << 20));
    /* absurd declared sizes */
    s.raw_len = UINT64_MAX;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_E_LIMIT_SIZE);
    /* a cut-short stream, and garbage */
    s.raw_len = sizeof raw;
    s.stored_len = z.len - 3;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, z.data, &s, &out), TP_E_TPK_CORRUPT);
    s.stored_len = z.len;
    z.data[z.len / 2] ^= 0xff;
    ctx_reset(ctx);
    tp_code rc = tpk_section_read(ctx, z.data, &s, &out);
    /* zstd frames carry no checksum here: the section's XXH3 is what notices */
    assert_true(rc == TP_OK || rc == TP_E_TPK_CORRUPT);
    z.data[z.len / 2] ^= 0xff;
    /* two frames back to back: more than declared */
    bytebuf two = {0};
    bytebuf_append(&two, z.data, z.len);
    bytebuf_append(&two, z.data, z.len);
    s.stored_len = two.len;
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, two.data, &s, &out), TP_E_TPK_CORRUPT);

    /* the exact decompressor used by the codec */
    uint8_t back[5001];
    ctx_reset(ctx);
    assert_int_equal(zstd_decompress_exact(ctx, z.data, z.len, back, sizeof raw), TP_OK);
    assert_memory_equal(back, raw, sizeof raw);
    assert_int_equal(zstd_decompress_exact(ctx, z.data, z.len, back, sizeof raw - 1), TP_E_TPK_CORRUPT);
    ctx_reset(ctx);
    assert_int_equal(zstd_decompress_exact(ctx, z.data, z.len, back, sizeof raw + 1), TP_E_TPK_CORRUPT);
    ctx_reset(ctx);
    assert_int_equal(zstd_decompress_exact(ctx, z.data, z.len - 1, back, sizeof raw), TP_E_TPK_CORRUPT);
    ctx_reset(ctx);
    assert_int_equal(zstd_decompress_exact(ctx, two.data, two.len, back, sizeof raw), TP_E_TPK_CORRUPT);
    ctx_reset(ctx);
    assert_int_equal(zstd_decompress_exact(ctx, (const uint8_t *)"garbage!", 8, back, 10), TP_E_TPK_CORRUPT);
    /* an empty input compresses and comes back */
    ctx_reset(ctx);
    assert_int_equal(zstd_compress_into(ctx, "", 0, 3, &z), TP_OK);
    assert_int_equal(zstd_decompress_exact(ctx, z.data, z.len, back, 0), TP_OK);
    bytebuf_free(&two);
    bytebuf_free(&out);
    bytebuf_free(&z);
    tp_ctx_free(ctx);
}

static void checksums_and_write_errors(void **state)
{
    (void)state;
    /* XXH3 known answers: the format depends on these exact values */
    uint8_t sum[16];
    checksum128("", 0, sum);
    static const uint8_t empty128[16] = {0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8,
                                         0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f};
    assert_memory_equal(sum, empty128, 16);
    assert_true(checksum64("", 0) == 0x2D06800538D394C2ull);

    /* a sink that refuses */
    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    m.fail_after = 10;
    tp_ctx *ctx = tp_ctx_new();
    tpk_writer w = {ctx, &sink, 0, 0, 1}; /* version 1 */
    tpk_header h;
    memset(&h, 0, sizeof h);
    assert_int_equal(tpk_write_header(&w, &h), TP_E_WRITE);
    assert_int_equal(tp_ctx_code(ctx), TP_E_WRITE);
    assert_int_equal(w.written, 0);
    /* no sink: counts only */
    ctx_reset(ctx);
    tpk_writer count = {ctx, NULL, 0, 0, 1};
    assert_int_equal(tpk_write_header(&count, &h), TP_OK);
    assert_int_equal(tpk_write_end(&count, 0), TP_OK);
    assert_int_equal(count.written, 50 + TPK_VERSION_1_SECTION_HEADER);
    tt_membuf_free(&m);
    tp_ctx_free(ctx);
}

/* Where END's header starts in a container written by tp_compress: after
 * the last section, which is known (the inventory). */
static size_t end_offset(const tpk_section *secs, size_t n)
{
    return (size_t)(secs[n - 1].offset + secs[n - 1].stored_len);
}

/* ---- the public operations ------------------------------------------------------------- */

static tp_code compress_mem(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tt_membuf *out,
                            tp_report *rep)
{
    tp_sink sink = tt_membuf_sink(out);
    /* NULL: the defaults, but the trees of these small fixtures as columns
     * (they would come out smaller whole, and the tests look at the columns) */
    tp_options cols;
    tp_options_init(&cols);
    cols.columns = 1;
    return tp_compress(ctx, in, len, opt ? opt : &cols, &sink, rep);
}

static tp_code expand_mem(tp_ctx *ctx, const uint8_t *in, size_t len, tt_membuf *out, tp_report *rep)
{
    tp_sink sink = tt_membuf_sink(out);
    return tp_expand(ctx, in, len, NULL, &sink, rep);
}

static void check_report_sums(const tp_report *r)
{
    uint64_t raw = 0, stored = 0;
    for (int p = 0; p < TP_PART_COUNT; p++) raw += r->part_raw[p], stored += r->part_stored[p];
    if (raw != r->original_size) print_message("parts add up to %llu raw bytes of %llu\n", (unsigned long long)raw,
                                               (unsigned long long)r->original_size);
    assert_int_equal(raw, r->original_size);
    assert_int_equal(stored, r->container_size);
}

static void public_api_round_trip(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p4.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tp_options opt;
    tp_options_init(&opt);
    assert_int_equal(opt.level, TP_LEVEL_DEFAULT);
    assert_int_equal(opt.columns, 0);
    opt.name = "/some/dir/model.pkl";
    opt.columns = 1;
    tt_membuf c;
    tp_report rc_rep;
    tp_report_init(&rc_rep);
    assert_int_equal(compress_mem(ctx, in, len, &opt, &c, &rc_rep), TP_OK);
    assert_int_equal(tp_ctx_code(ctx), TP_OK);
    assert_true(tp_is_container(c.data, c.len));
    assert_false(tp_is_container(in, len));
    assert_int_equal(rc_rep.original_size, len);
    assert_int_equal(rc_rep.container_size, c.len);
    assert_int_equal(rc_rep.protocol, 4);
    assert_int_equal(rc_rep.trees, 1);
    assert_int_equal(rc_rep.trees_verbatim, 0);
    assert_int_equal(rc_rep.nodes, 17);
    assert_string_equal(rc_rep.name, "model.pkl");
    uint8_t sum[16];
    checksum128(in, len, sum);
    assert_memory_equal(rc_rep.checksum, sum, 16);
    assert_true(c.len < len);
    check_report_sums(&rc_rep);

    tp_report info;
    tp_report_init(&info);
    assert_int_equal(tp_info(ctx, c.data, c.len, &info), TP_OK);
    assert_int_equal(info.original_size, len);
    assert_int_equal(info.container_size, c.len);
    assert_int_equal(info.trees, 1);
    assert_int_equal(info.nodes, 17);
    assert_string_equal(info.name, "model.pkl");
    assert_memory_equal(info.checksum, sum, 16);
    assert_memory_equal(info.part_raw, rc_rep.part_raw, sizeof info.part_raw);
    assert_memory_equal(info.part_stored, rc_rep.part_stored, sizeof info.part_stored);
    check_report_sums(&info);

    tt_membuf e;
    tp_report er;
    tp_report_init(&er);
    assert_int_equal(expand_mem(ctx, c.data, c.len, &e, &er), TP_OK);
    assert_int_equal(e.len, len);
    assert_memory_equal(e.data, in, len);
    assert_int_equal(er.trees, 1);
    /* verify only */
    assert_int_equal(tp_expand(ctx, c.data, c.len, NULL, NULL, NULL), TP_OK);
    /* report may be NULL */
    tt_membuf c2;
    assert_int_equal(compress_mem(ctx, in, len, NULL, &c2, NULL), TP_OK);
    tt_membuf_free(&c2);

    /* levels */
    opt.level = TP_LEVEL_MAX + 1;
    assert_int_equal(compress_mem(ctx, in, len, &opt, &c2, NULL), TP_E_USAGE);
    tt_membuf_free(&c2);
    opt.level = -1;
    assert_int_equal(compress_mem(ctx, in, len, &opt, &c2, NULL), TP_E_USAGE);
    tt_membuf_free(&c2);
    for (int level = 0; level <= TP_LEVEL_MAX; level += 19) {
        opt.level = level ? level : 1;
        assert_int_equal(compress_mem(ctx, in, len, &opt, &c2, NULL), TP_OK);
        tt_membuf_free(&e);
        assert_int_equal(expand_mem(ctx, c2.data, c2.len, &e, NULL), TP_OK);
        assert_memory_equal(e.data, in, len);
        tt_membuf_free(&c2);
    }

    /* not containers, and garbage */
    tt_membuf_free(&e);
    assert_int_equal(expand_mem(ctx, in, len, &e, NULL), TP_E_NOT_TPK);
    tt_membuf_free(&e);
    assert_int_equal(tp_info(ctx, in, len, &info), TP_E_NOT_TPK);
    assert_int_equal(compress_mem(ctx, (const uint8_t *)"", 0, NULL, &c2, NULL), TP_E_EMPTY);
    tt_membuf_free(&c2);
    assert_int_equal(compress_mem(ctx, (const uint8_t *)"\x80\x02K", 3, NULL, &c2, NULL), TP_E_TRUNCATED);
    tt_membuf_free(&c2);
    assert_int_equal(compress_mem(ctx, (const uint8_t *)"\x80\x09N.", 4, NULL, &c2, NULL), TP_E_PROTOCOL);
    assert_int_equal(tp_ctx_offset(ctx), 0);
    tt_membuf_free(&c2);

    /* sinks that refuse, at every point */
    /* (with default options, whose output is not c's length: c has a name) */
    {
        tp_sink s = tt_membuf_sink(&c2);
        assert_int_equal(tp_compress(ctx, in, len, NULL, &s, NULL), TP_OK);
    }
    long full = (long)c2.len;
    tt_membuf_free(&c2);
    for (long at = 0; at < full; at += 13) {
        tp_sink s = tt_membuf_sink(&c2);
        c2.fail_after = at;
        assert_int_equal(tp_compress(ctx, in, len, NULL, &s, NULL), TP_E_WRITE);
        tt_membuf_free(&c2);
    }
    for (long at = 0; at < (long)len; at += 97) {
        tp_sink s = tt_membuf_sink(&e);
        e.fail_after = at;
        assert_int_equal(tp_expand(ctx, c.data, c.len, NULL, &s, NULL), TP_E_WRITE);
        tt_membuf_free(&e);
    }
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
}

static void progress_cb(void *opaque, uint64_t done, uint64_t total)
{
    uint64_t *last = opaque;
    assert_true(done <= total);
    assert_true(done >= last[0]);
    last[0] = done;
    last[1]++;
}

static void every_fixture_round_trips(void **state)
{
    (void)state;
    tt_fixture fx[128];
    size_t nfx = tt_manifest(fx, 128);
    if (!nfx) skip();
    tp_ctx *ctx = tp_ctx_new();
    for (size_t i = 0; i < nfx; i++) {
        size_t len;
        uint8_t *in = tt_load_fixture(fx[i].name, &len);
        assert_non_null(in);
        tp_options opt;
        tp_options_init(&opt);
        opt.level = 3;
        opt.columns = 1; /* the trees as columns, which is what this test proves */
        uint64_t prog[2] = {0, 0};
        opt.progress = progress_cb;
        opt.progress_opaque = prog;
        tt_membuf c, c4, e;
        tp_report rep;
        tp_report_init(&rep);
        tp_code rc = compress_mem(ctx, in, len, &opt, &c, &rep);
        if (rc) print_message("%s: %s\n", fx[i].name, tp_ctx_message(ctx));
        assert_int_equal(rc, TP_OK);
        assert_int_equal(rep.nodes, fx[i].tree_nodes);
        assert_int_equal(rep.protocol, fx[i].protocol >= 2 ? fx[i].protocol : 0); /* 0-1: no PROTO */
        check_report_sums(&rep);
        if (fx[i].tree_nodes) assert_true(prog[1] > 0);
        /* threads change nothing in the output */
        opt.threads = 4;
        opt.progress = NULL;
        assert_int_equal(compress_mem(ctx, in, len, &opt, &c4, NULL), TP_OK);
        assert_int_equal(c4.len, c.len);
        assert_memory_equal(c4.data, c.data, c.len);
        tp_report info;
        tp_report_init(&info);
        assert_int_equal(tp_info(ctx, c.data, c.len, &info), TP_OK);
        assert_int_equal(info.nodes, fx[i].tree_nodes);
        check_report_sums(&info);
        rc = expand_mem(ctx, c.data, c.len, &e, NULL);
        if (rc) print_message("%s: %s\n", fx[i].name, tp_ctx_message(ctx));
        assert_int_equal(rc, TP_OK);
        assert_int_equal(e.len, len);
        assert_memory_equal(e.data, in, len);
        tt_membuf_free(&c);
        tt_membuf_free(&c4);
        tt_membuf_free(&e);
        free(in);
    }
    tp_ctx_free(ctx);
}

static void pickles_back_to_back(void **state)
{
    (void)state;
    size_t la, lb;
    LOAD_FIXTURE_OR_SKIP(a, "dt_regressor_single_node_p4.pkl", &la);
    LOAD_FIXTURE_OR_SKIP(b, "dt_classifier_iris_p2.pkl", &lb);
    uint8_t *ab = malloc(la + lb);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c, e;
    tp_report rep;
    tp_report_init(&rep);
    assert_int_equal(compress_mem(ctx, ab, la + lb, NULL, &c, &rep), TP_OK);
    assert_int_equal(rep.trees, 2);
    assert_int_equal(rep.nodes, 18);
    assert_int_equal(expand_mem(ctx, c.data, c.len, &e, NULL), TP_OK);
    assert_int_equal(e.len, la + lb);
    assert_memory_equal(e.data, ab, la + lb);
    tt_membuf_free(&c);
    tt_membuf_free(&e);
    tp_ctx_free(ctx);
    free(a);
    free(b);
    free(ab);
}

/* Damage to a real container: expand fails, or gives the original. */
static void damaged_containers(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p3.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c;
    assert_int_equal(compress_mem(ctx, in, len, NULL, &c, NULL), TP_OK);
    uint8_t *copy = malloc(c.len);
    for (size_t cut = 0; cut < c.len; cut++) {
        memcpy(copy, c.data, cut);
        tt_membuf e;
        tp_code rc = expand_mem(ctx, copy, cut, &e, NULL);
        assert_int_not_equal(rc, TP_OK);
        assert_int_equal(tp_ctx_code(ctx), rc);
        tt_membuf_free(&e);
        rc = tp_info(ctx, copy, cut, NULL);
        assert_int_not_equal(rc, TP_OK);
    }
    /* where the section headers are */
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    assert_int_equal(tpk_parse(ctx, c.data, c.len, &h, &secs, &nsecs), TP_OK);
    size_t end_at = end_offset(secs, nsecs);
    size_t layouts_codec = 0; /* the byte of flags and codec (bits 1-3) */
    for (size_t s = 0; s < nsecs; s++)
        if (secs[s].kind == SEC_LAYOUTS) layouts_codec = secs[s].offset - secs[s].header_len + 1;
    assert_true(layouts_codec > 0);
    size_t harmless = 0;
    for (size_t at = 0; at < c.len; at++)
        for (int bit = 0; bit < 8; bit++) {
            /* this one leaks (see expand_frees_a_bad_layouts_section) and
             * would fail the sanitizer build's leak check */
            if (at == layouts_codec && bit == 1) continue;
            memcpy(copy, c.data, c.len);
            copy[at] ^= (uint8_t)(1u << bit);
            tt_membuf e;
            tp_code rc = expand_mem(ctx, copy, c.len, &e, NULL);
            if (rc == TP_OK) {
                /* only a bit that changes nothing may pass */
                assert_int_equal(e.len, len);
                assert_memory_equal(e.data, in, len);
                /* the "required" flag of a section this build knows, and
                 * END's flag and codec, which nothing reads */
                bool flag_bit = bit == 0 && at == end_at + 1;
                for (size_t s = 0; s < nsecs; s++)
                    if (bit == 0 && at == secs[s].offset - secs[s].header_len + 1) flag_bit = true;
                if (!flag_bit) print_message("byte %zu bit %d of the container changes nothing\n", at, bit);
                assert_true(flag_bit);
                harmless++;
            } else {
                assert_int_equal(tp_ctx_code(ctx), rc);
                assert_true(strlen(tp_ctx_message(ctx)) > 0);
            }
            tt_membuf_free(&e);
            tp_info(ctx, copy, c.len, NULL);
        }
    print_message("%zu of %zu bit flips expand to the original all the same\n", harmless, c.len * 8);
    free(secs);
    free(copy);
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
}

/* The layouts section stored with the zstd codec flag (one bit flipped):
 * tp_info and tp_expand must fail without leaking.  Run in a child that
 * ends with exit(), so that LeakSanitizer checks it in the sanitizer
 * build; elsewhere the heap is measured. */
static int layouts_leak_probe(void *arg)
{
    const tt_membuf *bad = arg;
#ifdef __GLIBC__
    struct mallinfo2 before = mallinfo2();
#endif
    int wrong = 0;
    for (int i = 0; i < 100; i++) {
        tp_ctx *ctx = tp_ctx_new();
        wrong |= tp_info(ctx, bad->data, bad->len, NULL) != TP_E_TPK_CORRUPT;
        wrong |= tp_expand(ctx, bad->data, bad->len, NULL, NULL, NULL) != TP_E_TPK_CORRUPT;
        tp_ctx_free(ctx);
    }
    int leaked = 0;
#ifdef __GLIBC__
    struct mallinfo2 after = mallinfo2();
    leaked = after.uordblks > before.uordblks + 100 * 64;
#endif
    fflush(stdout);
    exit(wrong ? 2 : leaked ? 1 : 0);
}

static void expand_frees_a_bad_layouts_section(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p3.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c;
    assert_int_equal(compress_mem(ctx, in, len, NULL, &c, NULL), TP_OK);
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    assert_int_equal(tpk_parse(ctx, c.data, c.len, &h, &secs, &nsecs), TP_OK);
    /* Flip the codec byte and recompute the section checksum (it covers
     * the header), so that the damage reaches read_layouts. */
    for (size_t s = 0; s < nsecs; s++)
        if (secs[s].kind == SEC_LAYOUTS) {
            const size_t hl = secs[s].header_len;
            uint8_t *hdr = c.data + secs[s].offset - hl;
            hdr[1] ^= 1 << 1; /* codec 0 -> 1 */
            uint64_t sum = XXH3_64bits_withSeed(hdr + hl, (size_t)secs[s].stored_len, XXH3_64bits(hdr, hl - 4));
            store_le32(hdr + hl - 4, (uint32_t)sum);
        }
    free(secs);
    int st = tt_in_child(layouts_leak_probe, &c);
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
    FAIL_IF(st == 1 || st < 0 || st == 23,
              "expand.c read_layouts: `if (rc) return rc;` after tpk_section_read leaks the section buffer; "
              "a container whose LAYOUTS section has its codec byte flipped 0 -> 1 (zstd) makes tp_info and "
              "tp_expand leak 256 bytes per call (child status %d)", st);
    assert_int_equal(st, 0);
}

/* A container of real trees with an optional section of a kind from the
 * future: expand must skip it.  Run in a child (see the parser BUG). */
static int expand_with_optional(void *arg)
{
    const tt_membuf *c = arg;
    /* insert "kind 200, optional" before END and count it */
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    tp_ctx *pctx = tp_ctx_new();
    if (tpk_parse(pctx, c->data, c->len, &h, &secs, &nsecs) != TP_OK) return 1;
    tp_ctx_free(pctx);
    size_t end_at = end_offset(secs, nsecs);
    free(secs);
    cursor ec = cursor_make(c->data + end_at + 2, c->len - end_at - 2);
    cursor_varint(&ec); /* S */
    uint64_t counted = cursor_varint(&ec);
    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    tt_membuf_write(&m, c->data, end_at);
    tp_ctx *ctx = tp_ctx_new();
    tpk_writer w = {ctx, &sink, 0, 0, 0};
    tpk_write_section(&w, 200, 0, CODEC_STORED, "future", 6, 6);
    tpk_write_end(&w, counted + 1);
    tt_membuf e;
    tp_sink es = tt_membuf_sink(&e);
    tp_code rc = tp_expand(ctx, m.data, m.len, NULL, &es, NULL);
    int bad = rc != TP_OK;
    tt_membuf_free(&e);
    tt_membuf_free(&m);
    tp_ctx_free(ctx);
    return bad;
}

static void expand_skips_unknown_optional_sections(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p5.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c;
    assert_int_equal(compress_mem(ctx, in, len, NULL, &c, NULL), TP_OK);
    assert_int_equal(c.data[c.len - 8], SEC_END); /* END: kind, bits, S = 0, R < 128, checksum */
    int st = tt_in_child(expand_with_optional, &c);
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
    FAIL_IF(st != 0, "container.c tpk_parse: with an optional unknown section before END, tp_expand of a valid "
                       "container fails or crashes (child: %d); the section list has an uninitialised entry",
              st);
}

/* A Tree whose class counts are whole numbers but for one -0.0 (tree_p3
 * from tests/unit/data with leaf 1's count of class 1 negated). */
static void compress_keeps_negative_zero(void **state)
{
    (void)state;
    const char *dir = getenv("TP_UNIT_DATA");
    if (!dir) skip();
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/tree_p3.pkl", dir);
    size_t len;
    uint8_t *in = tt_read_file(path, &len);
    assert_non_null(in);
    /* values [[1, 1]], [[1, 0]], [[0, 1]] as little-endian doubles */
    static const double vals[6] = {1, 1, 1, 0, 0, 1};
    uint8_t *at = memmem(in, len, vals, sizeof vals);
    assert_non_null(at);
    at[3 * 8 + 7] = 0x80;
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c, e;
    tp_code rc = compress_mem(ctx, in, len, NULL, &c, NULL);
    tp_code rc_first = rc;
    char msg[700];
    snprintf(msg, sizeof msg, "%s", tp_ctx_message(ctx));
    if (rc == TP_OK) {
        rc = expand_mem(ctx, c.data, c.len, &e, NULL);
        if (rc == TP_OK) {
            assert_int_equal(e.len, len);
            assert_memory_equal(e.data, in, len);
        }
        tt_membuf_free(&e);
    }
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
    FAIL_IF(rc_first == TP_E_INTERNAL, "tp_compress of a Tree with a -0.0 class count fails: %s", msg);
    assert_int_equal(rc, TP_OK);
}

/* A HistGradientBoosting file as treepack wrote it before the records
 * model (commit f7799c1: columns raw, planes or deltas only) expands to
 * the fixture it came from; the same fixture compressed now round-trips
 * and is smaller. */
static void records_before_the_model_expand(void **state)
{
    (void)state;
    const char *dir = getenv("TP_UNIT_DATA"), *fix = getenv("TP_FIXTURES");
    if (!dir || !fix) skip();
    char path[4096];
    size_t olen, plen;
    snprintf(path, sizeof path, "%.4000s/hgb_regressor_p5_f7799c1.tpk", dir);
    uint8_t *old = tt_read_file(path, &olen);
    snprintf(path, sizeof path, "%.4000s/hgb_regressor_p5.pkl", fix);
    uint8_t *pkl = tt_read_file(path, &plen);
    assert_non_null(old);
    assert_non_null(pkl);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf e, c, e2;
    assert_int_equal(expand_mem(ctx, old, olen, &e, NULL), TP_OK);
    assert_int_equal(e.len, plen);
    assert_memory_equal(e.data, pkl, plen);
    assert_int_equal(compress_mem(ctx, pkl, plen, NULL, &c, NULL), TP_OK);
    assert_true(c.len < olen);
    assert_int_equal(expand_mem(ctx, c.data, c.len, &e2, NULL), TP_OK);
    assert_int_equal(e2.len, plen);
    assert_memory_equal(e2.data, pkl, plen);
    tt_membuf_free(&e), tt_membuf_free(&c), tt_membuf_free(&e2);
    tp_ctx_free(ctx);
    free(old), free(pkl);
}

static void error_strings(void **state)
{
    (void)state;
    static const tp_code codes[] = {
        TP_OK, TP_E_NOMEM, TP_E_LIMIT_MEMORY, TP_E_WRITE, TP_E_INTERNAL, TP_E_USAGE, TP_E_EMPTY, TP_E_TRUNCATED,
        TP_E_UNKNOWN_OPCODE, TP_E_PROTOCOL, TP_E_STACK_UNDERFLOW, TP_E_NO_MARK, TP_E_MEMO_MISSING,
        TP_E_BAD_ARGUMENT, TP_E_TRAILING_DATA, TP_E_FRAME, TP_E_TYPE, TP_E_NO_STOP, TP_E_OUT_OF_BAND,
        TP_E_BAD_UTF8, TP_E_LIMIT_STACK, TP_E_LIMIT_MARKS, TP_E_LIMIT_MEMO, TP_E_LIMIT_NESTING,
        TP_E_LIMIT_OPCODES, TP_E_LIMIT_SIZE, TP_E_TREE, TP_E_JOBLIB, TP_E_NOT_TPK, TP_E_TPK_VERSION,
        TP_E_TPK_TRUNCATED, TP_E_TPK_CHECKSUM, TP_E_TPK_UNKNOWN, TP_E_TPK_CORRUPT, TP_E_MISMATCH, TP_E_ZSTD,
        TP_E_UNSAFE,
    };
    for (size_t i = 0; i < ARRAY_LEN(codes); i++) {
        const char *s = tp_strerror(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        for (size_t k = 0; k < i; k++) assert_string_not_equal(s, tp_strerror(codes[k]));
    }
    assert_string_equal(tp_strerror((tp_code)999), "unknown error");
    assert_string_equal(tp_strerror(TP_E_TPK_UNKNOWN), "treepack file needs a newer treepack");
    /* the context: first failure wins, message carries the offset */
    tp_ctx *ctx = tp_ctx_new();
    assert_int_equal(tp_ctx_code(ctx), TP_OK);
    assert_string_equal(tp_ctx_message(ctx), "");
    assert_int_equal(tp_ctx_offset(ctx), -1);
    assert_int_equal(ctx_fail(ctx, TP_E_FRAME, 42, "%s here", "trouble"), TP_E_FRAME);
    assert_int_equal(ctx_fail(ctx, TP_E_TYPE, 7, "later"), TP_E_FRAME);
    assert_int_equal(tp_ctx_offset(ctx), 42);
    assert_string_equal(tp_ctx_message(ctx), "bad pickle frame: trouble here (at byte 42)");
    ctx_reset(ctx);
    char longmsg[2000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    ctx_fail(ctx, TP_E_TREE, 1, "%s", longmsg);
    assert_true(strlen(tp_ctx_message(ctx)) < 640);
    tp_ctx_free(ctx);
    assert_true(strlen(tp_version()) > 0);
    assert_string_equal(tp_part_name(TP_PART_VALUES), "values");
    assert_string_equal(tp_part_name(-1), "?");
    assert_string_equal(tp_part_name(TP_PART_COUNT), "?");
}

/* A small file's skeleton is made with the built-in dictionary (codec 3):
 * it expands exactly; the same frames read as plain zstd, or codec 3 on
 * a section that is no skeleton, are refused. */
/* A small file is tried whole too; the smaller container is kept and the
 * report says which, and either expands to the original. */
static void small_file_whole_trial(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p4.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tp_options opt;
    tp_options_init(&opt);
    tt_membuf whole, cols, back;
    tp_report r1, r2;
    tp_report_init(&r1);
    tp_report_init(&r2);
    assert_int_equal(compress_mem(ctx, in, len, &opt, &whole, &r1), TP_OK);
    opt.columns = 1;
    assert_int_equal(compress_mem(ctx, in, len, &opt, &cols, &r2), TP_OK);
    assert_int_equal(r2.whole, 0);
    assert_int_equal(r2.trees, 1);
    assert_true(whole.len <= cols.len);
    if (r1.whole) {
        assert_true(whole.len < cols.len);
        assert_int_equal(r1.trees, 0);
        assert_int_equal(r1.trees_verbatim, 1);
    }
    assert_int_equal(expand_mem(ctx, whole.data, whole.len, &back, NULL), TP_OK);
    assert_int_equal(back.len, len);
    assert_memory_equal(back.data, in, len);
    tt_membuf_free(&back);
    assert_int_equal(expand_mem(ctx, cols.data, cols.len, &back, NULL), TP_OK);
    assert_memory_equal(back.data, in, len);
    tt_membuf_free(&back);
    tt_membuf_free(&whole);
    tt_membuf_free(&cols);
    tp_ctx_free(ctx);
    free(in);
}

static void skeleton_dictionary(void **state)
{
    (void)state;
    size_t len;
    /* the dictionary the format names (tpk(5)) */
    assert_int_equal(skeleton_dict_size, 32768);
    assert_int_equal(ZSTD_getDictID_fromDict(skeleton_dict, skeleton_dict_size), SKELETON_DICT_ID);
    LOAD_FIXTURE_OR_SKIP(in, "dt_classifier_iris_p4.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf tpk, back;
    tp_options opt;
    tp_options_init(&opt);
    opt.columns = 1; /* the skeleton without the tree (whole, LZMA2 may win) */
    assert_int_equal(compress_mem(ctx, in, len, &opt, &tpk, NULL), TP_OK);
    tpk_header h;
    tpk_section *secs;
    size_t n;
    assert_int_equal(tpk_parse(ctx, tpk.data, tpk.len, &h, &secs, &n), TP_OK);
    const tpk_section *sk = NULL;
    for (size_t i = 0; i < n; i++)
        if (secs[i].kind == SEC_SKELETON) sk = &secs[i];
    assert_non_null(sk);
    assert_int_equal(sk->codec, CODEC_ZSTD_DICT);
    assert_int_equal(expand_mem(ctx, tpk.data, tpk.len, &back, NULL), TP_OK);
    assert_int_equal(back.len, len);
    assert_memory_equal(back.data, in, len);
    bytebuf raw = {0};
    assert_int_equal(tpk_section_read(ctx, tpk.data, sk, &raw), TP_OK);
    tpk_section plain = *sk;
    plain.codec = CODEC_ZSTD; /* the frame names the dictionary it needs */
    ctx_reset(ctx);
    assert_int_equal(tpk_section_read(ctx, tpk.data, &plain, &raw), TP_E_TPK_CORRUPT);

    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    tpk_writer w = {ctx, &sink, 0, 0, 0};
    ctx_reset(ctx);
    tpk_write_header(&w, &h);
    tpk_write_section(&w, SEC_LAYOUTS, SEC_REQUIRED, CODEC_ZSTD_DICT, tpk.data + sk->offset, (size_t)sk->stored_len,
                      sk->raw_len);
    tpk_write_end(&w, 1);
    tpk_section *bad;
    size_t nbad;
    assert_int_equal(tpk_parse(ctx, m.data, m.len, &h, &bad, &nbad), TP_E_TPK_CORRUPT);
    assert_non_null(strstr(tp_ctx_message(ctx), "dictionary"));
    bytebuf_free(&raw);
    free(secs);
    tt_membuf_free(&m);
    tt_membuf_free(&tpk);
    tt_membuf_free(&back);
    tp_ctx_free(ctx);
    free(in);
}

/* ---- memo indices out of the skeleton (SPLICE_MEMO, SEC_MEMO) ------------------------------ */

static void memo_table_round_trip_and_refusals(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    uint8_t arg[SPLICE_MEMO_ARG_MAX];
    assert_int_equal(splice_memo_arg(OP_PUT, 0, arg), 2);
    assert_memory_equal(arg, "0\n", 2);
    assert_int_equal(splice_memo_arg(OP_PUT, 18446744073709551615u, arg), 21);
    assert_memory_equal(arg, "18446744073709551615\n", 21);
    assert_int_equal(splice_memo_arg(OP_BINPUT, 255, arg), 1);
    assert_int_equal(splice_memo_arg(OP_BINPUT, 256, arg), 0);
    assert_int_equal(splice_memo_arg(OP_LONG_BINPUT, 0x01020304, arg), 4);
    assert_memory_equal(arg, "\x04\x03\x02\x01", 4);
    assert_int_equal(splice_memo_arg(OP_LONG_BINPUT, 0x100000000u, arg), 0);
    assert_int_equal(splice_memo_arg(OP_GET, 1, arg), 0);

    /* entries in stream order, gaps in skeleton bytes: a memo index right
     * before a payload (no skeleton byte between: a vocabulary's opcodes
     * may start there) comes first, as compress orders them */
    const splice_entry in[] = {
        {.gap = 3, .which = SPLICE_MEMO, .payload = OP_PUT, .tree = 0, .stream_len = 2},
        {.gap = 1, .which = SPLICE_MEMO, .payload = OP_PUT, .tree = 1, .stream_len = 2},
        {.gap = 0, .which = SPLICE_NODES, .tree = 0, .payload = PAY_RAW, .stream_len = 40},
        {.gap = 5, .which = SPLICE_MEMO, .payload = OP_BINPUT, .tree = 7, .stream_len = 1},
        {.gap = 9, .which = SPLICE_VALUES, .tree = 0, .payload = PAY_RAW, .stream_len = 16},
        {.gap = 2, .which = SPLICE_MEMO, .payload = OP_LONG_BINPUT, .tree = 70000, .stream_len = 4},
    };
    const size_t n = sizeof in / sizeof in[0];
    bytebuf tab = {0}, memo = {0};
    splices_write(in, n, &tab, &memo);
    assert_true(memo.len > 0);
    splice_entry *out;
    size_t nout;
    assert_int_equal(splices_read(ctx, tab.data, tab.len, memo.data, memo.len, 1000, 1, 0, 0, &out, &nout), TP_OK);
    assert_int_equal(nout, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].gap, in[i].gap);
        assert_int_equal(out[i].which, in[i].which);
        assert_int_equal(out[i].payload, in[i].payload);
        assert_int_equal(out[i].tree, in[i].tree);
        assert_int_equal(out[i].stream_len, in[i].stream_len);
    }
    free(out);
    /* without memo entries the table is what older readers know, and no memo table */
    bytebuf tab2 = {0}, memo2 = {0};
    const splice_entry plain[] = {in[2], in[4]};
    splices_write(plain, 2, &tab2, &memo2);
    assert_int_equal(memo2.len, 0);
    assert_int_equal(splices_read(ctx, tab2.data, tab2.len, NULL, 0, 1000, 1, 0, 0, &out, &nout), TP_OK);
    assert_int_equal(nout, 2);
    free(out);

    /* refused: an index its opcode cannot hold, an opcode that is no PUT,
     * an index past 2^64, bytes after the table, more entries than bytes,
     * a total past the original */
    const splice_entry big_q[] = {{.gap = 1, .which = SPLICE_MEMO, .payload = OP_BINPUT, .tree = 256, .stream_len = 1}};
    const splice_entry bad_op[] = {{.gap = 1, .which = SPLICE_MEMO, .payload = OP_GET, .tree = 1, .stream_len = 1}};
    const splice_entry huge[] = {{.gap = 1, .which = SPLICE_MEMO, .payload = OP_PUT, .tree = UINT64_MAX, .stream_len = 21}};
    const splice_entry *bad[] = {big_q, bad_op, huge};
    for (int b = 0; b < 3; b++) {
        bytebuf t = {0}, m = {0};
        splices_write(bad[b], 1, &t, &m);
        ctx_reset(ctx);
        assert_int_equal(splices_read(ctx, t.data, t.len, m.data, m.len, 1000, 1, 0, 0, &out, &nout), TP_E_TPK_CORRUPT);
        bytebuf_free(&t);
        bytebuf_free(&m);
    }
    bytebuf_u8(&memo, 0);
    assert_int_equal(splices_read(ctx, tab.data, tab.len, memo.data, memo.len, 1000, 1, 0, 0, &out, &nout),
                     TP_E_TPK_CORRUPT);
    memo.len--;
    memo.data[0] = 100; /* the count */
    assert_int_equal(splices_read(ctx, tab.data, tab.len, memo.data, memo.len, 1000, 1, 0, 0, &out, &nout),
                     TP_E_TPK_CORRUPT);
    memo.data[0] = 4;
    assert_int_equal(splices_read(ctx, tab.data, tab.len, memo.data, memo.len, 1000, 1, 0, 0, &out, &nout), TP_OK);
    free(out);
    assert_int_equal(splices_read(ctx, tab.data, tab.len, memo.data, memo.len, 80, 1, 0, 0, &out, &nout),
                     TP_E_TPK_CORRUPT);
    bytebuf_free(&tab), bytebuf_free(&memo), bytebuf_free(&tab2), bytebuf_free(&memo2);
    tp_ctx_free(ctx);
}

/* A protocol-0 file: its PUT indices leave the skeleton, every one of
 * them written back where it was; the container without its memo table,
 * or with any bit of it flipped, is refused. */
static void memo_indices_leave_the_skeleton(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(in, "gb_regressor_small_p0.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf c, back;
    tp_report rep;
    tp_report_init(&rep);
    assert_int_equal(compress_mem(ctx, in, len, NULL, &c, &rep), TP_OK);
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    assert_int_equal(tpk_parse(ctx, c.data, c.len, &h, &secs, &nsecs), TP_OK);
    const tpk_section *memo = NULL, *splices = NULL;
    uint64_t skel = 0;
    for (size_t i = 0; i < nsecs; i++) {
        if (secs[i].kind == SEC_MEMO) memo = &secs[i];
        if (secs[i].kind == SEC_SPLICES) splices = &secs[i];
        if (secs[i].kind == SEC_SKELETON) skel += secs[i].raw_len;
    }
    assert_non_null(memo);
    assert_non_null(splices);
    assert_true(memo->flags & SEC_REQUIRED);
    bytebuf t = {0}, m = {0};
    assert_int_equal(tpk_section_read(ctx, c.data, splices, &t), TP_OK);
    assert_int_equal(tpk_section_read(ctx, c.data, memo, &m), TP_OK);
    splice_entry *sp;
    size_t nsp;
    assert_int_equal(splices_read(ctx, t.data, t.len, m.data, m.len, h.original_size, UINT64_MAX, UINT64_MAX,
                                  UINT64_MAX, &sp, &nsp),
                     TP_OK);
    /* each index is the original's bytes after a PUT opcode, rising */
    uint64_t pos = 0, memo_bytes = 0, nmemo = 0, last = 0;
    for (size_t i = 0; i < nsp; i++) {
        pos += sp[i].gap;
        if (sp[i].which == SPLICE_MEMO) {
            uint8_t arg[SPLICE_MEMO_ARG_MAX];
            assert_int_equal(splice_memo_arg(sp[i].payload, sp[i].tree, arg), sp[i].stream_len);
            assert_int_equal(in[pos - 1], OP_PUT);
            assert_memory_equal(in + pos, arg, sp[i].stream_len);
            assert_true(nmemo == 0 || sp[i].tree > last);
            last = sp[i].tree;
            nmemo++;
            memo_bytes += sp[i].stream_len;
        }
        pos += sp[i].stream_len;
    }
    assert_true(nmemo > 100);
    /* they count as skeleton bytes in the report */
    assert_int_equal(rep.part_raw[TP_PART_SKELETON], skel + memo_bytes);
    assert_int_equal(expand_mem(ctx, c.data, c.len, &back, NULL), TP_OK);
    assert_int_equal(back.len, len);
    assert_memory_equal(back.data, in, len);
    tt_membuf_free(&back);

    /* without the memo table */
    tt_membuf cut;
    tp_sink sink = tt_membuf_sink(&cut);
    tpk_writer w = {ctx, &sink, 0, 0, 0};
    tpk_write_header(&w, &h);
    uint64_t kept = 0;
    for (size_t i = 0; i + 1 < nsecs; i++) {
        if (&secs[i] == memo) continue;
        tpk_write(&w, c.data + secs[i].offset - secs[i].header_len, (size_t)(secs[i].header_len + secs[i].stored_len));
        kept++;
    }
    tpk_write_end(&w, kept);
    ctx_reset(ctx);
    assert_int_equal(expand_mem(ctx, cut.data, cut.len, &back, NULL), TP_E_TPK_CORRUPT);
    tt_membuf_free(&back);
    tt_membuf_free(&cut);

    /* any bit of the memo section's payload */
    uint8_t *copy = malloc(c.len);
    for (uint64_t at = memo->offset; at < memo->offset + memo->stored_len; at++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, c.data, c.len);
            copy[at] ^= (uint8_t)(1u << bit);
            ctx_reset(ctx);
            assert_int_not_equal(expand_mem(ctx, copy, c.len, &back, NULL), TP_OK);
            tt_membuf_free(&back);
        }
    free(copy);
    free(sp);
    bytebuf_free(&t);
    bytebuf_free(&m);
    free(secs);
    tt_membuf_free(&c);
    tp_ctx_free(ctx);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_then_parse),
        cmocka_unit_test(every_truncation_fails),
        cmocka_unit_test(every_bit_flip_is_noticed),
        cmocka_unit_test(refusals),
        cmocka_unit_test(unknown_optional_section_is_skipped),
        cmocka_unit_test(section_read_checks_lengths),
        cmocka_unit_test(checksums_and_write_errors),
        cmocka_unit_test(public_api_round_trip),
        cmocka_unit_test(every_fixture_round_trips),
        cmocka_unit_test(pickles_back_to_back),
        cmocka_unit_test(damaged_containers),
        cmocka_unit_test(expand_frees_a_bad_layouts_section),
        cmocka_unit_test(expand_skips_unknown_optional_sections),
        cmocka_unit_test(compress_keeps_negative_zero),
        cmocka_unit_test(records_before_the_model_expand),
        cmocka_unit_test(error_strings),
        cmocka_unit_test(small_file_whole_trial),
        cmocka_unit_test(skeleton_dictionary),
        cmocka_unit_test(memo_table_round_trip_and_refusals),
        cmocka_unit_test(memo_indices_leave_the_skeleton),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
