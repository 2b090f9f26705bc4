/*
 * tpk_walk.h - for test tools: walk the framing of a .tpk of format
 * version 1 or 2 without checking anything, and recompute its checksums,
 * so that a test can damage one field and have the reader trip on that
 * field rather than on a checksum.  The layouts are those of man/tpk.5;
 * container.c is the reader these tools try to fool.
 */
#ifndef TESTS_TPK_WALK_H
#define TESTS_TPK_WALK_H

#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#include "base/cursor.h"
#include "format/container.h"

typedef struct walk_header {
    uint8_t version;
    uint64_t original_size;
    const uint8_t *checksum; /* 16 bytes */
    const uint8_t *name;
    size_t name_len;
    size_t covered; /* bytes the header checksum covers */
    size_t end;     /* first byte after the header */
} walk_header;

typedef struct walk_section {
    size_t at;      /* of the section header */
    size_t sum_at;  /* of its checksum */
    size_t payload; /* of its payload */
    uint16_t kind, flags;
    uint8_t codec;
    uint64_t stored, raw;
} walk_section;

static inline bool walk_read_header(const uint8_t *d, size_t n, walk_header *h)
{
    memset(h, 0, sizeof *h);
    if (n < TPK_MAGIC_LEN + 2 || memcmp(d, TPK_MAGIC, TPK_MAGIC_LEN) != 0) return false;
    cursor c = cursor_make(d, n);
    cursor_take(&c, TPK_MAGIC_LEN);
    h->version = cursor_u8(&c);
    cursor_u8(&c);
    if (h->version == 1) {
        cursor_take(&c, 6);
        h->original_size = cursor_u64(&c);
        h->checksum = cursor_take(&c, 16);
        h->name_len = cursor_u16(&c);
    } else {
        h->original_size = cursor_varint(&c);
        h->checksum = cursor_take(&c, 16);
        h->name_len = (size_t)cursor_varint(&c);
    }
    h->name = cursor_take(&c, h->name_len);
    h->covered = c.pos;
    cursor_take(&c, h->version == 1 ? 8 : 4);
    h->end = c.pos;
    return !c.bad;
}

static inline bool walk_read_section(const uint8_t *d, size_t n, uint8_t version, size_t pos, walk_section *s)
{
    memset(s, 0, sizeof *s);
    if (pos > n) return false;
    cursor c = cursor_make(d + pos, n - pos);
    s->at = pos;
    if (version == 1) {
        s->kind = cursor_u16(&c);
        s->flags = cursor_u16(&c);
        s->codec = cursor_u8(&c);
        cursor_take(&c, 3);
        s->stored = cursor_u64(&c);
        s->raw = cursor_u64(&c);
    } else {
        s->kind = cursor_u8(&c);
        uint8_t bits = cursor_u8(&c);
        s->flags = bits & 1;
        s->codec = (uint8_t)(bits >> 1);
        s->stored = cursor_varint(&c);
        s->raw = cursor_varint(&c);
    }
    s->sum_at = pos + c.pos;
    cursor_take(&c, version == 1 ? 8 : 4);
    s->payload = pos + c.pos;
    return !c.bad && s->stored <= n - s->payload;
}

/* Recompute the header's and every whole section's checksum in place. */
static inline void walk_reseal(uint8_t *d, size_t n)
{
    walk_header h;
    if (!walk_read_header(d, n, &h)) return;
    uint64_t hs = checksum64(d, h.covered);
    if (h.version == 1) store_le64(d + h.covered, hs);
    else store_le32(d + h.covered, (uint32_t)hs);
    size_t pos = h.end;
    walk_section s;
    while (walk_read_section(d, n, h.version, pos, &s)) {
        /* as container.c: the hash of the header's fields seeds the payload's */
        size_t fields = h.version == 1 ? 24 : s.sum_at - s.at;
        uint64_t sum = XXH3_64bits_withSeed(d + s.payload, (size_t)s.stored, XXH3_64bits(d + s.at, fields));
        if (h.version == 1) store_le64(d + s.sum_at, sum);
        else store_le32(d + s.sum_at, (uint32_t)sum);
        pos = s.payload + (size_t)s.stored;
    }
}

#endif
