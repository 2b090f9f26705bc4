/*
 * treepack.h - the whole public interface of libtreepack.
 *
 * libtreepack turns a pickled scikit-learn model into a compact .tpk
 * container and back.  By default the round trip is exact: expanding gives
 * the original bytes, proven by a checksum stored in the container.
 *
 * Nothing in this library imports or executes anything from a pickle: the
 * pickle is read by a symbolic opcode interpreter that only records what a
 * real unpickler would do.  All inputs are treated as untrusted.
 *
 * The command-line tool uses only this header.
 */
#ifndef TREEPACK_H
#define TREEPACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the shared library exports: these declarations and nothing else
 * (it is built with -fvisibility=hidden). */
#if defined(TREEPACK_BUILDING) && defined(__GNUC__)
#define TP_API __attribute__((visibility("default")))
#else
#define TP_API
#endif

/* ---------------------------------------------------------------------
 * Versions.  TP_API_VERSION grows by one whenever the interface grows;
 * what a version had stays as it was.  The structs that grow
 * (tp_options, tp_report, tp_inspection) start with their size, set by
 * their init function in the caller's build: the library reads and writes
 * only the fields the caller's header knew, so a caller built against an
 * older header keeps working with a newer library.
 * ------------------------------------------------------------------- */
#define TP_API_VERSION 4

/* Version of the library, e.g. "0.1.0". */
TP_API const char *tp_version(void);
/* TP_API_VERSION of the library (at least the caller's, if it is to use
 * what the caller's header declares). */
TP_API unsigned tp_version_api(void);

/* ---------------------------------------------------------------------
 * Errors.  Values are stable: they may be shown to users and scripts.
 * tp_strerror() gives the one-line description of a code; the context
 * (tp_ctx) carries the detail of the last failure: a full message, the
 * byte offset in the input and the opcode involved.
 * ------------------------------------------------------------------- */
typedef enum tp_code {
    TP_OK = 0,

    /* resources and I/O */
    TP_E_NOMEM = 1,            /* an allocation failed */
    TP_E_LIMIT_MEMORY = 2,     /* the configured memory limit was reached */
    TP_E_WRITE = 3,            /* the output sink refused data */
    TP_E_INTERNAL = 4,         /* a bug: an invariant did not hold */
    TP_E_USAGE = 5,            /* invalid options passed to the library */

    /* the pickle stream */
    TP_E_EMPTY = 10,           /* no bytes at all */
    TP_E_TRUNCATED = 11,       /* an opcode or its argument runs past the end */
    TP_E_UNKNOWN_OPCODE = 12,  /* a byte that is no pickle opcode */
    TP_E_PROTOCOL = 13,        /* PROTO names a protocol above 5 */
    TP_E_STACK_UNDERFLOW = 14, /* an opcode pops more than the stack holds */
    TP_E_NO_MARK = 15,         /* an opcode needs a MARK and there is none */
    TP_E_MEMO_MISSING = 16,    /* GET of a memo index never PUT */
    TP_E_BAD_ARGUMENT = 17,    /* malformed text or number argument */
    TP_E_TRAILING_DATA = 18,   /* bytes after the final STOP that are no pickle */
    TP_E_FRAME = 19,           /* an opcode straddles a FRAME, or frames nest */
    TP_E_TYPE = 20,            /* an opcode applied to a value of the wrong kind */
    TP_E_NO_STOP = 21,         /* the stream ends without STOP */
    TP_E_OUT_OF_BAND = 22,     /* protocol 5 out-of-band buffer: not in the file */
    TP_E_BAD_UTF8 = 23,        /* a unicode argument is not valid UTF-8 */

    /* hard limits on untrusted input (see tp_limits) */
    TP_E_LIMIT_STACK = 30,
    TP_E_LIMIT_MARKS = 31,
    TP_E_LIMIT_MEMO = 32,
    TP_E_LIMIT_NESTING = 33,
    TP_E_LIMIT_OPCODES = 34,
    TP_E_LIMIT_SIZE = 35,      /* a declared size beyond what is allowed */

    /* models */
    TP_E_TREE = 40,            /* a Tree state that is inconsistent */
    TP_E_JOBLIB = 41,          /* a joblib file that is malformed */

    /* the .tpk container */
    TP_E_NOT_TPK = 50,         /* no .tpk magic */
    TP_E_TPK_VERSION = 51,     /* a format version this build cannot read */
    TP_E_TPK_TRUNCATED = 52,
    TP_E_TPK_CHECKSUM = 53,    /* a section's checksum does not match */
    TP_E_TPK_UNKNOWN = 54,     /* a required section kind this build does not know */
    TP_E_TPK_CORRUPT = 55,     /* inconsistent content */
    TP_E_MISMATCH = 56,        /* the expanded bytes do not match the original's checksum */
    TP_E_ZSTD = 57,            /* libzstd reported an error */

    /* safety */
    TP_E_UNSAFE = 60           /* the pickle imports something outside the allowlist */
} tp_code;

