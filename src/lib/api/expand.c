/*
 * expand.c - container -> pickle, and `info`.
 *
 * The output is streamed: skeleton bytes and decoded payloads go to the
 * sink in order while an XXH3-128 runs over them; at the end the digest
 * must equal the one stored at compress time, or the caller is told to
 * throw the output away (TP_E_MISMATCH).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "format/container.h"
#include "base/lzma2.h"
#include "base/cursor.h"
#include "api/check.h"
#include "api/expand.h"
#include "codec/prefetch.h"
#include "pickle/pickle_vm.h"
#include "sklearn/inventory.h"
#include "api/lossy.h"
#include "base/skeleton_dict.h"
#include "base/outpipe.h"
#include "codec/records_section.h"
#include "format/splice.h"
#include "codec/tree_codec.h"
#include "codec/vocab_section.h"
#include "format/wrap.h"
#include <zstd.h>

/* An inventory is a few counts and notes of at most a few kB. */
#define INVENTORY_MAX ((uint64_t)1 << 20)

/* How far a section may exceed the original's size (see load()). */
#define SECTION_SLACK ((uint64_t)1 << 20)

typedef struct block_ref {
    const uint8_t *data;       /* the block proper, after its header */
    size_t len;
    uint64_t first, count, nodes;
    uint64_t part_raw[TP_PART_COUNT];
} block_ref;

typedef struct loaded {
    tpk_header h;
    tpk_section *secs;
    size_t nsecs;
    const tpk_section *skeleton;   /* the first skeleton section */
    size_t nskeleton;              /* skeleton sections, one after another */
    uint64_t skeleton_raw, skeleton_stored; /* all of them */
    const tpk_section *dict_sec;
    splice_entry *splices;
    size_t nsplices;
    node_layout *layouts;
    size_t nlayouts;
    forest_dict dict;
    block_ref *blocks;
    size_t nblocks;
    uint64_t ntrees, nodes;
    records_set records;   /* structured arrays (SEC_RECORDS) */
    wrap_info wrap;             /* compressed joblib file (SEC_WRAP) */
    model_inventory inv;         /* SEC_INVENTORY, zero if absent */
    vocabulary *vocabs;         /* SEC_VOCAB */
    size_t nvocabs;
    const tpk_section *vocab_sec;
    lossy_info lossy;      /* SEC_LOSSY; have_lossy */
    bool have_lossy;
} loaded;

static void loaded_free(loaded *L)
{
    free(L->secs);
    free(L->splices);
    free(L->layouts);
    forest_dict_free(&L->dict);
    free(L->blocks);
    records_set_free(&L->records);
    wrap_free(&L->wrap);
    for (size_t i = 0; i < L->nvocabs; i++) vocab_free(&L->vocabs[i]);
    free(L->vocabs);
    memset(L, 0, sizeof *L);
}

static tp_code read_layouts(tp_ctx *ctx, const uint8_t *file, const tpk_section *s, loaded *L)
{
    bytebuf raw = {0};
    tp_code rc = tpk_section_read(ctx, file, s, &raw);
    if (rc) {
        bytebuf_free(&raw);
        return rc;
    }
    cursor c = cursor_make(raw.data, raw.len);
    uint64_t n = cursor_varint_max(&c, raw.len);
    L->layouts = calloc(n ? (size_t)n : 1, sizeof *L->layouts);
    if (!L->layouts) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "layouts");
    for (uint64_t i = 0; i < n && !rc; i++)
        if (!node_layout_read(&c, &L->layouts[i])) rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "node layout %llu is malformed",
                                                             (unsigned long long)i);
    if (!rc && (c.bad || cursor_left(&c))) rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the layouts section is malformed");
    L->nlayouts = (size_t)n;
    bytebuf_free(&raw);
    return rc;
}

/* Parse the container and the small sections; the skeleton and the tree
 * blocks are only located here. */
