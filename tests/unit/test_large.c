/*
 * test_large.c - a pickle past 4 GiB, without 4 GiB of disk or memory.
 *
 * The input is a sparse file: a first pickle whose FRAME, BINUNICODE8
 * text and BINBYTES8 payload are each longer than 2^32 bytes (zeros, so
 * the file is mostly holes), then a fixture's decision tree as a second
 * pickle, whose arrays therefore lie past 2^33.  It is compressed,
 * described and expanded through the library with the check after
 * writing, into a sink that compares every byte with the input as it
 * arrives and reads back the input itself (which is what was written).
 * What it proves: 64-bit lengths in the opcodes, in the splice table and
 * in the container's header and sections, the skeleton cut into
 * sections, and offsets past 32 bits for the tree's payloads.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "helpers.h"

#include "format/container.h"
#include "format/splice.h"

#define BIG ((uint64_t)1 << 32)          /* each huge argument: 4 GiB + EXTRA */
#define EXTRA ((uint64_t)4096 + 7)

typedef struct large_input {
    int fd;
    const uint8_t *data;
    size_t len;
    uint64_t tree_at;                     /* where the second pickle starts */
} large_input;

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Bytes at an offset of the sparse file. */
static void put_at(int fd, uint64_t at, const void *p, size_t n)
{
    assert_int_equal(pwrite(fd, p, n, (off_t)at), (ssize_t)n);
}

/* PROTO 4, FRAME n, BINUNICODE8 (BIG + EXTRA NULs), BINBYTES8 (BIG +
 * EXTRA zeros), TUPLE2, STOP: the frame holds everything after it. */
static int make_input(large_input *in)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tp-large.XXXXXX", dir && *dir ? dir : "/tmp");
    in->fd = mkstemp(path);
    if (in->fd < 0) return -1;
    unlink(path);

    uint64_t arg = BIG + EXTRA;
    uint64_t frame_len = (1 + 8 + arg) * 2 + 2;
    uint8_t head[2 + 9 + 9];
    head[0] = 0x80, head[1] = 4;
    head[2] = 0x95, put_le64(head + 3, frame_len);
    head[11] = 0x8d, put_le64(head + 12, arg);
    put_at(in->fd, 0, head, sizeof head);
    uint64_t at = sizeof head + arg;      /* the text's NULs are a hole */
    uint8_t mid[9];
    mid[0] = 0x8e, put_le64(mid + 1, arg);
    put_at(in->fd, at, mid, sizeof mid);
    at += sizeof mid + arg;               /* so are the bytes */
    const uint8_t tail[2] = {0x86, '.'};  /* TUPLE2, STOP */
    put_at(in->fd, at, tail, sizeof tail);
    at += sizeof tail;

    size_t tlen;
    uint8_t *tree = tt_load_fixture("dt_classifier_iris_p4.pkl", &tlen);
    if (!tree) return -1;
    in->tree_at = at;
    put_at(in->fd, at, tree, tlen);
    free(tree);
    in->len = (size_t)(at + tlen);
    void *p = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE, in->fd, 0);
    if (p == MAP_FAILED) return -1;
    madvise(p, in->len, MADV_SEQUENTIAL);
    in->data = p;
    return 0;
}

static void free_input(large_input *in)
{
    munmap((void *)(uintptr_t)in->data, in->len);
    close(in->fd);
}

/* A sink that compares what it is given with the input, and reads back
 * the input itself for the check (it holds the same bytes). */
typedef struct cmp_sink {
    const large_input *in;
    uint64_t pos;
    bool differs;
    int read_backs;
} cmp_sink;

static int cmp_write(void *opaque, const void *data, size_t len)
{
    cmp_sink *s = opaque;
    if (len > s->in->len - s->pos || memcmp(s->in->data + s->pos, data, len)) s->differs = true;
    s->pos += len;
    return s->differs ? -1 : 0;
}

