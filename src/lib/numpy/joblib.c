/*
 * joblib.c - consume the array data joblib writes after each
 * NumpyArrayWrapper, the way joblib.load does (numpy_pickle.py:
 * NumpyArrayWrapper.read_array), so that the opcodes after it are read
 * where they are.
 */
#include "pickle/allowlist.h"
#include "numpy/joblib.h"
#include "numpy/npy.h"

bool jl_is_wrapper(const pv_vm *vm, const pv_obj *o)
{
    /* joblib.load asks isinstance(), so every way of making an instance
     * counts.  Asked at every BUILD: the allowlist only when the first
     * argument of a REDUCE is the wrapper class. */
    if (pv_is_global(vm, o->callable, JOBLIB_WRAPPER_MODULES, "NumpyArrayWrapper")) return true;
    /* OBJ and INST of copyreg._reconstructor call it as REDUCE does */
    if (o->how != HOW_REDUCE && o->how != HOW_OBJ && o->how != HOW_INST) return false;
    const pv_seq *args = pv_seq_of(vm, o->args);
    if (!args || !args->n || !pv_is_global(vm, args->items[0], JOBLIB_WRAPPER_MODULES, "NumpyArrayWrapper"))
        return false;
    return pv_is_global(vm, allowlist_obj_class(vm, o), JOBLIB_WRAPPER_MODULES, "NumpyArrayWrapper");
}

/* The one form joblib writes: NEWOBJ with no arguments (protocol 2 and
 * up), or copyreg._reconstructor(cls, object, None) (protocols 0 and 1).
 * Made any other way (REDUCE or OBJ run its __init__, which defaults the
 * alignment), the wrapper would be read with attributes this reader does
 * not see. */
static const char *wrapper_form(const pv_vm *vm, const pv_obj *o)
{
    const pv_seq *args = pv_seq_of(vm, o->args);
    if (o->how == HOW_NEWOBJ) return args && args->n == 0 ? NULL : "made by NEWOBJ with arguments";
    if (o->how == HOW_REDUCE && pv_is_global(vm, o->callable, "copyreg|copy_reg", "_reconstructor") && args &&
        args->n == 3 && pv_is_global(vm, args->items[1], "builtins|__builtin__", "object") &&
        args->items[2].kind == PV_NONE)
        return NULL;
    return "made otherwise than by NEWOBJ or a REDUCE of copyreg._reconstructor";
}

/* The state joblib writes: a dict of these keys and no others, of these
 * kinds: subclass (a class), shape (a tuple of ints), order ('C' or 'F'),
 * dtype, allow_mmap (a bool), numpy_array_alignment_bytes (16, or None
 * when the file could not tell() its position; absent before joblib 1.2). */
static const char *const WRAPPER_KEYS[] = {"subclass", "shape", "order", "dtype", "allow_mmap",
                                           "numpy_array_alignment_bytes"};

static const char *wrapper_state(const pv_vm *vm, const pv_obj *o, pv *dtype, uint64_t *count, bool *padded)
{
    const pv_seq *d = pv_seq_of(vm, o->state);
    if (!d || d->kind != PV_DICT) return "its state is not a dict";
    for (size_t i = 0; i < d->n; i += 2) {
        size_t k = 0;
        while (k < ARRAY_LEN(WRAPPER_KEYS) && !pv_text_eq(vm, d->items[i], WRAPPER_KEYS[k])) k++;
        if (k == ARRAY_LEN(WRAPPER_KEYS) || d->items[i].kind != PV_STR) return "its state has a key joblib does not write";
    }
    const pv *sub = pv_dict_get(vm, o->state, "subclass");
    const pv *shape = pv_dict_get(vm, o->state, "shape");
    const pv *order = pv_dict_get(vm, o->state, "order");
    const pv *dt = pv_dict_get(vm, o->state, "dtype");
    const pv *mmap = pv_dict_get(vm, o->state, "allow_mmap");
    const pv *align = pv_dict_get(vm, o->state, "numpy_array_alignment_bytes");
    if (!sub || sub->kind != PV_GLOBAL || !shape || !order || !dt || (mmap && mmap->kind != PV_BOOL))
        return "its state lacks subclass, shape, order or dtype";
    if (!pv_text_eq(vm, *order, "C") && !pv_text_eq(vm, *order, "F")) return "its order is neither 'C' nor 'F'";
    int64_t a;
    if (align && align->kind != PV_NONE && !(align->kind == PV_INT && pv_int(*align, &a) && a == 16))
        return "its alignment is neither 16 nor None";
    const pv_seq *s = pv_seq_of(vm, *shape);
    if (!s || s->kind != PV_TUPLE) return "its shape is not a tuple";
    uint64_t c = 1;
    for (size_t i = 0; i < s->n; i++) {
        int64_t n;
        if (s->items[i].kind != PV_INT || !pv_int(s->items[i], &n) || n < 0) return "its shape holds something other than sizes";
        if (!mul_ok(c, (uint64_t)n, &c)) return "its shape's element count overflows";
    }
    *dtype = *dt;
    *count = c;
    *padded = align && align->kind != PV_NONE;
    return NULL;
}

static tp_code not_as_joblib_writes(pv_vm *vm, const pv_obj *o, const char *why)
{
    return ctx_fail(vm->ctx, TP_E_UNSAFE, (int64_t)o->offset,
                   "the NumpyArrayWrapper at byte %llu is not written the way joblib writes one (%s): "
                   "joblib.load would read the bytes after it in a way this reader cannot vouch for",
                   (unsigned long long)o->offset, why);
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
    const char *why = wrapper_form(vm, o);
    if (!why && o->builds != 1) why = "it is given a state twice, and each time joblib reads an array";
    pv dtype = {0};
    uint64_t count = 0, itemsize = 0, nbytes = 0;
    bool padded = false, hasobject = false;
    if (!why) why = wrapper_state(vm, o, &dtype, &count, &padded);
    if (!why) why = npy_dtype_check(vm, dtype, &itemsize, &hasobject);
    if (!why && !mul_ok(count, itemsize, &nbytes)) why = "its byte count overflows";
    if (why) return not_as_joblib_writes(vm, o, why);
    if (hasobject) {
        /* joblib: pickle.dump(array, file, protocol=2) */
        pv result;
        tp_code rc = pv_vm_run_nested(vm, 1, &result);
        if (rc) return rc;
        if (stats) stats->nested++;
        return TP_OK;
    }
    if (vm->frame_end && vm->pos != vm->frame_end)
        return ctx_fail(vm->ctx, TP_E_JOBLIB, (int64_t)at,
                       "array data inside a pickle frame (joblib ends the frame before writing it)");
    /* joblib >= 1.2: a padding length byte and that many padding bytes,
     * unless the attribute is absent (older files) or None. */
    tp_code rc;
    if (padded) {
        if ((rc = pv_vm_skip(vm, 1))) return rc;
        if ((rc = pv_vm_skip(vm, vm->data[vm->pos - 1]))) return rc;
    }
    if (nbytes > vm->len - vm->pos)
        return ctx_fail(vm->ctx, TP_E_TRUNCATED, (int64_t)at,
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
