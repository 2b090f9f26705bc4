"""Write malformed, hostile and odd inputs that a pickle reader must survive
(truncations, bad lengths, deep nesting, huge declared sizes, ...) into a
directory, deterministically.
Plain Python 3, no third-party module: the pickles are written byte by byte.

    make_inputs.py FIXTURES_DIR OUTDIR
"""
import os
import pickletools
import struct
import sys
import zlib

fixtures, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


P2, P4 = b"\x80\x02", b"\x80\x04"

# ---- the stream ----------------------------------------------------------
put("empty.pkl", b"")
put("lone_stop.pkl", b".")
put("unknown_protocol.pkl", b"\x80\x06N.")
put("unknown_opcode.pkl", P4 + b"\xff.")
put("trailing_bytes.pkl", P2 + b"N.garbage")
put("no_stop.pkl", P2 + b"N")

# Stack or MARK underflow for every opcode that pops: each alone after PROTO.
args = {
    "PUT": b"1\n", "BINPUT": b"\x01", "LONG_BINPUT": b"\x01\x00\x00\x00", "INST": b"m\nn\n",
}
for op in pickletools.opcodes:
    if not op.stack_before or op.name == "FRAME":
        continue
    arg = args.get(op.name, b"")
    put("underflow_%s.pkl" % op.name, P4 + op.code.encode("latin-1") + arg + b".")
# Opcodes that need a value on top without popping it, and PERSID pairs.
put("underflow_PUT.pkl", P2 + b"p1\n.")
put("underflow_BINPUT.pkl", P2 + b"q\x01.")
put("underflow_LONG_BINPUT.pkl", P2 + b"r\x01\x00\x00\x00.")
# Below the fence: a MARK hides what lies under it.
put("fence_APPEND.pkl", P2 + b"]N(a.")
put("fence_SETITEM.pkl", P2 + b"}NN(s.")
put("fence_APPENDS.pkl", P2 + b"(e.")

# The memo.
put("get_unset.pkl", P2 + b"h\x05.")
put("get_huge.pkl", P2 + b"j\xff\xff\xff\xff.")
put("get_text_huge.pkl", b"g" + b"9" * 30 + b"\n.")
put("long_binput_max.pkl", P2 + b"Nr\xff\xff\xff\xffj\xff\xff\xff\xff.")  # valid: one sparse slot
put("long_binput_max_get_other.pkl", P2 + b"Nr\xff\xff\xff\xffj\xfe\xff\xff\xff.")

# Declared lengths.
u64 = lambda v: struct.pack("<Q", v)
put("binbytes8_2p63.pkl", P4 + b"\x8e" + u64(1 << 63) + b"abc.")
put("binunicode8_2p63.pkl", P4 + b"\x8d" + u64(1 << 63) + b"abc.")
put("frame_2p63.pkl", P4 + b"\x95" + u64(1 << 63) + b"N.")
put("binbytes8_one_past.pkl", P4 + b"\x8e" + u64(5) + b"abc.")  # 4 bytes remain
put("binunicode8_one_past.pkl", P4 + b"\x8d" + u64(5) + b"abc.")
put("frame_one_past.pkl", P4 + b"\x95" + u64(3) + b"N.")  # 2 bytes remain
put("binstring_negative.pkl", P2 + b"T\xff\xff\xff\xffabc.")
put("long4_2p31.pkl", P2 + b"\x8b\x00\x00\x00\x80" + b"\x01" * 16 + b".")
put("frame_straddle.pkl", P4 + b"\x95" + u64(3) + b"X\x05\x00\x00\x00hello.")

# Text arguments.
put("utf8_invalid.pkl", P4 + b"X\x02\x00\x00\x00\xff\xfe.")
put("utf8_overlong.pkl", P4 + b"\x8c\x02\xc0\xaf.")
put("utf8_global.pkl", b"cnumpy\ndt\xffype\n.")
put("int_nul.pkl", b"I12\x003\n.")
put("int_no_newline.pkl", b"I123")
put("global_no_newline.pkl", b"cnumpy\ndtype")
put("int_1e6_digits.pkl", b"I" + b"9" * 10**6 + b"\n.")
put("long_1e6_digits.pkl", b"L" + b"9" * 10**6 + b"L\n.")

# Size and depth.
put("dup_1e6.pkl", P2 + b"N" + b"2" * 10**6 + b".")
put("mark_1e6.pkl", b"(" * 10**6 + b".")
put("nested_lists_1e5.pkl", P2 + b"]" * 10**5 + b"a" * (10**5 - 1) + b".")
put("nested_marks_1e5.pkl", b"(" * 10**5 + b"l" * 10**5 + b".")
doubling = P2 + b"]q\x00" + b"h\x00h\x00\x86q\x00" * 100 + b"."  # 2^100 paths, 100 tuples
put("memo_doubling.pkl", doubling)
put("self_list.pkl", P2 + b"]q\x00h\x00a.")
put("self_dict.pkl", P2 + b"}q\x00K\x01h\x00s.")
# A dtype that names itself as the type of its own field.
self_dtype = (b"cnumpy\ndtype\nq\x00X\x03\x00\x00\x00V16\x89\x88\x87Rq\x01"
              b"(K\x03X\x01\x00\x00\x00|NX\x01\x00\x00\x00a\x85}X\x01\x00\x00\x00ah\x01K\x00\x86sK\x10K\x01K\x10tb")
put("dtype_self_field.pkl", P2 + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
    b"(K\x01K\x01\x85" + self_dtype + b"\x89C\x10" + b"\x00" * 16 + b"tb.")

