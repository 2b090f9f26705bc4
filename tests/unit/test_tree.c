/*
 * test_tree.c - node layouts from dtypes, struct bytes <-> columns, and
 * tree validation.
 */
#include "helpers.h"

#include "sklearn/tree.h"

/* ---- dtypes ------------------------------------------------------------------ */

typedef struct fdef {
    const char *name;
    char kind;
    uint8_t big;
    uint32_t size, offset;
} fdef;

static npy_dtype make_dtype(uint32_t itemsize, const fdef *f, int n)
{
    npy_dtype dt;
    memset(&dt, 0, sizeof dt);
    dt.base.kind = 'V';
    dt.base.size = itemsize;
    dt.nfields = n;
    for (int i = 0; i < n; i++) {
        snprintf(dt.fields[i].name, sizeof dt.fields[i].name, "%s", f[i].name);
        dt.fields[i].type.kind = f[i].kind;
        dt.fields[i].type.big = f[i].big;
        dt.fields[i].type.size = f[i].size;
        dt.fields[i].offset = f[i].offset;
    }
    return dt;
}

/* sklearn 1.2: NODE_DTYPE, 56 bytes */
static const fdef SK12[] = {
    {"left_child", 'i', 0, 8, 0},  {"right_child", 'i', 0, 8, 8},    {"feature", 'i', 0, 8, 16},
    {"threshold", 'f', 0, 8, 24},  {"impurity", 'f', 0, 8, 32},      {"n_node_samples", 'i', 0, 8, 40},
    {"weighted_n_node_samples", 'f', 0, 8, 48},
};
/* sklearn 1.3+: one more byte, padded to 64 */
static const fdef SK13[] = {
    {"left_child", 'i', 0, 8, 0},  {"right_child", 'i', 0, 8, 8},    {"feature", 'i', 0, 8, 16},
    {"threshold", 'f', 0, 8, 24},  {"impurity", 'f', 0, 8, 32},      {"n_node_samples", 'i', 0, 8, 40},
    {"weighted_n_node_samples", 'f', 0, 8, 48}, {"missing_go_to_left", 'u', 0, 1, 56},
};
/* the 56-byte layout written on a big-endian machine */
static const fdef SK12_BE[] = {
    {"left_child", 'i', 1, 8, 0},  {"right_child", 'i', 1, 8, 8},    {"feature", 'i', 1, 8, 16},
    {"threshold", 'f', 1, 8, 24},  {"impurity", 'f', 1, 8, 32},      {"n_node_samples", 'i', 1, 8, 40},
    {"weighted_n_node_samples", 'f', 1, 8, 48},
};
/* a 32-bit build: <i4 integers, aligned doubles, 48 bytes with two holes */
static const fdef SK32[] = {
    {"left_child", 'i', 0, 4, 0},  {"right_child", 'i', 0, 4, 4},    {"feature", 'i', 0, 4, 8},
    {"threshold", 'f', 0, 8, 16},  {"impurity", 'f', 0, 8, 24},      {"n_node_samples", 'i', 0, 4, 32},
    {"weighted_n_node_samples", 'f', 0, 8, 40},
};
/* odd but legal: fields out of order, mixed byte orders and widths,
 * unsigned integers, an unknown field, some optional fields absent */
static const fdef ODD[] = {
    {"threshold", 'f', 1, 8, 0},   {"extra", 'f', 0, 4, 8},   {"feature", 'u', 0, 2, 12},
    {"right_child", 'i', 1, 2, 14}, {"left_child", 'u', 0, 8, 16}, {"n_node_samples", 'i', 1, 1, 24},
};

static node_layout layout_of(uint32_t itemsize, const fdef *f, int n)
{
    npy_dtype dt = make_dtype(itemsize, f, n);
    node_layout lay;
    assert_true(node_layout_from_dtype(&dt, &lay));
    return lay;
}
#define LAYOUT(size, defs) layout_of((size), (defs), (int)ARRAY_LEN(defs))

