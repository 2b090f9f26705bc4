/*
 * test_inspect.c - the safety report through the public API, and the
 * refusals of tp_compress and tp_expand that it drives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "api/check.h"
#include "sklearn/locate.h"
#include "treepack.h"

typedef struct membuf {
    uint8_t *data;
    size_t len;
} membuf;

static int mem_write(void *opaque, const void *data, size_t len)
{
    membuf *m = opaque;
    m->data = realloc(m->data, m->len + len);
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

/* os.system reached through STACK_GLOBAL with both strings from the memo */
static const uint8_t evil[] = "\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x04" "echo\x85R.";
#define EVIL_LEN (sizeof evil - 1)

static void report_lists_import_and_call(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    tp_inspection r;
    tp_inspection_init(&r);
    assert_int_equal(tp_inspect(ctx, evil, EVIL_LEN, NULL, &r), TP_OK);
    assert_int_equal(r.format, TP_FORMAT_PICKLE);
    assert_true(r.complete);
    assert_int_equal(r.protocol, 4);
    assert_int_equal(r.nimports, 1);
    assert_string_equal(r.imports[0].module, "os");
    assert_string_equal(r.imports[0].name, "system");
    assert_string_equal(r.imports[0].opcode, "STACK_GLOBAL");
    assert_int_equal(r.imports[0].offset, 20);
    assert_int_equal(r.imports[0].status, TP_REFUSED);
    assert_non_null(r.imports[0].why);
    assert_int_equal(r.ncalls, 1);
    assert_string_equal(r.calls[0].opcode, "REDUCE");
    assert_int_equal(r.calls[0].import, 0);
    assert_int_equal(r.calls[0].status, TP_REFUSED);
    assert_int_equal(r.nrefused, 1);
    tp_inspection_free(&r);

    const char *trust[] = {"os.system"};
    tp_options opt;
    tp_options_init(&opt);
    opt.trusted = trust;
    opt.ntrusted = 1;
    assert_int_equal(tp_inspect(ctx, evil, EVIL_LEN, &opt, &r), TP_OK);
    assert_int_equal(r.imports[0].status, TP_TRUSTED);
    assert_int_equal(r.nrefused, 0);
    tp_inspection_free(&r);
    tp_ctx_free(ctx);
}

static void malformed_input_still_lists_what_came_first(void **state)
{
    (void)state;
    static const uint8_t bad[] = "\x80\x02" "cos\nsystem\n\xff.";
    tp_ctx *ctx = tp_ctx_new();
    tp_inspection r;
    tp_inspection_init(&r);
    assert_int_equal(tp_inspect(ctx, bad, sizeof bad - 1, NULL, &r), TP_E_UNKNOWN_OPCODE);
    assert_false(r.complete);
    assert_int_equal(r.nimports, 1);
    assert_int_equal(r.nrefused, 1);
    tp_inspection_free(&r);
    tp_ctx_free(ctx);
}

static void compress_refuses_expand_rechecks(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    tp_options opt;
    tp_options_init(&opt);
    membuf tpk = {0}, out = {0};
    tp_sink s1 = {.write = mem_write, .opaque = &tpk}, s2 = {.write = mem_write, .opaque = &out};

    assert_int_equal(tp_compress(ctx, evil, EVIL_LEN, &opt, &s1, NULL), TP_E_UNSAFE);
    assert_int_equal(tp_ctx_offset(ctx), 20);
    assert_non_null(strstr(tp_ctx_message(ctx), "STACK_GLOBAL os.system"));
    assert_int_equal(tpk.len, 0);

    opt.allow_unsafe = 1;
    assert_int_equal(tp_compress(ctx, evil, EVIL_LEN, &opt, &s1, NULL), TP_OK);
    assert_true(tpk.len > 0);

    /* the container is fine; what it expands to is not */
    opt.allow_unsafe = 0;
    assert_int_equal(tp_expand(ctx, tpk.data, tpk.len, &opt, &s2, NULL), TP_E_UNSAFE);
    assert_int_equal(out.len, 0); /* not a byte reached the sink */
    assert_non_null(strstr(tp_ctx_message(ctx), "in the expanded pickle"));
    assert_int_equal(tp_expand(ctx, tpk.data, tpk.len, NULL, NULL, NULL), TP_E_UNSAFE);

    tp_inspection r;
    tp_inspection_init(&r);
    assert_int_equal(tp_inspect(ctx, tpk.data, tpk.len, NULL, &r), TP_OK);
    assert_int_equal(r.format, TP_FORMAT_TPK);
    assert_int_equal(r.size, EVIL_LEN);
    assert_int_equal(r.nrefused, 1);
    tp_inspection_free(&r);

    opt.allow_unsafe = 1;
    assert_int_equal(tp_expand(ctx, tpk.data, tpk.len, &opt, &s2, NULL), TP_OK);
    assert_int_equal(out.len, EVIL_LEN);
    assert_memory_equal(out.data, evil, EVIL_LEN);
    free(tpk.data);
    free(out.data);
    tp_ctx_free(ctx);
}

