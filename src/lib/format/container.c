/*
 * container.c - read and write the .tpk container.
 */
#include <stdlib.h>
#include <xxhash.h>
#include <zstd.h>

#include "format/container.h"
#include "base/skeleton_dict.h"
#include "base/cursor.h"

int tp_is_container(const uint8_t *data, size_t len)
{
    return len >= TPK_MAGIC_LEN && memcmp(data, TPK_MAGIC, TPK_MAGIC_LEN) == 0;
}

const char *tpk_kind_name(uint16_t kind)
{
    static const char *names[] = {"end",   "skeleton", "splices", "layouts",  "dictionary",
                                  "trees", "wrapper",  "records", "inventory", "vocabularies", "lossy", "memo"};
    return kind < ARRAY_LEN(names) ? names[kind] : "unknown";
}

/* A section's checksum covers its header fields too (kind, flags, codec,
 * lengths: the first 24 bytes), so that no bit of a section can flip
 * unnoticed: the header's hash seeds the hash of the payload. */
static uint64_t section_checksum(const uint8_t *hdr24, const uint8_t *payload, size_t len)
{
    return XXH3_64bits_withSeed(payload, len, XXH3_64bits(hdr24, 24));
}

/* Version 2: the same construction over the compact header (all of its
 * bytes before the checksum), kept to its low 32 bits.  The XXH3-128 of
 * the whole original is what proves the output; a section's checksum only
 * has to catch a damaged file before its sections are decoded. */