static tp_code load(tp_ctx *ctx, const uint8_t *in, size_t len, loaded *L)
{
    memset(L, 0, sizeof *L);
    tp_code rc = tpk_parse(ctx, in, len, &L->h, &L->secs, &L->nsecs);
    if (rc) return rc;
    const tpk_section *splices = NULL, *layouts = NULL, *dict = NULL, *wrap = NULL, *inventory = NULL, *lossy = NULL,
                      *memo = NULL;
    size_t ntree_secs = 0;
    for (size_t i = 0; i < L->nsecs; i++) {
        const tpk_section *s = &L->secs[i];
        if (s->kind == SEC_SKELETON) {
            /* a large skeleton comes in pieces (compress.c), in order */
            if (!L->skeleton) L->skeleton = s;
            L->nskeleton++;
            if (!add_ok(L->skeleton_raw, s->raw_len, &L->skeleton_raw) || L->skeleton_raw > L->h.original_size)
                return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the skeleton is larger than the original");
            L->skeleton_stored += s->stored_len;
            continue;
        }
        const tpk_section **slot = s->kind == SEC_SPLICES ? &splices
                                   : s->kind == SEC_LAYOUTS ? &layouts
                                   : s->kind == SEC_DICT    ? &dict
                                   : s->kind == SEC_WRAP    ? &wrap
                                   : s->kind == SEC_INVENTORY ? &inventory
                                   : s->kind == SEC_VOCAB   ? &L->vocab_sec
                                   : s->kind == SEC_LOSSY   ? &lossy
                                   : s->kind == SEC_MEMO    ? &memo
                                                            : NULL;
        if (slot && *slot) return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "two %s sections", tpk_kind_name(s->kind));
        /* Every section is made from the original: one much larger than
         * it is a decompression bomb or a lie.  (Small tables such as the
         * inventory may exceed a tiny original, hence the slack.) */
        if (s->raw_len > SECTION_SLACK && s->raw_len - SECTION_SLACK > L->h.original_size)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "a %s section declares %llu bytes, the original had %llu",
                           tpk_kind_name(s->kind), (unsigned long long)s->raw_len,
                           (unsigned long long)L->h.original_size);
        if (slot) *slot = s;
        if (s->kind == SEC_TREES) ntree_secs++;
    }
    if (!L->skeleton) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the skeleton section is missing");
    if (ntree_secs && (!splices || !layouts))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "tree blocks without their splice table or layouts");
    if ((rc = records_load(ctx, in, L->secs, L->nsecs, &L->records))) return rc;
    if (L->records.nblocks && !splices)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "structured arrays without their splice table");
    if (lossy) {
        bytebuf raw = {0};
        rc = tpk_section_read(ctx, in, lossy, &raw);
        if (!rc) rc = lossy_read(ctx, raw.data, raw.len, &L->lossy);
        bytebuf_free(&raw);
        if (rc) return rc;
        L->have_lossy = true;
    }
    if (L->vocab_sec) {
        if (!splices) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "vocabularies without their splice table");
        bytebuf raw = {0};
        rc = tpk_section_read(ctx, in, L->vocab_sec, &raw);
        if (!rc) rc = vocab_section_read(ctx, raw.data, raw.len, L->h.original_size, &L->vocabs, &L->nvocabs);
        bytebuf_free(&raw);
        if (rc) return rc;
    }
    if (wrap) {
        bytebuf raw = {0};
        rc = tpk_section_read(ctx, in, wrap, &raw);
        if (!rc) rc = wrap_parse(ctx, &raw, &L->wrap);
        bytebuf_free(&raw);
        if (rc) return rc;
    }
    /* optional: a malformed one only costs `info` its details */
    if (inventory && inventory->codec == CODEC_STORED) {
        inventory_read(in + inventory->offset, (size_t)inventory->stored_len, &L->inv);
    } else if (inventory && inventory->codec == CODEC_ZSTD && inventory->raw_len <= INVENTORY_MAX) {
        bytebuf raw = {0};
        tp_ctx quiet = {0}; /* its errors are not the file's */
        if (tpk_section_read(&quiet, in, inventory, &raw) == TP_OK) inventory_read(raw.data, raw.len, &L->inv);
        bytebuf_free(&raw);
    }

    L->blocks = calloc(ntree_secs + 1, sizeof *L->blocks);
    if (!L->blocks) return ctx_fail(ctx, TP_E_NOMEM, -1, "block list");
    for (size_t i = 0; i < L->nsecs; i++) {
        const tpk_section *s = &L->secs[i];
        if (s->kind != SEC_TREES) continue;
        if (s->codec != CODEC_STORED) return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "a tree block is not stored");
        cursor c = cursor_make(in + s->offset, (size_t)s->stored_len);
        block_ref *b = &L->blocks[L->nblocks];
        b->first = cursor_varint(&c);
        b->nodes = cursor_varint(&c);
        uint64_t nparts = cursor_varint(&c);
        for (uint64_t p = 0; p < nparts && !c.bad; p++) {
            uint64_t v = cursor_varint(&c);
            if (p < TP_PART_COUNT) b->part_raw[p] = v;
        }
        if (c.bad || nparts > 64 || b->first != L->ntrees)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "tree blocks are out of order");
        b->data = in + s->offset + c.pos;
        b->len = cursor_left(&c);
        uint64_t parts[TP_PART_COUNT] = {0};
        if ((rc = tree_block_sizes(ctx, b->data, b->len, &b->count, parts))) return rc;
        if (!add_ok(L->ntrees, b->count, &L->ntrees) || !add_ok(L->nodes, b->nodes, &L->nodes))
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "tree counts overflow");
        L->nblocks++;
    }
    if (layouts && (rc = read_layouts(ctx, in, layouts, L))) return rc;
    L->dict_sec = dict;
    if (dict) {
        bytebuf raw = {0};
        rc = tpk_section_read(ctx, in, dict, &raw);
        if (!rc) rc = forest_dict_read(ctx, raw.data, raw.len, &L->dict);
        bytebuf_free(&raw);
        if (rc) return rc;
    }
    if (splices || memo) {
        bytebuf raw = {0}, mraw = {0};
        if (splices) rc = tpk_section_read(ctx, in, splices, &raw);
        if (!rc && memo) rc = tpk_section_read(ctx, in, memo, &mraw);
        if (!rc)
            rc = splices_read(ctx, raw.data, raw.len, mraw.data, mraw.len, L->h.original_size, L->ntrees,
                              L->records.count, L->nvocabs, &L->splices, &L->nsplices);
        bytebuf_free(&raw);
        bytebuf_free(&mraw);
    }
    /* The size the header declares is what the skeleton and the payloads
     * add up to, or the file is corrupt: checked here, against what the
     * sections hold, instead of against a memory limit (the output is
     * streamed, never held whole). */
    uint64_t sum = L->skeleton_raw;
    for (size_t i = 0; !rc && i < L->nsplices; i++)
        if (!add_ok(sum, L->splices[i].stream_len, &sum)) sum = UINT64_MAX;
    if (!rc && sum != L->h.original_size)
        rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, 16, "the sections add up to %llu bytes, the header declares %llu",
                     (unsigned long long)sum, (unsigned long long)L->h.original_size);
    return rc;
}

