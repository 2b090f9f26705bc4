/*
 * locate.c - find Tree states and their payloads.
 */
#include <stdio.h>
#include <stdlib.h>

#include "numpy/joblib.h"
#include "sklearn/locate.h"
#include "safety/verdict.h"

void scan_free(scan_result *s)
{
    free(s->trees);
    free(s->records);
    found_vocabs_free(s->vocabs, s->nvocabs);
    free(s->frames);
    free(s->puts);
    memset(s, 0, sizeof *s);
}

/* Outcome of looking at one object. */
enum { NOT_A_TREE, TREE_OK, TREE_VERBATIM };

static bool fields_overlap(const npy_dtype *dt)
{
    for (int i = 0; i < dt->nfields; i++)
        for (int j = i + 1; j < dt->nfields; j++) {
            const npy_field *a = &dt->fields[i], *b = &dt->fields[j];
            if ((uint64_t)a->offset < (uint64_t)b->offset + b->type.size &&
                (uint64_t)b->offset < (uint64_t)a->offset + a->type.size)
                return true;
        }
    return false;
}

/* Tree(n_features, n_classes, n_outputs): values must be shaped
 * (nodes, n_outputs, max(n_classes)), and n_classes hold n_outputs
 * counts.  sklearn does not check this and reads past its arrays. */
static bool check_outputs(tp_ctx *ctx, const pv_vm *vm, const pv_obj *o, const pv_seq *args, const found_tree *t,
                          tp_code *rc)
{
    int64_t n_outputs;
    if (!pv_int(args->items[2], &n_outputs)) return true;
    const npy_array *v = &t->values;
    if (n_outputs < 1 || (uint64_t)n_outputs != v->shape[1]) {
        *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset, "Tree has %lld outputs but values has shape (%llu, %llu, %llu)",
                      (long long)n_outputs, (unsigned long long)v->shape[0], (unsigned long long)v->shape[1],
                      (unsigned long long)v->shape[2]);
        return false;
    }
    npy_array nc;
    if (!npy_array_parse(vm, args->items[1], &nc) || nc.payload != PAY_RAW || nc.dtype.nfields ||
        nc.dtype.base.kind != 'i' || nc.dtype.base.size != 8 || nc.dtype.base.big || nc.ndim != 1)
        return true; /* not in a form this reader checks */
    int64_t max = 0;
    for (uint64_t i = 0; i < nc.count; i++) {
        int64_t k = (int64_t)load_le64(vm->data + nc.data_off + 8 * i);
        if (k > max) max = k;
    }
    if (nc.count != (uint64_t)n_outputs || (uint64_t)max != v->shape[2]) {
        *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset,
                      "Tree has %llu class counts (at most %lld) for %lld outputs, values has shape (%llu, %llu, %llu)",
                      (unsigned long long)nc.count, (long long)max, (long long)n_outputs,
                      (unsigned long long)v->shape[0], (unsigned long long)v->shape[1], (unsigned long long)v->shape[2]);
        return false;
    }
    return true;
}