static uint32_t section_checksum2(const uint8_t *hdr, size_t hdr_len, const uint8_t *payload, size_t len)
{
    return (uint32_t)XXH3_64bits_withSeed(payload, len, XXH3_64bits(hdr, hdr_len));
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* ---- writing ----------------------------------------------------------- */

tp_code tpk_write(tpk_writer *w, const void *data, size_t len)
{
    if (len == 0) return TP_OK;
    if (w->sink && w->sink->write(w->sink->opaque, data, len))
        return ctx_fail(w->ctx, TP_E_WRITE, -1, "the output refused %zu bytes", len);
    w->written += len;
    return TP_OK;
}

static tp_code write_header_v1(tpk_writer *w, const tpk_header *h)
{
    size_t name_len = strnlen(h->name, TPK_NAME_MAX);
    uint8_t buf[50 + TPK_NAME_MAX];
    memset(buf, 0, sizeof buf);
    memcpy(buf, TPK_MAGIC, TPK_MAGIC_LEN);
    buf[8] = 1;
    buf[9] = 0;                                       /* header flags: none defined */
    store_le16(buf + 10, (uint16_t)(50 + name_len)); /* header size */
    store_le32(buf + 12, 0);                         /* reserved */
    store_le64(buf + 16, h->original_size);
    memcpy(buf + 24, h->checksum, 16);
    store_le16(buf + 40, (uint16_t)name_len);
    memcpy(buf + 42, h->name, name_len);
    store_le64(buf + 42 + name_len, checksum64(buf, 42 + name_len));
    return tpk_write(w, buf, 50 + name_len);
}

static tp_code write_section_v1(tpk_writer *w, uint16_t kind, uint16_t flags, uint8_t codec, const void *payload,
                                uint64_t stored_len, uint64_t raw_len)
{
    uint8_t hdr[TPK_VERSION_1_SECTION_HEADER] = {0};
    store_le16(hdr, kind);
    store_le16(hdr + 2, flags);
    hdr[4] = codec;
    store_le64(hdr + 8, stored_len);
    store_le64(hdr + 16, raw_len);
    store_le64(hdr + 24, section_checksum(hdr, payload, (size_t)stored_len));
    w->last_header_len = sizeof hdr;
    tp_code rc = tpk_write(w, hdr, sizeof hdr);
    return rc ? rc : tpk_write(w, payload, (size_t)stored_len);
}

tp_code tpk_write_header(tpk_writer *w, const tpk_header *h)
{
    if (w->version == 1) return write_header_v1(w, h);
    size_t name_len = strnlen(h->name, TPK_NAME_MAX);
    uint8_t buf[TPK_MAGIC_LEN + 2 + 10 + 16 + 2 + TPK_NAME_MAX + 4];
    size_t n = 0;
    memcpy(buf, TPK_MAGIC, TPK_MAGIC_LEN);
    n = TPK_MAGIC_LEN;
    buf[n++] = TPK_VERSION;
    buf[n++] = 0; /* header flags: none defined */
    n += put_varint(buf + n, h->original_size);
    memcpy(buf + n, h->checksum, 16);
    n += 16;
    n += put_varint(buf + n, name_len);
    memcpy(buf + n, h->name, name_len);
    n += name_len;
    store_le32(buf + n, (uint32_t)checksum64(buf, n));
    return tpk_write(w, buf, n + 4);
}

tp_code tpk_write_section(tpk_writer *w, uint16_t kind, uint16_t flags, uint8_t codec, const void *payload,
                          uint64_t stored_len, uint64_t raw_len)
{
    if (w->version == 1) return write_section_v1(w, kind, flags, codec, payload, stored_len, raw_len);
    uint8_t hdr[TPK_SECTION_HEADER_MAX];
    size_t n = 0;
    hdr[n++] = (uint8_t)kind;
    hdr[n++] = (uint8_t)((flags & SEC_REQUIRED) | (codec << 1));
    n += put_varint(hdr + n, stored_len);
    n += put_varint(hdr + n, raw_len);
    store_le32(hdr + n, section_checksum2(hdr, n, payload, (size_t)stored_len));
    n += 4;
    w->last_header_len = n;
    tp_code rc = tpk_write(w, hdr, n);
    return rc ? rc : tpk_write(w, payload, (size_t)stored_len);
}

tp_code tpk_write_zstd_section(tpk_writer *w, uint16_t kind, const void *raw, size_t raw_len, int level)
{
    bytebuf z = {0};
    tp_code rc = zstd_compress_into(w->ctx, raw, raw_len, level, &z);
    /* a few bytes (a small file's splices) come out larger as a frame */
    if (!rc && z.len >= raw_len) rc = tpk_write_section(w, kind, SEC_REQUIRED, CODEC_STORED, raw, raw_len, raw_len);
    else if (!rc) rc = tpk_write_section(w, kind, SEC_REQUIRED, CODEC_ZSTD, z.data, z.len, raw_len);
    bytebuf_free(&z);
    return rc;
}

tp_code tpk_write_end(tpk_writer *w, uint64_t nsections)
{
    return tpk_write_section(w, SEC_END, SEC_REQUIRED, CODEC_STORED, "", 0, nsections);
}

/* ---- reading ----------------------------------------------------------- */

static bool known_kind(uint16_t k) { return k <= SEC_KIND_MAX_KNOWN; }

/* Header of version 1: fixed fields, a u16 name length, XXH3-64. */
static tp_code parse_header_v1(tp_ctx *ctx, const uint8_t *file, size_t len, cursor *c, tpk_header *h)
{
    uint16_t hsize = cursor_u16(c);
    uint32_t reserved = cursor_u32(c);
    if (c->bad) return ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short");
    if (reserved) return ctx_fail(ctx, TP_E_TPK_CORRUPT, 9, "reserved header bits are set");
    h->original_size = cursor_u64(c);
    const uint8_t *sum = cursor_take(c, 16);
    uint16_t name_len = cursor_u16(c);
    const uint8_t *name = cursor_take(c, name_len);
    size_t covered = c->pos;
    uint64_t hsum = cursor_u64(c);
    if (c->bad) return ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short");
    if (hsize != c->pos || name_len > TPK_NAME_MAX)
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, 10, "the header size does not add up");
    if (hsum != checksum64(file, covered))
        return ctx_fail(ctx, TP_E_TPK_CHECKSUM, (int64_t)covered, "the header checksum does not match");
    memcpy(h->checksum, sum, 16);
    memcpy(h->name, name, name_len);
    h->name[name_len] = 0;
    return TP_OK;
}

/* Header of version 2: varint size and name length, 32-bit checksum. */
static tp_code parse_header_v2(tp_ctx *ctx, const uint8_t *file, size_t len, cursor *c, tpk_header *h)
{
    h->original_size = cursor_varint(c);
    const uint8_t *sum = cursor_take(c, 16);
    uint64_t name_len = cursor_varint_max(c, TPK_NAME_MAX);
    const uint8_t *name = cursor_take(c, (size_t)name_len);
    size_t covered = c->pos;
    uint32_t hsum = cursor_u32(c);
    if (c->bad) return ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short or malformed");
    if (hsum != (uint32_t)checksum64(file, covered))
        return ctx_fail(ctx, TP_E_TPK_CHECKSUM, (int64_t)covered, "the header checksum does not match");
    memcpy(h->checksum, sum, 16);
    memcpy(h->name, name, (size_t)name_len);
    h->name[name_len] = 0;
    return TP_OK;
}

