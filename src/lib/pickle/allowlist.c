/*
 * allowlist.c - which names a model pickle may import, and what the
 * loader may do with each.
 *
 * Loading a pickle imports every name it names (GLOBAL, STACK_GLOBAL,
 * INST) and calls whatever the stream asks it to call with arguments the
 * stream supplies.  So the question for each import is: can calling this
 * name (or using it as a class) with arbitrary arguments do anything but
 * build data?  The table (allowlist_names.h, generated from the reviewed
 * scripts/allowlist/names.tsv, where each row says where the fact comes
 * from) lists the exact module and qualified name of every class and
 * function that sklearn 0.18-1.8, numpy 1 and 2, scipy, joblib and pandas
 * write into model pickles and that only build data; scripts/allowlist/
 * REVIEW.md says what was left out and why.  There are no rules over
 * whole modules: a module's other attributes (its __builtins__,
 * __loader__, re-exported helpers such as functools.partial or joblib's
 * Parallel) are exactly what an attacker reaches for.
 *
 * A name's kind says what a pickle may do with it (allowlist.h): classes
 * may be constructed and given a state; functions that only build data
 * may be called; values such as metric functions, which models keep as
 * parameters, may only be referred to, never called; and a few callables
 * that call or construct what they are given (copyreg's reconstructors,
 * numpy's BitGenerator constructors, ...) have their arguments checked by
 * verdict.c.
 *
 * What is deliberately NOT here, though it lives in "safe" packages:
 *  - builtins.getattr, setattr, eval, exec, compile, open, __import__,
 *    globals, vars, type, breakpoint, input: they reach or run anything.
 *    Pickles of bound methods use getattr: such models need --trust.
 *  - numpy.load, loadtxt, genfromtxt, fromfile, memmap, save*, DataSource,
 *    numpy.lib.format, numpy.lib.npyio, ctypeslib, testing, f2py,
 *    distutils, vectorize, frompyfunc, apply_along_axis.
 *  - joblib.load, dump, Parallel, delayed, Memory, and the pre-0.10
 *    NDArrayWrapper/ZNDArrayWrapper, which make the loader open a file
 *    named in the pickle (an old multi-file joblib dump).
 *  - functools.partial, operator.*: they compose callables.
 *
 * EXT1/2/4 (the copyreg extension registry) carry a number, not a name,
 * and PERSID/BINPERSID hand a value to persistent_load, which a plain
 * load lacks and a custom loader may implement any way: both are refused.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pickle/allowlist.h"

typedef struct al_row {
    const char *module;
    const char *name;
    uint8_t kind;           /* al_kind */
} al_row;

#include "pickle/allowlist_names.h"

static int row_cmp(const char *module, const char *name, const al_row *r)
{
    int c = strcmp(module, r->module);
    return c ? c : strcmp(name, r->name);
}

al_kind allowlist_kind(const char *module, const char *name)
{
    size_t lo = 0, hi = ARRAY_LEN(al_rows);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = row_cmp(module, name, &al_rows[mid]);
        if (!c) return (al_kind)al_rows[mid].kind;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return AL_NONE;
}

/* Names longer than this are on no list. */
#define AL_NAME_MAX 256

/* A NUL-terminated copy of a plain text value (no escapes to decode, no
 * NUL inside), false otherwise. */
static bool plain_text(const pv_vm *vm, pv v, char *buf)
{
    const uint8_t *p;
    size_t n;
    if (v.kind != PV_STR || !pv_text(vm, v, &p, &n) || n >= AL_NAME_MAX || memchr(p, 0, n)) return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    return true;
}

al_kind allowlist_global(const pv_vm *vm, pv g)
{
    const pv_global *gl = pv_global_of(vm, g);
    char m[AL_NAME_MAX], n[AL_NAME_MAX];
    if (!gl || !plain_text(vm, gl->module, m) || !plain_text(vm, gl->name, n)) return AL_NONE;
    return allowlist_kind(m, n);
}

bool allowlist_is_class(al_kind k)
{
    return k == AL_CLASS || k == AL_CONTAINER || k == AL_RULE_DTYPE || k == AL_RULE_SCIPY_DIST;
}

pv allowlist_obj_class(const pv_vm *vm, const pv_obj *o)
{
    if (o->how == HOW_NEWOBJ || o->how == HOW_NEWOBJ_EX) return o->callable;
    if (o->how != HOW_REDUCE && o->how != HOW_OBJ && o->how != HOW_INST) return (pv){0};
    al_kind k = o->callable.kind == PV_GLOBAL ? allowlist_global(vm, o->callable) : AL_NONE;
    if (allowlist_is_class(k)) return o->callable;
    /* OBJ and INST call a callable that is no class as REDUCE does
     * (pickle.py _instantiate: klass(*args)), so a reconstructor named
     * by them makes an instance of its first argument too */
    if (k == AL_RULE_RECONSTRUCTOR || k == AL_RULE_NEWOBJ || k == AL_RULE_CLASS_ARG) {
        const pv_seq *args = pv_seq_of(vm, o->args);
        if (args && args->n >= 1 && args->items[0].kind == PV_GLOBAL) return args->items[0];
        return (pv){0};
    }
    /* OBJ/INST of a name the table does not list (trusted, or refused):
     * what it names is the class, as far as anyone can tell */
    return o->how != HOW_REDUCE && k == AL_NONE ? o->callable : (pv){0};
}

