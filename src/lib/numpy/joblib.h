/*
 * joblib.h - the bytes joblib.dump writes inside the pickle stream.
 *
 * joblib pickles every ndarray as a `joblib.numpy_pickle.NumpyArrayWrapper`
 * (shape, order, dtype, ...) and writes the array itself right after the
 * wrapper's BUILD, outside any opcode (joblib/numpy_pickle.py,
 * NumpyArrayWrapper.write_array and read_array):
 *
 *   joblib >= 1.2:  one byte p, p bytes of padding (0xFF), the raw bytes
 *   joblib < 1.2:   the raw bytes (no `numpy_array_alignment_bytes` key,
 *                   or the key set to None when the file could not tell())
 *   object arrays:  a complete protocol 2 pickle of the array
 *
 * joblib.load reads those bytes when it meets the BUILD; so does the
 * build hook here, which records where raw data starts on the wrapper
 * object (pv_obj.extra_off/extra_len) so that npy_array_parse() can treat
 * the wrapper as an array with a PAY_RAW payload.
 *
 * Nested pickles are read by plain pickle.load() in joblib: wrappers
 * inside them are ordinary objects, with no data after them, and they
 * cannot nest further.  So the nesting depth is one, whatever the input.
 */
#ifndef NUMPY_JOBLIB_H
#define NUMPY_JOBLIB_H

#include "pickle/pickle_vm.h"

/* Modules that define NumpyArrayWrapper: joblib, and the copy vendored in
 * scikit-learn < 0.23 (`from sklearn.externals import joblib`). */
#define JOBLIB_WRAPPER_MODULES "joblib.numpy_pickle|sklearn.externals.joblib.numpy_pickle"

typedef struct jl_stats {
    uint64_t wrappers;        /* wrapper BUILDs met outside nested pickles */
    uint64_t raw_arrays;      /* wrappers followed by raw array bytes */
    uint64_t aligned;         /* of which with joblib >= 1.2 padding */
    uint64_t nested;          /* wrappers followed by a nested pickle (object arrays) */
    uint64_t raw_bytes;       /* array bytes in all */
} jl_stats;

/* The pv_build_hook for joblib files; opaque is a jl_stats (may be NULL). */
tp_code jl_build_hook(pv_vm *vm, pv obj, void *opaque);

/* True when o is a NumpyArrayWrapper, however it was made (NEWOBJ at
 * protocol 2+, copyreg._reconstructor at protocols 0-1, OBJ/INST). */
bool jl_is_wrapper(const pv_vm *vm, const pv_obj *o);

#endif
