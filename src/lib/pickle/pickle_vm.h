/*
 * pickle_vm.h - a symbolic pickle interpreter.
 *
 * It runs the opcodes of protocols 0-5 the way CPython's unpickler does
 * (stack, MARKs, memo, frames) but never imports or calls anything: a
 * GLOBAL becomes a record of the name, a REDUCE becomes a record of "this
 * callable with these arguments", a BUILD attaches a state to that record.
 * Strings and bytes are not copied: a value refers to its bytes in the
 * input by offset and length, which is what lets the locator splice
 * payloads out of the stream and back.
 *
 * Everything it allocates is counted against tp_limits.max_memory; the
 * loop is iterative, so input nesting costs no C stack.
 */
#ifndef PICKLE_VM_H
#define PICKLE_VM_H

#include "base/common.h"
#include "pickle/opcodes.h"

typedef enum pv_kind {
    PV_NONE = 0,
    PV_BOOL,
    PV_INT,        /* fits in int64: a = value */
    PV_BIGINT,     /* does not: bytes at [a, a+n) in encoding `enc` */
    PV_FLOAT,      /* a = IEEE bits */
    PV_STR,        /* text: bytes at [a, a+n) in encoding `enc` */
    PV_BYTES,      /* bytes at [a, a+n) */
    PV_BYTEARRAY,
    PV_TUPLE,      /* ref = sequence index */
    PV_LIST,
    PV_DICT,       /* items are key, value, key, value ... */
    PV_SET,
    PV_FROZENSET,
    PV_GLOBAL,     /* ref = global index */
    PV_OBJECT,     /* ref = object index: the result of a call */
    PV_UNSET = 0xff /* an empty memo slot */
} pv_kind;

/* How the bytes of a PV_STR, PV_BYTES or PV_BIGINT are written. */
typedef enum pv_enc {
    ENC_RAW = 0,            /* the bytes themselves */
    ENC_UTF8,               /* valid UTF-8 (BINUNICODE family) */
    ENC_ESCAPED,            /* Python string escapes (STRING) */
    ENC_RAW_UNICODE_ESCAPE, /* UNICODE */
    ENC_DECIMAL,            /* decimal text (INT, LONG) */
    ENC_LONG_LE             /* little-endian two's complement (LONG1, LONG4) */
} pv_enc;

/* 16 bytes: models hold hundreds of thousands of values, and every page
 * of them is a page fault in a fresh process.  A length never exceeds
 * the input's, which is in memory, so 48 bits hold it. */
typedef struct pv {
    union {
        uint64_t a;       /* scalars and byte ranges (see pv_kind) */
        uint32_t ref;     /* containers, globals, objects: the table index */
    };
    uint64_t n : 48;
    uint64_t kind : 8;    /* pv_kind */
    uint64_t enc : 8;     /* pv_enc */
} pv;

/* How an object came to be: what a real unpickler would call. */
typedef enum pv_how {
    HOW_REDUCE = 1,   /* callable(*args) */
    HOW_NEWOBJ,       /* cls.__new__(cls, *args) */
    HOW_NEWOBJ_EX,    /* cls.__new__(cls, *args, **kwargs) */
    HOW_OBJ,          /* OBJ: cls(*args) */
    HOW_INST,         /* INST: module.name(*args) */
    HOW_PERSID        /* persistent_load(pid) */
} pv_how;

typedef struct pv_obj {
    uint8_t how;
    uint8_t opcode;       /* the opcode that made it */
    uint16_t builds;      /* BUILDs applied to it */
    uint8_t early_ref;    /* a GET or DUP took a second reference to it
                             before its first BUILD: whatever holds that
                             reference saw it before its state (verdict.c) */
    uint8_t spare[3];
    pv callable;          /* a PV_GLOBAL normally; anything for a crafted pickle */
    pv args;
    pv kwargs;
    pv state;             /* last BUILD state, PV_NONE if none */
    uint64_t offset;      /* of the opcode that made it */
    uint64_t build_offset;
    int64_t tag;          /* free for the modules that read the graph; -1 initially */
    /* Bytes that follow this object's BUILD outside any opcode, consumed by
     * the build hook (joblib's raw array data, see joblib.c): where they
     * start, or -1, and how many there are. */
    int64_t extra_off;
    uint64_t extra_len;
} pv_obj;

