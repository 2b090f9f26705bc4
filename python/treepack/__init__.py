"""treepack from Python: load a .tpk in one call, and load any model pickle safely.

A pure-Python package over the shared library libtreepack (through
ctypes: no compiled extension, nothing beyond the standard library;
joblib is used when a file is in joblib's layout and joblib is there).

    import treepack
    treepack.dump(model, "model.tpk")          # pickle (protocol 5) + compress, in memory
    model = treepack.load("model.tpk")         # expand in memory, check, unpickle
    model = treepack.load("model.pkl")         # a plain pickle or joblib file: checked, then loaded
    treepack.inspect("model.pkl").verdict      # "safe", "unsafe", ...

Safety.  ``load`` and ``loads`` first run the library's verdict on the
pickle (the same that ``treepack compress`` and ``expand`` apply: every
import and call judged against an allowlist of scikit-learn, numpy,
scipy and Python names, without importing or running anything) and raise
``UnsafePickleError`` for what it refuses.  Then the unpickler's
``find_class`` admits only the (module, name) pairs the verdict listed as
allowed or trusted, so that a name the verdict did not see is never
imported (defence in depth).  ``trust=("mypkg", "other.Class")`` trusts
more names; ``allow_unsafe=True`` turns all of it off (then loading is as
unsafe as ``pickle.load``).

Memory.  A .tpk is expanded into an anonymous mapping of the pickle's
size, checked there, and unpickled from it; the pages already read are
given back to the kernel as the unpickler goes, so that the model takes
the place of its pickle: a forest loads with a peak of little more than
its pickle's size (see README.md, "From Python", for measured figures).

Threads.  ctypes releases the GIL for every call into the library
(compress, expand, inspect, check), so other threads run meanwhile; the
library's own threads (compress workers, the expand prefetch helper and
writer thread) call back into Python only for the output sink, taking the
GIL for each block of 128 KiB.  Unpickling itself holds the GIL, as
pickle.load does.

Errors are ``treepack.Error`` (code, message and byte offset from the
library) or its subclass ``UnsafePickleError``; I/O errors are OSError,
and errors of the unpickler itself (a class missing in this sklearn)
come from pickle as they are.
"""

import os
import pickle

from . import _core, _lib, _unpickle
from ._core import (Array, Call, Error, Import, Inspection, Report, Tree,  # noqa: F401 - the public names
                    UnsafePickleError)

__all__ = ["dump", "dumps", "load", "loads", "inspect", "info", "compress_file", "expand_file",
           "compressed_name", "expanded_name", "Error",
           "UnsafePickleError", "Inspection", "Import", "Call", "Tree", "Array", "Report", "Code",
           "library_version", "library_path"]

#: The library's error codes (tp_code), e.g. ``Code.E_UNSAFE == 60``.
Code = _lib.Code

__version__ = _lib.text(_lib.lib.tp_version())

#: Pickle protocol of dump and dumps (5: numpy arrays as in-band buffers).
DEFAULT_PROTOCOL = 5

# a file this big is compressed on every core, as the command line does
_ALL_CORES_FROM = 64 << 20


def library_version():
    """The version of the loaded libtreepack, e.g. "0.1.0"."""
    return _lib.text(_lib.lib.tp_version())


def library_path():
    """Where libtreepack is loaded from: $TREEPACK_LIBRARY, the path
    recorded by ``meson install``, or what ctypes.util.find_library finds."""
    return _lib.library_path()


# ---------------------------------------------------------------- loading


def load(file, trust=(), allow_unsafe=False, *, max_memory=None):
    """Load the object in a .tpk, a pickle or a joblib file, safely.

    file: a path, or a binary file object (read whole).  A .tpk is
    expanded in memory (nothing is written to disk); a plain pickle, an
    uncompressed joblib file and a compressed one (zlib, gzip, bz2, xz,
    lzma, lz4, joblib < 0.10's ZF) are read as they are.

    Before anything is unpickled, the library's verdict runs on the exact
    bytes that will be unpickled; UnsafePickleError (with the import, the
    opcode and the byte offset) is raised for what ``treepack compress``
    would refuse, and Error for a pickle the library cannot read or a tree
    that would crash sklearn.  The unpickler then admits in find_class
    only the names the verdict listed as allowed or trusted.  Files in
    joblib's layout (NumpyArrayWrapper) are read with joblib's unpickler,
    restricted the same way (also for the nested pickles of object
    arrays).

    trust: names to trust beyond the allowlist: "module" (the module and
    its submodules) or "module.name".  allow_unsafe: skip the verdict and
    the restriction (as unsafe as pickle.load; only for files whose origin
    you trust).  max_memory: the library's limit on its bookkeeping while
    reading a pickle (bytes; default 4 GiB).
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        raise TypeError("load() takes a path or a binary file; for the bytes of a file, use loads()")
    with _core.Input(file) as inp:
        return _load(inp, _core.Options(trust=trust, allow_unsafe=allow_unsafe, max_memory=max_memory))


def loads(data, trust=(), allow_unsafe=False, *, max_memory=None):
    """load() of a bytes-like object: the bytes of a .tpk, a pickle or a
    joblib file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("loads() takes a bytes-like object, not %s" % type(data).__name__)
    with _core.Input(data) as inp:
        return _load(inp, _core.Options(trust=trust, allow_unsafe=allow_unsafe, max_memory=max_memory))


