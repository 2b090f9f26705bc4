/*
 * wrap_method.h - one compression method of a joblib file, as the
 * format/wrap*.c files see it (the rest of the library uses wrap.h).
 *
 * A method is one const struct, defined in the file of the library that
 * codes it (wrap_deflate.c: zlib, gzip, ZF; wrap_bz2.c; wrap_xz.c: xz,
 * lzma; wrap_lz4.c) and listed in wrap_methods.c: how it is detected
 * (magic bytes, a header kept as the prefix), decompressed, which
 * settings may reproduce a file, and how the stream is compressed again.
 * A new method is one more such file and one more line in that list.
 *
 * The files build on each other in this order, so that none calls back
 * into one that calls it:
 *   wrap_io.c (what the methods' coders share) < the method files <
 *   wrap_methods.c (the list, detection, the compressor's dispatch) <
 *   wrap.c (wrap_info and its section) < wrap_settings.c (wrap_open:
 *   decompress, search the settings) and wrap_writer.c (compress on
 *   expand).
 */
#ifndef FORMAT_WRAP_METHOD_H
#define FORMAT_WRAP_METHOD_H

#include "base/buf.h"
#include "base/common.h"
#include "format/wrap.h"

typedef struct wrap_method wrap_method;

/* ---- decompressing (compress side) ---------------------------------------- */

/* Where a decompressor writes: a buffer it grows within `limit`. */
typedef struct wrap_dec {
    tp_ctx *ctx;
    bytebuf *buf;
    uint64_t limit;
    const wrap_method *m;
} wrap_dec;

/* Room for more output at *p, *n bytes (TP_E_LIMIT_MEMORY past the limit). */
tp_code wrap_dec_room(wrap_dec *d, uint8_t **p, size_t *n);
/* The same for a decompressor whose counters are 32-bit (zlib, libbz2):
 * room for output at *p, *out_n bytes, and *in_n of the `left` input
 * bytes to give it, both at most 1 GiB. */
tp_code wrap_dec_window(wrap_dec *d, size_t left, uint8_t **p, unsigned *out_n, unsigned *in_n);
/* TP_E_JOBLIB: "the <method> stream is <what>". */
tp_code wrap_dec_corrupt(wrap_dec *d, const char *what);

/* ---- compressing ------------------------------------------------------------ */

/* Receives compressed bytes; nonzero stops the compressor. */
typedef int (*wrap_out_fn)(void *opaque, const uint8_t *p, size_t n);

typedef struct wrap_enc {
    const wrap_method *m;
    void *state;              /* the method's, non-NULL while it is live */
    uint8_t *obuf;            /* output buffer of ocap bytes */
    size_t ocap;
    wrap_out_fn out;
    void *opaque;
    bool stopped;             /* the receiver said stop */
} wrap_enc;

/* Pass obuf's first n bytes to the receiver (nothing when n is 0). */
tp_code wrap_enc_emit(tp_ctx *ctx, wrap_enc *e, size_t n);
/* The compressor failed (or the receiver stopped it: TP_E_WRITE). */
tp_code wrap_enc_error(tp_ctx *ctx, const wrap_enc *e, const char *what);

/* The dispatch (wrap_methods.c): start a compressor with w's method and
 * settings, feed it n bytes (finish: and end the stream), free it. */
tp_code wrap_enc_init(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len, wrap_out_fn out,
                      void *opaque);
tp_code wrap_enc_run(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish);
void wrap_enc_free(wrap_enc *e);

/* ---- the method --------------------------------------------------------------- */

struct wrap_method {
    uint8_t id;               /* wrap_method_id, as the section records it */
    const char *name;
    const char *magic;        /* the bytes a file of this method starts with */
    size_t magic_len;
    int32_t level_min, level_max;   /* the levels a section may hold */
    int32_t fallback_level;   /* compress with it when no level reproduces the file */

    /* Length of the header before the compressed data, which the section
     * keeps as the prefix; NULL when there is none. */
    tp_code (*prefix)(tp_ctx *ctx, const uint8_t *in, size_t len, size_t *start);
    /* Decompress the data at `in` into d; *used: the input bytes it took. */
    tp_code (*decompress)(wrap_dec *d, const uint8_t *in, size_t len, size_t *used);
    /* Levels worth trying, the likeliest first, from what the header says
     * (`in` is the compressed data after the prefix, `file` the whole
     * file); at most 16. */
    size_t (*candidates)(const wrap_info *w, const uint8_t *file, const uint8_t *in, size_t len, int *out);
    /* The param the header fixes outright (NULL: 0), and the params a
     * section may hold besides (NULL: any up to 0xff). */
    uint32_t (*header_param)(const uint8_t *in, size_t len);
    bool (*param_ok)(uint64_t param);

    /* Compressor: enc_init makes e->state (and may set e->ocap, the size
     * of the output buffer; WRAP_CHUNK otherwise), failing without a
     * state; enc_begin, if any, writes what comes before the data once
     * obuf is there; enc_end frees the state. */
    tp_code (*enc_init)(tp_ctx *ctx, wrap_enc *e, const wrap_info *w, uint64_t stream_len);
    tp_code (*enc_begin)(tp_ctx *ctx, wrap_enc *e);
    tp_code (*enc_run)(tp_ctx *ctx, wrap_enc *e, const uint8_t *p, size_t n, bool finish);
    void (*enc_end)(void *state);
};

/* The methods, each defined in its library's file. */
extern const wrap_method wrap_method_zlib, wrap_method_gzip, wrap_method_zf;
extern const wrap_method wrap_method_bz2;
extern const wrap_method wrap_method_xz, wrap_method_lzma;
extern const wrap_method wrap_method_lz4;

/* The method with this id, NULL for WRAP_NONE or an unknown one. */
const wrap_method *wrap_method_of(int id);

#endif