static void nameless_and_indirect_calls_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t len;
        const char *opcode;
    } cases[] = {
        {"\x80\x02\x82\x01)R.", 7, "EXT1"},
        {"Pfile\n.", 7, "PERSID"},
        {"\x80\x02X\x01\x00\x00\x00xQ.", 10, "BINPERSID"},
        /* numpy.dtype('f8') is fine; calling the dtype it returns is not */
        {"\x80\x02" "cnumpy\ndtype\nX\x02\x00\x00\x00" "f8\x85R)R.", 27, "REDUCE"},
    };
    tp_ctx *ctx = tp_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        membuf m = {0};
        tp_sink s = {.write = mem_write, .opaque = &m};
        assert_int_equal(tp_compress(ctx, (const uint8_t *)cases[i].data, cases[i].len, NULL, &s, NULL), TP_E_UNSAFE);
        assert_non_null(strstr(tp_ctx_message(ctx), cases[i].opcode));
        free(m.data);
    }
    tp_ctx_free(ctx);
}

/* Ways to make the rules look at another object than the one the loader
 * builds or calls (tests/security class 6): each is refused at the
 * opcode that does it, with a reason.  Bytes written by a script like
 * tests/security/make_attacks.py, with harmless values. */
static void laundered_objects_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t len;
        uint64_t offset; /* of the refused call or BUILD */
        const char *why;
    } cases[] = {
        /* scalar(dtype('O'), x) is x; numpy.object_(x) too */
        {"\x80\x02\x63\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x73\x63\x61\x6c\x61\x72\x0a\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x58\x02\x00\x00\x00\x4f\x38\x89\x88\x87\x52\x28\x4b\x03\x58\x01\x00\x00\x00\x7c\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x3f\x74\x62\x63\x73\x63\x69\x70\x79\x2e\x73\x74\x61\x74\x73\x2e\x5f\x63\x6f\x6e\x74\x69\x6e\x75\x6f\x75\x73\x5f\x64\x69\x73\x74\x6e\x73\x0a\x6e\x6f\x72\x6d\x5f\x67\x65\x6e\x0a\x29\x81\x86\x52\x2e", 128, 126, "scalar() of a dtype with objects"},
        {"\x80\x02\x63\x6e\x75\x6d\x70\x79\x0a\x6f\x62\x6a\x65\x63\x74\x5f\x0a\x4b\x01\x85\x81\x2e", 22, 20, "a value models keep"},
        {"\x28\x63\x63\x6f\x70\x79\x72\x65\x67\x0a\x5f\x72\x65\x63\x6f\x6e\x73\x74\x72\x75\x63\x74\x6f\x72\x0a\x63\x73\x63\x69\x70\x79\x2e\x73\x74\x61\x74\x73\x2e\x5f\x63\x6f\x6e\x74\x69\x6e\x75\x6f\x75\x73\x5f\x64\x69\x73\x74\x6e\x73\x0a\x6e\x6f\x72\x6d\x5f\x67\x65\x6e\x0a\x63\x62\x75\x69\x6c\x74\x69\x6e\x73\x0a\x6f\x62\x6a\x65\x63\x74\x0a\x4e\x6f\x7d\x28\x58\x13\x00\x00\x00\x5f\x70\x61\x72\x73\x65\x5f\x61\x72\x67\x5f\x74\x65\x6d\x70\x6c\x61\x74\x65\x58\x01\x00\x00\x00\x78\x75\x62\x2e", 120, 118, "scipy distribution whose stored code"},
        {"\x80\x02\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x58\x02\x00\x00\x00\x66\x38\x89\x88\x87\x52\x28\x4b\x03\x58\x01\x00\x00\x00\x3c\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x62\x89\x89\x87\x81\x28\x4b\x03\x58\x01\x00\x00\x00\x3c\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x62\x2e", 96, 94, "numpy dtype made otherwise"},
        {"\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x29\x81\x7d\x28\x58\x0c\x00\x00\x00\x5f\x5f\x73\x65\x74\x73\x74\x61\x74\x65\x5f\x5f\x63\x62\x75\x69\x6c\x74\x69\x6e\x73\x0a\x64\x69\x63\x74\x0a\x75\x62\x2e", 66, 64, "sets a method the loader looks up"},
        /* numpy.matrix(x) of an x whose __array_interface__ points numpy at address 1 */
        {"\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x29\x81\x7d\x28\x58\x13\x00\x00\x00\x5f\x5f\x61\x72\x72\x61\x79\x5f\x69\x6e\x74\x65\x72\x66\x61\x63\x65\x5f\x5f\x7d\x28\x58\x05\x00\x00\x00\x73\x68\x61\x70\x65\x4b\x03\x85\x58\x07\x00\x00\x00\x74\x79\x70\x65\x73\x74\x72\x58\x03\x00\x00\x00\x7c\x75\x31\x58\x04\x00\x00\x00\x64\x61\x74\x61\x4b\x01\x89\x86\x58\x07\x00\x00\x00\x76\x65\x72\x73\x69\x6f\x6e\x4b\x03\x75\x75\x62\x71\x00\x30\x63\x6e\x75\x6d\x70\x79\x0a\x6d\x61\x74\x72\x69\x78\x0a\x68\x00\x85\x52\x2e", 142, 119, "sets a method the loader looks up"},
        /* BUILD {'extend': f1_score} on an OrderedDict, then APPENDS: f1_score(['x']) */
        {"\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x29\x81\x7d\x28\x58\x06\x00\x00\x00\x65\x78\x74\x65\x6e\x64\x63\x73\x6b\x6c\x65\x61\x72\x6e\x2e\x6d\x65\x74\x72\x69\x63\x73\x2e\x5f\x63\x6c\x61\x73\x73\x69\x66\x69\x63\x61\x74\x69\x6f\x6e\x0a\x66\x31\x5f\x73\x63\x6f\x72\x65\x0a\x75\x62\x28\x58\x01\x00\x00\x00\x78\x65\x2e", 95, 85, "sets a method the loader looks up"},
        {"\x80\x03\x63\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x73\x63\x61\x6c\x61\x72\x0a\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x58\x02\x00\x00\x00\x66\x38\x89\x88\x87\x52\x28\x4b\x03\x58\x01\x00\x00\x00\x3c\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x62\x42\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x86\x52\x7d\x62\x2e", 100, 98, "BUILD on what a function returns"},
        {"\x80\x02\x63\x6e\x75\x6d\x70\x79\x0a\x6e\x64\x61\x72\x72\x61\x79\x0a\x4b\x00\x85\x58\x01\x00\x00\x00\x62\x86\x81\x29\x62\x29\x62\x2e", 33, 31, "an array given its state twice"},
        /* (one per line above: scalar of O, NEWOBJ numpy.object_, OBJ of copyreg._reconstructor making a
         * scipy generator, NEWOBJ numpy.dtype(dt, False, False), a state setting __setstate__, BUILD on
         * a scalar, an ndarray by NEWOBJ given two states) */
    };
    tp_ctx *ctx = tp_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_inspection r;
        tp_inspection_init(&r);
        assert_int_equal(tp_inspect(ctx, (const uint8_t *)cases[i].data, cases[i].len, NULL, &r), TP_OK);
        bool found = false;
        for (size_t k = 0; k < r.ncalls; k++)
            if (r.calls[k].status == TP_REFUSED && r.calls[k].offset == cases[i].offset && r.calls[k].why &&
                strstr(r.calls[k].why, cases[i].why))
                found = true;
        if (!found) fail_msg("case %zu: no refusal at byte %llu saying \"%s\"", i, (unsigned long long)cases[i].offset,
                             cases[i].why);
        assert_true(r.nrefused > 0);
        tp_inspection_free(&r);
    }
    tp_ctx_free(ctx);
}

