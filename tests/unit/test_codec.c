/*
 * test_codec.c - the columnar tree codec, through tree_block_encode and
 * tree_block_decode only (its internals are being reworked): whatever goes
 * in must come out bit for bit, and whatever a corrupted block holds must
 * fail cleanly.
 */
#include <math.h>

#include "helpers.h"

#include "sklearn/locate.h"
#include "format/container.h"
#include "codec/forest_dict.h"
#include "codec/tree_codec.h"

/* ---- layouts ----------------------------------------------------------------- */

static node_layout layout_56(void)
{
    static const char *const names[] = {"left_child", "right_child", "feature", "threshold",
                                        "impurity", "n_node_samples", "weighted_n_node_samples"};
    npy_dtype dt;
    memset(&dt, 0, sizeof dt);
    dt.base.kind = 'V';
    dt.base.size = 56;
    dt.nfields = 7;
    for (int i = 0; i < 7; i++) {
        snprintf(dt.fields[i].name, sizeof dt.fields[i].name, "%s", names[i]);
        dt.fields[i].type.kind = (i == 3 || i == 4 || i == 6) ? 'f' : 'i';
        dt.fields[i].type.size = 8;
        dt.fields[i].offset = (uint32_t)(8 * i);
    }
    node_layout lay;
    assert_true(node_layout_from_dtype(&dt, &lay));
    return lay;
}

/* sklearn 1.3's 64-byte node: 8 rest bytes per node */
static node_layout layout_64(void)
{
    node_layout lay = layout_56();
    lay.itemsize = 64;
    lay.rest_size = 8;
    lay.nruns = 1;
    lay.run_off[0] = 56;
    lay.run_len[0] = 8;
    return lay;
}

/* ---- comparing trees ------------------------------------------------------------- */

static bool same_bits(const void *a, const void *b, uint64_t n) { return n == 0 || memcmp(a, b, (size_t)n) == 0; }

/* Bit-exact equality of every column; reports the first difference. */
static bool tree_equal(const sktree *a, const sktree *b, uint32_t rest, const char *what)
{
    const char *bad = NULL;
    uint64_t n = a->n;
    if (a->n != b->n || a->n_outputs != b->n_outputs || a->n_classes != b->n_classes) bad = "sizes";
    else if (a->values_big != b->values_big || a->values_fortran != b->values_fortran) bad = "flags";
    else if (!same_bits(a->left, b->left, 8 * n) || !same_bits(a->right, b->right, 8 * n)) bad = "children";
    else if (!same_bits(a->feature, b->feature, 8 * n)) bad = "feature";
    else if (!same_bits(a->threshold, b->threshold, 8 * n)) bad = "threshold";
    else if (!same_bits(a->impurity, b->impurity, 8 * n)) bad = "impurity";
    else if (!same_bits(a->nsamples, b->nsamples, 8 * n)) bad = "n_node_samples";
    else if (!same_bits(a->weighted, b->weighted, 8 * n)) bad = "weighted_n_node_samples";
    else if (!same_bits(a->values, b->values, 8 * tree_values_count(a))) bad = "values";
    else if (!same_bits(a->rest, b->rest, n * rest)) bad = "rest bytes";
    if (bad) {
        print_message("%s: %s differ\n", what, bad);
        if (!strcmp(bad, "values"))
            for (uint64_t j = 0; j < tree_values_count(a); j++)
                if (tt_double_bits(a->values[j]) != tt_double_bits(b->values[j])) {
                    print_message("  value %llu: %016llx became %016llx\n", (unsigned long long)j,
                                  (unsigned long long)tt_double_bits(a->values[j]),
                                  (unsigned long long)tt_double_bits(b->values[j]));
                    break;
                }
    }
    return bad == NULL;
}

static uint64_t tree_bytes(const sktree *t, const node_layout *lay)
{
    return t->n * lay->itemsize + tree_values_count(t) * 8;
}

/* Encode k trees into one block (joined if may_join and smaller),
 * decode it, compare.  Returns the block (owned by the caller). */
static bytebuf check_form(sktree *const *trees, const uint32_t *lay_of, size_t k, const node_layout *lays,
                          size_t nlays, const forest_dict *dict, int level, bool may_join, const char *what,
                          uint64_t *parts_out)
{
    tree_block_in *in = calloc(k, sizeof *in);
    uint64_t budget = 0;
    for (size_t i = 0; i < k; i++) {
        in[i].tree = trees[i];
        in[i].layout = lay_of ? lay_of[i] : 0;
        in[i].rest_size = lays[in[i].layout].rest_size;
        in[i].n_features = -1; /* unknown: the decoder checks features are not negative */
        budget += tree_bytes(trees[i], &lays[in[i].layout]);
    }
    tp_ctx *ctx = tp_ctx_new();
    bytebuf block = {0};
    uint64_t parts[TP_PART_COUNT] = {0};
    tp_code rc = tree_block_encode(ctx, in, k, dict, level, may_join, &block, parts);
    if (rc) print_message("%s: encode: %s\n", what, tp_ctx_message(ctx));
    assert_int_equal(rc, TP_OK);
    assert_false(block.failed);
    uint64_t stored = 0;
    for (int p = 0; p < TP_PART_COUNT; p++) stored += parts[p];
    assert_true(stored < block.len);

    /* the directory agrees */
    uint64_t k2 = 0, parts2[TP_PART_COUNT] = {0};
    assert_int_equal(tree_block_sizes(ctx, block.data, block.len, &k2, parts2), TP_OK);
    assert_int_equal(k2, k);
    assert_memory_equal(parts2, parts, sizeof parts);

    tree_block_out out;
    uint64_t left = budget + 12345;
    rc = tree_block_decode(ctx, block.data, block.len, lays, nlays, dict, &left, &out);
    if (rc) print_message("%s: decode: %s\n", what, tp_ctx_message(ctx));
    assert_int_equal(rc, TP_OK);
    /* the budget goes down by exactly what the trees take in the original */
    assert_int_equal(left, 12345);
    assert_int_equal(out.k, k);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(out.layout[i], in[i].layout);
        if (!tree_equal(trees[i], &out.trees[i], in[i].rest_size, what)) print_message("  (tree %zu)\n", i);
        assert_true(tree_equal(trees[i], &out.trees[i], in[i].rest_size, what));
        /* and so are the bytes */
        const node_layout *lay = &lays[in[i].layout];
        size_t nb = (size_t)(trees[i]->n * lay->itemsize), vb = (size_t)(tree_values_count(trees[i]) * 8);
        uint8_t *n1 = malloc(nb + 1), *v1 = malloc(vb + 1), *n2 = malloc(nb + 1), *v2 = malloc(vb + 1);
        tree_to_bytes(trees[i], lay, n1, v1);
        tree_to_bytes(&out.trees[i], lay, n2, v2);
        assert_memory_equal(n1, n2, nb);
        assert_memory_equal(v1, v2, vb);
        free(n1), free(v1), free(n2), free(v2);
    }
    tree_block_out_free(&out);
    assert_int_equal(out.k, 0);

    /* one byte less of budget and the block is refused */
    left = budget - 1;
    ctx_reset(ctx);
    rc = tree_block_decode(ctx, block.data, block.len, lays, nlays, dict, &left, &out);
    assert_int_equal(rc, TP_E_TPK_CORRUPT);
    tp_ctx_free(ctx);
    free(in);
    if (parts_out) memcpy(parts_out, parts, sizeof parts);
    return block;
}

/* Both forms of a block: in columns, and as written (joined when that is
 * smaller); the one asked for is returned, the other freed.  Joining
 * never makes a block larger.  The parts of a joined block are its
 * frame shared out by raw size: tests of what one part costs read the
 * columns' (columns true). */