static int examine(tp_ctx *ctx, const pv_vm *vm, const pv_obj *o, found_tree *t, tp_code *rc,
                   const char **why)
{
    *rc = TP_OK;
    *why = "";
    if (o->how != HOW_REDUCE || !pv_is_global(vm, o->callable, "sklearn.tree._tree", "Tree")) return NOT_A_TREE;
    memset(t, 0, sizeof *t);
    t->offset = o->offset;
    const pv_seq *args = pv_seq_of(vm, o->args);
    *why = "it is not Tree(n_features, n_classes, n_outputs) with one BUILD";
    if (o->builds != 1 || !args || args->n != 3 || !pv_int(args->items[0], &t->n_features)) return TREE_VERBATIM;
    /* sklearn reads the state by str keys: a key of another kind could be
     * equal to one of them in Python (numpy.str_) and hold the array
     * sklearn takes, one this reader would not have checked */
    const pv_seq *st = pv_seq_of(vm, o->state);
    for (size_t i = 0; st && st->kind == PV_DICT && i < st->n; i += 2)
        if (st->items[i].kind != PV_STR) {
            *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset, "a Tree state with a key that is not a str");
            return TREE_VERBATIM;
        }
    const pv *nodes = pv_dict_get(vm, o->state, "nodes");
    const pv *values = pv_dict_get(vm, o->state, "values");
    const pv *count = pv_dict_get(vm, o->state, "node_count");
    int64_t node_count;
    *why = "its state lacks nodes, values or node_count";
    if (!nodes || !values || !count || !pv_int(*count, &node_count)) return TREE_VERBATIM;
    *why = "its nodes or values are not arrays this reader can splice";
    if (!npy_array_parse(vm, *nodes, &t->nodes) || !npy_array_parse(vm, *values, &t->values)) {
        /* numpy itself would refuse these arrays on load */
        if (t->nodes.impossible || t->values.impossible)
            *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset, "the %s array's shape does not fit its bytes",
                          t->nodes.impossible ? "nodes" : "values");
        return TREE_VERBATIM;
    }
    *why = "its nodes dtype is not a node layout";
    if (t->nodes.ndim != 1) return TREE_VERBATIM;
    if (!node_layout_from_dtype(&t->nodes.dtype, &t->layout)) {
        /* A node dtype without the fields a Tree needs stays in the
         * skeleton; one whose fields overlap cannot be a Tree's at all. */
        if (fields_overlap(&t->nodes.dtype))
            *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset, "the node dtype has overlapping fields");
        return TREE_VERBATIM;
    }
    const npy_array *v = &t->values;
    *why = "its values are not float64";
    if (v->dtype.nfields || v->dtype.base.kind != 'f' || v->dtype.base.size != 8) return TREE_VERBATIM;
    if (t->nodes.fortran && t->nodes.ndim > 1) return TREE_VERBATIM;

    /* From here on the state is a Tree's: inconsistencies are errors,
     * as sklearn would crash on them later. */
    if (node_count < 0 || (uint64_t)node_count != t->nodes.shape[0]) {
        *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset, "node_count is %lld but the nodes array holds %llu",
                      (long long)node_count, (unsigned long long)t->nodes.shape[0]);
        return TREE_VERBATIM;
    }
    if (v->ndim != 3 || v->shape[0] != t->nodes.shape[0] || v->shape[1] == 0 || v->shape[2] == 0 ||
        v->shape[1] > UINT32_MAX || v->shape[2] > UINT32_MAX) {
        *rc = ctx_fail(ctx, TP_E_TREE, (int64_t)o->offset,
                      "values has shape (%llu, %llu, %llu) for %llu nodes", (unsigned long long)v->shape[0],
                      (unsigned long long)(v->ndim > 1 ? v->shape[1] : 0),
                      (unsigned long long)(v->ndim > 2 ? v->shape[2] : 0), (unsigned long long)t->nodes.shape[0]);
        return TREE_VERBATIM;
    }
    return check_outputs(ctx, vm, o, args, t, rc) ? TREE_OK : TREE_VERBATIM;
}

static int by_offset(const void *a, const void *b)
{
    const found_tree *x = a, *y = b;
    return x->nodes.data_off < y->nodes.data_off ? -1 : x->nodes.data_off > y->nodes.data_off;
}

/* Each payload must belong to one array only: a crafted pickle can hand
 * the same bytes (through the memo) to two trees.  Keep the first. */
static size_t drop_overlaps(found_tree *t, size_t n)
{
    typedef struct {
        uint64_t off, end;
        size_t tree;
    } range;
    range *r = malloc(2 * n * sizeof *r + 1);
    bool *drop = calloc(n + 1, 1);
    if (!r || !drop) {
        free(r);
        free(drop);
        return SIZE_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        r[2 * i] = (range){t[i].nodes.data_off, t[i].nodes.data_off + t[i].nodes.data_len, i};
        r[2 * i + 1] = (range){t[i].values.data_off, t[i].values.data_off + t[i].values.data_len, i};
    }
    /* insertion sort is fine: payloads almost always come in order */
    for (size_t i = 1; i < 2 * n; i++) {
        range x = r[i];
        size_t j = i;
        while (j > 0 && r[j - 1].off > x.off) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
    uint64_t end = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        if (drop[r[i].tree]) continue;
        if (i > 0 && r[i].off < end) drop[r[i].tree] = true;
        else end = r[i].end;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop[i]) t[k++] = t[i];
    free(r);
    free(drop);
    return n - k;
}

