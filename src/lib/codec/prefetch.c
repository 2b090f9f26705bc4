/*
 * prefetch.c - tree blocks decoded ahead (see prefetch.h).
 */
#include "codec/prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Blocks decoded (or being decoded) from the one in use on, at most:
 * each holds a block's trees (up to about 8 MB of pickle), so this
 * bounds the memory it adds.  Two: the helper decodes the next block
 * while the caller writes one, or both decode when the caller would
 * wait.  Three bought no measurable speed for 10 MB more on a 46 MB
 * forest. */
#define AHEAD 2

enum { SLOT_EMPTY, SLOT_BUSY, SLOT_READY };

typedef struct slot {
    tree_block_bytes dec;
    tp_ctx ctx;       /* the helper's error for this block */
    tp_code rc;
    int state;
} slot;

struct prefetcher {
    const tree_block_src *blocks;
    size_t nblocks;
    const node_layout *layouts;
    size_t nlayouts;
    const forest_dict *dict;
    uint64_t budget;
    slot *slots;
    size_t next;      /* the next block the helper takes */
    size_t used;      /* blocks below this one are released */
    bool stop, started;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tree_block_bytes own; /* a block asked for out of order */
};

static void bytes_free(tree_block_bytes *b)
{
    free(b->data);
    free(b->span);
    memset(b, 0, sizeof *b);
}

/* The trees' bytes, each tree's columns freed as soon as it is written
 * out, so that the block is held about once, not twice. */
static tp_code to_bytes(tp_ctx *ctx, const node_layout *layouts, tree_block_out *trees, tree_block_bytes *out)
{
    /* tree_block_decode checked each tree's bytes against the budget, so
     * the sum stays below the original's size: no overflow */
    uint64_t total = 0;
    for (size_t i = 0; i < trees->k; i++)
        total += trees->trees[i].n * layouts[trees->layout[i]].itemsize + tree_values_count(&trees->trees[i]) * 8;
    out->data = malloc(total ? (size_t)total : 1);
    out->span = calloc(trees->k + 1, sizeof *out->span);
    if (!out->data || !out->span) {
        bytes_free(out);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "a block of %llu bytes", (unsigned long long)total);
    }
    out->k = trees->k;
    uint64_t at = 0;
    for (size_t i = 0; i < trees->k; i++) {
        sktree *t = &trees->trees[i];
        const node_layout *lay = &layouts[trees->layout[i]];
        tree_span *sp = &out->span[i];
        sp->nodes_off = at;
        sp->nodes_len = t->n * lay->itemsize;
        sp->values_off = at + sp->nodes_len;
        sp->values_len = tree_values_count(t) * 8;
        sp->layout = trees->layout[i];
        sp->n_features = t->n_features;
        tree_to_bytes(t, lay, out->data + sp->nodes_off, out->data + sp->values_off);
        at = sp->values_off + sp->values_len;
        tree_free(t);
    }
    return TP_OK;
}

static void decode_into(prefetcher *p, size_t b, tp_ctx *ctx, tree_block_bytes *dec, tp_code *rc)
{
    uint64_t budget = p->budget;
    memset(dec, 0, sizeof *dec);
    tree_block_out trees;
    memset(&trees, 0, sizeof trees);
    *rc = tree_block_decode(ctx, p->blocks[b].data, p->blocks[b].len, p->layouts, p->nlayouts, p->dict, &budget, &trees);
    if (!*rc) *rc = to_bytes(ctx, p->layouts, &trees, dec);
    tree_block_out_free(&trees);
}

/* Decode block b into its slot, with the lock held on entry and exit
 * (released while decoding); the slot is BUSY meanwhile. */
static void decode_slot(prefetcher *p, size_t b)
{
    slot *s = &p->slots[b];
    s->state = SLOT_BUSY;
    pthread_mutex_unlock(&p->lock);
    memset(&s->ctx, 0, sizeof s->ctx);
    decode_into(p, b, &s->ctx, &s->dec, &s->rc);
    pthread_mutex_lock(&p->lock);
    s->state = SLOT_READY;
    pthread_cond_broadcast(&p->cond);
}

static void *helper(void *arg)
{
    prefetcher *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->next < p->nblocks && p->next >= p->used + AHEAD) pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop || p->next >= p->nblocks) break;
        decode_slot(p, p->next++);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

tp_code prefetch_open(tp_ctx *ctx, const tree_block_src *blocks, size_t nblocks, const node_layout *layouts,
                         size_t nlayouts, const forest_dict *dict, uint64_t budget, prefetcher **out)
{
    *out = NULL;
    prefetcher *p = calloc(1, sizeof *p);
    if (p) p->slots = calloc(nblocks + 1, sizeof *p->slots);
    if (!p || !p->slots) {
        free(p);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "block prefetch");
    }
    p->blocks = blocks;
    p->nblocks = nblocks;
    p->layouts = layouts;
    p->nlayouts = nlayouts;
    p->dict = dict;
    p->budget = budget;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    /* without a thread, every block is decoded when it is asked for */
    p->started = nblocks > 1 && pthread_create(&p->thread, NULL, helper, p) == 0;
    *out = p;
    return TP_OK;
}

/* Free the decoded blocks below b (waiting for any still being decoded). */
static void release_below(prefetcher *p, size_t b)
{
    if (b <= p->used) return;
    p->used = b;
    if (p->next < b) p->next = b; /* skipped blocks are not decoded */
    for (size_t k = 0; k < b; k++) {
        slot *s = &p->slots[k];
        while (s->state == SLOT_BUSY) pthread_cond_wait(&p->cond, &p->lock);
        if (s->state == SLOT_READY) {
            bytes_free(&s->dec);
            s->state = SLOT_EMPTY;
        }
    }
    pthread_cond_broadcast(&p->cond);
}

tp_code prefetch_get(prefetcher *p, tp_ctx *ctx, size_t b, const tree_block_bytes **dec)
{
    *dec = NULL;
    if (b >= p->nblocks) return ctx_fail(ctx, TP_E_INTERNAL, -1, "block %zu of %zu", b, p->nblocks);
    pthread_mutex_lock(&p->lock);
    if (b < p->used || !p->started) {
        /* out of order, or no helper: decode here */
        pthread_mutex_unlock(&p->lock);
        bytes_free(&p->own);
        tp_code rc;
        decode_into(p, b, ctx, &p->own, &rc);
        if (!rc) *dec = &p->own;
        return rc;
    }
    release_below(p, b);
    slot *s = &p->slots[b];
    if (s->state == SLOT_EMPTY && p->next <= b) {
        /* not taken yet (the helper is behind): take it here */
        p->next = b + 1;
        decode_slot(p, b);
    }
    while (s->state != SLOT_READY) {
        /* The helper is decoding block b: rather than wait, decode one
         * it has not taken (two cores, two decoders).  Only within the
         * window, which bounds the memory held by decoded blocks. */
        if (p->next < p->nblocks && p->next < p->used + AHEAD) decode_slot(p, p->next++);
        else pthread_cond_wait(&p->cond, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    if (s->rc) {
        *ctx = s->ctx; /* the helper's message, offset and code */
        return s->rc;
    }
    *dec = &s->dec;
    return TP_OK;
}

void prefetch_close(prefetcher *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started) pthread_join(p->thread, NULL);
    for (size_t k = 0; k < p->nblocks; k++)
        if (p->slots[k].state == SLOT_READY) bytes_free(&p->slots[k].dec);
    bytes_free(&p->own);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->slots);
    free(p);
}
