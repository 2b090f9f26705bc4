/*
 * test_vocab.c - vocabularies (vocab.c), the term coder (termcm.c) and the
 * lossy rewriting (lossy.c) at the library level.
 *
 * The text fixtures hold every form the picklers write (protocols 2-5,
 * numpy ids, set(list), frames inside a dict, GET keys); each vocabulary
 * found must regenerate its very bytes, survive the section round trip,
 * and stay whole when sorted.  Corrupt sections are refused, never
 * crashed on.
 */
#include "helpers.h"

#include "sklearn/locate.h"
#include "api/lossy.h"
#include "base/termcm.h"
#include "codec/vocab_section.h"

static const char *const text_fixtures[] = {
    "text_count_p2.pkl",           "text_count_p4.pkl",          "text_count_stop_maxfeat_p2.pkl",
    "text_count_stop_maxfeat_p4.pkl", "text_tfidf_bigram_p3.pkl", "text_tfidf_bigram_p5.pkl",
    "text_count_bigram_large_p4.pkl", "text_dict_vectorizer_p4.pkl", "text_pipeline_tfidf_rf_p4.pkl",
    "text_feature_union_p5.pkl",   "text_pipeline_tfidf_rf.joblib", "text_count_int32_p2.pkl",
    "text_count_int32_p3.pkl",
};

/* ---- the term coder ------------------------------------------------------- */

static void cm_roundtrip(const uint8_t *data, size_t n)
{
    tp_ctx *ctx = tp_ctx_new();
    bytebuf enc = {0};
    assert_int_equal(termcm_encode(ctx, data, n, &enc), TP_OK);
    uint8_t *dec = malloc(n + 1);
    assert_int_equal(termcm_decode(ctx, enc.data, enc.len, dec, n), TP_OK);
    assert_memory_equal(dec, data, n);
    /* one byte short, one byte more: both refused */
    if (enc.len > 4) assert_int_not_equal(termcm_decode(ctx, enc.data, enc.len - 1, dec, n), TP_OK);
    uint8_t *more = malloc(enc.len + 1);
    memcpy(more, enc.data, enc.len);
    more[enc.len] = 0x55;
    assert_int_not_equal(termcm_decode(ctx, more, enc.len + 1, dec, n), TP_OK);
    free(more);
    free(dec);
    bytebuf_free(&enc);
    tp_ctx_free(ctx);
}

static void termcm_round_trips(void **state)
{
    (void)state;
    cm_roundtrip((const uint8_t *)"", 0);
    cm_roundtrip((const uint8_t *)"a", 1);
    const char *words = "apache\napache license\nlicense\nlicensed\nlicensee\nlicenses\nlicensing\nzlib\n";
    cm_roundtrip((const uint8_t *)words, strlen(words));
    tt_rng r = {7};
    size_t n = 20000;
    uint8_t *rnd = malloc(n);
    tt_fill(&r, rnd, n);
    cm_roundtrip(rnd, n);
    /* sorted made-up terms compress well below a byte per character */
    bytebuf t = {0};
    for (int i = 0; i < 3000; i++) {
        char w[32];
        int k = snprintf(w, sizeof w, "term%05d\n", i * 7);
        bytebuf_append(&t, w, (size_t)k);
    }
    cm_roundtrip(t.data, t.len);
    tp_ctx *ctx = tp_ctx_new();
    bytebuf enc = {0};
    assert_int_equal(termcm_encode(ctx, t.data, t.len, &enc), TP_OK);
    assert_true(enc.len < t.len / 4);
    bytebuf_free(&enc);
    tp_ctx_free(ctx);
    bytebuf_free(&t);
    free(rnd);
}

static void termcm_garbage_is_refused_or_decoded(void **state)
{
    (void)state;
    tp_ctx *ctx = tp_ctx_new();
    tt_rng r = {11};
    uint8_t in[64], out[256];
    for (int i = 0; i < 40; i++) {
        size_t n = (size_t)tt_below(&r, sizeof in);
        tt_fill(&r, in, n);
        /* any outcome but a crash; the caller's checksum catches the rest */
        (void)termcm_decode(ctx, in, n, out, (size_t)tt_below(&r, sizeof out));
    }
    tp_ctx_free(ctx);
}

/* ---- vocabularies of the fixtures -------------------------------------------- */

