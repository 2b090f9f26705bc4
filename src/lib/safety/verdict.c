/*
 * verdict.c - what a loader would do with a pickle, judged site by site.
 *
 * The interpreter (pickle_vm.c) records every import, every call with its
 * arguments, every BUILD state and the method calls that container
 * opcodes make on objects.  Here each is held against the allowlist
 * (allowlist.c), the kind it gives a name, and the caller's trusted names:
 *
 *  - an import must be listed (or trusted): importing runs the module;
 *  - a call must call an imported name directly, of a kind that may be
 *    called: a class, a function that only builds data, or a callable
 *    whose arguments are checked here because it constructs or calls what
 *    it is given (copyreg's reconstructors construct any class, numpy's
 *    BitGenerator constructors call their second argument).  Names kept
 *    only as values (metrics, ufuncs) are never called by a model's load;
 *  - SETITEM(S), APPEND(S) and ADDITEMS on an object call its
 *    __setitem__, append/extend or add: only containers may have them;
 *  - BUILD on anything but an object the stream made sets attributes of
 *    a class or module: refused;
 *  - states that the libraries act on blindly must be in the form they
 *    write themselves: numpy takes a dtype's item size and object flag
 *    from its state, and scipy exec()s a distribution's stored template;
 *  - an array given its state twice, or referred to before its state (a
 *    view, say, that would see its memory change), is refused.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "pickle/allowlist.h"
#include "base/buf.h"
#include "numpy/npy.h"
#include "safety/verdict.h"

/* ---- printable names --------------------------------------------------- */

/* A printable copy of a name: printable ASCII but the backslash as it
 * is, everything else as \xNN, so that no two byte strings print the
 * same.  *readable is cleared when the name cannot be compared as it is
 * written (escapes in a STRING/UNICODE argument, a name too long). */
#define NAME_MAX_SHOWN 200

static char *printable(const pv_vm *vm, pv v, bool *readable)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    if (v.kind == PV_STR || v.kind == PV_BYTES) {
        p = vm->data + v.a;
        n = (size_t)v.n;
        if ((v.enc == ENC_ESCAPED || v.enc == ENC_RAW_UNICODE_ESCAPE) && memchr(p, '\\', n)) *readable = false;
    } else {
        *readable = false;
    }
    if (n > NAME_MAX_SHOWN) {
        n = NAME_MAX_SHOWN;
        *readable = false;
    }
    char *s = malloc(4 * n + 4);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') s[k++] = (char)p[i];
        else k += (size_t)snprintf(s + k, 5, "\\x%02x", p[i]);
    }
    if (!*readable && n == NAME_MAX_SHOWN) memcpy(s + k, "...", 3), k += 3;
    s[k] = 0;
    return s;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static const char *opname(uint8_t opcode)
{
    const opinfo *in = opinfo_get(opcode);
    return in ? in->name : "?";
}

/* ---- the sites ------------------------------------------------------------ */

#define NUMPY_SCALAR_MODULES "numpy.core.multiarray|numpy._core.multiarray|numpy.core._multiarray_umath"

/* What a global is, found once per global (a pickle names each of its
 * globals once and refers to it through the memo, so this is what keeps
 * the judging of a hundred thousand calls cheap): its kind, and the
 * roles a few rules ask about. */
enum {
    R_KIND = 0xff,
    R_DTYPE = 1 << 8,         /* numpy.dtype */
    R_EMPTY_ARRAY = 1 << 9,   /* _reconstruct, _mareconstruct: arrays that get their memory from BUILD */
    R_CALLS_ARGS = 1 << 10,   /* a class whose constructor calls what it is given */
    R_BYTEARRAY = 1 << 11,
    R_DEFAULTDICT = 1 << 12,
    R_BITGEN_FN = 1 << 13,    /* numpy.random._pickle.__bit_generator_ctor */
    R_NEWOBJ_FN = 1 << 14,    /* copyreg.__newobj__ (not __newobj_ex__) */
    R_OBJECT = 1 << 15,       /* builtins.object */
    R_DTYPE_CLASS = 1 << 16,  /* numpy.dtype and numpy.dtypes.*: its instances are dtypes */
    R_ARRAY_CLASS = 1 << 17,  /* ndarray and the subclasses listed: its instances are arrays */
    R_TREE = 1 << 19,         /* sklearn.tree._tree.Tree */
    R_NO_BUILD = 1 << 18      /* returns finished data (a scalar, an array, bytes, a ufunc, the
                                 masked constant) that pickles never give a state: it may be a
                                 shared value, or (numpy's scalar of an object) the argument itself */
};

typedef struct judge {
    const pv_vm *vm;
    const tp_options *opt;
    tp_inspection *r;
    size_t icap, ccap, acap;
    size_t base;              /* index in r->imports of the run's first global */
    unsigned loaders;
    uint32_t *facts;          /* per global: al_kind | R_* */
    bool arrays;              /* list the arrays too */
} judge;

