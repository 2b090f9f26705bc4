/*
 * lossy.c - rewrite a pickle for --exact=model and --strip.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "base/cursor.h"
#include "sklearn/locate.h"
#include "api/lossy.h"
#include "numpy/npy.h"
#include "codec/forest_dict.h"
#include "codec/tree_model.h"

const char *tp_strip_name(unsigned bit)
{
    switch (bit) {
    case TP_STRIP_IMPURITY: return "impurity";
    case TP_STRIP_SAMPLES: return "samples";
    case TP_STRIP_STOP_WORDS: return "stop-words";
    case TP_STRIP_SPLIT_VALUES: return "split-values";
    case TP_STRIP_THRESHOLDS: return "thresholds";
    case TP_STRIP_PRECISION: return "precision";
    }
    return NULL;
}

const char *tp_strip_done(unsigned bit, unsigned kept)
{
    switch (bit) {
    case TP_STRIP_IMPURITY:
        (void)kept; /* impurity kept is impurity not stripped (see lossy_transform) */
        return "node impurity set to 0";
    case TP_STRIP_SAMPLES:
        return kept & TP_KEPT_WEIGHTED ? "n_node_samples set to 0; weighted_n_node_samples kept as it was: the "
                                         "codec stores the node values through it"
                                       : "n_node_samples and weighted_n_node_samples set to 0";
    case TP_STRIP_STOP_WORDS: return "stop_words_ set to an empty set, its memo entries kept";
    case TP_STRIP_SPLIT_VALUES: return "internal-node values of regression trees set to their children's weighted mean";
    case TP_STRIP_THRESHOLDS: return "split thresholds lowered to the largest float32 not above them";
    case TP_STRIP_PRECISION: return "values of regression trees rounded to float32";
    }
    return NULL;
}

const char *tp_strip_cost(unsigned bit)
{
    switch (bit) {
    case TP_STRIP_IMPURITY: return "feature_importances_ no longer meaningful";
    case TP_STRIP_SAMPLES: return "n_node_samples, weighted_n_node_samples and feature_importances_ no longer meaningful";
    case TP_STRIP_STOP_WORDS: return "stop_words_ emptied, it was introspection only";
    case TP_STRIP_SPLIT_VALUES:
        return "predictions unchanged; export_text, plot_tree and explainers that read internal nodes see other values";
    case TP_STRIP_THRESHOLDS:
        return "predictions unchanged: the trees compare float32 inputs, which the float32 threshold splits the same way";
    case TP_STRIP_PRECISION: return "predictions of regression trees and boosting change (see the largest change)";
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
                           uint64_t (*frames)[2], size_t nframes, bytebuf *out)
{
    qsort(e, ne, sizeof *e, by_edit_offset);
    for (size_t i = 1; i < ne; i++)
        if (e[i].off < e[i - 1].off + e[i - 1].old_len)
            return ctx_fail(ctx, TP_E_INTERNAL, (int64_t)e[i].off, "two changes overlap");
    uint64_t pos = 0;
    for (size_t i = 0; i <= ne; i++) {
        uint64_t upto = i < ne ? e[i].off : len;
        bytebuf_append(out, in + pos, (size_t)(upto - pos));
        if (i < ne) {
            bytebuf_append(out, e[i].bytes, (size_t)e[i].new_len);
            pos = e[i].off + e[i].old_len;
        }
    }
    if (out->failed) return ctx_fail(ctx, TP_E_NOMEM, -1, "rewritten pickle");
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
            return ctx_fail(ctx, TP_E_INTERNAL, (int64_t)hdr, "a FRAME moved");
        store_le64(out->data + nh + 1, ne_ - nh - 9);
    }
    return TP_OK;
}

/* The parts that change a tree's columns rather than zero its fields. */
#define TREE_COLUMN_PARTS (TP_STRIP_SPLIT_VALUES | TP_STRIP_THRESHOLDS | TP_STRIP_PRECISION)

