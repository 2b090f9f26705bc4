/*
 * prefetch.h - tree blocks decoded ahead of expand's splice loop.
 *
 * Decoding a block (the column codecs, the predictions, validation) is
 * most of expand's CPU time.  A helper thread decodes the blocks in order,
 * a few ahead of the block the splice loop is emitting, so that decoding
 * overlaps the loop's own work and the output thread's hashing and
 * writing.  The decoders also turn the trees into the bytes that go into
 * the pickle, so that the loop only hands them on.  The blocks of a valid container are used in order; one asked
 * for out of order (a crafted file) is decoded on the spot instead.
 */
#ifndef CODEC_PREFETCH_H
#define CODEC_PREFETCH_H

#include "codec/forest_dict.h"
#include "sklearn/tree.h"
#include "codec/tree_codec.h"

typedef struct tree_block_src {
    const uint8_t *data;
    size_t len;
} tree_block_src;

/* A decoded block as pickle bytes: tree i's node records are
 * data[span[i].nodes_off, + nodes_len), its values array likewise. */
typedef struct tree_span {
    uint64_t nodes_off, nodes_len, values_off, values_len;
    uint32_t layout;        /* the nodes' layout (index) */
    int64_t n_features;     /* the decoder proved the tree valid for it */
} tree_span;

typedef struct tree_block_bytes {
    uint8_t *data;
    tree_span *span;
    size_t k;            /* trees */
} tree_block_bytes;

typedef struct prefetcher prefetcher;

/* Start decoding.  The sources, layouts and dict must outlive the
 * prefetcher; budget bounds each block's nodes (tree_block_decode). */
tp_code prefetch_open(tp_ctx *ctx, const tree_block_src *blocks, size_t nblocks, const node_layout *layouts,
                         size_t nlayouts, const forest_dict *dict, uint64_t budget, prefetcher **out);
/* Block b decoded; *dec stays valid until the next call or close.  Blocks
 * before b are released. */
tp_code prefetch_get(prefetcher *p, tp_ctx *ctx, size_t b, const tree_block_bytes **dec);
void prefetch_close(prefetcher *p);

#endif
