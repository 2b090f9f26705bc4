"""The library's operations as Python functions: inputs, sinks, options,
errors, and the results as dataclasses.  Used by treepack/__init__.py."""

import ctypes
import dataclasses
import mmap
import os
import threading
from typing import FrozenSet, Optional, Tuple

from . import _lib
from ._lib import lib

PAGE = mmap.PAGESIZE
HUGE_FROM = 32 << 20

# ---------------------------------------------------------------- errors


class Error(Exception):
    """A failure reported by libtreepack (or by this package on its behalf).

    Attributes:
        code: the library's error code (an int, see ``treepack.codes``;
            e.g. 11 for a truncated pickle, 60 for a refused one).
        message: the library's full message, e.g. ``"pickle truncated: BINBYTES
            declares 4096 bytes, 12 remain (byte 1180, opcode BINBYTES)"``.
        offset: the byte offset in the input where the problem was found, or
            None.  For a .tpk it is an offset in the expanded pickle; for a
            compressed joblib file, in its decompressed stream.
    """

    def __init__(self, code, message, offset=None):
        super().__init__(message)
        try:
            code = _lib.Code(code)
        except ValueError:
            pass
        self.code = code
        self.message = message
        self.offset = offset

    def __repr__(self):
        return "%s(code=%s, message=%r, offset=%r)" % (type(self).__name__, getattr(self.code, "name", self.code),
                                                       self.message, self.offset)


class UnsafePickleError(Error):
    """Loading the pickle would import or call something outside the
    allowlist (and not trusted): what ``treepack compress`` refuses.

    Besides code (always 60), message and offset, it names the first
    refusal, as the library's message does:

    Attributes:
        module, name: the refused import (for a refused call, what it calls);
            None when the refused site has no name (EXT*, PERSID, or a call
            of something that is not an imported name).
        opcode: the opcode of the refused site, e.g. "STACK_GLOBAL", "REDUCE".
        why: the library's short reason, or None.
        inspection: the whole treepack.Inspection, or None.
    """

    def __init__(self, message, offset=None, module=None, name=None, opcode=None, why=None, inspection=None):
        super().__init__(_lib.E_UNSAFE, message, offset)
        self.module = module
        self.name = name
        self.opcode = opcode
        self.why = why
        self.inspection = inspection

    @property
    def import_name(self):
        """"module.name" of the refused import, or None."""
        if self.module is None and self.name is None:
            return None
        return "%s.%s" % (self.module, self.name)


def ctx_error(ctx, inspection=None):
    """The Error (or UnsafePickleError) for the last failure of ctx."""
    code, msg, off = ctx.code(), ctx.message(), ctx.offset()
    if code == _lib.E_UNSAFE:
        return unsafe_error(msg, off, inspection)
    return Error(code, msg or _lib.text(lib.tp_strerror(code)), off)


def unsafe_error(message, offset, inspection):
    """An UnsafePickleError with the first refusal of an inspection."""
    site = first_refusal(inspection) if inspection is not None else None
    if site is None and inspection is not None and offset is not None:
        site = site_at(inspection, offset)
    if site is None:
        return UnsafePickleError(message, offset, inspection=inspection)
    module, name, opcode, site_offset, why = site
    return UnsafePickleError(message, offset if offset is not None else site_offset, module, name, opcode, why,
                             inspection)


def site_at(insp, offset):
    """(module, name, opcode, offset, why) of the call or import at offset
    (a refusal the library reports as an error, not as a refused site:
    a joblib wrapper that is not written the way joblib writes one), or None."""
    for c in insp.calls:
        if c.offset == offset:
            t = c.target
            return (t.module if t else None, t.name if t else None, c.opcode, offset, None)
    for i in insp.imports:
        if i.offset == offset:
            return (i.module, i.name, i.opcode, offset, None)
    return None


def first_refusal(insp):
    """(module, name, opcode, offset, why) of the first refused site, chosen
    as the library chooses the one its message names: the first refused
    import, or a refused call (not refused for its import alone) before it."""
    im = next((i for i in insp.imports if i.status == "refused"), None)
    call = next((c for c in insp.calls if c.status == "refused"
                 and not (c.target is not None and c.target.status == "refused")), None)
    if call is not None and (im is None or call.offset < im.offset):
        t = call.target
        named = t is not None and (t.module or t.name)
        return (t.module if named else None, t.name if named else None, call.opcode, call.offset,
                call.why or ("refused" if named else "calls something that is not an imported name"))
    if im is not None:
        named = bool(im.module or im.name)
        return (im.module if named else None, im.name if named else None, im.opcode, im.offset, im.why)
    return None