# ---- imports that run code on load ------------------------------------------
put("evil_global.pkl", P2 + b"cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
put("evil_global_posix.pkl", b"cposix\nsystem\n(S'echo'\ntR.")
put("evil_stack_global_memo.pkl", P4 + b"\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x04echo\x85R.")
put("evil_inst.pkl", b"(S'echo'\nios\nsystem\n.")
put("evil_obj.pkl", P2 + b"(cos\nsystem\nX\x04\x00\x00\x00echoo.")
put("evil_newobj_ex.pkl", P4 + b"\x8c\x0asubprocess\x8c\x05Popen\x93)}\x92.")
put("evil_ext1.pkl", P2 + b"\x82\x01)R.")
put("evil_ext2.pkl", P2 + b"\x83\x01\x02)R.")
put("evil_ext4.pkl", P2 + b"\x84\x01\x02\x03\x00)R.")
put("evil_persid.pkl", b"Pfile:/etc/passwd\n.")
put("evil_binpersid.pkl", P2 + b"X\x03\x00\x00\x00pidQ.")
put("evil_getattr.pkl", P2 + b"c__builtin__\ngetattr\ncnumpy\nndarray\nX\x03\x00\x00\x00tof\x86R.")
put("evil_eval.pkl", P2 + b"cbuiltins\neval\nX\x04\x00\x00\x001+1;\x85R.")
put("evil_dotted.pkl", P4 + b"cnumpy\nprod.a\n.")
put("evil_escaped_name.pkl", P4 + b"S'o\\x73'\nS'system'\n\x93.")
put("evil_numpy_load.pkl", P2 + b"cnumpy\nload\nX\x08\x00\x00\x00/tmp/x.y\x85R.")
put("evil_call_result.pkl", P2 + b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R)R.")
put("evil_after_error.pkl", P2 + b"cos\nsystem\n\xff.")
# the same inside a compressed joblib file: what a loader reads is inside
put("evil_global.joblib.z", zlib.compress(P2 + b"cos\nsystem\nX\x04\x00\x00\x00echo\x85R."))

# ---- Tree states that lie: edits of a real model --------------------------------
# Protocol 3 has no FRAMEs, so edits may change lengths.
base = open(os.path.join(fixtures, "dt_classifier_iris_p3.pkl"), "rb").read()
ops = list(pickletools.genops(base))


def after_key(key):
    """The op right after the string `key` and its memo PUT."""
    for i, (op, arg, pos) in enumerate(ops):
        if op.name.endswith("UNICODE") and arg == key:
            j = i + 1
            while ops[j][0].name in ("MEMOIZE", "BINPUT", "LONG_BINPUT"):
                j += 1
            return ops[j]
    raise KeyError(key)


op, arg, pos = after_key("node_count")
assert op.name == "BININT1" and arg == 17, (op.name, arg)
put("tree_node_count.pkl", base[:pos] + b"K\x12" + base[pos + 2:])

nodes_pos = [pos for op, arg, pos in ops if op.name == "BINBYTES" and len(arg) == 17 * 56][0]
nodes_at = nodes_pos + 5  # BINBYTES: the opcode and a 4-byte length
node = lambda i, f: struct.unpack_from("<q", base, nodes_at + i * 56 + f * 8)[0]


def node_edit(name, i, field, value):
    off = nodes_at + i * 56 + field * 8
    put(name, base[:off] + struct.pack("<q", value) + base[off + 8:])


node_edit("tree_child_out_of_range.pkl", 0, 0, 100)
# a cycle: some internal node below the root points back to its parent
parent = {}
for i in range(17):
    if node(i, 0) != -1:
        parent[node(i, 0)] = i
        parent[node(i, 1)] = i
k = min(i for i in range(1, 17) if node(i, 0) != -1 and parent.get(i, 0) > 0)
node_edit("tree_cycle.pkl", k, 1, parent[k])
node_edit("tree_shared.pkl", 0, 1, node(0, 0))
node_edit("tree_negative_feature.pkl", 0, 2, -5)
node_edit("tree_feature_too_big.pkl", 0, 2, 4)
# values (17, 1, 3) -> (17, 3): same bytes, two dimensions
shape = b"K\x11K\x01K\x03\x87"
i = base.index(shape)
put("tree_values_shape.pkl", base[:i] + b"K\x11K\x03\x86" + base[i + len(shape):])
# values (17, 1, 3) -> (2^62, 2^62, 3): the byte count overflows
big = b"\x8a\x08" + struct.pack("<q", 1 << 62)
put("tree_shape_overflow.pkl", base[:i] + big + big + b"K\x03\x87" + base[i + len(shape):])
# Tree(n_features, n_classes, n_outputs) against the values' shape
tree_at = base.index(b"_tree\nTree\n")
ncls = [pos for op, arg, pos in ops if op.name == "SHORT_BINBYTES" and arg == struct.pack("<q", 3) and pos > tree_at][0]
put("tree_n_classes.pkl", base[:ncls + 2] + struct.pack("<q", 4) + base[ncls + 10:])
nout = base.index(b"K\x01\x87", ncls)
put("tree_n_outputs.pkl", base[:nout] + b"K\x02\x87" + base[nout + 3:])
# the node dtype: right_child at offset 0, over left_child
key = base.index(b"X\x0b\x00\x00\x00right_child")
j = base.index(b"K\x08", key)
put("tree_dtype_overlap.pkl", base[:j] + b"K\x00" + base[j + 2:])
# the node dtype: left_child renamed, so a required field is missing
assert base.count(b"left_child") >= 1
put("tree_dtype_unknown_field.pkl", base.replace(b"left_child", b"left_chilx"))

# ---- a valid model, and a pickle too big to finish at once -------------------------
put("model.pkl", open(os.path.join(fixtures, "dt_classifier_iris_p4.pkl"), "rb").read())
big_model = open(os.path.join(fixtures, "rf_regressor_p2.pkl"), "rb").read()
put("big.pkl", big_model * 120)
