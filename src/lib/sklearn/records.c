/*
 * records.c - finding the structured arrays stored column by column: the
 * column layout of a structured dtype, HistGradientBoosting's
 * TreePredictor objects whose `nodes` array has one, and, after the scan,
 * the payloads that may be spliced (no two share bytes, none shares a
 * tree's).  How the columns are coded is codec/records_section.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sklearn/locate.h"
#include "sklearn/records.h"

/* ---- layout --------------------------------------------------------------- */

static uint8_t field_type(const npy_scalar *t)
{
    if (t->kind == 'f' && (t->size == 4 || t->size == 8)) return t->big ? REC_FLOAT_BE : REC_FLOAT_LE;
    if ((t->kind == 'i' || t->kind == 'u' || t->kind == 'b' || t->kind == '?') && t->size <= 8)
        return t->big && t->size > 1 ? REC_INT_BE : REC_INT_LE;
    return REC_BYTES;
}

bool rec_layout_from_dtype(const npy_dtype *dt, rec_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    if (dt->nfields == 0 || dt->base.size == 0 || dt->base.size > REC_MAX_ITEMSIZE) return false;
    const uint32_t isz = dt->base.size;
    /* owner of each byte: a field index, -1 nobody, -2 several fields */
    int16_t *owner = malloc(isz * sizeof *owner);
    if (!owner) return false;
    for (uint32_t i = 0; i < isz; i++) owner[i] = -1;
    for (int f = 0; f < dt->nfields; f++) {
        const npy_field *fd = &dt->fields[f];
        if ((uint64_t)fd->offset + fd->type.size > isz) {
            free(owner);
            return false;
        }
        for (uint32_t i = fd->offset; i < fd->offset + fd->type.size; i++) owner[i] = owner[i] == -1 ? (int16_t)f : -2;
    }
    /* a field that shares a byte with another is left to plain bytes */
    for (int f = 0; f < dt->nfields; f++) {
        const npy_field *fd = &dt->fields[f];
        bool clean = true;
        for (uint32_t i = fd->offset; i < fd->offset + fd->type.size; i++) clean &= owner[i] == f;
        if (!clean)
            for (uint32_t i = fd->offset; i < fd->offset + fd->type.size; i++)
                if (owner[i] == f) owner[i] = -2;
    }
    for (uint32_t i = 0; i < isz;) {
        if (lay->ncols == REC_MAX_COLS) {
            free(owner);
            return false;
        }
        uint32_t k = lay->ncols++;
        lay->off[k] = i;
        if (owner[i] >= 0) {
            const npy_field *fd = &dt->fields[owner[i]];
            lay->width[k] = fd->type.size;
            lay->type[k] = field_type(&fd->type);
            i += fd->type.size;
        } else {
            uint32_t j = i;
            while (j < isz && owner[j] < 0) j++;
            lay->width[k] = j - i;
            lay->type[k] = REC_BYTES;
            i = j;
        }
    }
    lay->itemsize = isz;
    free(owner);
    return true;
}
/* ---- the predictor's node array --------------------------------------------- */

static pv object_class(const pv_vm *vm, const pv_obj *o)
{
    if (o->how != HOW_REDUCE) return o->callable;
    if (!pv_is_global(vm, o->callable, "copyreg|copy_reg", "_reconstructor")) return (pv){0};
    const pv_seq *args = pv_seq_of(vm, o->args);
    return args && args->n >= 1 ? args->items[0] : (pv){0};
}

int records_examine(const pv_vm *vm, const pv_obj *o, found_records *r, const char **why)
{
    if (!pv_is_global(vm, object_class(vm, o), "sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"))
        return 0;
    memset(r, 0, sizeof *r);
    r->offset = o->offset;
    const pv *nodes = pv_dict_get(vm, pv_state_dict(vm, o), "nodes");
    if (o->builds != 1 || !nodes) {
        *why = "its state holds no nodes array";
        return -1;
    }
    if (!npy_array_parse(vm, *nodes, &r->arr)) {
        *why = "its nodes are not an array this reader can splice";
        return -1;
    }
    if (r->arr.ndim != 1 || !rec_layout_from_dtype(&r->arr.dtype, &r->layout)) {
        *why = "its nodes are not a 1-D structured array";
        return -1;
    }
    return 1;
}