static uint32_t global_facts(const pv_vm *vm, pv g)
{
    static const char *const tree_modules =
        "sklearn.neighbors._kd_tree|sklearn.neighbors.kd_tree|sklearn.neighbors._ball_tree|sklearn.neighbors.ball_tree";
    static const char *const trees[] = {"KDTree", "KDTree32", "KDTree64", "BallTree", "BallTree32", "BallTree64"};
    static const char *const frozen[] = {"rv_frozen", "rv_continuous_frozen", "rv_discrete_frozen"};
    uint32_t f = (uint32_t)allowlist_global(vm, g);
    if (!f) return 0;
    if (pv_is_global(vm, g, "numpy", "dtype")) f |= R_DTYPE | R_DTYPE_CLASS;
    const pv_global *gl = pv_global_of(vm, g);
    if (gl && pv_text_eq(vm, gl->module, "numpy.dtypes")) f |= R_DTYPE_CLASS;
    if (pv_is_global(vm, g, "numpy", "ndarray") || pv_is_global(vm, g, "numpy|numpy.matrixlib.defmatrix", "matrix") ||
        pv_is_global(vm, g, "numpy.ma.core", "MaskedArray"))
        f |= R_ARRAY_CLASS;
    if (pv_is_global(vm, g, "sklearn.tree._tree", "Tree")) f |= R_TREE;
    if (pv_is_global(vm, g, NUMPY_SCALAR_MODULES, "scalar") ||
        pv_is_global(vm, g, "numpy.core.numeric|numpy._core.numeric", "_frombuffer") ||
        pv_is_global(vm, g, "_codecs", "encode") || pv_is_global(vm, g, "numpy.core", "_ufunc_reconstruct") ||
        pv_is_global(vm, g, "numpy.ma.core", "MaskedConstant"))
        f |= R_NO_BUILD;
    if (pv_is_global(vm, g, NUMPY_SCALAR_MODULES, "_reconstruct") ||
        pv_is_global(vm, g, "numpy.ma.core", "_mareconstruct"))
        f |= R_EMPTY_ARRAY;
    for (size_t i = 0; i < ARRAY_LEN(trees); i++)
        if (pv_is_global(vm, g, tree_modules, trees[i])) f |= R_CALLS_ARGS;
    for (size_t i = 0; i < ARRAY_LEN(frozen); i++)
        if (pv_is_global(vm, g, "scipy.stats._distn_infrastructure", frozen[i])) f |= R_CALLS_ARGS;
    if (pv_is_global(vm, g, "builtins|__builtin__", "bytearray")) f |= R_BYTEARRAY;
    if (pv_is_global(vm, g, "collections", "defaultdict")) f |= R_DEFAULTDICT;
    if (pv_is_global(vm, g, "numpy.random._pickle", "__bit_generator_ctor")) f |= R_BITGEN_FN;
    if (pv_is_global(vm, g, "copyreg|copy_reg", "__newobj__")) f |= R_NEWOBJ_FN;
    if (pv_is_global(vm, g, "builtins|__builtin__", "object")) f |= R_OBJECT;
    return f;
}

static uint32_t facts_of(const judge *j, pv v)
{
    return v.kind == PV_GLOBAL && v.ref < j->vm->nglobals ? j->facts[v.ref] : 0;
}

static al_kind kind_of(const judge *j, pv v) { return (al_kind)(facts_of(j, v) & R_KIND); }

/* allowlist_obj_class with the judge's facts (see there: OBJ and INST
 * of a reconstructor make an instance of its first argument) */
static pv class_of(const judge *j, const pv_obj *o)
{
    if (o->how == HOW_NEWOBJ || o->how == HOW_NEWOBJ_EX) return o->callable;
    if (o->how != HOW_REDUCE && o->how != HOW_OBJ && o->how != HOW_INST) return (pv){0};
    al_kind k = kind_of(j, o->callable);
    if (allowlist_is_class(k)) return o->callable;
    if (k == AL_RULE_RECONSTRUCTOR || k == AL_RULE_NEWOBJ || k == AL_RULE_CLASS_ARG) {
        const pv_seq *args = pv_seq_of(j->vm, o->args);
        if (args && args->n >= 1 && args->items[0].kind == PV_GLOBAL) return args->items[0];
        return (pv){0};
    }
    return o->how != HOW_REDUCE && k == AL_NONE ? o->callable : (pv){0};
}

/* REDUCE, and OBJ or INST, which call what they name the same way */
static bool is_call(const pv_obj *o) { return o->how == HOW_REDUCE || o->how == HOW_OBJ || o->how == HOW_INST; }

static int add_import(judge *j, char *module, char *name, uint8_t opcode, uint64_t offset, int32_t ext)
{
    tp_inspection *r = j->r;
    if (!module || !name || !array_room((void **)&r->imports, &j->icap, r->nimports, sizeof *r->imports)) {
        free(module);
        free(name);
        return -1;
    }
    tp_import *im = &r->imports[r->nimports++];
    memset(im, 0, sizeof *im);
    im->module = module;
    im->name = name;
    im->opcode = opname(opcode);
    im->offset = offset;
    im->ext_code = ext;
    im->loaders = j->loaders;
    return 0;
}

static int add_call(judge *j, const char *opcode, uint64_t offset, int64_t import, tp_status status, const char *why)
{
    tp_inspection *r = j->r;
    if (!array_room((void **)&r->calls, &j->ccap, r->ncalls, sizeof *r->calls)) return -1;
    tp_call *c = &r->calls[r->ncalls++];
    memset(c, 0, sizeof *c);
    c->opcode = opcode;
    c->offset = offset;
    c->import = import;
    c->status = status;
    c->why = why;
    c->loaders = j->loaders;
    return 0;
}

/* The import entry of a global value, -1 if v is none. */
static int64_t import_of(const judge *j, pv v)
{
    return v.kind == PV_GLOBAL && v.ref < j->vm->nglobals ? (int64_t)(j->base + v.ref) : -1;
}

static const tp_import *import_at(const judge *j, int64_t i) { return i >= 0 ? &j->r->imports[i] : NULL; }

/* How a global may be used as a class: TP_ALLOWED (a listed class),
 * TP_TRUSTED (the caller trusts it), TP_REFUSED. */
static tp_status class_status(const judge *j, pv v)
{
    const tp_import *im = import_at(j, import_of(j, v));
    if (!im) return TP_REFUSED;
    if (im->status == TP_TRUSTED) return TP_TRUSTED;
    return im->status == TP_ALLOWED && allowlist_is_class(kind_of(j, v)) ? TP_ALLOWED : TP_REFUSED;
}

static tp_status worse(tp_status a, tp_status b) { return a > b ? a : b; }

/* ---- argument rules ------------------------------------------------------- */

static const char *const BIT_GENERATORS[] = {"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"};

/* A BitGenerator named by a str constant (numpy 1.17-2.0), one of the
 * classes, or an instance of one (numpy 1.24 and later pass the one
 * __bit_generator_ctor made, whose own arguments are judged at its call). */
