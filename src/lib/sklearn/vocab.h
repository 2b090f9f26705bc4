/*
 * vocab.h - vocabularies of fitted text vectorizers, stored compactly.
 *
 * CountVectorizer, TfidfVectorizer and DictVectorizer carry `vocabulary_`
 * (a dict of str -> int) and often `stop_words_` (a set of str, larger
 * still); DictVectorizer also `feature_names_` (a list of str).  Pickled,
 * each term costs an opcode, a memo entry and its id: tens of bytes.
 *
 * A vocabulary's byte range in the stream is described by a model: the
 * terms, the ids (only those that are not the term's rank in sorted
 * order), how the pickler wrote it (memo opcodes, string opcodes, numpy
 * int64 ids, batches of 1000, FRAMEs the framer put in the middle) and,
 * as exceptions, items written in any other way, kept byte for byte.  At
 * compress time the range is regenerated from the model and compared with
 * the original; only a range that comes back identical is cut out of the
 * skeleton (splice kind 3), anything else stays where it was.
 *
 * Memo references from elsewhere into the range (a GET of a term) keep
 * working because the same bytes come back.  For the lossy modes
 * (lossy.h) the scan also says whether anything after the range refers to
 * the memo entries made inside it.
 */
#ifndef SKLEARN_VOCAB_H
#define SKLEARN_VOCAB_H

#include "base/buf.h"
#include "pickle/pickle_vm.h"

enum vocab_kind { VOCAB_DICT = 0, VOCAB_SET = 1, VOCAB_LIST = 2 };

/* flags */
#define VF_MEMOIZE 0x01     /* protocol 4+: MEMOIZE and SHORT_BINUNICODE; else BINPUT/LONG_BINPUT, BINUNICODE */
#define VF_NUMPY 0x02       /* ids are numpy int64 scalars (scalar(dtype, bytes)) */
#define VF_NUMPY_CODECS 0x04 /* ... whose bytes are _codecs.encode(text, 'latin1') (protocol 2) */
#define VF_SORTED 0x08      /* the terms are in sorted order (model-exact output) */
#define VF_NUMPY4 0x10      /* ... 4-byte scalars (int32: Windows builds of numpy before 2) */
#define VF_ALL 0x1f

/* What the vocabulary is, for reports and the lossy modes. */
enum vocab_role { ROLE_OTHER = 0, ROLE_VOCABULARY, ROLE_STOP_WORDS, ROLE_FEATURE_NAMES };

typedef struct vocab_raw {
    uint64_t pos;              /* item position */
    uint64_t puts;             /* memo entries its bytes make */
    uint64_t blob_off, blob_len;   /* in rawbuf: the item's bytes */
    uint64_t term_off, term_len;   /* in rawbuf: its term (for the ranks) */
} vocab_raw;

typedef struct vocab_get {
    uint64_t pos;
    uint64_t memo;             /* the key is a GET of this memo index */
} vocab_get;

typedef struct vocab_idx {
    uint64_t pos;              /* listed item index */
    int64_t id;
} vocab_idx;

typedef struct vocab_frame {
    uint64_t off;              /* where the FRAME opcode goes, from the range's start */
    uint64_t len;              /* its declared length */
} vocab_frame;

typedef struct vocab_batch {
    uint64_t count;
    uint8_t single;            /* item then SETITEM/APPEND, no MARK */
} vocab_batch;

typedef struct vocabulary {
    uint8_t kind;
    uint8_t flags;
    uint8_t role;
    uint64_t n;                /* items */
    uint64_t memo_first;       /* VF_MEMOIZE unset: memo index of the container's put */
    uint64_t filler;           /* extra puts after the container's (a stripped set) */
    uint64_t np_scalar, np_dtype, np_encode, np_latin1; /* memo indices the numpy ids GET */

    /* listed items (every item that is not raw), in the order written */
    uint8_t *text;
    uint64_t *toff;            /* nlisted + 1 offsets into text */
    uint64_t nlisted;
    int64_t *ids;              /* dict: the id of each listed item */

    vocab_raw *raw;
    size_t nraw;
    uint8_t *rawbuf;
    size_t rawbuf_len;
    vocab_get *gets;
    size_t ngets;
    vocab_frame *frames;
    size_t nframes;
    vocab_batch *batches;
    size_t nbatches;
    uint64_t stream_len;       /* bytes of the range */
} vocabulary;

void vocab_free(vocabulary *v);

/* Regenerate the range's bytes (appended to out). */
tp_code vocab_generate(tp_ctx *ctx, const vocabulary *v, bytebuf *out);

/* A vocabulary found in a stream. */
typedef struct found_vocab {
    uint64_t offset;           /* of the range (the EMPTY_DICT/SET/LIST opcode) */
    uint64_t owner_offset;     /* of the object whose attribute it is */
    uint8_t owner_known;       /* the owner is a vectorizer whose vocabulary order does not matter */
    uint64_t memo_lo, memo_hi; /* memo indices set inside the range: [lo, hi) */
    uint8_t referenced;        /* something after the range GETs one of them */
    uint64_t pickle_end;       /* end of the pickle that holds it */
    vocabulary v;
} found_vocab;

/* Find the vocabularies among the objects the interpreter recorded (it
 * has just run over data), check that each regenerates exactly, and
 * return them sorted by offset, not overlapping.  Ranges that do not
 * regenerate are left out (they stay in the skeleton). */
tp_code vocab_find(tp_ctx *ctx, const pv_vm *vm, const uint8_t *data, size_t len, found_vocab **out,
                      size_t *n);
void found_vocabs_free(found_vocab *f, size_t n);

/* The same vocabulary written in sorted term order (model-exact output):
 * the listed items change places, sorted by term with their ids, the raw
 * ones stay where they are.  Every item makes the same memo entries as
 * before, in the same places.  False (v untouched) when the keys are
 * GETs or the model has frames (remove them first: vocab_unframe). */
bool vocab_sort(vocabulary *v);
/* True when the listed terms are in sorted order already. */
bool vocab_is_sorted(const vocabulary *v);

/* Forget the FRAMEs inside the range (the caller rewrites the frame
 * around it); stream_len becomes the new length. */
tp_code vocab_unframe(tp_ctx *ctx, vocabulary *v);

/* Drop every item (a stripped stop_words_ set), keeping the memo entries
 * they made: the container's put is followed by as many more puts
 * (filler), so that memo indices after the range stay valid.  Frames go
 * too; stream_len becomes the new length. */
tp_code vocab_empty(tp_ctx *ctx, vocabulary *v);

/* ---- the container section (SEC_VOCAB) -------------------------------- */

/* Python's order of str (by code point; UTF-8 bytes sort alike). */
int vocab_term_cmp(const uint8_t *a, uint64_t an, const uint8_t *b, uint64_t bn);

#endif
