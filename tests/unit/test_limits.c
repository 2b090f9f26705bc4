/*
 * test_limits.c - every hard limit of the interpreter trips with its own
 * error code, at the opcode that crosses it, and nothing below it does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sklearn/locate.h"

/* Run the scanner over `len` bytes with one limit set. */
static tp_code scan(const uint8_t *data, size_t len, tp_limits lim, int64_t *offset)
{
    tp_ctx *ctx = tp_ctx_new();
    scan_result s;
    tp_code rc = scan_run(ctx, data, len, &lim, &s);
    if (!rc) scan_free(&s);
    if (offset) *offset = tp_ctx_offset(ctx);
    if (rc) assert_true(strlen(tp_ctx_message(ctx)) > 0);
    tp_ctx_free(ctx);
    return rc;
}

/* PROTO 2, NONE, `n` copies of `op`, and a tail. */
static uint8_t *repeat(uint8_t op, size_t n, const char *tail, size_t *len)
{
    size_t tl = strlen(tail);
    uint8_t *p = malloc(3 + n + tl);
    p[0] = 0x80, p[1] = 2, p[2] = 'N';
    memset(p + 3, op, n);
    memcpy(p + 3 + n, tail, tl);
    *len = 3 + n + tl;
    return p;
}

static void stack_limit(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = repeat('2', 99, "", &len); /* 100 values, then no STOP */
    tp_limits lim = {.max_stack = 100};
    assert_int_equal(scan(p, len, lim, NULL), TP_E_NO_STOP);
    free(p);
    p = repeat('2', 100, ".", &len);
    int64_t at;
    assert_int_equal(scan(p, len, lim, &at), TP_E_LIMIT_STACK);
    assert_int_equal(at, 3 + 99);
    free(p);
}

static void marks_limit(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = repeat('(', 11, ".", &len);
    tp_limits lim = {.max_marks = 10};
    int64_t at;
    assert_int_equal(scan(p, len, lim, &at), TP_E_LIMIT_MARKS);
    assert_int_equal(at, 3 + 10);
    free(p);
}

static void memo_limit(void **state)
{
    (void)state;
    /* MEMOIZE the same value again and again: one new entry each */
    size_t len;
    uint8_t *p = repeat(0x94, 5, ".", &len);
    tp_limits lim = {.max_memo = 5};
    assert_int_equal(scan(p, len, lim, NULL), TP_OK);
    free(p);
    p = repeat(0x94, 6, ".", &len);
    int64_t at;
    assert_int_equal(scan(p, len, lim, &at), TP_E_LIMIT_MEMO);
    assert_int_equal(at, 3 + 5);
    free(p);
    /* a huge index is one sparse entry, not a huge table */
    static const uint8_t huge[] = {0x80, 2, 'N', 'r', 0xff, 0xff, 0xff, 0xff, 'j', 0xff, 0xff, 0xff, 0xff, '.'};
    tp_limits small = {.max_memory = 1 << 16};
    assert_int_equal(scan(huge, sizeof huge, small, NULL), TP_OK);
}

static void nesting_limit(void **state)
{
    (void)state;
    /* ]]]...]aaa...a. : each APPEND puts a list one level deeper */
    size_t n = 50, len = 2 + n + (n - 1) + 1;
    uint8_t *p = malloc(len);
    p[0] = 0x80, p[1] = 2;
    memset(p + 2, ']', n);
    memset(p + 2 + n, 'a', n - 1);
    p[len - 1] = '.';
    tp_limits lim = {.max_nesting = 49};
    assert_int_equal(scan(p, len, lim, NULL), TP_OK);
    lim.max_nesting = 48;
    assert_int_equal(scan(p, len, lim, NULL), TP_E_LIMIT_NESTING);
    free(p);
}

static void opcodes_limit(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = repeat('N', 7, "", &len); /* PROTO, 8 NONEs */
    p = realloc(p, len + 1);
    p[len++] = '.';
    tp_limits lim = {.max_opcodes = 10, .max_stack = 100};
    assert_int_equal(scan(p, len, lim, NULL), TP_OK); /* 10 opcodes with STOP */
    lim.max_opcodes = 9;
    int64_t at;
    assert_int_equal(scan(p, len, lim, &at), TP_E_LIMIT_OPCODES);
    assert_int_equal(at, (int64_t)len - 1);
    free(p);
}

static void memory_limit(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = repeat('2', 100000, ".", &len);
    tp_limits lim = {.max_memory = 64 << 10};
    assert_int_equal(scan(p, len, lim, NULL), TP_E_LIMIT_MEMORY);
    lim.max_memory = 16 << 20;
    assert_int_equal(scan(p, len, lim, NULL), TP_OK);
    free(p);
}

static void defaults_are_generous(void **state)
{
    (void)state;
    tp_limits lim;
    memset(&lim, 0, sizeof lim);
    limits_apply_defaults(&lim);
    assert_true(lim.max_stack >= 1000000);
    assert_true(lim.max_marks >= 100000);
    assert_true(lim.max_memo >= 100000000);
    assert_true(lim.max_nesting >= 10000);
    assert_true(lim.max_memory >= ((uint64_t)1 << 32));
    assert_true(lim.max_opcodes >= 1000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stack_limit),   cmocka_unit_test(marks_limit),   cmocka_unit_test(memo_limit),
        cmocka_unit_test(nesting_limit), cmocka_unit_test(opcodes_limit), cmocka_unit_test(memory_limit),
        cmocka_unit_test(defaults_are_generous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