/* Zero the stripped fields of a tree's nodes (the struct bytes, decoded). */
static bool zero_fields(const found_tree *t, unsigned strip, unsigned policy, uint8_t *nodes)
{
    const node_layout *l = &t->layout;
    int fields[3], nf = 0;
    if ((strip & TP_STRIP_IMPURITY) && !(policy & POL_KEEP_IMPURITY) && l->f[NF_IMPURITY].present)
        fields[nf++] = NF_IMPURITY;
    if ((strip & TP_STRIP_SAMPLES) && l->f[NF_NSAMPLES].present) fields[nf++] = NF_NSAMPLES;
    if ((strip & TP_STRIP_SAMPLES) && !(policy & POL_KEEP_WEIGHTED) && l->f[NF_WEIGHTED].present)
        fields[nf++] = NF_WEIGHTED;
    bool touched = false;
    for (uint64_t i = 0; i < t->nodes.shape[0]; i++)
        for (int k = 0; k < nf; k++) {
            uint8_t *p = nodes + i * l->itemsize + l->f[fields[k]].offset;
            for (unsigned b = 0; b < l->f[fields[k]].size; b++) touched |= p[b] != 0;
            memset(p, 0, l->f[fields[k]].size);
        }
    return touched;
}

/* The largest float32 not above t (NaN as it is).  For a float32 x,
 * x <= t exactly when x <= that float32. */
static double float32_floor(double t)
{
    if (t != t) return t;
    float f = (float)t;
    if ((double)f > t) f = nextafterf(f, -INFINITY);
    return (double)f;
}

/* Children numbered after their parents, as sklearn's builders number
 * them: then a pass from the last node to the first sees both children
 * of a node before the node. */
static bool children_after_parents(const sktree *t)
{
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] != -1 && (t->left[i] <= (int64_t)i || t->right[i] <= (int64_t)i ||
                                 (uint64_t)t->left[i] >= t->n || (uint64_t)t->right[i] >= t->n))
            return false;
    return true;
}

/* split-values, thresholds and precision on a tree in columns. */
static void change_columns(sktree *t, unsigned strip, lossy_info *info)
{
    const uint64_t per = (uint64_t)t->n_outputs * t->n_classes;
    if (strip & TP_STRIP_THRESHOLDS)
        for (uint64_t i = 0; i < t->n; i++) {
            if (t->left[i] == -1) continue;
            double f = float32_floor(t->threshold[i]);
            if (f64_to_bits(f) != f64_to_bits(t->threshold[i])) t->threshold[i] = f, info->thresholds_lowered++;
        }
    /* values: regression trees only (class counts and fractions are what
     * predict_proba returns, and the codec stores them as counts) */
    if (t->n_classes != 1 || tree_values_are_counts(t)) return;
    bool split = (strip & TP_STRIP_SPLIT_VALUES) && children_after_parents(t);
    if (strip & TP_STRIP_PRECISION)
        for (uint64_t i = 0; i < t->n; i++) {
            if (split && t->left[i] != -1) continue; /* made from the leaves below */
            for (uint64_t e = 0; e < per; e++) {
                double v = t->values[i * per + e];
                if (!(fabs(v) <= FLT_MAX)) continue; /* NaN, infinities, what float32 cannot hold */
                double r = (double)(float)v;
                if (f64_to_bits(r) == f64_to_bits(v)) continue;
                if (fabs(r - v) > info->max_value_change) info->max_value_change = fabs(r - v);
                t->values[i * per + e] = r;
                info->values_rounded++;
            }
        }
    if (split)
        for (uint64_t i = t->n; i-- > 0;) {
            if (t->left[i] == -1) continue;
            for (uint64_t e = 0; e < per; e++) {
                double m = pred_canon(pred_mean(t, i, e));
                if (f64_to_bits(m) != f64_to_bits(t->values[i * per + e]))
                    t->values[i * per + e] = m, info->split_values_set++;
            }
        }
}

/* Every change --strip makes to one tree, on its struct bytes and value
 * bytes (decoded; values may be NULL when no part reads them).  Sets
 * what changed. */