/* A Tree made by NEWOBJ instead of REDUCE (one byte changed) is a Tree
 * to sklearn, whose __setstate__ takes child indices as they come; the
 * tree check reads Trees in sklearn's form only, so the other form is
 * refused (with such a NEWOBJ Tree and a child index out of range,
 * predict crashed while the verdict said safe to load). */
static void tree_in_another_form_is_refused(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    size_t n;
    uint8_t *model = tt_load_fixture("dt_classifier_iris_p3.pkl", &n);
    assert_non_null(model);
    tp_inspection r;
    tp_inspection_init(&r);
    assert_int_equal(tp_inspect(ctx, model, n, NULL, &r), TP_OK);
    assert_int_equal(r.nrefused, 0);
    uint64_t at = UINT64_MAX;
    for (size_t k = 0; k < r.ncalls; k++)
        if (r.calls[k].import >= 0 && !strcmp(r.imports[r.calls[k].import].name, "Tree") &&
            !strcmp(r.calls[k].opcode, "REDUCE"))
            at = r.calls[k].offset;
    tp_inspection_free(&r);
    assert_true(at < n && model[at] == 'R');
    model[at] = 0x81; /* NEWOBJ: cls.__new__(cls, *args) runs the same __cinit__ */
    assert_int_equal(tp_inspect(ctx, model, n, NULL, &r), TP_OK);
    bool found = false;
    for (size_t k = 0; k < r.ncalls; k++)
        found |= r.calls[k].status == TP_REFUSED && r.calls[k].why && strstr(r.calls[k].why, "Tree made otherwise");
    assert_true(found);
    tp_inspection_free(&r);
    free(model);
    tp_ctx_free(ctx);
}