# ---------------------------------------------------------------- results

_STATUS = {_lib.ALLOWED: "allowed", _lib.TRUSTED: "trusted", _lib.REFUSED: "refused"}


def _loaders(bits):
    """TP_LOADER_* bits as a frozenset of "pickle" and "joblib"."""
    out = set()
    if bits & _lib.LOADER_PICKLE:
        out.add("pickle")
    if bits & _lib.LOADER_JOBLIB:
        out.add("joblib")
    return frozenset(out)


@dataclasses.dataclass(frozen=True)
class Import:
    """A name the unpickler would look up (and so import its module).

    module and name are printable (bytes that are not printable ASCII as
    \\xNN); both are "" for EXT1/2/4 and PERSID/BINPERSID, which carry no name.
    status is "allowed" (on the built-in allowlist), "trusted" (trusted by
    the caller) or "refused".  loaders says which readings meet it:
    "pickle" (pickle.load) and/or "joblib" (joblib.load)."""
    module: str
    name: str
    opcode: str
    offset: int
    status: str
    why: Optional[str]
    loaders: FrozenSet[str]
    ext_code: Optional[int] = None

    @property
    def qualname(self):
        """"module.name"."""
        return "%s.%s" % (self.module, self.name)


@dataclasses.dataclass(frozen=True)
class Call:
    """A place where the unpickler would call something (REDUCE, NEWOBJ,
    BUILD, ...), or a reading that cannot be followed (opcode "(reading)").
    target is the Import of the callable (or of the class acted on), None
    if it is no imported name; import_index is its index in imports."""
    opcode: str
    offset: int
    import_index: Optional[int]
    target: Optional[Import]
    status: str
    why: Optional[str]
    loaders: FrozenSet[str]


@dataclasses.dataclass(frozen=True)
class Tree:
    """A sklearn Tree found in the pickle (offset of the REDUCE that makes it)."""
    offset: int
    nodes: int
    n_features: int
    n_outputs: int
    n_classes: int
    valid: bool
    problem: str


@dataclasses.dataclass(frozen=True)
class Array:
    """A numpy array found in the pickle (offset of the call that makes it)."""
    offset: int
    dtype: str
    shape: Tuple[int, ...]
    nbytes: int


@dataclasses.dataclass(frozen=True)
class Inspection:
    """What loading a pickle, a joblib file or the pickle inside a .tpk
    would do, found without loading it (treepack.inspect).

    verdict is "safe", "unsafe" (something refused), "unreadable" (the
    input is malformed: error says why, and the lists stop where reading
    stopped) or "invalid-tree" (a tree breaks the rules sklearn relies on),
    as in ``treepack inspect --json``.  safe is True when nothing is
    refused and the input could be read to the end.
    pickle_load_stops: for a joblib file, the offset where pickle.load
    (which reads joblib's raw array bytes as opcodes) fails; None when
    pickle.load reads what joblib.load reads."""
    format: str
    compressed: bool
    protocol: int
    size: int
    opcodes: int
    pickles: int
    imports: Tuple[Import, ...]
    calls: Tuple[Call, ...]
    trees: Tuple[Tree, ...]
    arrays: Tuple[Array, ...]
    refused: int
    complete: bool
    pickle_load_stops: Optional[int]
    error: Optional[Error]

    @property
    def safe(self):
        """Nothing refused, and the input read to its end."""
        return self.error is None and self.refused == 0

    @property
    def verdict(self):
        """"safe", "unsafe", "unreadable" or "invalid-tree"."""
        if self.refused:
            return "unsafe"
        if self.error is not None:
            return "unreadable"
        if any(not t.valid for t in self.trees):
            return "invalid-tree"
        return "safe"

    def names(self, statuses=("allowed", "trusted")):
        """The set of (module, name) pairs imported with one of statuses."""
        return frozenset((i.module, i.name) for i in self.imports if i.status in statuses)