static void layout_sklearn_1_2(void **state)
{
    (void)state;
    node_layout lay = LAYOUT(56, SK12);
    assert_int_equal(lay.itemsize, 56);
    for (int f = 0; f < NF_COUNT; f++) {
        assert_true(lay.f[f].present);
        assert_int_equal(lay.f[f].size, 8);
        assert_int_equal(lay.f[f].offset, 8 * f);
        assert_false(lay.f[f].big);
        assert_int_equal(lay.f[f].is_float, f == NF_THRESHOLD || f == NF_IMPURITY || f == NF_WEIGHTED);
    }
    assert_int_equal(lay.rest_size, 0);
    assert_int_equal(lay.nruns, 0);
    /* the names table is sklearn's */
    assert_string_equal(node_field_names[NF_WEIGHTED], "weighted_n_node_samples");
    assert_string_equal(node_field_names[NF_NSAMPLES], "n_node_samples");
}

static void layout_sklearn_1_3_keeps_the_extra_byte_and_padding(void **state)
{
    (void)state;
    node_layout lay = LAYOUT(64, SK13);
    assert_int_equal(lay.itemsize, 64);
    assert_int_equal(lay.rest_size, 8);
    assert_int_equal(lay.nruns, 1);
    assert_int_equal(lay.run_off[0], 56);
    assert_int_equal(lay.run_len[0], 8);
    assert_int_equal(lay.f[NF_WEIGHTED].offset, 48);
}

static void layout_big_endian_and_narrow(void **state)
{
    (void)state;
    node_layout be = LAYOUT(56, SK12_BE);
    for (int f = 0; f < NF_COUNT; f++) assert_true(be.f[f].big);
    assert_int_equal(be.rest_size, 0);

    node_layout l32 = LAYOUT(48, SK32);
    assert_int_equal(l32.f[NF_LEFT].size, 4);
    assert_int_equal(l32.f[NF_FEATURE].offset, 8);
    assert_int_equal(l32.f[NF_NSAMPLES].size, 4);
    assert_int_equal(l32.rest_size, 8);
    assert_int_equal(l32.nruns, 2);
    assert_int_equal(l32.run_off[0], 12);
    assert_int_equal(l32.run_len[0], 4);
    assert_int_equal(l32.run_off[1], 36);
    assert_int_equal(l32.run_len[1], 4);

    node_layout odd = LAYOUT(32, ODD);
    assert_true(odd.f[NF_THRESHOLD].big);
    assert_int_equal(odd.f[NF_THRESHOLD].offset, 0);
    assert_int_equal(odd.f[NF_FEATURE].size, 2);
    assert_int_equal(odd.f[NF_RIGHT].size, 2);
    assert_true(odd.f[NF_RIGHT].big);
    assert_int_equal(odd.f[NF_NSAMPLES].size, 1);
    assert_false(odd.f[NF_IMPURITY].present);
    assert_false(odd.f[NF_WEIGHTED].present);
    /* "extra" (8..12) and the tail (25..32) are rest bytes */
    assert_int_equal(odd.rest_size, 4 + 7);
    assert_int_equal(odd.nruns, 2);
}

