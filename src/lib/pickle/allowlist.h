/*
 * allowlist.h - the names a model pickle may import, each with what the
 * loader may do with it (see allowlist.c and scripts/allowlist/).  Names
 * are compared byte for byte, module and qualified name exactly.
 */
#ifndef PICKLE_ALLOWLIST_H
#define PICKLE_ALLOWLIST_H

#include "pickle/pickle_vm.h"

/* What a listed name is, and so what a pickle may do with it. */
typedef enum al_kind {
    AL_NONE = 0,          /* not listed */
    AL_CLASS,             /* constructing it and giving instances a state only builds data */
    AL_CONTAINER,         /* a class whose __setitem__/append/extend/add only store: a
                             pickle may apply SETITEM(S), APPEND(S), ADDITEMS to instances */
    AL_FUNC,              /* a function that builds data from its arguments, calling nothing */
    AL_REF,               /* a value models keep (a metric, a ufunc): never to be called */
    /* Callables whose arguments decide what they do: checked by verdict.c. */
    AL_RULE_RECONSTRUCTOR,    /* copyreg._reconstructor(cls, base, state) */
    AL_RULE_NEWOBJ,           /* copyreg.__newobj__(cls, ...), __newobj_ex__(cls, args, kwargs) */
    AL_RULE_CLASS_ARG,        /* makes an instance of its first argument (newObj, __pyx_unpickle_*,
                                 _reconstruct, _mareconstruct, pandas _new_Index) */
    AL_RULE_BITGEN_CTOR,      /* numpy.random._pickle: looks a BitGenerator up, calls its 2nd argument */
    AL_RULE_UFUNC_RECONSTRUCT, /* numpy's old _ufunc_reconstruct(module, name): imports and getattr */
    AL_RULE_CODECS_ENCODE,    /* _codecs.encode(text, 'latin1') */
    AL_RULE_DTYPE,            /* numpy.dtype(typestr, False, True) + BUILD: the state is checked */
    AL_RULE_SCIPY_DIST,       /* a scipy.stats distribution class: its state's _parse_arg_template is
                                 exec'd by scipy on load, so it must be the one scipy generates */
    AL_RULE_SCALAR            /* numpy's scalar(dtype, data): for an object dtype it returns `data`
                                 itself, so the dtype must be one without objects */
} al_kind;

/* The kind of module.name, AL_NONE when it is not listed. */
al_kind allowlist_kind(const char *module, const char *name);
/* The kind of a global of the interpreter (AL_NONE for EXT codes and
 * names that cannot be compared as written, e.g. with escapes). */
al_kind allowlist_global(const pv_vm *vm, pv g);
/* The class a loader would make an instance of for this object, when the
 * stream names it: the callable of NEWOBJ, OBJ and INST, the callable of a
 * REDUCE that is a class, or the first argument of a reconstructor
 * (copyreg, newObj, __pyx_unpickle_*, _reconstruct, ...).  PV_NONE when
 * the object is the result of a function. */
pv allowlist_obj_class(const pv_vm *vm, const pv_obj *o);
/* True for the kinds that name a class. */
bool allowlist_is_class(al_kind k);

/* Trusted by one of the caller's entries: "module" (and its submodules)
 * or "module.name". */
bool allowlist_trusted(const char *module, const char *name, const char *const *trusted, size_t n);
/* What a well-known dangerous name does, for messages; NULL if unknown. */
const char *allowlist_notorious(const char *module, const char *name);

#endif
