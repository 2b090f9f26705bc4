/*
 * forest_dict.c - build, measure, store and read the shared tables.
 */
#include <stdlib.h>
#include <zstd.h>

#include "base/cursor.h"
#include "codec/forest_dict.h"
#include "codec/planes.h"
#include "codec/tree_model.h"
#include "base/zstd_ctx.h"

/* Trial compressions decide whether a table pays off; a fast level is
 * enough to compare the two ways. */
#define TRIAL_LEVEL 3
/* A feature's thresholds are candidates for a table when they repeat:
 * at most this share of them distinct.  Nearly unique values (continuous
 * features) cost more through a table than as doubles, whatever a quick
 * trial says. */
#define MAX_DISTINCT_SHARE 0.8
/* Keep a table only if it saves at least this share of the raw cost. */
#define MIN_GAIN 0.9

bool tree_values_are_counts(const sktree *t)
{
    uint64_t nv = tree_values_count(t);
    for (uint64_t j = 0; j < nv; j++)
        if (!is_count(t->values[j])) return false;
    return true;
}

bool tree_fraction_counts(const sktree *t, double *counts)
{
    /* regressors' means of whole targets are k / weighted too, but their
     * impurity is no Gini of counts: only classifiers */
    if (t->n_classes < 2) return false;
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    bool whole = true; /* fractions are not all 0 or 1: else the counts model applies as it is */
    for (uint64_t i = 0; i < t->n; i++) {
        const double w = t->weighted[i];
        if (!(w > 0.0) || !is_count(w)) return false;
        for (uint64_t e = 0; e < per; e++) {
            const double v = t->values[i * per + e];
            const double k = rint(v * w);
            if (!is_count(k) || f64_to_bits(k / w) != f64_to_bits(v)) return false;
            whole &= is_count(v);
            if (counts) counts[i * per + e] = k;
        }
    }
    return !whole;
}

uint8_t index_width(size_t n)
{
    uint8_t w = 1;
    while (w < 8 && n > ((uint64_t)1 << (8 * w))) w++;
    return w;
}

void forest_dict_builder_add(forest_dict_builder *b, const sktree *t)
{
    if (b->failed) return;
    for (uint64_t i = 0; i < t->n; i++) {
        if (t->left[i] == -1) continue;
        int64_t f = t->feature[i];
        if (f < 0 || f >= FOREST_DICT_MAX_FEATURES) continue;
        if ((uint64_t)f >= b->nfeatures) {
            uint32_t n = (uint32_t)f + 1;
            bytebuf *p = realloc(b->thr, n * sizeof *p);
            if (!p) {
                b->failed = true;
                return;
            }
            memset(p + b->nfeatures, 0, (n - b->nfeatures) * sizeof *p);
            b->thr = p;
            b->nfeatures = n;
        }
        bytebuf_u64(&b->thr[f], f64_to_ordered(t->threshold[i]));
    }
    if (!tree_values_are_counts(t) && !tree_fraction_counts(t, NULL)) {
        const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
        for (uint64_t i = 0; i < t->n; i++)
            if (t->left[i] == -1)
                for (uint64_t e = 0; e < per; e++) bytebuf_u64(&b->leaf, f64_to_ordered(t->values[i * per + e]));
    }
}

void forest_dict_builder_free(forest_dict_builder *b)
{
    for (uint32_t f = 0; f < b->nfeatures; f++) bytebuf_free(&b->thr[f]);
    free(b->thr);
    bytebuf_free(&b->leaf);
    memset(b, 0, sizeof *b);
}

void forest_dict_free(forest_dict *d)
{
    for (uint32_t f = 0; f < d->nfeatures; f++) {
        free(d->thr[f].keys);
        free(d->thr[f].slot);
    }
    free(d->thr);
    free(d->leaf.keys);
    free(d->leaf.slot);
    memset(d, 0, sizeof *d);
}

bool forest_dict_empty(const forest_dict *d)
{
    if (d->leaf.n) return false;
    for (uint32_t f = 0; f < d->nfeatures; f++)
        if (d->thr[f].n) return false;
    return true;
}

