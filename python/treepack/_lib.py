"""ctypes bindings of libtreepack (include/treepack.h, TP_API_VERSION 4).

Everything here mirrors the C header: the versioned structs (tp_options,
tp_report, tp_inspection and the element structs of its lists), the sink
and progress callbacks, and the functions.  The versioned structs carry
their own size (set by the ``*_init_sized`` functions), so the library
reads and writes only the fields declared here, whatever its own version.

The library is found, in this order, at the path in the environment
variable ``TREEPACK_LIBRARY``, at the path written into ``_config.py`` when
the package was installed by ``meson install``, and by
``ctypes.util.find_library('treepack')``.

ctypes releases the GIL around every call into a ``CDLL``: other Python
threads run while the library compresses, expands or inspects.  The
library's callbacks (the sink's write, read_back and release, progress)
take the GIL again while they run.
"""

import ctypes
import ctypes.util
import enum
import os

# The version of treepack.h these bindings follow.
API_VERSION = 4

# ---------------------------------------------------------------- errors

# tp_code, as in treepack.h (stable values).
CODES = {
    "OK": 0,
    "E_NOMEM": 1, "E_LIMIT_MEMORY": 2, "E_WRITE": 3, "E_INTERNAL": 4, "E_USAGE": 5,
    "E_EMPTY": 10, "E_TRUNCATED": 11, "E_UNKNOWN_OPCODE": 12, "E_PROTOCOL": 13,
    "E_STACK_UNDERFLOW": 14, "E_NO_MARK": 15, "E_MEMO_MISSING": 16, "E_BAD_ARGUMENT": 17,
    "E_TRAILING_DATA": 18, "E_FRAME": 19, "E_TYPE": 20, "E_NO_STOP": 21, "E_OUT_OF_BAND": 22,
    "E_BAD_UTF8": 23,
    "E_LIMIT_STACK": 30, "E_LIMIT_MARKS": 31, "E_LIMIT_MEMO": 32, "E_LIMIT_NESTING": 33,
    "E_LIMIT_OPCODES": 34, "E_LIMIT_SIZE": 35,
    "E_TREE": 40, "E_JOBLIB": 41,
    "E_NOT_TPK": 50, "E_TPK_VERSION": 51, "E_TPK_TRUNCATED": 52, "E_TPK_CHECKSUM": 53,
    "E_TPK_UNKNOWN": 54, "E_TPK_CORRUPT": 55, "E_MISMATCH": 56, "E_ZSTD": 57,
    "E_UNSAFE": 60,
}
#: tp_code as an IntEnum (treepack.Code)
Code = enum.IntEnum("Code", CODES)
E_WRITE = CODES["E_WRITE"]
E_USAGE = CODES["E_USAGE"]
E_UNSAFE = CODES["E_UNSAFE"]
E_JOBLIB = CODES["E_JOBLIB"]
E_NOT_TPK = CODES["E_NOT_TPK"]

# tp_status
ALLOWED, TRUSTED, REFUSED = 0, 1, 2
# TP_LOADER_*
LOADER_PICKLE, LOADER_JOBLIB = 0x1, 0x2
# tp_file_kind
FILE_OTHER, FILE_PICKLE, FILE_COMPRESSED, FILE_CONTAINER = 0, 1, 2, 3
# TP_FORMAT_*
FORMAT_PICKLE, FORMAT_TPK = 0, 1
# TP_EXACT_*, TP_STRIP_*
EXACT_BYTE, EXACT_MODEL = 0, 1
LEVEL_DEFAULT, LEVEL_MAX = 9, 19

# ---------------------------------------------------------------- structs

c_size_t = ctypes.c_size_t
c_u64 = ctypes.c_uint64
c_i64 = ctypes.c_int64

PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, c_u64, c_u64)
WRITE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, c_size_t)
READ_BACK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.POINTER(c_size_t))
RELEASE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, c_size_t)


class tp_limits(ctypes.Structure):
    """struct tp_limits of treepack.h."""
    _fields_ = [("max_stack", c_u64), ("max_marks", c_u64), ("max_memo", c_u64),
                ("max_nesting", c_u64), ("max_memory", c_u64), ("max_opcodes", c_u64)]


class tp_sink(ctypes.Structure):
    """struct tp_sink of treepack.h."""
    _fields_ = [("write", WRITE_FN), ("opaque", ctypes.c_void_p),
                ("read_back", READ_BACK_FN), ("release", RELEASE_FN)]


