"""Unpickling what the verdict admitted: a reader over the expanded bytes
that gives consumed pages back, unpicklers whose find_class admits only
the names the verdict listed, joblib's layout, and the decompression of
compressed joblib files."""

import bz2
import lzma
import mmap
import pickle
import zlib

from . import _lib
from ._core import PAGE, Error, UnsafePickleError

# ---------------------------------------------------------------- the reader


class Reader:
    """A forward-only binary file over a buffer (an mmap, or bytes).

    It offers what the unpicklers use: read, readinto, readline and peek
    (with peek, the C unpickler reads ahead in blocks instead of one call a
    opcode, and gives back what it did not use when load() ends, as with a
    buffered file).  When it owns a mapping (release=True), the pages
    before the read position are given back to the kernel every
    RELEASE_STEP bytes (madvise MADV_DONTNEED): the unpickled objects then
    take the place of the pickle instead of being added to it.  Nothing is
    ever read twice, so nothing released is needed again."""

    RELEASE_STEP = 16 << 20
    PEEK = 128 << 10

    def __init__(self, data, length, release=False):
        self._data = data
        self._view = memoryview(data)
        self._len = length
        self._pos = 0
        self._released = 0
        self._release = release and isinstance(data, mmap.mmap) and hasattr(data, "madvise")
        self.name = ""

    def _advance(self, end):
        """Move to end, giving back the pages before it every RELEASE_STEP bytes."""
        self._pos = end
        if self._release and end - self._released >= self.RELEASE_STEP:
            upto = end // PAGE * PAGE
            if upto > self._released:
                self._data.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
                self._released = upto

    def read(self, n=-1):
        """Up to n bytes (all that is left for n < 0 or None)."""
        if n is None or n < 0:
            n = self._len - self._pos
        end = min(self._pos + n, self._len)
        b = self._data[self._pos:end]
        self._advance(end)
        return b

    def readinto(self, b):
        """Fill b from the buffer, without an intermediate copy."""
        mv = memoryview(b).cast("B")
        n = min(len(mv), self._len - self._pos)
        mv[:n] = self._view[self._pos:self._pos + n]
        self._advance(self._pos + n)
        return n

    def readline(self, size=-1):
        """Bytes up to and with the next b'\\n' (or the end)."""
        i = self._data.find(b"\n", self._pos, self._len)
        end = self._len if i < 0 else i + 1
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        b = self._data[self._pos:end]
        self._advance(end)
        return b

    def peek(self, n=0):
        """Bytes ahead of the position, which stays where it is."""
        return self._data[self._pos:min(self._pos + max(n, self.PEEK), self._len)]

    def tell(self):
        """The read position."""
        return self._pos

    def readable(self):
        """A reader reads."""
        return True

    def close(self):
        """Drop the view of the buffer (the owner closes the buffer)."""
        if self._view is not None:
            self._view.release()
            self._view = None


# ---------------------------------------------------------------- find_class