/* One line describing a code, never NULL. */
TP_API const char *tp_strerror(tp_code code);

/* ---------------------------------------------------------------------
 * Context: holds the detail of the last error.  Not thread-safe; use one
 * per thread.
 * ------------------------------------------------------------------- */
typedef struct tp_ctx tp_ctx;

TP_API tp_ctx *tp_ctx_new(void);
TP_API void tp_ctx_free(tp_ctx *ctx);
TP_API tp_code tp_ctx_code(const tp_ctx *ctx);
/* Full message of the last error, e.g.
 * "pickle truncated: BINBYTES declares 4096 bytes, 12 remain (byte 1180, opcode BINBYTES)".
 * Empty string when there was no error. */
TP_API const char *tp_ctx_message(const tp_ctx *ctx);
/* Byte offset in the input where the last error was found, or -1. */
TP_API int64_t tp_ctx_offset(const tp_ctx *ctx);

/* ---------------------------------------------------------------------
 * Limits on untrusted input.  Zero means "use the default"; the defaults
 * are far above what any real model needs.
 * ------------------------------------------------------------------- */
typedef struct tp_limits {
    uint64_t max_stack;     /* values on the pickle stack (default 1,000,000) */
    uint64_t max_marks;     /* open MARKs (default 100,000) */
    uint64_t max_memo;      /* memo entries (default 100,000,000) */
    uint64_t max_nesting;   /* container nesting depth (default 10,000) */
    uint64_t max_memory;    /* bytes of bookkeeping (default 4 GiB) */
    uint64_t max_opcodes;   /* opcodes executed (default 1,000,000,000) */
} tp_limits;

/* ---------------------------------------------------------------------
 * Output goes to a sink: a callback that must take all bytes or fail.
 * ------------------------------------------------------------------- */
typedef struct tp_sink {
    /* Return 0 on success, non-zero on failure (the operation then fails
     * with TP_E_WRITE). */
    int (*write)(void *opaque, const void *data, size_t len);
    void *opaque;
    /* Optional (NULL: not offered): give back, for reading, everything
     * written so far, and release it again.  A sink that offers them lets
     * tp_expand write the pickle as it expands and check it afterwards,
     * where it lies, instead of holding all of it in memory before the
     * first write.  If tp_expand then fails, the caller must discard what
     * was written (as for a failed checksum).  read_back returns 0 on
     * success. */
    int (*read_back)(void *opaque, const uint8_t **data, size_t *len);
    void (*release)(void *opaque, const uint8_t *data, size_t len);
} tp_sink;

/* Threads: a sink's callbacks are called from one thread at a time, but
 * not always the caller's: tp_expand may run write from a writer thread
 * of its own (read_back and release always run on the caller's thread,
 * after the writes).  A progress callback runs on the caller's thread.
 * The library's other threads (compress workers, the prefetch helper)
 * call nothing of the caller's, and all are joined before the call
 * returns. */

/* Progress: called now and then with bytes done and bytes in all. */
typedef void (*tp_progress_fn)(void *opaque, uint64_t done, uint64_t total);

/* ---------------------------------------------------------------------
 * Options.  Initialise with tp_options_init().
 * ------------------------------------------------------------------- */