void forest_dict_attribute(const forest_dict *d, uint64_t stored, uint64_t *part_stored)
{
    uint64_t thr = 0;
    for (uint32_t f = 0; f < d->nfeatures; f++) thr += d->thr[f].n;
    uint64_t all = thr + d->leaf.n;
    if (!all) return;
    uint64_t to_thr = (uint64_t)((double)stored * (double)thr / (double)all);
    part_stored[TP_PART_THRESHOLDS] += to_thr;
    part_stored[TP_PART_VALUES] += stored - to_thr;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted distinct copy of n keys. */
static bool distinct(const uint64_t *keys, size_t n, forest_dict_table *out)
{
    out->keys = malloc(n ? n * 8 : 8);
    out->n = 0;
    if (!out->keys) return false;
    if (n) memcpy(out->keys, keys, n * 8);
    qsort(out->keys, n, 8, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || out->keys[k - 1] != out->keys[i]) out->keys[k++] = out->keys[i];
    out->n = k;
    return true;
}

/* Where a key's search starts in a table's index. */
static inline uint64_t slot_of(uint64_t key, uint64_t mask) { return (key * 0x9E3779B97F4A7C15ull >> 32) & mask; }

/* The index of a kept table: the encoder looks up every split and every
 * leaf value of every tree, twice (choose, then encode), and a binary
 * search through a table of tens of thousands of values missed the cache
 * at each step (a tenth of compress's time on a regression forest). */
static bool index_table(forest_dict_table *t)
{
    if (!t->n || t->n >= UINT32_MAX / 4) return true; /* searched instead */
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)t->n) cap *= 2;
    t->slot = calloc((size_t)cap, sizeof *t->slot);
    if (!t->slot) return false;
    t->mask = cap - 1;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = slot_of(t->keys[i], t->mask);
        while (t->slot[h]) h = (h + 1) & t->mask;
        t->slot[h] = (uint32_t)i + 1;
    }
    return true;
}

size_t forest_dict_find(const forest_dict_table *t, double v)
{
    uint64_t key = f64_to_ordered(v);
    if (t->slot) {
        for (uint64_t h = slot_of(key, t->mask);; h = (h + 1) & t->mask) {
            uint32_t e = t->slot[h];
            if (!e) return SIZE_MAX;
            if (t->keys[e - 1] == key) return e - 1;
        }
    }
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->keys[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->n && t->keys[lo] == key ? lo : SIZE_MAX;
}

/* zstd size of count values of `width` bytes, as byte planes. */
static size_t trial_size(const uint8_t *vals, size_t count, size_t width)
{
    if (!count) return 0;
    size_t n = count * width;
    uint8_t *pl = malloc(n);
    size_t cap = ZSTD_compressBound(n);
    uint8_t *z = malloc(cap);
    size_t r = SIZE_MAX;
    if (pl && z) {
        planes_split(vals, pl, count, width);
        ZSTD_CCtx *own;
        ZSTD_CCtx *cc = zstd_thread_cctx(n, &own);
        r = cc ? ZSTD_compressCCtx(cc, z, cap, pl, n, TRIAL_LEVEL) : SIZE_MAX;
        ZSTD_freeCCtx(own);
        if (ZSTD_isError(r)) r = SIZE_MAX;
    }
    free(pl);
    free(z);
    return r;
}

/* Sorted keys as a delta chain: the first absolute, then differences. */
static void put_deltas(const forest_dict_table *t, bytebuf *out)
{
    for (size_t i = 0; i < t->n; i++) bytebuf_u64(out, i ? t->keys[i] - t->keys[i - 1] : t->keys[0]);
}

/* Indices of `keys` in `table`, `width` bytes each, little-endian. */
static void put_indices(const forest_dict_table *table, const uint64_t *keys, size_t n, uint8_t width, bytebuf *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t idx = forest_dict_find(table, ordered_to_f64(keys[i]));
        uint8_t b[8];
        store_le64(b, idx);
        bytebuf_append(out, b, width);
    }
}