static void fill_report(const loaded *L, const uint8_t *in, size_t len, tp_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->original_size = L->h.original_size;
    rep->container_size = len;
    snprintf(rep->name, sizeof rep->name, "%s", L->h.name);
    memcpy(rep->checksum, L->h.checksum, 16);
    rep->trees = L->ntrees;
    rep->nodes = L->nodes;
    rep->part_raw[TP_PART_SKELETON] = L->skeleton_raw;
    for (size_t i = 0; i < L->nsplices; i++) /* skeleton bytes in the splice table */
        if (L->splices[i].which == SPLICE_MEMO) rep->part_raw[TP_PART_SKELETON] += L->splices[i].stream_len;
    rep->part_stored[TP_PART_SKELETON] = L->skeleton_stored;
    for (size_t i = 0; i < L->nblocks; i++) {
        uint64_t k;
        tree_block_sizes(NULL, L->blocks[i].data, L->blocks[i].len, &k, rep->part_stored);
        for (int p = 0; p < TP_PART_COUNT; p++) rep->part_raw[p] += L->blocks[i].part_raw[p];
    }
    if (L->dict_sec) forest_dict_attribute(&L->dict, L->dict_sec->stored_len, rep->part_stored);
    records_sizes(&L->records, &rep->part_raw[TP_PART_RECORDS], &rep->part_stored[TP_PART_RECORDS]);
    for (size_t i = 0; i < L->nvocabs; i++) rep->part_raw[TP_PART_VOCAB] += L->vocabs[i].stream_len;
    if (L->vocab_sec) rep->part_stored[TP_PART_VOCAB] += L->vocab_sec->stored_len + L->vocab_sec->header_len;
    rep->vocabularies = L->nvocabs;
    uint64_t accounted = 0;
    for (int p = 0; p < TP_PART_COUNT; p++) accounted += rep->part_stored[p];
    rep->part_stored[TP_PART_OTHER] += len - accounted;
    inventory_report(&L->inv, rep);
    wrap_report(&L->wrap, rep);
    if (L->have_lossy) {
        lossy_report(&L->lossy, rep);
    } else {
        rep->source_size = L->h.original_size;
        memcpy(rep->source_checksum, L->h.checksum, 16);
    }
    (void)in;
}

