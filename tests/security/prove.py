#!/usr/bin/python3
"""Prove that each attack of make_attacks.py really runs under the real
loaders.

    /usr/bin/python3 tests/security/prove.py ATTACK_DIR [NAME...]

For every attack of ATTACK_DIR/attacks.tsv and every loader it targets,
a fresh /usr/bin/python3 loads the file with that loader, in a fresh
temporary directory as its working directory, under a timeout.  The
payload ran when the file MARKER appeared in that directory ("marker"
payloads) or when the loaded object shows /etc/passwd ("read" payloads:
the child prints a token when 'root:' is in the object's repr).  An
exception or a crash after the payload does not matter: what was run,
ran.  Writes ATTACK_DIR/proven.tsv (the attacks that ran under at least
one loader, with the loaders where they ran) and says which attacks ran
under none: those are no attacks and are left out.

Only files made by make_attacks.py belong here, never a model from the
outside: loading is what runs the payload.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

PYTHON = '/usr/bin/python3'
TIMEOUT = 20

# each loader: the statement that loads the file named by the variable P
LOADERS = {
    'pickle': "import pickle\nwith open(P, 'rb') as f: obj = pickle.load(f)",
    'pickle_py': "import pickle\nwith open(P, 'rb') as f: obj = pickle._Unpickler(f).load()",
    'joblib': "import joblib\nobj = joblib.load(P)",
    'pickle_gzip': "import gzip, pickle\nwith gzip.open(P, 'rb') as f: obj = pickle.load(f)",
    'pickle_bz2': "import bz2, pickle\nwith bz2.open(P, 'rb') as f: obj = pickle.load(f)",
    'pickle_xz': "import lzma, pickle\nwith lzma.open(P, 'rb') as f: obj = pickle.load(f)",
}

CHILD = r'''
import sys
P = sys.argv[1]
obj = None
try:
%s
except BaseException as e:
    sys.stderr.write('load raised %%s: %%s\n' %% (type(e).__name__, str(e)[:200]))
sys.stdout.flush()
try:
    if 'root:' in repr(obj):
        print('PAYLOAD-READ-PASSWD')
except BaseException:
    pass
'''


def child_source(loader):
    body = '\n'.join('    ' + line for line in LOADERS[loader].split('\n'))
    return CHILD % body


def run_one(path, loader, payload):
    """(ran, detail) for one load in a sandbox directory."""
    box = tempfile.mkdtemp(prefix='tp-prove-')
    try:
        env = {'PATH': '/usr/bin:/bin', 'HOME': box, 'LANG': 'C.UTF-8',
               'PYTHONDONTWRITEBYTECODE': '1', 'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1'}
        try:
            r = subprocess.run([PYTHON, '-c', child_source(loader), os.path.abspath(path)], cwd=box, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
            out, err, rc = r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace'), r.returncode
        except subprocess.TimeoutExpired:
            out, err, rc = '', 'timeout after %ds' % TIMEOUT, None
        if payload == 'marker':
            ran = os.path.exists(os.path.join(box, 'MARKER'))
        else:
            ran = 'PAYLOAD-READ-PASSWD' in out
        last = [l for l in err.strip().split('\n') if l.strip()]
        detail = last[-1][:160] if last else ('exit %s' % rc)
        if rc is not None and rc < 0:
            detail = 'killed by signal %d; %s' % (-rc, detail)
        return ran, detail
    finally:
        shutil.rmtree(box, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: prove.py ATTACK_DIR [NAME...]')
    d = sys.argv[1]
    only = set(sys.argv[2:])
    with open(os.path.join(d, 'attacks.tsv')) as f:
        header = f.readline().rstrip('\n').split('\t')
        rows = [dict(zip(header, l.rstrip('\n').split('\t'))) for l in f if l.strip()]
    if only:
        rows = [r for r in rows if r['name'] in only]
    jobs = []
    for r in rows:
        for loader in r['loaders'].split(','):
            if loader not in LOADERS:
                sys.exit('prove.py: %s: unknown loader %s' % (r['name'], loader))
            jobs.append((r, loader))
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        futs = {ex.submit(run_one, os.path.join(d, r['file']), loader, r['payload']): (r['name'], loader)
                for r, loader in jobs}
        results = {}
        for fu in concurrent.futures.as_completed(futs):
            results[futs[fu]] = fu.result()
    proven, dropped = [], []
    for r in rows:
        ran, notran = [], []
        for loader in r['loaders'].split(','):
            ok, detail = results[(r['name'], loader)]
            (ran if ok else notran).append(loader)
            print('%-36s %-12s %-8s %s' % (r['name'], loader, 'RAN' if ok else 'no', detail))
        if ran:
            proven.append((r, ran))
        else:
            dropped.append(r['name'])
    if not only:
        with open(os.path.join(d, 'proven.tsv'), 'w') as f:
            f.write('name\tclass\tloaders_ran\tfile\ttreepack_options\n')
            for r, ran in proven:
                f.write('\t'.join([r['name'], r['class'], ','.join(ran), r['file'], r['treepack_options']]) + '\n')
    print('prove: %d of %d attacks ran their payload under a real loader' % (len(proven), len(rows)))
    for n in dropped:
        print('prove: NOT AN ATTACK (ran under no loader, left out): %s' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())
