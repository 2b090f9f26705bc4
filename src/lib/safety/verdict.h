/*
 * verdict.h - judge what a finished run of the interpreter would make a
 * loader do: every import against the allowlist and the caller's trusted
 * names, every call against what its callable's kind permits (arguments
 * included), every BUILD and container operation against what it would
 * touch, and the states that numpy and scipy act on.
 */
#ifndef SAFETY_VERDICT_H
#define SAFETY_VERDICT_H

#include "pickle/pickle_vm.h"

/* Append the run's imports, calls, effects and array findings to r, each
 * judged (status, why); `arrays` also lists the arrays found.  opt may be
 * NULL (no trusted names); loaders: the TP_LOADER_* bits of this reading.
 * Returns nonzero if memory ran out. */
int verdict_collect(const pv_vm *vm, const tp_options *opt, tp_inspection *r, bool arrays, unsigned loaders);

/* Add a refused finding that belongs to no opcode of the graph (a
 * reading that cannot be followed, say). */
int verdict_note(tp_inspection *r, const char *opcode, uint64_t offset, const char *why, unsigned loaders);

/* Merge the sites of a second reading of the same bytes into r: a site
 * at the same offset with the same opcode and name is the same site (its
 * loaders are joined, the worse status kept), others are added in offset
 * order.  `more` is emptied.  Returns nonzero if memory ran out. */
int verdict_merge(tp_inspection *r, tp_inspection *more);

/* tp_inspect's last step: the library's inspection *full handed to the
 * caller's *out, laid out as the caller's header has it (struct_size and
 * element sizes of tp_inspection_init).  *full is left empty.  Nonzero
 * when *out was not set up, or memory ran out (the lists are then in the
 * library's layout). */
int inspection_give(tp_inspection *out, tp_inspection *full);

#endif
