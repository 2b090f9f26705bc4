/*
 * inventory.h - what the scan recognised in a pickle, and what it left as
 * it was, carried in an optional SEC_INVENTORY section so that `info` can
 * tell without the original.
 *
 * Section payload (stored, little-endian varints):
 *   u8 version (1), then varints: arrays, arrays_joblib, arrays_columnar,
 *   arrays_verbatim, nested_pickles, predictors, predictors_verbatim,
 *   trees_verbatim, note length, then the note's bytes (UTF-8 text);
 *   since treepack 0.3 then a varint of flags: bit 0 = the whole file is
 *   in the skeleton, being smaller so (the note is then empty: a reader
 *   words it from the counts).
 * A reader ignores what follows the fields it knows.
 */
#ifndef SKLEARN_INVENTORY_H
#define SKLEARN_INVENTORY_H

#include "base/buf.h"
#include "pickle/pickle_vm.h"

#define INVENTORY_NOTE_MAX 511

typedef struct model_inventory {
    uint64_t arrays, arrays_joblib, arrays_columnar, arrays_verbatim;
    uint64_t nested_pickles;
    uint64_t predictors, predictors_verbatim;
    uint64_t trees_verbatim;
    uint64_t noted, unnoted;  /* objects in the note, and left out of it for space */
    bool whole;               /* everything left in the skeleton: smaller so */
    char note[INVENTORY_NOTE_MAX + 1];
} model_inventory;

/* Add "WHAT at byte N: WHY" to the note while there is room. */
void inventory_note(model_inventory *inv, const char *what, uint64_t offset, const char *why);

/* Count the numpy arrays in the interpreter's graph: recognised (and of
 * those, joblib raw arrays) or not. */
void inventory_count_arrays(const pv_vm *vm, model_inventory *inv);

void inventory_write(const model_inventory *inv, bytebuf *out);
bool inventory_read(const uint8_t *data, size_t len, model_inventory *inv);

/* Copy the counts and the note into a report. */
void inventory_report(const model_inventory *inv, tp_report *rep);

#endif
