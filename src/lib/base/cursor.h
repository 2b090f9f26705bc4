/*
 * cursor.h - a read cursor over untrusted bytes.
 *
 * Every pull checks `need > remaining` by subtraction, so no sum can
 * overflow.  A failed pull makes the cursor fail for good (`bad` is
 * sticky) and returns zeros, so a decoder can pull a whole record and
 * check once at the end.
 */
#ifndef TP_CURSOR_H
#define TP_CURSOR_H

#include "base/common.h"

typedef struct tp_cursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool bad;
} tp_cursor;

static inline tp_cursor tp_cursor_make(const uint8_t *data, size_t len)
{
    tp_cursor c = {data, len, 0, false};
    return c;
}

static inline size_t tp_cursor_left(const tp_cursor *c) { return c->bad ? 0 : c->len - c->pos; }

/* Pointer to the next n bytes, advancing past them; NULL (and bad) if fewer remain. */
static inline const uint8_t *tp_cursor_take(tp_cursor *c, size_t n)
{
    if (c->bad || n > c->len - c->pos) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->data + c->pos;
    c->pos += n;
    return p;
}

static inline uint8_t tp_cursor_u8(tp_cursor *c)
{
    const uint8_t *p = tp_cursor_take(c, 1);
    return p ? p[0] : 0;
}
static inline uint16_t tp_cursor_u16(tp_cursor *c)
{
    const uint8_t *p = tp_cursor_take(c, 2);
    return p ? tp_le16(p) : 0;
}
static inline uint32_t tp_cursor_u32(tp_cursor *c)
{
    const uint8_t *p = tp_cursor_take(c, 4);
    return p ? tp_le32(p) : 0;
}
static inline uint64_t tp_cursor_u64(tp_cursor *c)
{
    const uint8_t *p = tp_cursor_take(c, 8);
    return p ? tp_le64(p) : 0;
}

/* LEB128 unsigned varint, at most 10 bytes; overlong or overflowing forms fail. */
static inline uint64_t tp_cursor_varint(tp_cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = tp_cursor_take(c, 1);
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
static inline uint64_t tp_cursor_varint_max(tp_cursor *c, uint64_t max)
{
    uint64_t v = tp_cursor_varint(c);
    if (v > max) {
        c->bad = true;
        return 0;
    }
    return v;
}

#endif