bool records_bin_thresholds(const pv_vm *vm, const pv_obj *o, const pv_seq **list)
{
    if (!pv_is_global(vm, object_class(vm, o), "sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"))
        return false;
    const pv *t = pv_dict_get(vm, pv_state_dict(vm, o), "bin_thresholds_");
    *list = t ? pv_seq_of(vm, *t) : NULL;
    return *list != NULL;
}

/* ---- HistGradientBoosting's parameters ------------------------------------------ */

static bool number(pv v, double *out)
{
    int64_t i;
    if (v.kind == PV_FLOAT) {
        memcpy(out, &v.a, 8);
        return true;
    }
    if (pv_int(v, &i)) {
        *out = (double)i;
        return true;
    }
    return false;
}

void records_hgb_params(const pv_vm *vm, hgb_params *params)
{
    static const char *const names[] = {"HistGradientBoostingRegressor", "HistGradientBoostingClassifier"};
    for (size_t i = 0; i < vm->nobjs; i++) {
        const pv_obj *o = &vm->objs[i];
        const pv cls = object_class(vm, o);
        bool hgb = false;
        for (size_t k = 0; k < 2; k++)
            hgb |= pv_is_global(vm, cls, "sklearn.ensemble._hist_gradient_boosting.gradient_boosting", names[k]);
        if (!hgb) continue;
        const pv st = pv_state_dict(vm, o);
        const pv *lr = pv_dict_get(vm, st, "learning_rate"), *l2 = pv_dict_get(vm, st, "l2_regularization"),
                 *preds = pv_dict_get(vm, st, "_predictors");
        hgb_params p = {0, 0, true};
        if (!lr || !l2 || !preds || !number(*lr, &p.shrink) || !number(*l2, &p.l2)) continue;
        /* a list (one per iteration) of lists (one per class) */
        const pv_seq *its = pv_seq_of(vm, *preds);
        for (uint32_t a = 0; its && a < its->n; a++) {
            const pv_seq *per = pv_seq_of(vm, its->items[a]);
            for (uint32_t b = 0; per && b < per->n; b++) {
                const pv v = per->items[b];
                if (v.kind != PV_OBJECT || v.ref >= vm->nobjs) continue;
                params[v.ref] = p; /* a hint: the codec keeps it only where it predicts */
            }
        }
    }
}

/* ---- cv_results_ ------------------------------------------------------------ */

static void cv_put(const pv_vm *vm, cv_mark *marks, const pv *v, cv_mark m)
{
    if (!v || v->kind != PV_OBJECT || v->ref >= vm->nobjs) return;
    cv_mark *at = &marks[v->ref];
    if (at->group && (at->group != m.group || at->role != m.role || at->score != m.score || at->split != m.split))
        m = (cv_mark){UINT32_MAX, 0, 0, CV_NONE}; /* named twice: neither */
    *at = m;
}

/* The arrays of one cv_results_ dict: for every key mean_<score>, where
 * <score> is test_... or train_..., the keys split<k>_<score> for k = 0,
 * 1, ... as long as they are there, std_<score> and rank_<score>, looked
 * up as Python would (the last assignment of a key wins). */
/* Bounds on the work a crafted dict can ask for (each lookup scans it):
 * real ones have a few dozen keys, a few scores and at most a few dozen
 * splits. */
#define CV_DICT_MAX_ITEMS 8192
#define CV_MAX_SCORES 64
#define CV_MAX_SPLITS 1000
#define CV_MAX_DICTS 64