static bytebuf round_trip_parts(sktree *const *trees, const uint32_t *lay_of, size_t k, const node_layout *lays,
                               size_t nlays, const forest_dict *dict, int level, bool columns, const char *what,
                               uint64_t *parts_out)
{
    uint64_t parts_c[TP_PART_COUNT], parts_j[TP_PART_COUNT];
    bytebuf c = check_form(trees, lay_of, k, lays, nlays, dict, level, false, what, parts_c);
    bytebuf j = check_form(trees, lay_of, k, lays, nlays, dict, level, true, what, parts_j);
    assert_true(j.len <= c.len);
    if (parts_out) memcpy(parts_out, columns ? parts_c : parts_j, sizeof parts_c);
    bytebuf_free(columns ? &j : &c);
    return columns ? c : j;
}

/* Both forms checked; the block in columns returned, for the tests that
 * read or damage its directory. */
static bytebuf round_trip(sktree *const *trees, const uint32_t *lay_of, size_t k, const node_layout *lays,
                         size_t nlays, int level, const char *what)
{
    return round_trip_parts(trees, lay_of, k, lays, nlays, NULL, level, true, what, NULL);
}

static void round_trip_one(sktree *t, const node_layout *lay, const char *what)
{
    bytebuf b = round_trip(&t, NULL, 1, lay, 1, 3, what);
    bytebuf_free(&b);
}

/* ---- synthetic trees ------------------------------------------------------------------ */

/* A random full binary tree with `leaves` leaves, grown by splitting random
 * leaves (best-first numbering: children get the next free ids), or
 * renumbered into depth-first preorder. */
static void random_shape(tt_rng *rng, sktree *t, bool preorder)
{
    uint64_t n = t->n, used = 1;
    for (uint64_t i = 0; i < n; i++) t->left[i] = t->right[i] = -1;
    uint64_t *leaves = malloc(n * 8), nleaves = 1;
    leaves[0] = 0;
    while (used + 2 <= n) {
        uint64_t pick = tt_below(rng, nleaves), node = leaves[pick];
        t->left[node] = (int64_t)used;
        t->right[node] = (int64_t)used + 1;
        leaves[pick] = used;
        leaves[nleaves++] = used + 1;
        used += 2;
    }
    assert_int_equal(used, n); /* n must be odd */
    free(leaves);
    if (!preorder) return;
    /* renumber in preorder */
    int64_t *map = malloc(n * 8), *l2 = malloc(n * 8), *r2 = malloc(n * 8);
    uint64_t *stack = malloc(n * 8), sp = 0, next = 0;
    stack[sp++] = 0;
    while (sp) {
        uint64_t i = stack[--sp];
        map[i] = (int64_t)next++;
        if (t->left[i] != -1) {
            stack[sp++] = (uint64_t)t->right[i];
            stack[sp++] = (uint64_t)t->left[i];
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        l2[map[i]] = t->left[i] == -1 ? -1 : map[t->left[i]];
        r2[map[i]] = t->right[i] == -1 ? -1 : map[t->right[i]];
    }
    memcpy(t->left, l2, n * 8);
    memcpy(t->right, r2, n * 8);
    free(map), free(l2), free(r2), free(stack);
}

/* Children before parents, for filling sums. */
static uint64_t *bottom_up_order(const sktree *t)
{
    uint64_t n = t->n, *order = malloc(n * 8), *stack = malloc(n * 8), sp = 0, k = n;
    stack[sp++] = 0;
    while (sp) {
        uint64_t i = stack[--sp];
        order[--k] = i;
        if (t->left[i] != -1) {
            stack[sp++] = (uint64_t)t->right[i];
            stack[sp++] = (uint64_t)t->left[i];
        }
    }
    free(stack);
    return order;
}

static void fill_splits(tt_rng *rng, sktree *t, int64_t n_features)
{
    for (uint64_t i = 0; i < t->n; i++) {
        if (t->left[i] == -1) {
            t->feature[i] = -2;
            t->threshold[i] = -2.0;
        } else {
            t->feature[i] = (int64_t)tt_below(rng, (uint64_t)n_features);
            t->threshold[i] = (double)(int64_t)tt_below(rng, 2000) / 8.0 - 100.0 + tt_unit(rng) * 1e-3;
        }
    }
}

/* A classifier as sklearn grows it: class counts (weighted), sums upwards,
 * gini impurity. */
static void fill_classifier(tt_rng *rng, sktree *t, bool weighted_samples)
{
    const uint32_t O = t->n_outputs, C = t->n_classes;
    uint64_t *order = bottom_up_order(t);
    for (uint64_t k = 0; k < t->n; k++) {
        uint64_t i = order[k];
        double *v = t->values + i * O * C;
        if (t->left[i] == -1) {
            int64_t ns = 1 + (int64_t)tt_below(rng, 40);
            uint32_t pure = (uint32_t)tt_below(rng, C);
            for (uint32_t o = 0; o < O; o++)
                for (uint32_t c = 0; c < C; c++) {
                    double cnt = tt_below(rng, 3) ? (c == pure ? (double)ns : 0.0) : (double)tt_below(rng, 9);
                    v[o * C + c] = weighted_samples ? cnt * 0.37 : cnt;
                }
            t->nsamples[i] = ns;
        } else {
            const double *a = t->values + (uint64_t)t->left[i] * O * C, *b = t->values + (uint64_t)t->right[i] * O * C;
            for (uint32_t e = 0; e < O * C; e++) v[e] = a[e] + b[e];
            t->nsamples[i] = t->nsamples[t->left[i]] + t->nsamples[t->right[i]];
        }
        double w = 0.0;
        for (uint32_t c = 0; c < C; c++) w += v[c];
        t->weighted[i] = w;
        double imp = 0.0;
        for (uint32_t o = 0; o < O; o++) {
            double sq = 0.0;
            for (uint32_t c = 0; c < C; c++) sq += v[o * C + c] * v[o * C + c];
            imp += w > 0 ? 1.0 - sq / (w * w) : 0.0;
        }
        t->impurity[i] = imp / O;
    }
    free(order);
}

/* A regressor: means weighted by sample counts, mse impurity. */
static void fill_regressor(tt_rng *rng, sktree *t)
{
    const uint32_t O = t->n_outputs;
    assert_int_equal(t->n_classes, 1);
    uint64_t *order = bottom_up_order(t);
    for (uint64_t k = 0; k < t->n; k++) {
        uint64_t i = order[k];
        double *v = t->values + i * O;
        if (t->left[i] == -1) {
            t->nsamples[i] = 1 + (int64_t)tt_below(rng, 20);
            t->weighted[i] = (double)t->nsamples[i];
            for (uint32_t o = 0; o < O; o++) v[o] = tt_unit(rng) * 200.0 - 100.0;
            t->impurity[i] = t->nsamples[i] == 1 ? 0.0 : tt_unit(rng) * 10.0;
        } else {
            uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
            t->nsamples[i] = t->nsamples[l] + t->nsamples[r];
            t->weighted[i] = t->weighted[l] + t->weighted[r];
            for (uint32_t o = 0; o < O; o++)
                v[o] = (t->values[l * O + o] * t->weighted[l] + t->values[r * O + o] * t->weighted[r]) / t->weighted[i];
            t->impurity[i] = (t->impurity[l] * t->weighted[l] + t->impurity[r] * t->weighted[r]) / t->weighted[i] +
                             tt_unit(rng);
        }
    }
    free(order);
}

/* Doubles a tree is not supposed to hold. */
static double nasty_double(tt_rng *rng)
{
    static const uint64_t special[] = {
        0x0000000000000000ull, 0x8000000000000000ull, /* +0, -0 */
        0x7ff0000000000000ull, 0xfff0000000000000ull, /* +-inf */
        0x7ff8000000000000ull, 0xfff8000000000000ull, /* quiet NaNs */
        0x7ff0000000000001ull, 0x7ff4000000000000ull, /* signalling NaNs */
        0xfff0123456789abcull, 0x7fffffffffffffffull, /* NaN payloads */
        0x0000000000000001ull, 0x800fffffffffffffull, /* denormals */
        0x7fefffffffffffffull, 0x0010000000000000ull, /* largest, smallest normal */
        0xc000000000000000ull, 0x4340000000000000ull, /* -2, 2^53 */
    };
    switch (tt_below(rng, 3)) {
    case 0: return tt_bits_double(special[tt_below(rng, ARRAY_LEN(special))]);
    case 1: return tt_bits_double(tt_next(rng));
    default: return (double)(int64_t)tt_below(rng, 50);
    }
}

/* Anything at all in every column the layout lets vary. */
static void fill_adversarial(tt_rng *rng, sktree *t, uint32_t rest)
{
    for (uint64_t i = 0; i < t->n; i++) {
        t->threshold[i] = nasty_double(rng);
        t->impurity[i] = nasty_double(rng);
        t->weighted[i] = nasty_double(rng);
        switch (tt_below(rng, 4)) {
        case 0: t->nsamples[i] = (int64_t)tt_next(rng); break;
        case 1: t->nsamples[i] = tt_below(rng, 2) ? INT64_MIN : INT64_MAX; break;
        default: t->nsamples[i] = (int64_t)tt_below(rng, 100) - 50;
        }
        if (t->left[i] != -1) {
            t->feature[i] = tt_below(rng, 2) ? (int64_t)(tt_next(rng) >> 1) : (int64_t)tt_below(rng, 10);
        } else {
            /* leaves usually hold -2, -2.0; not always */
            uint64_t r = tt_below(rng, 4);
            t->feature[i] = r == 0 ? (int64_t)tt_next(rng) : r == 1 ? 0 : -2;
            if (tt_below(rng, 3) == 0) t->threshold[i] = -2.0;
        }
    }
    for (uint64_t j = 0; j < tree_values_count(t); j++) t->values[j] = nasty_double(rng);
    tt_fill(rng, t->rest, (size_t)(t->n * rest));
}

static sktree *new_tree(tt_rng *rng, uint64_t n, uint32_t O, uint32_t C, uint32_t rest, bool preorder)
{
    sktree *t = malloc(sizeof *t);
    assert_true(tree_alloc(t, n, O, C, rest));
    random_shape(rng, t, preorder);
    fill_splits(rng, t, 13);
    memset(t->rest, 0, (size_t)(n * rest));
    return t;
}

static void drop_tree(sktree *t)
{
    tree_free(t);
    free(t);
}

/* ---- fixtures ------------------------------------------------------------------ */

static void fixture_forests(void **state)
{
    (void)state;
    tt_fixture fx[128];
    size_t nfx = tt_manifest(fx, 128);
    if (!nfx) skip();
    size_t tested = 0;
    for (size_t f = 0; f < nfx; f++) {
        if (!fx[f].tree_nodes) continue;
        size_t len;
        uint8_t *data = tt_load_fixture(fx[f].name, &len);
        assert_non_null(data);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        sktree **trees = calloc(s.ntrees, sizeof *trees);
        node_layout lay = s.trees[0].layout;
        for (size_t i = 0; i < s.ntrees; i++) {
            const found_tree *ft = &s.trees[i];
            assert_memory_equal(&ft->layout, &lay, sizeof lay);
            uint8_t *nb = malloc((size_t)ft->nodes.nbytes), *vb = malloc((size_t)ft->values.nbytes);
            if (ft->nodes.payload == PAY_RAW) {
                memcpy(nb, data + ft->nodes.data_off, (size_t)ft->nodes.nbytes);
                memcpy(vb, data + ft->values.data_off, (size_t)ft->values.nbytes);
            } else {
                assert_true(npy_payload_decode(ft->nodes.payload, data + ft->nodes.data_off,
                                               (size_t)ft->nodes.data_len, nb, (size_t)ft->nodes.nbytes));
                assert_true(npy_payload_decode(ft->values.payload, data + ft->values.data_off,
                                               (size_t)ft->values.data_len, vb, (size_t)ft->values.nbytes));
            }
            trees[i] = malloc(sizeof **trees);
            assert_true(tree_alloc(trees[i], ft->nodes.shape[0], (uint32_t)ft->values.shape[1],
                                      (uint32_t)ft->values.shape[2], lay.rest_size));
            tree_from_bytes(trees[i], &lay, nb, vb);
            free(nb);
            free(vb);
        }
        /* the whole forest as one block, at two levels */
        bytebuf b = round_trip(trees, NULL, s.ntrees, &lay, 1, 3, fx[f].name);
        bytebuf_free(&b);
        b = round_trip(trees, NULL, s.ntrees, &lay, 1, 19, fx[f].name);
        bytebuf_free(&b);
        /* each tree alone */
        for (size_t i = 0; i < s.ntrees && i < 4; i++) round_trip_one(trees[i], &lay, fx[f].name);
        /* one ulp off in every field of one node: still exact */
        sktree *t = trees[0];
        uint64_t mid = t->n / 2;
        t->impurity[mid] = nextafter(t->impurity[mid], 1.0);
        t->weighted[mid] = nextafter(t->weighted[mid], 1e300);
        t->values[mid * t->n_outputs * t->n_classes] = nextafter(t->values[mid * t->n_outputs * t->n_classes], -1e300);
        t->nsamples[mid] += 1;
        round_trip_one(t, &lay, fx[f].name);
        for (size_t i = 0; i < s.ntrees; i++) drop_tree(trees[i]);
        free(trees);
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
        tested++;
    }
    assert_true(tested >= 20);
}

/* ---- synthetic ------------------------------------------------------------------ */

static void sklearn_like_trees(void **state)
{
    (void)state;
    tt_rng rng = {1};
    node_layout lay = layout_56();
    static const uint64_t sizes[] = {1, 3, 5, 31, 255, 1001};
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        for (int pre = 0; pre < 2; pre++) {
            char what[64];
            snprintf(what, sizeof what, "classifier n=%llu pre=%d", (unsigned long long)sizes[si], pre);
            sktree *t = new_tree(&rng, sizes[si], 1, 3, 0, pre);
            fill_classifier(&rng, t, false);
            round_trip_one(t, &lay, what);
            fill_classifier(&rng, t, true);
            round_trip_one(t, &lay, what);
            drop_tree(t);
            t = new_tree(&rng, sizes[si], 2, 4, 0, pre);
            fill_classifier(&rng, t, false);
            round_trip_one(t, &lay, what);
            drop_tree(t);
            snprintf(what, sizeof what, "regressor n=%llu pre=%d", (unsigned long long)sizes[si], pre);
            t = new_tree(&rng, sizes[si], 1, 1, 0, pre);
            fill_regressor(&rng, t);
            round_trip_one(t, &lay, what);
            drop_tree(t);
            t = new_tree(&rng, sizes[si], 3, 1, 0, pre);
            fill_regressor(&rng, t);
            round_trip_one(t, &lay, what);
            drop_tree(t);
        }
    }
}

