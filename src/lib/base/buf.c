/*
 * buf.c - growable byte buffer.
 */
#include <stdlib.h>

#include "base/buf.h"

void bytebuf_free(bytebuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

bool bytebuf_reserve(bytebuf *b, size_t n)
{
    if (b->failed) return false;
    if (n <= b->cap - b->len) return true;
    size_t need;
    if (__builtin_add_overflow(b->len, n, &need)) goto fail;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) goto fail;
    b->data = p;
    b->cap = cap;
    return true;
fail:
    b->failed = true;
    return false;
}

uint8_t *bytebuf_grow(bytebuf *b, size_t n)
{
    if (!bytebuf_reserve(b, n)) return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void bytebuf_append(bytebuf *b, const void *data, size_t n)
{
    if (n == 0) return;
    uint8_t *p = bytebuf_grow(b, n);
    if (p) memcpy(p, data, n);
}

void bytebuf_u8(bytebuf *b, uint8_t v) { bytebuf_append(b, &v, 1); }

void bytebuf_u64(bytebuf *b, uint64_t v)
{
    uint8_t t[8];
    store_le64(t, v);
    bytebuf_append(b, t, 8);
}

void bytebuf_varint(bytebuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    bytebuf_append(b, t, n);
}

void bytebuf_svarint(bytebuf *b, int64_t v) { bytebuf_varint(b, zigzag(v)); }

bool array_room(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap <= n) ncap = n + 1;
    if (ncap > SIZE_MAX / elem) return false;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return false;
    *arr = p;
    *cap = ncap;
    return true;
}

bool array_push(void **arr, size_t *n, size_t *cap, const void *value, size_t elem)
{
    if (!array_room(arr, cap, *n, elem)) return false;
    memcpy((uint8_t *)*arr + *n * elem, value, elem);
    (*n)++;
    return true;
}