/* One section header of either version into *s; its checksum is checked
 * once the payload is known.  false: cut short or reserved bits set
 * (*cut says which). */
static bool parse_section_header(uint8_t version, cursor *c, tpk_section *s, bool *cut)
{
    *cut = false;
    if (version == 1) {
        s->kind = cursor_u16(c);
        s->flags = cursor_u16(c);
        s->codec = cursor_u8(c);
        const uint8_t *res = cursor_take(c, 3);
        s->stored_len = cursor_u64(c);
        s->raw_len = cursor_u64(c);
        cursor_take(c, 8);
        if (c->bad) return !(*cut = true);
        return !(res[0] | res[1] | res[2] || (s->flags & ~SEC_REQUIRED));
    }
    s->kind = cursor_u8(c);
    uint8_t bits = cursor_u8(c);
    s->flags = bits & SEC_REQUIRED;
    s->codec = (bits >> 1) & 7;
    s->stored_len = cursor_varint(c);
    s->raw_len = cursor_varint(c);
    cursor_take(c, 4);
    if (c->bad) return !(*cut = true);
    return !(bits & 0xf0);
}

static bool section_checksum_matches(uint8_t version, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
                                     size_t len)
{
    if (version == 1) return load_le64(hdr + 24) == section_checksum(hdr, payload, len);
    return load_le32(hdr + hdr_len - 4) == section_checksum2(hdr, hdr_len - 4, payload, len);
}

tp_code tpk_parse(tp_ctx *ctx, const uint8_t *file, size_t len, tpk_header *h, tpk_section **secs, size_t *nsecs)
{
    memset(h, 0, sizeof *h);
    *secs = NULL;
    *nsecs = 0;
    if (len < TPK_MAGIC_LEN || memcmp(file, TPK_MAGIC, TPK_MAGIC_LEN) != 0)
        return ctx_fail(ctx, TP_E_NOT_TPK, 0, "the file does not start with the treepack magic");
    cursor c = cursor_make(file, len);
    cursor_take(&c, TPK_MAGIC_LEN);
    h->version = cursor_u8(&c);
    uint8_t hflags = cursor_u8(&c);
    if (c.bad) return ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short");
    if (h->version != 1 && h->version != 2)
        return ctx_fail(ctx, TP_E_TPK_VERSION, 8, "format version %u (this treepack reads versions 1 and 2)",
                       h->version);
    if (hflags) return ctx_fail(ctx, TP_E_TPK_CORRUPT, 9, "reserved header bits are set");
    tp_code rc = h->version == 1 ? parse_header_v1(ctx, file, len, &c, h) : parse_header_v2(ctx, file, len, &c, h);
    if (rc) return rc;
    h->header_size = c.pos;

    size_t cap = 0, n = 0, total = 0; /* n: sections kept; total: sections seen */
    tpk_section *list = NULL;
    for (;;) {
        size_t at = c.pos;
        const uint8_t *hdr = file + at;
        tpk_section s = {0};
        bool cut;
        bool ok = parse_section_header(h->version, &c, &s, &cut);
        if (cut) {
            rc = ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)at, "a section header is cut short or malformed");
            break;
        }
        if (!ok || s.codec > CODEC_ZSTD_DICT) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "reserved bits are set in a section header");
            break;
        }
        s.header_len = (uint32_t)(c.pos - at);
        if (s.stored_len > cursor_left(&c)) {
            rc = ctx_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)at, "a %s section declares %llu bytes, %zu remain",
                         tpk_kind_name(s.kind), (unsigned long long)s.stored_len, cursor_left(&c));
            break;
        }
        s.offset = c.pos;
        const uint8_t *payload = cursor_take(&c, (size_t)s.stored_len);
        if (s.codec == CODEC_LZMA2 && (s.kind != SEC_SKELETON || s.raw_len > TPK_LZMA2_MAX_RAW)) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "an LZMA2 section that is no skeleton or too large");
            break;
        }
        if (s.codec == CODEC_ZSTD_DICT && s.kind != SEC_SKELETON) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "a section that is no skeleton uses the skeleton dictionary");
            break;
        }
        if (s.kind != SEC_END && s.codec == CODEC_STORED && s.raw_len != s.stored_len) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "a stored section's lengths differ");
            break;
        }
        if (!section_checksum_matches(h->version, hdr, s.header_len, payload, (size_t)s.stored_len)) {
            rc = ctx_fail(ctx, TP_E_TPK_CHECKSUM, (int64_t)at, "the %s section's checksum does not match",
                         tpk_kind_name(s.kind));
            break;
        }
        if (s.kind == SEC_END) {
            if (s.raw_len != total || s.stored_len != 0 || s.codec != CODEC_STORED || s.flags != SEC_REQUIRED) {
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "the end marker counts %llu sections, found %zu",
                             (unsigned long long)s.raw_len, total);
            } else if (cursor_left(&c)) {
                rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)c.pos, "%zu bytes follow the end marker",
                             cursor_left(&c));
            }
            break;
        }
        if (!known_kind(s.kind)) {
            if (s.flags & SEC_REQUIRED) {
                rc = ctx_fail(ctx, TP_E_TPK_UNKNOWN, (int64_t)at,
                             "section kind %u is required to expand this file but treepack %s does not know it; "
                             "use a newer treepack", s.kind, tp_version());
                break;
            }
            total++; /* counted by the end marker, otherwise ignored */
            continue;
        }
        if (!array_push((void **)&list, &n, &cap, &s, sizeof s)) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "section list");
            break;
        }
        total++;
    }
    if (rc) {
        free(list);
        return rc;
    }
    *secs = list;
    *nsecs = n;
    return TP_OK;
}

