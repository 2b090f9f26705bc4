/*
 * locate.h - find the sklearn Tree states in a pickle stream.
 *
 * Runs the symbolic interpreter over the whole input (one pickle, or
 * several written one after another) and, from the objects it recorded,
 * picks out every `sklearn.tree._tree.Tree` whose BUILD state holds a
 * `nodes` and a `values` array this reader can splice.  The result is a
 * list of trees with the stream position of each payload; everything
 * else in the stream is left to the skeleton, byte for byte.
 */
#ifndef SKLEARN_LOCATE_H
#define SKLEARN_LOCATE_H

#include "sklearn/inventory.h"
#include "numpy/npy.h"
#include "sklearn/records.h"
#include "sklearn/tree.h"
#include "sklearn/vocab.h"

typedef struct found_tree {
    uint64_t offset;          /* of the REDUCE that makes the Tree */
    int64_t n_features;       /* Tree(n_features, n_classes, n_outputs) */
    npy_array nodes;
    npy_array values;
    node_layout layout;
} found_tree;

typedef struct scan_result {
    found_tree *trees;     /* sorted by nodes.data_off */
    size_t ntrees;
    size_t nverbatim;         /* Tree objects left in the skeleton */
    int protocol;             /* highest PROTO seen */
    size_t npickles;          /* pickles one after another in the file */
    found_records *records; /* structured arrays (HistGradientBoosting
                                  predictor nodes), sorted by arr.data_off */
    size_t nrecords;
    model_inventory inv;         /* what was recognised, what was left as is */
    found_vocab *vocabs;   /* vocabularies of text vectorizers, sorted by
                                 offset, overlapping no other payload */
    size_t nvocabs;
    uint64_t (*frames)[2];    /* every FRAME opcode: offset, declared length */
    size_t nframes;
    uint64_t *puts;           /* offsets of PUT opcodes with rising indices
                                 (pv_vm.log_puts), in stream order */
    size_t nputs;
    bool has_iforest;         /* an IsolationForest is in the stream (its
                                 scores read n_node_samples) */
    /* scan_trees only, which checks the trees instead of listing them:
     * how many, and the first invalid one (bad_tree_why empty: none) */
    size_t ntrees_checked;
    size_t bad_tree;
    uint64_t bad_tree_offset;
    char bad_tree_why[200];
} scan_result;

/* Node arrays the expander wrote itself from trees its decoder had proven
 * valid (tree_codec.c): where they lie in the output, the layout they were
 * written with and the n_features the proof was for.  A check that meets
 * a Tree whose nodes are exactly such an array, read through the same
 * 8-byte child and feature fields, declaring the same n_features, knows
 * the answer the proof would give (see proven() in locate.c).  Sorted by
 * offset. */
typedef struct proven_nodes {
    uint64_t offset, len;
    const node_layout *layout;
    int64_t n_features;
} proven_nodes;

typedef struct proven_list {
    proven_nodes *v;
    size_t n, cap;
} proven_list;

/* Scan the input.  Fails on malformed pickles and on Tree states that
 * contradict themselves (node_count against the arrays, values shape).
 * The input is read as joblib.load reads it (raw array data after each
 * NumpyArrayWrapper, joblib.c) and, when it holds such a wrapper, as
 * pickle.load reads it too; a plain pickle that merely holds a wrapper
 * and cannot be read the joblib way is scanned the other way. */
tp_code scan_run(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_limits *lim, scan_result *out);
void scan_free(scan_result *s);
/* The same, and fill the imports, calls and arrays of *sites (see
 * inspect.h) from what the interpreter recorded, even when the scan fails,
 * each judged (verdict.h; opt->trusted, which opt may be NULL). */
tp_code scan_run_ex(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                       tp_inspection *sites);
/* Load a found tree's columns and check it (tree_validate with its
 * n_features).  TP_OK and why[0] = 0 when valid; TP_OK and a reason in
 * why when not; an error code only for resource failures. */
tp_code found_tree_check(tp_ctx *ctx, const uint8_t *in, const found_tree *f, char *why, size_t why_len);

/* A compressed file read by pickle.load as it is (someone's model.pkl
 * that is really a compressed joblib file): it must stop at once, where
 * CPython would, having met nothing; otherwise a refused finding joins
 * *sites.  The caller has the decompressed stream judged as well. */
tp_code scan_raw(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, tp_inspection *sites);
/* What a check needs of the same, and no more: every Tree state checked
 * (found_tree_check, the first problem in bad_tree*; not those proven,
 * which may be NULL), nverbatim, and the imports and calls of *sites (no
 * arrays).  trees, records, vocabs and inv stay empty. */
tp_code scan_trees(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                      tp_inspection *sites, const proven_list *proven);

#endif
