"""Write a forest of about 11 MB (the trees of a fixture, copied): big
enough that compress cuts it into several blocks for its workers, expand
decodes blocks ahead in its prefetch helper, and expand's output goes
through the writer thread (4 MB and more).  Loads only the project's own
fixture.
    make_forest.py FIXTURE OUT
"""
import copy
import pickle
import sys

with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
model.estimators_ = [copy.deepcopy(t) for _ in range(20) for t in model.estimators_]
model.n_estimators = len(model.estimators_)
with open(sys.argv[2], "wb") as f:
    pickle.dump(model, f, protocol=4)