tp_code tpk_section_read(tp_ctx *ctx, const uint8_t *file, const tpk_section *s, bytebuf *out)
{
    out->len = 0;
    if (s->raw_len > SIZE_MAX / 2)
        return ctx_fail(ctx, TP_E_LIMIT_SIZE, (int64_t)s->offset, "a section declares %llu bytes",
                       (unsigned long long)s->raw_len);
    if (s->codec == CODEC_STORED) {
        bytebuf_append(out, file + s->offset, (size_t)s->stored_len);
        return out->failed ? ctx_fail(ctx, TP_E_NOMEM, -1, "section buffer") : TP_OK;
    }
    /* Grow with what actually comes out of the decoder, never to the
     * declared size up front. */
    ZSTD_DCtx *own;
    ZSTD_DCtx *dc = zstd_thread_dctx((size_t)MIN_OF(s->raw_len, (uint64_t)SIZE_MAX), &own);
    if (!dc) return ctx_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    tp_code rc = TP_OK;
    if (s->codec == CODEC_ZSTD_DICT &&
        ZSTD_isError(ZSTD_DCtx_loadDictionary(dc, skeleton_dict, skeleton_dict_size)))
        rc = ctx_fail(ctx, TP_E_NOMEM, -1, "zstd dictionary");
    ZSTD_inBuffer in = {file + s->offset, (size_t)s->stored_len, 0};
    size_t chunk = (size_t)MIN_OF(s->raw_len + 1, (uint64_t)1 << 20);
    while (!rc) {
        if (!bytebuf_reserve(out, chunk)) {
            rc = ctx_fail(ctx, TP_E_NOMEM, -1, "section buffer");
            break;
        }
        ZSTD_outBuffer o = {out->data + out->len, out->cap - out->len, 0};
        size_t r = ZSTD_decompressStream(dc, &o, &in);
        out->len += o.pos;
        if (ZSTD_isError(r)) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "%s section: zstd: %s", tpk_kind_name(s->kind),
                         ZSTD_getErrorName(r));
            break;
        }
        if (out->len > s->raw_len) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is longer than declared",
                         tpk_kind_name(s->kind));
            break;
        }
        if (r == 0 && in.pos == in.size) break;
        if (in.pos == in.size && o.pos < o.size) {
            rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is truncated",
                         tpk_kind_name(s->kind));
            break;
        }
        chunk = MIN_OF(out->cap, (size_t)64 << 20);
    }
    ZSTD_freeDCtx(own);
    if (!rc && out->len != s->raw_len)
        rc = ctx_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is %zu bytes, %llu declared",
                     tpk_kind_name(s->kind), out->len, (unsigned long long)s->raw_len);
    return rc;
}
