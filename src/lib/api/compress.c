/*
 * compress.c - pickle -> container.
 *
 * 1. scan: interpret the pickle, find the trees and their payloads;
 * 2. blocks: trees are grouped in blocks of a few MB, each block encoded
 *    column by column (in worker threads when asked) and decoded again at
 *    once: a tree that does not come back byte for byte is an internal
 *    error, never a wrong file;
 * 3. skeleton: every byte outside the payloads, compressed with zstd;
 * 4. the container is written as it is made, never held: header,
 *    layouts, tables and splices first (the scan gives them), each block
 *    as soon as it and those before it are done, then the skeleton in
 *    sections of at most SKELETON_SECTION_RAW bytes, the small sections
 *    and the end.  A reader finds the sections by kind, in any order.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "format/container.h"
#include "api/check.h"
#include "sklearn/locate.h"
#include "api/lossy.h"
#include "format/splice.h"
#include "codec/records_section.h"
#include "codec/tree_codec.h"
#include "codec/vocab_section.h"
#include "format/wrap.h"
#include "base/lzma2.h"
#include "base/zstd_ctx.h"
#include "base/skeleton_dict.h"

/* Blocks are cut at about this many payload bytes: big enough for zstd
 * to find its statistics, small enough to spread over threads and keep
 * memory bounded. */
/* Trees are grouped into blocks of about this much pickle, each coded on
 * its own (and in parallel with -T).  The first blocks are smaller:
 * expand cannot write a byte of trees before the first block is decoded,
 * and decodes the next ones while it writes, so a short first block
 * starts that pipeline sooner (about 25% off expanding a 20 MB forest)
 * at little cost in size, the later ones being full. */
#define BLOCK_TARGET_BYTES ((uint64_t)8 << 20)
#define BLOCK_FIRST_BYTES ((uint64_t)1 << 20)

/* ---- one tree ------------------------------------------------------------ */

static tp_code load_tree(tp_ctx *ctx, const uint8_t *in, const found_tree *f, size_t index, sktree *t)
{
    const uint8_t *nodes = NULL, *values = NULL;
    uint8_t *own_n = NULL, *own_v = NULL;
    tp_code rc = npy_array_bytes(ctx, in, &f->nodes, &nodes, &own_n);
    if (!rc) rc = npy_array_bytes(ctx, in, &f->values, &values, &own_v);
    if (!rc && !tree_alloc(t, f->nodes.shape[0], (uint32_t)f->values.shape[1], (uint32_t)f->values.shape[2],
                              f->layout.rest_size))
        rc = ctx_fail(ctx, TP_E_NOMEM, (int64_t)f->offset, "a tree of %llu nodes",
                     (unsigned long long)f->nodes.shape[0]);
    if (!rc) {
        t->values_big = f->values.dtype.base.big;
        t->values_fortran = f->values.fortran;
        tree_from_bytes(t, &f->layout, nodes, values);
        char why[200];
        if (!tree_validate(t, f->n_features, why, sizeof why))
            rc = ctx_fail(ctx, TP_E_TREE, (int64_t)f->offset, "tree %zu: %s", index, why);
    }
    free(own_n);
    free(own_v);
    return rc;
}

/* ---- blocks ---------------------------------------------------------------- */

typedef struct block_job {
    size_t first, count;       /* trees [first, first + count) */
    uint64_t nodes;
    uint64_t part_raw[TP_PART_COUNT];
    bytebuf out;                /* the encoded block, until it is written */
    uint64_t part_stored[TP_PART_COUNT];
    bool done;                 /* encoded (out is complete) */
    tp_ctx ctx;                /* this job's error */
} block_job;

typedef struct compress_state {
    const uint8_t *in;
    const scan_result *scan;
    const uint32_t *tree_layout;
    const node_layout *layouts;
    size_t nlayouts;
    const forest_dict *dict;
    int level;
    block_job *jobs;
    size_t njobs;
    size_t next;               /* next job to take */
    size_t next_write;         /* next job to write: blocks go out in order */
    size_t ahead;              /* how far past next_write a job may be taken */
    pthread_mutex_t lock;
    pthread_cond_t written;    /* next_write moved */
    tpk_writer *w;             /* the container being written */
    tp_ctx write_ctx;          /* a failed write's error */
    tp_report *rep;            /* parts and nodes of the blocks written */
    uint64_t *nsec;
    bool failed;               /* a job or a write failed: stop */
    bool verify;               /* decode each block again (verify_block) */
    const tp_options *opt;
    uint64_t done_bytes, total_bytes;
} compress_state;

/* Decode the block again and compare every payload byte with the input. */
static tp_code verify_block(tp_ctx *ctx, compress_state *st, block_job *job)
{
    tree_block_out dec;
    uint64_t budget = UINT64_MAX;
    tp_code rc = tree_block_decode(ctx, job->out.data, job->out.len, st->layouts, st->nlayouts, st->dict, &budget, &dec);
    if (rc) {
        char cause[sizeof ctx->msg];
        snprintf(cause, sizeof cause, "%s", ctx->msg);
        ctx_reset(ctx);
        return ctx_fail(ctx, TP_E_INTERNAL, -1, "a block did not decode (%s); please report this", cause);
    }
    for (size_t i = 0; i < dec.k && !rc; i++) {
        const found_tree *f = &st->scan->trees[job->first + i];
        uint8_t *nb = malloc(f->nodes.nbytes ? (size_t)f->nodes.nbytes : 1);
        uint8_t *vb = malloc(f->values.nbytes ? (size_t)f->values.nbytes : 1);
        const uint8_t *on, *ov;
        uint8_t *own_n = NULL, *own_v = NULL;
        if (!nb || !vb) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "verification buffers");
        if (!rc) rc = npy_array_bytes(ctx, st->in, &f->nodes, &on, &own_n);
        if (!rc) rc = npy_array_bytes(ctx, st->in, &f->values, &ov, &own_v);
        if (!rc) {
            tree_to_bytes(&dec.trees[i], &st->layouts[dec.layout[i]], nb, vb);
            if (memcmp(nb, on, (size_t)f->nodes.nbytes) || memcmp(vb, ov, (size_t)f->values.nbytes))
                rc = ctx_fail(ctx, TP_E_INTERNAL, (int64_t)f->offset,
                             "tree %zu does not survive its own round trip; please report this", job->first + i);
        }
        free(nb), free(vb), free(own_n), free(own_v);
    }
    tree_block_out_free(&dec);
    return rc;
}

