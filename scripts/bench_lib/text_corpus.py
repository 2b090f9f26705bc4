"""Text models for the benchmark (issue #6): vectorizers fitted on text that
ships with Debian.

The documents are every file under /usr/share/common-licenses and every
/usr/share/doc/*/copyright, sorted by path, read as UTF-8 (undecodable
bytes replaced), each distinct content once.  Which packages are installed
changes the corpus, so the report gives the number of documents, their
size and a SHA-256 of the whole list; scripts/install-deps installs a fixed
set, so two machines set up the same way fit the same models.

Models (pickle protocol 4, like the tree corpus):
  text_count    CountVectorizer() on unigrams
  text_tfidf12  TfidfVectorizer(ngram_range=(1, 2), min_df=2); its
                stop_words_ (terms cut by min_df) is much larger than the
                vocabulary
stop_words_ is a set: its order follows the string hash seed, so the models
are built in a child process with PYTHONHASHSEED=0.
"""

import glob
import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections import namedtuple

PROTOCOL = 4

TextModel = namedtuple("TextModel", ["name", "description", "code"])

TEXT_MODELS = [
    TextModel("text_count", "CountVectorizer(), unigrams", "CountVectorizer()"),
    TextModel("text_tfidf12", "TfidfVectorizer(ngram_range=(1, 2), min_df=2)",
              "TfidfVectorizer(ngram_range=(1, 2), min_df=2)"),
]
BY_NAME = {m.name: m for m in TEXT_MODELS}


def document_paths():
    return sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))


def documents():
    seen, docs = set(), []
    for path in document_paths():
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        h = hashlib.sha256(data).digest()
        if h in seen:
            continue
        seen.add(h)
        docs.append(data.decode("utf-8", "replace"))
    return docs


def corpus_digest(docs):
    h = hashlib.sha256()
    for d in docs:
        h.update(d.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


_BUILD = r"""
import pickle, sys
sys.path.insert(0, %(here)r)
from bench_lib.text_corpus import documents
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
model = %(code)s.fit(documents())
if hasattr(model, "_stop_words_id"):
    model._stop_words_id = 140000000000000
with open(%(tmp)r, "wb") as f:
    pickle.dump(model, f, protocol=%(protocol)d)
"""


def ensure(corpus_dir, model, log):
    """Build NAME.pkl in corpus_dir unless it exists for the same corpus."""
    os.makedirs(corpus_dir, exist_ok=True)
    pkl = os.path.join(corpus_dir, model.name + ".pkl")
    docs = documents()
    stamp = {"code": model.code, "corpus": corpus_digest(docs), "protocol": PROTOCOL}
    man_path = os.path.join(corpus_dir, "TEXT_MANIFEST.json")
    try:
        with open(man_path) as f:
            man = json.load(f)
    except (OSError, ValueError):
        man = {}
    if os.path.exists(pkl) and man.get(model.name) == stamp:
        return pkl, docs
    log("building %s: %s on %d documents" % (model.name, model.code, len(docs)))
    tmp = pkl + ".tmp"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run([sys.executable, "-W", "ignore", "-c", _BUILD % {"here": here, "code": model.code, "tmp": tmp,
                                                                    "protocol": PROTOCOL}], check=True, env=env)
    os.replace(tmp, pkl)
    man[model.name] = stamp
    with open(man_path, "w") as f:
        json.dump(man, f, indent=1, sort_keys=True)
    return pkl, docs


def terms(pkl):
    """(vocabulary_ keys, stop_words_) of the model in pkl, sorted."""
    with open(pkl, "rb") as f:
        model = pickle.load(f)
    voc = sorted(model.vocabulary_)
    stop = sorted(getattr(model, "stop_words_", None) or ())
    return voc, stop
