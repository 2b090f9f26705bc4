/*
 * test_records.c - structured arrays column by column: layouts from
 * dtypes, the round trip of random record arrays, and blocks that lie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/records_section.h"
#include "helpers.h"
#include "sklearn/locate.h"

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
    found_records recs[K];
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
    bytebuf block = {0};
    assert_int_equal(records_encode(ctx, in, recs, 0, K, 3, NULL, &block), TP_OK);
    assert_true(block.len < total);

    rec_block b = {block.data, block.len, 0, K};
    records_set rs = {.blocks = &b, .nblocks = 1, .count = K, .cur = SIZE_MAX};
    for (int i = K - 1; i >= 0; i--) {
        const uint8_t *p;
        size_t len;
        uint64_t budget = total;
        assert_int_equal(records_bytes(ctx, &rs, (uint64_t)i, &budget, &p, &len), TP_OK);
        assert_int_equal(len, counts[i] * 52);
        assert_memory_equal(p, in + recs[i].arr.data_off, len);
    }
    const uint8_t *p;
    size_t len;
    uint64_t budget = total;
    assert_int_equal(records_bytes(ctx, &rs, K, &budget, &p, &len), TP_E_TPK_CORRUPT);

    /* a budget smaller than the block's records is refused */
    bytebuf_free(&rs.bytes);
    free(rs.starts);
    rs.starts = NULL;
    rs.cur = SIZE_MAX;
    budget = total - 1;
    ctx_reset(ctx);
    assert_int_equal(records_bytes(ctx, &rs, 0, &budget, &p, &len), TP_E_TPK_CORRUPT);

    /* flipped bytes: an error or some bytes, never a crash or an
     * allocation beyond the budget (every byte of the header, then
     * every 13th) */
    for (size_t at = 0; at < block.len; at += at < 64 ? 1 : 13) {
        block.data[at] ^= 0xA5;
        bytebuf_free(&rs.bytes);
        free(rs.starts);
        rs.starts = NULL;
        rs.cur = SIZE_MAX;
        budget = total;
        ctx_reset(ctx);
        if (records_bytes(ctx, &rs, 3, &budget, &p, &len) == TP_OK) assert_true(len <= total);
        block.data[at] ^= 0xA5;
    }
    bytebuf_free(&rs.bytes);
    free(rs.starts);
    bytebuf_free(&block);
    tp_ctx_free(ctx);
    free(in);
}

/* Every array of the set, last first, is the one the stream holds. */
static void set_gives(tp_ctx *ctx, records_set *rs, const found_records *recs, size_t n, const uint8_t *in,
                      uint64_t total)
{
    for (size_t i = n; i-- > 0;) {
        const uint8_t *p, *q;
        uint8_t *own = NULL;
        size_t len;
        uint64_t budget = total;
        assert_int_equal(records_bytes(ctx, rs, i, &budget, &p, &len), TP_OK);
        assert_int_equal(npy_array_bytes(ctx, in, &recs[i].arr, &q, &own), TP_OK);
        assert_int_equal(len, recs[i].arr.nbytes);
        assert_memory_equal(p, q, len);
        free(own);
    }
}

/* Predictor nodes as sklearn writes them: trees in preorder, counts the
 * sums of the children's, missing values sent to the child with more
 * samples, split values from the bin thresholds (plain
 * arrays earlier in the stream), a few nodes that break each rule.  The
 * model makes the block smaller than the same nodes under other field
 * names, both round-trip, and a damaged block is an error or bytes,
 * never a crash. */
static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static uint64_t grow(uint8_t *nodes, uint64_t *n, uint64_t max, uint32_t depth, uint32_t count, uint64_t *seed,
                     const double thr[4][16])
{
    uint64_t i = (*n)++;
    uint8_t *r = nodes + i * 52;
    memset(r, 0, 52);
    double v = (double)(rnd(seed) % 1000) / 7.0, g = (double)rnd(seed) / 3.0;
    memcpy(r + 0, &v, 8);
    memcpy(r + 8, &count, 4);
    memcpy(r + 41, &depth, 4);
    memcpy(r + 33, &g, 8);
    if (count < 4 || *n + 2 > max || rnd(seed) % 4 == 0) {
        r[45] = 1;
        return i;
    }
    uint32_t f = rnd(seed) % 4, b = rnd(seed) % 17; /* 16: one past the last, +inf */
    memcpy(r + 12, &f, 4);
    r[46] = (uint8_t)b;
    double t = b < 16 ? thr[f][b] : 1.0 / 0.0;
    memcpy(r + 16, &t, 8);
    uint32_t cl = 1 + rnd(seed) % (count - 2);
    uint32_t l = (uint32_t)grow(nodes, n, max, depth + 1, cl, seed, thr);
    uint32_t rr = (uint32_t)grow(nodes, n, max, depth + 1, count - cl, seed, thr);
    memcpy(r + 25, &l, 4);
    memcpy(r + 29, &rr, 4);
    r[24] = cl > count - cl; /* missing_go_to_left: to the child with more samples */
    return i;
}