/* Cost of storing these keys through a table against storing them raw. */
static bool table_pays(const forest_dict_table *table, const uint64_t *keys, size_t n, uint8_t width)
{
    bytebuf deltas = {0}, idx = {0};
    put_deltas(table, &deltas);
    put_indices(table, keys, n, width, &idx);
    bool ok = !deltas.failed && !idx.failed;
    size_t with = ok ? trial_size(deltas.data, table->n, 8) + trial_size(idx.data, n, width) : SIZE_MAX;
    size_t without = trial_size((const uint8_t *)keys, n, 8);
    bytebuf_free(&deltas);
    bytebuf_free(&idx);
    return ok && with != SIZE_MAX && without != SIZE_MAX && (double)with < MIN_GAIN * (double)without;
}

bool forest_dict_builder_finish(forest_dict_builder *b, forest_dict *d)
{
    memset(d, 0, sizeof *d);
    bool ok = !b->failed;
    if (ok && b->nfeatures) {
        d->thr = calloc(b->nfeatures, sizeof *d->thr);
        ok = d->thr != NULL;
        if (ok) d->nfeatures = b->nfeatures;
    }
    /* Thresholds: candidate features are those whose values repeat; they
     * are judged together, since one feature alone is often too small
     * for a fair trial. */
    bytebuf cand = {0};
    size_t max_n = 0;
    for (uint32_t f = 0; ok && f < d->nfeatures; f++) {
        size_t uses = b->thr[f].len / 8;
        ok = distinct((const uint64_t *)b->thr[f].data, uses, &d->thr[f]);
        if (ok && (double)d->thr[f].n <= MAX_DISTINCT_SHARE * (double)uses) {
            bytebuf_append(&cand, b->thr[f].data, b->thr[f].len);
            if (d->thr[f].n > max_n) max_n = d->thr[f].n;
        } else if (ok) {
            free(d->thr[f].keys);
            d->thr[f].keys = NULL;
            d->thr[f].n = 0;
        }
    }
    if (ok && cand.len) {
        d->thr_width = index_width(max_n + 1);
        /* one table per feature, measured as one: the sum of the parts */
        size_t entries = 0;
        bytebuf idx = {0}, deltas = {0};
        for (uint32_t f = 0; f < d->nfeatures; f++) {
            entries += d->thr[f].n;
            put_indices(&d->thr[f], (const uint64_t *)b->thr[f].data, d->thr[f].n ? b->thr[f].len / 8 : 0,
                        d->thr_width, &idx);
            put_deltas(&d->thr[f], &deltas);
        }
        size_t with = trial_size(deltas.data, entries, 8) + trial_size(idx.data, idx.len / d->thr_width, d->thr_width);
        size_t without = trial_size(cand.data, cand.len / 8, 8);
        if (idx.failed || deltas.failed || !((double)with < MIN_GAIN * (double)without)) {
            for (uint32_t f = 0; f < d->nfeatures; f++) {
                free(d->thr[f].keys);
                d->thr[f].keys = NULL;
                d->thr[f].n = 0;
            }
            d->thr_width = 0;
        }
        bytebuf_free(&deltas);
        bytebuf_free(&idx);
    }
    bytebuf_free(&cand);
    if (ok && b->leaf.len) {
        size_t n = b->leaf.len / 8;
        ok = distinct((const uint64_t *)b->leaf.data, n, &d->leaf);
        if (ok) d->leaf_width = index_width(d->leaf.n + 1);
        if (ok && ((double)d->leaf.n > MAX_DISTINCT_SHARE * (double)n ||
                   !table_pays(&d->leaf, (const uint64_t *)b->leaf.data, n, d->leaf_width))) {
            free(d->leaf.keys);
            d->leaf.keys = NULL;
            d->leaf.n = 0;
            d->leaf_width = 0;
        }
    }
    forest_dict_builder_free(b);
    for (uint32_t f = 0; ok && f < d->nfeatures; f++) ok = index_table(&d->thr[f]);
    if (ok) ok = index_table(&d->leaf);
    if (!ok) forest_dict_free(d);
    return ok;
}

/* ---- storage ---------------------------------------------------------------
 *   varint nfeatures; varint n per feature; u8 thr_width;
 *   varint leaf n; u8 leaf_width;
 *   the delta chains of every table in that order, as 8 byte planes. */