/* scikit-learn >= 1.4 with class or sample weights: the values are
 * fractions count / weight whose counts are not whole numbers, so the
 * counts model cannot apply; the Gini of the counts fraction * weight
 * still predicts the impurity, which then costs next to nothing: less
 * than the same tree whose impurities are noise by 6 bytes a node. */
static void weighted_fractions_gini(void **state)
{
    (void)state;
    tt_rng rng = {11};
    node_layout lay = layout_56();
    sktree *t = new_tree(&rng, 1001, 1, 3, 0, true);
    fill_classifier(&rng, t, true);
    for (uint64_t i = 0; i < t->n; i++)
        for (uint32_t c = 0; c < t->n_classes; c++) t->values[i * t->n_classes + c] /= t->weighted[i];
    bytebuf with_gini = round_trip(&t, NULL, 1, &lay, 1, 3, "weighted fractions");
    for (uint64_t i = 0; i < t->n; i++) t->impurity[i] = tt_unit(&rng);
    bytebuf with_noise = round_trip(&t, NULL, 1, &lay, 1, 3, "weighted fractions, noise impurity");
    assert_true(with_gini.len + 6 * t->n < with_noise.len);
    bytebuf_free(&with_gini);
    bytebuf_free(&with_noise);
    drop_tree(t);
}