static void predictor_model_round_trip(void **state)
{
    (void)state;
    enum { NF = 4, K = 6 };
    double thr[NF][16];
    for (int f = 0; f < NF; f++)
        for (int b = 0; b < 16; b++) thr[f][b] = (f - 1.5) * 10 + b * 0.37 + f * 0.001;
    npy_dtype dt, other;
    predictor_dtype(&dt);
    other = dt;
    for (int f = 0; f < other.nfields; f++) other.fields[f].name[0] = 'x';
    uint64_t seed = 42, total = NF * 128;
    uint8_t *in = calloc(1, 1 << 20);
    found_records recs[NF + K];
    memset(recs, 0, sizeof recs);
    for (int f = 0; f < NF; f++) {
        memcpy(in + f * 128, thr[f], 128);
        found_records *r = &recs[f];
        r->plain = true;
        r->thr_group = 1;
        r->thr_feature = (uint32_t)f;
        r->arr.ndim = 1;
        r->arr.shape[0] = 16;
        r->arr.nbytes = r->arr.data_len = 128;
        r->arr.data_off = (uint64_t)f * 128;
        r->arr.payload = PAY_RAW;
        r->layout = (rec_layout){.itemsize = 8, .ncols = 1, .width = {8}, .type = {REC_FLOAT_LE}};
    }
    uint64_t off = total;
    for (int k = 0; k < K; k++) {
        uint64_t n = 0;
        grow(in + off, &n, 400, 0, 5000 + (uint32_t)k, &seed, (const double(*)[16])thr);
        if (k == 2 && n > 3) { /* rules broken: a count, a split value, a right child */
            in[off + 1 * 52 + 8] ^= 1;
            in[off + 0 * 52 + 16] ^= 1;
            in[off + 0 * 52 + 29] ^= 1;
        }
        found_records *r = &recs[NF + k];
        r->arr.dtype = dt;
        r->arr.ndim = 1;
        r->arr.shape[0] = n;
        r->arr.nbytes = r->arr.data_len = n * 52;
        r->arr.data_off = off;
        r->arr.payload = PAY_RAW;
        assert_true(rec_layout_from_dtype(&dt, &r->layout));
        off += n * 52;
        total += n * 52;
    }
    tp_ctx *ctx = tp_ctx_new();
    bytebuf b0 = {0}, b1 = {0}, b2 = {0};
    assert_int_equal(records_encode(ctx, in, recs, 0, NF, 9, NULL, &b0), TP_OK);
    assert_int_equal(records_encode(ctx, in, recs, NF, K, 9, NULL, &b1), TP_OK);
    for (int k = 0; k < K; k++) recs[NF + k].arr.dtype = other;
    assert_int_equal(records_encode(ctx, in, recs, NF, K, 9, NULL, &b2), TP_OK);
    print_message("predictor block: %zu bytes with the model, %zu without\n", b1.len, b2.len);
    assert_true(b1.len + b1.len / 4 < b2.len);

    const rec_block blocks[2] = {{b0.data, b0.len, 0, NF}, {b1.data, b1.len, NF, K}};
    rec_block *bl0 = malloc(2 * sizeof *bl0); /* the set frees it */
    bl0[0] = blocks[0], bl0[1] = blocks[1];
    records_set rs = {.blocks = bl0, .nblocks = 2, .count = NF + K, .cur = SIZE_MAX};
    set_gives(ctx, &rs, recs, NF + K, in, total);
    /* damaged: every byte of the header, then every 7th */
    for (size_t at = 0; at < b1.len; at += at < 200 ? 1 : 7) {
        b1.data[at] ^= 0x5A;
        records_set_free(&rs);
        rs = (records_set){.blocks = NULL, .nblocks = 0, .cur = SIZE_MAX};
        rec_block *bl = malloc(2 * sizeof *bl);
        bl[0] = blocks[0], bl[1] = blocks[1];
        rs.blocks = bl, rs.nblocks = 2, rs.count = NF + K;
        const uint8_t *p;
        size_t len;
        uint64_t budget = total;
        ctx_reset(ctx);
        if (records_bytes(ctx, &rs, NF + 1, &budget, &p, &len) == TP_OK) assert_true(len <= total);
        b1.data[at] ^= 0x5A;
    }
    records_set_free(&rs);
    bytebuf_free(&b0), bytebuf_free(&b1), bytebuf_free(&b2);
    tp_ctx_free(ctx);
    free(in);
}