/* tp_check, what the command line runs on an expanded file before it
 * gets its name: a real model passes, the refused import is named, a
 * trusted one passes, and a malformed stream is an error, not a pass. */
static void check_judges_a_finished_pickle(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    size_t n;
    uint8_t *model = tt_load_fixture("rf_classifier_p4.pkl", &n);
    assert_non_null(model);
    assert_int_equal(tp_check(ctx, model, n, NULL), TP_OK);
    free(model);
    assert_int_equal(tp_check(ctx, evil, EVIL_LEN, NULL), TP_E_UNSAFE);
    assert_non_null(strstr(tp_ctx_message(ctx), "os.system"));
    tp_options opt;
    tp_options_init(&opt);
    const char *trusted[] = {"os.system"};
    opt.trusted = trusted;
    opt.ntrusted = 1;
    assert_int_equal(tp_check(ctx, evil, EVIL_LEN, &opt), TP_OK);
    /* allow_unsafe does not turn the check itself off */
    opt.ntrusted = 0;
    opt.allow_unsafe = 1;
    assert_int_equal(tp_check(ctx, evil, EVIL_LEN, &opt), TP_E_UNSAFE);
    static const uint8_t cut[] = "\x80\x04\x8c\x02os";
    assert_int_not_equal(tp_check(ctx, cut, sizeof cut - 1, NULL), TP_OK);
    tp_ctx_free(ctx);
}

/* A forest (*n bytes) whose tree number `which` (SIZE_MAX: the last; its
 * number in *which, its description in *t) has its root's left child
 * pointed back at the root: a tree that would crash sklearn. */
static uint8_t *forest_with_a_broken_tree(tp_ctx *ctx, size_t *which, found_tree *t, size_t *n)
{
    uint8_t *model = tt_load_fixture("rf_classifier_p4.pkl", n);
    assert_non_null(model);
    scan_result scan;
    assert_int_equal(scan_run(ctx, model, *n, NULL, &scan), TP_OK);
    assert_true(scan.ntrees > 1);
    if (*which == SIZE_MAX) *which = scan.ntrees - 1;
    *t = scan.trees[*which];
    scan_free(&scan);
    int64_t zero = 0; /* left_child of node 0, little-endian int64 */
    memcpy(model + t->nodes.data_off + t->layout.f[NF_LEFT].offset, &zero, 8);
    return model;
}

/* A tree that would crash sklearn is found by the check, and the problem
 * named with the tree's number among the Tree states. */
static void check_finds_an_invalid_tree(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    size_t n, last = SIZE_MAX;
    found_tree t;
    uint8_t *model = forest_with_a_broken_tree(ctx, &last, &t, &n);
    assert_int_equal(tp_check(ctx, model, n, NULL), TP_E_TREE);
    char expect[32];
    snprintf(expect, sizeof expect, "tree %zu: ", last);
    assert_non_null(strstr(tp_ctx_message(ctx), expect));
    assert_non_null(strstr(tp_ctx_message(ctx), "node 0"));
    free(model);
    tp_ctx_free(ctx);
}