typedef struct tp_options {
    size_t struct_size;     /* set by tp_options_init: sizeof (tp_options) of the caller's header */
    int level;              /* 1..19, like zstd; 0 = default (TP_LEVEL_DEFAULT) */
    int threads;            /* worker threads; 0 or 1 = work in the calling thread */
    const char *name;       /* original file name to record (basename), or NULL */
    tp_limits limits;
    tp_progress_fn progress;
    void *progress_opaque;
    /* Safety (see tp_inspect).  compress and expand refuse, with
     * TP_E_UNSAFE, a pickle that imports or calls anything outside the
     * built-in allowlist, unless the caller trusts it here.  An entry
     * "module.name" trusts that name; "module" trusts every name in the
     * module and its submodules.  allow_unsafe turns the check off. */
    const char *const *trusted;
    size_t ntrusted;
    int allow_unsafe;
    /* Opt-in changes to the model (see TP_EXACT_*, TP_STRIP_*).  By
     * default (0, 0) expand gives back the original bytes. */
    int exact;              /* TP_EXACT_BYTE or TP_EXACT_MODEL */
    unsigned strip;         /* TP_STRIP_* bits */
    /* compress: the caller expands the whole container before it uses it
     * (the command line does, before the file gets its name), which
     * proves every tree block; compress then does not decode each block
     * again as it goes (0: it does, and a block that does not come back
     * is an internal error). */
    int verified_by_caller;
    /* TP_API_VERSION 4.  compress tries a file of up to 256 KiB (its stream,
     * for a compressed joblib file) also as one stream, every payload left
     * in the skeleton, and keeps that when it is smaller: a tree of a few
     * nodes costs less among the names than as columns.  columns = 1 keeps
     * what was recognised in its own sections regardless. */
    int columns;
} tp_options;

/* TP_EXACT_MODEL: vocabularies and stop-word sets may be written in
 * sorted order instead of their original order.  The expanded file then
 * differs in bytes, but every attribute of the loaded model is equal and
 * every transform gives the same matrix.  The container records the
 * checksum of what expand produces and says that it is model-exact. */
#define TP_EXACT_BYTE 0
#define TP_EXACT_MODEL 1

/* Parts a deployment that only predicts can do without.  Each costs the
 * user something; predict, predict_proba, apply and transform stay
 * bit-identical. */
#define TP_STRIP_IMPURITY 0x1u   /* node impurity: feature_importances_ no longer meaningful */
#define TP_STRIP_SAMPLES 0x2u    /* n_node_samples, weighted_n_node_samples: feature_importances_
                                    no longer meaningful (refused for IsolationForest, whose
                                    scores read n_node_samples) */
#define TP_STRIP_STOP_WORDS 0x4u /* stop_words_ of text vectorizers becomes an empty set
                                    (sklearn documents it as safe to drop) */
#define TP_STRIP_SPLIT_VALUES 0x8u /* values of the internal nodes of regression trees (gradient
                                      boosting's among them) become their children's weighted
                                      mean, which the codec predicts exactly: predict reads leaf
                                      values only (export_text, plot_tree and explainers read them) */
#define TP_STRIP_THRESHOLDS 0x10u  /* split thresholds lowered to the largest float32 not above
                                      them: sklearn's trees compare float32 inputs, for which
                                      that float32 decides every split the same way */
/* Every part above: predictions stay bit-identical. */
#define TP_STRIP_SAFE 0x1fu
/* Opt-in loss of precision: the values of regression trees (and of
 * boosting's trees) stored as float32, the dtype-reduction trade-off.
 * Predictions change, by at most tp_report.max_value_change per tree;
 * class counts and fractions are never rounded.  Not part of "all". */
#define TP_STRIP_PRECISION 0x20u
#define TP_STRIP_ALL 0x3fu         /* every part there is */
/* With it, a part that would change this file's predictions (samples,
 * when an IsolationForest reads them) is left out (TP_KEPT_SAMPLES)
 * instead of refused: what --strip=all asks for. */
#define TP_STRIP_WHERE_SAFE 0x100u
#define TP_KEPT_IMPURITY 0x1u    /* impurity left as it was */
#define TP_KEPT_WEIGHTED 0x2u    /* weighted_n_node_samples left as it was (n_node_samples zeroed) */
#define TP_KEPT_SAMPLES 0x4u     /* samples left out: an IsolationForest's scores read them */

/* "impurity", "samples", "stop-words", "split-values", "thresholds",
 * "precision" for one bit; NULL otherwise. */
TP_API const char *tp_strip_name(unsigned bit);
/* What a stripped part costs, e.g. "feature_importances_ no longer meaningful". */
TP_API const char *tp_strip_cost(unsigned bit);
/* What was done to it (kept: tp_report.strip_kept), e.g. "node impurity set to 0". */
TP_API const char *tp_strip_done(unsigned bit, unsigned kept);