static void layout_rejections(void **state)
{
    (void)state;
    node_layout lay;
    fdef f[8];
    npy_dtype dt;

    /* each required field missing in turn */
    for (int drop = 0; drop < 4; drop++) {
        int n = 0;
        for (int i = 0; i < 7; i++)
            if (i != drop) f[n++] = SK12[i];
        dt = make_dtype(56, f, n);
        assert_false(node_layout_from_dtype(&dt, &lay));
    }
    /* required fields of the wrong type: they stay rest bytes, so they are missing */
    memcpy(f, SK12, sizeof SK12);
    f[NF_THRESHOLD].kind = 'f';
    f[NF_THRESHOLD].size = 4;
    dt = make_dtype(56, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    memcpy(f, SK12, sizeof SK12);
    f[NF_LEFT].kind = 'f';
    dt = make_dtype(56, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    memcpy(f, SK12, sizeof SK12);
    f[NF_FEATURE].kind = 'V';
    dt = make_dtype(56, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    /* an optional float field of the wrong type is just rest */
    memcpy(f, SK12, sizeof SK12);
    f[NF_IMPURITY].kind = 'i';
    dt = make_dtype(56, f, 7);
    assert_true(node_layout_from_dtype(&dt, &lay));
    assert_false(lay.f[NF_IMPURITY].present);
    assert_int_equal(lay.rest_size, 8);
    /* integer widths other than 1, 2, 4, 8 */
    memcpy(f, SK12, sizeof SK12);
    f[NF_FEATURE].size = 3;
    dt = make_dtype(56, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    /* overlapping fields */
    memcpy(f, SK12, sizeof SK12);
    f[NF_RIGHT].offset = 4;
    dt = make_dtype(56, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    /* a field past the end of the item */
    memcpy(f, SK12, sizeof SK12);
    dt = make_dtype(52, f, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
    /* not a structured dtype */
    dt = make_dtype(56, SK12, 0);
    assert_false(node_layout_from_dtype(&dt, &lay));
    dt = make_dtype(56, SK12, 7);
    dt.base.kind = 'i';
    assert_false(node_layout_from_dtype(&dt, &lay));
    dt = make_dtype(0, SK12, 7);
    assert_false(node_layout_from_dtype(&dt, &lay));
}

/* A field whose declared width does not fit the layout's 8-bit size must
 * not be taken for a narrower one. */
static void layout_field_width_is_not_truncated(void **state)
{
    (void)state;
    fdef f[7];
    memcpy(f, SK12, sizeof SK12);
    /* left_child declared 264 bytes wide at the end of a big item */
    for (int i = 0; i < 7; i++) f[i].offset += 264;
    f[NF_LEFT].offset = 0;
    f[NF_LEFT].size = 264;
    npy_dtype dt = make_dtype(264 + 56, f, 7);
    node_layout lay;
    bool ok = node_layout_from_dtype(&dt, &lay);
    FAIL_IF(ok && lay.f[NF_LEFT].size == 8,
              "tree.c node_layout_from_dtype: `fl->size = (uint8_t)fd->type.size` truncates a field width; "
              "an integer field 'i264' (264 bytes) is taken as an 8-byte left_child");
    assert_false(ok);
}

static void layout_serialisation(void **state)
{
    (void)state;
    const node_layout lays[] = {LAYOUT(56, SK12), LAYOUT(64, SK13), LAYOUT(56, SK12_BE), LAYOUT(48, SK32),
                                   LAYOUT(32, ODD)};
    for (size_t i = 0; i < ARRAY_LEN(lays); i++) {
        bytebuf b = {0};
        node_layout_write(&lays[i], &b);
        assert_false(b.failed);
        cursor c = cursor_make(b.data, b.len);
        node_layout back;
        assert_true(node_layout_read(&c, &back));
        assert_int_equal(c.pos, b.len);
        assert_memory_equal(&back, &lays[i], sizeof back);
        /* every truncation fails */
        for (size_t cut = 0; cut < b.len; cut++) {
            c = cursor_make(b.data, cut);
            assert_false(node_layout_read(&c, &back));
        }
        /* unknown flag bits, and a float flag on an integer field */
        for (size_t at = 0; at < b.len; at++) {
            uint8_t save = b.data[at];
            b.data[at] ^= 0x08;
            c = cursor_make(b.data, b.len);
            bool ok = node_layout_read(&c, &back);
            /* a flip either fails or yields a self-consistent layout */
            if (ok) assert_true(back.itemsize > 0);
            b.data[at] = save;
        }
        bytebuf_free(&b);
    }
    /* hand-made: integer left_child flagged as float */
    node_layout l = LAYOUT(56, SK12);
    bytebuf b = {0};
    node_layout_write(&l, &b);
    /* byte 0 is the itemsize varint (56), byte 1 left_child's flags */
    assert_int_equal(b.data[1], 1);
    b.data[1] = 1 | 4;
    cursor c = cursor_make(b.data, b.len);
    node_layout back;
    assert_false(node_layout_read(&c, &back));
    b.data[1] = 1 | 8;
    c = cursor_make(b.data, b.len);
    assert_false(node_layout_read(&c, &back));
    bytebuf_free(&b);
    /* an item size beyond 64 KiB */
    bytebuf big = {0};
    bytebuf_varint(&big, (1u << 16) + 1);
    for (int f = 0; f < NF_COUNT; f++) bytebuf_u8(&big, 0);
    c = cursor_make(big.data, big.len);
    assert_false(node_layout_read(&c, &back));
    bytebuf_free(&big);
}

/* ---- bytes <-> columns ----------------------------------------------------------- */

static void bytes_columns_round_trip_random(void **state)
{
    (void)state;
    const node_layout lays[] = {LAYOUT(56, SK12), LAYOUT(64, SK13), LAYOUT(56, SK12_BE), LAYOUT(48, SK32),
                                   LAYOUT(32, ODD)};
    tt_rng rng = {42};
    static const uint64_t sizes[] = {1, 2, 3, 7, 64, 301};
    for (size_t li = 0; li < ARRAY_LEN(lays); li++) {
        const node_layout *lay = &lays[li];
        for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
            for (int flags = 0; flags < 4; flags++) {
                uint64_t n = sizes[si];
                uint32_t nout = 1 + (uint32_t)tt_below(&rng, 3), ncls = 1 + (uint32_t)tt_below(&rng, 4);
                size_t nb = (size_t)(n * lay->itemsize), vb = (size_t)(n * nout * ncls * 8);
                uint8_t *nodes = malloc(nb), *values = malloc(vb), *n2 = malloc(nb), *v2 = malloc(vb);
                tt_fill(&rng, nodes, nb);
                tt_fill(&rng, values, vb);
                memset(n2, 0xAA, nb);
                memset(v2, 0x55, vb);
                sktree t;
                assert_true(tree_alloc(&t, n, nout, ncls, lay->rest_size));
                assert_int_equal(tree_values_count(&t), n * nout * ncls);
                t.values_big = flags & 1;
                t.values_fortran = (flags >> 1) & 1;
                tree_from_bytes(&t, lay, nodes, values);
                tree_to_bytes(&t, lay, n2, v2);
                assert_memory_equal(n2, nodes, nb);
                assert_memory_equal(v2, values, vb);
                tree_free(&t);
                free(nodes), free(values), free(n2), free(v2);
            }
        }
    }
}

static void put_be(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = size; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
}
static void put_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size; i++, v >>= 8) p[i] = (uint8_t)v;
}

static void bytes_to_columns_values(void **state)
{
    (void)state;
    /* little-endian 56-byte node */
    node_layout lay = LAYOUT(56, SK12);
    uint8_t node[56], val[24];
    put_le(node + 0, 8, 1);
    put_le(node + 8, 8, (uint64_t)-1);
    put_le(node + 16, 8, 3);
    put_le(node + 24, 8, tt_double_bits(0.5));
    put_le(node + 32, 8, tt_double_bits(0.25));
    put_le(node + 40, 8, 150);
    put_le(node + 48, 8, tt_double_bits(149.5));
    for (int c = 0; c < 3; c++) put_le(val + 8 * c, 8, tt_double_bits(10.0 * c));
    sktree t;
    assert_true(tree_alloc(&t, 1, 1, 3, 0));
    tree_from_bytes(&t, &lay, node, val);
    assert_int_equal(t.left[0], 1);
    assert_int_equal(t.right[0], -1);
    assert_int_equal(t.feature[0], 3);
    assert_true(t.threshold[0] == 0.5);
    assert_true(t.impurity[0] == 0.25);
    assert_int_equal(t.nsamples[0], 150);
    assert_true(t.weighted[0] == 149.5);
    assert_true(t.values[2] == 20.0);
    tree_free(&t);

    /* big-endian values and fields */
    node_layout be = LAYOUT(56, SK12_BE);
    put_be(node + 0, 8, 5);
    put_be(node + 8, 8, (uint64_t)-2);
    put_be(node + 24, 8, tt_double_bits(-3.5));
    for (int c = 0; c < 3; c++) put_be(val + 8 * c, 8, tt_double_bits(1.0 + c));
    assert_true(tree_alloc(&t, 1, 1, 3, 0));
    t.values_big = 1;
    tree_from_bytes(&t, &be, node, val);
    assert_int_equal(t.left[0], 5);
    assert_int_equal(t.right[0], -2);
    assert_true(t.threshold[0] == -3.5);
    assert_true(t.values[1] == 2.0);
    tree_free(&t);

    /* <i4: -1 reads as -1 */
    node_layout l32 = LAYOUT(48, SK32);
    uint8_t n32[48];
    memset(n32, 0, sizeof n32);
    put_le(n32 + 0, 4, 0xFFFFFFFFu);
    put_le(n32 + 4, 4, 0xFFFFFFFEu);
    put_le(n32 + 8, 4, 7);
    put_le(n32 + 32, 4, 0x7FFFFFFFu);
    assert_true(tree_alloc(&t, 1, 1, 1, l32.rest_size));
    tree_from_bytes(&t, &l32, n32, val);
    assert_int_equal(t.left[0], -1);
    assert_int_equal(t.right[0], -2);
    assert_int_equal(t.feature[0], 7);
    assert_int_equal(t.nsamples[0], INT32_MAX);
    tree_free(&t);

    /* absent optional fields read as zero */
    node_layout odd = LAYOUT(32, ODD);
    uint8_t nodd[32];
    memset(nodd, 0xff, sizeof nodd);
    assert_true(tree_alloc(&t, 1, 1, 1, odd.rest_size));
    tree_from_bytes(&t, &odd, nodd, val);
    assert_true(t.impurity[0] == 0.0);
    assert_true(t.weighted[0] == 0.0);
    assert_int_equal(t.left[0], -1); /* u8 all ones: the bit pattern */
    tree_free(&t);
}

static void fortran_values(void **state)
{
    (void)state;
    /* values of shape (n, nout, ncls) in Fortran order: element (i, o, c)
     * lives at i + n*o + n*nout*c */
    enum { N = 3, NOUT = 2, NCLS = 4 };
    node_layout lay = LAYOUT(56, SK12);
    uint8_t nodes[N * 56];
    memset(nodes, 0, sizeof nodes);
    double vals[N * NOUT * NCLS];
    for (int i = 0; i < N; i++)
        for (int o = 0; o < NOUT; o++)
            for (int c = 0; c < NCLS; c++) vals[i + N * o + N * NOUT * c] = 100.0 * i + 10.0 * o + c;
    sktree t;
    assert_true(tree_alloc(&t, N, NOUT, NCLS, 0));
    t.values_fortran = 1;
    tree_from_bytes(&t, &lay, nodes, (const uint8_t *)vals);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < NOUT; o++)
            for (int c = 0; c < NCLS; c++)
                assert_true(t.values[(i * NOUT + o) * NCLS + c] == 100.0 * i + 10.0 * o + c);
    double back[N * NOUT * NCLS];
    uint8_t nb[N * 56];
    tree_to_bytes(&t, &lay, nb, (uint8_t *)back);
    assert_memory_equal(back, vals, sizeof vals);
    tree_free(&t);
}

static void alloc_overflow(void **state)
{
    (void)state;
    sktree t;
    assert_false(tree_alloc(&t, (uint64_t)1 << 62, 1, 1, 0));
    assert_false(tree_alloc(&t, (uint64_t)1 << 40, UINT32_MAX, UINT32_MAX, 0));
    assert_false(tree_alloc(&t, (uint64_t)1 << 60, 1, 1, 1u << 20));
    assert_true(tree_alloc(&t, 0, 1, 1, 0));
    tree_free(&t);
}

/* ---- validation ------------------------------------------------------------------- */

/* A tree from (left, right) pairs; features 0 on internal nodes, -2 on leaves. */
static sktree tree_of(const int64_t (*kids)[2], uint64_t n)
{
    sktree t;
    assert_true(tree_alloc(&t, n, 1, 1, 0));
    for (uint64_t i = 0; i < n; i++) {
        t.left[i] = kids[i][0];
        t.right[i] = kids[i][1];
        t.feature[i] = kids[i][0] == -1 ? -2 : 0;
        t.threshold[i] = 0;
    }
    return t;
}

static void expect_invalid(const int64_t (*kids)[2], uint64_t n, int64_t n_features, const char *what)
{
    sktree t = tree_of(kids, n);
    char why[200] = "";
    bool ok = tree_validate(&t, n_features, why, sizeof why);
    if (ok) print_message("accepted: %s\n", what);
    assert_false(ok);
    assert_true(strlen(why) > 0);
    tree_free(&t);
}
#define INVALID(kids, nf, what) expect_invalid((kids), ARRAY_LEN(kids), (nf), (what))

static void validate_cases(void **state)
{
    (void)state;
    char why[200];
    static const int64_t ok3[][2] = {{1, 2}, {-1, -1}, {-1, -1}};
    sktree t = tree_of(ok3, 3);
    assert_true(tree_validate(&t, 1, why, sizeof why));
    assert_true(tree_is_preorder(&t));
    t.feature[0] = 1;
    assert_false(tree_validate(&t, 1, why, sizeof why)); /* feature >= n_features */
    assert_true(tree_validate(&t, 2, why, sizeof why));
    assert_true(tree_validate(&t, -1, why, sizeof why)); /* unknown n_features */
    t.feature[0] = -1;
    assert_false(tree_validate(&t, 5, why, sizeof why)); /* negative feature on a split */
    assert_false(tree_validate(&t, -1, why, sizeof why));
    t.feature[0] = 0;
    t.feature[1] = 12345; /* leaves are not checked */
    assert_true(tree_validate(&t, 1, why, sizeof why));
    tree_free(&t);

    static const int64_t single[][2] = {{-1, -1}};
    t = tree_of(single, 1);
    assert_true(tree_validate(&t, 0, why, sizeof why));
    tree_free(&t);

    /* best-first numbering: valid, not preorder */
    static const int64_t bf[][2] = {{1, 2}, {3, 4}, {-1, -1}, {-1, -1}, {-1, -1}};
    t = tree_of(bf, 5);
    assert_true(tree_validate(&t, 1, why, sizeof why));
    assert_false(tree_is_preorder(&t));
    tree_free(&t);
    static const int64_t bf2[][2] = {{2, 1}, {-1, -1}, {-1, -1}};
    t = tree_of(bf2, 3);
    assert_true(tree_validate(&t, 1, why, sizeof why));
    assert_false(tree_is_preorder(&t));
    tree_free(&t);

    /* no nodes */
    assert_true(tree_alloc(&t, 0, 1, 1, 0));
    assert_false(tree_validate(&t, 1, why, sizeof why));
    tree_free(&t);

    static const int64_t out_hi[][2] = {{1, 3}, {-1, -1}, {-1, -1}};
    INVALID(out_hi, 1, "child == n");
    static const int64_t out_neg[][2] = {{1, -5}, {-1, -1}, {-1, -1}};
    INVALID(out_neg, 1, "child -5");
    static const int64_t root_child[][2] = {{1, 2}, {0, 2}, {-1, -1}};
    INVALID(root_child, 1, "the root as a child");
    static const int64_t self[][2] = {{0, 1}, {-1, -1}};
    INVALID(self, 1, "a node its own child");
    static const int64_t cycle[][2] = {{1, 2}, {3, 4}, {-1, -1}, {1, 4}, {-1, -1}};
    INVALID(cycle, 1, "a cycle");
    static const int64_t cycle2[][2] = {{1, 4}, {2, 3}, {-1, -1}, {1, 5}, {-1, -1}, {-1, -1}};
    INVALID(cycle2, 1, "a longer cycle");
    static const int64_t shared[][2] = {{1, 2}, {3, 4}, {3, 4}, {-1, -1}, {-1, -1}};
    INVALID(shared, 1, "a shared subtree");
    static const int64_t twice[][2] = {{1, 1}, {-1, -1}};
    INVALID(twice, 1, "both children the same");
    static const int64_t unreachable[][2] = {{1, 2}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    INVALID(unreachable, 1, "unreachable nodes");
    static const int64_t island[][2] = {{1, 2}, {-1, -1}, {-1, -1}, {4, 5}, {-1, -1}, {-1, -1}};
    INVALID(island, 1, "an unreachable subtree");
    static const int64_t one_left[][2] = {{1, -1}, {-1, -1}};
    INVALID(one_left, 1, "only a left child");
    static const int64_t one_right[][2] = {{-1, 1}, {-1, -1}};
    INVALID(one_right, 1, "only a right child");
    static const int64_t minus2[][2] = {{1, 2}, {-2, -2}, {-1, -1}};
    INVALID(minus2, 1, "-2 children");
}

/* The quick proof (children numbered after parents, one parent each)
 * against the full walk, on many small random graphs, as columns and
 * as records in several layouts: it may fail to prove a valid tree, but
 * it must never accept one the walk rejects, and tree_validate must
 * say what the walk says.  Trees built in preorder must be proven by it,
 * or the fast path would never be taken. */
static uint64_t rng_state = 88172645463325252u;
static uint64_t rng(uint64_t bound)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % bound;
}

static void check_quick_against_full(const sktree *t, int64_t n_features, const node_layout *lays, int nlays)
{
    char why[200];
    bool full = tree_validate_full(t, n_features, why, sizeof why);
    assert_int_equal(tree_validate(t, n_features, why, sizeof why), full);
    for (int k = 0; k < nlays; k++) {
        uint8_t nodes[8 * 64], values[8 * 8];
        tree_to_bytes(t, &lays[k], nodes, values);
        if (nodes_quick_valid(&lays[k], nodes, t->n, n_features)) assert_true(full);
    }
}

static void validate_quick_agrees_with_full_walk(void **state)
{
    (void)state;
    const node_layout lays[] = {LAYOUT(56, SK12), LAYOUT(56, SK12_BE), LAYOUT(48, SK32), LAYOUT(32, ODD)};
    const int nlays = (int)ARRAY_LEN(lays);
    for (int round = 0; round < 200000; round++) {
        uint64_t n = 1 + rng(7);
        sktree t;
        /* rest bytes for the widest of the layouts (to_bytes copies them) */
        assert_true(tree_alloc(&t, n, 1, 1, 16));
        memset(t.rest, 0, n * 16);
        for (uint64_t i = 0; i < n; i++) {
            bool leaf = rng(3) == 0;
            t.left[i] = leaf ? -1 : (int64_t)rng(n + 2) - 1;
            t.right[i] = leaf ? -1 : (int64_t)rng(n + 2) - 1;
            t.feature[i] = leaf ? -2 : (int64_t)rng(4) - 1;
        }
        check_quick_against_full(&t, (int64_t)rng(4) - 1, lays, nlays);
        tree_free(&t);
    }
    /* random trees in preorder (how sklearn's depth-first builder numbers
     * them): valid, and proven quickly in every layout */
    for (int round = 0; round < 2000; round++) {
        uint64_t leaves = 1 + rng(4), n = 2 * leaves - 1;
        sktree t;
        assert_true(tree_alloc(&t, n, 1, 1, 16));
        memset(t.rest, 0, n * 16);
        /* grow: pending subtrees with a number of leaves each, depth first */
        uint64_t stack[16][2], sp = 0;
        stack[sp][0] = 0, stack[sp][1] = leaves, sp++;
        while (sp) {
            sp--;
            uint64_t i = stack[sp][0], l = stack[sp][1];
            if (l == 1) {
                t.left[i] = t.right[i] = -1, t.feature[i] = -2;
                continue;
            }
            /* ll leaves on the left: 2 ll - 1 nodes from i + 1, then the right */
            uint64_t ll = 1 + rng(l - 1);
            t.left[i] = (int64_t)i + 1;
            t.right[i] = (int64_t)(i + 2 * ll);
            t.feature[i] = (int64_t)rng(3);
            stack[sp][0] = i + 2 * ll, stack[sp][1] = l - ll, sp++;
            stack[sp][0] = i + 1, stack[sp][1] = ll, sp++;
        }
        char why[200];
        assert_true(tree_validate_full(&t, 3, why, sizeof why));
        for (int k = 0; k < nlays; k++) {
            uint8_t nodes[8 * 64], values[8 * 8];
            tree_to_bytes(&t, &lays[k], nodes, values);
            assert_true(nodes_quick_valid(&lays[k], nodes, n, 3));
        }
        tree_free(&t);
    }
}

static void validate_deep_chain_iteratively(void **state)
{
    (void)state;
    /* a degenerate tree 100,000 levels deep: no recursion */
    enum { LEVELS = 100000 };
    uint64_t n = 2 * LEVELS + 1;
    sktree t;
    assert_true(tree_alloc(&t, n, 1, 1, 0));
    for (uint64_t i = 0; i < n; i++) t.left[i] = t.right[i] = -1, t.feature[i] = -2;
    for (uint64_t k = 0; k < LEVELS; k++) {
        uint64_t i = 2 * k; /* internal: left is a leaf, right goes on */
        t.left[i] = (int64_t)i + 1;
        t.right[i] = (int64_t)i + 2;
        t.feature[i] = 0;
    }
    char why[200];
    assert_true(tree_validate(&t, 1, why, sizeof why));
    assert_true(tree_is_preorder(&t));
    /* the same chain with the last leaf pointing back up */
    t.left[n - 1] = 1;
    t.right[n - 1] = 2;
    t.feature[n - 1] = 0;
    assert_false(tree_validate(&t, 1, why, sizeof why));
    tree_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_sklearn_1_2),
        cmocka_unit_test(layout_sklearn_1_3_keeps_the_extra_byte_and_padding),
        cmocka_unit_test(layout_big_endian_and_narrow),
        cmocka_unit_test(layout_rejections),
        cmocka_unit_test(layout_field_width_is_not_truncated),
        cmocka_unit_test(layout_serialisation),
        cmocka_unit_test(bytes_columns_round_trip_random),
        cmocka_unit_test(bytes_to_columns_values),
        cmocka_unit_test(fortran_values),
        cmocka_unit_test(alloc_overflow),
        cmocka_unit_test(validate_cases),
        cmocka_unit_test(validate_quick_agrees_with_full_walk),
        cmocka_unit_test(validate_deep_chain_iteratively),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
