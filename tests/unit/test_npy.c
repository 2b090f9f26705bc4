/*
 * test_npy.c - the text forms array data takes at protocols 0-2, and the
 * memo of parsed arrays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "numpy/npy.h"
#include "pickle/pickle_vm.h"

/* Every byte value, through each form and back. */
static void every_byte_round_trips(void **state)
{
    (void)state;
    uint8_t raw[256], text[6 * 256], back[256];
    for (int i = 0; i < 256; i++) raw[i] = (uint8_t)i;
    for (uint8_t p = PAY_RAW; p <= PAY_MAX; p++) {
        size_t n = npy_payload_encode(p, raw, 256, text);
        assert_true(n <= npy_payload_max(p, 256));
        assert_true(npy_payload_decode(p, text, n, back, 256));
        assert_memory_equal(back, raw, 256);
        /* one byte short or long: refused */
        assert_false(npy_payload_decode(p, text, n, back, 255));
        if (n > 1) assert_false(npy_payload_decode(p, text, n - 1, back, 256));
    }
}

/* Protocol 0 (CPython's pickler): exactly five characters are escaped,
 * with lowercase hex; anything else is not what a writer makes. */
static void raw_unicode_escape_is_canonical(void **state)
{
    (void)state;
    static const uint8_t raw[] = {'\\', 0, '\n', '\r', 0x1a, 'A', 0xff};
    uint8_t text[64], back[8];
    size_t n = npy_payload_encode(PAY_RAWUNI, raw, sizeof raw, text);
    assert_int_equal(n, 5 * 6 + 2);
    assert_memory_equal(text, "\\u005c\\u0000\\u000a\\u000d\\u001aA\xff", n);
    static const struct {
        const char *t;
        size_t n;
    } bad[] = {
        {"\\u005C", 6},      /* uppercase hex */
        {"\\u0041", 6},      /* an escape a writer would not use */
        {"\n", 1},           /* a raw newline */
        {"\\", 1},           /* a lone backslash */
        {"\\u00", 4},        /* cut short */
        {"\\x41", 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(npy_payload_decode(PAY_RAWUNI, (const uint8_t *)bad[i].t, bad[i].n, back, 1));
}

/* Protocol 2 text is UTF-8 of code points below 256 only. */
static void latin1_text_is_checked(void **state)
{
    (void)state;
    uint8_t back[4];
    assert_true(npy_payload_decode(PAY_LATIN1, (const uint8_t *)"\xc3\xbf" "a", 3, back, 2));
    assert_int_equal(back[0], 0xff);
    assert_false(npy_payload_decode(PAY_LATIN1, (const uint8_t *)"\xc4\x80", 2, back, 1)); /* U+0100 */
    assert_false(npy_payload_decode(PAY_LATIN1, (const uint8_t *)"\xc3", 1, back, 1));
    assert_false(npy_payload_decode(PAY_LATIN1, (const uint8_t *)"\xff", 1, back, 1));
}

/* With the memo attached, every object parses as it does without, the
 * first time and when recalled: forests with shared dtypes, and protocol
 * 2's text payloads. */
static void memo_gives_what_parsing_gives(void **state)
{
    (void)state;
    const char *files[] = {"rf_classifier_p4.pkl", "gb_classifier_multiclass_p4.pkl", "gb_classifier_multiclass_p2.pkl"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        uint8_t *data = tt_load_fixture(files[f], &n);
        assert_non_null(data);
        tp_ctx *ctx = tp_ctx_new();
        pv_vm vm;
        pv_vm_init(&vm, ctx, data, n, NULL);
        while (vm.pos < n && pv_vm_run(&vm) == TP_OK) {}
        size_t arrays = 0;
        npy_memo memo;
        npy_memo_attach(&vm, &memo, true);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < vm.nobjs; i++) {
                pv v = {.kind = PV_OBJECT, .ref = (uint32_t)i};
                npy_array with, without;
                bool ok_with = npy_array_parse(&vm, v, &with);
                npy_memo *keep = vm.array_memo;
                vm.array_memo = NULL;
                bool ok_without = npy_array_parse(&vm, v, &without);
                vm.array_memo = keep;
                assert_int_equal(ok_with, ok_without);
                assert_int_equal(with.impossible, without.impossible);
                if (!ok_with) continue;
                arrays += pass == 0;
                assert_int_equal(with.data_off, without.data_off);
                assert_int_equal(with.data_len, without.data_len);
                assert_int_equal(with.nbytes, without.nbytes);
                assert_int_equal(with.ndim, without.ndim);
                assert_int_equal(with.dtype.nfields, without.dtype.nfields);
                assert_int_equal(with.dtype.base.size, without.dtype.base.size);
                for (int k = 0; k < with.dtype.nfields; k++)
                    assert_string_equal(with.dtype.fields[k].name, without.dtype.fields[k].name);
            }
        assert_true(arrays > 0);
        assert_true(memo.arrays.n > 0 && memo.dtypes.n > 0);
        npy_memo_free(&vm, &memo);
        assert_null(vm.array_memo);
        pv_vm_free(&vm);
        tp_ctx_free(ctx);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_byte_round_trips),
        cmocka_unit_test(raw_unicode_escape_is_canonical),
        cmocka_unit_test(latin1_text_is_checked),
        cmocka_unit_test(memo_gives_what_parsing_gives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
