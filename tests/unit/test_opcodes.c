/*
 * test_opcodes.c - the opcode table and the single-opcode decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "pickle/opcodes.h"

/* A minimal valid encoding of each opcode's argument. */
static const struct {
    uint8_t code;
    const char *arg;
    size_t arg_len;
} samples[] = {
    {'I', "42\n", 3}, {'L', "42L\n", 4}, {'S', "'ab'\n", 5}, {'V', "ab\n", 3}, {'F', "1.5\n", 4},
    {'a', "", 0}, {'l', "", 0}, {'t', "", 0}, {'d', "", 0}, {'s', "", 0}, {'0', "", 0}, {'2', "", 0},
    {'(', "", 0}, {'g', "1\n", 2}, {'p', "1\n", 2}, {'c', "os\nsystem\n", 10}, {'R', "", 0}, {'b', "", 0},
    {'i', "m\nn\n", 4}, {'.', "", 0}, {'P', "pid\n", 4}, {'N', "", 0}, {'J', "\1\0\0\0", 4}, {'K', "\1", 1},
    {'M', "\1\0", 2}, {'T', "\2\0\0\0ab", 6}, {'U', "\2ab", 3}, {'X', "\2\0\0\0ab", 6},
    {'G', "\x3f\xf0\0\0\0\0\0\0", 8}, {']', "", 0}, {'e', "", 0}, {')', "", 0}, {'}', "", 0}, {'u', "", 0},
    {'1', "", 0}, {'h', "\1", 1}, {'j', "\1\0\0\0", 4}, {'q', "\1", 1}, {'r', "\1\0\0\0", 4}, {'o', "", 0},
    {'Q', "", 0}, {0x80, "\4", 1}, {0x81, "", 0}, {0x82, "\1", 1}, {0x83, "\1\0", 2}, {0x84, "\1\0\0\0", 4},
    {0x85, "", 0}, {0x86, "", 0}, {0x87, "", 0}, {0x88, "", 0}, {0x89, "", 0}, {0x8a, "\1\1", 2},
    {0x8b, "\1\0\0\0\1", 5}, {'B', "\2\0\0\0ab", 6}, {'C', "\2ab", 3}, {0x8c, "\2ab", 3},
    {0x8d, "\2\0\0\0\0\0\0\0ab", 10}, {0x8e, "\2\0\0\0\0\0\0\0ab", 10}, {0x8f, "", 0}, {0x90, "", 0},
    {0x91, "", 0}, {0x92, "", 0}, {0x93, "", 0}, {0x94, "", 0}, {0x95, "\0\0\0\0\0\0\0\0", 8},
    {0x96, "\2\0\0\0\0\0\0\0ab", 10}, {0x97, "", 0}, {0x98, "", 0},
};

static void table_has_68_opcodes(void **state)
{
    (void)state;
    size_t n = 0;
    for (int c = 0; c < 256; c++)
        if (opinfo_get((uint8_t)c)) n++;
    assert_int_equal(n, OPCODE_COUNT);
    assert_int_equal(ARRAY_LEN(samples), OPCODE_COUNT);
    for (size_t i = 0; i < OPCODE_COUNT; i++) {
        const opinfo *in = opinfo_at(i);
        assert_non_null(in);
        assert_ptr_equal(opinfo_get(in->code), in);
        assert_true(in->proto <= 5);
    }
    assert_null(opinfo_at(OPCODE_COUNT));
    assert_null(opinfo_get(0xff));
    assert_string_equal(opinfo_get(0x95)->name, "FRAME");
}