static void cv_dict(const pv_vm *vm, pv dict, uint32_t group, cv_mark *marks)
{
    const pv_seq *d = pv_seq_of(vm, dict);
    if (!d || d->kind != PV_DICT || d->n > CV_DICT_MAX_ITEMS) return;
    uint32_t score = 0;
    for (uint32_t i = 0; i + 1 < d->n && score < CV_MAX_SCORES; i += 2) {
        const uint8_t *k;
        size_t n;
        if (!pv_text(vm, d->items[i], &k, &n) || n < 10 || n > 200 || memcmp(k, "mean_", 5) != 0) continue;
        const char *rest = (const char *)k + 5;
        const size_t rn = n - 5;
        if (!(rn > 5 && memcmp(rest, "test_", 5) == 0) && !(rn > 6 && memcmp(rest, "train_", 6) == 0)) continue;
        char key[256];
        snprintf(key, sizeof key, "mean_%.*s", (int)rn, rest);
        if (pv_dict_get(vm, dict, key) != &d->items[i + 1]) continue; /* a later mean_ of the same name */
        cv_put(vm, marks, &d->items[i + 1], (cv_mark){group, score, 0, CV_MEAN});
        snprintf(key, sizeof key, "std_%.*s", (int)rn, rest);
        cv_put(vm, marks, pv_dict_get(vm, dict, key), (cv_mark){group, score, 0, CV_STD});
        snprintf(key, sizeof key, "rank_%.*s", (int)rn, rest);
        cv_put(vm, marks, pv_dict_get(vm, dict, key), (cv_mark){group, score, 0, CV_RANK});
        for (uint32_t s = 0; s < CV_MAX_SPLITS; s++) {
            snprintf(key, sizeof key, "split%u_%.*s", s, (int)rn, rest);
            const pv *v = pv_dict_get(vm, dict, key);
            if (!v) break;
            cv_put(vm, marks, v, (cv_mark){group, score, s, CV_SPLIT});
        }
        score++;
    }
}

void records_cv_marks(const pv_vm *vm, cv_mark *marks)
{
    uint32_t groups = 0;
    for (size_t i = 0; i < vm->nobjs && groups < CV_MAX_DICTS; i++) {
        const pv *r = pv_dict_get(vm, pv_state_dict(vm, &vm->objs[i]), "cv_results_");
        if (r) cv_dict(vm, *r, ++groups, marks);
    }
}

static int by_data_off(const void *a, const void *b)
{
    const found_records *x = a, *y = b;
    return x->arr.data_off < y->arr.data_off ? -1 : x->arr.data_off > y->arr.data_off;
}

typedef struct range {
    uint64_t off, end;
} range;

static int by_off(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Does [off, end) meet one of the sorted, disjoint ranges? */
static bool meets(const range *r, size_t n, uint64_t off, uint64_t end)
{
    size_t lo = 0, hi = n; /* first range with r.off >= end is at hi */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].off < end) lo = mid + 1;
        else hi = mid;
    }
    return lo > 0 && r[lo - 1].end > off;
}

tp_code records_settle(tp_ctx *ctx, scan_result *scan)
{
    if (!scan->nrecords) return TP_OK;
    qsort(scan->records, scan->nrecords, sizeof *scan->records, by_data_off);
    /* the trees' payloads: disjoint already (locate dropped overlaps) */
    range *r = malloc((2 * scan->ntrees + 1) * sizeof *r);
    if (!r) return ctx_fail(ctx, TP_E_NOMEM, -1, "payload table");
    for (size_t i = 0; i < scan->ntrees; i++) {
        const found_tree *f = &scan->trees[i];
        r[2 * i] = (range){f->nodes.data_off, f->nodes.data_off + f->nodes.data_len};
        r[2 * i + 1] = (range){f->values.data_off, f->values.data_off + f->values.data_len};
    }
    qsort(r, 2 * scan->ntrees, sizeof *r, by_off);
    size_t k = 0;
    uint64_t end = 0;
    for (size_t i = 0; i < scan->nrecords; i++) {
        const npy_array *a = &scan->records[i].arr;
        if ((k > 0 && a->data_off < end) || meets(r, 2 * scan->ntrees, a->data_off, a->data_off + a->data_len)) {
            if (scan->records[i].plain) continue; /* a tree's array, or shared: the skeleton keeps it */
            scan->inv.predictors_verbatim++;
            inventory_note(&scan->inv, "TreePredictor", scan->records[i].offset,
                              "its nodes are shared with another object");
            continue;
        }
        end = a->data_off + a->data_len;
        scan->records[k++] = scan->records[i];
    }
    scan->nrecords = k;
    free(r);
    return TP_OK;
}