#define OLD_JOBLIB                                                                                   \
    "an old multi-file joblib dump (joblib < 0.10): its arrays are in side files that loading opens "  \
    "by the names this pickle gives, so the file alone is not the model and the names could point "    \
    "anywhere"

/* For messages only: well-known names that loading would run.  The
 * decision never depends on this table. */
static const struct {
    const char *module;
    const char *name;   /* NULL: the whole module */
    const char *why;
} notorious[] = {
    {"os", NULL, "runs commands and touches files"},
    {"posix", NULL, "runs commands and touches files"},
    {"nt", NULL, "runs commands and touches files"},
    {"subprocess", NULL, "runs commands"},
    {"pty", NULL, "runs commands"},
    {"shutil", NULL, "touches files"},
    {"socket", NULL, "opens network connections"},
    {"urllib", NULL, "downloads"},
    {"requests", NULL, "downloads"},
    {"importlib", NULL, "imports modules"},
    {"runpy", NULL, "runs code"},
    {"code", NULL, "runs code"},
    {"ctypes", NULL, "calls native code"},
    {"pickle", NULL, "loads other pickles"},
    {"_pickle", NULL, "loads other pickles"},
    {"marshal", NULL, "loads code objects"},
    {"builtins", "eval", "evaluates code"},
    {"builtins", "exec", "runs code"},
    {"builtins", "compile", "compiles code"},
    {"builtins", "getattr", "reaches any attribute of what it is given"},
    {"builtins", "setattr", "changes any attribute"},
    {"builtins", "__import__", "imports modules"},
    {"builtins", "open", "opens files"},
    {"builtins", "globals", "reaches the interpreter's state"},
    {"builtins", "vars", "reaches the interpreter's state"},
    {"builtins", "type", "creates classes"},
    {"__builtin__", "eval", "evaluates code"},
    {"__builtin__", "getattr", "reaches any attribute of what it is given"},
    {"__builtin__", "execfile", "runs code"},
    {"numpy", "load", "loads files, including other pickles"},
    {"numpy", "fromfile", "reads files"},
    {"numpy", "memmap", "opens files"},
    {"numpy.testing", NULL, "runs code"},
    {"numpy.ctypeslib", NULL, "loads native libraries"},
    /* before the generic joblib line: more specific */
    {"joblib.numpy_pickle", "NDArrayWrapper", OLD_JOBLIB},
    {"joblib.numpy_pickle", "ZNDArrayWrapper", OLD_JOBLIB},
    {"sklearn.externals.joblib.numpy_pickle", "NDArrayWrapper", OLD_JOBLIB},
    {"sklearn.externals.joblib.numpy_pickle", "ZNDArrayWrapper", OLD_JOBLIB},
    {"joblib", NULL, "loads, writes or runs things"},

    {"functools", "partial", "composes callables"},
    {"operator", NULL, "composes callables"},
};

/* module equals prefix, or starts with prefix followed by a dot */
static bool in_package(const char *module, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(module, prefix, n) == 0 && (module[n] == 0 || module[n] == '.');
}

/* What trusting a module extends to: the names it defines, not a path
 * through them (protocol 4 resolves "a.b.c" attribute by attribute, so
 * "np.random" trusted would reach "mtrand.os.system") nor the module's
 * own machinery (__builtins__, __loader__, __spec__). */
static bool plain_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || strchr(name, '.')) return false;
    return !(n >= 4 && name[0] == '_' && name[1] == '_' && name[n - 1] == '_' && name[n - 2] == '_');
}

bool allowlist_trusted(const char *module, const char *name, const char *const *trusted, size_t n)
{
    size_t ml = strlen(module);
    for (size_t i = 0; i < n; i++) {
        const char *t = trusted[i];
        if (!t || !t[0]) continue;
        /* "module" or a parent package of it */
        if (in_package(module, t) && plain_name(name)) return true;
        /* "module.name" */
        if (!strncmp(t, module, ml) && t[ml] == '.' && !strcmp(t + ml + 1, name)) return true;
    }
    return false;
}

const char *allowlist_notorious(const char *module, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(notorious); i++) {
        if (notorious[i].name ? strcmp(module, notorious[i].module) || strcmp(name, notorious[i].name)
                              : !in_package(module, notorious[i].module))
            continue;
        return notorious[i].why;
    }
    return NULL;
}
