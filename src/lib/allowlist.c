/*
 * allowlist.c - which names a model pickle may import.
 *
 * Loading a pickle imports every name it names (GLOBAL, STACK_GLOBAL,
 * INST) and calls whatever the stream asks it to call with arguments the
 * stream supplies.  So the question for each import is: can calling this
 * name (or using it as a class) with arbitrary arguments do anything but
 * build data?  The names below are those that sklearn, numpy, scipy and
 * joblib models actually use (measured on the fixtures and on the models
 * written by tests/cli/make_real_models.py with pickle protocols 2 to 5),
 * each of which only builds data from its arguments.
 *
 * What is deliberately NOT here, though it lives in "safe" packages:
 *  - builtins.getattr, setattr, eval, exec, compile, open, __import__,
 *    globals, vars, type, breakpoint, input: they reach or run anything.
 *    Pickles of bound methods use getattr: such models need --trust.
 *  - numpy.load, loadtxt, genfromtxt, fromfile, memmap, save*, DataSource,
 *    numpy.lib.format, numpy.lib.npyio: they read or write files (np.load
 *    with allow_pickle runs another pickle); numpy.ctypeslib loads shared
 *    libraries; numpy.testing runs code (runstring); numpy.f2py and
 *    numpy.distutils compile and run; vectorize, frompyfunc and
 *    apply_along_axis call the callables they are given.
 *  - joblib.load, dump, Parallel, delayed, Memory: they read, write or
 *    run.  joblib.numpy_pickle.NDArrayWrapper and ZNDArrayWrapper (the
 *    pre-0.10 format) name a file that the loader opens with np.load, so
 *    a pickle could make it read any .npy or pickle on the machine: only
 *    NumpyArrayWrapper, whose bytes are inside the file, is allowed.
 *  - functools.partial, operator.*: they compose callables.
 *  - in sklearn: datasets (fetch_* downloads, load_* reads files,
 *    dump_svmlight_file writes), externals (vendored joblib and arff
 *    loaders), utils._testing (assert_run_python_script starts a
 *    process), utils.parallel/_joblib/fixes (Parallel, delayed,
 *    _FuncWrapper), utils._mocking, utils.estimator_checks,
 *    utils.discovery, utils._available_if/metaestimators (descriptors
 *    that call what they hold), tests, conftest, build helpers.
 *
 * Rules rather than lists, where a list cannot be complete:
 *  - sklearn estimator classes live in hundreds of private modules whose
 *    names change between releases.  A class name (an identifier whose
 *    first letter after leading underscores is upper case, no dots) in
 *    any sklearn module outside the denied ones is allowed: constructing
 *    an sklearn class only stores parameters, and an attacker controls the
 *    pickle, not the installed sklearn.  Functions are allowed only where
 *    models store them as parameters (metrics for scorers, the
 *    univariate scores of feature_selection) and the two helpers sklearn's
 *    own classes pickle through: Cython's __pyx_unpickle_<Class> and the
 *    BinaryTree/DistanceMetric newObj, which both only make an instance.
 *  - scipy.sparse matrices and arrays, numpy.dtypes.*DType, and frozen
 *    scipy.stats distributions (RandomizedSearchCV keeps them) likewise.
 *
 * Arguments are not checked: every callable and class reachable from a
 * pickle must itself be imported, so every one is judged here, and
 * calling something that is not an imported name (a value returned by an
 * earlier call) is refused by the caller of this module.  Names spelled
 * for Python 2 (__builtin__, copy_reg) are what Python 3 writes at
 * protocols 0-2; the unpickler maps them to the same objects.
 *
 * EXT1/2/4 (the copyreg extension registry) carry a number, not a name,
 * and PERSID/BINPERSID hand a value to persistent_load, which a plain
 * load lacks and a custom loader may implement any way: both are refused.
 */
#include <stdio.h>

#include "allowlist.h"

typedef struct name_pair {
    const char *module;
    const char *name;
} name_pair;

