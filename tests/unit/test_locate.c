/*
 * test_locate.c - finding sklearn Tree states and their payloads.
 *
 * Runs scan_run over every fixture (fixtures/MANIFEST.txt gives the
 * protocol and the total node count) and over small hand-made Tree
 * pickles in tests/unit/data (see make_locate_cases.py there), some of
 * them with states that contradict themselves.
 */
#include "helpers.h"

#include "sklearn/locate.h"
#include "data/locate_cases.h"

/* Trees per fixture (counted with sklearn from the unpickled models). */
static const struct {
    const char *name;
    size_t trees;
} tree_counts[] = {
    {"dict_model_meta_p5.pkl", 6},          {"dict_of_arrays_p2.pkl", 0},
    {"dict_of_arrays_p4.pkl", 0},           {"dict_of_arrays_p5.pkl", 0},
    {"dt_classifier_iris_p2.pkl", 1},       {"dt_classifier_iris_p3.pkl", 1},
    {"dt_classifier_iris_p4.pkl", 1},       {"dt_classifier_iris_p5.pkl", 1},
    {"dt_classifier_multioutput_p3.pkl", 1}, {"dt_classifier_sampleweight_p2.pkl", 1},
    {"dt_regressor_bestfirst_p5.pkl", 1},   {"dt_regressor_large_p4.pkl", 1},
    {"dt_regressor_large_p5.pkl", 1},       {"dt_regressor_single_node_p4.pkl", 1},
    {"et_classifier_digits_p4.pkl", 8},     {"et_regressor_p3.pkl", 8},
    {"gb_classifier_multiclass_p2.pkl", 80}, {"gb_classifier_multiclass_p3.pkl", 80},
    {"gb_classifier_multiclass_p4.pkl", 80}, {"gb_classifier_multiclass_p5.pkl", 80},
    {"gb_regressor_p2.pkl", 40},            {"isolation_forest_p5.pkl", 30},
    {"list_two_models_p4.pkl", 6},          {"logistic_regression_p2.pkl", 0},
    {"pipeline_scaler_rf_p3.pkl", 10},      {"rf_classifier_balanced_p3.pkl", 15},
    {"rf_classifier_p4.pkl", 25},           {"rf_regressor_multioutput_p5.pkl", 10},
    {"rf_regressor_p2.pkl", 12},
    {"dt_classifier_iris_p0.pkl", 1},       {"dt_classifier_iris_p1.pkl", 1},
    {"gb_regressor_small_p0.pkl", 15},      {"hgb_classifier_p2.pkl", 0},
    {"grid_search_tree_p4.pkl", 1},         {"hgb_classifier_l2_p4.pkl", 0},
    {"hgb_regressor_l2_p4.pkl", 0},
    {"hgb_regressor_p5.pkl", 0},
    {"text_count_p2.pkl", 0}, {"text_count_int32_p2.pkl", 0}, {"text_count_int32_p3.pkl", 0},               {"text_count_p4.pkl", 0},
    {"text_count_stop_maxfeat_p2.pkl", 0},  {"text_count_stop_maxfeat_p4.pkl", 0},
    {"text_tfidf_bigram_p3.pkl", 0},        {"text_tfidf_bigram_p5.pkl", 0},
    {"text_count_bigram_large_p4.pkl", 0},  {"text_dict_vectorizer_p4.pkl", 0},
    {"text_dict_vectorizer_unsorted_p4.pkl", 0},
    {"text_pipeline_tfidf_rf_p4.pkl", 5},   {"text_feature_union_p5.pkl", 0},
};

static uint8_t *load_case(const char *name, size_t *len)
{
    *len = 0;
    const char *dir = getenv("TP_UNIT_DATA");
    if (!dir) return NULL;
    size_t n = strlen(dir) + strlen(name) + 6;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s.pkl", dir, name);
    uint8_t *data = tt_read_file(path, len);
    free(path);
    return data;
}

/* The payload bytes of an array, decoded when written as text (latin-1 at
 * protocols 1-2, raw-unicode-escape at protocol 0). */