/* class_weight: a sample of class c weighs w_c, a leaf's value is the sum
 * of its samples' weights (a whole multiple of w_c to within the ulps the
 * additions lose) and the tree's values, summed up the tree, must come
 * back bit for bit through the units model at a fraction of the bytes of
 * the same tree whose values are no multiples of anything; odd leaves
 * (negative, NaN, infinite, -0.0, huge) go through its residuals. */
static void class_weighted_units(void **state)
{
    (void)state;
    tt_rng rng = {23};
    node_layout lay = layout_56();
    const double cw[3] = {0.41666666666666669, 2.2222222222222223, 6.666666666666667};
    for (int odd = 0; odd < 2; odd++)
        for (uint32_t O = 1; O <= 4; O++) {
            /* O 3 and 4: 1 and 2 outputs of scikit-learn >= 1.4, whose
             * values are the class sums divided by the weight */
            const bool fractions = O > 2;
            sktree *t = new_tree(&rng, 1501, fractions ? O - 2 : O, 3, 0, true);
            fill_classifier(&rng, t, false);
            uint64_t *order = bottom_up_order(t);
            const uint32_t per = t->n_outputs * 3;
            for (uint64_t k = 0; k < t->n; k++) {
                uint64_t i = order[k];
                double *v = t->values + i * per;
                if (t->left[i] == -1) {
                    for (uint32_t e = 0; e < per; e++) {
                        double sum = 0.0; /* sample by sample, as the criterion adds them */
                        for (uint64_t s = 0; s < (uint64_t)v[e]; s++) sum += cw[e % 3];
                        v[e] = sum;
                    }
                } else {
                    const double *a = t->values + (uint64_t)t->left[i] * per;
                    const double *b = t->values + (uint64_t)t->right[i] * per;
                    for (uint32_t e = 0; e < per; e++) v[e] = a[e] + b[e];
                }
                double w = 0.0;
                for (uint32_t c = 0; c < 3; c++) w += v[c];
                t->weighted[i] = w;
            }
            for (uint64_t i = 0; fractions && i < t->n; i++)
                for (uint32_t e = 0; e < per; e++) t->values[i * per + e] /= t->weighted[i];
            if (odd) {
                const double strange[6] = {-3.0, NAN, INFINITY, -0.0, 1e300, 5e-324};
                uint64_t done = 0;
                for (uint64_t i = 0; i < t->n && done < 6; i++)
                    if (t->left[i] == -1) t->values[i * per + done % per] = strange[done], done++;
            }
            free(order);
            char what[64];
            snprintf(what, sizeof what, "class-weighted%s, %u outputs%s", fractions ? " fractions" : "", t->n_outputs,
                     odd ? ", odd leaves" : "");
            /* what the leaf values and weights cost: 8-9 bytes each as
             * doubles, a byte or two as multiples of their unit */
            uint64_t parts[TP_PART_COUNT], values = 0;
            bytebuf block = round_trip_parts(&t, NULL, 1, &lay, 1, NULL, 3, true, what, parts);
            for (uint64_t i = 0; i < t->n; i++) values += t->left[i] == -1 ? per + 1 : 0;
            uint64_t cost = parts[TP_PART_VALUES] + parts[TP_PART_COUNTS];
            if (cost >= 2 * values)
                print_message("%s: values and counts %llu bytes for %llu leaf values and weights\n", what,
                              (unsigned long long)cost, (unsigned long long)values);
            /* odd leaves may cost their ancestors' residuals too */
            assert_true(cost < (odd ? 3 : 2) * values);
            bytebuf_free(&block);
            drop_tree(t);
        }
}

/* scikit-learn >= 1.3: the byte after the node fields, missing_go_to_left,
 * is n_left > n_right where training saw no missing value of the split's
 * feature, else what the splitter learnt; padding follows.  The codec
 * predicts the byte: a tree that follows the rule costs next to nothing in
 * the rest column, one where some nodes break it (missing values seen)
 * comes back exactly, and so does one whose rest bytes are noise. */
static void missing_go_to_left_predicted(void **state)
{
    (void)state;
    tt_rng rng = {31};
    node_layout lay = layout_64();
    for (int round = 0; round < 3; round++) {
        sktree *t = new_tree(&rng, 2001, 1, 2, lay.rest_size, round != 1);
        fill_classifier(&rng, t, false);
        for (uint64_t i = 0; i < t->n; i++) {
            uint8_t *r = t->rest + i * lay.rest_size;
            memset(r, 0, lay.rest_size);
            if (t->left[i] != -1) r[0] = t->nsamples[t->left[i]] > t->nsamples[t->right[i]];
            if (round == 1 && tt_below(&rng, 20) == 0) r[0] ^= 1; /* learnt directions */
            if (round == 2) r[tt_below(&rng, lay.rest_size)] = (uint8_t)tt_below(&rng, 256);
        }
        char what[64];
        snprintf(what, sizeof what, "missing_go_to_left, round %d", round);
        uint64_t parts[TP_PART_COUNT];
        bytebuf block = round_trip_parts(&t, NULL, 1, &lay, 1, NULL, 3, true, what, parts);
        /* 8 rest bytes a node: a few dozen bytes in all when predicted */
        if (round == 0) assert_true(parts[TP_PART_OTHER] < 100);
        bytebuf_free(&block);
        drop_tree(t);
    }
}

/* A regression tree on targets base + j * q (j below `levels`) as
 * sklearn's squared error builds it: a leaf holds 1..`most` samples drawn
 * 1-3 times (bootstrap), values are sums over weights, impurity the sum
 * of squares over the weight less the value squared. */
static void fill_quantised(tt_rng *rng, sktree *t, double q, uint64_t levels, uint64_t most, double base)
{
    fill_regressor(rng, t);
    uint64_t *order = bottom_up_order(t);
    double *sum = calloc(t->n, sizeof *sum), *sq = calloc(t->n, sizeof *sq);
    for (uint64_t k = 0; k < t->n; k++) {
        uint64_t i = order[k];
        double w = 0.0;
        if (t->left[i] == -1) {
            int64_t ns = 1 + (int64_t)tt_below(rng, most);
            for (int64_t j = 0; j < ns; j++) {
                double m = (double)(1 + tt_below(rng, 3)); /* bootstrap draws */
                double y = (double)(int64_t)tt_below(rng, levels) * q + base;
                w += m, sum[i] += m * y, sq[i] += m * y * y;
            }
            t->nsamples[i] = ns;
        } else {
            uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
            w = t->weighted[l] + t->weighted[r];
            sum[i] = sum[l] + sum[r], sq[i] = sq[l] + sq[r];
            t->nsamples[i] = t->nsamples[l] + t->nsamples[r];
        }
        t->weighted[i] = w;
        t->values[i] = sum[i] / w;
        t->impurity[i] = sq[i] / w - t->values[i] * t->values[i];
    }
    free(order), free(sum), free(sq);
}

/* Regression on whole or two-decimal targets (prices, counts, ratings):
 * a leaf's value is its samples' sum over their weight and its impurity
 * sq / w - v * v, sums of whole multiples of a quantum, as sklearn's
 * MSE criterion adds them; internal nodes add their children's sums.
 * The codec stores the multiples: a few bytes a node instead of two
 * doubles, bit-exact, also with odd nodes among them. */
static void quantised_targets(void **state)
{
    (void)state;
    tt_rng rng = {41};
    node_layout lay = layout_56();
    for (int round = 0; round < 3; round++) {
        const double q = round == 1 ? 0.01 : 1.0;
        sktree *t = new_tree(&rng, 2001, 1, 1, 0, true);
        fill_quantised(&rng, t, q, 90000, 6, round == 1 ? 3.5 : 1000.0);
        if (round == 2) /* odd nodes: through the residuals */
            for (uint64_t i = 0; i < t->n; i += 97) t->values[i] = i % 2 ? NAN : -1e300, t->impurity[i] = INFINITY;
        char what[64];
        snprintf(what, sizeof what, "quantised targets, round %d", round);
        uint64_t parts[TP_PART_COUNT];
        bytebuf block = round_trip_parts(&t, NULL, 1, &lay, 1, NULL, 3, true, what, parts);
        uint64_t cost = parts[TP_PART_VALUES] + parts[TP_PART_IMPURITY];
        /* as doubles: 16 bytes a node, 9-10 after zstd; the multiples of
         * six-figure targets and their squares take 3-6 bytes a leaf */
        if (cost >= 6 * t->n)
            print_message("%s: values and impurity %llu bytes for %llu nodes\n", what, (unsigned long long)cost,
                          (unsigned long long)t->n);
        assert_true(cost < 6 * t->n);
        bytebuf_free(&block);
        drop_tree(t);
    }
}