static tp_code info_full(tp_ctx *ctx, const uint8_t *in, size_t len, tp_report *report)
{
    ctx_reset(ctx);
    loaded L;
    tp_code rc = load(ctx, in, len, &L);
    if (!rc && report) fill_report(&L, in, len, report);
    loaded_free(&L);
    return rc;
}

/* ---- expanding --------------------------------------------------------- */

typedef struct out_stream {
    tp_ctx *ctx;
    outpipe *pipe;
    uint64_t written, total;
    const tp_options *opt;
    uint64_t next_progress;
    proven_list *proven;          /* NULL: nobody checks what is written */
} out_stream;

static tp_code emit(out_stream *o, const void *data, size_t len)
{
    if (!len) return TP_OK;
    if (len > o->total - o->written)
        return ctx_fail(o->ctx, TP_E_TPK_CORRUPT, -1, "the data is longer than the original size");
    tp_code rc = outpipe_write(o->pipe, data, len);
    if (rc) return rc;
    o->written += len;
    if (o->opt && o->opt->progress && o->written >= o->next_progress) {
        o->opt->progress(o->opt->progress_opaque, o->written, o->total);
        o->next_progress = o->written + (4u << 20);
    }
    return TP_OK;
}

/* ---- the skeleton, decompressed as it is emitted ---------------------- */

/* The skeleton is as large as everything in the original that is no
 * recognised payload: a pickle of other data is mostly skeleton.  It is
 * decompressed piece by piece into a small window as the splice loop
 * asks for it, so that its size never becomes memory. */
#define SKEL_WINDOW ((size_t)1 << 20)

typedef struct skel_stream {
    const uint8_t *file;
    const tpk_section *secs;   /* the container's sections */
    size_t nsecs, next;        /* next section to look at */
    const tpk_section *cur;    /* the skeleton section being read, or NULL */
    ZSTD_DCtx *dc;
    ZSTD_inBuffer zin;
    bool frame_done;           /* cur's zstd frame has ended */
    uint64_t cur_out;          /* bytes cur gave so far */
    uint8_t *win;
    size_t win_len, win_pos;   /* decoded bytes in win, of which taken */
    bytebuf whole;              /* an LZMA2 section, decoded at once (it is small) */
} skel_stream;

static void skel_close(skel_stream *k)
{
    ZSTD_freeDCtx(k->dc);
    free(k->win);
    bytebuf_free(&k->whole);
    memset(k, 0, sizeof *k);
}

/* Start the next skeleton section; false when there is none. */
static tp_code skel_next_section(tp_ctx *ctx, skel_stream *k, bool *none)
{
    *none = false;
    if (k->cur && (k->cur_out != k->cur->raw_len || (tpk_codec_is_zstd(k->cur->codec) && !k->frame_done)))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)k->cur->offset, "the skeleton section is %llu bytes, %llu declared",
                       (unsigned long long)k->cur_out, (unsigned long long)k->cur->raw_len);
    while (k->next < k->nsecs && k->secs[k->next].kind != SEC_SKELETON) k->next++;
    if (k->next == k->nsecs) {
        k->cur = NULL;
        *none = true;
        return TP_OK;
    }
    k->cur = &k->secs[k->next++];
    k->cur_out = 0;
    k->frame_done = false;
    k->zin = (ZSTD_inBuffer){k->file + k->cur->offset, (size_t)k->cur->stored_len, 0};
    if (k->cur->codec == CODEC_LZMA2) { /* read in place, as a stored one, once decoded */
        k->whole.len = 0;
        uint8_t *p = bytebuf_grow(&k->whole, (size_t)k->cur->raw_len + 1);
        if (!p) return ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton section of %llu bytes", (unsigned long long)k->cur->raw_len);
        k->whole.len = (size_t)k->cur->raw_len;
        tp_code rc = lzma2_decode(ctx, k->zin.src, k->zin.size, p, k->whole.len, "a skeleton section");
        if (rc) return rc;
        k->zin = (ZSTD_inBuffer){k->whole.data, k->whole.len, 0};
    }
    if (tpk_codec_is_zstd(k->cur->codec)) {
        if (!k->dc && !(k->dc = ZSTD_createDCtx())) return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
        /* parameters too: a section before may have loaded the dictionary */
        ZSTD_DCtx_reset(k->dc, ZSTD_reset_session_and_parameters);
        if (k->cur->codec == CODEC_ZSTD_DICT &&
            ZSTD_isError(ZSTD_DCtx_loadDictionary(k->dc, skeleton_dict, skeleton_dict_size)))
            return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd dictionary");
    }
    return TP_OK;
}

