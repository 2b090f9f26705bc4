/*
 * buf.h - a growable byte buffer for building output.
 *
 * Allocation failures are sticky like the cursor's: after one, every
 * append is ignored and `failed` stays set, so a writer checks once.
 */
#ifndef BASE_BUF_H
#define BASE_BUF_H

#include "base/common.h"

typedef struct bytebuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} bytebuf;

void bytebuf_free(bytebuf *b);
/* Make room for n more bytes; false on failure. */
bool bytebuf_reserve(bytebuf *b, size_t n);
/* Room for element n of a growable array (*arr of *cap elements of
 * `elem` bytes), doubling it when full; false when out of memory. */
bool array_room(void **arr, size_t *cap, size_t n, size_t elem);
/* Append *value to a growable array of *n elements. */
bool array_push(void **arr, size_t *n, size_t *cap, const void *value, size_t elem);
void bytebuf_append(bytebuf *b, const void *data, size_t n);
void bytebuf_u8(bytebuf *b, uint8_t v);
void bytebuf_u64(bytebuf *b, uint64_t v);
void bytebuf_varint(bytebuf *b, uint64_t v);
/* Zigzag-mapped signed varint. */
void bytebuf_svarint(bytebuf *b, int64_t v);
/* Append n bytes and return a pointer to them (uninitialised), or NULL. */
uint8_t *bytebuf_grow(bytebuf *b, size_t n);

/* Are the n bytes at p (n >= 2) one byte repeated?  Columns that are
 * such a run are stored as that byte (a zstd frame of them costs 13-20). */
static inline bool bytes_are_one_run(const uint8_t *p, size_t n)
{
    if (n < 2) return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0]) return false;
    return true;
}

static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

#endif