/* A vocabulary range never holds an array payload in a real pickle; in a
 * crafted one the arrays win. */
static void drop_vocab_overlaps(scan_result *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nvocabs; i++) {
        uint64_t a = s->vocabs[i].offset, b = a + s->vocabs[i].v.stream_len;
        bool hit = false;
        for (size_t t = 0; t < s->ntrees && !hit; t++) {
            const npy_array *arr[2] = {&s->trees[t].nodes, &s->trees[t].values};
            for (int w = 0; w < 2; w++)
                hit |= arr[w]->data_off < b && a < arr[w]->data_off + arr[w]->data_len;
        }
        for (size_t r = 0; r < s->nrecords && !hit; r++)
            hit = s->records[r].arr.data_off < b && a < s->records[r].arr.data_off + s->records[r].arr.data_len;
        if (hit) vocab_free(&s->vocabs[i].v);
        else s->vocabs[k++] = s->vocabs[i];
    }
    s->nvocabs = k;
}

/* Whether t's nodes are a node array the expander wrote from a tree its
 * decoder proved valid (proven_list).  The proof holds for these bytes as
 * the check reads them only if the check reads the very values that were
 * proven: the same bytes (offset and length, hence the node count), the
 * child and feature fields at the same places, 8 bytes wide (nothing was
 * cut when they were written) and of the same byte order, and the same
 * n_features.  Anything else is checked as usual. */
static bool proven(const proven_list *p, const found_tree *t)
{
    if (!p || !p->n || t->nodes.payload != PAY_RAW || t->n_features < 1) return false;
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].offset < t->nodes.data_off) lo = mid + 1;
        else hi = mid;
    }
    if (lo == p->n) return false;
    const proven_nodes *e = &p->v[lo];
    if (e->offset != t->nodes.data_off || e->len != t->nodes.data_len || e->n_features != t->n_features ||
        e->layout->itemsize != t->layout.itemsize)
        return false;
    for (int k = 0; k < 3; k++) {
        int f = structure_fields[k];
        const field_layout *a = &e->layout->f[f], *b = &t->layout.f[f];
        if (!a->present || !b->present || a->size != 8 || b->size != 8 || a->offset != b->offset || a->big != b->big ||
            a->is_float || b->is_float)
            return false;
    }
    return true;
}

tp_code found_tree_check(tp_ctx *ctx, const uint8_t *in, const found_tree *f, char *why, size_t why_len)
{
    why[0] = 0;
    if (f->n_features < 1) {
        snprintf(why, why_len, "Tree declares %lld features", (long long)f->n_features);
        return TP_OK;
    }
    const npy_array *arr[2] = {&f->nodes, &f->values};
    const uint8_t *bytes[2];
    uint8_t *owned[2] = {NULL, NULL};
    tp_code rc = npy_array_bytes(ctx, in, &f->nodes, &bytes[0], &owned[0]);
    /* A tree as sklearn writes it is proven on its records where they
     * lie; only one that is not gets columns and the full walk. */
    if (!rc && nodes_quick_valid(&f->layout, bytes[0], f->nodes.shape[0], f->n_features)) {
        free(owned[0]);
        return TP_OK;
    }
    if (!rc) rc = npy_array_bytes(ctx, in, arr[1], &bytes[1], &owned[1]);
    sktree t;
    if (!rc && !tree_alloc(&t, f->nodes.shape[0], (uint32_t)f->values.shape[1], (uint32_t)f->values.shape[2],
                              f->layout.rest_size))
        rc = ctx_fail(ctx, TP_E_NOMEM, (int64_t)f->offset, "a tree of %llu nodes", (unsigned long long)f->nodes.shape[0]);
    else if (!rc) {
        t.values_big = f->values.dtype.base.big;
        t.values_fortran = f->values.fortran;
        tree_from_bytes(&t, &f->layout, bytes[0], bytes[1]);
        tree_validate(&t, f->n_features, why, why_len);
        tree_free(&t);
    }
    free(owned[0]);
    free(owned[1]);
    return rc;
}