static bool skel_section_done(const skel_stream *k)
{
    return !tpk_codec_is_zstd(k->cur->codec) ? k->zin.pos == k->zin.size : k->frame_done;
}

/* One step: the next section, or more decoded bytes in the window. */
static tp_code skel_fill(tp_ctx *ctx, skel_stream *k)
{
    if (!k->cur || skel_section_done(k)) {
        bool none;
        return skel_next_section(ctx, k, &none);
    }
    if (!tpk_codec_is_zstd(k->cur->codec)) return TP_OK; /* read in place (skel_take) */
    ZSTD_outBuffer o = {k->win, SKEL_WINDOW, 0};
    size_t r = ZSTD_decompressStream(k->dc, &o, &k->zin);
    if (ZSTD_isError(r))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)k->cur->offset, "skeleton section: zstd: %s",
                       ZSTD_getErrorName(r));
    k->cur_out += o.pos;
    k->win_len = o.pos;
    k->win_pos = 0;
    if (k->cur_out > k->cur->raw_len)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)k->cur->offset, "the skeleton section is longer than declared");
    if (r == 0) {
        k->frame_done = true;
        if (k->zin.pos != k->zin.size)
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)k->cur->offset,
                           "the skeleton section has bytes after its compressed stream");
    } else if (k->zin.pos == k->zin.size && o.pos < o.size) {
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)k->cur->offset, "the skeleton section is truncated");
    }
    return TP_OK;
}

/* The next bytes of the skeleton, at most `want`; *len is 0 only at its
 * end (every section read to its declared length). */
static tp_code skel_take(tp_ctx *ctx, skel_stream *k, size_t want, const uint8_t **data, size_t *len)
{
    *len = 0;
    for (;;) {
        if (k->win_pos < k->win_len) {
            *len = MIN_OF(want, k->win_len - k->win_pos);
            *data = k->win + k->win_pos;
            k->win_pos += *len;
            return TP_OK;
        }
        if (k->cur && !tpk_codec_is_zstd(k->cur->codec) && k->zin.pos < k->zin.size) {
            *len = MIN_OF(want, k->zin.size - k->zin.pos);
            *data = (const uint8_t *)k->zin.src + k->zin.pos;
            k->zin.pos += *len;
            k->cur_out += *len;
            return TP_OK;
        }
        tp_code rc = skel_fill(ctx, k);
        if (rc) return rc;
        if (!k->cur) return TP_OK; /* the end */
    }
}

/* The decoded block in use, and where the last tree's bytes are in it. */
typedef struct tree_cache {
    size_t block;               /* index of the decoded block, or SIZE_MAX */
    prefetcher *pf;            /* decodes the blocks (ahead, in a thread) */
    tree_block_src *src;          /* what pf reads */
    const tree_block_bytes *dec;  /* block `block`, owned by pf */
    uint64_t tree;              /* tree of nodes/values, or UINT64_MAX */
    const uint8_t *nodes, *values; /* inside dec */
    size_t nodes_len, values_len;
    const tree_span *span;   /* the tree's */
    bytebuf text;
} tree_cache;