static bool bit_generator_arg(const judge *j, pv v, tp_status *st)
{
    const pv_obj *inst = pv_obj_of(j->vm, v);
    if (inst && inst->how == HOW_REDUCE && (facts_of(j, inst->callable) & R_BITGEN_FN)) return true;
    if (inst) v = class_of(j, inst);
    for (size_t i = 0; i < ARRAY_LEN(BIT_GENERATORS); i++) {
        if (!inst && v.kind == PV_STR && pv_text_eq(j->vm, v, BIT_GENERATORS[i])) return true;
        const pv_global *g = pv_global_of(j->vm, v);
        if (g && pv_text_eq(j->vm, g->name, BIT_GENERATORS[i])) {
            tp_status s = class_status(j, v);
            *st = worse(*st, s);
            return s != TP_REFUSED;
        }
    }
    return false;
}

/* Cython's __pyx_unpickle_X(type, checksum, state) runs X.__new__(type):
 * type must be X itself, of the same module.  True for other callables. */
static bool pyx_unpickle_own_class(const pv_vm *vm, pv callable, pv cls)
{
    static const char prefix[] = "__pyx_unpickle_";
    const pv_global *f = pv_global_of(vm, callable), *c = pv_global_of(vm, cls);
    const uint8_t *fn, *fm, *cn, *cm;
    size_t fnl, fml, cnl, cml;
    if (!f || !pv_text(vm, f->name, &fn, &fnl) || fnl < sizeof prefix - 1 || memcmp(fn, prefix, sizeof prefix - 1))
        return true;
    if (!c || !pv_text(vm, f->module, &fm, &fml) || !pv_text(vm, c->module, &cm, &cml) ||
        !pv_text(vm, c->name, &cn, &cnl))
        return false;
    return fml == cml && !memcmp(fm, cm, fml) && cnl == fnl - (sizeof prefix - 1) &&
           !memcmp(cn, fn + sizeof prefix - 1, cnl);
}

/* Made without running a constructor on arguments: NEWOBJ with none,
 * copyreg.__newobj__(cls), copyreg._reconstructor(cls, object, None), or a
 * helper that only calls cls.__new__(cls) (newObj, __pyx_unpickle_*). */
static bool made_without_arguments(const judge *j, const pv_obj *o, al_kind k)
{
    const pv_seq *args = pv_seq_of(j->vm, o->args);
    size_t n = args ? args->n : 0;
    if (o->how == HOW_NEWOBJ) return n == 0;
    if (o->how != HOW_REDUCE) return false;
    if (k == AL_RULE_CLASS_ARG) return true;
    if (k == AL_RULE_NEWOBJ) return n == 1 && (facts_of(j, o->callable) & R_NEWOBJ_FN);
    if (k == AL_RULE_RECONSTRUCTOR)
        return n == 3 && (facts_of(j, args->items[1]) & R_OBJECT) && args->items[2].kind == PV_NONE;
    return false;
}

/* Builtins whose arguments could reach further: bytearray(text, codec)
 * looks the codec up by name, defaultdict's factory is called on every
 * missing key.  NULL when the arguments are those pickles write. */
static const char *builtin_arguments(const judge *j, const pv_obj *o, const pv_seq *args, tp_status *st)
{
    const pv_vm *vm = j->vm;
    size_t n = args ? args->n : 0;
    uint32_t f = facts_of(j, o->callable);
    if (f & R_BYTEARRAY) {
        if (n == 2 && args->items[0].kind == PV_STR &&
            (pv_text_eq(vm, args->items[1], "latin-1") || pv_text_eq(vm, args->items[1], "latin1")))
            return NULL;
        return n <= 1 ? NULL : "bytearray with another codec than latin-1";
    }
    if ((f & R_DEFAULTDICT) && n >= 1 && args->items[0].kind != PV_NONE) {
        tp_status s = class_status(j, args->items[0]);
        if (s == TP_REFUSED) return "a defaultdict whose factory is not an allowed class";
        *st = worse(*st, s);
    }
    return NULL;
}

/* The arguments of a callable of kind k; *st gets worse for trusted
 * classes among them.  NULL when they are what the rule permits. */
static const char *check_arguments(const judge *j, const pv_obj *o, al_kind k, tp_status *st)
{
    const pv_vm *vm = j->vm;
    const pv_seq *args = pv_seq_of(vm, o->args);
    size_t n = args ? args->n : 0;
    switch (k) {
    case AL_RULE_RECONSTRUCTOR:
        /* base.__new__(cls, state), then base.__init__ */
        if (n != 3) return "copyreg._reconstructor with other than (class, base, state)";
        for (size_t i = 0; i < 2; i++) {
            tp_status s = class_status(j, args->items[i]);
            if (s == TP_REFUSED) return "copyreg._reconstructor given something that is not an allowed class";
            *st = worse(*st, s);
        }
        return NULL;
    case AL_RULE_NEWOBJ:
    case AL_RULE_CLASS_ARG: {
        if (n < 1) return "a reconstructor without the class it makes";
        if (k == AL_RULE_CLASS_ARG && !pyx_unpickle_own_class(vm, o->callable, args->items[0]))
            return "Cython's __pyx_unpickle_X given another class than X";
        /* every class among the arguments is made or used to make one */
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && args->items[i].kind != PV_GLOBAL) continue;
            tp_status s = class_status(j, args->items[i]);
            if (s == TP_REFUSED) return "a reconstructor given something that is not an allowed class";
            *st = worse(*st, s);
        }
        return NULL;
    }
    case AL_RULE_BITGEN_CTOR: {
        /* __bit_generator_ctor(name), __randomstate_ctor(name, ctor),
         * __generator_ctor(name, ctor): ctor is called with name */
        if (n > 2) return "a numpy.random constructor with more than two arguments";
        if (n >= 1 && !bit_generator_arg(j, args->items[0], st))
            return "a numpy.random constructor given something that is not a BitGenerator";
        if (n == 2 && !(facts_of(j, args->items[1]) & R_BITGEN_FN))
            return "a numpy.random constructor given another constructor to call";
        return NULL;
    }
    case AL_RULE_UFUNC_RECONSTRUCT: {
        char m[128], name[64];
        const uint8_t *p;
        size_t len;
        if (n != 2 || args->items[0].kind != PV_STR || args->items[1].kind != PV_STR) return "_ufunc_reconstruct with other arguments than two names";
        if (!pv_text(vm, args->items[0], &p, &len) || len >= sizeof m) return "_ufunc_reconstruct given an unreadable module";
        memcpy(m, p, len), m[len] = 0;
        if (!pv_text(vm, args->items[1], &p, &len) || len >= sizeof name) return "_ufunc_reconstruct given an unreadable name";
        memcpy(name, p, len), name[len] = 0;
        if (strncmp(m, "numpy", 5) || allowlist_kind(m, name) != AL_REF)
            return "_ufunc_reconstruct given something that is not a numpy ufunc";
        return NULL;
    }
    case AL_RULE_SCALAR: {
        /* scalar(dtype[, data]) builds a scalar from data's bytes, but for
         * a dtype with objects it returns data itself (numpy
         * multiarraymodule.c array_scalar), whatever data is: a BUILD on
         * "the scalar" is then a BUILD on that, unseen by the rules */
        uint64_t size;
        bool obj = false;
        if (n < 1 || n > 2) return "numpy's scalar() with other arguments than (dtype, data)";
        if (npy_dtype_check(vm, args->items[0], &size, &obj))
            return "numpy's scalar() of a dtype that is not written the way numpy writes one";
        if (obj) return "numpy's scalar() of a dtype with objects: it returns its second argument itself (numpy never writes one)";
        return NULL;
    }
    case AL_RULE_CODECS_ENCODE:
        if (n != 2 || args->items[0].kind != PV_STR || !pv_text_eq(vm, args->items[1], "latin1"))
            return "_codecs.encode with other arguments than (text, 'latin1')";
        return NULL;
    default: return NULL;
    }
}