/* A search's cv_results_: S splits' scores (with NaN for failed fits),
 * their mean and standard deviation as numpy computes them (for 10
 * values: eight interleaved sums, then the rest) and the rank.  The mean
 * and deviation cost next to nothing, the rank too; every array comes
 * back exactly, also a mean that is not the splits' (an iid-weighted
 * one), and damage is an error or bytes. */
static double sum10(const double *x)
{
    return 0.0 + ((((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]))) + x[8]) + x[9];
}

static void cv_results_round_trip(void **state)
{
    (void)state;
    enum { S = 10, N = 700, K = S + 2 };
    uint8_t *in = calloc(1, (K + 1) * N * 8);
    double *a = (double *)(void *)in; /* K arrays of N doubles, then the ranks */
    uint64_t seed = 7;
    for (int k = 0; k < S; k++)
        for (int i = 0; i < N; i++)
            a[k * N + i] = i % 97 == 5 ? NAN : 0.5 + (double)(rnd(&seed) % 100000) / 300000.0;
    double *mean = a + S * N, *std = a + (S + 1) * N;
    for (int i = 0; i < N; i++) {
        double row[S];
        for (int k = 0; k < S; k++) row[k] = a[k * N + i];
        mean[i] = sum10(row) / S;
        for (int k = 0; k < S; k++) row[k] = (row[k] - mean[i]) * (row[k] - mean[i]);
        std[i] = sqrt(sum10(row) / S);
    }
    mean[3] += 1e-9; /* not the splits' mean: stored through its residual */
    int32_t *rank = (int32_t *)(void *)(in + K * N * 8);
    for (int i = 0; i < N; i++) {
        int32_t above = 0;
        for (int j = 0; j < N; j++) above += mean[i] == mean[i] ? mean[j] > mean[i] : mean[j] == mean[j];
        rank[i] = 1 + above;
    }
    found_records recs[K + 1];
    memset(recs, 0, sizeof recs);
    for (int k = 0; k <= K; k++) {
        found_records *r = &recs[k];
        r->plain = true;
        r->arr.ndim = 1;
        r->arr.shape[0] = N;
        r->arr.nbytes = r->arr.data_len = (uint64_t)N * (k == K ? 4 : 8);
        r->arr.data_off = (uint64_t)k * N * 8;
        r->arr.payload = PAY_RAW;
        r->layout = (rec_layout){.itemsize = k == K ? 4 : 8, .ncols = 1, .width = {k == K ? 4 : 8},
                                 .type = {k == K ? REC_INT_LE : REC_FLOAT_LE}};
        r->cv = (cv_mark){1, 0, k < S ? (uint32_t)k : 0, k < S ? CV_SPLIT : k == S ? CV_MEAN : k == S + 1 ? CV_STD : CV_RANK};
    }
    tp_ctx *ctx = tp_ctx_new();
    bytebuf b0 = {0}, b1 = {0}, plain0 = {0}, plain1 = {0};
    assert_int_equal(records_encode(ctx, in, recs, 0, K, 9, NULL, &b0), TP_OK);
    assert_int_equal(records_encode(ctx, in, recs, K, 1, 9, NULL, &b1), TP_OK);
    found_records bare[K + 1];
    memcpy(bare, recs, sizeof bare);
    for (int k = 0; k <= K; k++) bare[k].cv = (cv_mark){0, 0, 0, CV_NONE};
    assert_int_equal(records_encode(ctx, in, bare, 0, K, 9, NULL, &plain0), TP_OK);
    assert_int_equal(records_encode(ctx, in, bare, K, 1, 9, NULL, &plain1), TP_OK);
    print_message("cv_results_: scores %zu bytes with the model, %zu without; ranks %zu, %zu\n", b0.len, plain0.len,
                  b1.len, plain1.len);
    /* two of the twelve arrays nearly free; the ranks all but free */
    assert_true(b0.len * 12 < plain0.len * 11);
    assert_true(b1.len * 10 < plain1.len);

    const uint64_t total = (uint64_t)(K + 1) * N * 8;
    rec_block *bl = malloc(2 * sizeof *bl); /* the set frees it */
    bl[0] = (rec_block){b0.data, b0.len, 0, K};
    bl[1] = (rec_block){b1.data, b1.len, K, 1};
    records_set rs = {.blocks = bl, .nblocks = 2, .count = K + 1, .cur = SIZE_MAX};
    set_gives(ctx, &rs, recs, K + 1, in, total);
    /* damaged: every byte of the headers, then every 11th */
    for (int which = 0; which < 2; which++) {
        bytebuf *b = which ? &b1 : &b0;
        for (size_t at = 0; at < b->len; at += at < 80 ? 1 : 11) {
            b->data[at] ^= 0x21;
            records_set_free(&rs);
            bl = malloc(2 * sizeof *bl);
            bl[0] = (rec_block){b0.data, b0.len, 0, K};
            bl[1] = (rec_block){b1.data, b1.len, K, 1};
            rs = (records_set){.blocks = bl, .nblocks = 2, .count = K + 1, .cur = SIZE_MAX};
            const uint8_t *p;
            size_t len;
            uint64_t budget = total;
            ctx_reset(ctx);
            if (records_bytes(ctx, &rs, which ? K : S + 1, &budget, &p, &len) == TP_OK) assert_true(len <= total);
            b->data[at] ^= 0x21;
        }
    }
    records_set_free(&rs);
    bytebuf_free(&b0), bytebuf_free(&b1), bytebuf_free(&plain0), bytebuf_free(&plain1);
    tp_ctx_free(ctx);
    free(in);
}