static tp_code tree_bytes(tp_ctx *ctx, const loaded *L, tree_cache *tc, uint64_t tree, uint64_t original_size)
{
    if (tc->tree == tree) return TP_OK;
    size_t b = 0;
    while (b < L->nblocks && tree >= L->blocks[b].first + L->blocks[b].count) b++;
    if (b == L->nblocks) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "tree %llu is in no block", (unsigned long long)tree);
    if (tc->block != b) {
        tc->block = SIZE_MAX;
        tc->dec = NULL;
        if (!tc->pf) {
            tree_block_src *src = calloc(L->nblocks + 1, sizeof *src);
            if (!src) return ctx_fail(ctx, TP_E_NOMEM, -1, "block list");
            for (size_t k = 0; k < L->nblocks; k++) src[k] = (tree_block_src){L->blocks[k].data, L->blocks[k].len};
            tc->src = src;
            tp_code rc = prefetch_open(ctx, src, L->nblocks, L->layouts, L->nlayouts, &L->dict, original_size, &tc->pf);
            if (rc) return rc;
        }
        tp_code rc = prefetch_get(tc->pf, ctx, b, &tc->dec);
        if (rc) return rc;
        if (tc->dec->k != L->blocks[b].count) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a tree block miscounts its trees");
        tc->block = b;
    }
    const tree_span *sp = &tc->dec->span[tree - L->blocks[b].first];
    tc->nodes = tc->dec->data + sp->nodes_off;
    tc->nodes_len = (size_t)sp->nodes_len;
    tc->values = tc->dec->data + sp->values_off;
    tc->values_len = (size_t)sp->values_len;
    tc->span = sp;
    tc->tree = tree;
    return TP_OK;
}

static tp_code emit_splice(out_stream *o, loaded *L, tree_cache *tc, const splice_entry *s)
{
    const uint8_t *data;
    size_t len;
    if (s->which == SPLICE_MEMO) { /* checked by splices_read */
        uint8_t arg[SPLICE_MEMO_ARG_MAX];
        return emit(o, arg, splice_memo_arg(s->payload, s->tree, arg));
    }
    if (s->which == SPLICE_RECORDS) {
        uint64_t budget = L->h.original_size;
        tp_code rc = records_bytes(o->ctx, &L->records, s->tree, &budget, &data, &len);
        if (rc) return rc;
    } else if (s->which == SPLICE_VOCAB) {
        const vocabulary *v = &L->vocabs[s->tree];
        if (v->stream_len != s->stream_len)
            return ctx_fail(o->ctx, TP_E_TPK_CORRUPT, -1, "vocabulary %llu has %llu bytes, the splice says %llu",
                           (unsigned long long)s->tree, (unsigned long long)v->stream_len,
                           (unsigned long long)s->stream_len);
        tc->text.len = 0;
        tp_code rc = vocab_generate(o->ctx, v, &tc->text);
        if (rc) return rc;
        return emit(o, tc->text.data, tc->text.len);
    } else {
        tp_code rc = tree_bytes(o->ctx, L, tc, s->tree, L->h.original_size);
        if (rc) return rc;
        bool nodes = s->which == SPLICE_NODES;
        data = nodes ? tc->nodes : tc->values;
        len = nodes ? tc->nodes_len : tc->values_len;
        /* node records written as they are, from a tree the decoder
         * proved valid: the check after need not prove it again */
        if (nodes && o->proven && s->payload == PAY_RAW && len == s->stream_len) {
            proven_nodes e = {o->written, len, &L->layouts[tc->span->layout], tc->span->n_features};
            if (!array_push((void **)&o->proven->v, &o->proven->n, &o->proven->cap, &e, sizeof e))
                return ctx_fail(o->ctx, TP_E_NOMEM, -1, "the list of proven trees");
        }
    }
    if (s->payload != PAY_RAW) { /* text forms of protocols 0-2 */
        tc->text.len = 0;
        uint8_t *p = len <= SIZE_MAX / 6 ? bytebuf_grow(&tc->text, npy_payload_max(s->payload, len) + 1) : NULL;
        if (!p) return ctx_fail(o->ctx, TP_E_NOMEM, -1, "payload buffer");
        len = npy_payload_encode(s->payload, data, len, p);
        data = p;
    }
    if (len != s->stream_len)
        return ctx_fail(o->ctx, TP_E_TPK_CORRUPT, -1, "a payload of tree %llu has %zu bytes, the splice says %llu",
                       (unsigned long long)s->tree, len, (unsigned long long)s->stream_len);
    return emit(o, data, len);
}

/* The check of what a sink with read_back was given (tp_sink). */
static tp_code check_written(tp_ctx *ctx, tp_sink *out, const tp_options *opt, uint64_t written,
                             const proven_list *proven)
{
    const uint8_t *data;
    size_t len;
    if (out->read_back(out->opaque, &data, &len))
        return ctx_fail(ctx, TP_E_WRITE, -1, "the output could not be read back to check it");
    tp_code rc = len == written ? check_pickle(ctx, data, len, opt, "in the expanded pickle: ", proven)
                                : ctx_fail(ctx, TP_E_WRITE, -1, "the output reads back as %zu bytes, %llu were written",
                                          len, (unsigned long long)written);
    if (out->release) out->release(out->opaque, data, len);
    return rc;
}