/* Plain numeric arrays smaller than this stay in the skeleton; those of
 * a cv_results_ dict from this size, as their means and deviations need
 * nothing but the splits' scores (128 candidates). */
#define PLAIN_ARRAY_MIN 4096
#define CV_ARRAY_MIN 1024

/* One pass of the interpreter over the whole input, then the objects.
 * trees_only: what checking an expanded pickle needs (its trees, and its
 * imports and calls in *sites); no records, plain arrays, vocabularies or
 * inventory, which only compress and inspect use. */
static tp_code scan_once(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                         unsigned reading, bool trees_only, jl_stats *stats, tp_inspection *sites, const proven_list *pr)
{
    const tp_limits *lim = opt ? &opt->limits : NULL;
    const bool joblib = reading == TP_LOADER_JOBLIB;
    memset(out, 0, sizeof *out);
    memset(stats, 0, sizeof *stats);
    if (len == 0) return ctx_fail(ctx, TP_E_EMPTY, -1, "the file has no bytes");
    pv_vm vm;
    pv_vm_init(&vm, ctx, data, len, lim);
    hgb_params *hgb = NULL;
    npy_memo memo;
    memset(&memo, 0, sizeof memo);
    vm.skip_gets = trees_only; /* only vocabularies read them */
    vm.log_puts = !trees_only; /* only the skeleton's writer reads them */
    if (joblib) {
        vm.build_hook = jl_build_hook;
        vm.hook_opaque = stats;
    } else {
        vm.lax_frames = true; /* CPython's C unpickler */
    }
    tp_code rc;
    do {
        if ((rc = pv_vm_run(&vm))) goto done;
        out->npickles++;
        /* Several pickles may be written one after another; anything
         * else after the final STOP is refused rather than dropped. */
        if (vm.pos < len && data[vm.pos] != OP_PROTO) {
            rc = ctx_fail(ctx, TP_E_TRAILING_DATA, (int64_t)vm.pos, "%zu bytes follow the final STOP",
                         len - vm.pos);
            goto done;
        }
    } while (vm.pos < len);
    out->protocol = vm.max_proto;
    npy_memo_attach(&vm, &memo, !trees_only); /* a check reads each array once */

    size_t cap = 0, rcap = 0;
    /* the learning rate and L2 of each predictor's estimator */
    if (!trees_only && vm.nobjs) {
        if (!(hgb = calloc(vm.nobjs, sizeof *hgb))) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "array list");
            goto done;
        }
        records_hgb_params(&vm, hgb);
    }
    for (size_t i = 0; i < vm.nobjs; i++) {
        found_tree t;
        const char *why;
        int kind = examine(ctx, &vm, &vm.objs[i], &t, &rc, &why);
        if (rc) goto done;
        if (kind == TREE_VERBATIM) {
            out->nverbatim++;
            inventory_note(&out->inv, "Tree", vm.objs[i].offset, why);
        }
        if (kind == NOT_A_TREE && !trees_only) {
            /* HistGradientBoosting: the predictor's structured node array */
            found_records r;
            int rk = records_examine(&vm, &vm.objs[i], &r, &why);
            if (rk < 0) {
                out->inv.predictors_verbatim++;
                inventory_note(&out->inv, "TreePredictor", vm.objs[i].offset, why);
            } else if (rk > 0) {
                r.hgb = hgb[i];
                if (!array_push((void **)&out->records, &out->nrecords, &rcap, &r, sizeof r)) {
                    rc = ctx_fail(ctx, TP_E_NOMEM, -1, "array list");
                    goto done;
                }
            }
        }
        if (kind != TREE_OK) continue;
        if (trees_only) {
            /* a check: each tree judged here, the first problem kept for
             * after the verdict on imports; no list of ~2 KB entries */
            char why_bad[sizeof out->bad_tree_why];
            why_bad[0] = 0;
            if (!proven(pr, &t) && (rc = found_tree_check(ctx, data, &t, why_bad, sizeof why_bad))) goto done;
            if (why_bad[0] && !out->bad_tree_why[0]) {
                out->bad_tree = out->ntrees_checked;
                out->bad_tree_offset = t.offset;
                memcpy(out->bad_tree_why, why_bad, sizeof why_bad);
            }
            out->ntrees_checked++;
            continue;
        }
        if (!array_push((void **)&out->trees, &out->ntrees, &cap, &t, sizeof t)) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "tree list");
            goto done;
        }
    }
    /* plain numeric arrays of some size (TfidfTransformer's idf diagonal,
     * coefficients, ...): one column each, so that deltas and byte planes
     * apply; a tree's own arrays are dropped again by the settling below */
    /* HistGradientBoosting's bin thresholds, whatever their size: the
     * predictors' split values refer to them (codec/records_section.h) */
    uint32_t *thr = NULL, nmappers = 0;
    if (!trees_only && !(thr = calloc(2 * (size_t)vm.nobjs + 1, sizeof *thr))) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "array list");
        goto done;
    }
    for (size_t i = 0; i < vm.nobjs && !trees_only; i++) {
        const pv_seq *list;
        if (!records_bin_thresholds(&vm, &vm.objs[i], &list)) continue;
        nmappers++;
        for (uint32_t f = 0; f < list->n; f++)
            if (list->items[f].kind == PV_OBJECT && list->items[f].ref < vm.nobjs && !thr[2 * list->items[f].ref]) {
                thr[2 * list->items[f].ref] = nmappers;
                thr[2 * list->items[f].ref + 1] = f;
            }
    }
    /* a search's cv_results_: means, deviations and ranks of its scores
     * follow from the splits' scores, when these are records too */
    cv_mark *cv = NULL;
    if (!trees_only && vm.nobjs) {
        if (!(cv = calloc(vm.nobjs, sizeof *cv))) {
            free(thr);
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "array list");
            goto done;
        }
        records_cv_marks(&vm, cv);
    }
    for (size_t i = 0; i < vm.nobjs && !trees_only; i++) {
        found_records r;
        memset(&r, 0, sizeof r);
        pv v = {.kind = PV_OBJECT, .ref = (uint32_t)i};
        const bool in_cv = cv[i].role != CV_NONE;
        if (!npy_array_parse(&vm, v, &r.arr) || r.arr.dtype.nfields ||
            (r.arr.nbytes < (in_cv ? CV_ARRAY_MIN : PLAIN_ARRAY_MIN) && !thr[2 * i]))
            continue;
        r.thr_group = thr[2 * i];
        r.thr_feature = thr[2 * i + 1];
        if (in_cv) r.cv = cv[i];
        const npy_scalar *b = &r.arr.dtype.base;
        if ((b->kind != 'i' && b->kind != 'u' && b->kind != 'f') || (b->size != 1 && b->size != 2 && b->size != 4 && b->size != 8))
            continue;
        r.offset = vm.objs[i].offset;
        r.plain = true;
        r.arr.ndim = 1;
        r.arr.shape[0] = r.arr.count;
        r.layout.itemsize = b->size;
        r.layout.ncols = 1;
        r.layout.width[0] = b->size;
        r.layout.type[0] = b->kind == 'f' ? (b->big ? REC_FLOAT_BE : REC_FLOAT_LE) : (b->big ? REC_INT_BE : REC_INT_LE);
        if (!array_push((void **)&out->records, &out->nrecords, &rcap, &r, sizeof r)) {
            free(thr), free(cv);
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "array list");
            goto done;
        }
    }
    free(thr), free(cv);
    if (trees_only) goto done; /* no list: the trees were checked above */
    if (out->ntrees) qsort(out->trees, out->ntrees, sizeof *out->trees, by_offset);
    size_t dropped = drop_overlaps(out->trees, out->ntrees);
    if (dropped == SIZE_MAX) {
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "payload table");
        goto done;
    }
    out->ntrees -= dropped;
    out->nverbatim += dropped;
    if ((rc = records_settle(ctx, out))) goto done;
    if ((rc = vocab_find(ctx, &vm, data, len, &out->vocabs, &out->nvocabs))) goto done;
    drop_vocab_overlaps(out);
    out->frames = vm.frames;
    out->nframes = vm.nframes;
    vm.frames = NULL;
    vm.nframes = 0;
    out->puts = vm.puts;
    out->nputs = vm.nputs;
    vm.puts = NULL;
    vm.nputs = 0;
    for (size_t i = 0; i < vm.nglobals && !out->has_iforest; i++) {
        pv g = {.kind = PV_GLOBAL, .ref = (uint32_t)i};
        out->has_iforest = pv_is_global(&vm, g, "sklearn.ensemble._iforest|sklearn.ensemble.iforest", "IsolationForest");
    }
    inventory_count_arrays(&vm, &out->inv);
    out->inv.nested_pickles = stats->nested;
    out->inv.trees_verbatim = out->nverbatim;
    out->inv.predictors = 0;
    for (size_t i = 0; i < out->nrecords; i++) out->inv.predictors += !out->records[i].plain;
    out->inv.arrays_columnar = 2 * out->ntrees + out->nrecords;