def _inspection_from(r, error):
    """An Inspection from a filled tp_inspection (copied: the C lists are freed after)."""
    imports = []
    for i in range(r.nimports):
        im = r.imports[i]
        opcode = _lib.text(im.opcode)
        imports.append(Import(
            module=_lib.text(im.module) or "", name=_lib.text(im.name) or "", opcode=opcode, offset=im.offset,
            status=_STATUS.get(im.status, "refused"), why=_lib.text(im.why) if im.status == _lib.REFUSED else None,
            loaders=_loaders(im.loaders), ext_code=im.ext_code if opcode.startswith("EXT") else None))
    calls = []
    for i in range(r.ncalls):
        c = r.calls[i]
        idx = c.import_ if 0 <= c.import_ < len(imports) else None
        calls.append(Call(opcode=_lib.text(c.opcode), offset=c.offset, import_index=idx,
                          target=imports[idx] if idx is not None else None, status=_STATUS.get(c.status, "refused"),
                          why=_lib.text(c.why) if c.status == _lib.REFUSED else None, loaders=_loaders(c.loaders)))
    trees = tuple(Tree(offset=t.offset, nodes=t.nodes, n_features=t.n_features, n_outputs=t.n_outputs,
                       n_classes=t.n_classes, valid=bool(t.valid), problem=_lib.text(t.problem))
                  for t in (r.trees[i] for i in range(r.ntrees)))
    arrays = tuple(Array(offset=a.offset, dtype=_lib.text(a.dtype), shape=tuple(a.shape[:a.ndim]), nbytes=a.nbytes)
                   for a in (r.arrays[i] for i in range(r.narrays)))
    return Inspection(
        format="tpk" if r.format == _lib.FORMAT_TPK else "pickle", compressed=bool(r.compressed),
        protocol=r.protocol, size=r.size, opcodes=r.opcodes, pickles=r.npickles, imports=tuple(imports),
        calls=tuple(calls), trees=trees, arrays=arrays, refused=r.nrefused, complete=bool(r.complete),
        pickle_load_stops=r.plain_stop if r.plain_stop >= 0 else None, error=error)


@dataclasses.dataclass(frozen=True)
class Report:
    """What compress or expand found and where the bytes went (a tp_report).

    original_size: bytes of what expand produces (the file's, for a
    compressed joblib file); container_size: bytes of the .tpk; name: the
    original file name recorded; trees: Tree objects stored column by
    column (trees_verbatim: left as they were); exact: "byte" or "model";
    stripped: the parts stripped (see dump's strip); wrapper: "" or the
    compression of a joblib file ("gzip", ...); checksum: XXH3-128 of what
    expand produces, as hex; path: the file written (compress_file,
    expand_file), else None.  parts: {part name: (raw bytes, stored bytes)}."""
    original_size: int
    container_size: int
    name: str
    protocol: int
    trees: int
    trees_verbatim: int
    nodes: int
    arrays: int
    vocabularies: int
    exact: str
    stripped: Tuple[str, ...]
    wrapper: str
    stream_size: int
    checksum: str
    parts: dict
    path: Optional[str] = None
    max_value_change: float = 0.0  # strip "precision": the largest change of a value

    @property
    def ratio(self):
        """original_size / container_size."""
        return self.original_size / self.container_size if self.container_size else float("inf")


def _report_from(r, path=None):
    """A Report from a filled tp_report."""
    parts = {}
    for i in range(_lib.PART_COUNT):
        name = _lib.text(lib.tp_part_name(i))
        if name:
            parts[name] = (r.part_raw[i], r.part_stored[i])
    stripped = tuple(n for n, b in _lib.STRIP_BITS.items() if r.stripped & b)
    return Report(
        original_size=r.original_size, container_size=r.container_size, name=_lib.text(r.name),
        protocol=r.protocol, trees=r.trees, trees_verbatim=r.trees_verbatim, nodes=r.nodes, arrays=r.arrays,
        vocabularies=r.vocabularies, exact="model" if r.exact_mode == _lib.EXACT_MODEL else "byte",
        stripped=stripped, wrapper=_lib.text(r.wrapper), stream_size=r.stream_size,
        checksum=bytes(r.checksum).hex(), parts=parts, path=path, max_value_change=r.max_value_change)