static void every_text_fixture_regenerates(void **state)
{
    (void)state;
    if (!tt_fixtures_dir()) skip();
    tp_ctx *ctx = tp_ctx_new();
    size_t total = 0, with_frames = 0, with_raw = 0, with_gets = 0, numpy = 0, numpy4 = 0, lists = 0;
    for (size_t f = 0; f < ARRAY_LEN(text_fixtures); f++) {
        size_t len;
        uint8_t *data = tt_load_fixture(text_fixtures[f], &len);
        assert_non_null(data);
        scan_result s;
        assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
        assert_true(s.nvocabs > 0);
        vocabulary **vs = calloc(s.nvocabs, sizeof *vs);
        for (size_t i = 0; i < s.nvocabs; i++) {
            vocabulary *v = &s.vocabs[i].v;
            vs[i] = v;
            bytebuf b = {0};
            assert_int_equal(vocab_generate(ctx, v, &b), TP_OK);
            assert_int_equal(b.len, v->stream_len);
            assert_memory_equal(b.data, data + s.vocabs[i].offset, b.len);
            bytebuf_free(&b);
            total++;
            with_frames += v->nframes > 0;
            with_raw += v->nraw > 0;
            with_gets += v->ngets > 0;
            numpy += (v->flags & VF_NUMPY) != 0;
            /* int32 ids: the items are described by the model, not kept raw (but
             * the first, which brings the scalar's global and dtype) */
            numpy4 += (v->flags & VF_NUMPY4) != 0 && v->nraw <= 1 && v->nlisted > 100;
            lists += v->kind == VOCAB_LIST;
        }
        /* the section round trip gives the same bytes */
        bytebuf sec = {0};
        assert_int_equal(vocab_section_write(ctx, vs, s.nvocabs, 9, &sec), TP_OK);
        vocabulary *back = NULL;
        size_t nback = 0;
        assert_int_equal(vocab_section_read(ctx, sec.data, sec.len, len, &back, &nback), TP_OK);
        assert_int_equal(nback, s.nvocabs);
        for (size_t i = 0; i < nback; i++) {
            bytebuf b = {0};
            assert_int_equal(vocab_generate(ctx, &back[i], &b), TP_OK);
            assert_memory_equal(b.data, data + s.vocabs[i].offset, b.len);
            bytebuf_free(&b);
            vocab_free(&back[i]);
        }
        free(back);
        bytebuf_free(&sec);
        free(vs);
        scan_free(&s);
        free(data);
    }
    /* the fixtures cover what they are there for */
    assert_true(total >= 15);
    assert_true(with_frames > 0);
    assert_true(with_raw > 0);
    assert_true(with_gets > 0);
    assert_true(numpy >= 2);
    assert_int_equal(numpy4, 2); /* one per int32 fixture: _codecs text and SHORT_BINBYTES */
    assert_true(lists >= 2);
    tp_ctx_free(ctx);
}

static void sorting_keeps_length_and_memo(void **state)
{
    (void)state;
    if (!tt_fixtures_dir()) skip();
    tp_ctx *ctx = tp_ctx_new();
    size_t len;
    uint8_t *data = tt_load_fixture("text_count_stop_maxfeat_p4.pkl", &len);
    assert_non_null(data);
    scan_result s;
    assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
    size_t sorted = 0;
    for (size_t i = 0; i < s.nvocabs; i++) {
        vocabulary *v = &s.vocabs[i].v;
        uint64_t before = v->stream_len;
        assert_int_equal(vocab_unframe(ctx, v), TP_OK);
        assert_true(vocab_sort(v));
        assert_true(vocab_is_sorted(v));
        assert_int_equal(v->stream_len, before); /* no frames in this one */
        bytebuf b = {0};
        assert_int_equal(vocab_generate(ctx, v, &b), TP_OK);
        assert_int_equal(b.len, before);
        bytebuf_free(&b);
        sorted++;
    }
    assert_int_equal(sorted, 2);
    scan_free(&s);
    free(data);
    tp_ctx_free(ctx);
}