static tp_code change_tree(tp_ctx *ctx, const found_tree *f, unsigned strip, unsigned policy, uint8_t *nodes,
                           uint8_t *values, lossy_info *info, bool *nodes_changed, bool *values_changed)
{
    *nodes_changed = zero_fields(f, strip, policy, nodes);
    info->trees_zeroed += *nodes_changed;
    *values_changed = false;
    if (!values) return TP_OK;
    sktree t;
    uint64_t nv_bytes = f->values.nbytes, nn_bytes = f->nodes.nbytes;
    uint8_t *nb = malloc((size_t)nn_bytes + 1), *vb = malloc((size_t)nv_bytes + 1);
    if (!nb || !vb || !tree_alloc(&t, f->nodes.shape[0], (uint32_t)f->values.shape[1],
                                     (uint32_t)f->values.shape[2], f->layout.rest_size)) {
        free(nb), free(vb);
        return ctx_fail(ctx, TP_E_NOMEM, (int64_t)f->offset, "a tree of %llu nodes",
                       (unsigned long long)f->nodes.shape[0]);
    }
    t.values_big = f->values.dtype.base.big;
    t.values_fortran = f->values.fortran;
    tree_from_bytes(&t, &f->layout, nodes, values);
    change_columns(&t, strip, info);
    tree_to_bytes(&t, &f->layout, nb, vb);
    if (memcmp(nb, nodes, (size_t)nn_bytes)) memcpy(nodes, nb, (size_t)nn_bytes), *nodes_changed = true;
    if (memcmp(vb, values, (size_t)nv_bytes)) memcpy(values, vb, (size_t)nv_bytes), *values_changed = true;
    tree_free(&t);
    free(nb), free(vb);
    return TP_OK;
}

/* A tree array's new bytes in P': a raw payload is copied over where it
 * lands once the edits are made; a text payload (protocols 0-2) becomes
 * an edit.  Takes bytes. */
typedef struct raw_patch {
    uint64_t off;   /* in P */
    uint8_t *bytes;
    uint64_t len;
} raw_patch;

static tp_code array_change(tp_ctx *ctx, const uint8_t *in, const npy_array *a, uint8_t *bytes, edit *e, size_t *ne,
                            raw_patch *rp, size_t *nrp)
{
    if (a->payload == PAY_RAW) {
        rp[(*nrp)++] = (raw_patch){a->data_off, bytes, a->nbytes};
        return TP_OK;
    }
    uint8_t *txt = malloc(npy_payload_max(a->payload, (size_t)a->nbytes) + 5);
    if (!txt) {
        free(bytes);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "tree array");
    }
    /* protocols 1-2: BINUNICODE, whose length goes too; protocol 0: UNICODE, newline-ended */
    uint64_t off = a->data_off, old = a->data_len;
    size_t tn = npy_payload_encode(a->payload, bytes, (size_t)a->nbytes, txt + 4);
    free(bytes);
    if (a->payload == PAY_LATIN1) {
        if (off < 5 || in[off - 5] != OP_BINUNICODE || load_le32(in + off - 4) != old || tn > UINT32_MAX) {
            free(txt);
            return ctx_fail(ctx, TP_E_INTERNAL, (int64_t)off, "a tree array in an unexpected text form");
        }
        store_le32(txt, (uint32_t)tn);
        e[(*ne)++] = (edit){off - 4, old + 4, txt, tn + 4};
    } else {
        memmove(txt, txt + 4, tn);
        e[(*ne)++] = (edit){off, old, txt, tn};
    }
    return TP_OK;
}

/* Decode a tree array into a buffer of its own. */
static tp_code array_copy(tp_ctx *ctx, const uint8_t *in, const npy_array *a, uint8_t **out)
{
    const uint8_t *p;
    uint8_t *owned;
    tp_code rc = npy_array_bytes(ctx, in, a, &p, &owned);
    if (rc) return rc;
    if (!owned) {
        if (!(owned = malloc((size_t)a->nbytes + 1))) return ctx_fail(ctx, TP_E_NOMEM, -1, "tree array");
        memcpy(owned, p, (size_t)a->nbytes);
    }
    *out = owned;
    return TP_OK;
}

