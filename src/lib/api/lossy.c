/*
 * lossy.c - rewrite a pickle for --exact=model and --strip.
 */
#include <stdio.h>
#include <stdlib.h>

#include "format/container.h"
#include "base/cursor.h"
#include "sklearn/locate.h"
#include "api/lossy.h"
#include "numpy/npy.h"

const char *tp_strip_name(unsigned bit)
{
    switch (bit) {
    case TP_STRIP_IMPURITY: return "impurity";
    case TP_STRIP_SAMPLES: return "samples";
    case TP_STRIP_STOP_WORDS: return "stop-words";
    }
    return NULL;
}

const char *tp_strip_done(unsigned bit, unsigned kept)
{
    switch (bit) {
    case TP_STRIP_IMPURITY:
        (void)kept; /* impurity kept is impurity not stripped (see tp_lossy_transform) */
        return "node impurity set to 0";
    case TP_STRIP_SAMPLES:
        return kept & TP_KEPT_WEIGHTED ? "n_node_samples set to 0; weighted_n_node_samples kept as it was: the "
                                         "codec stores the node values through it"
                                       : "n_node_samples and weighted_n_node_samples set to 0";
    case TP_STRIP_STOP_WORDS: return "stop_words_ set to an empty set, its memo entries kept";
    }
    return NULL;
}

const char *tp_strip_cost(unsigned bit)
{
    switch (bit) {
    case TP_STRIP_IMPURITY: return "feature_importances_ no longer meaningful";
    case TP_STRIP_SAMPLES: return "n_node_samples, weighted_n_node_samples and feature_importances_ no longer meaningful";
    case TP_STRIP_STOP_WORDS: return "stop_words_ emptied, it was introspection only";
    }
    return NULL;
}

/* A byte range of P replaced by other bytes in P'. */
typedef struct edit {
    uint64_t off, old_len;
    uint8_t *bytes;
    uint64_t new_len;
} edit;

