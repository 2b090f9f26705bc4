/*
 * inventory.c - counts of what was recognised, and a note on what was not.
 */
#include <stdio.h>

#include "base/cursor.h"
#include "sklearn/inventory.h"
#include "numpy/joblib.h"
#include "numpy/npy.h"

void inventory_note(model_inventory *inv, const char *what, uint64_t offset, const char *why)
{
    char item[200];
    size_t used = strlen(inv->note);
    int n = snprintf(item, sizeof item, "%s%s at byte %llu: %s", used ? "; " : "", what,
                     (unsigned long long)offset, why);
    /* keep room for the "; and N more" the report adds */
    if (n > 0 && used + (size_t)n + 24 <= INVENTORY_NOTE_MAX) {
        memcpy(inv->note + used, item, (size_t)n + 1);
        inv->noted++;
    } else {
        inv->unnoted++;
    }
}

/* Objects that stand for an ndarray, whether or not npy can read them. */
static bool looks_like_array(const pv_vm *vm, const pv_obj *o)
{
    if (jl_is_wrapper(vm, o)) return o->extra_off >= 0; /* object arrays: counted as their nested pickle */
    return o->how == HOW_REDUCE &&
           (pv_is_global(vm, o->callable, "numpy.core.multiarray|numpy._core.multiarray", "_reconstruct") ||
            pv_is_global(vm, o->callable, "numpy.core.numeric|numpy._core.numeric", "_frombuffer"));
}

void inventory_count_arrays(const pv_vm *vm, model_inventory *inv)
{
    for (size_t i = 0; i < vm->nobjs; i++) {
        const pv_obj *o = &vm->objs[i];
        if (!looks_like_array(vm, o)) continue;
        npy_array a;
        pv v = {.kind = PV_OBJECT, .ref = (uint32_t)i};
        if (npy_array_parse(vm, v, &a)) {
            inv->arrays++;
            inv->arrays_joblib += o->extra_off >= 0;
        } else {
            inv->arrays_verbatim++;
        }
    }
}

/* The note with a count of what it left out (inventory_note keeps
 * room for it, so nothing is cut). */
static void full_note(const model_inventory *inv, char *out, size_t cap)
{
    if (inv->whole) {
        uint64_t t = inv->trees_verbatim, p = inv->predictors_verbatim;
        snprintf(out, cap, "the whole file is in the skeleton (%llu tree%s, %llu predictor%s): smaller so than with "
                 "its trees as columns", (unsigned long long)t, t == 1 ? "" : "s", (unsigned long long)p,
                 p == 1 ? "" : "s");
        return;
    }
    int n = inv->unnoted ? snprintf(out, cap, "%s; and %llu more", inv->note, (unsigned long long)inv->unnoted)
                         : snprintf(out, cap, "%s", inv->note);
    if (n < 0) out[0] = 0;
}

void inventory_write(const model_inventory *inv, bytebuf *out)
{
    bytebuf_u8(out, 1);
    const uint64_t v[] = {inv->arrays,     inv->arrays_joblib, inv->arrays_columnar,      inv->arrays_verbatim,
                          inv->nested_pickles, inv->predictors, inv->predictors_verbatim, inv->trees_verbatim};
    for (size_t i = 0; i < ARRAY_LEN(v); i++) bytebuf_varint(out, v[i]);
    char note[INVENTORY_NOTE_MAX + 1];
    full_note(inv, note, sizeof note);
    size_t n = inv->whole ? 0 : strlen(note); /* words the reader can make itself */
    bytebuf_varint(out, n);
    bytebuf_append(out, note, n);
    bytebuf_varint(out, inv->whole ? 1 : 0);
}

bool inventory_read(const uint8_t *data, size_t len, model_inventory *inv)
{
    memset(inv, 0, sizeof *inv);
    cursor c = cursor_make(data, len);
    if (cursor_u8(&c) != 1) return false;
    uint64_t *v[] = {&inv->arrays,         &inv->arrays_joblib, &inv->arrays_columnar,      &inv->arrays_verbatim,
                     &inv->nested_pickles, &inv->predictors,    &inv->predictors_verbatim, &inv->trees_verbatim};
    for (size_t i = 0; i < ARRAY_LEN(v); i++) *v[i] = cursor_varint(&c);
    uint64_t n = cursor_varint_max(&c, INVENTORY_NOTE_MAX);
    const uint8_t *p = cursor_take(&c, (size_t)n);
    if (c.bad) return false;
    memcpy(inv->note, p, (size_t)n);
    inv->note[n] = 0;
    /* flags: absent before 0.3 */
    if (cursor_left(&c)) {
        uint64_t flags = cursor_varint(&c);
        inv->whole = !c.bad && (flags & 1);
    }
    /* the note is shown on a terminal: no control characters */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)inv->note[i] < 0x20 || inv->note[i] == 0x7f) inv->note[i] = '?';
    return true;
}

void inventory_report(const model_inventory *inv, tp_report *rep)
{
    rep->arrays = inv->arrays;
    rep->arrays_joblib = inv->arrays_joblib;
    rep->arrays_columnar = inv->arrays_columnar;
    rep->arrays_verbatim = inv->arrays_verbatim;
    rep->nested_pickles = inv->nested_pickles;
    rep->predictors = inv->predictors;
    rep->predictors_verbatim = inv->predictors_verbatim;
    if (inv->trees_verbatim > rep->trees_verbatim) rep->trees_verbatim = inv->trees_verbatim;
    full_note(inv, rep->verbatim_note, sizeof rep->verbatim_note);
    rep->whole = inv->whole;
}