/* ---- states ------------------------------------------------------------- */

/* scipy's parse_arg_template (scipy.stats._distn_infrastructure, 1.6 and
 * later; see scripts/allowlist/scipy_templates.md), which rv_generic's
 * __setstate__ exec()s from the pickled state, and the argument lists
 * that the continuous and the discrete distributions fill in. */
static const char SCIPY_TEMPLATE[] =
    "\ndef _parse_args(self, %S %I):\n    return (%S), %O\n\n"
    "def _parse_args_rvs(self, %S %I, size=None):\n    return self._argcheck_rvs(%S %O, size=size)\n\n"
    "def _parse_args_stats(self, %S %I, moments='mv'):\n    return (%S), %O, moments\n";
static const char *const SCIPY_LOCSCALE[][2] = {{"loc=0, scale=1", "loc, scale"}, {"loc=0", "loc, 1"}};
/* The keys of the states of scipy's distributions (scipy_templates.md). */
static const char *const SCIPY_STATE_KEYS[] = {
    "__doc__", "_ctor_param", "_parse_arg_template", "_random_state", "_stats_has_moments", "a", "b", "badvalue",
    "extradoc", "moment_type", "name", "numargs", "shapes", "xtol", "inc", "moment_tol", "vecentropy", "_density",
    "_hbin_widths", "_hbins", "_hcdf", "_histogram", "_hpdf", "pk", "qvals", "xk"};