def _load(inp, opts):
    """Load from an Input: a .tpk is expanded first, anything else read as it is."""
    if not _core.is_container(inp.ptr, inp.len):
        return _load_file_bytes(inp.data, inp.len, inp.ptr, opts, checked=False, owned=inp.mm is not None)
    # a .tpk: expanded into anonymous memory and checked there by the
    # library (tp_sink.read_back), before anything reads it
    out = _core.MemoryOut(_initial_size(inp))
    try:
        _core.expand(inp, opts, out)
        inp.close()  # the container is no longer needed: its pages go
        _core.trim_heap()
        mm, n = out.take()
    finally:
        out.close()
    try:
        ptr, anchor = _core._buffer_address(mm)
        try:
            return _load_file_bytes(mm, n, ptr, opts, checked=not opts.allow_unsafe, owned=True)
        finally:
            del anchor
    finally:
        _core.close_quietly(mm)


def _initial_size(inp):
    """The size to map for a container's pickle: what its header declares."""
    size = _core.declared_size(inp.data)
    # a header may lie: it is checked during the expansion, and an
    # output that grows past the mapping is moved to a bigger one
    return size if 0 < size < (1 << 40) else 1 << 20


def _load_file_bytes(data, n, ptr, opts, checked, owned):
    """Load from the bytes of a file (pickle, joblib file, compressed
    joblib file).  checked: the library already checked them (tp_expand).
    owned: data is a mapping whose read pages may be given back."""
    head = bytes(data[:64])
    kind = _lib.lib.tp_sniff(head, len(head), data[n - 1] if n else -1)
    if kind == _lib.FILE_COMPRESSED:
        # the verdict on the file (the compression itself can make
        # loaders read differently), then on the stream this package
        # decompresses, which is what is unpickled
        if not opts.allow_unsafe:
            _refuse(_core.inspect_raw(ptr, n, opts))
        stream = _unpickle.decompress(data, n)
        return _load_stream(stream, len(stream), stream, opts, checked=False, release=False)
    return _load_stream(data, n, ptr, opts, checked, release=owned)


def _load_stream(data, n, ptr, opts, checked, release):
    """Check, inspect and unpickle the pickle stream data[:n] (ptr: its address for the library)."""
    if not opts.allow_unsafe and not checked:
        err = _core.check_raw(ptr, n, opts)
        if err is not None:
            raise err
    insp = _core.inspect_raw(ptr, n, opts)
    if not opts.allow_unsafe:
        _refuse(insp)
    reader = _unpickle.Reader(data, n, release=release)
    try:
        return _unpickle.unpickle(reader, insp, opts.allow_unsafe, data, n)
    finally:
        reader.close()


def _refuse(insp):
    """Raise what an inspection refuses: UnsafePickleError for a refused
    site, Error for an input that cannot be read or an invalid tree."""
    if insp.refused:
        site = _core.first_refusal(insp)
        what = "a refused site"
        if site is not None:
            module, name, opcode, _off, why = site
            what = "%s %s.%s: %s" % (opcode, module, name, why) if module is not None else "%s: %s" % (opcode, why)
        more = " (and %d more: see treepack.inspect)" % (insp.refused - 1) if insp.refused > 1 else ""
        raise _core.unsafe_error("%s: %s%s" % (_lib.text(_lib.lib.tp_strerror(_lib.E_UNSAFE)), what, more), None,
                                 insp)
    if insp.error is not None:
        raise insp.error
    for i, t in enumerate(insp.trees):
        if not t.valid:
            raise Error(Code.E_TREE, "tree %d: %s" % (i, t.problem), t.offset)


# ---------------------------------------------------------------- dumping