# ---------------------------------------------------------------- options


class Options:
    """A tp_options and what it points to (kept alive while it is used)."""

    def __init__(self, *, level=None, threads=None, name=None, trust=(), allow_unsafe=False, exact="byte",
                 strip=(), max_memory=None, progress=None, verified_by_caller=False):
        o = _lib.new_options()
        self._keep = []
        self._progress_error = None
        if level is not None:
            if not isinstance(level, int) or not 1 <= level <= _lib.LEVEL_MAX:
                raise ValueError("level must be 1..%d" % _lib.LEVEL_MAX)
            o.level = level
        if threads is not None:
            o.threads = int(threads)
        if name is not None:
            b = os.fsencode(name)
            self._keep.append(b)
            o.name = b
        if isinstance(trust, (str, bytes)):
            trust = (trust,)
        trust = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in trust]
        if trust:
            arr = (ctypes.c_char_p * len(trust))(*trust)
            self._keep += [trust, arr]
            o.trusted = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
            o.ntrusted = len(trust)
        o.allow_unsafe = 1 if allow_unsafe else 0
        if exact not in ("byte", "model"):
            raise ValueError("exact must be 'byte' or 'model'")
        o.exact = _lib.EXACT_MODEL if exact == "model" else _lib.EXACT_BYTE
        if isinstance(strip, str):
            strip = [s for s in strip.split(",") if s]
        bits = 0
        for s in strip:
            if s == "all":  # as the command line's --strip=all: every part that keeps predictions
                bits |= _lib.STRIP_SAFE | _lib.STRIP_WHERE_SAFE
                continue
            if s not in _lib.STRIP_BITS:
                raise ValueError("strip: unknown part %r (the library knows %s)" % (s, ", ".join(_lib.STRIP_BITS)))
            bits |= _lib.STRIP_BITS[s]
        o.strip = bits
        if max_memory is not None:
            o.limits.max_memory = int(max_memory)
        if progress is not None:
            def cb(_opaque, done, total):
                try:
                    progress(done, total)
                except BaseException as e:  # noqa: BLE001 - kept and raised after the call
                    if self._progress_error is None:
                        self._progress_error = e
            fn = _lib.PROGRESS_FN(cb)
            self._keep.append(fn)
            o.progress = fn
        o.verified_by_caller = 1 if verified_by_caller else 0
        self.struct = o
        self.allow_unsafe = bool(allow_unsafe)

    @property
    def ref(self):
        """A pointer to the struct, for the library's calls."""
        return ctypes.byref(self.struct)

    def check_progress(self):
        """Raise what the progress callback raised, if anything."""
        if self._progress_error is not None:
            e, self._progress_error = self._progress_error, None
            raise e


# ---------------------------------------------------------------- inputs


def _buffer_address(obj):
    """Address of a writable buffer (mmap, bytearray), and the ctypes
    object that holds its export (keep it while the address is used)."""
    anchor = ctypes.c_char.from_buffer(obj)
    return ctypes.addressof(anchor), anchor