static uint8_t *payload(const uint8_t *data, const npy_array *a)
{
    uint8_t *out = malloc(a->nbytes ? (size_t)a->nbytes : 1);
    assert_non_null(out);
    if (a->payload == PAY_RAW) {
        assert_int_equal(a->data_len, a->nbytes);
        memcpy(out, data + a->data_off, (size_t)a->nbytes);
    } else {
        assert_true(a->payload == PAY_LATIN1 || a->payload == PAY_RAWUNI);
        assert_true(npy_payload_decode(a->payload, data + a->data_off, (size_t)a->data_len, out, (size_t)a->nbytes));
    }
    return out;
}

/* The opcode that carries a payload, right before its bytes. */
static void check_payload_opcode(const uint8_t *data, const npy_array *a, int protocol)
{
    uint64_t at = a->data_off;
    if (protocol == 0) {
        /* UNICODE: the text follows the opcode, a newline ends it */
        assert_int_equal(a->payload, PAY_RAWUNI);
        assert_true(at >= 1);
        assert_int_equal(data[at - 1], 'V');
        assert_int_equal(data[at + a->data_len], '\n');
    } else if (protocol <= 2) {
        assert_int_equal(a->payload, PAY_LATIN1);
        assert_true(a->data_len >= a->nbytes && a->data_len <= 2 * a->nbytes);
        assert_true(at >= 5);
        assert_int_equal(data[at - 5], 'X');
        assert_int_equal(load_le32(data + at - 4), a->data_len);
    } else if (protocol == 5) {
        assert_int_equal(a->payload, PAY_RAW);
        assert_true(at >= 9);
        assert_int_equal(data[at - 9], 0x96); /* BYTEARRAY8 */
        assert_int_equal(load_le64(data + at - 8), a->data_len);
    } else {
        assert_int_equal(a->payload, PAY_RAW);
        if (data[at - 2] == 'C' && data[at - 1] == a->data_len) return; /* SHORT_BINBYTES */
        assert_int_equal(data[at - 5], 'B');
        assert_int_equal(load_le32(data + at - 4), a->data_len);
    }
}

/* What every sklearn 1.2 tree in the fixtures looks like. */
static void check_sklearn_tree(const uint8_t *data, size_t len, const found_tree *t, int protocol)
{
    assert_true(t->offset < len);
    assert_int_equal(data[t->offset], 'R');
    assert_true(t->n_features > 0);
    const npy_array *n = &t->nodes, *v = &t->values;
    assert_int_equal(n->ndim, 1);
    assert_true(n->shape[0] >= 1);
    assert_int_equal(n->dtype.base.size, 56);
    assert_int_equal(n->nbytes, n->shape[0] * 56);
    assert_int_equal(t->layout.itemsize, 56);
    assert_int_equal(t->layout.rest_size, 0);
    for (int f = 0; f < NF_COUNT; f++) {
        assert_true(t->layout.f[f].present);
        assert_int_equal(t->layout.f[f].offset, 8 * f);
        assert_int_equal(t->layout.f[f].size, 8);
        assert_false(t->layout.f[f].big);
    }
    assert_int_equal(v->ndim, 3);
    assert_int_equal(v->shape[0], n->shape[0]);
    assert_true(v->shape[1] >= 1 && v->shape[2] >= 1);
    assert_int_equal(v->dtype.base.kind, 'f');
    assert_int_equal(v->dtype.base.size, 8);
    assert_false(v->dtype.base.big);
    assert_false(v->fortran);
    assert_int_equal(v->nbytes, v->shape[0] * v->shape[1] * v->shape[2] * 8);
    assert_true(n->data_off + n->data_len <= len);
    assert_true(v->data_off + v->data_len <= len);
    check_payload_opcode(data, n, protocol);
    check_payload_opcode(data, v, protocol);

    /* the bytes are a valid tree */
    uint8_t *nb = payload(data, n), *vb = payload(data, v);
    sktree tree;
    assert_true(tree_alloc(&tree, n->shape[0], (uint32_t)v->shape[1], (uint32_t)v->shape[2], 0));
    tree_from_bytes(&tree, &t->layout, nb, vb);
    char why[200] = "";
    if (!tree_validate(&tree, t->n_features, why, sizeof why)) print_message("invalid: %s\n", why);
    assert_true(tree_validate(&tree, t->n_features, why, sizeof why));
    tree_free(&tree);
    free(nb);
    free(vb);
}

