#!/usr/bin/python3
"""Write tests/unit/data/*.pkl and locate_cases.h: small pickles of sklearn Tree objects,
some of them with states that lie, for test_locate.c.

Run with Debian's Python (sklearn 1.2.1, numpy 1.24):
    /usr/bin/python3 tests/unit/data/make_locate_cases.py
The output is deterministic; the tests do not need Python.
"""
import copyreg
import io
import os
import pickle
import pickletools

import numpy as np
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import NODE_DTYPE, Tree

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'locate_cases.h')

clf = DecisionTreeClassifier(random_state=0).fit([[0.0], [1.0]], [0, 1])
TREE = clf.tree_
BASE = TREE.__getstate__()
assert BASE['node_count'] == 3


def dump(obj, protocol, states):
    """Pickle obj; Tree objects reduce with the state states[id(tree)]."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol)
    table = copyreg.dispatch_table.copy()

    def reduce_tree(t):
        fn, args, st = t.__reduce__()
        return fn, args, states.get(id(t), st)

    table[Tree] = reduce_tree
    p.dispatch_table = table
    p.dump(obj)
    return buf.getvalue()


def tree_reduce_offsets(data):
    """Offsets of the REDUCEs whose callable is sklearn.tree._tree.Tree,
    by a small stack model over pickletools' opcode descriptions."""
    stack, memo, marks, found = [], {}, [], []
    for op, arg, pos in pickletools.genops(data):
        name = op.name
        if name == 'MARK':
            marks.append(len(stack))
            continue
        if name in ('GLOBAL', 'INST'):
            val = ('global', arg.replace(' ', '.'))
        if name == 'STACK_GLOBAL':
            n, m = stack.pop(), stack.pop()
            stack.append(('global', '%s.%s' % (m, n)))
            continue
        if name in ('BINPUT', 'LONG_BINPUT', 'PUT'):
            memo[arg] = stack[-1]
            continue
        if name == 'MEMOIZE':
            memo[len(memo)] = stack[-1]
            continue
        if name in ('BINGET', 'LONG_BINGET', 'GET'):
            stack.append(memo[arg])
            continue
        if name == 'REDUCE':
            stack.pop()
            c = stack.pop()
            if c == ('global', 'sklearn.tree._tree.Tree'):
                found.append(pos)
            stack.append(('obj', pos))
            continue
        if name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE', 'BINUNICODE8'):
            stack.append(arg)
            continue
        if name == 'STOP':
            break
        before = op.stack_before
        if pickletools.markobject in before:
            m = marks.pop()
            del stack[m:]
            before = [x for x in before if x is not pickletools.markobject and x is not pickletools.stackslice]
        for _ in before:
            stack.pop()
        for _ in op.stack_after:
            stack.append(val if name in ('GLOBAL', 'INST') else None)
    return found


def state(**changes):
    st = dict(BASE)
    st.update(changes)
    return st


def nodes_with(dtype):
    a = np.zeros(3, dtype=dtype)
    for name in dtype.names:
        if name in NODE_DTYPE.names:
            a[name] = BASE['nodes'][name]
    return a


DT64 = np.dtype({'names': list(NODE_DTYPE.names) + ['missing_go_to_left'],
                 'formats': [NODE_DTYPE.fields[n][0] for n in NODE_DTYPE.names] + ['u1'],
                 'offsets': [NODE_DTYPE.fields[n][1] for n in NODE_DTYPE.names] + [56],
                 'itemsize': 64})
NO_THRESHOLD = np.dtype([(n, NODE_DTYPE.fields[n][0]) for n in NODE_DTYPE.names if n != 'threshold'])

other = Tree(1, np.array([2], dtype=np.intp), 1)
shared_nodes = BASE['nodes'].copy()

cases = [
    # name, bytes, expected outcome
    ('tree_p2', dump(TREE, 2, {}), 'ok'),
    ('tree_p3', dump(TREE, 3, {}), 'ok'),
    ('tree_p4', dump(TREE, 4, {}), 'ok'),
    ('tree_p5', dump(TREE, 5, {}), 'ok'),
    ('layout64_p3', dump(TREE, 3, {id(TREE): state(nodes=nodes_with(DT64))}), 'ok'),
    ('big_endian_p3', dump(TREE, 3, {id(TREE): state(nodes=nodes_with(NODE_DTYPE.newbyteorder('>')))}), 'ok'),
    ('bad_count_p3', dump(TREE, 3, {id(TREE): state(node_count=5)}), 'tree'),
    ('negative_count_p4', dump(TREE, 4, {id(TREE): state(node_count=-3)}), 'tree'),
    ('values_2d_p3', dump(TREE, 3, {id(TREE): state(values=BASE['values'].reshape(3, 2))}), 'tree'),
    ('values_rows_p3', dump(TREE, 3, {id(TREE): state(values=BASE['values'][:2].copy())}), 'tree'),
    ('values_no_outputs_p5', dump(TREE, 5, {id(TREE): state(values=np.zeros((3, 0, 2)))}), 'tree'),
    ('no_threshold_p3', dump(TREE, 3, {id(TREE): state(nodes=nodes_with(NO_THRESHOLD))}), 'verbatim'),
    ('values_f4_p3', dump(TREE, 3, {id(TREE): state(values=BASE['values'].astype(np.float32))}), 'verbatim'),
    ('shared_payload_p3', dump([TREE, other], 3, {id(TREE): state(nodes=shared_nodes),
                                                   id(other): state(nodes=shared_nodes)}), 'shared'),
]

for name, data, want in cases:
    with open(os.path.join(HERE, name + '.pkl'), 'wb') as f:
        f.write(data)
with open(OUT, 'w') as f:
    f.write('/* Generated by tests/unit/data/make_locate_cases.py -- do not edit.\n'
            ' * The pickles are tests/unit/data/<name>.pkl. */\n')
    f.write('#ifndef UNIT_LOCATE_CASES_H\n#define UNIT_LOCATE_CASES_H\n\n')
    f.write('enum case_want { WANT_OK, WANT_TREE_ERROR, WANT_VERBATIM, WANT_SHARED };\n\n')
    f.write('static const struct locate_case {\n    const char *name;\n    unsigned long len;\n    int want;\n'
            '    unsigned long reduce[2]; /* offsets of the Tree REDUCEs */\n} locate_cases[] = {\n')
    wants = {'ok': 'WANT_OK', 'tree': 'WANT_TREE_ERROR', 'verbatim': 'WANT_VERBATIM', 'shared': 'WANT_SHARED'}
    for name, data, want in cases:
        offs = tree_reduce_offsets(data)
        assert offs, name
        f.write('    {"%s", %d, %s, {%s}},\n' % (name, len(data), wants[want], ', '.join(str(o) for o in offs)))
    f.write('};\n\n#endif\n')
print('wrote', OUT, 'and', len(cases), 'pickles,', sum(len(c[1]) for c in cases), 'bytes')