/* rewrap: a compressed joblib file's stream goes through its compressor
 * again; otherwise the stream itself goes out and *wrapped says whether
 * the original was compressed.  check: the sink reads back (tp_sink), and
 * what it was given is checked after it was written (not for a
 * compressed joblib file, which expand_checked handles). */
static tp_code expand_impl(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                           tp_report *report, bool rewrap, int *wrapped, bool check)
{
    ctx_reset(ctx);
    loaded L;
    skel_stream skel = {0};
    tree_cache tc = {.block = SIZE_MAX, .tree = UINT64_MAX};
    out_stream o = {.ctx = ctx, .opt = opt};
    proven_list proven = {0};
    wrap_writer *ww = NULL;
    tp_sink wsink;
    tp_code rc = load(ctx, in, in_len, &L);
    if (rc) goto done;
    /* No size is checked against the memory limit here: the output is
     * streamed, and what is held (the skeleton's window, the decoded
     * blocks, the tables) is bounded on its own.  The declared size is
     * checked against what the sections really produce (load()). */
    if (wrapped) *wrapped = L.wrap.method != WRAP_NONE;
    if (check && L.wrap.method != WRAP_NONE) goto done; /* nothing written: *wrapped tells */
    if (check) o.proven = &proven;
    if (L.wrap.method && rewrap) {
        /* a compressed joblib file: the stream goes through its compressor
         * (in the output pipe's writer thread) */
        if ((rc = wrap_writer_new(ctx, &L.wrap, L.h.original_size, out, &ww, &wsink))) goto done;
    }
    skel = (skel_stream){.file = in, .secs = L.secs, .nsecs = L.nsecs};
    if (!(skel.win = malloc(SKEL_WINDOW))) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "skeleton window");
        goto done;
    }
    o.total = L.h.original_size;
    if ((rc = outpipe_open(ctx, ww ? &wsink : out, o.total, &o.pipe))) goto done;
    for (size_t i = 0; i <= L.nsplices && !rc; i++) {
        /* the skeleton up to the next splice (all that is left after the last) */
        uint64_t gap = i < L.nsplices ? L.splices[i].gap : UINT64_MAX;
        while (gap && !rc) {
            const uint8_t *p;
            size_t n;
            rc = skel_take(ctx, &skel, (size_t)MIN_OF(gap, (uint64_t)SIZE_MAX), &p, &n);
            if (rc || !n) break;
            rc = emit(&o, p, n);
            gap -= n;
        }
        if (rc || i == L.nsplices) break;
        if (gap) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the splice table runs past the skeleton");
            break;
        }
        rc = emit_splice(&o, &L, &tc, &L.splices[i]);
    }
    if (!rc && o.written != L.h.original_size)
        rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the data adds up to %llu bytes, the original had %llu",
                     (unsigned long long)o.written, (unsigned long long)L.h.original_size);
    if (!rc) {
        uint8_t digest[16];
        rc = outpipe_finish(o.pipe, digest);
        if (!rc && memcmp(digest, L.h.checksum, 16) != 0)
            rc = ctx_fail(ctx, TP_E_MISMATCH, -1, "the expanded bytes are not the original");
    }
    if (!rc && ww) rc = wrap_writer_finish(ww);
    if (rc == TP_E_WRITE && ww) rc = wrap_writer_error(ww, ctx); /* the compressor's own cause */
    if (!rc && report) fill_report(&L, in, in_len, report);
done:
    outpipe_free(o.pipe); /* first: its writer thread may still use ww */
    wrap_writer_free(ww);
    prefetch_close(tc.pf);
    free(tc.src);
    bytebuf_free(&tc.text);
    skel_close(&skel);
    /* after the expansion's memory went back to the heap, where the
     * check's tables find it (fresh pages would each cost a fault); the
     * proofs point at L's layouts */
    if (!rc && o.proven) rc = check_written(ctx, out, opt, o.written, &proven);
    free(proven.v);
    loaded_free(&L);
    return rc;
}