static int by_edit_offset(const void *a, const void *b)
{
    const edit *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Position in P' of a position x of P that is no edit's inside. */
static uint64_t new_pos(const edit *e, size_t n, uint64_t x)
{
    int64_t d = 0;
    for (size_t i = 0; i < n && e[i].off + e[i].old_len <= x; i++) d += (int64_t)e[i].new_len - (int64_t)e[i].old_len;
    return (uint64_t)((int64_t)x + d);
}

/* The edit whose range holds x strictly after its start, or NULL. */
static const edit *edit_holding(const edit *e, size_t n, uint64_t x, bool at_start_too)
{
    for (size_t i = 0; i < n; i++)
        if ((at_start_too ? x >= e[i].off : x > e[i].off) && x < e[i].off + e[i].old_len) return &e[i];
    return NULL;
}

/* Build P' from P and the edits; fix the FRAMEs: a frame whose header an
 * edit covers is gone, a frame that ends inside an edit grows to the end
 * of it (and of the frames it swallowed), every other frame keeps its
 * content, whose length may change. */
static tp_code apply_edits(tp_ctx *ctx, const uint8_t *in, size_t len, edit *e, size_t ne,
                           uint64_t (*frames)[2], size_t nframes, tp_buf *out)
{
    qsort(e, ne, sizeof *e, by_edit_offset);
    for (size_t i = 1; i < ne; i++)
        if (e[i].off < e[i - 1].off + e[i - 1].old_len)
            return tp_fail(ctx, TP_E_INTERNAL, (int64_t)e[i].off, "two changes overlap");
    uint64_t pos = 0;
    for (size_t i = 0; i <= ne; i++) {
        uint64_t upto = i < ne ? e[i].off : len;
        tp_buf_append(out, in + pos, (size_t)(upto - pos));
        if (i < ne) {
            tp_buf_append(out, e[i].bytes, (size_t)e[i].new_len);
            pos = e[i].off + e[i].old_len;
        }
    }
    if (out->failed) return tp_fail(ctx, TP_E_NOMEM, -1, "rewritten pickle");
    for (size_t f = 0; f < nframes; f++) {
        uint64_t hdr = frames[f][0], end = hdr + 9 + frames[f][1];
        if (edit_holding(e, ne, hdr, true)) continue; /* dropped with the range */
        /* grow over edits it ends inside, and the frames those swallowed */
        const edit *h;
        while ((h = edit_holding(e, ne, end, false)) != NULL) {
            uint64_t m = h->off + h->old_len;
            for (size_t g = 0; g < nframes; g++)
                if (frames[g][0] >= h->off && frames[g][0] < h->off + h->old_len && frames[g][0] + 9 + frames[g][1] > m)
                    m = frames[g][0] + 9 + frames[g][1];
            end = m;
        }
        uint64_t nh = new_pos(e, ne, hdr), ne_ = new_pos(e, ne, end);
        if (nh + 9 > out->len || out->data[nh] != OP_FRAME)
            return tp_fail(ctx, TP_E_INTERNAL, (int64_t)hdr, "a FRAME moved");
        tp_put_le64(out->data + nh + 1, ne_ - nh - 9);
    }
    return TP_OK;
}

/* Zero the stripped fields of a tree's nodes; raw payloads in place in
 * P', text payloads (protocols 0-2) through an edit. */
static tp_code strip_tree(tp_ctx *ctx, const uint8_t *in, const tp_found_tree *t, unsigned strip, unsigned policy,
                          uint8_t *nodes, bool *touched)
{
    const tp_node_layout *l = &t->layout;
    int fields[3], nf = 0;
    if ((strip & TP_STRIP_IMPURITY) && !(policy & POL_KEEP_IMPURITY) && l->f[NF_IMPURITY].present)
        fields[nf++] = NF_IMPURITY;
    if ((strip & TP_STRIP_SAMPLES) && l->f[NF_NSAMPLES].present) fields[nf++] = NF_NSAMPLES;
    if ((strip & TP_STRIP_SAMPLES) && !(policy & POL_KEEP_WEIGHTED) && l->f[NF_WEIGHTED].present)
        fields[nf++] = NF_WEIGHTED;
    *touched = false;
    if (!nf) return TP_OK;
    if (t->nodes.payload != PAY_RAW &&
        !npy_payload_decode(t->nodes.payload, in + t->nodes.data_off, (size_t)t->nodes.data_len, nodes,
                            (size_t)t->nodes.nbytes))
        return tp_fail(ctx, TP_E_INTERNAL, (int64_t)t->nodes.data_off, "a text payload did not decode");
    for (uint64_t i = 0; i < t->nodes.shape[0]; i++)
        for (int k = 0; k < nf; k++) {
            uint8_t *p = nodes + i * l->itemsize + l->f[fields[k]].offset;
            for (unsigned b = 0; b < l->f[fields[k]].size; b++) *touched |= p[b] != 0;
            memset(p, 0, l->f[fields[k]].size);
        }
    return TP_OK;
}

tp_code tp_lossy_transform(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, int exact,
                           unsigned strip, unsigned policy, tp_buf *out, tp_lossy_info *info, bool *changed)
{
    memset(info, 0, sizeof *info);
    *changed = false;
    info->exact = exact;
    info->policy = policy & ((strip & TP_STRIP_IMPURITY ? POL_KEEP_IMPURITY : 0) |
                             (strip & TP_STRIP_SAMPLES ? POL_KEEP_WEIGHTED : 0));
    policy = info->policy;
    /* impurity kept (the smaller file): then it is not stripped at all */
    if (policy & POL_KEEP_IMPURITY) strip &= ~TP_STRIP_IMPURITY;
    info->source_size = len;
    tp_checksum128(in, len, info->source_checksum);
    tp_scan scan;
    tp_code rc = tp_scan_run(ctx, in, len, lim, &scan);
    if (rc) return rc;
    edit *e = calloc(scan.ntrees + scan.nvocabs + 1, sizeof *e);
    size_t ne = 0;
    size_t *raw_strip = calloc(scan.ntrees + 1, sizeof *raw_strip); /* trees zeroed in P' in place */
    size_t nraw_strip = 0;
    tp_buf gen = {0};
    if (!e || !raw_strip) {
        rc = tp_fail(ctx, TP_E_NOMEM, -1, "changes");
        goto done;
    }
    if ((strip & TP_STRIP_SAMPLES) && scan.has_iforest) {
        rc = tp_fail(ctx, TP_E_USAGE, -1,
                     "--strip samples would change what an IsolationForest predicts (its scores read "
                     "n_node_samples); leave samples out");
        goto done;
    }
    /* trees */
    if (strip & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES)) {
        for (size_t i = 0; i < scan.ntrees; i++) {
            const tp_found_tree *t = &scan.trees[i];
            if (t->nodes.payload == PAY_RAW) {
                raw_strip[nraw_strip++] = i; /* zeroed in place once the edits are made */
                continue;
            }
            uint8_t *nodes = malloc((size_t)t->nodes.nbytes + 1);
            uint8_t *txt = malloc(npy_payload_max(t->nodes.payload, (size_t)t->nodes.nbytes) + 5);
            bool touched = false;
            if (!nodes || !txt) {
                free(nodes), free(txt);
                rc = tp_fail(ctx, TP_E_NOMEM, -1, "tree nodes");
                goto done;
            }
            rc = strip_tree(ctx, in, t, strip, policy, nodes, &touched);
            if (!rc && touched) {
                /* protocols 1-2: BINUNICODE, whose length goes too; protocol 0: UNICODE, newline-ended */
                uint64_t off = t->nodes.data_off, old = t->nodes.data_len;
                size_t tn = npy_payload_encode(t->nodes.payload, nodes, (size_t)t->nodes.nbytes, txt + 4);
                if (t->nodes.payload == PAY_LATIN1) {
                    if (off < 5 || in[off - 5] != OP_BINUNICODE || tp_le32(in + off - 4) != old || tn > UINT32_MAX) {
                        rc = tp_fail(ctx, TP_E_INTERNAL, (int64_t)off, "tree nodes in an unexpected text form");
                    } else {
                        tp_put_le32(txt, (uint32_t)tn);
                        e[ne++] = (edit){off - 4, old + 4, txt, tn + 4};
                        txt = NULL;
                    }
                } else {
                    memmove(txt, txt + 4, tn);
                    e[ne++] = (edit){off, old, txt, tn};
                    txt = NULL;
                }
                info->trees_stripped++;
            }
            free(nodes), free(txt);
            if (rc) goto done;
        }
    }
    /* vocabularies */
    for (size_t i = 0; i < scan.nvocabs; i++) {
        tp_found_vocab *f = &scan.vocabs[i];
        if (!f->owner_known || f->referenced) continue;
        tp_vocab *v = &f->v;
        uint64_t old = v->stream_len;
        bool drop = (strip & TP_STRIP_STOP_WORDS) && v->role == ROLE_STOP_WORDS;
        if (drop) {
            uint64_t terms = v->n;
            if ((rc = tp_vocab_empty(ctx, v))) goto done;
            info->stop_words_dropped += terms;
            info->stripped |= TP_STRIP_STOP_WORDS;
        } else if (exact == TP_EXACT_MODEL && v->role != ROLE_FEATURE_NAMES && !v->ngets && !tp_vocab_is_sorted(v)) {
            /* feature_names_ is a list whose order is the column order: never sorted */
            if ((rc = tp_vocab_unframe(ctx, v))) goto done;
            if (!tp_vocab_sort(v)) continue; /* frames are gone from the model, but nothing is written */
            info->vocabularies_sorted++;
        } else {
            continue;
        }
        gen.len = 0;
        if ((rc = tp_vocab_generate(ctx, v, &gen))) goto done;
        uint8_t *b = malloc(gen.len + 1);
        if (!b) {
            rc = tp_fail(ctx, TP_E_NOMEM, -1, "vocabulary");
            goto done;
        }
        memcpy(b, gen.data, gen.len);
        e[ne++] = (edit){f->offset, old, b, gen.len};
    }
    if (!ne && !nraw_strip) goto done;
    if ((rc = apply_edits(ctx, in, len, e, ne, scan.frames, scan.nframes, out))) goto done;
    /* raw tree payloads: zeroed where they now are */
    for (size_t k = 0; k < nraw_strip; k++) {
        const tp_found_tree *t = &scan.trees[raw_strip[k]];
        uint64_t at = new_pos(e, ne, t->nodes.data_off);
        bool touched;
        if ((rc = strip_tree(ctx, in, t, strip, policy, out->data + at, &touched))) goto done;
        if (touched) info->trees_stripped++;
    }
    /* a part is stripped only where there was something to strip */
    if (info->trees_stripped) info->stripped |= strip & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES);
    *changed = ne > 0 || info->trees_stripped > 0;