static tp_code run_block(compress_state *st, block_job *job)
{
    tp_ctx *ctx = &job->ctx;
    sktree *trees = calloc(job->count, sizeof *trees);
    tree_block_in *ins = calloc(job->count, sizeof *ins);
    tp_code rc = trees && ins ? TP_OK : ctx_fail(ctx, TP_E_NOMEM, -1, "block");
    size_t loaded = 0;
    for (; loaded < job->count && !rc; loaded++) {
        size_t ti = job->first + loaded;
        rc = load_tree(ctx, st->in, &st->scan->trees[ti], ti, &trees[loaded]);
        ins[loaded].tree = &trees[loaded];
        ins[loaded].layout = st->tree_layout[ti];
        ins[loaded].rest_size = st->layouts[st->tree_layout[ti]].rest_size;
        ins[loaded].n_features = st->scan->trees[ti].n_features;
    }
    if (!rc) rc = tree_block_encode(ctx, ins, job->count, st->dict, st->level, true, &job->out, job->part_stored);
    for (size_t i = 0; i < loaded; i++) tree_free(&trees[i]);
    free(trees);
    free(ins);
    if (!rc && st->verify) rc = verify_block(ctx, st, job);
    return rc;
}

/* A block section: where it starts, its nodes, its raw parts, the block. */
static tp_code write_block(tpk_writer *w, const block_job *job, bytebuf *tmp)
{
    tmp->len = 0;
    bytebuf_varint(tmp, job->first);
    bytebuf_varint(tmp, job->nodes);
    bytebuf_varint(tmp, TP_PART_COUNT);
    for (int p = 0; p < TP_PART_COUNT; p++) bytebuf_varint(tmp, job->part_raw[p]);
    bytebuf_append(tmp, job->out.data, job->out.len);
    if (tmp->failed) return ctx_fail(w->ctx, TP_E_NOMEM, -1, "block buffer");
    return tpk_write_section(w, SEC_TREES, SEC_REQUIRED, CODEC_STORED, tmp->data, tmp->len, tmp->len);
}

/* Under the lock: write every finished block that is next in order, and
 * free it.  The sink sees one writer at a time. */
static void write_ready(compress_state *st)
{
    bytebuf tmp = {0};
    while (!st->failed && st->next_write < st->njobs && st->jobs[st->next_write].done) {
        block_job *job = &st->jobs[st->next_write];
        if (write_block(st->w, job, &tmp)) {
            st->failed = true;
            break;
        }
        (*st->nsec)++;
        for (int p = 0; p < TP_PART_COUNT; p++) {
            st->rep->part_stored[p] += job->part_stored[p];
            st->rep->part_raw[p] += job->part_raw[p];
        }
        st->rep->nodes += job->nodes;
        bytebuf_free(&job->out);
        st->next_write++;
        pthread_cond_broadcast(&st->written);
    }
    bytebuf_free(&tmp);
}

static void *worker(void *arg)
{
    compress_state *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        /* not too far ahead of the writer: finished blocks wait in memory */
        while (!st->failed && st->next < st->njobs && st->next >= st->next_write + st->ahead)
            pthread_cond_wait(&st->written, &st->lock);
        if (st->failed || st->next >= st->njobs) break;
        block_job *job = &st->jobs[st->next++];
        pthread_mutex_unlock(&st->lock);
        tp_code rc = run_block(st, job);
        pthread_mutex_lock(&st->lock);
        if (rc) {
            st->failed = true; /* stop handing out work */
            pthread_cond_broadcast(&st->written);
            break;
        }
        job->done = true;
        write_ready(st);
        for (size_t i = 0; i < job->count; i++) {
            const found_tree *f = &st->scan->trees[job->first + i];
            st->done_bytes += f->nodes.data_len + f->values.data_len;
        }
        if (st->opt->progress) st->opt->progress(st->opt->progress_opaque, st->done_bytes, st->total_bytes);
    }
    pthread_cond_broadcast(&st->written);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static tp_code run_blocks(tp_ctx *ctx, compress_state *st, int threads)
{
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->written, NULL);
    int nthreads = threads > 1 ? threads : 1;
    if ((size_t)nthreads > st->njobs) nthreads = st->njobs ? (int)st->njobs : 1;
    st->ahead = 2 * (size_t)nthreads + 1;
    ctx_reset(&st->write_ctx);
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    int started = 0;
    if (tids && nthreads > 1)
        for (; started < nthreads; started++)
            if (pthread_create(&tids[started], NULL, worker, st)) break;
    if (started == 0) worker(st); /* no threads: do it here */
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
    pthread_cond_destroy(&st->written);
    pthread_mutex_destroy(&st->lock);
    for (size_t j = 0; j < st->njobs; j++)
        if (st->jobs[j].ctx.code) {
            *ctx = st->jobs[j].ctx;
            return ctx->code;
        }
    if (ctx->code) return ctx->code; /* a write failed (st->w reports to ctx) */
    if (st->next_write != st->njobs) return ctx_fail(ctx, TP_E_INTERNAL, -1, "a block was not written");
    return TP_OK;
}

/* ---- forest-wide tables -------------------------------------------------- */

/* The shared tables are built from the first trees (up to this many
 * payload bytes): that is where it shows whether values repeat, and a
 * second pass over every tree of a large forest would cost memory and
 * serial time.  Values of later trees that the tables lack are escaped. */
#define DICT_SAMPLE_BYTES ((uint64_t)32 << 20)

static tp_code build_dict(tp_ctx *ctx, const uint8_t *in, const scan_result *scan, forest_dict *dict)
{
    forest_dict_builder b;
    memset(&b, 0, sizeof b);
    uint64_t sampled = 0;
    for (size_t i = 0; i < scan->ntrees && sampled < DICT_SAMPLE_BYTES; i++) {
        sktree t;
        memset(&t, 0, sizeof t);
        tp_code rc = load_tree(ctx, in, &scan->trees[i], i, &t);
        if (rc) {
            tree_free(&t);
            forest_dict_builder_free(&b);
            return rc;
        }
        forest_dict_builder_add(&b, &t);
        tree_free(&t);
        sampled += scan->trees[i].nodes.nbytes + scan->trees[i].values.nbytes;
    }
    if (!forest_dict_builder_finish(&b, dict)) return ctx_fail(ctx, TP_E_NOMEM, -1, "forest tables");
    return TP_OK;
}

