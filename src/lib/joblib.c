/*
 * joblib.c - consume the array data joblib writes after each
 * NumpyArrayWrapper, the way joblib.load does (numpy_pickle.py:
 * NumpyArrayWrapper.read_array), so that the opcodes after it are read
 * where they are.
 */
#include "joblib.h"

/* copyreg._reconstructor(cls, object, None): protocols 0 and 1. */
static pv wrapper_class(const pv_vm *vm, const pv_obj *o)
{
    if (o->how != HOW_REDUCE) return o->callable;
    if (!pv_is_global(vm, o->callable, "copyreg|copy_reg", "_reconstructor")) return (pv){0};
    const pv_seq *args = pv_seq_of(vm, o->args);
    return args && args->n >= 1 ? args->items[0] : (pv){0};
}

bool jl_is_wrapper(const pv_vm *vm, const pv_obj *o)
{
    return pv_is_global(vm, wrapper_class(vm, o), JOBLIB_WRAPPER_MODULES, "NumpyArrayWrapper");
}

pv jl_state_dict(const pv_vm *vm, const pv_obj *o)
{
    pv st = o->state;
    const pv_seq *s = pv_seq_of(vm, st);
    if (s && s->kind == PV_TUPLE && s->n == 2) st = s->items[0];
    s = pv_seq_of(vm, st);
    return s && s->kind == PV_DICT ? st : (pv){0};
}

/* What joblib needs to know of a dtype to read the data: the item size
 * and whether it holds Python objects (then a pickle follows instead).
 * A dtype pickles as numpy.dtype(typestr, False, True) + BUILD with
 * (version, byteorder, subarray, names, fields, elsize, alignment, flags
 * [, metadata]); elsize is -1 for plain types, whose size is in the
 * typestr ("f8"), and the real size otherwise ("U3" has elsize 12). */
static bool dtype_info(const pv_vm *vm, pv v, uint64_t *itemsize, bool *hasobject)
{
    const pv_obj *o = pv_obj_of(vm, v);
    if (!o || o->how != HOW_REDUCE || !pv_is_global(vm, o->callable, "numpy", "dtype")) return false;
    const pv_seq *args = pv_seq_of(vm, o->args);
    const uint8_t *t;
    size_t n;
    if (!args || args->n < 1 || !pv_text(vm, args->items[0], &t, &n) || n == 0) return false;
    size_t i = (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=') ? 1 : 0;
    if (i >= n) return false;
    char kind = (char)t[i++];
    uint64_t digits = 0;
    size_t ndigits = 0;
    for (; i < n && t[i] >= '0' && t[i] <= '9' && ndigits < 12; i++, ndigits++) digits = digits * 10 + (t[i] - '0');
    int64_t elsize = -1, flags = 0;
    const pv_seq *st = pv_seq_of(vm, o->state);
    if (st && st->kind == PV_TUPLE && st->n >= 8) {
        if (!pv_int(st->items[5], &elsize)) elsize = -1;
        if (!pv_int(st->items[7], &flags)) flags = 0;
    }
    *hasobject = kind == 'O' || (flags & 1); /* NPY_ITEM_HASOBJECT */
    if (elsize > 0) *itemsize = (uint64_t)elsize;
    else if (ndigits) *itemsize = digits;
    else return false;
    return true;
}

/* Number of elements of a shape tuple (or list), with overflow checks. */
static bool shape_count(const pv_vm *vm, pv v, uint64_t *count)
{
    const pv_seq *s = pv_seq_of(vm, v);
    if (!s || (s->kind != PV_TUPLE && s->kind != PV_LIST)) return false;
    uint64_t c = 1;
    for (size_t i = 0; i < s->n; i++) {
        int64_t d;
        if (!pv_int(s->items[i], &d) || d < 0 || !tp_mul_ok(c, (uint64_t)d, &c)) return false;
    }
    *count = c;
    return true;
}

tp_code jl_build_hook(pv_vm *vm, pv obj, void *opaque)
{
    jl_stats *stats = opaque;
    pv_obj *o = pv_obj_of(vm, obj);
    /* Inside a nested pickle (read by plain pickle.load) wrappers are
     * ordinary objects. */
    if (!o || vm->nested || !jl_is_wrapper(vm, o)) return TP_OK;
    const uint64_t at = vm->pos;
    if (stats) stats->wrappers++;
    pv dict = jl_state_dict(vm, o);
    const pv *dtype = pv_dict_get(vm, dict, "dtype");
    const pv *shape = pv_dict_get(vm, dict, "shape");
    uint64_t itemsize = 0, count = 0, nbytes = 0;
    bool hasobject = false;
    if (!dtype || !dtype_info(vm, *dtype, &itemsize, &hasobject))
        return tp_fail(vm->ctx, TP_E_JOBLIB, (int64_t)at,
                       "the NumpyArrayWrapper built at byte %llu has no dtype this reader understands, "
                       "so the size of the array data after it is unknown",
                       (unsigned long long)o->build_offset);
    if (hasobject) {
        /* joblib: pickle.dump(array, file, protocol=2) */
        pv result;
        tp_code rc = pv_vm_run_nested(vm, 1, &result);
        if (rc) return rc;
        if (stats) stats->nested++;
        return TP_OK;
    }
    if (!shape || !shape_count(vm, *shape, &count) || !tp_mul_ok(count, itemsize, &nbytes))
        return tp_fail(vm->ctx, TP_E_JOBLIB, (int64_t)at,
                       "the NumpyArrayWrapper built at byte %llu has a shape that is not a tuple of sizes, "
                       "or whose byte count overflows", (unsigned long long)o->build_offset);
    if (vm->frame_end && vm->pos != vm->frame_end)
        return tp_fail(vm->ctx, TP_E_JOBLIB, (int64_t)at,
                       "array data inside a pickle frame (joblib ends the frame before writing it)");
    /* joblib >= 1.2: a padding length byte and that many padding bytes,
     * unless the attribute is absent (older files) or None. */
    const pv *align = pv_dict_get(vm, dict, "numpy_array_alignment_bytes");
    bool padded = align && align->kind != PV_NONE;
    tp_code rc;
    if (padded) {
        if ((rc = pv_vm_skip(vm, 1))) return rc;
        if ((rc = pv_vm_skip(vm, vm->data[vm->pos - 1]))) return rc;
    }
    if (nbytes > vm->len - vm->pos)
        return tp_fail(vm->ctx, TP_E_TRUNCATED, (int64_t)at,
                       "the array after the NumpyArrayWrapper built at byte %llu declares %llu bytes, %zu remain",
                       (unsigned long long)o->build_offset, (unsigned long long)nbytes, vm->len - vm->pos);
    o->extra_off = (int64_t)vm->pos;
    o->extra_len = nbytes;
    if ((rc = pv_vm_skip(vm, nbytes))) return rc;
    if (stats) {
        stats->raw_arrays++;
        stats->aligned += padded;
        stats->raw_bytes += nbytes;
    }
    return TP_OK;
}