#define TP_LEVEL_DEFAULT 9
#define TP_LEVEL_MAX 19

/* The defaults, and struct_size: call it before setting fields. */
TP_API void tp_options_init_sized(tp_options *opt, size_t size);
#define tp_options_init(opt) tp_options_init_sized((opt), sizeof *(opt))

/* ---------------------------------------------------------------------
 * Reports: what was found and where the bytes went.
 * ------------------------------------------------------------------- */
enum tp_part {
    TP_PART_SKELETON = 0,   /* every byte that is not a recognised payload */
    TP_PART_TOPOLOGY,
    TP_PART_FEATURES,
    TP_PART_THRESHOLDS,
    TP_PART_IMPURITY,
    TP_PART_COUNTS,         /* n_node_samples and weighted_n_node_samples */
    TP_PART_VALUES,
    TP_PART_OTHER,          /* container framing, tables, unknown node bytes */
    TP_PART_RECORDS,        /* structured arrays stored column by column
                               (HistGradientBoosting predictor nodes) */
    TP_PART_VOCAB,          /* vocabularies of text vectorizers (vocabulary_,
                               stop_words_, feature_names_) */
    TP_PART_COUNT
};

typedef struct tp_report {
    size_t struct_size;             /* set by tp_report_init (sizeof in the caller's header) */
    uint64_t original_size;
    uint64_t container_size;
    char name[256];                 /* original file name, may be empty */
    int protocol;                   /* highest PROTO seen, 0-5 */
    uint64_t trees;                 /* Tree objects stored column-wise */
    uint64_t trees_verbatim;        /* Tree objects left as they were */
    uint64_t nodes;
    uint64_t part_raw[TP_PART_COUNT];    /* bytes in the original (in its decompressed
                                            stream for a compressed joblib file: they
                                            add up to stream_size) */
    uint64_t part_stored[TP_PART_COUNT]; /* bytes in the container */
    uint8_t checksum[16];           /* XXH3-128 of the original, canonical order */

    /* What the scan recognised and what it left as it was.  Everything
     * not recognised stays in the skeleton byte for byte. */
    uint64_t arrays;                /* numpy arrays recognised in the stream */
    uint64_t arrays_joblib;         /* of which raw data after a joblib NumpyArrayWrapper */
    uint64_t arrays_columnar;       /* of which stored column by column (tree and predictor arrays) */
    uint64_t arrays_verbatim;       /* array objects not recognised (object dtype, text dtypes, ...) */
    uint64_t nested_pickles;        /* joblib object arrays, each a pickle inside the pickle */
    uint64_t predictors;            /* HistGradientBoosting node arrays stored column by column */
    uint64_t predictors_verbatim;   /* ... and left as they were */
    char verbatim_note[512];        /* the first objects left as they were: where and why ("" if none) */

    /* Compressed joblib files (zlib, gzip, bz2, xz, lzma, lz4, legacy ZF).
     * original_size and checksum above are then the file's. */
    char wrapper[16];               /* "" for an uncompressed file, else the method's name */
    int wrapper_level;              /* level (preset) used to compress the stream again */
    int wrapper_exact;              /* 1: expand reproduces the original file byte for byte;
                                       0: it writes a file that decompresses to the original
                                       stream (checked), compressed anew */
    uint64_t stream_size;           /* the decompressed stream (= original_size if not compressed) */
    uint8_t stream_checksum[16];    /* its XXH3-128 */

    /* Text vectorizers: vocabularies (vocabulary_, stop_words_,
     * feature_names_) stored as term lists rather than opcodes. */
    uint64_t vocabularies;

    /* Lossy modes (tp_options.exact, .strip).  checksum and original_size
     * above are those of what expand produces; source_* of the file that
     * was compressed (equal when exact_mode is TP_EXACT_BYTE and nothing
     * was stripped). */
    int exact_mode;                 /* TP_EXACT_BYTE or TP_EXACT_MODEL */
    unsigned stripped;              /* TP_STRIP_* bits actually applied */
    unsigned strip_kept;            /* TP_KEPT_*: stripped fields left as they were, because
                                       the codec stores them for nothing (they are still
                                       not promised to be meaningful) */
    uint64_t source_size;
    uint8_t source_checksum[16];
    uint64_t trees_stripped;        /* trees whose stripped fields were zeroed */
    uint64_t vocabularies_sorted;   /* vocabularies written in sorted order */
    uint64_t stop_words_dropped;    /* terms removed from stop_words_ sets */

    /* TP_API_VERSION 3: the tree parts of --strip. */
    uint64_t split_values_set;      /* internal-node values set to their children's mean */
    uint64_t thresholds_lowered;    /* thresholds moved to the float32 below them */
    uint64_t values_rounded;        /* values rounded to float32 (TP_STRIP_PRECISION) */
    double max_value_change;        /* the largest |change| of a value that rounding made */

    /* TP_API_VERSION 4 */
    int whole;                      /* 1: compress kept the file as one stream, being smaller so
                                       (tp_options.columns); what it recognised is counted
                                       as left as it was */
} tp_report;