static const name_pair exact[] = {
    /* builtins, in both spellings: types and constants only */
    {"builtins", "object"}, {"builtins", "set"}, {"builtins", "frozenset"}, {"builtins", "list"},
    {"builtins", "dict"}, {"builtins", "tuple"}, {"builtins", "bytearray"}, {"builtins", "bytes"},
    {"builtins", "str"}, {"builtins", "int"}, {"builtins", "float"}, {"builtins", "complex"},
    {"builtins", "bool"}, {"builtins", "slice"}, {"builtins", "range"}, {"builtins", "Ellipsis"},
    {"builtins", "NotImplemented"},
    {"__builtin__", "object"}, {"__builtin__", "set"}, {"__builtin__", "frozenset"}, {"__builtin__", "list"},
    {"__builtin__", "dict"}, {"__builtin__", "tuple"}, {"__builtin__", "bytearray"}, {"__builtin__", "bytes"},
    {"__builtin__", "str"}, {"__builtin__", "unicode"}, {"__builtin__", "int"}, {"__builtin__", "long"},
    {"__builtin__", "float"}, {"__builtin__", "complex"}, {"__builtin__", "bool"}, {"__builtin__", "slice"},
    {"__builtin__", "xrange"}, {"__builtin__", "Ellipsis"}, {"__builtin__", "NotImplemented"},
    /* object reconstruction: cls.__new__ / base.__init__ of classes that
     * are themselves imported, and so judged, separately */
    {"copyreg", "_reconstructor"}, {"copyreg", "__newobj__"}, {"copyreg", "__newobj_ex__"},
    {"copy_reg", "_reconstructor"}, {"copy_reg", "__newobj__"}, {"copy_reg", "__newobj_ex__"},
    /* protocol 2 bytes: _codecs.encode(text, 'latin1'); codecs only convert */
    {"_codecs", "encode"},
    {"collections", "OrderedDict"}, {"collections", "defaultdict"}, {"collections", "Counter"},
    {"collections", "deque"},
    {"datetime", "datetime"}, {"datetime", "date"}, {"datetime", "time"}, {"datetime", "timedelta"},
    {"datetime", "timezone"}, {"decimal", "Decimal"},
    /* numpy arrays, dtypes and scalars (numpy 1 and numpy 2 spellings) */
    {"numpy", "ndarray"}, {"numpy", "dtype"}, {"numpy", "matrix"},
    {"numpy.core.multiarray", "_reconstruct"}, {"numpy._core.multiarray", "_reconstruct"},
    {"numpy.core.multiarray", "scalar"}, {"numpy._core.multiarray", "scalar"},
    {"numpy.core.numeric", "_frombuffer"}, {"numpy._core.numeric", "_frombuffer"},
    {"numpy.ma.core", "_mareconstruct"}, {"numpy.ma.core", "MaskedArray"},
    {"numpy.matrixlib.defmatrix", "matrix"},
    {"numpy.random._pickle", "__randomstate_ctor"}, {"numpy.random._pickle", "__generator_ctor"},
    {"numpy.random._pickle", "__bit_generator_ctor"}, {"numpy.random", "__RandomState_ctor"},
    {"numpy.random.mtrand", "RandomState"}, {"numpy.random._generator", "Generator"},
    {"numpy.random._mt19937", "MT19937"}, {"numpy.random._pcg64", "PCG64"},
    {"numpy.random._pcg64", "PCG64DXSM"}, {"numpy.random._philox", "Philox"},
    {"numpy.random._sfc64", "SFC64"}, {"numpy.random.bit_generator", "SeedSequence"},
    /* joblib: the array wrapper whose bytes are in the file */
    {"joblib.numpy_pickle", "NumpyArrayWrapper"},
    {"sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"},
    /* IsotonicRegression keeps an interp1d */
    {"scipy.interpolate._interpolate", "interp1d"}, {"scipy.interpolate.interpolate", "interp1d"},
    {"scipy.stats._distn_infrastructure", "rv_continuous_frozen"},
    {"scipy.stats._distn_infrastructure", "rv_discrete_frozen"},
    {"scipy.stats._distn_infrastructure", "rv_frozen"},
};

/* numpy scalar types: as dtype= parameters, and callable only to make a number */
static const char *const numpy_scalars[] = {
    "bool_", "bool8", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
    "float32", "float64", "float128", "longdouble", "complex64", "complex128", "complex256", "clongdouble",
    "object_", "str_", "bytes_", "unicode_", "string_", "void", "intc", "uintc", "intp", "uintp", "int_",
    "uint", "longlong", "ulonglong", "half", "single", "double", "float_", "complex_", "byte", "ubyte",
    "short", "ushort", "longfloat", "csingle", "cdouble", "datetime64", "timedelta64", "generic", "number",
    "integer", "signedinteger", "unsignedinteger", "inexact", "floating", "complexfloating", "bool",
};

/* sklearn modules (and everything below them) that hold names able to
 * read, write, download or run something. */
static const char *const sklearn_denied[] = {
    "sklearn.datasets", "sklearn.externals", "sklearn.utils._testing", "sklearn.utils.parallel",
    "sklearn.utils._joblib", "sklearn.utils.fixes", "sklearn.utils._mocking", "sklearn.utils.estimator_checks",
    "sklearn.utils.discovery", "sklearn.utils._show_versions", "sklearn.utils._available_if",
    "sklearn.utils.metaestimators", "sklearn.conftest", "sklearn._build_utils", "sklearn.__check_build",
    "sklearn.experimental", "sklearn._min_dependencies", "sklearn._distributor_init", "sklearn.tests",
};