typedef struct range {
    uint64_t off, end;
} range;

static int by_off(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Payloads lie inside the file, in order, and never overlap. */
static void check_payload_ranges(const scan_result *s, size_t len)
{
    range *r = calloc(2 * s->ntrees + 1, sizeof *r);
    for (size_t i = 0; i < s->ntrees; i++) {
        const found_tree *t = &s->trees[i];
        if (i) assert_true(t->nodes.data_off > s->trees[i - 1].nodes.data_off);
        r[2 * i] = (range){t->nodes.data_off, t->nodes.data_off + t->nodes.data_len};
        r[2 * i + 1] = (range){t->values.data_off, t->values.data_off + t->values.data_len};
    }
    qsort(r, 2 * s->ntrees, sizeof *r, by_off);
    for (size_t i = 0; i < 2 * s->ntrees; i++) {
        assert_true(r[i].end <= len);
        assert_true(r[i].end > r[i].off);
        if (i) assert_true(r[i].off >= r[i - 1].end);
    }
    free(r);
}

static void every_fixture(void **state)
{
    (void)state;
    tt_fixture fx[128];
    size_t nfx = tt_manifest(fx, 128);
    if (!nfx) skip();
    assert_int_equal(nfx, ARRAY_LEN(tree_counts));
    for (size_t i = 0; i < nfx; i++) {
        size_t want_trees = SIZE_MAX;
        for (size_t k = 0; k < ARRAY_LEN(tree_counts); k++)
            if (!strcmp(tree_counts[k].name, fx[i].name)) want_trees = tree_counts[k].trees;
        assert_int_not_equal(want_trees, SIZE_MAX);

        size_t len = 0;
        uint8_t *data = tt_load_fixture(fx[i].name, &len);
        assert_non_null(data);
        assert_int_equal(len, fx[i].bytes);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        tp_code rc = scan_run(ctx, data, len, NULL, &s);
        if (rc) print_message("%s: %s\n", fx[i].name, tp_ctx_message(ctx));
        assert_int_equal(rc, TP_OK);
        if (s.ntrees != want_trees) print_message("%s: %zu trees\n", fx[i].name, s.ntrees);
        assert_int_equal(s.ntrees, want_trees);
        assert_int_equal(s.nverbatim, 0);
        assert_int_equal(s.npickles, 1);
        /* protocols 0 and 1 have no PROTO opcode */
        assert_int_equal(s.protocol, fx[i].protocol >= 2 ? fx[i].protocol : 0);
        uint64_t nodes = 0;
        for (size_t t = 0; t < s.ntrees; t++) {
            nodes += s.trees[t].nodes.shape[0];
            check_sklearn_tree(data, len, &s.trees[t], fx[i].protocol);
        }
        assert_int_equal(nodes, fx[i].tree_nodes);
        check_payload_ranges(&s, len);
        scan_free(&s);
        assert_null(s.trees);
        tp_ctx_free(ctx);
        free(data);
    }
}

static void shapes_of_some_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t nodes0, outputs, classes;
        int64_t n_features;
    } want[] = {
        {"dt_classifier_iris_p4.pkl", 17, 1, 3, 4},
        {"dt_classifier_multioutput_p3.pkl", 193, 2, 3, -1},
        {"dt_regressor_single_node_p4.pkl", 1, 1, 1, -1},
        {"rf_regressor_multioutput_p5.pkl", 0, 3, 1, -1},
        {"et_classifier_digits_p4.pkl", 0, 1, 10, 64},
        {"gb_classifier_multiclass_p3.pkl", 0, 1, 1, -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        size_t len;
        LOAD_FIXTURE_OR_SKIP(data, want[i].name, &len);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        assert_true(s.ntrees >= 1);
        if (want[i].nodes0) assert_int_equal(s.trees[0].nodes.shape[0], want[i].nodes0);
        for (size_t t = 0; t < s.ntrees; t++) {
            assert_int_equal(s.trees[t].values.shape[1], want[i].outputs);
            assert_int_equal(s.trees[t].values.shape[2], want[i].classes);
            if (want[i].n_features >= 0) assert_int_equal(s.trees[t].n_features, want[i].n_features);
        }
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
    }
}