static bool is_py_identifier(const uint8_t *p, size_t n)
{
    static const char *const keywords[] = {"False", "None", "True", "and", "as", "assert", "async", "await",
                                           "break", "class", "continue", "def", "del", "elif", "else", "except",
                                           "finally", "for", "from", "global", "if", "import", "in", "is",
                                           "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
                                           "while", "with", "yield"};
    if (!n || (p[0] >= '0' && p[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
              p[i] == '_'))
            return false;
    for (size_t i = 0; i < ARRAY_LEN(keywords); i++)
        if (strlen(keywords[i]) == n && !memcmp(p, keywords[i], n)) return false;
    return true;
}

/* shape_arg_str as scipy makes it from the state's `shapes`: the names
 * (split at commas and blanks) each followed by ", ".  False when a
 * shape is no identifier (scipy refuses those too). */
static bool scipy_shape_args(const pv_vm *vm, const pv *shapes, bytebuf *out)
{
    if (!shapes || shapes->kind == PV_NONE) return true;
    const uint8_t *p;
    size_t n;
    if (shapes->kind != PV_STR || !pv_text(vm, *shapes, &p, &n)) return false;
    for (size_t i = 0; i < n;) {
        while (i < n && (p[i] == ',' || p[i] == ' ')) i++;
        size_t s = i;
        while (i < n && p[i] != ',' && p[i] != ' ') i++;
        if (i == s) continue;
        if (!is_py_identifier(p + s, i - s)) return false;
        bytebuf_append(out, p + s, i - s);
        bytebuf_append(out, ", ", 2);
    }
    return !out->failed;
}

static bool scipy_template_matches(const uint8_t *text, size_t len, const bytebuf *shape_args, const char *in,
                                   const char *outv)
{
    size_t k = 0;
    for (const char *t = SCIPY_TEMPLATE; *t; t++) {
        const uint8_t *piece = (const uint8_t *)t;
        size_t plen = 1;
        if (t[0] == '%') {
            t++;
            piece = t[0] == 'S' ? shape_args->data : (const uint8_t *)(t[0] == 'I' ? in : outv);
            plen = t[0] == 'S' ? shape_args->len : strlen((const char *)piece);
        }
        if (plen > len - k || (plen && memcmp(text + k, piece, plen))) return false;
        k += plen;
    }
    return k == len;
}

static const char *scipy_state(const pv_vm *vm, const pv_obj *o)
{
    if (!o->builds) return NULL; /* made by its constructor, which writes its own template */
    if (o->builds > 1) return "a scipy distribution given its state twice";
    const pv_seq *d = pv_seq_of(vm, o->state);
    /* Before scipy 1.6 the state was (ctor_param, random_state), and
     * scipy's __setstate__, failing to update the instance with it, calls
     * __init__, which makes its own template (or it fails with a TypeError
     * on the random state after one harmless str entry). */
    if (d && d->kind == PV_TUPLE && d->n == 2 && d->items[0].kind == PV_DICT &&
        (d->items[1].kind == PV_OBJECT || d->items[1].kind == PV_NONE))
        return NULL;
    if (!d || d->kind != PV_DICT) return "a scipy distribution whose state is not a dict";
    if (d->last_mod > o->build_offset) return "a scipy distribution whose state changes after it is built";
    const pv *tmpl = pv_dict_get(vm, o->state, "_parse_arg_template");
    if (!tmpl) return NULL; /* nothing to exec: scipy fails on it */
    const uint8_t *text;
    size_t len;
    /* only the data attributes scipy's own states hold: any other key
     * (_attach_methods, __init__, ...) would shadow a method that
     * __setstate__ then calls */
    for (size_t i = 0; i < d->n; i += 2) {
        size_t k = 0;
        while (k < ARRAY_LEN(SCIPY_STATE_KEYS) && !pv_text_eq(vm, d->items[i], SCIPY_STATE_KEYS[k])) k++;
        if (d->items[i].kind != PV_STR || k == ARRAY_LEN(SCIPY_STATE_KEYS))
            return "a scipy distribution state with a key scipy does not write (it could stand for a method that "
                   "loading calls)";
    }
    if (tmpl->kind != PV_STR || !pv_text(vm, *tmpl, &text, &len))
        return "a scipy distribution whose stored code is not plain text";
    bytebuf shape_args = {0};
    bool ok = scipy_shape_args(vm, pv_dict_get(vm, o->state, "shapes"), &shape_args);
    for (size_t i = 0; ok && i < ARRAY_LEN(SCIPY_LOCSCALE); i++)
        if (scipy_template_matches(text, len, &shape_args, SCIPY_LOCSCALE[i][0], SCIPY_LOCSCALE[i][1])) {
            bytebuf_free(&shape_args);
            return NULL;
        }
    bytebuf_free(&shape_args);
    return "a scipy distribution whose stored code (_parse_arg_template, which scipy exec()s on load) "
           "is not the code scipy writes";
}

/* ---- judging ---------------------------------------------------------------- */

static void judge_import(const judge *j, tp_import *im, const pv_global *g, bool readable)
{
    if (g->opcode == OP_EXT1 || g->opcode == OP_EXT2 || g->opcode == OP_EXT4) {
        im->status = TP_REFUSED;
        im->why = "an entry of the copyreg extension registry: a number, not a name";
    } else if (!readable) {
        im->status = TP_REFUSED;
        im->why = "the name is written with escapes or is too long to compare";
    } else if (allowlist_kind(im->module, im->name) != AL_NONE) {
        im->status = TP_ALLOWED;
    } else if (j->opt && allowlist_trusted(im->module, im->name, j->opt->trusted, j->opt->ntrusted)) {
        im->status = TP_TRUSTED;
    } else {
        im->status = TP_REFUSED;
        im->why = allowlist_notorious(im->module, im->name);
        if (!im->why) im->why = "not on the allowlist";
    }
}

/* The status of a call of object o, and why when refused. */
static tp_status judge_call(const judge *j, const pv_obj *o, int64_t imp, const char **why)
{
    const pv_vm *vm = j->vm;
    *why = NULL;
    const tp_import *im = import_at(j, imp);
    if (!im) return TP_REFUSED; /* calls a value: why stays NULL */
    if (im->status != TP_ALLOWED) {
        *why = im->status == TP_REFUSED ? im->why : NULL;
        return im->status;
    }
    al_kind k = kind_of(j, o->callable);
    tp_status st = TP_ALLOWED;
    if (k == AL_REF) {
        *why = "a value models keep (a metric or ufunc, say); loading a model never calls it";
        return TP_REFUSED;
    }
    bool cls = allowlist_is_class(k);
    if ((o->how == HOW_NEWOBJ || o->how == HOW_NEWOBJ_EX) && !cls) {
        *why = "NEWOBJ of something that is not a class";
        return TP_REFUSED;
    }
    if ((*why = check_arguments(j, o, k, &st))) return TP_REFUSED;
    const pv_seq *args = pv_seq_of(vm, o->args);
    if ((facts_of(j, class_of(j, o)) & R_CALLS_ARGS) && !made_without_arguments(j, o, k)) {
        *why = "a class whose constructor calls what it is given, constructed with arguments";
        return TP_REFUSED;
    }
    if ((*why = builtin_arguments(j, o, args, &st))) return TP_REFUSED;
    return st;
}

/* The attribute names a BUILD gives: those of the state dict, and of the
 * slot dict of a (dict, slots) state.  Some methods are looked up on the
 * instance, where an attribute shadows the class's method: by the
 * unpickler (pickle.py) __setstate__ at every BUILD, append and extend at
 * APPEND(S), add at ADDITEMS; by the constructors a load may call with the
 * object as argument, keys (dict(x), OrderedDict(x), Counter(x) call
 * x.keys()) and numpy's __array__, __array_interface__ and
 * __array_struct__ (numpy.matrix(x), np.float64(x), ...: numpy calls the
 * first, and takes the others' data pointer for the array's memory).  One
 * set by a state would be called, or trusted, on a container too (an
 * OrderedDict has an instance dict): a call of whatever it is, with
 * arguments no rule checks.  A name written with escapes could be any of them. */
static const char *const SHADOWED[] = {"__setstate__", "append", "extend", "add", "keys",
                                       "__array__", "__array_interface__", "__array_struct__"};

#define PV_NONE_VALUE ((pv){.kind = PV_NONE})
static const char *state_keys(const pv_vm *vm, const pv_obj *o)
{
    if (!o->builds) return NULL;
    pv st = o->state;
    const pv_seq *t = pv_seq_of(vm, st);
    pv dicts[2] = {st, PV_NONE_VALUE};
    if (t && t->kind == PV_TUPLE && t->n == 2) dicts[0] = t->items[0], dicts[1] = t->items[1];
    for (int k = 0; k < 2; k++) {
        const pv_seq *d = pv_seq_of(vm, dicts[k]);
        if (!d || d->kind != PV_DICT) continue;
        for (size_t i = 0; i + 1 < d->n; i += 2) {
            pv key = d->items[i];
            const uint8_t *p;
            size_t n;
            if (key.kind != PV_STR) continue;
            if (!pv_text(vm, key, &p, &n))
                return "a state whose attribute name is written with escapes (it could be __setstate__)";
            for (size_t m = 0; m < ARRAY_LEN(SHADOWED); m++)
                if (pv_text_eq(vm, key, SHADOWED[m]))
                    return "a state that sets a method the loader looks up on the instance (__setstate__, append, "
                           "extend, add, keys, numpy's __array__ or __array_interface__): it would be called or trusted";
        }
    }
    return NULL;
}

/* What is wrong with an object's state, NULL if nothing. */
static const char *judge_state(const judge *j, const pv_obj *o)
{
    const pv_vm *vm = j->vm;
    uint32_t f = is_call(o) ? facts_of(j, o->callable) : 0;
    uint32_t cf = facts_of(j, class_of(j, o));
    if (f & R_DTYPE) {
        uint64_t size;
        bool obj;
        return npy_dtype_check(vm, (pv){.kind = PV_OBJECT, .ref = (uint32_t)(o - vm->objs)}, &size, &obj);
    }
    /* numpy takes a dtype's item size and object flags from its state:
     * only the one form numpy writes is checked (npy_dtype_check), so a
     * dtype made any other way (NEWOBJ numpy.dtype(dt, False, False) is
     * dt itself, copyreg's reconstructors, a numpy.dtypes class) is refused */
    if (cf & R_DTYPE_CLASS) return "a numpy dtype made otherwise than by numpy.dtype(typestr, False, True)";
    /* sklearn's Tree.__setstate__ takes child indices as they come; the
     * tree check (sklearn/locate.c) reads Trees in the form sklearn writes
     * them, Tree(n_features, n_classes, n_outputs) by REDUCE, so one made
     * by NEWOBJ, OBJ or a reconstructor would go unchecked */
    if ((cf & R_TREE) && !(o->how == HOW_REDUCE && (f & R_TREE)))
        return "a scikit-learn Tree made otherwise than by Tree(n_features, n_classes, n_outputs): the tree check "
               "would not see it";
    if ((f & R_NO_BUILD) && o->builds)
        return "BUILD on what a function returns as finished data (a numpy scalar, an array, bytes, a ufunc, the "
               "masked constant): pickles never give it a state, and it may be a shared value or an argument itself";
    const char *why = state_keys(vm, o);
    if (why) return why;
    if ((f & R_EMPTY_ARRAY) || (cf & R_ARRAY_CLASS)) {
        if (o->builds > 1) return "an array given its state twice";
        if (o->builds && o->early_ref) return "an array referred to before it was given its memory";
        return NULL;
    }
    if (kind_of(j, class_of(j, o)) == AL_RULE_SCIPY_DIST) return scipy_state(vm, o);
    return NULL;
}

static int judge_effect(judge *j, const pv_effect *e)
{
    const pv_vm *vm = j->vm;
    const char *op = opname(e->opcode);
    if (e->target.kind != PV_OBJECT && e->opcode != OP_BUILD)
        return add_call(j, op, e->offset, import_of(j, e->target), TP_REFUSED,
                        "item assignment or appending to something that is not a dict, list or set the pickle made");
    if (e->opcode == OP_BUILD) {
        /* BUILD on a global sets attributes of a class, function or module */
        const char *why = e->target.kind == PV_GLOBAL
                              ? "BUILD on a global: loading would set attributes of that class, function or module"
                              : "BUILD on a value that is not an object the pickle made";
        return add_call(j, op, e->offset, import_of(j, e->target), TP_REFUSED, why);
    }
    /* a method call on an object: its class must be a plain container */
    const pv_obj *o = pv_obj_of(vm, e->target);
    pv cls = o ? class_of(j, o) : (pv){0};
    int64_t imp = import_of(j, cls);
    const tp_import *im = import_at(j, imp);
    tp_status st = TP_REFUSED;
    const char *why = "on an object whose class is not a container this reader knows: loading would call its "
                      "__setitem__, append, extend or add";
    if (im && im->status == TP_TRUSTED) st = TP_TRUSTED, why = NULL;
    else if (im && im->status == TP_ALLOWED && kind_of(j, cls) == AL_CONTAINER) st = TP_ALLOWED, why = NULL;
    return add_call(j, op, e->offset, imp, st, why);
}

static void describe_dtype(const npy_dtype *dt, char *buf, size_t len)
{
    const npy_scalar *b = &dt->base;
    if (b->kind == 'V' || b->size == 1) snprintf(buf, len, "%c%u", b->kind, b->size);
    else snprintf(buf, len, "%c%c%u", b->big ? '>' : '<', b->kind, b->size);
}

static int add_array(judge *j, const pv_obj *o, const npy_array *a)
{
    tp_inspection *r = j->r;
    if (!array_room((void **)&r->arrays, &j->acap, r->narrays, sizeof *r->arrays)) return -1;
    tp_inspect_array *ar = &r->arrays[r->narrays++];
    memset(ar, 0, sizeof *ar);
    ar->offset = o->offset;
    describe_dtype(&a->dtype, ar->dtype, sizeof ar->dtype);
    ar->ndim = a->ndim;
    for (int d = 0; d < a->ndim && d < 8; d++) ar->shape[d] = a->shape[d];
    ar->nbytes = a->nbytes;
    return 0;
}

static void count_refused(tp_inspection *r)
{
    r->nrefused = 0;
    for (size_t i = 0; i < r->nimports; i++) r->nrefused += r->imports[i].status == TP_REFUSED;
    /* a call of a refused import is that import's refusal */
    for (size_t i = 0; i < r->ncalls; i++) {
        const tp_call *c = &r->calls[i];
        r->nrefused += c->status == TP_REFUSED && !(c->import >= 0 && r->imports[c->import].status == TP_REFUSED);
    }
}

/* Sites in stream order (stable): imports, whose indices the calls
 * follow, and calls. */
typedef struct site_key {
    uint64_t offset;
    size_t index;
} site_key;

static int by_site(const void *a, const void *b)
{
    const site_key *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static site_key *sorted_keys(size_t n, const void *base, size_t elem, size_t offset_at)
{
    site_key *k = malloc((n + 1) * sizeof *k);
    if (!k) return NULL;
    for (size_t i = 0; i < n; i++) {
        memcpy(&k[i].offset, (const uint8_t *)base + i * elem + offset_at, sizeof k[i].offset);
        k[i].index = i;
    }
    qsort(k, n, sizeof *k, by_site);
    return k;
}

static int sort_sites(tp_inspection *r)
{
    bool sorted = true; /* the common case: nothing but the calls, in order */
    for (size_t i = 1; i < r->nimports && sorted; i++) sorted = r->imports[i - 1].offset <= r->imports[i].offset;
    for (size_t i = 1; i < r->ncalls && sorted; i++) sorted = r->calls[i - 1].offset <= r->calls[i].offset;
    if (sorted) return 0;
    site_key *ki = sorted_keys(r->nimports, r->imports, sizeof *r->imports, offsetof(tp_import, offset));
    site_key *kc = sorted_keys(r->ncalls, r->calls, sizeof *r->calls, offsetof(tp_call, offset));
    int64_t *where = malloc((r->nimports + 1) * sizeof *where);
    tp_import *imports = malloc((r->nimports + 1) * sizeof *imports);
    tp_call *calls = malloc((r->ncalls + 1) * sizeof *calls);
    int rc = ki && kc && where && imports && calls ? 0 : -1;
    if (!rc) {
        for (size_t i = 0; i < r->nimports; i++) {
            imports[i] = r->imports[ki[i].index];
            where[ki[i].index] = (int64_t)i;
        }
        for (size_t i = 0; i < r->ncalls; i++) {
            calls[i] = r->calls[kc[i].index];
            if (calls[i].import >= 0) calls[i].import = where[calls[i].import];
        }
        if (r->nimports) memcpy(r->imports, imports, r->nimports * sizeof *imports);
        if (r->ncalls) memcpy(r->calls, calls, r->ncalls * sizeof *calls);
    }
    free(ki);
    free(kc);
    free(where);
    free(imports);
    free(calls);
    return rc;
}

static int collect(judge *jp);

int verdict_collect(const pv_vm *vm, const tp_options *opt, tp_inspection *r, bool arrays, unsigned loaders)
{
    judge j = {vm, opt, r, r->nimports, r->ncalls, r->narrays, r->nimports, loaders, NULL, arrays};
    j.facts = malloc((vm->nglobals + 1) * sizeof *j.facts);
    if (!j.facts) return -1;
    for (size_t i = 0; i < vm->nglobals; i++) j.facts[i] = global_facts(vm, (pv){.kind = PV_GLOBAL, .ref = (uint32_t)i});
    int rc = collect(&j);
    free(j.facts);
    return rc;
}

static int collect(judge *jp)
{
    judge j = *jp;
    const pv_vm *vm = j.vm;
    tp_inspection *r = j.r;
    r->protocol = MAX_OF(r->protocol, vm->max_proto);
    r->opcodes = MAX_OF(r->opcodes, vm->nops);
    /* imports first, in stream order: their indices are the globals' */
    for (size_t i = 0; i < vm->nglobals; i++) {
        const pv_global *g = &vm->globals[i];
        bool readable = true;
        char *m, *n;
        if (g->opcode == OP_EXT1 || g->opcode == OP_EXT2 || g->opcode == OP_EXT4) {
            m = dup_str("");
            n = dup_str("");
        } else {
            m = printable(vm, g->module, &readable);
            n = printable(vm, g->name, &readable);
        }
        if (add_import(&j, m, n, g->opcode, g->offset, g->ext_code)) return -1;
        judge_import(&j, &r->imports[r->nimports - 1], g, readable);
    }
    /* calls and states, then effects, each in stream order */
    for (size_t i = 0; i < vm->nobjs; i++) {
        const pv_obj *o = &vm->objs[i];
        int64_t imp = -1;
        const char *why = NULL;
        tp_status st = TP_REFUSED;
        if (o->how == HOW_PERSID) {
            imp = (int64_t)r->nimports;
            if (add_import(&j, dup_str(""), dup_str(""), o->opcode, o->offset, 0)) return -1;
            r->imports[imp].status = TP_REFUSED;
            r->imports[imp].why = "a persistent id: a plain load fails on it, a custom loader may do anything";
            why = r->imports[imp].why;
        } else {
            imp = import_of(&j, o->callable);
            st = judge_call(&j, o, imp, &why);
        }
        if (add_call(&j, opname(o->opcode), o->offset, imp, st, why)) return -1;
        const char *bad = st == TP_REFUSED || o->how == HOW_PERSID ? NULL : judge_state(&j, o);
        if (bad && add_call(&j, o->builds ? "BUILD" : opname(o->opcode), o->builds ? o->build_offset : o->offset, imp,
                            TP_REFUSED, bad))
            return -1;
        npy_array a;
        pv v = {.kind = PV_OBJECT, .ref = (uint32_t)i};
        if (j.arrays && o->how != HOW_PERSID && npy_array_parse(vm, v, &a) && add_array(&j, o, &a)) return -1;
    }
    for (size_t i = 0; i < vm->neffects; i++)
        if (judge_effect(&j, &vm->effects[i])) return -1;
    count_refused(r);
    return sort_sites(r);
}

int verdict_note(tp_inspection *r, const char *opcode, uint64_t offset, const char *why, unsigned loaders)
{
    size_t cap = r->ncalls;
    judge j = {.r = r, .ccap = cap, .loaders = loaders};
    if (add_call(&j, opcode, offset, -1, TP_REFUSED, why)) return -1;
    count_refused(r);
    return sort_sites(r);
}

/* ---- two readings ---------------------------------------------------------- */

static bool same_import(const tp_import *a, const tp_import *b)
{
    return a->offset == b->offset && !strcmp(a->opcode, b->opcode) && !strcmp(a->module, b->module) &&
           !strcmp(a->name, b->name) && a->ext_code == b->ext_code;
}

static bool same_call(const tp_call *a, const tp_call *b)
{
    return a->offset == b->offset && !strcmp(a->opcode, b->opcode) && a->import == b->import && a->why == b->why;
}

/* Both lists are in stream order (sort_sites): one pass over each. */
int verdict_merge(tp_inspection *r, tp_inspection *more)
{
    int64_t *map = malloc((more->nimports + 1) * sizeof *map);
    if (!map) return -1;
    size_t icap = r->nimports, ccap = r->ncalls, n0 = r->nimports, c0 = r->ncalls;
    int rc = 0;
    for (size_t i = 0, k = 0; i < more->nimports; i++) {
        tp_import *m = &more->imports[i];
        while (k < n0 && r->imports[k].offset < m->offset) k++;
        size_t e = k;
        while (e < n0 && r->imports[e].offset == m->offset && !same_import(&r->imports[e], m)) e++;
        if (e < n0 && same_import(&r->imports[e], m)) {
            r->imports[e].loaders |= m->loaders;
            if (m->status > r->imports[e].status) r->imports[e].status = m->status, r->imports[e].why = m->why;
            map[i] = (int64_t)e;
            free(m->module);
            free(m->name);
        } else if (!rc && array_room((void **)&r->imports, &icap, r->nimports, sizeof *r->imports)) {
            map[i] = (int64_t)r->nimports;
            r->imports[r->nimports++] = *m;
        } else {
            map[i] = -1;
            free(m->module);
            free(m->name);
            rc = -1;
        }
        m->module = m->name = NULL;
    }
    for (size_t i = 0, k = 0; i < more->ncalls && !rc; i++) {
        tp_call c = more->calls[i];
        c.import = c.import >= 0 ? map[c.import] : -1;
        while (k < c0 && r->calls[k].offset < c.offset) k++;
        size_t e = k;
        while (e < c0 && r->calls[e].offset == c.offset && !same_call(&r->calls[e], &c)) e++;
        if (e < c0 && same_call(&r->calls[e], &c)) {
            r->calls[e].loaders |= c.loaders;
            r->calls[e].status = worse(r->calls[e].status, c.status);
        } else if (array_room((void **)&r->calls, &ccap, r->ncalls, sizeof *r->calls)) {
            r->calls[r->ncalls++] = c;
        } else {
            rc = -1;
        }
    }
    free(map);
    free(more->imports);
    free(more->calls);
    free(more->trees);
    free(more->arrays);
    r->protocol = MAX_OF(r->protocol, more->protocol);
    memset(more, 0, sizeof *more);
    count_refused(r);
    return rc ? rc : sort_sites(r);
}

/* The element size an inspection's lists are laid out with: the
 * caller's (tp_inspection_init), or the library's own. */
static size_t import_stride(const tp_inspection *r)
{
    return r->struct_size >= offsetof(tp_inspection, import_size) + sizeof r->import_size && r->import_size
               ? r->import_size
               : sizeof(tp_import);
}

void tp_inspection_free(tp_inspection *r)
{
    if (!r) return;
    size_t stride = import_stride(r);
    for (size_t i = 0; i < r->nimports; i++) {
        tp_import *im = (tp_import *)(void *)((uint8_t *)r->imports + i * stride);
        free(im->module);
        free(im->name);
    }
    free(r->imports);
    free(r->calls);
    free(r->trees);
    free(r->arrays);
    /* a caller's inspection keeps its sizes for the next tp_inspect */
    size_t n = r->struct_size, sizes[4] = {r->import_size, r->call_size, r->tree_size, r->array_size};
    if (n < offsetof(tp_inspection, array_size) + sizeof(size_t) || n > (1u << 16)) {
        memset(r, 0, sizeof *r);
        return;
    }
    memset(r, 0, MIN_OF(n, sizeof *r));
    r->struct_size = n;
    r->import_size = sizes[0], r->call_size = sizes[1], r->tree_size = sizes[2], r->array_size = sizes[3];
}

void tp_inspection_init_sized(tp_inspection *r, size_t size, size_t import_size, size_t call_size, size_t tree_size,
                              size_t array_size)
{
    memset(r, 0, size);
    r->struct_size = size;
    if (size >= offsetof(tp_inspection, array_size) + sizeof(size_t)) {
        r->import_size = import_size;
        r->call_size = call_size;
        r->tree_size = tree_size;
        r->array_size = array_size;
    }
}

/* One list laid out again with the caller's element size (the first
 * fields of each element, which the caller's header knows). */
static void *restride(void *list, size_t n, size_t ours, size_t theirs, bool *ok)
{
    if (!list || theirs == ours || !theirs) return list;
    uint8_t *p = calloc(n + 1, theirs);
    if (!p) {
        *ok = false;
        return list;
    }
    for (size_t i = 0; i < n; i++) memcpy(p + i * theirs, (uint8_t *)list + i * ours, MIN_OF(ours, theirs));
    free(list);
    return p;
}

int inspection_give(tp_inspection *out, tp_inspection *full)
{
    size_t n = out->struct_size;
    if (n < offsetof(tp_inspection, array_size) + sizeof(size_t) || n > (1u << 16)) {
        tp_inspection_free(full);
        return -1; /* not set up with tp_inspection_init */
    }
    bool ok = true;
    /* a caller whose tp_import is shorter than ours never frees the names
     * its copy leaves out: there are none, names come first */
    full->imports = restride(full->imports, full->nimports, sizeof(tp_import), out->import_size, &ok);
    full->calls = restride(full->calls, full->ncalls, sizeof(tp_call), out->call_size, &ok);
    full->trees = restride(full->trees, full->ntrees, sizeof(tp_inspect_tree), out->tree_size, &ok);
    full->arrays = restride(full->arrays, full->narrays, sizeof(tp_inspect_array), out->array_size, &ok);
    size_t sizes[4] = {out->import_size, out->call_size, out->tree_size, out->array_size};
    memcpy(out, full, MIN_OF(n, sizeof *full));
    out->struct_size = n;
    out->import_size = sizes[0], out->call_size = sizes[1], out->tree_size = sizes[2], out->array_size = sizes[3];
    return ok ? 0 : -1;
}