/* Make a report empty and set its struct_size: before passing it to
 * tp_compress, tp_expand or tp_info. */
TP_API void tp_report_init_sized(tp_report *r, size_t size);
#define tp_report_init(r) tp_report_init_sized((r), sizeof *(r))

TP_API const char *tp_part_name(int part);

/* ---------------------------------------------------------------------
 * Operations.  Inputs are whole files in memory.
 * ------------------------------------------------------------------- */

/* Nonzero when the bytes start like a .tpk container. */
TP_API int tp_is_container(const uint8_t *data, size_t len);

/* What a file looks like from its first bytes (head, 8 or more when the
 * file has them) and its last byte (-1 for an empty file): a guess for
 * choosing files, not a check; every operation still parses the whole. */
typedef enum tp_file_kind {
    TP_FILE_OTHER = 0,      /* not a model file */
    TP_FILE_PICKLE = 1,     /* a pickle, or an uncompressed joblib file */
    TP_FILE_COMPRESSED = 2, /* starts like a compressed joblib file (zlib, gzip, bz2, xz, lzma, lz4) */
    TP_FILE_CONTAINER = 3   /* a .tpk */
} tp_file_kind;
TP_API tp_file_kind tp_sniff(const uint8_t *head, size_t head_len, int last_byte);

/* Pickle -> container.  report may be NULL. */
TP_API tp_code tp_compress(tp_ctx *ctx, const uint8_t *in, size_t in_len,
                    const tp_options *opt, tp_sink *out, tp_report *report);

/* Container -> pickle.  The output is checked against the stored checksum;
 * on mismatch TP_E_MISMATCH is returned (bytes already given to the sink
 * must then be discarded by the caller).  out may be NULL to only verify. */
TP_API tp_code tp_expand(tp_ctx *ctx, const uint8_t *in, size_t in_len,
                  const tp_options *opt, tp_sink *out, tp_report *report);

/* Describe a container without expanding it. */
TP_API tp_code tp_info(tp_ctx *ctx, const uint8_t *in, size_t in_len, tp_report *report);

/* ---------------------------------------------------------------------
 * Inspection: what loading a pickle would do, found without loading it.
 * ------------------------------------------------------------------- */
typedef enum tp_status {
    TP_ALLOWED = 0,     /* on the built-in allowlist */
    TP_TRUSTED = 1,     /* not on it, but trusted by the caller */
    TP_REFUSED = 2      /* neither: loading the pickle would run it */
} tp_status;

/* An import: a name the unpickler would look up (and so import its module). */
typedef struct tp_import {
    char *module;           /* printable: bytes that are not printable ASCII as \xNN */
    char *name;             /* both "" for EXT1/2/4 and PERSID, which carry no name */
    const char *opcode;     /* GLOBAL, STACK_GLOBAL, INST, EXT1, EXT2, EXT4, PERSID, BINPERSID */
    uint64_t offset;        /* of that opcode */
    int32_t ext_code;       /* EXT*: the extension code */
    tp_status status;
    const char *why;        /* for TP_REFUSED: a short reason */
    unsigned loaders;       /* TP_LOADER_* bits: the readings that meet it */
} tp_import;

/* The loaders whose reading of the bytes meets an import or call.  They
 * read a file alike but for the raw array bytes joblib writes after each
 * NumpyArrayWrapper: joblib.load skips them, pickle.load reads them as
 * opcodes.  The verdict covers both. */
#define TP_LOADER_PICKLE 0x1u
#define TP_LOADER_JOBLIB 0x2u