done:
    /* What the interpreter saw, also when it stopped part way: a pickle
     * that fails to load has run its imports before failing. */
    if (sites && verdict_collect(&vm, opt, sites, !trees_only, reading) && !rc)
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables");
    npy_memo_free(&vm, &memo);
    pv_vm_free(&vm);
    free(hgb);
    if (rc) scan_free(out);
    return rc;
}

/* Where a reading that stopped with this error would have stopped in
 * CPython too, so that what it met before is all a loader runs: a byte
 * that is no opcode, the end of the input, bytes after a STOP (a load
 * returns there), and the errors CPython's unpickler raises at the same
 * opcode (stack underflow, no MARK, no such memo entry, a protocol above
 * 5, an out-of-band buffer, and the wrong kinds of value: STACK_GLOBAL of
 * no str, arguments that are no tuple, APPEND to an int).  Not: a GLOBAL
 * or INST cut by the end (CPython imports the module of a name it reads
 * short), text this reader parses more strictly than CPython (numbers,
 * UTF-8), and this reader's own limits. */
static bool loader_stops_there(const tp_ctx *c, const uint8_t *data, size_t len)
{
    switch (c->code) {
    case TP_E_UNKNOWN_OPCODE:
    case TP_E_NO_STOP:
    case TP_E_TRAILING_DATA:
    case TP_E_STACK_UNDERFLOW:
    case TP_E_NO_MARK:
    case TP_E_MEMO_MISSING:
    case TP_E_PROTOCOL:
    case TP_E_OUT_OF_BAND:
    case TP_E_TYPE: return true;
    case TP_E_TRUNCATED:
        return c->offset >= 0 && (uint64_t)c->offset < len && data[c->offset] != OP_GLOBAL &&
               data[c->offset] != OP_INST;
    default: return false;
    }
}