void forest_dict_write(const forest_dict *d, bytebuf *out)
{
    bytebuf_varint(out, d->nfeatures);
    size_t total = d->leaf.n;
    for (uint32_t f = 0; f < d->nfeatures; f++) {
        bytebuf_varint(out, d->thr[f].n);
        total += d->thr[f].n;
    }
    bytebuf_u8(out, d->thr_width);
    bytebuf_varint(out, d->leaf.n);
    bytebuf_u8(out, d->leaf_width);
    bytebuf deltas = {0};
    for (uint32_t f = 0; f < d->nfeatures; f++) put_deltas(&d->thr[f], &deltas);
    put_deltas(&d->leaf, &deltas);
    uint8_t *pl = bytebuf_grow(out, total * 8);
    if (pl && !deltas.failed) planes_split(deltas.data, pl, total, 8);
    else out->failed = true;
    bytebuf_free(&deltas);
}

static bool read_chain(const uint64_t *deltas, size_t n, forest_dict_table *t)
{
    t->n = n;
    t->keys = malloc(n ? n * 8 : 8);
    if (!t->keys) return false;
    for (size_t i = 0; i < n; i++) {
        t->keys[i] = i ? t->keys[i - 1] + deltas[i] : deltas[0];
        /* strictly increasing, or the table lies */
        if (i && t->keys[i] <= t->keys[i - 1]) return false;
    }
    return true;
}

tp_code forest_dict_read(tp_ctx *ctx, const uint8_t *data, size_t len, forest_dict *d)
{
    memset(d, 0, sizeof *d);
    cursor c = cursor_make(data, len);
    uint64_t nf = cursor_varint_max(&c, FOREST_DICT_MAX_FEATURES);
    if (c.bad || nf > len) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the dictionary section is malformed");
    d->thr = calloc(nf ? (size_t)nf : 1, sizeof *d->thr);
    if (!d->thr) return ctx_fail(ctx, TP_E_NOMEM, -1, "dictionary");
    d->nfeatures = (uint32_t)nf;
    uint64_t total = 0, max_n = 0;
    for (uint32_t f = 0; f < nf; f++) {
        d->thr[f].n = (size_t)cursor_varint_max(&c, len);
        total += d->thr[f].n;
        if (d->thr[f].n > max_n) max_n = d->thr[f].n;
    }
    d->thr_width = cursor_u8(&c);
    uint64_t leaf_n = cursor_varint_max(&c, len);
    d->leaf_width = cursor_u8(&c);
    total += leaf_n;
    if (c.bad || total > cursor_left(&c) / 8 || cursor_left(&c) != total * 8 ||
        (max_n ? d->thr_width != index_width((size_t)max_n + 1) : d->thr_width != 0) ||
        (leaf_n ? d->leaf_width != index_width((size_t)leaf_n + 1) : d->leaf_width != 0)) {
        for (uint32_t f = 0; f < nf; f++) d->thr[f].n = 0;
        forest_dict_free(d);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the dictionary section is malformed");
    }
    uint64_t *deltas = malloc(total ? (size_t)total * 8 : 8);
    if (!deltas) {
        for (uint32_t f = 0; f < nf; f++) d->thr[f].n = 0;
        forest_dict_free(d);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "dictionary");
    }
    planes_join(c.data + c.pos, (uint8_t *)deltas, (size_t)total, 8);
    /* The planes hold little-endian bytes; on a big-endian host, swap. */
    for (size_t i = 0; i < total; i++) deltas[i] = load_le64((const uint8_t *)&deltas[i]);
    bool ok = true;
    size_t at = 0;
    for (uint32_t f = 0; f < nf; f++) {
        size_t n = d->thr[f].n;
        d->thr[f].n = 0;
        if (ok) ok = read_chain(deltas + at, n, &d->thr[f]);
        at += n;
    }
    if (ok) ok = read_chain(deltas + at, (size_t)leaf_n, &d->leaf);
    free(deltas);
    if (!ok) {
        forest_dict_free(d);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a dictionary table is not sorted");
    }
    return TP_OK;
}