class tp_options(ctypes.Structure):
    """struct tp_options of treepack.h."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("level", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("limits", tp_limits),
        ("progress", PROGRESS_FN),
        ("progress_opaque", ctypes.c_void_p),
        ("trusted", ctypes.POINTER(ctypes.c_char_p)),
        ("ntrusted", c_size_t),
        ("allow_unsafe", ctypes.c_int),
        ("exact", ctypes.c_int),
        ("strip", ctypes.c_uint),
        ("verified_by_caller", ctypes.c_int),
        ("columns", ctypes.c_int),
    ]


PART_COUNT = 10


class tp_report(ctypes.Structure):
    """struct tp_report of treepack.h."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("original_size", c_u64),
        ("container_size", c_u64),
        ("name", ctypes.c_char * 256),
        ("protocol", ctypes.c_int),
        ("trees", c_u64),
        ("trees_verbatim", c_u64),
        ("nodes", c_u64),
        ("part_raw", c_u64 * PART_COUNT),
        ("part_stored", c_u64 * PART_COUNT),
        ("checksum", ctypes.c_uint8 * 16),
        ("arrays", c_u64),
        ("arrays_joblib", c_u64),
        ("arrays_columnar", c_u64),
        ("arrays_verbatim", c_u64),
        ("nested_pickles", c_u64),
        ("predictors", c_u64),
        ("predictors_verbatim", c_u64),
        ("verbatim_note", ctypes.c_char * 512),
        ("wrapper", ctypes.c_char * 16),
        ("wrapper_level", ctypes.c_int),
        ("wrapper_exact", ctypes.c_int),
        ("stream_size", c_u64),
        ("stream_checksum", ctypes.c_uint8 * 16),
        ("vocabularies", c_u64),
        ("exact_mode", ctypes.c_int),
        ("stripped", ctypes.c_uint),
        ("strip_kept", ctypes.c_uint),
        ("source_size", c_u64),
        ("source_checksum", ctypes.c_uint8 * 16),
        ("trees_stripped", c_u64),
        ("vocabularies_sorted", c_u64),
        ("stop_words_dropped", c_u64),
        # TP_API_VERSION 3
        ("split_values_set", c_u64),
        ("thresholds_lowered", c_u64),
        ("values_rounded", c_u64),
        ("max_value_change", ctypes.c_double),
        # TP_API_VERSION 4
        ("whole", ctypes.c_int),
    ]