/* Whether a tree is changed where it lies in P' (every array it changes
 * is a raw payload) rather than through edits. */
static bool tree_in_place(const found_tree *t, bool cols)
{
    return t->nodes.payload == PAY_RAW && (!cols || t->values.payload == PAY_RAW);
}

/* The trees that have a text payload: each tree's arrays decoded,
 * changed, and given back as edits (text payloads) or patches (raw
 * ones). */
static tp_code change_text_trees(tp_ctx *ctx, const uint8_t *in, const scan_result *scan, unsigned strip, unsigned policy,
                                 lossy_info *info, edit *e, size_t *ne, raw_patch *rp, size_t *nrp)
{
    const bool cols = strip & TREE_COLUMN_PARTS;
    for (size_t i = 0; i < scan->ntrees; i++) {
        const found_tree *t = &scan->trees[i];
        if (tree_in_place(t, cols)) continue;
        uint8_t *nodes = NULL, *values = NULL;
        bool nc, vc;
        tp_code rc = array_copy(ctx, in, &t->nodes, &nodes);
        if (!rc && cols) rc = array_copy(ctx, in, &t->values, &values);
        if (!rc) rc = change_tree(ctx, t, strip, policy, nodes, values, info, &nc, &vc);
        if (!rc && (nc || vc)) info->trees_stripped++;
        if (!rc && nc) rc = array_change(ctx, in, &t->nodes, nodes, e, ne, rp, nrp), nodes = NULL;
        if (!rc && vc) rc = array_change(ctx, in, &t->values, values, e, ne, rp, nrp), values = NULL;
        free(nodes), free(values);
        if (rc) return rc;
    }
    return TP_OK;
}

/* The other trees, in place in P' (out), where the edits moved them. */
static tp_code change_raw_trees(tp_ctx *ctx, const scan_result *scan, unsigned strip, unsigned policy,
                                lossy_info *info, const edit *e, size_t ne, bytebuf *out)
{
    const bool cols = strip & TREE_COLUMN_PARTS;
    for (size_t i = 0; i < scan->ntrees; i++) {
        const found_tree *t = &scan->trees[i];
        if (!tree_in_place(t, cols)) continue;
        uint8_t *nodes = out->data + new_pos(e, ne, t->nodes.data_off);
        uint8_t *values = cols ? out->data + new_pos(e, ne, t->values.data_off) : NULL;
        bool nc, vc;
        tp_code rc = change_tree(ctx, t, strip, policy, nodes, values, info, &nc, &vc);
        if (rc) return rc;
        if (nc || vc) info->trees_stripped++;
    }
    return TP_OK;
}

/* ---- HistGradientBoosting predictors -------------------------------------- */

/* A field of a predictor's node dtype, by name and kind ('f' float, 'i'
 * integer of any signedness); -1 when there is none. */
static int node_field(const npy_dtype *dt, const char *name, char kind)
{
    for (int f = 0; f < dt->nfields; f++) {
        const npy_scalar *t = &dt->fields[f].type;
        bool k = kind == 'f' ? t->kind == 'f' : (t->kind == 'i' || t->kind == 'u' || t->kind == 'b');
        if (!strcmp(dt->fields[f].name, name) && k && t->size <= 8 &&
            (uint64_t)dt->fields[f].offset + t->size <= dt->base.size)
            return f;
    }
    return -1;
}

/* What no prediction of a predictor reads (sklearn's _predictor.pyx walks
 * feature_idx, num_threshold, missing_go_to_left, is_categorical,
 * bitset_idx, left and right to a leaf and returns its value): gain
 * (impurity), count (samples), the values of internal nodes
 * (split-values), set to 0.  Returns whether a byte changed. */
