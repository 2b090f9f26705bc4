/*
 * forest_dict.h - tables shared by all the trees of a file.
 *
 * Two kinds of values repeat across the trees of a forest:
 *  - thresholds of features with few distinct values (pixel intensities,
 *    categories, gradient boosting on coarse data): per feature, the
 *    sorted distinct thresholds, and each split stores an index;
 *  - leaf values of regression trees: training targets, shared by every
 *    tree whose bootstrap drew that sample: one sorted table of distinct
 *    values, and each leaf stores an index.
 * Whether a table pays off is measured, not guessed: compress.c tries
 * both ways on a sample of the trees (see forest_dict_builder_finish).
 */
#ifndef CODEC_FOREST_DICT_H
#define CODEC_FOREST_DICT_H

#include "base/buf.h"
#include "sklearn/tree.h"

typedef struct forest_dict_table {
    uint64_t *keys;       /* sorted, distinct f64_to_ordered() of the values */
    size_t n;
    /* compress only: an open-addressing index of keys (entry i + 1, 0
     * empty), mask + 1 slots; NULL: forest_dict_find searches keys */
    uint32_t *slot;
    uint64_t mask;
} forest_dict_table;

typedef struct forest_dict {
    uint32_t nfeatures;   /* entries in thr */
    forest_dict_table *thr;   /* per feature; n == 0: that feature's thresholds are stored raw */
    uint8_t thr_width;    /* bytes per threshold index */
    forest_dict_table leaf;   /* n == 0: no leaf value table */
    uint8_t leaf_width;   /* bytes per leaf value index */
} forest_dict;

/* Collects values from trees, then decides. */
typedef struct forest_dict_builder {
    uint32_t nfeatures;
    bytebuf *thr;          /* per feature: uint64 keys, one per split */
    bytebuf leaf;          /* uint64 keys of regression leaf values */
    bool failed;
} forest_dict_builder;

/* Thresholds of features above this id are never tabled (a crafted
 * n_features must not make us allocate). */
#define FOREST_DICT_MAX_FEATURES (1u << 20)

/* Does the codec store this tree's leaf values as doubles (regression)
 * rather than as class counts?  Shared by the builder and the codec so
 * that both agree on which trees use the leaf table. */
bool tree_values_are_counts(const sktree *t);

/* Classifiers of scikit-learn 1.4 and later store class fractions: each
 * value is sum_total[c] / weighted_n_node_samples.  When every value of
 * the tree is k / weighted for a whole number k (bit for bit), the codec
 * stores the counts k instead, and the tree's leaves use no table.
 * counts (n * n_outputs * n_classes doubles) receives the k; may be NULL
 * to ask only. */
bool tree_fraction_counts(const sktree *t, double *counts);

void forest_dict_builder_add(forest_dict_builder *b, const sktree *t);
/* Sort, deduplicate and keep each table only where it makes the data
 * smaller (measured with a quick zstd pass).  Frees the builder. */
bool forest_dict_builder_finish(forest_dict_builder *b, forest_dict *out);
void forest_dict_builder_free(forest_dict_builder *b);

void forest_dict_free(forest_dict *d);
bool forest_dict_empty(const forest_dict *d);
void forest_dict_write(const forest_dict *d, bytebuf *out);
tp_code forest_dict_read(tp_ctx *ctx, const uint8_t *data, size_t len, forest_dict *d);

/* Split `stored` bytes of the dictionary section between the report's
 * thresholds and values parts, in proportion to the entries of each. */
void forest_dict_attribute(const forest_dict *d, uint64_t stored, uint64_t *part_stored);

/* Index of a value in a table, or SIZE_MAX.  A value that is not in its
 * table is stored as the index t->n (the escape) followed by the double
 * itself: tables come from a sample of the trees (see compress.c), so the
 * other trees may hold values the tables lack. */
size_t forest_dict_find(const forest_dict_table *t, double v);
/* Smallest number of bytes that holds indices below n. */
uint8_t index_width(size_t n);

#endif
