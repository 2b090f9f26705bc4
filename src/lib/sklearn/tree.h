/*
 * tree.h - an sklearn Tree as columns, and the node layout that maps the
 * columns to and from the pickled struct bytes.
 *
 * The layout comes from the dtype pickled with the tree (field names,
 * offsets, widths, byte order), never from a hard-coded struct: sklearn
 * 1.2 writes 56-byte nodes, 1.3+ 64-byte nodes with a missing_go_to_left
 * byte and padding, 32-bit builds narrower integers.  Bytes that no known
 * field covers (padding, unknown fields) are carried as they are.
 */
#ifndef SKLEARN_TREE_H
#define SKLEARN_TREE_H

#include "base/common.h"
#include "base/buf.h"
#include "base/cursor.h"
#include "numpy/npy.h"

enum node_field_id {
    NF_LEFT,
    NF_RIGHT,
    NF_FEATURE,
    NF_THRESHOLD,
    NF_IMPURITY,
    NF_NSAMPLES,
    NF_WEIGHTED,
    NF_COUNT
};

typedef struct field_layout {
    uint8_t present;
    uint8_t size;       /* 4 or 8 */
    uint8_t big;        /* big-endian */
    uint8_t is_float;
    uint32_t offset;
} field_layout;

typedef struct node_layout {
    uint32_t itemsize;
    field_layout f[NF_COUNT];
    uint32_t rest_size; /* bytes per node outside the known fields */
    /* runs of rest bytes: [offset, offset+len) */
    uint32_t nruns;
    uint32_t run_off[NPY_MAX_FIELDS + 1];
    uint32_t run_len[NPY_MAX_FIELDS + 1];
} node_layout;

typedef struct sktree {
    uint64_t n;              /* node_count */
    int64_t n_features;      /* what a decoded tree was proven against */
    uint32_t n_outputs;      /* values.shape[1] */
    uint32_t n_classes;      /* values.shape[2] */
    uint8_t values_big;      /* values written big-endian */
    uint8_t values_fortran;  /* values written in Fortran order */
    int64_t *left, *right, *feature, *nsamples;
    double *threshold, *impurity, *weighted;
    double *values;          /* n * n_outputs * n_classes, C order */
    uint8_t *rest;           /* n * layout.rest_size */
} sktree;

/* Names of the node fields as sklearn writes them. */
extern const char *const node_field_names[NF_COUNT];

/* Build a layout from a structured dtype; false if it lacks the fields a
 * Tree needs (left_child, right_child, feature as integers, threshold as
 * float64) or has fields that overlap. */
bool node_layout_from_dtype(const npy_dtype *dt, node_layout *lay);

/* Layouts travel in the container: (de)serialise them. */
void node_layout_write(const node_layout *lay, bytebuf *out);
bool node_layout_read(cursor *c, node_layout *lay);

/* Allocate the columns for n nodes (rest_size bytes of rest per node).
 * False on overflow or out of memory. */
bool tree_alloc(sktree *t, uint64_t n, uint32_t n_outputs, uint32_t n_classes, uint32_t rest_size);
void tree_free(sktree *t);
uint64_t tree_values_count(const sktree *t);

/* Struct bytes -> columns, and back.  The byte buffers hold exactly
 * n * itemsize and n * n_outputs * n_classes * 8 bytes. */
void tree_from_bytes(sktree *t, const node_layout *lay, const uint8_t *nodes, const uint8_t *values);
void tree_to_bytes(const sktree *t, const node_layout *lay, uint8_t *nodes, uint8_t *values);

/* Check what sklearn relies on but does not check itself: children in
 * range, every node reached exactly once from the root, leaves marked
 * consistently, features of internal nodes below n_features.
 * On failure writes a reason into why. */
bool tree_validate(const sktree *t, int64_t n_features, char *why, size_t why_len);
/* Only the features of internal nodes, for a topology that is a tree by
 * construction (the decoder's preorder). */
bool tree_features_ok(const sktree *t, int64_t n_features, char *why, size_t why_len);
/* The same by the full walk alone (tree_validate tries a quick proof
 * first); for tests that compare the two. */
bool tree_validate_full(const sktree *t, int64_t n_features, char *why, size_t why_len);
/* The quick proof alone, on struct records as they sit in a pickle: true
 * proves the tree valid; false proves nothing (run tree_validate). */
bool nodes_quick_valid(const node_layout *lay, const uint8_t *nodes, uint64_t n, int64_t n_features);
/* The fields a tree's validity depends on, which that proof reads: left
 * and right child, feature. */
extern const int structure_fields[3];

/* True when every internal node's left child is the next node: the
 * depth-first builder's preorder. */
bool tree_is_preorder(const sktree *t);

#endif
