/*
 * test_joblib.c - joblib's raw array data inside the pickle stream.
 *
 * The vectors (joblib_vectors.h) were written by Debian's joblib 1.2:
 *   RAW    joblib.dump(np.arange(3, dtype=np.int64), f)
 *   OBJ    joblib.dump(np.array([1, None], dtype=object), f)  (nested pickle)
 *   PLAIN  pickle.dumps([NumpyArrayWrapper(np.ndarray, (2,), 'C', np.dtype('f8')), 7], protocol=4):
 *          a plain pickle that holds a wrapper with no data after it
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "numpy/joblib.h"
#include "joblib_vectors.h"
#include "sklearn/locate.h"
#include "numpy/npy.h"

/* Run the interpreter with the joblib hook over one pickle. */
static tp_code run(const uint8_t *data, size_t len, pv_vm *vm, jl_stats *st, tp_ctx *ctx)
{
    pv_vm_init(vm, ctx, data, len, NULL);
    memset(st, 0, sizeof *st);
    vm->build_hook = jl_build_hook;
    vm->hook_opaque = st;
    return pv_vm_run(vm);
}

static const pv_obj *find_wrapper(const pv_vm *vm)
{
    for (size_t i = 0; i < vm->nobjs; i++)
        if (jl_is_wrapper(vm, &vm->objs[i])) return &vm->objs[i];
    return NULL;
}

static void raw_array_is_found(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    jl_stats st;
    assert_int_equal(run(RAW, RAW_LEN, &vm, &st, ctx), TP_OK);
    assert_int_equal(vm.pos, RAW_LEN);
    assert_int_equal(st.raw_arrays, 1);
    assert_int_equal(st.aligned, 1);
    const pv_obj *w = find_wrapper(&vm);
    assert_non_null(w);
    /* one pad-length byte (9), nine 0xFF, then 3 x 8 bytes, then STOP */
    assert_int_equal(w->extra_off, RAW_LEN - 1 - 24);
    assert_int_equal(w->extra_len, 24);
    assert_int_equal(RAW[w->extra_off - 10], 9);
    npy_array a;
    pv v = {.kind = PV_OBJECT, .ref = (uint32_t)(w - vm.objs)};
    assert_true(npy_array_parse(&vm, v, &a));
    assert_int_equal(a.payload, PAY_RAW);
    assert_int_equal(a.data_off, (uint64_t)w->extra_off);
    assert_int_equal(a.nbytes, 24);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.dtype.base.kind, 'i');
    pv_vm_free(&vm);
    tp_ctx_free(ctx);
}

static void object_array_runs_nested_pickle(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    jl_stats st;
    assert_int_equal(run(OBJ, OBJ_LEN, &vm, &st, ctx), TP_OK);
    assert_int_equal(vm.pos, OBJ_LEN);
    assert_int_equal(st.nested, 1);
    assert_int_equal(st.raw_arrays, 0);
    assert_int_equal(vm.nested, 0);
    /* the outer pickle's stack came back: STOP returned the wrapper */
    assert_int_equal(vm.result.kind, PV_OBJECT);
    assert_true(jl_is_wrapper(&vm, pv_obj_of(&vm, vm.result)));
    pv_vm_free(&vm);
    tp_ctx_free(ctx);
}

/* Every prefix of a joblib file is refused cleanly, whatever stage it
 * cuts: opcodes, padding, raw data, nested pickle. */
static void every_truncation_fails(void **state)
{
    (void)state;
    const uint8_t *vec[] = {RAW, OBJ};
    size_t len[] = {RAW_LEN, OBJ_LEN};
    tp_ctx *ctx = tp_ctx_new();
    for (int k = 0; k < 2; k++) {
        for (size_t cut = 1; cut < len[k]; cut++) {
            /* OBJ without its final STOP is a valid plain pickle: the
             * nested pickle's STOP ends it (pickle.load reads it so) */
            if (vec[k] == OBJ && cut == len[k] - 1) continue;
            uint8_t *p = malloc(cut);
            memcpy(p, vec[k], cut);
            scan_result scan;
            ctx_reset(ctx);
            if (scan_run(ctx, p, cut, NULL, &scan) == TP_OK) fail_msg("vector %d cut at %zu scans", k, cut);
            assert_true(tp_ctx_message(ctx)[0] != 0);
            free(p);
        }
    }
    tp_ctx_free(ctx);
}

/* Find `needle` in the vector and return a writable copy with the byte at
 * its offset + delta replaced. */
static uint8_t *patched(const uint8_t *v, size_t len, const char *needle, size_t nlen, int delta, uint8_t byte)
{
    uint8_t *p = malloc(len);
    memcpy(p, v, len);
    for (size_t i = 0; i + nlen <= len; i++)
        if (memcmp(p + i, needle, nlen) == 0) {
            p[(size_t)((ptrdiff_t)i + delta)] = byte;
            return p;
        }
    fail_msg("needle not found");
    return p;
}

