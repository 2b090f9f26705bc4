/*
 * test_npy.c - the text forms array data takes at protocols 0-2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_byte_round_trips),
        cmocka_unit_test(raw_unicode_escape_is_canonical),
        cmocka_unit_test(latin1_text_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
