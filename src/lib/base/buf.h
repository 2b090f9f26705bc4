/*
 * buf.h - a growable byte buffer for building output.
 *
 * Allocation failures are sticky like the cursor's: after one, every
 * append is ignored and `failed` stays set, so a writer checks once.
 */
#ifndef TP_BUF_H
#define TP_BUF_H

#include "base/common.h"

typedef struct tp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} tp_buf;

void tp_buf_free(tp_buf *b);
/* Make room for n more bytes; false on failure. */
bool tp_buf_reserve(tp_buf *b, size_t n);
/* Room for element n of a growable array (*arr of *cap elements of
 * `elem` bytes), doubling it when full; false when out of memory. */
bool tp_array_room(void **arr, size_t *cap, size_t n, size_t elem);
/* Append *value to a growable array of *n elements. */
bool tp_array_push(void **arr, size_t *n, size_t *cap, const void *value, size_t elem);
void tp_buf_append(tp_buf *b, const void *data, size_t n);
void tp_buf_u8(tp_buf *b, uint8_t v);
void tp_buf_u64(tp_buf *b, uint64_t v);
void tp_buf_varint(tp_buf *b, uint64_t v);
/* Zigzag-mapped signed varint. */
void tp_buf_svarint(tp_buf *b, int64_t v);
/* Append n bytes and return a pointer to them (uninitialised), or NULL. */
uint8_t *tp_buf_grow(tp_buf *b, size_t n);

static inline uint64_t tp_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t tp_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

#endif
