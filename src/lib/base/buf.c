/*
 * buf.c - growable byte buffer.
 */
#include <stdlib.h>

#include "base/buf.h"

void tp_buf_free(tp_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

bool tp_buf_reserve(tp_buf *b, size_t n)
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

uint8_t *tp_buf_grow(tp_buf *b, size_t n)
{
    if (!tp_buf_reserve(b, n)) return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void tp_buf_append(tp_buf *b, const void *data, size_t n)
{
    if (n == 0) return;
    uint8_t *p = tp_buf_grow(b, n);
    if (p) memcpy(p, data, n);
}

void tp_buf_u8(tp_buf *b, uint8_t v) { tp_buf_append(b, &v, 1); }

void tp_buf_u64(tp_buf *b, uint64_t v)
{
    uint8_t t[8];
    tp_put_le64(t, v);
    tp_buf_append(b, t, 8);
}

void tp_buf_varint(tp_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    tp_buf_append(b, t, n);
}

void tp_buf_svarint(tp_buf *b, int64_t v) { tp_buf_varint(b, tp_zigzag(v)); }

bool tp_array_room(void **arr, size_t *cap, size_t n, size_t elem)
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

bool tp_array_push(void **arr, size_t *n, size_t *cap, const void *value, size_t elem)
{
    if (!tp_array_room(arr, cap, *n, elem)) return false;
    memcpy((uint8_t *)*arr + *n * elem, value, elem);
    (*n)++;
    return true;
}
