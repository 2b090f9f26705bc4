/*
 * npy.h - numpy dtypes and arrays as they appear in a pickle.
 *
 * Recognises the three ways numpy and joblib pickle an ndarray:
 *   protocols 2-4: _reconstruct(ndarray, (0,), b'b') then BUILD with
 *                  (version, shape, dtype, is_fortran, rawdata)
 *   protocol 5:    _frombuffer(buf, dtype, shape, order)
 *   joblib:        NumpyArrayWrapper followed by raw bytes (joblib.c)
 * and where the array's bytes sit in the stream, so they can be spliced.
 */
#ifndef NUMPY_NPY_H
#define NUMPY_NPY_H

#include "pickle/pickle_vm.h"

#define NPY_MAX_FIELDS 16
#define NPY_MAX_DIMS 8

typedef struct npy_scalar {
    char kind;          /* 'i', 'u', 'f', 'b', 'V', 'O', ... */
    uint8_t big;        /* big-endian */
    uint32_t size;      /* bytes */
} npy_scalar;

typedef struct npy_field {
    char name[32];
    npy_scalar type;
    uint32_t offset;
} npy_field;

typedef struct npy_dtype {
    npy_scalar base;    /* for a structured dtype: kind 'V', size = itemsize */
    int nfields;        /* 0 for a plain dtype */
    npy_field fields[NPY_MAX_FIELDS];
} npy_dtype;

/* How the array's bytes are written in the stream. */
typedef enum npy_payload {
    PAY_RAW = 0,        /* the bytes themselves */
    PAY_LATIN1 = 1,     /* a str holding one code point per byte, as UTF-8
                           (protocol 2: _codecs.encode(text, 'latin1')) */
    PAY_RAWUNI = 2,     /* the same str written by protocol 0's UNICODE opcode:
                           raw-unicode-escape, each byte as itself except
                           \\, NUL, LF, CR and ^Z, written \u005c \u0000
                           \u000a \u000d \u001a (CPython's pickler) */
    PAY_PY2STR_SQ = 3,  /* a Python 2 str written by protocol 0's STRING opcode
                           between single quotes: Python 2's repr, each byte
                           as itself but \\ \' \t \n \r and \xNN for the
                           bytes below 0x20 or from 0x7f */
    PAY_PY2STR_DQ = 4,  /* the same between double quotes (repr's choice for a
                           str with ' and no "): ' as itself */
    PAY_MAX = PAY_PY2STR_DQ
} npy_payload;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    uint8_t fortran;
    uint64_t count;     /* number of elements */
    uint64_t nbytes;    /* count * itemsize */
    uint8_t payload;    /* npy_payload */
    uint64_t data_off;  /* where the payload bytes start in the stream */
    uint64_t data_len;  /* how many stream bytes they take */
    uint8_t impossible; /* set when parsing fails because no such array can
                           exist: a shape whose byte count overflows, or a
                           payload whose length contradicts shape and dtype */
} npy_array;

/* What numpy makes of a dtype object, when the pickle writes it in the one
 * form numpy's own __reduce__ gives: numpy.dtype(typestr, False, True),
 * then exactly one BUILD with (3, byteorder, None, names, fields, elsize,
 * alignment, flags), or version 4 with metadata; for a structured dtype
 * every field's dtype in that form too.  numpy takes elsize and flags
 * from the state for S, U and V dtypes (and ignores them for others), so
 * a state that disagrees with the typestr or the fields would make numpy
 * see a different item size or object fields where there are none (or
 * the reverse: raw bytes read as object pointers).  NULL when the dtype is
 * in that form (*itemsize and *hasobject as numpy has them), else why not. */
const char *npy_dtype_check(const pv_vm *vm, pv v, uint64_t *itemsize, bool *hasobject);

/* Parse a dtype object made by numpy.dtype(...) + BUILD. */
bool npy_dtype_parse(const pv_vm *vm, pv v, npy_dtype *dt);

/* Parse an array object; false if v is not an array this reader can
 * splice (object arrays, protocol 0 text payloads, ...). */
bool npy_array_parse(const pv_vm *vm, pv v, npy_array *arr);

/* Remember what npy_array_parse and npy_dtype_parse give for each object
 * of a finished run (vm->array_memo; objects no longer change then): the
 * scan reads the same arrays for trees, records, plain arrays, the
 * inventory and the inspection.  Bounded: past a fixed size it stops
 * remembering, which changes nothing but the speed. */
typedef struct npy_memo_table {
    int32_t *slot;        /* per object: 0 not parsed yet, -1 not
                             remembered, k + 1 entry k */
    void *entries;
    size_t n, cap;
} npy_memo_table;

typedef struct npy_memo {
    size_t nobjs;
    npy_memo_table arrays;
    npy_memo_table dtypes; /* every tree's node array shares one dtype
                              object, through the pickle memo */
} npy_memo;

/* arrays: remember arrays too, not only dtypes (worth it only when
 * several readers parse the same arrays) */
void npy_memo_attach(pv_vm *vm, npy_memo *m, bool arrays);
void npy_memo_free(pv_vm *vm, npy_memo *m);

/* Parse a numpy typestr such as "<f8", "i4", "V56", "|u1". */
bool npy_scalar_parse(const char *s, size_t n, npy_scalar *out);

/* Any payload form: the raw bytes of `expect` bytes from the stream
 * bytes (false unless the text is exactly what a writer makes of them),
 * the stream bytes of raw bytes (out must hold npy_payload_max() bytes;
 * returns how many were written). */
bool npy_payload_decode(uint8_t payload, const uint8_t *in, size_t in_len, uint8_t *out, size_t expect);

/* The array's bytes: *p points into `in` for raw payloads; text ones
 * (protocols 0-2) are decoded into a buffer the caller frees (*owned). */
tp_code npy_array_bytes(tp_ctx *ctx, const uint8_t *in, const npy_array *a, const uint8_t **p, uint8_t **owned);
size_t npy_payload_encode(uint8_t payload, const uint8_t *in, size_t n, uint8_t *out);
size_t npy_payload_max(uint8_t payload, size_t n);

/* Decode a PAY_LATIN1 payload (UTF-8 of code points < 256) into raw bytes;
 * out must hold `expect` bytes (NULL: only check).  False if the text is not such a string
 * of exactly `expect` code points. */
bool npy_latin1_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t expect);
/* Encode raw bytes as UTF-8 of code points < 256; returns bytes written
 * (out must hold 2 * n bytes). */
size_t npy_latin1_encode(const uint8_t *in, size_t n, uint8_t *out);

#endif