/* ---- layouts ----------------------------------------------------------- */

static tp_code collect_layouts(tp_ctx *ctx, const scan_result *scan, node_layout **layouts, size_t *n,
                               uint32_t **tree_layout)
{
    *layouts = NULL;
    *n = 0;
    *tree_layout = calloc(scan->ntrees + 1, sizeof **tree_layout);
    if (!*tree_layout) return ctx_fail(ctx, TP_E_NOMEM, -1, "layout table");
    for (size_t i = 0; i < scan->ntrees; i++) {
        const node_layout *l = &scan->trees[i].layout;
        size_t k = 0;
        while (k < *n && memcmp(&(*layouts)[k], l, sizeof *l) != 0) k++;
        if (k == *n) {
            node_layout *p = realloc(*layouts, (*n + 1) * sizeof *p);
            if (!p) return ctx_fail(ctx, TP_E_NOMEM, -1, "layout table");
            *layouts = p;
            p[(*n)++] = *l;
        }
        (*tree_layout)[i] = (uint32_t)k;
    }
    return TP_OK;
}

/* ---- skeleton and splices ------------------------------------------------ */

/* The memo index after the PUT-family opcode at `at`, read as the
 * unpickler reads it; false when the bytes are not of that form. */
static bool memo_index_at(const uint8_t *in, size_t len, uint64_t at, uint64_t *idx)
{
    size_t left = len - (size_t)at - 1; /* after the opcode */
    const uint8_t *p = in + at + 1;
    switch (in[at]) {
    case OP_BINPUT:
        if (left < 1) return false;
        *idx = p[0];
        return true;
    case OP_LONG_BINPUT:
        if (left < 4) return false;
        *idx = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        return true;
    case OP_PUT: {
        uint64_t v = 0;
        size_t k = 0;
        for (; k < left && k < 20 && p[k] >= '0' && p[k] <= '9'; k++) {
            if (v > (UINT64_MAX - 9) / 10) return false;
            v = v * 10 + (uint64_t)(p[k] - '0');
        }
        *idx = v;
        return k > 0 && k < left && p[k] == '\n';
    }
    default: return false;
    }
}

/* SPLICE_MEMO entries (splice.h) for the PUT opcodes the scan logged:
 * those whose argument is in the form splice_memo_arg writes, with indices
 * rising, clear of every payload (pay: sorted, absolute offsets in gap).
 * Absolute offsets in gap too. */
static size_t memo_splices(const uint8_t *in, size_t len, const scan_result *scan, const splice_entry *pay,
                           size_t npay, splice_entry *out)
{
    size_t k = 0, j = 0;
    uint64_t next = 0; /* the lowest index that may come next */
    for (size_t i = 0; i < scan->nputs; i++) {
        uint64_t at = scan->puts[i], idx;
        uint8_t arg[SPLICE_MEMO_ARG_MAX];
        if (at >= len || !memo_index_at(in, len, at, &idx) || idx < next || idx == UINT64_MAX) continue;
        size_t n = splice_memo_arg(in[at], idx, arg);
        if (!n || n > len - at - 1 || memcmp(in + at + 1, arg, n) != 0) continue;
        while (j < npay && pay[j].gap + pay[j].stream_len <= at) j++;
        if (j < npay && pay[j].gap < at + 1 + n) continue; /* inside a payload (a vocabulary's opcodes) */
        out[k++] = (splice_entry){.gap = at + 1, .tree = idx, .which = SPLICE_MEMO, .payload = in[at], .stream_len = n};
        next = idx + 1;
    }
    return k;
}

static tp_code build_splices(tp_ctx *ctx, const uint8_t *in, size_t in_len, const scan_result *scan,
                             splice_entry **out, size_t *n)
{
    const size_t npay = 2 * scan->ntrees + scan->nrecords + scan->nvocabs;
    splice_entry *s = calloc(npay + 1, sizeof *s);
    splice_entry *m = calloc(scan->nputs + 1, sizeof *m);
    splice_entry *all = calloc(npay + scan->nputs + 1, sizeof *all);
    if (!s || !m || !all) {
        free(s), free(m), free(all);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "splice table");
    }
    size_t k = 0;
    for (size_t i = 0; i < scan->ntrees; i++) {
        const npy_array *arr[2] = {&scan->trees[i].nodes, &scan->trees[i].values};
        for (int w = 0; w < 2; w++) {
            s[k].tree = i;
            s[k].which = (uint8_t)w;
            s[k].payload = arr[w]->payload;
            s[k].stream_len = arr[w]->data_len;
            s[k].gap = arr[w]->data_off; /* absolute for now */
            k++;
        }
    }
    for (size_t i = 0; i < scan->nrecords; i++) {
        const npy_array *a = &scan->records[i].arr;
        s[k++] = (splice_entry){.gap = a->data_off, .tree = i, .which = SPLICE_RECORDS, .payload = a->payload,
                             .stream_len = a->data_len};
    }
    for (size_t i = 0; i < scan->nvocabs; i++)
        s[k++] = (splice_entry){.gap = scan->vocabs[i].offset, .tree = i, .which = SPLICE_VOCAB, .payload = PAY_RAW,
                             .stream_len = scan->vocabs[i].v.stream_len};
    /* stream order (the payloads of a tree may come in either order) */
    for (size_t i = 1; i < k; i++) {
        splice_entry x = s[i];
        size_t j = i;
        while (j > 0 && s[j - 1].gap > x.gap) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = x;
    }
    /* the memo indices between them, in stream order too */
    size_t nm = memo_splices(in, in_len, scan, s, k, m), a = 0;
    for (size_t i = 0, j = 0; i < k || j < nm;) all[a++] = j == nm || (i < k && s[i].gap < m[j].gap) ? s[i++] : m[j++];
    free(s), free(m);
    uint64_t end = 0;
    for (size_t i = 0; i < a; i++) {
        uint64_t at = all[i].gap;
        all[i].gap = at - end;
        end = at + all[i].stream_len;
    }
    *out = all;
    *n = a;
    return TP_OK;
}

/* A skeleton larger than this is written as several sections, each an
 * independent zstd frame of this many raw bytes (the last one less), so
 * that neither its raw nor its compressed form is ever held whole.  One
 * section keeps the format that readers before 0.2 know; they refuse a
 * file with several.  32 MiB is four times the window of level 9, where
 * a cut costs almost nothing. */