def _pickle_to_memory(obj, protocol, use_joblib):
    """The pickle of obj in an anonymous file (memfd), mapped: an Input."""
    if hasattr(os, "memfd_create"):
        f = os.fdopen(os.memfd_create("treepack-dump", os.MFD_CLOEXEC), "w+b")
    else:
        import tempfile
        f = tempfile.TemporaryFile()
    with f:
        if use_joblib:
            try:
                import joblib
            except ImportError:
                raise Error(Code.E_JOBLIB, "joblib=True: joblib cannot be imported") from None
            joblib.dump(obj, f, protocol=protocol)
        else:
            pickle.Pickler(f, protocol=DEFAULT_PROTOCOL if protocol is None else protocol).dump(obj)
        f.flush()
        return _core.Input.mapped(f)


def _threads_for(threads, size):
    """Threads for compress: as asked, else every core for a big pickle, as the command line."""
    if threads is not None:
        return threads
    return (os.cpu_count() or 1) if size >= _ALL_CORES_FROM else 1


def _tpk_original_name(path, use_joblib):
    """The original name to record for a .tpk written by dump: m.tpk -> m.pkl (or m.joblib)."""
    base = os.path.basename(os.fspath(path))
    if isinstance(base, bytes):
        base = os.fsdecode(base)
    stem = base[:-4] if base.endswith(".tpk") and len(base) > 4 else base
    if not _has_model_extension(stem):
        stem += ".joblib" if use_joblib else ".pkl"
    return stem


def dump(obj, file, *, protocol=None, joblib=False, level=None, threads=None, trust=(), allow_unsafe=False,
         exact="byte", strip=(), name=None, progress=None):
    """Pickle obj and compress it into a .tpk, in memory; returns a Report.

    file: a path (written under a temporary name and renamed when
    complete; an existing file is replaced, as open(path, "wb") would) or
    a binary file object.  protocol: the pickle protocol (default 5;
    with joblib=True, joblib's default).  joblib=True: pickle with
    joblib.dump's layout (arrays as raw bytes after NumpyArrayWrapper), so
    that the expanded file is what joblib.dump would have written.

    Compression options, as on the command line: level (1-19, default
    9), threads (default: every core from 64 MiB of pickle on, else one),
    exact ("byte", the default: expand gives back the pickle's bytes;
    "model": vocabularies may be stored sorted), strip (a list or a
    comma-separated string of the parts the library names, for this one
    "impurity", "samples", "stop-words": lossy, for models that only
    predict), name (the file name recorded as
    the original's; default: the .tpk's name with .pkl or .joblib).
    trust and allow_unsafe: as for load: compress refuses a pickle whose
    imports are neither allowed nor trusted (UnsafePickleError).
    progress: a callable(done, total) called now and then.
    """
    path = None if hasattr(file, "write") else os.fspath(file)
    if name is None and path is not None:
        name = _tpk_original_name(path, joblib)
    with _pickle_to_memory(obj, protocol, joblib) as inp:
        opts = _core.Options(level=level, threads=_threads_for(threads, inp.len), name=name, trust=trust,
                             allow_unsafe=allow_unsafe, exact=exact, strip=strip, progress=progress)
        if path is None:
            return _core.compress(inp, opts, _core.StreamOut(file))
        out = _core.FileOut(path, force=True)
        try:
            rep = _core.compress(inp, opts, out)
            out.commit(mode=0o666 & ~_umask())
        except BaseException:
            out.abort()
            raise
        return _with_path(rep, path)


def dumps(obj, **options):
    """dump() into bytes: the .tpk of obj's pickle.  Takes dump's options."""
    import io
    buf = io.BytesIO()
    dump(obj, buf, **options)
    return buf.getvalue()


def _umask():
    """The process umask (for the mode of the files dump writes)."""
    m = os.umask(0)
    os.umask(m)
    return m


def _with_path(rep, path):
    """The report with its path set."""
    import dataclasses
    return dataclasses.replace(rep, path=path)


# ---------------------------------------------------------------- inspecting


def inspect(file, trust=(), *, max_memory=None):
    """What loading a file would import and call, found without loading it.

    file: a path, a bytes-like object or a binary file object: a pickle,
    a joblib file (compressed ones are decompressed in memory) or a .tpk
    (expanded in memory, never written).  Returns an Inspection: imports,
    calls, trees and arrays as dataclasses, the number refused, and a
    verdict ("safe", "unsafe", "unreadable", "invalid-tree"), as
    ``treepack inspect --json`` prints them.  A malformed input is no
    exception here: the inspection's error says what stopped the reading
    (the lists stop there).  trust: as for load.
    """
    with _core.Input(file) as inp:
        return _core.inspect_input(inp, _core.Options(trust=trust, max_memory=max_memory))


def info(file):
    """What a .tpk holds and where its bytes went, without expanding it:
    a Report (as ``treepack info``)."""
    with _core.Input(file) as inp:
        if not _core.is_container(inp.ptr, inp.len):
            raise Error(Code.E_NOT_TPK, "%s: is not a treepack file (no .tpk magic)" % (inp.path or "input"))
        return _core.info(inp)