/* sklearn modules whose functions models keep as parameters */
static const char *const sklearn_function_modules[] = {
    "sklearn.metrics",
    "sklearn.feature_selection._univariate_selection",
    "sklearn.feature_selection._mutual_info",
};

static const char *const scipy_sparse_modules[] = {
    "scipy.sparse", "scipy.sparse._arrays", "scipy.sparse._csr", "scipy.sparse.csr", "scipy.sparse._csc",
    "scipy.sparse.csc", "scipy.sparse._coo", "scipy.sparse.coo", "scipy.sparse._bsr", "scipy.sparse.bsr",
    "scipy.sparse._dia", "scipy.sparse.dia", "scipy.sparse._dok", "scipy.sparse.dok", "scipy.sparse._lil",
    "scipy.sparse.lil",
};

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
    {"joblib", NULL, "loads, writes or runs things"},
    {"joblib.numpy_pickle", "NDArrayWrapper", "reads an array from a file named in the pickle"},
    {"joblib.numpy_pickle", "ZNDArrayWrapper", "reads an array from a file named in the pickle"},
    {"functools", "partial", "composes callables"},
    {"operator", NULL, "composes callables"},
};

/* module equals prefix, or starts with prefix followed by a dot */
static bool in_package(const char *module, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(module, prefix, n) == 0 && (module[n] == 0 || module[n] == '.');
}

static bool is_identifier(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9')) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* An identifier whose first letter after leading underscores is upper case. */
static bool is_class_name(const char *s)
{
    if (!is_identifier(s)) return false;
    while (*s == '_') s++;
    return *s >= 'A' && *s <= 'Z';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool sklearn_allowed(const char *module, const char *name)
{
    if (!in_package(module, "sklearn")) return false;
    for (size_t i = 0; i < TP_ARRAY_LEN(sklearn_denied); i++)
        if (in_package(module, sklearn_denied[i])) return false;
    /* test modules anywhere in the tree */
    if (strstr(module, ".tests.") || ends_with(module, ".tests")) return false;
    if (is_class_name(name)) return true;
    if (!is_identifier(name)) return false;
    if (strncmp(name, "__pyx_unpickle_", 15) == 0) return is_class_name(name + 15);
    if (strcmp(name, "newObj") == 0) return true;
    for (size_t i = 0; i < TP_ARRAY_LEN(sklearn_function_modules); i++)
        if (in_package(module, sklearn_function_modules[i])) return true;
    return false;
}

static bool scipy_allowed(const char *module, const char *name)
{
    for (size_t i = 0; i < TP_ARRAY_LEN(scipy_sparse_modules); i++) {
        if (strcmp(module, scipy_sparse_modules[i]) != 0) continue;
        static const char *const fmts[] = {"csr", "csc", "coo", "bsr", "dia", "dok", "lil"};
        for (size_t k = 0; k < TP_ARRAY_LEN(fmts); k++) {
            size_t n = strlen(fmts[k]);
            if (strncmp(name, fmts[k], n) == 0 && (!strcmp(name + n, "_matrix") || !strcmp(name + n, "_array")))
                return true;
        }
        return false;
    }
    /* distribution objects, e.g. scipy.stats._continuous_distns.uniform_gen */
    if (!strcmp(module, "scipy.stats._continuous_distns") || !strcmp(module, "scipy.stats._discrete_distns"))
        return is_identifier(name) && ends_with(name, "_gen") && name[0] != '_';
    return false;
}

bool tp_allowlisted(const char *module, const char *name)
{
    for (size_t i = 0; i < TP_ARRAY_LEN(exact); i++)
        if (!strcmp(module, exact[i].module) && !strcmp(name, exact[i].name)) return true;
    if (!strcmp(module, "numpy"))
        for (size_t i = 0; i < TP_ARRAY_LEN(numpy_scalars); i++)
            if (!strcmp(name, numpy_scalars[i])) return true;
    if (!strcmp(module, "numpy.dtypes")) return is_class_name(name) && ends_with(name, "DType");
    return sklearn_allowed(module, name) || scipy_allowed(module, name);
}

bool tp_trusted(const char *module, const char *name, const char *const *trusted, size_t n)
{
    size_t ml = strlen(module);
    for (size_t i = 0; i < n; i++) {
        const char *t = trusted[i];
        if (!t || !t[0]) continue;
        /* "module" or a parent package of it */
        if (in_package(module, t)) return true;
        /* "module.name" */
        if (!strncmp(t, module, ml) && t[ml] == '.' && !strcmp(t + ml + 1, name)) return true;
    }
    return false;
}

const char *tp_notorious(const char *module, const char *name)
{
    for (size_t i = 0; i < TP_ARRAY_LEN(notorious); i++) {
        if (notorious[i].name ? strcmp(module, notorious[i].module) || strcmp(name, notorious[i].name)
                              : !in_package(module, notorious[i].module))
            continue;
        return notorious[i].why;
    }
    return NULL;
}