#define SKELETON_SECTION_RAW ((uint64_t)32 << 20)

/* Skeleton sections up to this size are also tried against the built-in
 * dictionary (CODEC_ZSTD_DICT): it holds the names of a few kB of
 * skeleton, which a large one amortises by itself. */
#define SKELETON_DICT_MAX ((uint64_t)1 << 20)
/* Up to this size only against it: without it no published model file's
 * skeleton came out smaller, and the second level-19 pass was a third of
 * the time of compressing a small file (rf_small_p0: 135 -> 69 ms). */
#define SKELETON_DICT_ONLY_MAX ((uint64_t)256 << 10)

/* Skeleton sections up to this size are compressed at level 19 when the
 * level asked for is the default or more: small files are mostly
 * skeleton, which loses 4-9% at level 9 against 19 (wild model files of
 * 2 kB to 230 kB), and 256 KiB at level 19 takes a tenth of a second at
 * worst. */
#define SKELETON_STRONG_MAX ((uint64_t)256 << 10)
#define SKELETON_STRONG_LEVEL 19

static int skeleton_level(int level, uint64_t sec_raw)
{
    return level >= TP_LEVEL_DEFAULT && sec_raw <= SKELETON_STRONG_MAX ? MAX_OF(level, SKELETON_STRONG_LEVEL) : level;
}

/* One zstd frame of src made with the skeleton dictionary, into *out. */
static tp_code zstd_with_dict(tp_ctx *ctx, ZSTD_CCtx *cc, const uint8_t *src, size_t n, int level, bytebuf *out)
{
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    out->len = 0;
    size_t cap = ZSTD_compressBound(n);
    if (!bytebuf_reserve(out, cap)) return ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton buffer");
    size_t r = ZSTD_CCtx_loadDictionary(cc, skeleton_dict, skeleton_dict_size);
    if (!ZSTD_isError(r)) r = ZSTD_compress2(cc, out->data, cap, src, n);
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters); /* the dictionary goes too */
    if (ZSTD_isError(r)) return ctx_fail(ctx, TP_E_ZSTD, -1, "%s", ZSTD_getErrorName(r));
    out->len = r;
    return TP_OK;
}

/* Memo indices out of the skeleton do not always make it smaller: the
 * skeleton dictionary already holds much of a small file's index digits,
 * zstd finds less in a skeleton whose records no longer have one length,
 * and the memo table costs about a byte an index.  So a skeleton of at
 * most this size is compressed both ways, fast, against the dictionary
 * (without it the trial misjudged small files), and the indices leave it
 * only where that is smaller with their table.  On the published files
 * the fastest level chose as level 19 did. */
#define MEMO_TRIAL_MAX ((uint64_t)8 << 20)
#define MEMO_TRIAL_LEVEL 1

/* The skeleton's bytes, with the memo indices in them or not. */
static void gather_skeleton(const uint8_t *in, size_t in_len, const splice_entry *s, size_t n, bool with_memo,
                            bytebuf *out)
{
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        bytebuf_append(out, in + pos, (size_t)s[i].gap);
        pos += s[i].gap;
        if (with_memo && s[i].which == SPLICE_MEMO) bytebuf_append(out, in + pos, (size_t)s[i].stream_len);
        pos += s[i].stream_len;
    }
    bytebuf_append(out, in + pos, in_len - (size_t)pos);
}

/* Drop the SPLICE_MEMO entries unless leaving their bytes out makes the
 * skeleton and the memo table smaller than the skeleton with them. */
static tp_code settle_memo(tp_ctx *ctx, const uint8_t *in, size_t in_len, splice_entry *s, size_t *n, int level)
{
    uint64_t nmemo = 0, payload = 0;
    for (size_t i = 0; i < *n; i++)
        if (s[i].which == SPLICE_MEMO) nmemo++;
        else payload += s[i].stream_len;
    const uint64_t with = in_len - payload; /* skeleton bytes with the indices in it */
    if (!nmemo || with > MEMO_TRIAL_MAX) return TP_OK;
    bytebuf raw = {0}, za = {0}, zb = {0}, tab = {0}, memo = {0}, zm = {0};
    ZSTD_CCtx *own;
    ZSTD_CCtx *cc = zstd_thread_cctx((size_t)with, &own);
    tp_code rc = cc ? TP_OK : ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    for (int w = 0; w < 2 && !rc; w++) {
        raw.len = 0;
        gather_skeleton(in, in_len, s, *n, w == 0, &raw);
        rc = raw.failed ? ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton buffer")
                        : zstd_with_dict(ctx, cc, raw.data, raw.len, MEMO_TRIAL_LEVEL, w == 0 ? &za : &zb);
    }
    splices_write(s, *n, &tab, &memo);
    if (!rc && (tab.failed || memo.failed)) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "splice table");
    if (!rc) rc = zstd_compress_into(ctx, memo.data, memo.len, column_level(COL_META, level), &zm);
    /* and the memo section's header, a few bytes */
    if (!rc && zb.len + MIN_OF(zm.len, memo.len) + 8 >= za.len) { /* the indices go back into the skeleton */
        size_t k = 0;
        uint64_t carry = 0;
        for (size_t i = 0; i < *n; i++) {
            if (s[i].which == SPLICE_MEMO) {
                carry += s[i].gap + s[i].stream_len;
                continue;
            }
            s[k] = s[i];
            s[k++].gap += carry;
            carry = 0;
        }
        *n = k;
    }
    bytebuf_free(&raw), bytebuf_free(&za), bytebuf_free(&zb), bytebuf_free(&tab), bytebuf_free(&memo);
    bytebuf_free(&zm);
    ZSTD_freeCCtx(own);
    return rc;
}

/* Compress the input without its payloads, piece by piece, and write it
 * as skeleton sections. */