static void every_opcode_decodes_and_every_truncation_fails(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
        uint8_t buf[32];
        buf[0] = samples[i].code;
        memcpy(buf + 1, samples[i].arg, samples[i].arg_len);
        size_t len = 1 + samples[i].arg_len;
        tp_ctx *ctx = tp_ctx_new();
        pickle_op op;
        assert_int_equal(op_decode(ctx, buf, len, 0, &op), TP_OK);
        assert_int_equal(op.end, len);
        assert_int_equal(op.info->code, samples[i].code);
        /* every shorter input fails, and names the opcode's offset */
        for (size_t cut = 1; cut < len; cut++) {
            ctx_reset(ctx);
            tp_code rc = op_decode(ctx, buf, cut, 0, &op);
            assert_true(rc == TP_E_TRUNCATED || rc == TP_E_BAD_ARGUMENT);
            assert_int_equal(tp_ctx_offset(ctx), 0);
        }
        tp_ctx_free(ctx);
    }
}

static void decode(const char *bytes, size_t len, tp_code want, pickle_op *op)
{
    tp_ctx *ctx = tp_ctx_new();
    assert_int_equal(op_decode(ctx, (const uint8_t *)bytes, len, 0, op), want);
    if (want != TP_OK) assert_true(strlen(tp_ctx_message(ctx)) > 0);
    tp_ctx_free(ctx);
}

static void integer_arguments(void **state)
{
    (void)state;
    pickle_op op;
    decode("I-17\n", 5, TP_OK, &op);
    assert_int_equal(op.ival, -17);
    decode("I01\n", 4, TP_OK, &op);
    assert_true(op.is_bool);
    assert_int_equal(op.ival, 1);
    decode("I99999999999999999999999\n", 25, TP_OK, &op);
    assert_true(op.big);
    decode("I12a\n", 5, TP_E_BAD_ARGUMENT, &op);
    /* base 0 in both loaders, and read differently by them */
    decode("I010\n", 5, TP_E_BAD_ARGUMENT, &op);  /* 8 to pickle.load, an error to pickle._Unpickler */
    decode("L010L\n", 6, TP_E_BAD_ARGUMENT, &op);
    decode("I+1\n", 4, TP_E_BAD_ARGUMENT, &op);   /* True to pickle.load, 1 to pickle._Unpickler */
    decode("I-0\n", 4, TP_E_BAD_ARGUMENT, &op);
    decode("I000\n", 5, TP_OK, &op);              /* 0 to both */
    assert_int_equal(op.ival, 0);
    assert_false(op.is_bool);
    decode("I-1\n", 4, TP_OK, &op);               /* -1 to both */
    assert_int_equal(op.ival, -1);
    decode("I-10\n", 5, TP_OK, &op);
    assert_int_equal(op.ival, -10);
    decode("g010\n", 5, TP_OK, &op);              /* GET and PUT: base 10 in both */
    assert_int_equal(op.ival, 10);
    decode("I\n", 2, TP_E_BAD_ARGUMENT, &op);
    decode("J\xff\xff\xff\xff", 5, TP_OK, &op);
    assert_int_equal(op.ival, -1);
    decode("M\xff\xff", 3, TP_OK, &op);
    assert_int_equal(op.ival, 65535);
}

static void huge_decimal_is_refused(void **state)
{
    (void)state;
    static char buf[PICKLE_MAX_INT_DIGITS + 10];
    buf[0] = 'I';
    memset(buf + 1, '7', PICKLE_MAX_INT_DIGITS + 1);
    buf[PICKLE_MAX_INT_DIGITS + 2] = '\n';
    pickle_op op;
    decode(buf, PICKLE_MAX_INT_DIGITS + 3, TP_E_BAD_ARGUMENT, &op);
}

static void text_arguments(void **state)
{
    (void)state;
    pickle_op op;
    decode("cnumpy\ndtype\n", 13, TP_OK, &op);
    assert_int_equal(op.data, 1);
    assert_int_equal(op.size, 5);
    assert_int_equal(op.data2, 7);
    assert_int_equal(op.size2, 5);
    decode("cnumpy\ndtype", 12, TP_E_TRUNCATED, &op);
    decode("cnu\0mpy\ndtype\n", 14, TP_E_BAD_ARGUMENT, &op);
    decode("S'abc\n", 6, TP_E_BAD_ARGUMENT, &op);
    decode("S\"abc\"\n", 7, TP_OK, &op);
    assert_int_equal(op.size, 3);
}