class Input:
    """Bytes for the library to read: a file mapped (copy-on-write, never
    written, so nothing is copied), or a bytes-like object.

    data is an object that can be sliced and searched (mmap or bytes);
    ptr is what to pass as a const uint8_t * (an address or bytes)."""

    def __init__(self, source):
        self.mm = None
        self._anchor = None
        self.path = None
        if isinstance(source, (str, bytes, os.PathLike)) and not isinstance(source, bytes):
            self.path = os.fspath(source)
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    self._set_bytes(b"")
                else:
                    self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
                    self.data = self.mm
                    self.len = len(self.mm)
                    if hasattr(self.mm, "madvise"):
                        self.mm.madvise(mmap.MADV_SEQUENTIAL)
                    self.ptr, self._anchor = _buffer_address(self.mm)
        elif isinstance(source, bytes):
            self._set_bytes(source)
        elif isinstance(source, (bytearray, memoryview)):
            self._set_bytes(bytes(source))
        elif hasattr(source, "read"):
            self.path = getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None
            data = source.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("the file must be opened in binary mode")
            self._set_bytes(bytes(data))
        else:
            raise TypeError("expected a path, a bytes-like object or a binary file, not %s" % type(source).__name__)

    @classmethod
    def mapped(cls, f):
        """An Input of the whole of an open file, mapped."""
        self = cls.__new__(cls)
        self.mm = None
        self._anchor = None
        self.path = None
        if os.fstat(f.fileno()).st_size == 0:
            self._set_bytes(b"")
            return self
        self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self.data = self.mm
        self.len = len(self.mm)
        self.ptr, self._anchor = _buffer_address(self.mm)
        return self

    def _set_bytes(self, b):
        """Read from a bytes object (passed to the library as it is, no copy)."""
        self.data = b
        self.len = len(b)
        self.ptr = b

    def head(self, n=64):
        """The first n bytes."""
        return bytes(self.data[:n])

    def kind(self):
        """tp_sniff's guess: _lib.FILE_*."""
        head = self.head(64)
        last = self.data[self.len - 1] if self.len else -1
        return lib.tp_sniff(head, len(head), last)

    def release_pages(self):
        """Give the pages read so far back (a mapped file stays readable)."""
        if self.mm is not None and hasattr(self.mm, "madvise"):
            try:
                self.mm.madvise(mmap.MADV_DONTNEED)
            except OSError:
                pass

    def close(self):
        """Unmap the file (nothing may read it after this)."""
        self._anchor = None
        if self.mm is not None:
            self.mm.close()
            self.mm = None
        self.data = b""
        self.ptr = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- sinks


class Sink:
    """A tp_sink whose callbacks are Python callables.  An exception in one
    makes the operation fail with TP_E_WRITE; it is kept in .error and
    raised by the caller in place of the library's error."""

    def __init__(self, write, read_back=None, release=None):
        self.error = None
        self._lock = threading.Lock()

        def w(_opaque, data, n):
            try:
                write(data, n)
                return 0
            except BaseException as e:  # noqa: BLE001 - kept, raised after the call
                self._keep_error(e)
                return -1

        self._w = _lib.WRITE_FN(w)
        s = _lib.tp_sink()
        s.write = self._w
        if read_back is not None:
            def rb(_opaque, pdata, plen):
                try:
                    addr, n = read_back()
                    pdata[0] = addr
                    plen[0] = n
                    return 0
                except BaseException as e:  # noqa: BLE001
                    self._keep_error(e)
                    return -1

            def rel(_opaque, data, n):
                try:
                    if release is not None:
                        release(data, n)
                except BaseException as e:  # noqa: BLE001
                    self._keep_error(e)

            self._rb = _lib.READ_BACK_FN(rb)
            self._rel = _lib.RELEASE_FN(rel)
            s.read_back = self._rb
            s.release = self._rel
        self.struct = s

    def _keep_error(self, e):
        """Keep the first exception a callback raised."""
        with self._lock:
            if self.error is None:
                self.error = e

    @property
    def ref(self):
        return ctypes.byref(self.struct)


_malloc_trim = None