static void same_tree_at_every_protocol(void **state)
{
    (void)state;
    static const char *const names[] = {"dt_classifier_iris_p2.pkl", "dt_classifier_iris_p3.pkl",
                                        "dt_classifier_iris_p4.pkl", "dt_classifier_iris_p5.pkl"};
    uint8_t *first_n = NULL, *first_v = NULL;
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        LOAD_FIXTURE_OR_SKIP(data, names[i], &len);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        assert_int_equal(s.ntrees, 1);
        assert_int_equal(s.protocol, (int)i + 2);
        uint8_t *nb = payload(data, &s.trees[0].nodes), *vb = payload(data, &s.trees[0].values);
        if (!first_n) {
            first_n = nb;
            first_v = vb;
        } else {
            assert_memory_equal(nb, first_n, 17 * 56);
            assert_memory_equal(vb, first_v, 17 * 3 * 8);
            free(nb);
            free(vb);
        }
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
    }
    free(first_n);
    free(first_v);
}

static void pickles_one_after_another(void **state)
{
    (void)state;
    size_t la, lb;
    LOAD_FIXTURE_OR_SKIP(a, "dt_classifier_iris_p4.pkl", &la);
    LOAD_FIXTURE_OR_SKIP(b, "dt_regressor_bestfirst_p5.pkl", &lb);
    uint8_t *ab = malloc(la + lb + 1);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    tp_ctx *ctx = tp_ctx_new();
    scan_result sa, sb, s;
    assert_int_equal(scan_run(ctx, a, la, NULL, &sa), TP_OK);
    assert_int_equal(scan_run(ctx, b, lb, NULL, &sb), TP_OK);
    assert_int_equal(scan_run(ctx, ab, la + lb, NULL, &s), TP_OK);
    assert_int_equal(s.npickles, 2);
    assert_int_equal(s.ntrees, 2);
    assert_int_equal(s.protocol, 5);
    assert_int_equal(s.trees[0].nodes.data_off, sa.trees[0].nodes.data_off);
    assert_int_equal(s.trees[1].nodes.data_off, la + sb.trees[0].nodes.data_off);
    assert_int_equal(s.trees[1].values.data_off, la + sb.trees[0].values.data_off);
    assert_int_equal(s.trees[1].offset, la + sb.trees[0].offset);
    check_payload_ranges(&s, la + lb);
    scan_free(&s);

    /* a protocol 5 pickle first, then protocol 4: the highest counts */
    memcpy(ab, b, lb);
    memcpy(ab + lb, a, la);
    assert_int_equal(scan_run(ctx, ab, la + lb, NULL, &s), TP_OK);
    assert_int_equal(s.protocol, 5);
    assert_int_equal(s.ntrees, 2);
    scan_free(&s);

    /* anything else after the STOP is refused, at its offset */
    ab[la] = 'N';
    memcpy(ab, a, la);
    ctx_reset(ctx);
    assert_int_equal(scan_run(ctx, ab, la + 1, NULL, &s), TP_E_TRAILING_DATA);
    assert_int_equal(tp_ctx_offset(ctx), la);
    assert_int_equal(s.ntrees, 0);
    assert_null(s.trees);
    /* a second PROTO that is cut short is a pickle error, not trailing data */
    ab[la] = 0x80;
    ctx_reset(ctx);
    assert_int_equal(scan_run(ctx, ab, la + 1, NULL, &s), TP_E_TRUNCATED);
    assert_int_equal(tp_ctx_offset(ctx), la);

    scan_free(&sa);
    scan_free(&sb);
    tp_ctx_free(ctx);
    free(a);
    free(b);
    free(ab);
}