static void lying_wrappers_are_refused(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    jl_stats st;
    /* shape (3,) -> (255,): the data would run past the end */
    uint8_t *p = patched(RAW, RAW_LEN, "\x4b\x03\x85", 3, 1, 0xff);
    assert_int_equal(run(p, RAW_LEN, &vm, &st, ctx), TP_E_TRUNCATED);
    pv_vm_free(&vm);
    free(p);
    /* padding length 9 -> 255: past the end */
    p = patched(RAW, RAW_LEN, "\x75\x62\x09", 3, 2, 0xff);
    ctx_reset(ctx);
    assert_int_equal(run(p, RAW_LEN, &vm, &st, ctx), TP_E_TRUNCATED);
    pv_vm_free(&vm);
    free(p);
    /* dtype 'i8' -> 'i9' is fine for the size (9 bytes an item) but then
     * the data runs out */
    p = patched(RAW, RAW_LEN, "\x8c\x02\x69\x38", 4, 3, '9');
    ctx_reset(ctx);
    assert_int_not_equal(run(p, RAW_LEN, &vm, &st, ctx), TP_OK);
    pv_vm_free(&vm);
    free(p);
    /* a dtype numpy does not have: refused, not sized by guesswork */
    p = patched(RAW, RAW_LEN, "\x8c\x02\x69\x38", 4, 3, 'x');
    ctx_reset(ctx);
    assert_int_equal(run(p, RAW_LEN, &vm, &st, ctx), TP_E_UNSAFE);
    pv_vm_free(&vm);
    free(p);
    tp_ctx_free(ctx);
}

/* A shape whose byte count overflows 64 bits. */
static void overflowing_shape_is_refused(void **state)
{
    (void)state;
    /* replace "K\x03\x85" (shape (3,)) by a 3-tuple of 2**62 each:
     * "\x8a\x08" + 8 bytes (LONG1) three times then TUPLE3 */
    static const uint8_t big[] = "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40";
    uint8_t buf[RAW_LEN + 64];
    size_t at = 0;
    for (; at + 3 <= RAW_LEN; at++)
        if (memcmp(RAW + at, "\x4b\x03\x85", 3) == 0) break;
    assert_true(at + 3 <= RAW_LEN);
    size_t n = 0;
    memcpy(buf, RAW, at), n = at;
    for (int i = 0; i < 3; i++) memcpy(buf + n, big, 10), n += 10;
    buf[n++] = 0x87; /* TUPLE3 */
    memcpy(buf + n, RAW + at + 3, RAW_LEN - at - 3), n += RAW_LEN - at - 3;
    /* the FRAME length no longer matches: drop the frame (PROTO 4 without it) */
    memmove(buf + 2, buf + 11, n - 11);
    n -= 9;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    jl_stats st;
    assert_int_equal(run(buf, n, &vm, &st, ctx), TP_E_UNSAFE); /* not a shape joblib writes */
    pv_vm_free(&vm);
    tp_ctx_free(ctx);
}

/* A plain pickle that holds a wrapper with no data after it: read as
 * joblib it makes no sense; scan_run reads it as pickle.load would. */
static void plain_pickle_with_a_wrapper_falls_back(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    jl_stats st;
    assert_int_not_equal(run(PLAIN, PLAIN_LEN, &vm, &st, ctx), TP_OK);
    pv_vm_free(&vm);
    scan_result scan;
    ctx_reset(ctx);
    assert_int_equal(scan_run(ctx, PLAIN, PLAIN_LEN, NULL, &scan), TP_OK);
    assert_int_equal(scan.npickles, 1);
    scan_free(&scan);
    tp_ctx_free(ctx);
}

/* Nested pickles read by plain pickle.load: a wrapper inside is an
 * ordinary object, and nesting stops at one level. */
static void nested_run_restores_state(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    pv_vm vm;
    /* two pickles: run the second as "nested" from the end of the first */
    uint8_t buf[64];
    static const uint8_t one[] = "\x80\x02\x4b\x05\x71\x00\x2e";         /* 5, memo 0 */
    static const uint8_t two[] = "\x80\x02\x5d\x71\x00\x68\x00\x61\x2e"; /* [x] with x = memo 0 */
    memcpy(buf, one, 7);
    memcpy(buf + 7, two, 9);
    pv_vm_init(&vm, ctx, buf, 16, NULL);
    assert_int_equal(pv_vm_run(&vm), TP_OK);
    pv r;
    assert_int_equal(pv_vm_run_nested(&vm, 1, &r), TP_OK);
    assert_int_equal(r.kind, PV_LIST);
    assert_int_equal(vm.nested, 0);
    /* depth limit: with max_depth 0 no nesting is allowed */
    vm.pos = 7;
    ctx_reset(ctx);
    assert_int_equal(pv_vm_run_nested(&vm, 0, &r), TP_E_LIMIT_NESTING);
    pv_vm_free(&vm);
    tp_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raw_array_is_found),
        cmocka_unit_test(object_array_runs_nested_pickle),
        cmocka_unit_test(every_truncation_fails),
        cmocka_unit_test(lying_wrappers_are_refused),
        cmocka_unit_test(overflowing_shape_is_refused),
        cmocka_unit_test(plain_pickle_with_a_wrapper_falls_back),
        cmocka_unit_test(nested_run_restores_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