def trim_heap():
    """Give the memory the library freed back to the kernel (glibc keeps
    it otherwise), before the unpickled objects need it."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
            _malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


def close_quietly(mm):
    """Close a mapping; one still exported (a view kept by a traceback)
    is left to the garbage collector."""
    try:
        mm.close()
    except BufferError:
        pass


def view(addr, n):
    """A memoryview of n bytes at addr (no copy)."""
    return memoryview((ctypes.c_char * n).from_address(addr)).cast("B")


class MemoryOut:
    """An output in anonymous memory: a private mapping of the size the
    output will have (so nothing is copied as it grows), that the library
    can read back (tp_sink.read_back) and that a reader can give back page
    by page as it consumes it (MADV_DONTNEED)."""

    def __init__(self, size_hint):
        self.len = 0
        self.cap = 0
        self.mm = None
        self.base = 0
        self._anchor = None
        try:
            self._grow(max(int(size_hint), PAGE))
        except (OSError, OverflowError, ValueError):
            # a size the header declares but no memory holds: start small
            # (the library refuses a header that lies before it writes)
            self._grow(1 << 20)
        self.sink = Sink(self._write, self._read_back)

    def _grow(self, need):
        """Move to a mapping of at least need bytes (only when a header lied about the size)."""
        cap = -(-need // PAGE) * PAGE
        mm = mmap.mmap(-1, cap, flags=mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0x20))
        if cap >= HUGE_FROM and hasattr(mmap, "MADV_HUGEPAGE"):
            # hundreds of MB faulted in 4 KiB pages cost more system time
            # than writing them (as the library finds for its own buffer)
            try:
                mm.madvise(mmap.MADV_HUGEPAGE)
            except OSError:
                pass
        addr, anchor = _buffer_address(mm)
        if self.len:
            ctypes.memmove(addr, self.base, self.len)
        old, self._anchor = self.mm, None
        if old is not None:
            close_quietly(old)
        self.mm, self.base, self._anchor, self.cap = mm, addr, anchor, cap

    def _write(self, data, n):
        """The sink's write: n bytes at address data, appended."""
        if self.len + n > self.cap:
            self._grow(max(self.cap * 2, self.len + n))
        ctypes.memmove(self.base + self.len, data, n)
        self.len += n

    def _read_back(self):
        """The sink's read_back: everything written, where it lies."""
        return self.base, self.len

    def inspect_written(self, opts):
        """The Inspection of what was written (None if nothing was)."""
        return inspect_raw(self.base, self.len, opts) if self.len else None

    def take(self):
        """The mapping and the length written; the caller owns the mapping."""
        mm, n = self.mm, self.len
        self._anchor = None
        self.mm = None
        return mm, n

    def close(self):
        """Unmap what was not taken."""
        self._anchor = None
        if self.mm is not None:
            close_quietly(self.mm)
            self.mm = None


class StreamOut:
    """An output that goes to a binary file object as it comes."""

    def __init__(self, f):
        self.f = f
        self.len = 0
        self.sink = Sink(self._write)

    def _write(self, data, n):
        """The sink's write: n bytes at address data, to the file object."""
        mv = view(data, n)
        done = 0
        while done < n:
            k = self.f.write(mv[done:])
            if k is None:
                raise OSError("the file object does not accept the data (non-blocking?)")
            done += k
        self.len += n

    def inspect_written(self, opts):
        return None


class FileOut:
    """A file being written under a temporary name in the target's
    directory, that the library can read back where it lies (mapped) and
    that gets its name only when complete (as the command line does)."""

    def __init__(self, target, force=False):
        self.target = target
        self.force = force
        d = os.path.dirname(target) or "."
        if not force and os.path.lexists(target):
            raise FileExistsError(17, "already exists (use force=True)", target)
        import tempfile
        fd, self.tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(target), suffix=".tmp", dir=d)
        self.f = os.fdopen(fd, "w+b")
        self.len = 0
        self._mm = None
        self._anchor = None
        self.sink = Sink(self._write, self._read_back, self._release)

    def _write(self, data, n):
        """The sink's write: n bytes at address data, to the temporary file."""
        self.f.write(view(data, n))
        self.len += n

    def _read_back(self):
        """The sink's read_back: the temporary file, flushed and mapped."""
        self.f.flush()
        if self.len == 0:
            return 0, 0
        self._mm = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_COPY)
        addr, self._anchor = _buffer_address(self._mm)
        return addr, len(self._mm)

    def inspect_written(self, opts):
        """The Inspection of what was written (None if nothing was)."""
        if not self.len:
            return None
        addr, n = self._read_back()
        try:
            return inspect_raw(addr, n, opts)
        finally:
            self._release(None, 0)

    def _release(self, data, n):
        """The sink's release: unmap what read_back mapped."""
        self._anchor = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def commit(self, mode=None, sync=False):
        """Give the file its name (without force, never over an existing
        one); with sync, flush it to the disk first."""
        self.f.flush()
        if sync:
            os.fsync(self.f.fileno())
        if mode is not None:
            os.chmod(self.tmp, mode & 0o777)
        self.f.close()
        if self.force:
            os.replace(self.tmp, self.target)
        else:
            try:
                os.link(self.tmp, self.target)
            finally:
                os.unlink(self.tmp)
        self.tmp = None

    def abort(self):
        """Remove the temporary file: nothing is left."""
        self._release(None, 0)
        try:
            self.f.close()
        finally:
            if self.tmp:
                try:
                    os.unlink(self.tmp)
                except FileNotFoundError:
                    pass
                self.tmp = None