static tp_code note_reading(tp_ctx *ctx, tp_inspection *sites, const tp_ctx *stop, unsigned reading)
{
    const char *why = reading == TP_LOADER_PICKLE
                          ? "pickle.load reads the raw array bytes after a NumpyArrayWrapper as opcodes, and this "
                            "reader cannot follow them where pickle.load would go on (it stops here)"
                          : "joblib.load reads the bytes after a NumpyArrayWrapper as array data, and this reader "
                            "cannot follow the file where joblib.load would go on (it stops here)";
    if (sites && verdict_note(sites, "(reading)", stop->offset >= 0 ? (uint64_t)stop->offset : 0, why, reading))
        return ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables");
    return TP_OK;
}

/* joblib.load and pickle.load read a file alike until the first
 * NumpyArrayWrapper: joblib.load then skips the raw array bytes that
 * joblib.dump wrote after it, pickle.load reads them as opcodes.  Both may
 * be used on any file, so a file with a wrapper is read both ways; the
 * verdict covers what either would do (each reading must run to the end
 * or stop where the loader would), and the scan is the joblib reading's,
 * or, for a plain pickle that merely holds a wrapper, the other's. */
static tp_code scan(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                    bool trees_only, tp_inspection *sites, const proven_list *pr)
{
    jl_stats stats;
    tp_code rc = scan_once(ctx, data, len, opt, out, TP_LOADER_JOBLIB, trees_only, &stats, sites, pr);
    if (!stats.wrappers) {
        for (size_t i = 0; sites && i < sites->nimports; i++) sites->imports[i].loaders = TP_LOADER_PICKLE | TP_LOADER_JOBLIB;
        for (size_t i = 0; sites && i < sites->ncalls; i++) sites->calls[i].loaders = TP_LOADER_PICKLE | TP_LOADER_JOBLIB;
        return rc;
    }
    tp_ctx jstop = *ctx;
    ctx_reset(ctx);
    tp_inspection second;
    memset(&second, 0, sizeof second);
    scan_result plain;
    jl_stats pstats;
    tp_code prc = scan_once(ctx, data, len, opt, &plain, TP_LOADER_PICKLE, trees_only, &pstats, sites ? &second : NULL, pr);
    tp_ctx pstop = *ctx;
    ctx_reset(ctx);
    if (sites && verdict_merge(sites, &second)) {
        if (!rc) scan_free(out);
        if (!prc) scan_free(&plain);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables");
    }
    if (rc && prc) { /* neither loader reads it to the end: the first error stands */
        *ctx = jstop;
        return rc;
    }
    if (rc && jstop.code == TP_E_UNSAFE) { /* a wrapper not as joblib writes it */
        scan_free(&plain);
        *ctx = jstop;
        return rc;
    }
    if (sites && prc && loader_stops_there(&pstop, data, len)) sites->plain_stop = pstop.offset;
    tp_code nrc = TP_OK;
    if (rc && !loader_stops_there(&jstop, data, len)) nrc = note_reading(ctx, sites, &jstop, TP_LOADER_JOBLIB);
    if (!nrc && prc && !loader_stops_there(&pstop, data, len)) nrc = note_reading(ctx, sites, &pstop, TP_LOADER_PICKLE);
    if (rc) *out = plain; /* a plain pickle holding a wrapper */
    else if (!prc) scan_free(&plain);
    if (nrc) scan_free(out);
    return nrc;
}