/* A proof (proven_list) spares the check exactly the node array it names,
 * read through the fields it was proven through, for the n_features it
 * was proven for; any difference and the tree is checked as usual. */
static void a_proof_covers_only_the_array_it_names(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    size_t n, first = 0;
    found_tree t;
    uint8_t *model = forest_with_a_broken_tree(ctx, &first, &t, &n);
    tp_options opt;
    tp_options_init(&opt);
    const char *w = "";
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, NULL), TP_E_TREE);

    node_layout lay = t.layout;
    proven_nodes e = {t.nodes.data_off, t.nodes.data_len, &lay, t.n_features};
    proven_list pr = {&e, 1, 1};
    /* what the proof says is taken as said */
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_OK);
    /* another n_features */
    e.n_features = t.n_features + 1;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_E_TREE);
    e.n_features = t.n_features;
    /* other bytes: shifted, or shorter */
    e.offset = t.nodes.data_off + t.layout.itemsize;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_E_TREE);
    e.offset = t.nodes.data_off;
    e.len = t.nodes.data_len - t.layout.itemsize;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_E_TREE);
    e.len = t.nodes.data_len;
    /* the children read elsewhere, or narrower, than they were proven */
    lay.f[NF_LEFT].offset = t.layout.f[NF_RIGHT].offset;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_E_TREE);
    lay = t.layout;
    lay.f[NF_FEATURE].size = 4;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_E_TREE);
    lay = t.layout;
    assert_int_equal(check_pickle(ctx, model, n, &opt, w, &pr), TP_OK);
    free(model);
    tp_ctx_free(ctx);
}

/* A sink that reads back: tp_expand streams into it and checks it there. */
typedef struct reading_sink {
    tt_membuf m;
    int read_backs, releases;
    size_t lie; /* bytes to hide from the read back */
} reading_sink;

static int rs_write(void *opaque, const void *data, size_t len)
{
    return tt_membuf_write(&((reading_sink *)opaque)->m, data, len);
}

static int rs_read_back(void *opaque, const uint8_t **data, size_t *len)
{
    reading_sink *r = opaque;
    r->read_backs++;
    *data = r->m.data;
    *len = r->m.len - r->lie;
    return 0;
}

static void rs_release(void *opaque, const uint8_t *data, size_t len)
{
    (void)data, (void)len;
    ((reading_sink *)opaque)->releases++;
}

static void expand_checks_what_a_sink_reads_back(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    size_t n;
    uint8_t *model = tt_load_fixture("rf_classifier_p4.pkl", &n);
    assert_non_null(model);
    tt_membuf c;
    tp_sink cs = tt_membuf_sink(&c);
    assert_int_equal(tp_compress(ctx, model, n, NULL, &cs, NULL), TP_OK);
    for (int lie = 0; lie < 2; lie++) {
        reading_sink r;
        memset(&r, 0, sizeof r);
        r.m.fail_after = -1;
        r.lie = (size_t)lie;
        tp_sink s = {.write = rs_write, .opaque = &r, .read_back = rs_read_back, .release = rs_release};
        tp_code rc = tp_expand(ctx, c.data, c.len, NULL, &s, NULL);
        assert_int_equal(r.read_backs, 1);
        assert_int_equal(r.releases, 1);
        if (lie) {
            assert_int_equal(rc, TP_E_WRITE); /* not what was written: no verdict */
        } else {
            assert_int_equal(rc, TP_OK);
            assert_int_equal(r.m.len, n);
            assert_memory_equal(r.m.data, model, n);
        }
        tt_membuf_free(&r.m);
    }
    tt_membuf_free(&c);
    free(model);
    tp_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_lists_import_and_call),
        cmocka_unit_test(malformed_input_still_lists_what_came_first),
        cmocka_unit_test(compress_refuses_expand_rechecks),
        cmocka_unit_test(nameless_and_indirect_calls_are_refused),
        cmocka_unit_test(laundered_objects_are_refused),
        cmocka_unit_test(tree_in_another_form_is_refused),
        cmocka_unit_test(check_judges_a_finished_pickle),
        cmocka_unit_test(check_finds_an_invalid_tree),
        cmocka_unit_test(a_proof_covers_only_the_array_it_names),
        cmocka_unit_test(expand_checks_what_a_sink_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