/* A call site: where the unpickler would call something.  Also listed:
 * what makes it call a method (SETITEM(S), APPEND(S), ADDITEMS on an
 * object, BUILD on a global), states numpy or scipy act on that are not
 * in the form those libraries write (opcode BUILD or REDUCE), and a
 * reading that cannot be followed to the end (opcode "(reading)"). */
typedef struct tp_call {
    const char *opcode;     /* REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST, PERSID, BINPERSID, BUILD, ... */
    uint64_t offset;
    int64_t import;         /* index in imports of the callable (or of the class acted on),
                               -1 if it is no imported name */
    tp_status status;
    const char *why;        /* for TP_REFUSED: a short reason, NULL for "calls something that
                               is not an imported name" */
    unsigned loaders;       /* TP_LOADER_* bits */
} tp_call;

typedef struct tp_inspect_tree {
    uint64_t offset;        /* of the REDUCE that makes the Tree */
    int64_t n_features;
    uint64_t nodes;
    uint32_t n_outputs, n_classes;
    int valid;              /* 0: the tree breaks the rules of tree_validate */
    char problem[160];      /* why it is not valid */
} tp_inspect_tree;

typedef struct tp_inspect_array {
    uint64_t offset;        /* of the call that makes the array */
    char dtype[24];         /* "<f8", "V56" (structured), ... */
    int ndim;
    uint64_t shape[8];
    uint64_t nbytes;
} tp_inspect_array;

enum { TP_FORMAT_PICKLE = 0, TP_FORMAT_TPK = 1 };

typedef struct tp_inspection {
    size_t struct_size;     /* set by tp_inspection_init (sizeof in the caller's header) */
    size_t import_size, call_size, tree_size, array_size; /* the element structs' sizes in the caller's
                                                              header: the lists are laid out with them */
    int format;             /* TP_FORMAT_*: what the input was */
    int compressed;         /* the pickle is inside a compressed (joblib) file */
    int protocol;           /* highest PROTO seen */
    uint64_t size;          /* bytes of pickle inspected (for a .tpk, expanded) */
    uint64_t opcodes;
    size_t npickles;
    tp_import *imports;
    size_t nimports;
    tp_call *calls;
    size_t ncalls;
    tp_inspect_tree *trees;
    size_t ntrees;
    tp_inspect_array *arrays;
    size_t narrays;
    size_t nrefused;        /* refused imports, plus refused calls that are not refused for
                               their import alone */
    int complete;           /* 0: the pickle is malformed; the lists stop where reading stopped */
    int64_t plain_stop;     /* a joblib file read by pickle.load, which reads the raw array bytes
                               after a NumpyArrayWrapper as opcodes: where that fails (a loader's
                               error); -1 when pickle.load reads what joblib.load reads */
} tp_inspection;

/* Inspect a pickle, a joblib file (compressed ones are decompressed in
 * memory) or a .tpk (expanded in memory, never written).  Returns
 * TP_OK when the whole input could be read; the verdict is nrefused.  On a
 * malformed input returns the error, and *out still lists what was found
 * before it (complete = 0).  opt may be NULL; opt->trusted is honoured.
 * Free *out with tp_inspection_free in every case. */
/* Set an inspection's struct_size: before passing it to tp_inspect. */
TP_API void tp_inspection_init_sized(tp_inspection *r, size_t size, size_t import_size, size_t call_size,
                                     size_t tree_size, size_t array_size);
#define tp_inspection_init(r)                                                                                 \
    tp_inspection_init_sized((r), sizeof *(r), sizeof(tp_import), sizeof(tp_call), sizeof(tp_inspect_tree), \
                             sizeof(tp_inspect_array))
TP_API tp_code tp_inspect(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_inspection *out);
TP_API void tp_inspection_free(tp_inspection *r);

/* The check expand makes before it hands out a pickle: `data` (a pickle
 * stream, or an uncompressed joblib file) must parse, import and call only
 * allowed or trusted names, and hold valid trees.  TP_OK, or TP_E_UNSAFE
 * with the first refused name, or the error that stopped it.  For callers
 * that expand with allow_unsafe into something they can still take back
 * (a file under a temporary name) and judge it before making it visible;
 * tp_expand itself checks in memory before its sink sees a byte. */
TP_API tp_code tp_check(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt);

#ifdef __cplusplus
}
#endif
#endif /* TREEPACK_H */