static tp_code write_skeleton(tp_ctx *ctx, tpk_writer *w, const uint8_t *in, size_t len, const splice_entry *s, size_t n,
                              int level, uint64_t *lzma_budget, uint64_t *nsec, uint64_t *raw_len,
                              uint64_t *stored_len)
{
    uint64_t left = len; /* skeleton bytes not yet compressed */
    for (size_t i = 0; i < n; i++) left -= s[i].stream_len;
    *raw_len = left;
    *stored_len = 0;
    ZSTD_CCtx *own;
    ZSTD_CCtx *cc = zstd_thread_cctx((size_t)MIN_OF(left, SKELETON_SECTION_RAW), &own);
    if (!cc) return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    bytebuf out = {0}, raw = {0}, lz = {0}, dz = {0};
    tp_code rc = TP_OK;
    uint64_t pos = 0;                        /* in the input */
    size_t i = 0;                            /* next splice */
    uint64_t piece_left = n ? s[0].gap : len; /* skeleton bytes before splice i */
    do { /* a section, one zstd frame (an empty skeleton is one empty section) */
        uint64_t sec_raw = MIN_OF(left, SKELETON_SECTION_RAW), sec_left = sec_raw;
        const int sec_level = skeleton_level(level, sec_raw);
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, sec_level);
        ZSTD_CCtx_setPledgedSrcSize(cc, sec_raw);
        out.len = 0;
        /* small skeletons (boosting models, small files) may be smaller in
         * LZMA2: keep this section's bytes for a trial */
        raw.len = 0;
        bool lz_trial = level >= 5 && sec_raw <= TPK_LZMA2_MAX_RAW && lzma2_budget_take(lzma_budget, sec_raw);
        /* and small ones against the built-in dictionary of names */
        bool dict_trial = sec_raw <= SKELETON_DICT_MAX;
        bool trial = lz_trial || dict_trial;
        /* a small one only against it (see SKELETON_DICT_ONLY_MAX) */
        const bool dict_only = dict_trial && sec_raw <= SKELETON_DICT_ONLY_MAX;
        bool last;
        do {
            while (!piece_left && i < n) { /* step over the payload of splice i */
                pos += s[i].stream_len;
                i++;
                piece_left = i < n ? s[i].gap : len - pos;
            }
            uint64_t take = MIN_OF(piece_left, sec_left);
            last = take == sec_left;
            ZSTD_inBuffer ib = {in + pos, (size_t)take, 0};
            if (trial) bytebuf_append(&raw, in + pos, (size_t)take);
            for (; !dict_only;) {
                if (!bytebuf_reserve(&out, ZSTD_CStreamOutSize())) {
                    rc = ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton buffer");
                    break;
                }
                ZSTD_outBuffer ob = {out.data + out.len, out.cap - out.len, 0};
                size_t r = ZSTD_compressStream2(cc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
                out.len += ob.pos;
                if (ZSTD_isError(r)) {
                    rc = ctx_fail(ctx, TP_E_ZSTD, -1, "%s", ZSTD_getErrorName(r));
                    break;
                }
                if (last ? r == 0 : ib.pos == ib.size) break;
            }
            pos += take;
            piece_left -= take;
            sec_left -= take;
            left -= take;
        } while (!rc && !last);
        const bytebuf *best = &out;
        uint8_t codec = CODEC_ZSTD;
        if (!rc && trial && raw.failed) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton buffer");
        if (!rc && dict_trial && (rc = zstd_with_dict(ctx, cc, raw.data, raw.len, sec_level, &dz)) == TP_OK &&
            (dict_only || dz.len < best->len))
            best = &dz, codec = CODEC_ZSTD_DICT;
        if (!rc && lz_trial) {
            lz.len = 0;
            /* worth its slower decoding only when it saves something */
            if (lzma2_encode(raw.data, raw.len, 3, 0, 0, &lz) && !lz.failed && lz.len + lz.len / 32 < best->len)
                best = &lz, codec = CODEC_LZMA2;
        }
        if (!rc) rc = tpk_write_section(w, SEC_SKELETON, SEC_REQUIRED, codec, best->data, best->len, sec_raw);
        (*nsec)++;
        *stored_len += best->len;
    } while (!rc && left);
    bytebuf_free(&out);
    bytebuf_free(&raw);
    bytebuf_free(&lz);
    bytebuf_free(&dz);
    ZSTD_freeCCtx(own);
    return rc;
}

/* ---- the whole thing --------------------------------------------------- */

/* Bytes a tree takes in the original, by part. */
static void add_raw_parts(const found_tree *f, uint64_t *part_raw)
{
    uint64_t n = f->nodes.shape[0];
    const node_layout *l = &f->layout;
    static const int part_of[NF_COUNT] = {TP_PART_TOPOLOGY,  TP_PART_TOPOLOGY, TP_PART_FEATURES, TP_PART_THRESHOLDS,
                                          TP_PART_IMPURITY, TP_PART_COUNTS,   TP_PART_COUNTS};
    for (int k = 0; k < NF_COUNT; k++)
        if (l->f[k].present) part_raw[part_of[k]] += n * l->f[k].size;
    part_raw[TP_PART_OTHER] += n * l->rest_size;
    part_raw[TP_PART_VALUES] += f->values.nbytes;
    /* protocol 2's UTF-8 inflation counts as "other" */
    part_raw[TP_PART_OTHER] += (f->nodes.data_len - f->nodes.nbytes) + (f->values.data_len - f->values.nbytes);
}

static void plan_blocks(const scan_result *scan, block_job **jobs, size_t *njobs)
{
    *jobs = NULL;
    *njobs = 0;
    if (!scan->ntrees) return;
    block_job *j = calloc(scan->ntrees, sizeof *j);
    if (!j) return;
    size_t n = 0;
    uint64_t acc = 0, target = BLOCK_FIRST_BYTES;
    for (size_t i = 0; i < scan->ntrees; i++) {
        if (n == 0 || acc >= target) {
            if (n) target = MIN_OF(2 * target, BLOCK_TARGET_BYTES); /* 1, 2, 4, 8, 8 ... MB */
            j[n].first = i;
            ctx_reset(&j[n].ctx);
            n++;
            acc = 0;
        }
        j[n - 1].count++;
        j[n - 1].nodes += scan->trees[i].nodes.shape[0];
        add_raw_parts(&scan->trees[i], j[n - 1].part_raw);
        acc += scan->trees[i].nodes.nbytes + scan->trees[i].values.nbytes;
    }
    *jobs = j;
    *njobs = n;
}

static tp_code compress_impl(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt_in,
                             unsigned policy, tp_sink *out, tp_report *report);

static int buf_sink(void *opaque, const void *data, size_t len)
{
    bytebuf *b = opaque;
    bytebuf_append(b, data, len);
    return b->failed ? -1 : 0;
}

/* A file whose stream is at most this large is also compressed with every
 * payload left in the skeleton, and the smaller container is kept: for a
 * small file the names cost more than the trees, and a tree of a few
 * nodes costs more as columns (their framing) than as bytes among the
 * names.  Twice the work, on at most 256 KiB. */
