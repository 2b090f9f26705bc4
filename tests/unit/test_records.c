/*
 * test_records.c - structured arrays column by column: layouts from
 * dtypes, the round trip of random record arrays, and blocks that lie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/records_section.h"

static void add_field(npy_dtype *dt, const char *name, char kind, uint32_t size, bool big, uint32_t off)
{
    npy_field *f = &dt->fields[dt->nfields++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->type.kind = kind;
    f->type.size = size;
    f->type.big = big;
    f->offset = off;
}

/* HistGradientBoosting's PREDICTOR_RECORD_DTYPE (52 bytes, packed). */
static void predictor_dtype(npy_dtype *dt)
{
    memset(dt, 0, sizeof *dt);
    dt->base.kind = 'V';
    dt->base.size = 52;
    add_field(dt, "value", 'f', 8, false, 0);
    add_field(dt, "count", 'u', 4, false, 8);
    add_field(dt, "feature_idx", 'u', 4, false, 12);
    add_field(dt, "num_threshold", 'f', 8, false, 16);
    add_field(dt, "missing_go_to_left", 'u', 1, false, 24);
    add_field(dt, "left", 'u', 4, false, 25);
    add_field(dt, "right", 'u', 4, false, 29);
    add_field(dt, "gain", 'f', 8, false, 33);
    add_field(dt, "depth", 'u', 4, false, 41);
    add_field(dt, "is_leaf", 'u', 1, false, 45);
    add_field(dt, "bin_threshold", 'u', 1, false, 46);
    add_field(dt, "is_categorical", 'u', 1, false, 47);
    add_field(dt, "bitset_idx", 'u', 4, false, 48);
}

static void layouts_tile_the_record(void **state)
{
    (void)state;
    npy_dtype dt;
    rec_layout lay;
    predictor_dtype(&dt);
    assert_true(rec_layout_from_dtype(&dt, &lay));
    assert_int_equal(lay.ncols, 13);
    assert_int_equal(lay.type[0], REC_FLOAT_LE);
    assert_int_equal(lay.type[1], REC_INT_LE);

    /* gaps, big-endian, overlapping fields, an odd-sized field */
    memset(&dt, 0, sizeof dt);
    dt.base.kind = 'V';
    dt.base.size = 40;
    add_field(&dt, "a", 'f', 8, true, 4);
    add_field(&dt, "b", 'i', 4, false, 16);
    add_field(&dt, "c", 'i', 8, false, 18); /* overlaps b */
    add_field(&dt, "d", 'S', 5, false, 30);
    assert_true(rec_layout_from_dtype(&dt, &lay));
    uint32_t at = 0;
    for (uint32_t k = 0; k < lay.ncols; k++) {
        assert_int_equal(lay.off[k], at);
        at += lay.width[k];
    }
    assert_int_equal(at, 40);
    assert_int_equal(lay.type[1], REC_FLOAT_BE); /* a */
    assert_int_equal(lay.off[1], 4);

    /* not structured, or a field past the end */
    memset(&dt, 0, sizeof dt);
    dt.base.kind = 'f';
    dt.base.size = 8;
    assert_false(rec_layout_from_dtype(&dt, &lay));
    dt.base.kind = 'V';
    dt.base.size = 8;
    add_field(&dt, "x", 'f', 8, false, 4);
    assert_false(rec_layout_from_dtype(&dt, &lay));
}

/* Records that look like a predictor's: small ints, a few float values. */
static void fill(uint8_t *p, size_t n, size_t isz, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n * isz; i++) {
        x = x * 1664525u + 1013904223u;
        size_t col = i % isz;
        p[i] = col < 8 ? (uint8_t)(x >> 24) : col < 16 ? (uint8_t)((i / isz) >> (8 * (col - 8))) : (uint8_t)(x >> 29);
    }
}

static void random_arrays_round_trip(void **state)
{
    (void)state;
    npy_dtype dt;
    predictor_dtype(&dt);
    enum { K = 7 };
    size_t counts[K] = {1, 31, 0, 255, 7, 1000, 2};
    size_t total = 0;
    for (int i = 0; i < K; i++) total += counts[i] * 52;
    uint8_t *in = malloc(total + 100);
    tp_found_records recs[K];
    size_t off = 50;
    fill(in, (total + 100) / 52, 52, 3);
    for (int i = 0; i < K; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].arr.dtype = dt;
        recs[i].arr.ndim = 1;
        recs[i].arr.shape[0] = counts[i];
        recs[i].arr.nbytes = counts[i] * 52;
        recs[i].arr.payload = PAY_RAW;
        recs[i].arr.data_off = off;
        recs[i].arr.data_len = counts[i] * 52;
        assert_true(rec_layout_from_dtype(&dt, &recs[i].layout));
        off += counts[i] * 52;
    }
    tp_ctx *ctx = tp_ctx_new();
    tp_buf block = {0};
    assert_int_equal(tp_records_encode(ctx, in, recs, 0, K, 3, NULL, &block), TP_OK);
    assert_true(block.len < total);

    rec_block b = {block.data, block.len, 0, K};
    tp_records_set rs = {.blocks = &b, .nblocks = 1, .count = K, .cur = SIZE_MAX};
    for (int i = K - 1; i >= 0; i--) {
        const uint8_t *p;
        size_t len;
        uint64_t budget = total;
        assert_int_equal(tp_records_bytes(ctx, &rs, (uint64_t)i, &budget, &p, &len), TP_OK);
        assert_int_equal(len, counts[i] * 52);
        assert_memory_equal(p, in + recs[i].arr.data_off, len);
    }
    const uint8_t *p;
    size_t len;
    uint64_t budget = total;
    assert_int_equal(tp_records_bytes(ctx, &rs, K, &budget, &p, &len), TP_E_TPK_CORRUPT);

    /* a budget smaller than the block's records is refused */
    tp_buf_free(&rs.bytes);
    free(rs.starts);
    rs.starts = NULL;
    rs.cur = SIZE_MAX;
    budget = total - 1;
    tp_ctx_reset(ctx);
    assert_int_equal(tp_records_bytes(ctx, &rs, 0, &budget, &p, &len), TP_E_TPK_CORRUPT);

    /* flipped bytes: an error or some bytes, never a crash or an
     * allocation beyond the budget (every byte of the header, then
     * every 13th) */
    for (size_t at = 0; at < block.len; at += at < 64 ? 1 : 13) {
        block.data[at] ^= 0xA5;
        tp_buf_free(&rs.bytes);
        free(rs.starts);
        rs.starts = NULL;
        rs.cur = SIZE_MAX;
        budget = total;
        tp_ctx_reset(ctx);
        if (tp_records_bytes(ctx, &rs, 3, &budget, &p, &len) == TP_OK) assert_true(len <= total);
        block.data[at] ^= 0xA5;
    }
    tp_buf_free(&rs.bytes);
    free(rs.starts);
    tp_buf_free(&block);
    tp_ctx_free(ctx);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layouts_tile_the_record),
        cmocka_unit_test(random_arrays_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