static void emptied_set_keeps_its_memo_entries(void **state)
{
    (void)state;
    if (!tt_fixtures_dir()) skip();
    tp_ctx *ctx = tp_ctx_new();
    size_t len;
    uint8_t *data = tt_load_fixture("text_tfidf_bigram_p5.pkl", &len);
    assert_non_null(data);
    scan_result s;
    assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
    bool found = false;
    for (size_t i = 0; i < s.nvocabs; i++) {
        vocabulary *v = &s.vocabs[i].v;
        if (v->role != ROLE_STOP_WORDS) continue;
        uint64_t n = v->n, puts = s.vocabs[i].memo_hi - s.vocabs[i].memo_lo;
        assert_int_equal(vocab_empty(ctx, v), TP_OK);
        assert_int_equal(v->n, 0);
        assert_int_equal(v->filler + 1, puts); /* the container's put and one per term */
        assert_int_equal(puts, n + 1);
        found = true;
    }
    assert_true(found);
    scan_free(&s);
    free(data);
    tp_ctx_free(ctx);
}

/* Every truncation and a run of bit flips of a real section: refused or
 * read, never a crash (the expand checksum catches a wrong read). */
static void corrupt_sections(void **state)
{
    (void)state;
    if (!tt_fixtures_dir()) skip();
    tp_ctx *ctx = tp_ctx_new();
    size_t len;
    uint8_t *data = tt_load_fixture("text_count_stop_maxfeat_p2.pkl", &len);
    assert_non_null(data);
    scan_result s;
    assert_int_equal(scan_run(ctx, data, len, NULL, &s), TP_OK);
    vocabulary **vs = calloc(s.nvocabs, sizeof *vs);
    for (size_t i = 0; i < s.nvocabs; i++) vs[i] = &s.vocabs[i].v;
    bytebuf sec = {0};
    assert_int_equal(vocab_section_write(ctx, vs, s.nvocabs, 3, &sec), TP_OK);
    uint8_t *copy = malloc(sec.len);
    for (size_t cut = 0; cut < sec.len; cut++) {
        vocabulary *back = NULL;
        size_t n = 0;
        assert_int_not_equal(vocab_section_read(ctx, sec.data, cut, len, &back, &n), TP_OK);
    }
    tt_rng r = {3};
    for (int k = 0; k < 150; k++) {
        memcpy(copy, sec.data, sec.len);
        copy[tt_below(&r, sec.len)] ^= (uint8_t)(1u << tt_below(&r, 8));
        vocabulary *back = NULL;
        size_t n = 0;
        if (vocab_section_read(ctx, copy, sec.len, len, &back, &n) == TP_OK) {
            for (size_t i = 0; i < n; i++) {
                bytebuf b = {0};
                (void)vocab_generate(ctx, &back[i], &b);
                bytebuf_free(&b);
                vocab_free(&back[i]);
            }
            free(back);
        }
    }
    free(copy);
    bytebuf_free(&sec);
    free(vs);
    scan_free(&s);
    free(data);
    tp_ctx_free(ctx);
}

/* ---- the lossy rewrite ------------------------------------------------------- */

static void model_exact_rewrite_is_a_valid_pickle(void **state)
{
    (void)state;
    if (!tt_fixtures_dir()) skip();
    tp_ctx *ctx = tp_ctx_new();
    size_t len;
    uint8_t *data = tt_load_fixture("text_count_bigram_large_p4.pkl", &len);
    assert_non_null(data);
    bytebuf out = {0};
    lossy_info info;
    bool changed;
    assert_int_equal(lossy_transform(ctx, data, len, NULL, TP_EXACT_MODEL, 0, 0, &out, &info, &changed), TP_OK);
    assert_true(changed);
    assert_int_equal(info.vocabularies_sorted, 1);
    /* frames were inside the dict: the rewritten stream still reads (the
     * interpreter refuses opcodes that straddle a frame), and its
     * vocabulary is sorted now */
    scan_result s;
    assert_int_equal(scan_run(ctx, out.data, out.len, NULL, &s), TP_OK);
    assert_int_equal(s.nvocabs, 1);
    assert_true(vocab_is_sorted(&s.vocabs[0].v));
    assert_int_equal(s.vocabs[0].v.nframes, 0);
    scan_free(&s);
    bytebuf_free(&out);
    free(data);
    tp_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(termcm_round_trips),
        cmocka_unit_test(termcm_garbage_is_refused_or_decoded),
        cmocka_unit_test(every_text_fixture_regenerates),
        cmocka_unit_test(sorting_keeps_length_and_memo),
        cmocka_unit_test(emptied_set_keeps_its_memo_entries),
        cmocka_unit_test(corrupt_sections),
        cmocka_unit_test(model_exact_rewrite_is_a_valid_pickle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
