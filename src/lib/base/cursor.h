/*
 * cursor.h - a read cursor over untrusted bytes.
 *
 * Every pull checks `need > remaining` by subtraction, so no sum can
 * overflow.  A failed pull makes the cursor fail for good (`bad` is
 * sticky) and returns zeros, so a decoder can pull a whole record and
 * check once at the end.
 */
#ifndef BASE_CURSOR_H
#define BASE_CURSOR_H

#include "base/common.h"

typedef struct cursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool bad;
} cursor;

static inline cursor cursor_make(const uint8_t *data, size_t len)
{
    cursor c = {data, len, 0, false};
    return c;
}

static inline size_t cursor_left(const cursor *c) { return c->bad ? 0 : c->len - c->pos; }

/* Pointer to the next n bytes, advancing past them; NULL (and bad) if fewer remain. */
static inline const uint8_t *cursor_take(cursor *c, size_t n)
{
    if (c->bad || n > c->len - c->pos) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->data + c->pos;
    c->pos += n;
    return p;
}

static inline uint8_t cursor_u8(cursor *c)
{
    const uint8_t *p = cursor_take(c, 1);
    return p ? p[0] : 0;
}
static inline uint16_t cursor_u16(cursor *c)
{
    const uint8_t *p = cursor_take(c, 2);
    return p ? load_le16(p) : 0;
}
static inline uint32_t cursor_u32(cursor *c)
{
    const uint8_t *p = cursor_take(c, 4);
    return p ? load_le32(p) : 0;
}
static inline uint64_t cursor_u64(cursor *c)
{
    const uint8_t *p = cursor_take(c, 8);
    return p ? load_le64(p) : 0;
}

/* LEB128 unsigned varint, at most 10 bytes; overlong or overflowing forms fail. */
static inline uint64_t cursor_varint(cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = cursor_take(c, 1);
        if (!p) return 0;
        uint64_t b = p[0] & 0x7f;
        if (shift == 63 && b > 1) break;
        v |= b << shift;
        if (!(p[0] & 0x80)) return v;
    }
    c->bad = true;
    return 0;
}

/* A varint that must fit in a size_t and not exceed max. */
static inline uint64_t cursor_varint_max(cursor *c, uint64_t max)
{
    uint64_t v = cursor_varint(c);
    if (v > max) {
        c->bad = true;
        return 0;
    }
    return v;
}

#endif