static int cmp_read_back(void *opaque, const uint8_t **data, size_t *len)
{
    cmp_sink *s = opaque;
    s->read_backs++;
    *data = s->in->data;
    *len = (size_t)s->pos;
    return s->differs ? -1 : 0;
}

static void cmp_release(void *opaque, const uint8_t *data, size_t len) { (void)opaque, (void)data, (void)len; }

static void test_past_4gib(void **state)
{
    (void)state;
    if (sizeof(size_t) < 8) skip();
    large_input in;
    if (make_input(&in)) {
        print_message("no sparse file of %llu bytes here (%s)\n", (unsigned long long)(3 * BIG), strerror(errno));
        skip();
    }
    assert_true(in.len > 2 * BIG);
    tp_ctx *ctx = tp_ctx_new();
    tp_options opt;
    tp_options_init(&opt);
    opt.level = 1;
    opt.threads = 2;

    tt_membuf m;
    tp_sink sink = tt_membuf_sink(&m);
    tp_report rep;
    tp_report_init(&rep);
    assert_int_equal(tp_compress(ctx, in.data, in.len, &opt, &sink, &rep), TP_OK);
    assert_true(rep.original_size == in.len);
    assert_int_equal(rep.trees, 1);
    assert_true(rep.part_raw[TP_PART_SKELETON] > 2 * BIG);
    assert_true(m.len < (8u << 20)); /* zeros: the container is small */

    /* the container's own fields: header size, skeleton sections, the
     * tree's splice past 2^33 */
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    assert_int_equal(tpk_parse(ctx, m.data, m.len, &h, &secs, &nsecs), TP_OK);
    assert_true(h.original_size == in.len);
    uint64_t skel = 0, nskel = 0;
    const tpk_section *splices = NULL;
    for (size_t i = 0; i < nsecs; i++) {
        if (secs[i].kind == SEC_SKELETON) {
            skel += secs[i].raw_len;
            nskel++;
            assert_true(secs[i].raw_len <= ((uint64_t)32 << 20));
        }
        if (secs[i].kind == SEC_SPLICES) splices = &secs[i];
    }
    assert_true(skel == rep.part_raw[TP_PART_SKELETON]);
    assert_true(nskel > 2 * BIG / ((uint64_t)32 << 20));
    assert_non_null(splices);
    bytebuf raw = {0};
    assert_int_equal(tpk_section_read(ctx, m.data, splices, &raw), TP_OK);
    splice_entry *sp;
    size_t nsp;
    assert_int_equal(splices_read(ctx, raw.data, raw.len, NULL, 0, h.original_size, 1, 0, 0, &sp, &nsp), TP_OK);
    assert_int_equal(nsp, 2);
    assert_true(sp[0].gap > in.tree_at); /* the first payload's offset, past 2^33 */
    free(sp);
    bytebuf_free(&raw);
    free(secs);

    tp_report info;
    tp_report_init(&info);
    assert_int_equal(tp_info(ctx, m.data, m.len, &info), TP_OK);
    assert_true(info.original_size == in.len);
    assert_true(info.part_raw[TP_PART_SKELETON] == rep.part_raw[TP_PART_SKELETON]);

    /* expand, checked after writing, every byte compared as it comes */
    tp_options eopt;
    tp_options_init(&eopt);
    cmp_sink cs = {&in, 0, false, 0};
    tp_sink out = {.write = cmp_write, .opaque = &cs, .read_back = cmp_read_back, .release = cmp_release};
    tp_code rc = tp_expand(ctx, m.data, m.len, &eopt, &out, &info);
    if (rc) print_message("%s\n", tp_ctx_message(ctx));
    assert_int_equal(rc, TP_OK);
    assert_false(cs.differs);
    assert_true(cs.pos == in.len);
    assert_int_equal(cs.read_backs, 1); /* the check ran, on all of it */

    free(m.data);
    tp_ctx_free(ctx);
    free_input(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_past_4gib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