/* Small trees on a few target levels (ratings, prices in steps): their
 * leaf values repeat across the forest, so the forest's table of leaf
 * values codes them, and the impurity still comes from the quantum's
 * sums of squares rather than as doubles. */
static void quantised_targets_leaf_table(void **state)
{
    (void)state;
    tt_rng rng = {43};
    node_layout lay = layout_56();
    enum { K = 300 };
    sktree *trees[K];
    forest_dict_builder b;
    memset(&b, 0, sizeof b);
    uint64_t nodes = 0;
    for (int i = 0; i < K; i++) {
        trees[i] = new_tree(&rng, 7, 1, 1, 0, true);
        fill_quantised(&rng, trees[i], 1.0, 5, 8, 1.0);
        forest_dict_builder_add(&b, trees[i]);
        nodes += trees[i]->n;
    }
    forest_dict dict;
    assert_true(forest_dict_builder_finish(&b, &dict));
    assert_true(dict.leaf.n > 0);
    uint64_t parts[TP_PART_COUNT];
    bytebuf block = round_trip_parts(trees, NULL, K, &lay, 1, &dict, 3, true, "quantised targets, leaf table", parts);
    /* 3.3 bytes a node under the squared-error grid, 0.9 from the quantum */
    if (2 * parts[TP_PART_IMPURITY] >= 3 * nodes)
        print_message("impurity %llu bytes for %llu nodes\n", (unsigned long long)parts[TP_PART_IMPURITY],
                      (unsigned long long)nodes);
    assert_true(2 * parts[TP_PART_IMPURITY] < 3 * nodes);
    bytebuf_free(&block);
    forest_dict_free(&dict);
    for (int i = 0; i < K; i++) drop_tree(trees[i]);
}

/* Absolute error ("absolute_error"), as sklearn computes it: a node's
 * value is the weighted median of its samples' targets, its impurity
 * sum(w |y - median|) / w.  On targets in quarters that sum is a multiple
 * of an eighth (a median may fall between two targets): every node stores
 * that multiple and a residual, two bytes or so instead of a double. */
typedef struct sample {
    double y, w;
} sample;

static int by_y(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    return x->y < y->y ? -1 : x->y > y->y;
}

static void absolute_error_impurity(void **state)
{
    (void)state;
    tt_rng rng = {53};
    node_layout lay = layout_56();
    enum { N = 255, MOST = 6 };
    sktree *t = new_tree(&rng, N, 1, 1, 0, true);
    fill_regressor(&rng, t);
    uint64_t *order = bottom_up_order(t);
    sample **own = calloc(t->n, sizeof *own);
    size_t *cnt = calloc(t->n, sizeof *cnt);
    for (uint64_t k = 0; k < t->n; k++) {
        const uint64_t i = order[k];
        if (t->left[i] == -1) {
            cnt[i] = 1 + (size_t)tt_below(&rng, MOST);
            own[i] = malloc(cnt[i] * sizeof **own);
            for (size_t j = 0; j < cnt[i]; j++)
                own[i][j] = (sample){0.25 * (double)tt_below(&rng, 40) + 3.0, (double)(1 + tt_below(&rng, 3))};
            t->nsamples[i] = (int64_t)cnt[i];
        } else {
            const uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
            cnt[i] = cnt[l] + cnt[r];
            own[i] = malloc(cnt[i] * sizeof **own);
            memcpy(own[i], own[l], cnt[l] * sizeof **own);
            memcpy(own[i] + cnt[l], own[r], cnt[r] * sizeof **own);
            t->nsamples[i] = t->nsamples[l] + t->nsamples[r];
        }
        qsort(own[i], cnt[i], sizeof **own, by_y);
        double w = 0, half, acc = 0, med = own[i][0].y;
        for (size_t j = 0; j < cnt[i]; j++) w += own[i][j].w;
        half = w / 2;
        for (size_t j = 0; j < cnt[i]; j++) {
            acc += own[i][j].w;
            if (acc == half && j + 1 < cnt[i]) {
                med = (own[i][j].y + own[i][j + 1].y) / 2;
                break;
            }
            if (acc > half) {
                med = own[i][j].y;
                break;
            }
        }
        double sum = 0;
        for (size_t j = 0; j < cnt[i]; j++) sum += fabs(own[i][j].y - med) * own[i][j].w;
        t->weighted[i] = w;
        t->values[i] = med;
        t->impurity[i] = sum / (w * 1.0);
    }
    for (uint64_t i = 0; i < t->n; i++) free(own[i]);
    free(own), free(cnt), free(order);
    uint64_t parts[TP_PART_COUNT];
    bytebuf block = round_trip_parts(&t, NULL, 1, &lay, 1, NULL, 3, true, "absolute error", parts);
    /* about 2 bytes a node (its multiple and a residual of 0); as doubles
     * on the squared-error grid it took 5 */
    if (parts[TP_PART_IMPURITY] >= 3 * t->n)
        print_message("absolute error: impurity %llu bytes for %llu nodes\n",
                      (unsigned long long)parts[TP_PART_IMPURITY], (unsigned long long)t->n);
    assert_true(parts[TP_PART_IMPURITY] < 3 * t->n);
    bytebuf_free(&block);
    drop_tree(t);
}

/* Several outputs, squared error as sklearn's MSE criterion computes it:
 * a node's sum of squares SQ over samples and outputs, impurity
 * (SQ / w - sum_k v_k^2) / outputs, a right child's SQ its parent's minus
 * its sibling's.  The sums-of-squares model predicts internal nodes and
 * leaves of one sample to within a few ulps and stores the right leaves'
 * impurity raw: the round trip is exact and the impurity a fraction of
 * its 8 bytes a node. */
static void multi_output_squares(void **state)
{
    (void)state;
    tt_rng rng = {43};
    node_layout lay = layout_56();
    const uint32_t O = 3;
    sktree *t = new_tree(&rng, 3001, O, 1, 0, true);
    fill_regressor(&rng, t);
    uint64_t *order = bottom_up_order(t);
    double *sq = calloc(t->n, sizeof *sq);
    /* bottom-up: sums of the leaves' samples (one or two each) */
    for (uint64_t k = 0; k < t->n; k++) {
        uint64_t i = order[k];
        double *v = t->values + i * O;
        if (t->left[i] == -1) {
            int64_t ns = 1 + (int64_t)(tt_below(&rng, 4) == 0);
            double w = 0.0, sum[3] = {0};
            for (int64_t j = 0; j < ns; j++) {
                w += 1.0;
                for (uint32_t o = 0; o < O; o++) {
                    double y = (tt_unit(&rng) - 0.5) * 400.0;
                    sum[o] += y, sq[i] += y * y;
                }
            }
            t->nsamples[i] = ns, t->weighted[i] = w;
            for (uint32_t o = 0; o < O; o++) v[o] = sum[o] / w;
        } else {
            uint64_t l = (uint64_t)t->left[i], r = (uint64_t)t->right[i];
            t->nsamples[i] = t->nsamples[l] + t->nsamples[r];
            t->weighted[i] = t->weighted[l] + t->weighted[r];
            sq[i] = sq[l] + sq[r];
            for (uint32_t o = 0; o < O; o++)
                v[o] = (t->values[l * O + o] * t->weighted[l] + t->values[r * O + o] * t->weighted[r]) / t->weighted[i];
        }
    }
    /* top-down: a right child's SQ is its parent's minus its sibling's */
    for (uint64_t k = t->n; k-- > 0;) {
        uint64_t i = order[k];
        if (t->left[i] != -1) sq[t->right[i]] = sq[i] - sq[t->left[i]];
    }
    for (uint64_t i = 0; i < t->n; i++) {
        double imp = sq[i] / t->weighted[i];
        for (uint32_t o = 0; o < O; o++) imp -= t->values[i * O + o] * t->values[i * O + o];
        t->impurity[i] = imp / O;
    }
    free(order), free(sq);
    uint64_t parts[TP_PART_COUNT];
    bytebuf block = round_trip_parts(&t, NULL, 1, &lay, 1, NULL, 3, true, "several outputs, squared error", parts);
    if (parts[TP_PART_IMPURITY] >= 4 * t->n)
        print_message("impurity %llu bytes for %llu nodes\n", (unsigned long long)parts[TP_PART_IMPURITY],
                      (unsigned long long)t->n);
    assert_true(parts[TP_PART_IMPURITY] < 4 * t->n);
    bytebuf_free(&block);
    drop_tree(t);
}