static void lengths_are_checked_before_use(void **state)
{
    (void)state;
    pickle_op op;
    /* BINBYTES8 claiming 2^63 bytes, and one past the end */
    decode("\x8e\0\0\0\0\0\0\0\x80", 9, TP_E_TRUNCATED, &op);
    decode("\x8e\3\0\0\0\0\0\0\0ab", 11, TP_E_TRUNCATED, &op);
    /* negative BINSTRING length */
    decode("T\xff\xff\xff\xff" "ab", 7, TP_E_BAD_ARGUMENT, &op);
    /* LONG4 with 2^31 bytes */
    decode("\x8b\0\0\0\x80", 5, TP_E_BAD_ARGUMENT, &op);
    decode("\x8b\xff\xff\xff\x7f", 5, TP_E_TRUNCATED, &op);
    /* FRAME longer than 2^63 */
    decode("\x95\0\0\0\0\0\0\0\xff", 9, TP_E_BAD_ARGUMENT, &op);
}

static void utf8_is_validated(void **state)
{
    (void)state;
    pickle_op op;
    decode("\x8c\2\xc3\xa9", 4, TP_OK, &op);
    decode("\x8c\2\xc3\x28", 4, TP_E_BAD_UTF8, &op);
    decode("\x8c\2\xc0\x80", 4, TP_E_BAD_UTF8, &op); /* overlong */
    decode("\x8c\3\xed\xa0\x80", 5, TP_OK, &op);     /* surrogate: passes, as in CPython */
    assert_true(utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
    assert_false(utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
}

static void unknown_opcode(void **state)
{
    (void)state;
    pickle_op op;
    decode("\xff", 1, TP_E_UNKNOWN_OPCODE, &op);
    decode("", 0, TP_E_NO_STOP, &op);
}

/* The interpreter's inline decoder gives what op_decode gives, field
 * for field and error for error, at every position of random bytes and of
 * every sample, whole and cut short. */
static void fast_decode_agrees(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    tp_ctx *a = tp_ctx_new(), *b = tp_ctx_new();
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        if (round < (int)(sizeof samples / sizeof samples[0])) {
            buf[len++] = samples[round].code;
            memcpy(buf + len, samples[round].arg, samples[round].arg_len);
            len += samples[round].arg_len;
        } else {
            len = 1 + (size_t)(x % sizeof buf);
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (uint8_t)x;
            }
        }
        for (size_t cut = 0; cut <= len; cut++)
            for (size_t pos = 0; pos <= cut; pos++) {
                pickle_op slow, fast;
                memset(&slow, 0xAB, sizeof slow);
                memset(&fast, 0xCD, sizeof fast);
                tp_code rs = op_decode(a, buf, cut, pos, &slow);
                tp_code rf = op_decode_fast(b, buf, cut, pos, &fast);
                assert_int_equal(rs, rf);
                if (rs) continue;
                assert_ptr_equal(slow.info, fast.info);
                assert_int_equal(slow.offset, fast.offset);
                assert_int_equal(slow.end, fast.end);
                assert_int_equal(slow.ival, fast.ival);
                assert_memory_equal(&slow.fval, &fast.fval, sizeof slow.fval);
                assert_int_equal(slow.data, fast.data);
                assert_int_equal(slow.size, fast.size);
                assert_int_equal(slow.data2, fast.data2);
                assert_int_equal(slow.size2, fast.size2);
                assert_int_equal(slow.big, fast.big);
                assert_int_equal(slow.is_bool, fast.is_bool);
            }
    }
    tp_ctx_free(a);
    tp_ctx_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_has_68_opcodes),
        cmocka_unit_test(every_opcode_decodes_and_every_truncation_fails),
        cmocka_unit_test(integer_arguments),
        cmocka_unit_test(huge_decimal_is_refused),
        cmocka_unit_test(text_arguments),
        cmocka_unit_test(lengths_are_checked_before_use),
        cmocka_unit_test(utf8_is_validated),
        cmocka_unit_test(unknown_opcode),
        cmocka_unit_test(fast_decode_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