/* Predictors of estimators fitted with l2_regularization: each hessian
 * sum has it added.  The scan hands the codec the estimator's learning
 * rate and L2, and the blocks come out smaller with them than without
 * (squared error: a fifth; log loss: a little), exactly as before. */
static size_t encode_all(tp_ctx *ctx, const uint8_t *in, found_records *recs, size_t n, rec_block *blocks,
                         bytebuf *bufs, size_t *nblocks)
{
    size_t total = 0;
    *nblocks = 0;
    for (size_t first = 0; first < n;) {
        size_t count = 0;
        while (first + count < n && !memcmp(&recs[first + count].layout, &recs[first].layout, sizeof(rec_layout)))
            count++;
        bytebuf *b = &bufs[*nblocks];
        memset(b, 0, sizeof *b);
        assert_int_equal(records_encode(ctx, in, recs, first, count, 9, NULL, b), TP_OK);
        blocks[*nblocks] = (rec_block){b->data, b->len, first, count};
        (*nblocks)++;
        total += b->len;
        first += count;
    }
    return total;
}

static void predictors_with_l2(void **state)
{
    (void)state;
    static const char *const names[] = {"hgb_regressor_l2_p4.pkl", "hgb_classifier_l2_p4.pkl"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        LOAD_FIXTURE_OR_SKIP(data, names[f], &len);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        size_t npred = 0;
        for (size_t i = 0; i < s.nrecords; i++)
            if (!s.records[i].plain) {
                npred++;
                assert_true(s.records[i].hgb.known);
                assert_true(s.records[i].hgb.l2 == (f == 0 ? 1.5 : 0.5));
                assert_true(s.records[i].hgb.shrink == (f == 0 ? 0.05 : 0.2));
            }
        assert_int_equal(npred, f == 0 ? 25 : 30);
        rec_block *blocks = calloc(s.nrecords, sizeof *blocks);
        bytebuf *bufs = calloc(s.nrecords, sizeof *bufs);
        size_t nb, nb0;
        size_t with = encode_all(ctx, data, s.records, s.nrecords, blocks, bufs, &nb);
        /* as it decodes */
        rec_block *bl = malloc(nb * sizeof *bl); /* the set frees it */
        memcpy(bl, blocks, nb * sizeof *bl);
        records_set rs = {.blocks = bl, .nblocks = nb, .count = s.nrecords, .cur = SIZE_MAX};
        set_gives(ctx, &rs, s.records, s.nrecords, data, len);
        records_set_free(&rs);
        for (size_t b = 0; b < nb; b++) bytebuf_free(&bufs[b]);
        for (size_t i = 0; i < s.nrecords; i++) s.records[i].hgb.known = false;
        size_t without = encode_all(ctx, data, s.records, s.nrecords, blocks, bufs, &nb0);
        for (size_t b = 0; b < nb0; b++) bytebuf_free(&bufs[b]);
        print_message("%s: %zu bytes with the estimator's L2, %zu without\n", names[f], with, without);
        assert_true(f == 0 ? with * 20 < without * 17 : with < without);
        free(blocks), free(bufs);
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layouts_tile_the_record),
        cmocka_unit_test(random_arrays_round_trip),
        cmocka_unit_test(predictor_model_round_trip),
        cmocka_unit_test(cv_results_round_trip),
        cmocka_unit_test(predictors_with_l2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