class Guard:
    """What find_class admits: the (module, name) pairs of the verdict
    (None: everything, for allow_unsafe), and classes put in place of some
    of them (joblib's array wrapper, which must read nested pickles through
    a guarded unpickler too)."""

    def __init__(self, allowed, substitutes=None):
        self.allowed = allowed
        self.substitutes = substitutes or {}

    def check(self, module, name):
        """The class to use instead of module.name, None to look it up, or
        UnsafePickleError if the verdict did not list it."""
        if self.allowed is not None and (module, name) not in self.allowed:
            raise UnsafePickleError(
                "find_class refused %s.%s: the library's verdict did not list it as allowed or trusted"
                % (module, name), None, module, name, None, "not in the verdict")
        return self.substitutes.get((module, name))


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler (the C one) whose find_class admits only what the
    guard admits; persistent ids are refused (no persistent_load)."""

    def __init__(self, file, guard, **kwargs):
        super().__init__(file, **kwargs)
        self._tp_guard = guard

    def find_class(self, module, name):
        """module.name if the guard admits it (or what it puts in its place)."""
        sub = self._tp_guard.check(module, name)
        if sub is not None:
            return sub
        return super().find_class(module, name)


# ---------------------------------------------------------------- memo pruning
#
# An unpickler keeps every memoized object until load() returns.  For a
# scikit-learn forest that doubles the memory: each Tree copies its node
# and value arrays in __setstate__, while the memo still holds the arrays
# and the state dict they came in.  When the memo indices that are ever
# fetched again are known (one pass over the opcodes, skipping their
# arguments), the others need not be kept: the pruning unpickler stores
# a placeholder for them instead, so the arrays go as soon as their Tree
# has copied them.  A fetch of a placeholder (which the pass says cannot
# happen) fails loudly instead of giving a wrong object.

_NL, _NL2, _LEN1, _LEN4S, _LEN4U, _LEN8U = -1, -6, -2, -3, -4, -5


def _arg_kinds():
    """How each opcode's argument is read, from pickletools' table: 0 none,
    > 0 that many bytes, or one of the _NL and _LEN kinds."""
    import pickletools
    kinds = [None] * 256
    for op in pickletools.opcodes:
        code = ord(op.code)
        if op.arg is None:
            kinds[code] = 0
        elif op.name in ("GLOBAL", "INST"):
            kinds[code] = _NL2
        else:
            kinds[code] = op.arg.n
    return kinds


_KINDS = None
_GET_OPS = {ord("g"), ord("h"), ord("j")}
_STOP = ord(".")


def fetched_indices(data, n):
    """The memo indices that GET, BINGET and LONG_BINGET fetch in the
    first pickle of data[:n], or None when the opcodes cannot be walked
    (then nothing is pruned)."""
    global _KINDS
    if _KINDS is None:
        _KINDS = _arg_kinds()
    kinds = _KINDS
    got = set()
    pos = 0
    while pos < n:
        op = data[pos]
        pos += 1
        k = kinds[op]
        if k is None:
            return None
        if k == 0:
            if op == _STOP:
                return got
            continue
        if k > 0:
            if op in _GET_OPS:
                got.add(int.from_bytes(data[pos:pos + k], "little"))
            pos += k
        elif k == _NL or k == _NL2:
            for _ in range(2 if k == _NL2 else 1):
                i = data.find(b"\n", pos, n)
                if i < 0:
                    return None
                if op in _GET_OPS:
                    try:
                        got.add(int(data[pos:i]))
                    except ValueError:
                        return None
                pos = i + 1
        else:
            w = 1 if k == _LEN1 else 8 if k == _LEN8U else 4
            length = int.from_bytes(data[pos:pos + w], "little", signed=(k == _LEN4S))
            if length < 0:
                return None
            pos += w + length
    return None


class _Pruned:
    """The placeholder of a memo entry that is never fetched."""
    __slots__ = ()


_PRUNED = _Pruned()


def _pruning_dispatch(base):
    """base.dispatch with the memo opcodes storing placeholders for the
    entries that are never fetched, and the fetches refusing them."""
    import struct
    d = base.dispatch.copy()

    def put(self, i):
        """Memoize the stack's top at i, or a placeholder if i is never fetched."""
        if i < 0:
            raise ValueError("negative PUT argument")
        self.memo[i] = self.stack[-1] if i in self._tp_fetched else _PRUNED

    def get(self, i):
        """Push memo[i], refusing a placeholder."""
        try:
            v = self.memo[i]
        except KeyError:
            raise pickle.UnpicklingError("Memo value not found at index %d" % i) from None
        if v is _PRUNED:
            raise Error(_lib.CODES["E_INTERNAL"], "memo pruning: index %d is fetched but the pass over the "
                                                  "opcodes did not see it" % i)
        self.append(v)

    d[pickle.PUT[0]] = lambda self: put(self, int(self.readline()[:-1]))
    d[pickle.BINPUT[0]] = lambda self: put(self, self.read(1)[0])
    d[pickle.LONG_BINPUT[0]] = lambda self: put(self, struct.unpack("<I", self.read(4))[0])
    d[pickle.MEMOIZE[0]] = lambda self: put(self, len(self.memo))
    d[pickle.GET[0]] = lambda self: get(self, int(self.readline()[:-1]))
    d[pickle.BINGET[0]] = lambda self: get(self, self.read(1)[0])
    d[pickle.LONG_BINGET[0]] = lambda self: get(self, struct.unpack("<I", self.read(4))[0])
    return d


class PruningUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, with find_class guarded and the memo
    pruned to the entries that are fetched (fetched: a set of indices)."""

    dispatch = _pruning_dispatch(pickle._Unpickler)

    def __init__(self, file, guard, fetched):
        super().__init__(file)
        self._tp_guard = guard
        self._tp_fetched = fetched
        self._tp_file = file
        self._tp_unframed_readinto = None

    # load() sets self.readinto to its unframer's, which reads a payload
    # outside a frame as file.read(n) copied into the buffer: a big array
    # went through memory twice.  Outside a frame this reads straight into
    # the buffer.
    @property
    def readinto(self):
        """What the unpickler reads payloads with (see above)."""
        return self._tp_readinto

    @readinto.setter
    def readinto(self, fn):
        self._tp_unframed_readinto = fn

    def _tp_readinto(self, buf):
        """readinto for the unpickler: outside a frame straight from the file."""
        if self._unframer.current_frame is None:
            n = self._tp_file.readinto(buf)
            if n != len(buf):
                raise pickle.UnpicklingError("pickle data was truncated")
            return n
        return self._tp_unframed_readinto(buf)

    def find_class(self, module, name):
        """module.name if the guard admits it (or what it puts in its place)."""
        sub = self._tp_guard.check(module, name)
        if sub is not None:
            return sub
        return super().find_class(module, name)


# pruning pays for the slower pure-Python unpickler where trees are big
PRUNE_FROM = 16 << 20
PRUNE_MAX_OPCODES = 2_000_000

_joblib = None


def joblib_support():
    """(unpickler class, wrapper substitutes) for joblib's layout, built
    on joblib's NumpyUnpickler; None if joblib cannot be imported.

    joblib.load reads an object-dtype array (GradientBoosting's
    estimators_) as a nested pickle with plain pickle.load; the wrapper
    put in place of NumpyArrayWrapper reads it with the guarded unpickler
    instead, so that find_class stays restricted there too."""
    global _joblib
    if _joblib is not None:
        return _joblib or None
    try:
        from joblib import numpy_pickle as jnp
        from joblib.numpy_pickle_utils import _ensure_native_byte_order
    except ImportError:
        _joblib = False
        return None

    class GuardedArrayWrapper(jnp.NumpyArrayWrapper):
        """joblib's NumpyArrayWrapper, reading nested pickles guarded."""

        def read_array(self, unpickler):
            """The array after the wrapper; an object array's nested pickle guarded."""
            if self.dtype.hasobject:
                nested = RestrictedUnpickler(unpickler.file_handle, unpickler._tp_guard)
                return _ensure_native_byte_order(nested.load())
            return super().read_array(unpickler)

    class GuardedNumpyUnpickler(jnp.NumpyUnpickler):
        """joblib's NumpyUnpickler (the pure-Python unpickler, with its
        BUILD that reads the array bytes after each wrapper), whose
        find_class admits only what the guard admits."""

        def __init__(self, file, guard):
            super().__init__("", file, mmap_mode=None)
            self._tp_guard = guard

        def find_class(self, module, name):
            sub = self._tp_guard.check(module, name)
            if sub is not None:
                return sub
            return super().find_class(module, name)

    subs = {("joblib.numpy_pickle", "NumpyArrayWrapper"): GuardedArrayWrapper,
            # the wrapper of the joblib vendored in scikit-learn < 0.23
            ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"): GuardedArrayWrapper}
    _joblib = (GuardedNumpyUnpickler, subs)
    return _joblib


_WRAPPERS = ("NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper")


def needs_joblib(insp):
    """Whether a pickle is in joblib's layout (array bytes after wrappers)."""
    if insp.pickle_load_stops is not None:
        return True
    return any(i.name in _WRAPPERS and i.module.endswith("numpy_pickle") for i in insp.imports)


def unpickle(reader, insp, allow_unsafe, data=None, n=0):
    """Load the object from reader: with joblib's unpickler when the
    pickle is in joblib's layout, else with the C unpickler (or, for a
    big pickle with trees, the pruning one: data[:n] is the pickle);
    find_class restricted to the verdict's names unless allow_unsafe."""
    allowed = None if allow_unsafe else insp.names()
    if needs_joblib(insp):
        support = joblib_support()
        if support is None:
            raise Error(_lib.E_JOBLIB, "the pickle is in joblib's layout (NumpyArrayWrapper followed by raw array "
                                       "bytes): loading it needs joblib, which cannot be imported")
        cls, subs = support
        return cls(reader, Guard(allowed, subs)).load()
    if data is not None and n >= PRUNE_FROM and insp.trees and insp.opcodes <= PRUNE_MAX_OPCODES:
        fetched = fetched_indices(data, n)
        if fetched is not None:
            return PruningUnpickler(reader, Guard(allowed), fetched).load()
    return RestrictedUnpickler(reader, Guard(allowed)).load()


# ---------------------------------------------------------------- compressed joblib files


def _one_stream(d, data, what):
    """Decompress data with d: exactly one whole stream, nothing after it."""
    out = d.decompress(data)
    if not d.eof:
        raise Error(_lib.E_JOBLIB, "%s joblib file: the compressed stream is truncated" % what)
    if d.unused_data:
        raise Error(_lib.E_JOBLIB, "%s joblib file: %d bytes after the compressed stream" % (what, len(d.unused_data)))
    return out


def decompress(data, n):
    """The pickle stream of a compressed joblib file (zlib, gzip, bz2, xz,
    lzma, lz4 or joblib < 0.10's ZF), decompressed with the standard
    library (lz4 with the lz4 package).  Anything after the first stream
    is refused: the verdict covers one stream, and so does this.  data[:n]
    is the file."""
    with memoryview(data) as whole:
        mv = whole[:n]
        try:
            return _decompress(bytes(mv[:32]), mv)
        finally:
            mv.release()


def _decompress(head, mv):
    """decompress() by the first bytes of the file (head)."""
    if head.startswith(b"ZF"):
        # joblib < 0.10: "ZF", the stream's length in hex padded to 19
        # characters, perhaps a space, then zlib data
        try:
            length = int(head[2:21], 16)
        except ValueError:
            raise Error(_lib.E_JOBLIB, "ZF joblib file: no length in its header") from None
        start = 22 if head[21:22] == b" " else 21
        out = _one_stream(zlib.decompressobj(15), mv[start:], "ZF")
        if len(out) != length:
            raise Error(_lib.E_JOBLIB, "ZF joblib file: %d bytes, the header says %d" % (len(out), length))
        return out
    if head.startswith(b"\x1f\x8b"):
        return _one_stream(zlib.decompressobj(31), mv, "gzip")
    if head[:1] == b"\x78":
        return _one_stream(zlib.decompressobj(15), mv, "zlib")
    if head.startswith(b"BZh"):
        return _one_stream(bz2.BZ2Decompressor(), mv, "bz2")
    if head.startswith(b"\xfd7zXZ\x00"):
        return _one_stream(lzma.LZMADecompressor(lzma.FORMAT_XZ), mv, "xz")
    if head.startswith(b"\x5d\x00\x00"):
        return _one_stream(lzma.LZMADecompressor(lzma.FORMAT_ALONE), mv, "lzma")
    if head.startswith(b"\x04\x22\x4d\x18"):
        try:
            import lz4.frame
        except ImportError:
            raise Error(_lib.E_JOBLIB, "lz4 joblib file: reading it needs the lz4 package") from None
        return _one_stream(lz4.frame.LZ4FrameDecompressor(), bytes(mv), "lz4")
    raise Error(_lib.E_JOBLIB, "not a compressed joblib file this package can read")