static bool change_predictor(const found_records *r, unsigned strip, uint8_t *nodes, lossy_info *info)
{
    const npy_dtype *dt = &r->arr.dtype;
    const uint32_t isz = dt->base.size;
    const int gain = strip & TP_STRIP_IMPURITY ? node_field(dt, "gain", 'f') : -1;
    const int count = strip & TP_STRIP_SAMPLES ? node_field(dt, "count", 'i') : -1;
    const int value = strip & TP_STRIP_SPLIT_VALUES ? node_field(dt, "value", 'f') : -1;
    const int leaf = node_field(dt, "is_leaf", 'i');
    bool touched = false;
    for (uint64_t i = 0; i < r->arr.shape[0]; i++) {
        uint8_t *rec = nodes + i * isz;
        const int fs[2] = {gain, count};
        for (int k = 0; k < 2; k++) {
            if (fs[k] < 0) continue;
            uint8_t *p = rec + dt->fields[fs[k]].offset;
            for (unsigned b = 0; b < dt->fields[fs[k]].type.size; b++) touched |= p[b] != 0, p[b] = 0;
        }
        if (value < 0 || leaf < 0) continue;
        bool is_leaf = false;
        for (unsigned b = 0; b < dt->fields[leaf].type.size; b++) is_leaf |= rec[dt->fields[leaf].offset + b] != 0;
        if (is_leaf) continue;
        uint8_t *p = rec + dt->fields[value].offset;
        bool nz = false;
        for (unsigned b = 0; b < dt->fields[value].type.size; b++) nz |= p[b] != 0, p[b] = 0;
        if (nz) info->split_values_set++, touched = true;
    }
    return touched;
}

/* The parts a predictor can lose. */
#define PREDICTOR_PARTS (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES | TP_STRIP_SPLIT_VALUES)

/* Predictors with a text payload: decoded, changed, given back as edits. */
static tp_code change_text_predictors(tp_ctx *ctx, const uint8_t *in, const scan_result *scan, unsigned strip,
                                      lossy_info *info, edit *e, size_t *ne, raw_patch *rp, size_t *nrp)
{
    for (size_t i = 0; i < scan->nrecords; i++) {
        const found_records *r = &scan->records[i];
        if (r->plain || r->arr.payload == PAY_RAW) continue;
        uint8_t *nodes = NULL;
        tp_code rc = array_copy(ctx, in, &r->arr, &nodes);
        if (rc) return rc;
        if (change_predictor(r, strip, nodes, info)) {
            info->trees_stripped++;
            info->predictors_zeroed++;
            if ((rc = array_change(ctx, in, &r->arr, nodes, e, ne, rp, nrp))) return rc;
        } else {
            free(nodes);
        }
    }
    return TP_OK;
}

/* The others, in place in P'. */
static void change_raw_predictors(const scan_result *scan, unsigned strip, lossy_info *info, const edit *e, size_t ne,
                                  bytebuf *out)
{
    for (size_t i = 0; i < scan->nrecords; i++) {
        const found_records *r = &scan->records[i];
        if (r->plain || r->arr.payload != PAY_RAW) continue;
        if (change_predictor(r, strip, out->data + new_pos(e, ne, r->arr.data_off), info)) {
            info->trees_stripped++;
            info->predictors_zeroed++;
        }
    }
}