done:
    for (size_t i = 0; i < ne; i++) free(e[i].bytes);
    free(e);
    free(raw_strip);
    tp_buf_free(&gen);
    tp_scan_free(&scan);
    return rc;
}

#define LOSSY_VERSION 1

void tp_lossy_write(const tp_lossy_info *info, tp_buf *out)
{
    tp_buf_u8(out, LOSSY_VERSION);
    tp_buf_u8(out, (uint8_t)info->exact);
    tp_buf_varint(out, info->stripped);
    tp_buf_varint(out, info->policy);
    tp_buf_varint(out, info->source_size);
    tp_buf_append(out, info->source_checksum, 16);
    tp_buf_varint(out, info->trees_stripped);
    tp_buf_varint(out, info->vocabularies_sorted);
    tp_buf_varint(out, info->stop_words_dropped);
}

tp_code tp_lossy_read(tp_ctx *ctx, const uint8_t *data, size_t len, tp_lossy_info *info)
{
    memset(info, 0, sizeof *info);
    tp_cursor c = tp_cursor_make(data, len);
    uint8_t version = tp_cursor_u8(&c);
    info->exact = tp_cursor_u8(&c);
    uint64_t stripped = tp_cursor_varint(&c);
    uint64_t policy = tp_cursor_varint(&c);
    info->source_size = tp_cursor_varint(&c);
    const uint8_t *sum = tp_cursor_take(&c, 16);
    info->trees_stripped = tp_cursor_varint(&c);
    info->vocabularies_sorted = tp_cursor_varint(&c);
    info->stop_words_dropped = tp_cursor_varint(&c);
    if (c.bad || version != LOSSY_VERSION || info->exact > TP_EXACT_MODEL || stripped & ~(uint64_t)TP_STRIP_ALL ||
        policy & ~(uint64_t)(POL_KEEP_IMPURITY | POL_KEEP_WEIGHTED) || tp_cursor_left(&c))
        return tp_fail(ctx, TP_E_TPK_CORRUPT, -1, "the lossy-mode section is malformed");
    info->stripped = (unsigned)stripped;
    info->policy = (unsigned)policy;
    memcpy(info->source_checksum, sum, 16);
    return TP_OK;
}

void tp_lossy_report(const tp_lossy_info *info, tp_report *rep)
{
    rep->exact_mode = info->exact;
    rep->stripped = info->stripped;
    rep->strip_kept = (info->policy & POL_KEEP_IMPURITY ? TP_KEPT_IMPURITY : 0) |
                      (info->policy & POL_KEEP_WEIGHTED ? TP_KEPT_WEIGHTED : 0);
    rep->source_size = info->source_size;
    memcpy(rep->source_checksum, info->source_checksum, 16);
    rep->trees_stripped = info->trees_stripped;
    rep->vocabularies_sorted = info->vocabularies_sorted;
    rep->stop_words_dropped = info->stop_words_dropped;
}