static void empty_and_truncated_inputs(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    scan_result s;
    assert_int_equal(scan_run(ctx, (const uint8_t *)"", 0, NULL, &s), TP_E_EMPTY);
    assert_int_equal(s.ntrees, 0);
    static const char *const names[] = {"dt_classifier_iris_p2.pkl", "dt_classifier_iris_p3.pkl",
                                        "dt_classifier_iris_p4.pkl", "dt_classifier_iris_p5.pkl"};
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        LOAD_FIXTURE_OR_SKIP(data, names[i], &len);
        for (size_t cut = 1; cut < len; cut++) {
            /* a copy of exactly `cut` bytes, so that ASan sees any read past it */
            uint8_t *c = malloc(cut);
            memcpy(c, data, cut);
            ctx_reset(ctx);
            tp_code rc = scan_run(ctx, c, cut, NULL, &s);
            assert_int_not_equal(rc, TP_OK);
            assert_int_equal(tp_ctx_code(ctx), rc);
            assert_true(tp_ctx_offset(ctx) >= 0 && tp_ctx_offset(ctx) <= (int64_t)cut);
            assert_null(s.trees);
            free(c);
        }
        free(data);
    }
    tp_ctx_free(ctx);
}

static void no_trees(void **state)
{
    (void)state;
    static const char *const names[] = {"logistic_regression_p2.pkl", "dict_of_arrays_p2.pkl",
                                        "dict_of_arrays_p4.pkl", "dict_of_arrays_p5.pkl"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        size_t len;
        LOAD_FIXTURE_OR_SKIP(data, names[i], &len);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        assert_int_equal(s.ntrees, 0);
        assert_int_equal(s.nverbatim, 0);
        assert_int_equal(s.npickles, 1);
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
    }
    /* a pickle of plain values */
    tp_ctx *ctx = tp_ctx_new();
    scan_result s;
    static const char p[] = "\x80\x02]q\x00(K\x01K\x02" "e.";
    assert_int_equal(scan_run(ctx, (const uint8_t *)p, sizeof p - 1, NULL, &s), TP_OK);
    assert_int_equal(s.ntrees, 0);
    assert_int_equal(s.protocol, 2);
    scan_free(&s);
    /* a protocol 0 pickle has protocol 0 */
    assert_int_equal(scan_run(ctx, (const uint8_t *)"N.", 2, NULL, &s), TP_OK);
    assert_int_equal(s.protocol, 0);
    scan_free(&s);
    tp_ctx_free(ctx);
}

static void limits_reach_the_interpreter(void **state)
{
    (void)state;
    size_t len;
    LOAD_FIXTURE_OR_SKIP(data, "dt_classifier_iris_p4.pkl", &len);
    tp_ctx *ctx = tp_ctx_new();
    scan_result s;
    tp_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_stack = 3;
    assert_int_equal(scan_run(ctx, data, len, &lim, &s), TP_E_LIMIT_STACK);
    memset(&lim, 0, sizeof lim);
    lim.max_memory = 2000;
    ctx_reset(ctx);
    assert_int_equal(scan_run(ctx, data, len, &lim, &s), TP_E_LIMIT_MEMORY);
    tp_ctx_free(ctx);
    free(data);
}

/* ---- hand-made Tree states --------------------------------------------------- */