static tp_code expand_full(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                           tp_report *report)
{
    /* Unless told otherwise, check the pickle before handing it out
     * (inspect.c); the check itself expands with allow_unsafe. */
    if (!opt || !opt->allow_unsafe) {
        /* a sink that reads back gets the pickle as it is expanded and
         * has it checked afterwards, where it lies */
        int wrapped = 0;
        if (out && out->read_back) {
            tp_code rc = expand_impl(ctx, in, in_len, opt, out, report, true, &wrapped, true);
            if (rc || !wrapped) return rc;
        }
        return expand_checked(ctx, in, in_len, opt, out, report);
    }
    return expand_impl(ctx, in, in_len, opt, out, report, true, NULL, false);
}

tp_code expand_stream(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                         tp_report *report, int *wrapped)
{
    return expand_impl(ctx, in, in_len, opt, out, report, false, wrapped, false);
}

/* ---- expanding into memory ------------------------------------------- */

static int mem_write(void *opaque, const void *data, size_t len)
{
    membuf *m = opaque;
    if (len > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap - m->len < len) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *p = realloc(m->data, cap);
        if (!p) return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

/* The pickle stream a loader would read: for a compressed joblib file,
 * the stream before it is compressed again (*wrapped set). */
tp_code expand_to_memory(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, membuf *m,
                                tp_report *report, int *wrapped)
{
    tp_options o;
    if (opt) o = *opt;
    else tp_options_init(&o);
    o.allow_unsafe = 1; /* the caller checks */
    /* one allocation of the declared size (within the memory limit): growing
     * by doubling would copy the stream and hold up to twice its size */
    tpk_header h;
    tpk_section *secs = NULL;
    size_t nsecs = 0;
    if (tpk_parse(ctx, in, in_len, &h, &secs, &nsecs) == TP_OK && h.original_size &&
        h.original_size <= (o.limits.max_memory ? o.limits.max_memory : (uint64_t)4 << 30) &&
        h.original_size <= SIZE_MAX) {
        m->data = malloc((size_t)h.original_size);
        if (m->data) m->cap = (size_t)h.original_size;
#ifdef MADV_HUGEPAGE
        /* a few hundred MB faulted in 4 KiB pages costs more system time
         * than writing them out; huge pages cut that 512-fold */
        if (m->data && m->cap >= (32u << 20)) {
            uintptr_t a = ((uintptr_t)m->data + 0x1fffff) & ~(uintptr_t)0x1fffff;
            uintptr_t e = ((uintptr_t)m->data + m->cap) & ~(uintptr_t)0x1fffff;
            if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
        }
#endif
    }
    free(secs);
    ctx_reset(ctx);
    tp_sink sink = {.write = mem_write, .opaque = m};
    return expand_stream(ctx, in, in_len, &o, &sink, report, wrapped);
}

tp_code expand_checked(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                          tp_report *report)
{
    membuf m = {0};
    int wrapped = 0;
    tp_code rc = expand_to_memory(ctx, in, in_len, opt, &m, report, &wrapped);
    if (!rc) rc = check_pickle(ctx, m.data, m.len, opt, "in the expanded pickle: ", NULL);
    if (!rc && wrapped && !(opt && opt->allow_unsafe)) rc = wrap_check_container(ctx, in, in_len, opt);
    if (!rc && wrapped) {
        /* a compressed joblib file: compress the checked stream again
         * (this also checks the file's own checksum) */
        rc = wrap_rewrap(ctx, in, in_len, m.data, m.len, out);
    } else if (!rc && out && m.len && out->write(out->opaque, m.data, m.len)) {
        rc = ctx_fail(ctx, TP_E_WRITE, -1, "the output refused %zu bytes", m.len);
    }
    free(m.data);
    return rc;
}

tp_code tp_info(tp_ctx *ctx, const uint8_t *in, size_t len, tp_report *report)
{
    tp_report r;
    tp_report_init(&r);
    tp_code rc = info_full(ctx, in, len, &r);
    if (report) report_give(report, &r);
    return rc;
}

tp_code tp_expand(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                  tp_report *report)
{
    tp_options o;
    tp_report r;
    tp_report_init(&r);
    tp_code rc = options_take(ctx, opt, &o);
    if (!rc) rc = expand_full(ctx, in, in_len, &o, out, report ? &r : NULL);
    if (report) report_give(report, &r);
    return rc;
}