static void adversarial_trees(void **state)
{
    (void)state;
    tt_rng rng = {7};
    node_layout lays[2] = {layout_56(), layout_64()};
    for (int round = 0; round < 60; round++) {
        uint64_t n = 1 + 2 * tt_below(&rng, 60);
        uint32_t O = 1 + (uint32_t)tt_below(&rng, 3), C = 1 + (uint32_t)tt_below(&rng, 5);
        int li = (int)tt_below(&rng, 2);
        sktree *t = new_tree(&rng, n, O, C, lays[li].rest_size, tt_below(&rng, 2));
        fill_adversarial(&rng, t, lays[li].rest_size);
        t->values_big = (uint8_t)tt_below(&rng, 2);
        t->values_fortran = (uint8_t)tt_below(&rng, 2);
        char what[64];
        snprintf(what, sizeof what, "adversarial round %d", round);
        round_trip_one(t, &lays[li], what);
        drop_tree(t);
    }
}

static void edge_shapes_and_values(void **state)
{
    (void)state;
    tt_rng rng = {99};
    node_layout lay = layout_56();

    /* single-node trees, of every kind */
    sktree *t = new_tree(&rng, 1, 1, 1, 0, true);
    fill_regressor(&rng, t);
    round_trip_one(t, &lay, "single regressor leaf");
    fill_adversarial(&rng, t, 0);
    round_trip_one(t, &lay, "single odd leaf");
    t->feature[0] = 5;
    t->threshold[0] = 0.5;
    round_trip_one(t, &lay, "single leaf with a split's feature");
    drop_tree(t);
    t = new_tree(&rng, 1, 1, 7, 0, true);
    fill_classifier(&rng, t, false);
    round_trip_one(t, &lay, "single classifier leaf");
    drop_tree(t);

    /* a huge number of classes */
    t = new_tree(&rng, 5, 1, 20000, 0, true);
    fill_classifier(&rng, t, false);
    round_trip_one(t, &lay, "20000 classes");
    fill_classifier(&rng, t, true);
    round_trip_one(t, &lay, "20000 classes, weighted");
    drop_tree(t);

    /* many outputs */
    t = new_tree(&rng, 41, 12, 3, 0, false);
    fill_classifier(&rng, t, false);
    round_trip_one(t, &lay, "12 outputs");
    drop_tree(t);

    /* all values zero, weights zero, impurity zero */
    t = new_tree(&rng, 63, 2, 3, 0, true);
    fill_classifier(&rng, t, false);
    for (uint64_t j = 0; j < tree_values_count(t); j++) t->values[j] = 0.0;
    round_trip_one(t, &lay, "values all zero");
    for (uint64_t i = 0; i < t->n; i++) t->weighted[i] = 0.0, t->impurity[i] = 0.0, t->nsamples[i] = 0;
    round_trip_one(t, &lay, "weights all zero");
    drop_tree(t);
    t = new_tree(&rng, 63, 1, 1, 0, false);
    fill_regressor(&rng, t);
    for (uint64_t i = 0; i < t->n; i++) t->weighted[i] = 0.0;
    round_trip_one(t, &lay, "regressor with zero weights");
    drop_tree(t);

    /* counts at the edge of exact doubles */
    t = new_tree(&rng, 7, 1, 2, 0, true);
    fill_classifier(&rng, t, false);
    t->values[0] = 9007199254740991.0; /* 2^53 - 1 */
    t->values[1] = 9007199254740992.0; /* 2^53 */
    t->nsamples[3] = INT64_MAX;
    round_trip_one(t, &lay, "counts near 2^53");
    drop_tree(t);

    /* leaves with feature != -2 and odd thresholds, in a sklearn classifier */
    t = new_tree(&rng, 31, 1, 3, 0, true);
    fill_classifier(&rng, t, false);
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] == -1 && i % 3 == 0) t->feature[i] = (int64_t)i - 10, t->threshold[i] = -0.0;
    round_trip_one(t, &lay, "leaf exceptions");
    /* internal features far beyond anything */
    t->feature[0] = INT64_MAX;
    round_trip_one(t, &lay, "feature INT64_MAX");
    drop_tree(t);

    /* left child next, right child not where preorder would put it:
     * 0 -> (1, 3), 1 -> (2, 4) */
    t = malloc(sizeof *t);
    assert_true(tree_alloc(t, 5, 1, 2, 0));
    const int64_t L[] = {1, 2, -1, -1, -1}, R[] = {3, 4, -1, -1, -1};
    memcpy(t->left, L, sizeof L);
    memcpy(t->right, R, sizeof R);
    fill_splits(&rng, t, 3);
    fill_classifier(&rng, t, false);
    round_trip_one(t, &lay, "left-next but not preorder");
    drop_tree(t);

    /* a deep degenerate chain: 20,001 nodes */
    t = malloc(sizeof *t);
    uint64_t n = 20001;
    assert_true(tree_alloc(t, n, 1, 1, 0));
    for (uint64_t i = 0; i < n; i++) t->left[i] = t->right[i] = -1;
    for (uint64_t i = 0; i + 2 < n; i += 2) t->left[i] = (int64_t)i + 1, t->right[i] = (int64_t)i + 2;
    fill_splits(&rng, t, 2);
    fill_regressor(&rng, t);
    round_trip_one(t, &lay, "deep chain");
    /* the same chain numbered right-first */
    for (uint64_t i = 0; i + 2 < n; i += 2) t->left[i] = (int64_t)i + 2, t->right[i] = (int64_t)i + 1;
    fill_regressor(&rng, t);
    round_trip_one(t, &lay, "deep chain, right first");
    drop_tree(t);
}

/* -0.0 is a double like any other: it must come back with its sign. */
static const char *negative_zero_case(sktree *t, uint64_t node, bool weighted)
{
    node_layout lay = layout_56();
    tree_block_in in = {t, 0, 0, -1};
    tp_ctx *ctx = tp_ctx_new();
    bytebuf b = {0};
    assert_int_equal(tree_block_encode(ctx, &in, 1, NULL, 3, true, &b, NULL), TP_OK);
    tree_block_out out;
    uint64_t budget = UINT64_MAX;
    assert_int_equal(tree_block_decode(ctx, b.data, b.len, &lay, 1, NULL, &budget, &out), TP_OK);
    const sktree *d = &out.trees[0];
    double got = weighted ? d->weighted[node] : d->values[node * d->n_outputs * d->n_classes];
    bool lost = tt_double_bits(got) != tt_double_bits(-0.0);
    tree_block_out_free(&out);
    bytebuf_free(&b);
    tp_ctx_free(ctx);
    return lost ? "lost" : NULL;
}