#define WHOLE_TRIAL_MAX ((uint64_t)256 << 10) /* the second pass costs what xz would: keep it small */
#define POL_WHOLE 0x100u /* compress_impl: recognise nothing (not a lossy policy) */

static tp_code compress_full(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt_in, tp_sink *out,
                             tp_report *report)
{
    unsigned strip = opt_in ? opt_in->strip : 0;
    bool whole_trial = in_len <= WHOLE_TRIAL_MAX && !(opt_in && opt_in->columns);
    if (!(strip & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES)) && !whole_trial)
        return compress_impl(ctx, in, in_len, opt_in, 0, out, report);
    /* stripped tree fields: the smallest of the ways to rewrite them */
    unsigned pols[5], np = 0;
    for (unsigned imp = 0; imp < 2; imp++)
        for (unsigned w = 0; w < 2; w++) {
            if ((imp && !(strip & TP_STRIP_IMPURITY)) || (w && !(strip & TP_STRIP_SAMPLES))) continue;
            pols[np++] = (imp ? POL_KEEP_IMPURITY : 0) | (w ? POL_KEEP_WEIGHTED : 0);
        }
    if (whole_trial) pols[np++] = POL_WHOLE;
    bytebuf best = {0}, cur = {0};
    tp_report best_rep, rep;
    tp_code rc = TP_OK;
    for (unsigned i = 0; i < np && !rc; i++) {
        /* the stream inside a compressed joblib file may be far larger */
        if (pols[i] == POL_WHOLE && best.data &&
            (best_rep.stream_size > WHOLE_TRIAL_MAX ||
             best_rep.trees + best_rep.predictors + best_rep.vocabularies + best_rep.arrays_columnar == 0))
            break; /* nothing was taken out of the skeleton: the same file again */
        cur.len = 0;
        tp_sink s = {.write = buf_sink, .opaque = &cur};
        tp_report_init(&rep);
        rc = compress_impl(ctx, in, in_len, opt_in, pols[i], &s, &rep);
        rep.whole = pols[i] == POL_WHOLE;
        if (!rc && (!best.data || cur.len < best.len)) {
            bytebuf t = best;
            best = cur;
            cur = t;
            best_rep = rep;
        }
    }
    if (!rc) {
        tpk_writer w = {ctx, out, 0, 0, 0};
        rc = tpk_write(&w, best.data, best.len);
        if (!rc && report) *report = best_rep;
    }
    bytebuf_free(&best);
    bytebuf_free(&cur);
    return rc;
}

/* POL_WHOLE: everything the scan found stays in the skeleton, and the
 * inventory says why. */
static void leave_all_in_skeleton(scan_result *scan)
{
    model_inventory *inv = &scan->inv;
    uint64_t trees = scan->ntrees, predictors = inv->predictors;
    inv->trees_verbatim += trees;
    inv->predictors_verbatim += predictors;
    inv->arrays_verbatim += inv->arrays_columnar;
    inv->predictors = inv->arrays_columnar = 0;
    scan->nverbatim += trees;
    scan->ntrees = scan->nrecords = 0;
    found_vocabs_free(scan->vocabs, scan->nvocabs);
    scan->vocabs = NULL;
    scan->nvocabs = 0;
    inv->note[0] = 0; /* the inventory words it from the counts */
    inv->whole = true;
    inv->noted = inv->unnoted = 0;
}

/* What compress works on: the stream inside a compressed joblib file, the
 * rewritten pickle of a lossy mode, and the scan of it.  The verdict is
 * given on the stream as the user handed it, before anything is rewritten. */
typedef struct compress_input {
    const uint8_t *in;
    size_t in_len;
    wrap_info wrap;
    bytebuf lossy;
    lossy_info linfo;
    bool lossy_changed;
    scan_result scan;
} compress_input;

static void compress_input_free(compress_input *ci)
{
    scan_free(&ci->scan);
    wrap_free(&ci->wrap);
    bytebuf_free(&ci->lossy);
}

static tp_code open_input(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, unsigned policy,
                          compress_input *ci)
{
    memset(ci, 0, sizeof *ci);
    /* A compressed joblib file: everything below works on the
     * decompressed stream, and the wrapper section says how to get back. */
    tp_code rc = wrap_open(ctx, in, in_len, &opt->limits, &ci->wrap);
    if (!rc) rc = wrap_safe(ctx, &ci->wrap, in, in_len, opt);
    if (rc) return rc;
    if (ci->wrap.method) {
        in = ci->wrap.stream.data;
        in_len = ci->wrap.stream.len;
    }
    ci->in = in;
    ci->in_len = in_len;
    /* refuse unsafe imports first, judged on the stream as given */
    if ((rc = scan_safe(ctx, in, in_len, opt, &ci->scan))) goto fail;
    if (!opt->exact && !opt->strip) return TP_OK;

    /* the lossy modes compress a rewritten pickle exactly */
    scan_free(&ci->scan);
    memset(&ci->scan, 0, sizeof ci->scan);
    if (opt->exact < TP_EXACT_BYTE || opt->exact > TP_EXACT_MODEL || (opt->strip & ~(TP_STRIP_ALL | TP_STRIP_WHERE_SAFE)))
        return ctx_fail(ctx, TP_E_USAGE, -1, "unknown exactness %d or strip bits %#x", opt->exact, opt->strip);
    rc = lossy_transform(ctx, in, in_len, &opt->limits, opt->exact, opt->strip, policy, &ci->lossy, &ci->linfo,
                            &ci->lossy_changed);
    if (rc) goto fail;
    if (ci->lossy_changed) {
        ci->in = ci->lossy.data;
        ci->in_len = ci->lossy.len;
        ci->wrap.exact = 0; /* the stream changed: the file cannot come back */
    }
    /* the rewritten stream was made from a judged one; find its trees */
    if ((rc = scan_run(ctx, ci->in, ci->in_len, &opt->limits, &ci->scan))) goto fail;
    return TP_OK;
fail:
    wrap_annotate(ctx, &ci->wrap);
    return rc;
}

/* The tables the tree blocks, records and vocabularies refer to: node
 * layouts, the forest's shared dictionary, the splice table. */