tp_code lossy_transform(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, int exact,
                           unsigned strip, unsigned policy, bytebuf *out, lossy_info *info, bool *changed)
{
    memset(info, 0, sizeof *info);
    *changed = false;
    const bool where_safe = strip & TP_STRIP_WHERE_SAFE;
    strip &= ~TP_STRIP_WHERE_SAFE;
    info->exact = exact;
    info->policy = policy & ((strip & TP_STRIP_IMPURITY ? POL_KEEP_IMPURITY : 0) |
                             (strip & TP_STRIP_SAMPLES ? POL_KEEP_WEIGHTED : 0));
    policy = info->policy;
    /* impurity kept (the smaller file): then it is not stripped at all */
    if (policy & POL_KEEP_IMPURITY) strip &= ~TP_STRIP_IMPURITY;
    info->source_size = len;
    checksum128(in, len, info->source_checksum);
    scan_result scan;
    tp_code rc = scan_run(ctx, in, len, lim, &scan);
    if (rc) return rc;
    /* a tree changes at most two arrays: an edit or a patch each */
    edit *e = calloc(2 * scan.ntrees + scan.nrecords + scan.nvocabs + 1, sizeof *e);
    size_t ne = 0;
    raw_patch *rp = calloc(2 * scan.ntrees + scan.nrecords + 1, sizeof *rp);
    size_t nrp = 0;
    bytebuf gen = {0};
    if (!e || !rp) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "changes");
        goto done;
    }
    if ((strip & TP_STRIP_SAMPLES) && scan.has_iforest) {
        if (where_safe) {
            strip &= ~TP_STRIP_SAMPLES;
            info->policy |= POL_SAMPLES_LEFT_OUT;
        } else {
            rc = ctx_fail(ctx, TP_E_USAGE, -1,
                         "--strip samples would change what an IsolationForest predicts (its scores read "
                         "n_node_samples); leave samples out");
            goto done;
        }
    }
    const bool trees = strip & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES | TREE_COLUMN_PARTS);
    if (trees && (rc = change_text_trees(ctx, in, &scan, strip, policy, info, e, &ne, rp, &nrp))) goto done;
    const bool predictors = (strip & PREDICTOR_PARTS) && scan.nrecords;
    if (predictors && (rc = change_text_predictors(ctx, in, &scan, strip, info, e, &ne, rp, &nrp))) goto done;
    /* vocabularies */
    for (size_t i = 0; i < scan.nvocabs; i++) {
        found_vocab *f = &scan.vocabs[i];
        if (!f->owner_known || f->referenced) continue;
        vocabulary *v = &f->v;
        uint64_t old = v->stream_len;
        bool drop = (strip & TP_STRIP_STOP_WORDS) && v->role == ROLE_STOP_WORDS;
        if (drop) {
            uint64_t terms = v->n;
            if ((rc = vocab_empty(ctx, v))) goto done;
            info->stop_words_dropped += terms;
            info->stripped |= TP_STRIP_STOP_WORDS;
        } else if (exact == TP_EXACT_MODEL && v->role != ROLE_FEATURE_NAMES && !v->ngets && !vocab_is_sorted(v)) {
            /* feature_names_ is a list whose order is the column order: never sorted */
            if ((rc = vocab_unframe(ctx, v))) goto done;
            if (!vocab_sort(v)) continue; /* frames are gone from the model, but nothing is written */
            info->vocabularies_sorted++;
        } else {
            continue;
        }
        gen.len = 0;
        if ((rc = vocab_generate(ctx, v, &gen))) goto done;
        uint8_t *b = malloc(gen.len + 1);
        if (!b) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary");
            goto done;
        }
        memcpy(b, gen.data, gen.len);
        e[ne++] = (edit){f->offset, old, b, gen.len};
    }
    if (!ne && !nrp && !(trees && scan.ntrees) && !predictors) goto done;
    if ((rc = apply_edits(ctx, in, len, e, ne, scan.frames, scan.nframes, out))) goto done;
    /* raw tree payloads: copied over, or changed, where they now are */
    for (size_t k = 0; k < nrp; k++) memcpy(out->data + new_pos(e, ne, rp[k].off), rp[k].bytes, (size_t)rp[k].len);
    if (trees && (rc = change_raw_trees(ctx, &scan, strip, policy, info, e, ne, out))) goto done;
    if (predictors) change_raw_predictors(&scan, strip, info, e, ne, out);
    /* a part is stripped only where there was something to strip */
    if (info->trees_zeroed || info->predictors_zeroed) info->stripped |= strip & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES);
    if (info->split_values_set) info->stripped |= TP_STRIP_SPLIT_VALUES;
    if (info->thresholds_lowered) info->stripped |= TP_STRIP_THRESHOLDS;
    if (info->values_rounded) info->stripped |= TP_STRIP_PRECISION;
    *changed = ne > 0 || nrp > 0 || info->trees_stripped > 0;
