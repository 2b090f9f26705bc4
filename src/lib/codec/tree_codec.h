/*
 * tree_codec.h - trees to compact columns and back.
 *
 * A block holds a run of trees.  Each kind of data goes to its own column
 * (leaf sample counts, internal residuals, thresholds, ...), and each
 * column is compressed on its own with zstd, so that zstd's entropy coder
 * sees one kind of data at a time.  Fields that the children determine
 * (sample counts, weighted counts, class counts, gini impurity, regression
 * means) are predicted with sklearn's own arithmetic (tree_model.h) and
 * only the residual is stored, zero when the prediction is exact.  Values
 * that repeat across the forest go through the shared tables of
 * forest_dict.h.  Every path stays exact for any input: a tree that breaks
 * the patterns only costs more bytes.
 */
#ifndef CODEC_TREE_CODEC_H
#define CODEC_TREE_CODEC_H

#include "base/buf.h"
#include "codec/forest_dict.h"
#include "sklearn/tree.h"

/* Columns of a block.  The numbers are part of the file format. */
enum tree_column {
    COL_META = 0,      /* per tree: sizes, layout, flags, models */
    COL_TOPO,          /* internal/leaf bits in node order */
    COL_CHILDREN,      /* explicit children of trees not in preorder */
    COL_FEATURE,       /* feature of each internal node */
    COL_THRESHOLD,     /* thresholds stored as doubles */
    COL_THR_INDEX,     /* thresholds stored as indices into the feature's table */
    COL_EXCEPT,        /* leaves whose feature/threshold are not sklearn's -2 */
    COL_N_LEAF,        /* n_node_samples of leaves */
    COL_N_INT,         /* n_node_samples residuals of internal nodes */
    COL_W_LEAF,        /* weighted_n_node_samples of leaves, next to n */
    COL_W_ESC,         /* ... where that does not work, as doubles */
    COL_W_INT,         /* weighted_n_node_samples residuals of internal nodes */
    COL_V_SYM,         /* classifier leaves: the class of a pure leaf */
    COL_V_COUNTS,      /* classifier leaves that are not pure: the counts */
    COL_V_RAW,         /* leaf values as doubles */
    COL_V_INDEX,       /* leaf values as indices into the leaf table */
    COL_V_INT,         /* internal values: residuals */
    COL_V_INT_RAW,     /* internal values as doubles */
    COL_I_LEAF,        /* impurity of leaves: residual or grid code */
    COL_I_INT,         /* impurity of internal nodes: residual or grid code */
    COL_I_RAW,         /* impurity as doubles where no model fits */
    COL_REST,          /* node bytes outside the known fields */
    COL_COUNT
};

/* Which report part a column's bytes belong to. */
int column_part(int col);
/* The zstd level a column gets at a given treepack level. */
int column_level(int col, int level);

typedef struct tree_block_in {
    const sktree *tree;
    uint32_t layout;         /* index into the layouts table */
    uint32_t rest_size;
    int64_t n_features;
} tree_block_in;

/* Encode trees into one block payload appended to out.  part_stored (may
 * be NULL) gets the stored bytes per report part added.  With may_join a
 * small block is written joined (one zstd frame of all its columns) when
 * that is smaller; tests turn it off to see the columns. */
tp_code tree_block_encode(tp_ctx *ctx, const tree_block_in *trees, size_t k, const forest_dict *dict, int level,
                        bool may_join, bytebuf *out, uint64_t *part_stored);

typedef struct tree_block_out {
    sktree *trees;
    uint32_t *layout;
    size_t k;
} tree_block_out;

/* Decode a block.  layouts gives each tree's node layout; *node_budget is
 * the number of payload bytes still allowed, reduced by what the block
 * holds, so a crafted block cannot make us allocate more than the
 * original's size.  Every decoded tree is validated. */
tp_code tree_block_decode(tp_ctx *ctx, const uint8_t *in, size_t len, const node_layout *layouts,
                        size_t nlayouts, const forest_dict *dict, uint64_t *node_budget, tree_block_out *out);
void tree_block_out_free(tree_block_out *out);

/* Stored sizes of a block's columns by report part, without decoding it. */
tp_code tree_block_sizes(tp_ctx *ctx, const uint8_t *in, size_t len, uint64_t *ntrees, uint64_t *part_stored);

#endif