static tp_code write_tables(tpk_writer *w, const scan_result *scan, const node_layout *layouts, size_t nlayouts,
                            const forest_dict *dict, const splice_entry *splices, size_t nsplices, int level,
                            bytebuf *tmp, uint64_t *nsec, tp_report *rep)
{
    tp_code rc;
    if (!scan->ntrees && !scan->nrecords && !scan->nvocabs) goto splices; /* memo indices at most */
    tmp->len = 0;
    bytebuf_varint(tmp, nlayouts);
    for (size_t i = 0; i < nlayouts; i++) node_layout_write(&layouts[i], tmp);
    if ((rc = tpk_write_section(w, SEC_LAYOUTS, SEC_REQUIRED, CODEC_STORED, tmp->data, tmp->len, tmp->len)))
        return rc;
    (*nsec)++;
    if (!forest_dict_empty(dict)) {
        tmp->len = 0;
        forest_dict_write(dict, tmp);
        if (tmp->failed) return ctx_fail(w->ctx, TP_E_NOMEM, -1, "dictionary buffer");
        uint64_t before = w->written;
        if ((rc = tpk_write_zstd_section(w, SEC_DICT, tmp->data, tmp->len, column_level(COL_META, level))))
            return rc;
        (*nsec)++;
        forest_dict_attribute(dict, w->written - before - w->last_header_len, rep->part_stored);
    }
splices:
    tmp->len = 0;
    bytebuf memo = {0};
    splices_write(splices, nsplices, tmp, &memo);
    rc = tmp->failed || memo.failed ? ctx_fail(w->ctx, TP_E_NOMEM, -1, "splice table") : TP_OK;
    /* no table when it would be empty (memo indices only) */
    if (!rc && (tmp->len > 1 || scan->ntrees || scan->nrecords || scan->nvocabs)) {
        rc = tpk_write_zstd_section(w, SEC_SPLICES, tmp->data, tmp->len, column_level(COL_META, level));
        (*nsec)++;
    }
    if (!rc && memo.len) {
        rc = tpk_write_zstd_section(w, SEC_MEMO, memo.data, memo.len, column_level(COL_META, level));
        (*nsec)++;
    }
    bytebuf_free(&memo);
    return rc;
}

static tp_code write_vocabs(tpk_writer *w, const scan_result *scan, int level, bytebuf *tmp, uint64_t *nsec,
                            tp_report *rep)
{
    if (!scan->nvocabs) return TP_OK;
    vocabulary **vs = malloc(scan->nvocabs * sizeof *vs);
    if (!vs) return ctx_fail(w->ctx, TP_E_NOMEM, -1, "vocabulary list");
    for (size_t i = 0; i < scan->nvocabs; i++) {
        vs[i] = &scan->vocabs[i].v;
        rep->part_raw[TP_PART_VOCAB] += scan->vocabs[i].v.stream_len;
    }
    tmp->len = 0;
    tp_code rc = vocab_section_write(w->ctx, vs, scan->nvocabs, level, tmp);
    free(vs);
    if (rc) return rc;
    uint64_t before = w->written;
    if ((rc = tpk_write_section(w, SEC_VOCAB, SEC_REQUIRED, CODEC_STORED, tmp->data, tmp->len, tmp->len))) return rc;
    rep->part_stored[TP_PART_VOCAB] += w->written - before;
    rep->vocabularies = scan->nvocabs;
    (*nsec)++;
    return TP_OK;
}

/* After the payloads: what expand needs to undo a lossy rewrite or to
 * compress a joblib stream again, the inventory (for `info`), the end. */
static tp_code write_tail(tpk_writer *w, compress_input *ci, const tpk_header *h, int level, bytebuf *tmp,
                          uint64_t *nsec, tp_report *rep)
{
    tp_code rc;
    if (ci->lossy_changed) {
        tmp->len = 0;
        lossy_write(&ci->linfo, tmp);
        if ((rc = tpk_write_section(w, SEC_LOSSY, SEC_REQUIRED, CODEC_STORED, tmp->data, tmp->len, tmp->len)))
            return rc;
        (*nsec)++;
        lossy_report(&ci->linfo, rep);
    } else {
        rep->source_size = ci->in_len;
        memcpy(rep->source_checksum, h->checksum, 16);
    }
    if (ci->wrap.method) {
        tmp->len = 0;
        wrap_serialize(&ci->wrap, tmp);
        if ((rc = tpk_write_zstd_section(w, SEC_WRAP, tmp->data, tmp->len, level))) return rc;
        (*nsec)++;
    }
    /* optional: for `info` only */
    tmp->len = 0;
    inventory_write(&ci->scan.inv, tmp);
    /* its notes are words: zstd where that is smaller (a small file's
     * notes on the trees it kept as they were were a tenth of it) */
    bytebuf z = {0};
    if (zstd_compress_into(w->ctx, tmp->data, tmp->len, level, &z) == TP_OK && z.len < tmp->len)
        rc = tpk_write_section(w, SEC_INVENTORY, 0, CODEC_ZSTD, z.data, z.len, tmp->len);
    else
        rc = tpk_write_section(w, SEC_INVENTORY, 0, CODEC_STORED, tmp->data, tmp->len, tmp->len);
    bytebuf_free(&z);
    if (rc) return rc;
    (*nsec)++;
    return tpk_write_end(w, *nsec);
}

/* The checksum of a large input, made in a thread of its own while the
 * scan and the tables are made in the caller's: both are one core's work
 * that the container's header waits for (on a 5 GB forest the checksum
 * and its page faults were 1.5 of the 2.4 s before the first block). */
#define SUM_THREAD_FROM ((uint64_t)8 << 20)

typedef struct sum_job {
    const uint8_t *in;
    size_t len;
    uint8_t sum[16];
    pthread_t thread;
    bool started;
} sum_job;

static void *sum_thread(void *arg)
{
    sum_job *j = arg;
    checksum128(j->in, j->len, j->sum);
    return NULL;
}

static void sum_start(sum_job *j, const uint8_t *in, size_t len)
{
    j->in = in;
    j->len = len;
    j->started = pthread_create(&j->thread, NULL, sum_thread, j) == 0;
}

/* Wait for the thread, if one was started. */
static void sum_join(sum_job *j)
{
    if (j->started) pthread_join(j->thread, NULL);
    j->started = false;
}