class tp_import(ctypes.Structure):
    """struct tp_import of treepack.h."""
    _fields_ = [
        ("module", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("opcode", ctypes.c_char_p),
        ("offset", c_u64),
        ("ext_code", ctypes.c_int32),
        ("status", ctypes.c_int),
        ("why", ctypes.c_char_p),
        ("loaders", ctypes.c_uint),
    ]


class tp_call(ctypes.Structure):
    """struct tp_call of treepack.h."""
    _fields_ = [
        ("opcode", ctypes.c_char_p),
        ("offset", c_u64),
        ("import_", c_i64),
        ("status", ctypes.c_int),
        ("why", ctypes.c_char_p),
        ("loaders", ctypes.c_uint),
    ]


class tp_inspect_tree(ctypes.Structure):
    """struct tp_inspect_tree of treepack.h."""
    _fields_ = [
        ("offset", c_u64),
        ("n_features", c_i64),
        ("nodes", c_u64),
        ("n_outputs", ctypes.c_uint32),
        ("n_classes", ctypes.c_uint32),
        ("valid", ctypes.c_int),
        ("problem", ctypes.c_char * 160),
    ]


class tp_inspect_array(ctypes.Structure):
    """struct tp_inspect_array of treepack.h."""
    _fields_ = [
        ("offset", c_u64),
        ("dtype", ctypes.c_char * 24),
        ("ndim", ctypes.c_int),
        ("shape", c_u64 * 8),
        ("nbytes", c_u64),
    ]


class tp_inspection(ctypes.Structure):
    """struct tp_inspection of treepack.h."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("import_size", c_size_t),
        ("call_size", c_size_t),
        ("tree_size", c_size_t),
        ("array_size", c_size_t),
        ("format", ctypes.c_int),
        ("compressed", ctypes.c_int),
        ("protocol", ctypes.c_int),
        ("size", c_u64),
        ("opcodes", c_u64),
        ("npickles", c_size_t),
        ("imports", ctypes.POINTER(tp_import)),
        ("nimports", c_size_t),
        ("calls", ctypes.POINTER(tp_call)),
        ("ncalls", c_size_t),
        ("trees", ctypes.POINTER(tp_inspect_tree)),
        ("ntrees", c_size_t),
        ("arrays", ctypes.POINTER(tp_inspect_array)),
        ("narrays", c_size_t),
        ("nrefused", c_size_t),
        ("complete", ctypes.c_int),
        ("plain_stop", c_i64),
    ]


# ---------------------------------------------------------------- the library


def library_path():
    """The name or path the library is loaded from (see the module's docstring)."""
    env = os.environ.get("TREEPACK_LIBRARY")
    if env:
        return env
    try:
        from . import _config  # written by meson install
        if _config.LIBRARY and os.path.exists(_config.LIBRARY):
            return _config.LIBRARY
    except ImportError:
        pass
    found = ctypes.util.find_library("treepack")
    return found or "libtreepack.so.0"


def text(b):
    """A C string from the library as str (None stays None)."""
    return None if b is None else b.decode("utf-8", "replace")


def _declare(lib):
    """Set restype and argtypes of every function used (treepack.h)."""
    vp, sz = ctypes.c_void_p, c_size_t
    sigs = {
        "tp_version": (ctypes.c_char_p, []),
        "tp_version_api": (ctypes.c_uint, []),
        "tp_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "tp_ctx_new": (vp, []),
        "tp_ctx_free": (None, [vp]),
        "tp_ctx_code": (ctypes.c_int, [vp]),
        "tp_ctx_message": (ctypes.c_char_p, [vp]),
        "tp_ctx_offset": (c_i64, [vp]),
        "tp_options_init_sized": (None, [ctypes.POINTER(tp_options), sz]),
        "tp_report_init_sized": (None, [ctypes.POINTER(tp_report), sz]),
        "tp_inspection_init_sized": (None, [ctypes.POINTER(tp_inspection), sz, sz, sz, sz, sz]),
        "tp_is_container": (ctypes.c_int, [vp, sz]),
        "tp_sniff": (ctypes.c_int, [vp, sz, ctypes.c_int]),
        "tp_compress": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(tp_options), ctypes.POINTER(tp_sink),
                                       ctypes.POINTER(tp_report)]),
        "tp_expand": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(tp_options), ctypes.POINTER(tp_sink),
                                     ctypes.POINTER(tp_report)]),
        "tp_info": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(tp_report)]),
        "tp_inspect": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(tp_options), ctypes.POINTER(tp_inspection)]),
        "tp_inspection_free": (None, [ctypes.POINTER(tp_inspection)]),
        "tp_check": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(tp_options)]),
        "tp_part_name": (ctypes.c_char_p, [ctypes.c_int]),
        "tp_strip_name": (ctypes.c_char_p, [ctypes.c_uint]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _load():
    """Load the library and check its API version."""
    path = library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("treepack: cannot load the shared library libtreepack (%s): %s; set TREEPACK_LIBRARY "
                          "to its path" % (path, e)) from e
    _declare(lib)
    if lib.tp_version_api() < API_VERSION:
        raise ImportError("treepack: %s has API version %d, these bindings need %d"
                          % (path, lib.tp_version_api(), API_VERSION))
    return lib


lib = _load()

#: The parts --strip knows, by name ("impurity": 0x1, ...), as the loaded
#: library names them (tp_strip_name): a newer library's parts come with it.
STRIP_SAFE = 0x1F          # TP_STRIP_SAFE: the parts that keep predictions bit-identical
STRIP_WHERE_SAFE = 0x100   # TP_STRIP_WHERE_SAFE
STRIP_BITS = {text(lib.tp_strip_name(1 << i)): 1 << i for i in range(32) if lib.tp_strip_name(1 << i)}


def new_options():
    """A tp_options with the library's defaults."""
    o = tp_options()
    lib.tp_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))
    return o


def new_report():
    """An empty tp_report."""
    r = tp_report()
    lib.tp_report_init_sized(ctypes.byref(r), ctypes.sizeof(r))
    return r


def new_inspection():
    """A tp_inspection set up for tp_inspect (free it with tp_inspection_free)."""
    r = tp_inspection()
    lib.tp_inspection_init_sized(ctypes.byref(r), ctypes.sizeof(r), ctypes.sizeof(tp_import),
                                 ctypes.sizeof(tp_call), ctypes.sizeof(tp_inspect_tree),
                                 ctypes.sizeof(tp_inspect_array))
    return r


class Context:
    """A tp_ctx for one operation (the library's contexts are per thread)."""

    def __init__(self):
        self.ptr = lib.tp_ctx_new()
        if not self.ptr:
            raise MemoryError("tp_ctx_new")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """tp_ctx_free."""
        if self.ptr:
            lib.tp_ctx_free(self.ptr)
            self.ptr = None

    def code(self):
        """tp_ctx_code: the code of the last failure."""
        return lib.tp_ctx_code(self.ptr)

    def message(self):
        """tp_ctx_message: its full message."""
        return lib.tp_ctx_message(self.ptr).decode("utf-8", "replace")

    def offset(self):
        """tp_ctx_offset: the byte offset of the last failure, or None."""
        off = lib.tp_ctx_offset(self.ptr)
        return None if off < 0 else off