static void negative_zero_survives(void **state)
{
    (void)state;
    tt_rng rng = {5};
    node_layout lay = layout_56();
    char bug[1024] = "";

    /* 1. class counts, all whole numbers, one leaf's class 0 count -0.0 */
    sktree *t = new_tree(&rng, 3, 1, 2, 0, true);
    fill_classifier(&rng, t, false);
    t->values[1 * 2 + 0] = -0.0;
    if (negative_zero_case(t, 1, false))
        strcat(bug, "tree_codec.c: a -0.0 among whole-number values comes back as +0.0 (is_count(-0.0) holds, so "
              "VM_COUNTS stores it as the integer 0); input: 3-node classifier, leaf 1 values [-0.0, n]. ");
    drop_tree(t);

    /* 2. a regressor leaf whose weighted_n_node_samples is -0.0 while all
     *    the other weights are whole numbers */
    t = new_tree(&rng, 5, 1, 1, 0, true);
    fill_regressor(&rng, t);
    uint64_t leaf = 0;
    while (t->left[leaf] != -1) leaf++;
    t->weighted[leaf] = -0.0;
    if (negative_zero_case(t, leaf, true))
        strcat(bug, "A leaf's weighted_n_node_samples of -0.0 comes back as +0.0 when all weights are "
              "whole numbers (WM_INTEGRAL stores it as the integer 0). ");
    drop_tree(t);

    /* 3. a regressor whose values are whole numbers, one leaf -0.0 */
    t = new_tree(&rng, 5, 1, 1, 0, true);
    fill_regressor(&rng, t);
    for (uint64_t i = 0; i < 5; i++) t->values[i] = (double)i;
    leaf = 0;
    while (t->left[leaf] != -1) leaf++;
    t->values[leaf] = -0.0;
    if (negative_zero_case(t, leaf, false))
        strcat(bug, "A regressor leaf value -0.0 comes back as +0.0 when all values are whole numbers. ");
    drop_tree(t);

    FAIL_IF(bug[0] != 0, "%sTherefore tp_compress of such a pickle fails with TP_E_INTERNAL (its verification "
                           "catches the difference)", bug);
    t = new_tree(&rng, 5, 1, 1, 0, true);
    fill_regressor(&rng, t);
    t->values[leaf] = -0.0;
    t->weighted[leaf] = -0.0;
    round_trip_one(t, &lay, "-0.0");
    drop_tree(t);
}

static void mixed_block(void **state)
{
    (void)state;
    /* many trees of different kinds and layouts in one block */
    tt_rng rng = {11};
    node_layout lays[3] = {layout_56(), layout_64(), layout_56()};
    enum { K = 40 };
    sktree *trees[K];
    uint32_t lay_of[K];
    for (int i = 0; i < K; i++) {
        lay_of[i] = (uint32_t)tt_below(&rng, 3);
        uint32_t rest = lays[lay_of[i]].rest_size;
        uint64_t n = 1 + 2 * tt_below(&rng, 40);
        switch (i % 4) {
        case 0:
            trees[i] = new_tree(&rng, n, 1, 3, rest, true);
            fill_classifier(&rng, trees[i], false);
            break;
        case 1:
            trees[i] = new_tree(&rng, n, 1, 1, rest, false);
            fill_regressor(&rng, trees[i]);
            break;
        case 2:
            trees[i] = new_tree(&rng, n, 2, 2, rest, true);
            fill_classifier(&rng, trees[i], true);
            break;
        default:
            trees[i] = new_tree(&rng, n, 1, 4, rest, false);
            fill_adversarial(&rng, trees[i], rest);
        }
        tt_fill(&rng, trees[i]->rest, (size_t)(trees[i]->n * rest));
    }
    bytebuf b = round_trip(trees, lay_of, K, lays, 3, 1, "mixed block");
    bytebuf_free(&b);
    for (int i = 0; i < K; i++) drop_tree(trees[i]);
}

/* ---- corruption ------------------------------------------------------------------ */

/* A small block of three trees of different kinds. */
static bytebuf small_block(sktree **trees, node_layout *lays, uint64_t *budget, bool columns)
{
    tt_rng rng = {2024};
    lays[0] = layout_56();
    lays[1] = layout_64();
    trees[0] = new_tree(&rng, 15, 1, 3, 0, true);
    fill_classifier(&rng, trees[0], false);
    trees[1] = new_tree(&rng, 9, 1, 1, 8, false);
    fill_regressor(&rng, trees[1]);
    tt_fill(&rng, trees[1]->rest, 9 * 8);
    trees[2] = new_tree(&rng, 7, 2, 2, 0, false);
    fill_adversarial(&rng, trees[2], 0);
    uint32_t lay_of[3] = {0, 1, 0};
    *budget = tree_bytes(trees[0], &lays[0]) + tree_bytes(trees[1], &lays[1]) + tree_bytes(trees[2], &lays[0]);
    return round_trip_parts(trees, lay_of, 3, lays, 2, NULL, 3, columns, "small block", NULL);
}

/* Decode a damaged block: any outcome but a crash; failures are clean. */
static tp_code decode_damaged(const uint8_t *data, size_t len, const node_layout *lays, size_t nlays,
                              uint64_t budget)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    tp_ctx *ctx = tp_ctx_new();
    tree_block_out out;
    memset(&out, 0x5a, sizeof out);
    tp_code rc = tree_block_decode(ctx, copy, len, lays, nlays, NULL, &budget, &out);
    assert_int_equal(tp_ctx_code(ctx), rc);
    if (rc) {
        assert_true(rc == TP_E_TPK_CORRUPT || rc == TP_E_NOMEM);
        assert_true(strlen(tp_ctx_message(ctx)) > 0);
        assert_null(out.trees);
        assert_int_equal(out.k, 0);
    } else {
        /* what comes out is at least a tree sklearn could walk */
        char why[200];
        for (size_t i = 0; i < out.k; i++) {
            assert_true(out.layout[i] < nlays);
            assert_true(tree_validate(&out.trees[i], -1, why, sizeof why));
        }
        tree_block_out_free(&out);
    }
    tp_ctx_free(ctx);
    free(copy);
    return rc;
}

/* Every cut of a block, and the block with a byte more, are refused. */
static void cuts_refused(const bytebuf *b, const node_layout *lays, uint64_t budget)
{
    for (size_t cut = 0; cut < b->len; cut++)
        assert_int_equal(decode_damaged(b->data, cut, lays, 2, budget), TP_E_TPK_CORRUPT);
    uint8_t *more = malloc(b->len + 1);
    memcpy(more, b->data, b->len);
    more[b->len] = 0;
    assert_int_equal(decode_damaged(more, b->len + 1, lays, 2, budget), TP_E_TPK_CORRUPT);
    free(more);
}

static void truncated_blocks_fail(void **state)
{
    (void)state;
    sktree *trees[3];
    node_layout lays[2];
    uint64_t budget;
    bytebuf b = small_block(trees, lays, &budget, true);
    cuts_refused(&b, lays, budget);
    /* too few layouts */
    assert_int_equal(decode_damaged(b.data, b.len, lays, 1, budget), TP_E_TPK_CORRUPT);
    assert_int_equal(decode_damaged(b.data, b.len, lays, 0, budget), TP_E_TPK_CORRUPT);
    bytebuf_free(&b);
    for (int i = 0; i < 3; i++) drop_tree(trees[i]);
}

/* A small block is written joined: its tree count, 0 columns, the frame's
 * raw length and one zstd frame of the columns.  Cut short, with a byte
 * more, or with its header damaged it is refused; damage inside the frame
 * ends cleanly whatever it decodes to (the container's checksums are what
 * catch that). */
static void joined_block_damage(void **state)
{
    (void)state;
    sktree *trees[3];
    node_layout lays[2];
    uint64_t budget;
    bytebuf b = small_block(trees, lays, &budget, false);
    cursor c = cursor_make(b.data, b.len);
    assert_int_equal(cursor_varint(&c), 3);
    assert_int_equal(cursor_varint(&c), 0);
    uint64_t r = cursor_varint(&c);
    assert_false(c.bad);
    assert_true(r > b.len);
    const size_t head = c.pos;
    cuts_refused(&b, lays, budget);
    size_t failed = 0;
    for (size_t at = 0; at < b.len; at++) {
        b.data[at] ^= 0x10;
        tp_code rc = decode_damaged(b.data, b.len, lays, 2, budget);
        if (at < head) assert_int_not_equal(rc, TP_OK);
        failed += rc != TP_OK;
        b.data[at] ^= 0x10;
    }
    print_message("%zu of %zu damaged joined blocks refused\n", failed, b.len);
    /* the sizes of its parts: the frame's bytes shared out */
    tp_ctx *ctx = tp_ctx_new();
    uint64_t k = 0, parts[TP_PART_COUNT] = {0}, sum = 0;
    assert_int_equal(tree_block_sizes(ctx, b.data, b.len, &k, parts), TP_OK);
    tp_ctx_free(ctx);
    assert_int_equal(k, 3);
    for (int p = 0; p < TP_PART_COUNT; p++) sum += parts[p];
    assert_true(sum <= b.len - head && sum + COL_COUNT >= b.len - head);
    bytebuf_free(&b);
    for (int i = 0; i < 3; i++) drop_tree(trees[i]);
}