# ---------------------------------------------------------------- operations


def _fail(ctx, sink=None, opts=None, inspection=None):
    """Raise what made the call fail: the sink's or callback's own
    exception first, else the library's error."""
    if opts is not None:
        opts.check_progress()
    if sink is not None and sink.error is not None and ctx.code() == _lib.E_WRITE:
        raise sink.error
    raise ctx_error(ctx, inspection)


def compress(inp, opts, out):
    """tp_compress of an Input into out (MemoryOut, StreamOut, FileOut): a Report."""
    rep = _lib.new_report()
    with _lib.Context() as ctx:
        rc = lib.tp_compress(ctx.ptr, inp.ptr, inp.len, opts.ref, out.sink.ref, ctypes.byref(rep))
        opts.check_progress()
        if rc:
            insp = None
            if rc == _lib.E_UNSAFE:
                insp = inspect_input(inp, opts)
            _fail(ctx, out.sink, opts, insp)
    return _report_from(rep)


def expand(inp, opts, out):
    """tp_expand of an Input (a .tpk) into out: a Report.  Refused
    pickles raise UnsafePickleError with the inspection of what was
    written (read, never loaded), or of the container when nothing was."""
    rep = _lib.new_report()
    with _lib.Context() as ctx:
        rc = lib.tp_expand(ctx.ptr, inp.ptr, inp.len, opts.ref, out.sink.ref if out else None, ctypes.byref(rep))
        opts.check_progress()
        if rc:
            insp = None
            if rc == _lib.E_UNSAFE:
                insp = out.inspect_written(opts) if out is not None else None
                if insp is None:
                    insp = inspect_input(inp, opts)
            _fail(ctx, out.sink if out else None, opts, insp)
    return _report_from(rep)


def info(inp):
    """tp_info: the Report of a container, without expanding it."""
    rep = _lib.new_report()
    with _lib.Context() as ctx:
        if lib.tp_info(ctx.ptr, inp.ptr, inp.len, ctypes.byref(rep)):
            raise ctx_error(ctx)
    return _report_from(rep)


def inspect_raw(ptr, n, opts):
    """tp_inspect of n bytes at ptr: an Inspection (error set when the
    input could not be read to its end)."""
    r = _lib.new_inspection()
    with _lib.Context() as ctx:
        try:
            rc = lib.tp_inspect(ctx.ptr, ptr, n, opts.ref if opts else None, ctypes.byref(r))
            err = None
            if rc == _lib.E_UNSAFE:
                err = UnsafePickleError(ctx.message(), ctx.offset())
            elif rc:
                err = Error(ctx.code(), ctx.message(), ctx.offset())
            insp = _inspection_from(r, err)
            if isinstance(err, UnsafePickleError) and err.offset is not None:
                site = site_at(insp, err.offset)
                if site is not None:
                    err.module, err.name, err.opcode = site[:3]
                err.inspection = insp
            return insp
        finally:
            lib.tp_inspection_free(ctypes.byref(r))


def inspect_input(inp, opts):
    """tp_inspect of an Input."""
    return inspect_raw(inp.ptr, inp.len, opts)


def check_raw(ptr, n, opts):
    """tp_check: None when the pickle may be handed out, else the Error
    (UnsafePickleError for a refusal, with the inspection's first refusal).
    The pickle is no expanded one here: the message does not say so."""
    with _lib.Context() as ctx:
        rc = lib.tp_check(ctx.ptr, ptr, n, opts.ref if opts else None)
        if not rc:
            return None
        msg = ctx.message().replace("in the expanded pickle: ", "", 1)
        if rc == _lib.E_UNSAFE:
            return unsafe_error(msg, ctx.offset(), inspect_raw(ptr, n, opts))
        return Error(rc, msg, ctx.offset())


def is_container(ptr, n):
    """tp_is_container: the bytes start like a .tpk."""
    return bool(lib.tp_is_container(ptr, n))


def declared_size(data):
    """The original size a container's header declares (bytes 16-23)."""
    if len(data) < 24:
        return 0
    return int.from_bytes(bytes(data[16:24]), "little")