static tp_code compress_impl(tp_ctx *ctx, const uint8_t *in_file, size_t in_file_len, const tp_options *opt_in,
                             unsigned policy, tp_sink *out, tp_report *report)
{
    ctx_reset(ctx);
    tp_options opt;
    if (opt_in) opt = *opt_in;
    else tp_options_init(&opt);
    if (opt.level == 0) opt.level = TP_LEVEL_DEFAULT;
    if (opt.level < 1 || opt.level > TP_LEVEL_MAX)
        return ctx_fail(ctx, TP_E_USAGE, -1, "level %d is outside 1..%d", opt.level, TP_LEVEL_MAX);

    /* With more than one thread, the checksum of a plain pickle (the
     * input as it is: no lossy rewrite asked for; a compressed joblib file
     * is found by the scan, and then summed again) starts now. */
    sum_job sum = {0};
    bool summed = false; /* sum.sum is the checksum of ci.in */
    if (opt.threads > 1 && !opt.exact && !opt.strip && in_file_len >= SUM_THREAD_FROM && !(policy & POL_WHOLE))
        sum_start(&sum, in_file, in_file_len);
    compress_input ci;
    tp_code rc = open_input(ctx, in_file, in_file_len, &opt, policy, &ci);
    if (rc) {
        sum_join(&sum);
        compress_input_free(&ci);
        return rc;
    }
    if (sum.started && (ci.in != in_file || ci.in_len != in_file_len)) sum_join(&sum); /* not the stream: unused */
    else summed = sum.started;
    const uint8_t *in = ci.in;
    size_t in_len = ci.in_len;
    scan_result *scan = &ci.scan;
    if (policy & POL_WHOLE) leave_all_in_skeleton(scan);

    tp_report rep;
    memset(&rep, 0, sizeof rep);
    node_layout *layouts = NULL;
    uint32_t *tree_layout = NULL;
    size_t nlayouts = 0, nsplices = 0;
    splice_entry *splices = NULL;
    block_job *jobs = NULL;
    size_t njobs = 0;
    bytebuf tmp = {0};
    forest_dict dict;
    memset(&dict, 0, sizeof dict);
    rep.protocol = scan->protocol;
    rep.trees = scan->ntrees;
    rep.trees_verbatim = scan->nverbatim;
    rep.original_size = in_len;

    if ((rc = collect_layouts(ctx, scan, &layouts, &nlayouts, &tree_layout))) goto done;
    if ((rc = build_dict(ctx, in, scan, &dict))) goto done;
    plan_blocks(scan, &jobs, &njobs);
    if (scan->ntrees && !jobs) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "block plan");
        goto done;
    }
    if ((rc = build_splices(ctx, in, in_len, scan, &splices, &nsplices))) goto done;
    if ((rc = settle_memo(ctx, in, in_len, splices, &nsplices, opt.level))) goto done;

    /* write: the header first, which needs the checksum of everything */
    tpk_header h;
    memset(&h, 0, sizeof h);
    h.original_size = in_len;
    if (summed) {
        sum_join(&sum);
        memcpy(h.checksum, sum.sum, 16);
    } else {
        checksum128(in, in_len, h.checksum);
    }
    memcpy(rep.checksum, h.checksum, 16);
    if (opt.name) {
        const char *base = strrchr(opt.name, '/');
        base = base ? base + 1 : opt.name;
        snprintf(h.name, sizeof h.name, "%s", base);
        snprintf(rep.name, sizeof rep.name, "%s", base);
    }
    tpk_writer w = {ctx, out, 0, 0, 0};
    uint64_t nsec = 0;
    if ((rc = tpk_write_header(&w, &h))) goto done;
    if ((rc = write_tables(&w, scan, layouts, nlayouts, &dict, splices, nsplices, opt.level, &tmp, &nsec, &rep)))
        goto done;
    /* the tree blocks, each written as soon as those before it are */
    compress_state st = {.in = in, .scan = scan, .tree_layout = tree_layout, .layouts = layouts,
                         .nlayouts = nlayouts, .dict = &dict, .level = opt.level, .jobs = jobs, .njobs = njobs,
                         .opt = &opt, .w = &w, .rep = &rep, .nsec = &nsec, .verify = !opt.verified_by_caller};
    for (size_t i = 0; i < scan->ntrees; i++)
        st.total_bytes += scan->trees[i].nodes.data_len + scan->trees[i].values.data_len;
    if (njobs && (rc = run_blocks(ctx, &st, opt.threads))) goto done;

    uint64_t lzma_budget = LZMA2_TRIAL_BUDGET;
    if ((rc = write_skeleton(ctx, &w, in, in_len, splices, nsplices, opt.level, &lzma_budget, &nsec,
                             &rep.part_raw[TP_PART_SKELETON], &rep.part_stored[TP_PART_SKELETON])))
        goto done;
    for (size_t i = 0; i < nsplices; i++) /* skeleton bytes, stored in the splice table */
        if (splices[i].which == SPLICE_MEMO) rep.part_raw[TP_PART_SKELETON] += splices[i].stream_len;
    if ((rc = records_write(ctx, &w, in, scan->records, scan->nrecords, opt.level, &lzma_budget, &nsec,
                               &rep.part_raw[TP_PART_RECORDS], &rep.part_stored[TP_PART_RECORDS])))
        goto done;
    if ((rc = write_vocabs(&w, scan, opt.level, &tmp, &nsec, &rep))) goto done;
    if ((rc = write_tail(&w, &ci, &h, opt.level, &tmp, &nsec, &rep))) goto done;
    inventory_report(&scan->inv, &rep);
    wrap_report(&ci.wrap, &rep);
    rep.container_size = w.written;
    uint64_t accounted = 0;
    for (int p = 0; p < TP_PART_COUNT; p++) accounted += rep.part_stored[p];
    rep.part_stored[TP_PART_OTHER] += rep.container_size - accounted;
    if (report) *report = rep;
done:
    sum_join(&sum); /* an error before the header: the thread still reads the input */
    for (size_t j = 0; j < njobs; j++) bytebuf_free(&jobs[j].out);
    free(jobs);
    free(layouts);
    free(tree_layout);
    forest_dict_free(&dict);
    free(splices);
    bytebuf_free(&tmp);
    compress_input_free(&ci);
    return rc;
}

tp_code tp_compress(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                    tp_report *report)
{
    tp_options o;
    tp_report r;
    tp_report_init(&r);
    tp_code rc = options_take(ctx, opt, &o);
    if (!rc) rc = compress_full(ctx, in, in_len, &o, out, report ? &r : NULL);
    if (report) report_give(report, &r);
    return rc;
}