# ---------------------------------------------------------------- files, as the command line


_MODEL_EXTS = (".pkl", ".pickle", ".joblib", ".sav")
_COMPRESSION_EXTS = ("", ".gz", ".bz2", ".xz", ".lzma", ".lz4", ".z", ".zlib")


def _has_model_extension(name):
    """Whether name ends as a model file does (.pkl, .joblib.gz, ...), as the command line checks."""
    return any(name.endswith(m + c) and len(name) > len(m + c) for m in _MODEL_EXTS for c in _COMPRESSION_EXTS)


def compressed_name(path):
    """The command line's output name for compress: model.pkl -> model.tpk,
    anything else gets .tpk appended."""
    path = os.fspath(path)
    return path[:-4] + ".tpk" if path.endswith(".pkl") and len(path) > 4 else path + ".tpk"


def expanded_name(path):
    """The command line's output name for expand: model.tpk -> model.pkl,
    forest.joblib.tpk -> forest.joblib; None when path does not end in .tpk."""
    path = os.fspath(path)
    if not path.endswith(".tpk") or len(os.path.basename(path)) <= 4:
        return None
    out = path[:-4]
    return out if _has_model_extension(out) else out + ".pkl"


def compress_file(src, dst=None, *, force=False, sync=False, level=None, threads=None, trust=(),
                  allow_unsafe=False, exact="byte", strip=(), progress=None):
    """``treepack compress``: src (a pickle or joblib file) -> dst (default
    compressed_name(src)); returns a Report whose path is dst.

    As the command line: the output is written under a temporary name,
    expanded again to prove it gives the input back, and only then given
    its name; an existing dst is an error (FileExistsError) unless force;
    sync flushes it to the disk first.  The other options are dump's.
    """
    src = os.fspath(src)
    dst = os.fspath(dst) if dst is not None else compressed_name(src)
    with _core.Input(src) as inp:
        if _core.is_container(inp.ptr, inp.len):
            raise Error(Code.E_USAGE, "%s: is already a treepack file" % src)
        _not_same(src, dst)
        opts = _core.Options(level=level, threads=_threads_for(threads, inp.len), name=os.path.basename(src),
                             trust=trust, allow_unsafe=allow_unsafe, exact=exact, strip=strip, progress=progress,
                             verified_by_caller=True)
        out = _core.FileOut(dst, force=force)
        try:
            rep = _core.compress(inp, opts, out)
            _verify_written(out)
            out.commit(mode=os.stat(src).st_mode, sync=sync)
        except BaseException:
            out.abort()
            raise
    return _with_path(rep, dst)


def _verify_written(out):
    """Expand the written container (to nowhere): it must give the input back."""
    addr, n = out._read_back()
    try:
        check = _core.Input.__new__(_core.Input)
        check.mm, check._anchor, check.path, check.data, check.len, check.ptr = None, None, None, b"", n, addr
        try:
            _core.expand(check, _core.Options(allow_unsafe=True), None)
        except Error as e:
            raise Error(e.code, "the written file does not verify, so it was removed: %s" % e.message,
                        e.offset) from None
    finally:
        out._release(None, 0)


def expand_file(src, dst=None, *, force=False, sync=False, trust=(), allow_unsafe=False, progress=None):
    """``treepack expand``: src (a .tpk) -> dst (default expanded_name(src));
    returns a Report whose path is dst.

    The pickle is written under a temporary name, checked there by the
    library (UnsafePickleError if it refuses it; the file is then
    removed), and only then given its name; an existing dst is an error
    (FileExistsError) unless force.  Nothing is unpickled.
    """
    src = os.fspath(src)
    with _core.Input(src) as inp:
        if not _core.is_container(inp.ptr, inp.len):
            raise Error(Code.E_NOT_TPK, "%s: is not a treepack file (no .tpk magic)" % src)
        if dst is None:
            dst = expanded_name(src)
            if dst is None:
                raise Error(Code.E_USAGE, "%s: no name to expand to (it does not end in .tpk): give dst" % src)
        dst = os.fspath(dst)
        _not_same(src, dst)
        opts = _core.Options(trust=trust, allow_unsafe=allow_unsafe, progress=progress)
        out = _core.FileOut(dst, force=force)
        try:
            rep = _core.expand(inp, opts, out)
            out.commit(mode=os.stat(src).st_mode, sync=sync)
        except BaseException:
            out.abort()
            raise
    return _with_path(rep, dst)


def _not_same(src, dst):
    """Refuse an output that is the input (also through links)."""
    try:
        if os.path.samefile(src, dst):
            raise Error(Code.E_USAGE, "%s: the output would be the input" % src)
    except FileNotFoundError:
        pass