static void flipped_bytes_fail_cleanly(void **state)
{
    (void)state;
    sktree *trees[3];
    node_layout lays[2];
    uint64_t budget;
    bytebuf b = small_block(trees, lays, &budget, true);
    /* the directory: tree count, column count, then per column raw and
     * stored sizes and a codec byte */
    cursor c = cursor_make(b.data, b.len);
    cursor_varint(&c);
    cursor_varint(&c);
    for (int col = 0; col < COL_COUNT; col++) {
        cursor_varint(&c);
        cursor_varint(&c);
        cursor_u8(&c);
    }
    assert_false(c.bad);
    size_t dir_len = c.pos;
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
    size_t failed = 0, total = 0;
    for (size_t at = 0; at < b.len; at++)
        for (size_t m = 0; m < ARRAY_LEN(masks); m++) {
            b.data[at] ^= masks[m];
            tp_code rc = decode_damaged(b.data, b.len, lays, 2, budget);
            /* damage to the directory is always noticed */
            if (at < dir_len && rc == TP_OK) print_message("directory byte %zu ^ 0x%02x accepted\n", at, masks[m]);
            if (at < dir_len) assert_int_not_equal(rc, TP_OK);
            failed += rc != TP_OK;
            total++;
            b.data[at] ^= masks[m];
        }
    /* elsewhere a stored column of doubles may take any bits: the
     * container's checksums are what notice that */
    print_message("%zu of %zu damaged blocks refused (%zu-byte block, %zu-byte directory)\n", failed, total, b.len,
                  dir_len);
    assert_true(failed >= dir_len * ARRAY_LEN(masks));
    bytebuf_free(&b);
    for (int i = 0; i < 3; i++) drop_tree(trees[i]);
}

/* Columns that are one byte repeated (the zero residuals of models that
 * predict every node) take one byte, codec 2, instead of a zstd frame;
 * the directory refuses such a column of another stored length, and the
 * quantised trees of the table test keep theirs through a round trip. */
static void one_byte_columns(void **state)
{
    (void)state;
    tt_rng rng = {47};
    node_layout lay = layout_56();
    sktree *t = new_tree(&rng, 41, 1, 1, 0, true);
    fill_quantised(&rng, t, 1.0, 5, 8, 1.0);
    bytebuf b = round_trip(&t, NULL, 1, &lay, 1, 3, "one-byte columns");
    cursor c = cursor_make(b.data, b.len);
    cursor_varint(&c);
    cursor_varint(&c);
    size_t fills = 0, fill_at = 0;
    for (int col = 0; col < COL_COUNT; col++) {
        uint64_t raw = cursor_varint(&c);
        size_t stored_at = c.pos;
        uint64_t stored = cursor_varint(&c);
        uint8_t codec = cursor_u8(&c);
        if (codec == 2) {
            assert_int_equal(stored, 1);
            assert_true(raw >= 2);
            fills++;
            fill_at = stored_at;
        }
    }
    assert_false(c.bad);
    /* internal counts, weights and values predicted exactly: zeros */
    assert_true(fills >= 2);
    uint64_t budget = tree_bytes(t, &lay);
    assert_int_equal(decode_damaged(b.data, b.len, &lay, 1, budget), TP_OK);
    b.data[fill_at] = 2; /* a stored length of 2: the columns no longer add up, or a fill of 2 */
    assert_int_not_equal(decode_damaged(b.data, b.len, &lay, 1, budget), TP_OK);
    bytebuf_free(&b);
    drop_tree(t);
}

/* The same on a block of real trees, whose columns are zstd frames. */
static void flipped_fixture_block(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(data, "rf_classifier_balanced_p3.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    scan_result s;
    assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
    size_t k = 3;
    sktree *trees[3];
    uint64_t budget = 0;
    for (size_t i = 0; i < k; i++) {
        const found_tree *ft = &s.trees[i];
        trees[i] = malloc(sizeof **trees);
        assert_true(tree_alloc(trees[i], ft->nodes.shape[0], (uint32_t)ft->values.shape[1],
                                  (uint32_t)ft->values.shape[2], 0));
        tree_from_bytes(trees[i], &ft->layout, data + ft->nodes.data_off, data + ft->values.data_off);
        budget += ft->nodes.nbytes + ft->values.nbytes;
    }
    node_layout lay = s.trees[0].layout;
    bytebuf b = round_trip(trees, NULL, k, &lay, 1, 9, "rf_classifier_balanced_p3 block");
    size_t failed = 0;
    for (size_t at = 0; at < b.len; at++) {
        b.data[at] ^= (uint8_t)(1u << (at % 8));
        failed += decode_damaged(b.data, b.len, &lay, 1, budget) != TP_OK;
        b.data[at] ^= (uint8_t)(1u << (at % 8));
    }
    print_message("%zu of %zu damaged blocks refused\n", failed, b.len);
    for (size_t cut = 0; cut < b.len; cut += 7)
        assert_int_equal(decode_damaged(b.data, cut, &lay, 1, budget), TP_E_TPK_CORRUPT);
    bytebuf_free(&b);
    for (size_t i = 0; i < k; i++) drop_tree(trees[i]);
    scan_free(&s);
    tp_ctx_free(ctx);
    free(data);
}

static void garbage_blocks(void **state)
{
    (void)state;
    node_layout lays[2] = {layout_56(), layout_64()};
    tt_rng rng = {31337};
    uint8_t buf[512];
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)tt_below(&rng, sizeof buf);
        tt_fill(&rng, buf, len);
        /* half of them with a plausible directory start */
        if (round % 2 && len > 2) buf[0] = 1 + (uint8_t)tt_below(&rng, 3), buf[1] = COL_COUNT;
        decode_damaged(buf, len, lays, 2, 1 << 20);
    }
    /* a directory that declares enormous columns */
    bytebuf b = {0};
    bytebuf_varint(&b, 1);
    bytebuf_varint(&b, COL_COUNT);
    for (int c = 0; c < COL_COUNT; c++) {
        bytebuf_varint(&b, (uint64_t)1 << 50);
        bytebuf_varint(&b, 0);
        bytebuf_u8(&b, CODEC_ZSTD);
    }
    assert_int_equal(decode_damaged(b.data, b.len, lays, 2, 1 << 20), TP_E_TPK_CORRUPT);
    bytebuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_forests),
        cmocka_unit_test(sklearn_like_trees),
        cmocka_unit_test(weighted_fractions_gini),
        cmocka_unit_test(class_weighted_units),
        cmocka_unit_test(missing_go_to_left_predicted),
        cmocka_unit_test(quantised_targets),
        cmocka_unit_test(quantised_targets_leaf_table),
        cmocka_unit_test(absolute_error_impurity),
        cmocka_unit_test(multi_output_squares),
        cmocka_unit_test(adversarial_trees),
        cmocka_unit_test(edge_shapes_and_values),
        cmocka_unit_test(negative_zero_survives),
        cmocka_unit_test(mixed_block),
        cmocka_unit_test(truncated_blocks_fail),
        cmocka_unit_test(flipped_bytes_fail_cleanly),
        cmocka_unit_test(joined_block_damage),
        cmocka_unit_test(one_byte_columns),
        cmocka_unit_test(flipped_fixture_block),
        cmocka_unit_test(garbage_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