typedef struct pv_global {
    pv module;            /* PV_STR (or whatever STACK_GLOBAL was given) */
    pv name;
    uint8_t opcode;       /* GLOBAL, STACK_GLOBAL, INST, EXT1/2/4 */
    int32_t ext_code;     /* EXT*: the extension code; module/name are PV_NONE */
    uint64_t offset;
} pv_global;

typedef struct pv_seq {
    pv *items;
    uint32_t n, cap;      /* items (more than 2^31 are refused) */
    uint32_t depth;       /* nesting depth below this container */
    uint8_t kind;
    bool own;             /* items is a block of its own, not pool space */
    uint64_t offset;      /* where it was created */
    uint64_t memo_at;     /* memo entries set when it was created (the index
                             MEMOIZE would give it) */
    uint64_t last_mod;    /* offset of the last opcode that added items:
                             a reader of the container as it was at some
                             offset can tell whether it changed since */
} pv_seq;

/* What a loader does to a value other than calling or building it, kept
 * for the verdict because the graph alone does not show it: BUILD on
 * something that is not an object the stream made (Python then sets
 * attributes of a class or a module), and SETITEM(S), APPEND(S) and
 * ADDITEMS on an object (Python calls its __setitem__, append, extend or
 * add). */
typedef struct pv_effect {
    uint8_t opcode;
    uint64_t offset;
    pv target;
    pv state;             /* BUILD: the state; otherwise PV_NONE */
} pv_effect;

typedef struct pv_vm pv_vm;

/* Called after each BUILD with the object just built.  A hook may consume
 * raw bytes that follow in the stream (joblib writes array data there)
 * by calling pv_vm_skip(). */
typedef tp_code (*pv_build_hook)(pv_vm *vm, pv obj, void *opaque);

struct pv_vm {
    tp_ctx *ctx;
    const uint8_t *data;
    size_t len;
    size_t pos;
    tp_limits lim;
    uint64_t mem;             /* bytes held by the tables below */

    pv *stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;

    pv *memo;                 /* dense part: indices below memo_cap */
    size_t memo_cap;
    size_t memo_hw;           /* slots below it are set up (pickle_vm.c) */
    uint64_t *sparse_keys;    /* open addressing, key+1 (0 = empty) */
    pv *sparse_vals;
    size_t sparse_cap, sparse_n;
    uint64_t memo_count;      /* slots set; MEMOIZE uses it as the index */

    pv_seq *seqs;
    size_t nseqs, seqcap;
    pv **chunks;              /* the item pool (pickle_vm.c) */
    size_t nchunks, chunkcap;
    pv *pool_next;
    size_t pool_left;
    pv_obj *objs;
    size_t nobjs, objcap;
    pv_global *globals;
    size_t nglobals, globcap;

    size_t frame_end;         /* 0: not inside a FRAME */
    int proto;                /* protocol of the current pickle */
    int max_proto;
    uint64_t nops;
    pv result;                /* what STOP returned */

    /* What the vocabulary module (vocab.h) needs to know about memo
     * references and frames, recorded for every pickle of the input:
     * get_last[i]: 1 + the largest offset of a GET of memo index i (0: none;
     * indices below memo_cap only: a GET of a larger index sets
     * get_beyond), and every FRAME opcode (offset, declared length).
     * skip_gets: a reader that never asks sets it, and get_last stays empty. */
    uint64_t *get_last;       /* read it with pv_last_get() */
    size_t get_cap, get_hw;
    bool get_beyond, skip_gets;
    uint64_t (*frames)[2];
    size_t nframes, framecap;
    /* log_puts: the offset of every PUT, BINPUT and LONG_BINPUT whose
     * index is above that of the one logged before (a pickler numbers its
     * memo 0, 1, 2 ...), for the skeleton to leave those indices out
     * (format/splice.h, SPLICE_MEMO).  At most one entry per memo slot. */
    bool log_puts;
    uint64_t *puts;
    size_t nputs, putcap;
    uint64_t last_put;        /* 1 + the index logged last (0: none yet) */