static void hand_made_trees(void **state)
{
    (void)state;
    if (!getenv("TP_UNIT_DATA")) skip();
    for (size_t i = 0; i < ARRAY_LEN(locate_cases); i++) {
        const struct locate_case *c = &locate_cases[i];
        size_t len;
        uint8_t *data = load_case(c->name, &len);
        assert_non_null(data);
        assert_int_equal(len, c->len);
        tp_ctx *ctx = tp_ctx_new();
        scan_result s;
        tp_code rc = scan_run(ctx, data, len, NULL, &s);
        if ((rc != TP_OK) != (c->want == WANT_TREE_ERROR))
            print_message("%s: %s\n", c->name, rc ? tp_ctx_message(ctx) : "accepted");
        switch (c->want) {
        case WANT_OK: {
            assert_int_equal(rc, TP_OK);
            assert_int_equal(s.ntrees, 1);
            assert_int_equal(s.nverbatim, 0);
            const found_tree *t = &s.trees[0];
            assert_int_equal(t->offset, c->reduce[0]);
            assert_int_equal(t->n_features, 1);
            assert_int_equal(t->nodes.shape[0], 3);
            assert_int_equal(t->values.shape[1], 1);
            assert_int_equal(t->values.shape[2], 2);
            check_payload_ranges(&s, len);
            /* the content: a root splitting feature 0 at 0.5, two pure leaves */
            uint8_t *nb = payload(data, &t->nodes), *vb = payload(data, &t->values);
            sktree tree;
            assert_true(tree_alloc(&tree, 3, 1, 2, t->layout.rest_size));
            tree_from_bytes(&tree, &t->layout, nb, vb);
            assert_int_equal(tree.left[0], 1);
            assert_int_equal(tree.right[0], 2);
            assert_int_equal(tree.left[1], -1);
            assert_int_equal(tree.feature[0], 0);
            assert_int_equal(tree.feature[2], -2);
            assert_true(tree.threshold[0] == 0.5);
            assert_int_equal(tree.nsamples[0], 2);
            assert_true(tree.values[0] == 1.0 && tree.values[1] == 1.0);
            assert_true(tree.values[2] == 1.0 && tree.values[3] == 0.0);
            assert_true(tree.values[4] == 0.0 && tree.values[5] == 1.0);
            char why[100];
            assert_true(tree_validate(&tree, 1, why, sizeof why));
            tree_free(&tree);
            free(nb);
            free(vb);
            if (!strcmp(c->name, "tree_p2")) {
                assert_int_equal(s.protocol, 2);
                assert_int_equal(t->nodes.payload, PAY_LATIN1);
            } else if (!strcmp(c->name, "layout64_p3")) {
                assert_int_equal(t->layout.itemsize, 64);
                assert_int_equal(t->layout.rest_size, 8);
                assert_int_equal(t->nodes.nbytes, 3 * 64);
            } else if (!strcmp(c->name, "big_endian_p3")) {
                for (int f = 0; f < NF_COUNT; f++) assert_true(t->layout.f[f].big);
            } else if (!strcmp(c->name, "tree_p5")) {
                assert_int_equal(s.protocol, 5);
            }
            break;
        }
        case WANT_TREE_ERROR:
            assert_int_equal(rc, TP_E_TREE);
            assert_int_equal(tp_ctx_offset(ctx), c->reduce[0]);
            assert_true(strstr(tp_ctx_message(ctx), "node_count") || strstr(tp_ctx_message(ctx), "values"));
            assert_null(s.trees);
            break;
        case WANT_VERBATIM:
            assert_int_equal(rc, TP_OK);
            assert_int_equal(s.ntrees, 0);
            assert_int_equal(s.nverbatim, 1);
            break;
        case WANT_SHARED:
            /* two trees hand over the same nodes array: the first keeps it */
            assert_int_equal(rc, TP_OK);
            assert_int_equal(s.ntrees, 1);
            assert_int_equal(s.nverbatim, 1);
            assert_int_equal(s.trees[0].offset, c->reduce[0]);
            check_payload_ranges(&s, len);
            break;
        }
        scan_free(&s);
        tp_ctx_free(ctx);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture),
        cmocka_unit_test(shapes_of_some_fixtures),
        cmocka_unit_test(same_tree_at_every_protocol),
        cmocka_unit_test(pickles_one_after_another),
        cmocka_unit_test(empty_and_truncated_inputs),
        cmocka_unit_test(no_trees),
        cmocka_unit_test(limits_reach_the_interpreter),
        cmocka_unit_test(hand_made_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
