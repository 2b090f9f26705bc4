/*
 * records.c - finding the structured arrays stored column by column: the
 * column layout of a structured dtype, HistGradientBoosting's
 * TreePredictor objects whose `nodes` array has one, and, after the scan,
 * the payloads that may be spliced (no two share bytes, none shares a
 * tree's).  How the columns are coded is codec/records_section.c.
 */
#include <stdlib.h>

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
