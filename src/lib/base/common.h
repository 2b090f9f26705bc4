/*
 * common.h - internal definitions shared by the library's modules.
 */
#ifndef BASE_COMMON_H
#define BASE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "treepack.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN_OF(a, b) ((a) < (b) ? (a) : (b))
#define MAX_OF(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define NOINLINE __attribute__((noinline))
#else
#define PRINTF_LIKE(f, a)
#define UNLIKELY(x) (x)
#define LIKELY(x) (x)
#define NOINLINE
#endif

struct tp_ctx {
    tp_code code;
    int64_t offset;     /* byte offset of the failure in the input, or -1 */
    char msg[640];
};

/* Record a failure (the first one wins: later calls keep the original
 * cause) and return its code, so that callers can `return ctx_fail(...)`.
 * offset < 0 means "no position".  The message should read as a sentence
 * fragment: "BINBYTES declares 4096 bytes, 12 remain". */
tp_code ctx_fail(tp_ctx *ctx, tp_code code, int64_t offset, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* A caller's options (NULL: the defaults) as the library's own struct,
 * whatever header the caller was built with; TP_E_USAGE when it was not
 * set up by tp_options_init. */
tp_code options_take(tp_ctx *ctx, const tp_options *in, tp_options *full);
/* The fields of a full report that the caller's report has room for
 * (nothing when it was not set up by tp_report_init). */
void report_give(tp_report *out, const tp_report *full);

/* Clear the context for a new operation. */
void ctx_reset(tp_ctx *ctx);

/* Checked arithmetic on sizes: return false on overflow. */
static inline bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Little-endian loads and stores that do not care about alignment. */
static inline uint16_t load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t load_le64(const uint8_t *p) { return load_le32(p) | ((uint64_t)load_le32(p + 4) << 32); }
static inline void store_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* An unsigned integer of w bytes (1 to 8), either byte order. */
static inline uint64_t load_w(const uint8_t *p, uint32_t w, bool big)
{
    uint64_t v = 0;
    if (big)
        for (uint32_t i = 0; i < w; i++) v = (v << 8) | p[i];
    else
        for (uint32_t i = w; i-- > 0;) v = (v << 8) | p[i];
    return v;
}
static inline void store_w(uint8_t *p, uint32_t w, bool big, uint64_t v)
{
    if (big)
        for (uint32_t i = w; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
    else
        for (uint32_t i = 0; i < w; i++, v >>= 8) p[i] = (uint8_t)v;
}

static inline uint64_t f64_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double bits_to_f64(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

#endif