tp_code scan_raw(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, tp_inspection *sites)
{
    pv_vm vm;
    pv_vm_init(&vm, ctx, data, len, opt ? &opt->limits : NULL);
    vm.lax_frames = true;
    vm.skip_gets = true;
    tp_code rc = pv_vm_run(&vm);
    tp_ctx stop = *ctx;
    ctx_reset(ctx);
    tp_inspection seen;
    memset(&seen, 0, sizeof seen);
    rc = verdict_collect(&vm, opt, &seen, false, TP_LOADER_PICKLE) ? ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables")
                                                                   : TP_OK;
    bool met = seen.nimports || seen.ncalls || vm.nops > 1;
    tp_inspection_free(&seen);
    pv_vm_free(&vm);
    if (!rc && (met || (stop.code && !loader_stops_there(&stop, data, len))))
        rc = verdict_note(sites, "(file as is)", 0,
                             "pickle.load of the file as it is, not decompressed, reads opcodes from it", TP_LOADER_PICKLE)
                 ? ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables")
                 : TP_OK;
    return rc;
}

tp_code scan_run(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_limits *lim, scan_result *out)
{
    tp_options o;
    tp_options_init(&o);
    if (lim) o.limits = *lim;
    return scan(ctx, data, len, &o, out, false, NULL, NULL);
}

tp_code scan_run_ex(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                       tp_inspection *sites)
{
    return scan(ctx, data, len, opt, out, false, sites, NULL);
}

tp_code scan_trees(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, scan_result *out,
                      tp_inspection *sites, const proven_list *proven)
{
    return scan(ctx, data, len, opt, out, true, sites, proven);
}