done:
    for (size_t i = 0; i < ne; i++) free(e[i].bytes);
    free(e);
    for (size_t k = 0; k < nrp; k++) free(rp[k].bytes);
    free(rp);
    bytebuf_free(&gen);
    scan_free(&scan);
    return rc;
}

/* Version 2 added the counts of the tree parts and the largest change;
 * a version-1 section reads with them 0. */
#define LOSSY_VERSION 2

void lossy_write(const lossy_info *info, bytebuf *out)
{
    bytebuf_u8(out, LOSSY_VERSION);
    bytebuf_u8(out, (uint8_t)info->exact);
    bytebuf_varint(out, info->stripped);
    bytebuf_varint(out, info->policy);
    bytebuf_varint(out, info->source_size);
    bytebuf_append(out, info->source_checksum, 16);
    bytebuf_varint(out, info->trees_stripped);
    bytebuf_varint(out, info->vocabularies_sorted);
    bytebuf_varint(out, info->stop_words_dropped);
    bytebuf_varint(out, info->split_values_set);
    bytebuf_varint(out, info->thresholds_lowered);
    bytebuf_varint(out, info->values_rounded);
    bytebuf_varint(out, f64_to_bits(info->max_value_change));
}

tp_code lossy_read(tp_ctx *ctx, const uint8_t *data, size_t len, lossy_info *info)
{
    memset(info, 0, sizeof *info);
    cursor c = cursor_make(data, len);
    uint8_t version = cursor_u8(&c);
    info->exact = cursor_u8(&c);
    uint64_t stripped = cursor_varint(&c);
    uint64_t policy = cursor_varint(&c);
    info->source_size = cursor_varint(&c);
    const uint8_t *sum = cursor_take(&c, 16);
    info->trees_stripped = cursor_varint(&c);
    info->vocabularies_sorted = cursor_varint(&c);
    info->stop_words_dropped = cursor_varint(&c);
    if (version >= 2) {
        info->split_values_set = cursor_varint(&c);
        info->thresholds_lowered = cursor_varint(&c);
        info->values_rounded = cursor_varint(&c);
        info->max_value_change = bits_to_f64(cursor_varint(&c));
    }
    if (c.bad || version < 1 || version > LOSSY_VERSION || info->exact > TP_EXACT_MODEL ||
        stripped & ~(uint64_t)TP_STRIP_ALL || policy & ~(uint64_t)POL_ALL || cursor_left(&c) ||
        !(info->max_value_change >= 0.0 && info->max_value_change <= DBL_MAX))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the lossy-mode section is malformed");
    info->stripped = (unsigned)stripped;
    info->policy = (unsigned)policy;
    memcpy(info->source_checksum, sum, 16);
    return TP_OK;
}

void lossy_report(const lossy_info *info, tp_report *rep)
{
    rep->exact_mode = info->exact;
    rep->stripped = info->stripped;
    rep->strip_kept = (info->policy & POL_KEEP_IMPURITY ? TP_KEPT_IMPURITY : 0) |
                      (info->policy & POL_KEEP_WEIGHTED ? TP_KEPT_WEIGHTED : 0) |
                      (info->policy & POL_SAMPLES_LEFT_OUT ? TP_KEPT_SAMPLES : 0);
    rep->source_size = info->source_size;
    memcpy(rep->source_checksum, info->source_checksum, 16);
    rep->trees_stripped = info->trees_stripped;
    rep->vocabularies_sorted = info->vocabularies_sorted;
    rep->stop_words_dropped = info->stop_words_dropped;
    rep->split_values_set = info->split_values_set;
    rep->thresholds_lowered = info->thresholds_lowered;
    rep->values_rounded = info->values_rounded;
    rep->max_value_change = info->max_value_change;
}