    pv_effect *effects;
    size_t neffects, effcap;

    pv_build_hook build_hook;
    void *hook_opaque;
    uint32_t nested;          /* depth of pv_vm_run_nested() calls under way */
    /* Frames as CPython's C unpickler (pickle.load) reads them: a FRAME's
     * length is checked against what remains, and that is all; opcodes may
     * run past a frame's end and frames may start inside frames.  Off, the
     * interpreter is as strict as the pure-Python unpickler (joblib.load),
     * which refuses both.  Nested pickles (joblib's object arrays, read by
     * pickle.load) are always read this way. */
    bool lax_frames;

    /* Set by a reader once the run is over and the objects can no longer
     * change: the arrays already parsed (npy.h), so that the several
     * readers of the same graph parse each one once.  Owned by the reader. */
    struct npy_memo *array_memo;
};

void pv_vm_init(pv_vm *vm, tp_ctx *ctx, const uint8_t *data, size_t len, const tp_limits *lim);
void pv_vm_free(pv_vm *vm);
/* Fill zero fields of a limits struct with the defaults. */
void limits_apply_defaults(tp_limits *lim);

/* Run one pickle from vm->pos up to and including its STOP.  The stack
 * and marks are reset, the memo is reset (each pickle has its own). */
tp_code pv_vm_run(pv_vm *vm);

/* For build hooks: consume n raw bytes at the current position. */
tp_code pv_vm_skip(pv_vm *vm, uint64_t n);

/* For build hooks: run a complete pickle that starts at the current
 * position (joblib writes object arrays as a pickle inside the pickle).
 * The stack, marks, memo and frame of the pickle under way are set aside
 * and restored afterwards, so the nested pickle sees a fresh unpickler as
 * pickle.load() would; objects it makes join the same graph.  The hook
 * calls this from inside pv_vm_run(): the C recursion is bounded by
 * max_depth (the hook must also refuse to nest when vm->nested > 0 if
 * the format never nests deeper). */
tp_code pv_vm_run_nested(pv_vm *vm, uint32_t max_depth, pv *result);

/* Accessors.  They return NULL when the value is of another kind. */
const pv_seq *pv_seq_of(const pv_vm *vm, pv v);   /* tuple/list/dict/set */
pv_obj *pv_obj_of(const pv_vm *vm, pv v);
const pv_global *pv_global_of(const pv_vm *vm, pv v);

/* The bytes of a str or bytes value when they can be compared as they
 * are (raw or UTF-8, or escaped forms without escapes in them). */
bool pv_text(const pv_vm *vm, pv v, const uint8_t **p, size_t *n);
bool pv_text_eq(const pv_vm *vm, pv v, const char *s);
/* True if v is a global whose module is one of "a|b|c" and name is `name`. */
bool pv_is_global(const pv_vm *vm, pv v, const char *modules, const char *name);
/* get_last[m] as described in pv_vm; for an index beyond the dense
 * memo, UINT64_MAX if any GET went beyond it, else 0. */
uint64_t pv_last_get(const pv_vm *vm, uint64_t m);
/* dict lookup by string key (the last assignment wins), NULL if absent. */
const pv *pv_dict_get(const pv_vm *vm, pv dict, const char *key);
/* The attribute dict a BUILD gave o: the state itself, or the first item
 * of a (dict, slots) pair.  PV_NONE when there is none. */
pv pv_state_dict(const pv_vm *vm, const pv_obj *o);
/* Integer value of v (PV_INT or PV_BOOL). */
bool pv_int(pv v, int64_t *out);

#endif
