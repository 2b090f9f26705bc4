/*
 * test_sniff.c - tp_sniff, the guess `treepack -r` chooses files by:
 * every fixture is recognised for what it is, a container as a container,
 * and text or binary files that are no models are passed over.
 */
#include "helpers.h"

static tp_file_kind sniff_bytes(const uint8_t *d, size_t n)
{
    return tp_sniff(d, n < 16 ? n : 16, n ? d[n - 1] : -1);
}

static tp_file_kind sniff_fixture(const char *name)
{
    size_t n;
    uint8_t *d = tt_load_fixture(name, &n);
    assert_non_null(d);
    tp_file_kind k = sniff_bytes(d, n);
    free(d);
    return k;
}

static void pickles_of_every_protocol(void **state)
{
    (void)state;
    static const char *names[] = {"dt_classifier_iris_p0.pkl", "dt_classifier_iris_p1.pkl",
                                  "dt_classifier_iris_p2.pkl", "dt_classifier_iris_p3.pkl",
                                  "dt_classifier_iris_p4.pkl", "dt_classifier_iris_p5.pkl",
                                  "rf_classifier_small.joblib", "gb_regressor_small_p0.joblib"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        print_message("%s\n", names[i]);
        assert_int_equal(sniff_fixture(names[i]), TP_FILE_PICKLE);
    }
}

static void compressed_joblib_files(void **state)
{
    (void)state;
    static const char *names[] = {"rf_classifier_small.joblib.gz",  "rf_classifier_small.joblib.bz2",
                                  "rf_classifier_small.joblib.xz",  "rf_classifier_small.joblib.lzma",
                                  "rf_classifier_small.joblib.lz4", "rf_classifier_small.joblib.z",
                                  "dt_classifier_iris.joblib.zf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        print_message("%s\n", names[i]);
        assert_int_equal(sniff_fixture(names[i]), TP_FILE_COMPRESSED);
    }
}

static void containers(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = tt_load_fixture("dt_classifier_iris_p4.pkl", &n);
    assert_non_null(d);
    tp_ctx *ctx = tp_ctx_new();
    tt_membuf out;
    tp_sink sink = tt_membuf_sink(&out);
    assert_int_equal(tp_compress(ctx, d, n, NULL, &sink, NULL), TP_OK);
    assert_int_equal(sniff_bytes(out.data, out.len), TP_FILE_CONTAINER);
    tt_membuf_free(&out);
    free(d);
    tp_ctx_free(ctx);
}

static void other_files(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},
        {"# README\nsome text.", 19},
        {"x = 1\n", 6},                          /* 'x' is zlib's first byte, without its check bits */
        {"{\"json\": true}", 14},                /* '{' is no opcode */
        {"(list of things)", 16},                /* MARK first, but no STOP at the end */
        {"\x93NUMPY\x01\x00", 8},                /* a .npy file */
        {"\x80\x09garbage.", 10},                /* PROTO 9 does not exist */
        {"\x80\x01]q\x00.", 6},                  /* PROTO 1 is never written: protocol 1 has no PROTO */
        {"\x89PNG\r\n\x1a\n", 8},
        {".", 1},                                /* STOP alone */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case %zu\n", i);
        assert_int_equal(sniff_bytes((const uint8_t *)cases[i].bytes, cases[i].len), TP_FILE_OTHER);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pickles_of_every_protocol),
        cmocka_unit_test(compressed_joblib_files),
        cmocka_unit_test(containers),
        cmocka_unit_test(other_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
