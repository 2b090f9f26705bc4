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
                                  "trees", "wrapper",  "records", "inventory", "vocabularies", "lossy"};
    return kind < TP_ARRAY_LEN(names) ? names[kind] : "unknown";
}

/* A section's checksum covers its header fields too (kind, flags, codec,
 * lengths: the first 24 bytes), so that no bit of a section can flip
 * unnoticed: the header's hash seeds the hash of the payload. */
static uint64_t section_checksum(const uint8_t *hdr24, const uint8_t *payload, size_t len)
{
    return XXH3_64bits_withSeed(payload, len, XXH3_64bits(hdr24, 24));
}

/* ---- writing ----------------------------------------------------------- */

tp_code tpk_write(tpk_writer *w, const void *data, size_t len)
{
    if (len == 0) return TP_OK;
    if (w->sink && w->sink->write(w->sink->opaque, data, len))
        return tp_fail(w->ctx, TP_E_WRITE, -1, "the output refused %zu bytes", len);
    w->written += len;
    return TP_OK;
}

tp_code tpk_write_header(tpk_writer *w, const tpk_header *h)
{
    size_t name_len = strnlen(h->name, TPK_NAME_MAX);
    uint8_t buf[50 + TPK_NAME_MAX];
    memset(buf, 0, sizeof buf);
    memcpy(buf, TPK_MAGIC, TPK_MAGIC_LEN);
    buf[8] = TPK_VERSION;
    buf[9] = 0;                                       /* header flags: none defined */
    tp_put_le16(buf + 10, (uint16_t)(50 + name_len)); /* header size */
    tp_put_le32(buf + 12, 0);                         /* reserved */
    tp_put_le64(buf + 16, h->original_size);
    memcpy(buf + 24, h->checksum, 16);
    tp_put_le16(buf + 40, (uint16_t)name_len);
    memcpy(buf + 42, h->name, name_len);
    tp_put_le64(buf + 42 + name_len, tp_checksum64(buf, 42 + name_len));
    return tpk_write(w, buf, 50 + name_len);
}

tp_code tpk_write_section(tpk_writer *w, uint16_t kind, uint16_t flags, uint8_t codec, const void *payload,
                          uint64_t stored_len, uint64_t raw_len)
{
    uint8_t hdr[TPK_SECTION_HEADER] = {0};
    tp_put_le16(hdr, kind);
    tp_put_le16(hdr + 2, flags);
    hdr[4] = codec;
    tp_put_le64(hdr + 8, stored_len);
    tp_put_le64(hdr + 16, raw_len);
    tp_put_le64(hdr + 24, section_checksum(hdr, payload, (size_t)stored_len));
    tp_code rc = tpk_write(w, hdr, sizeof hdr);
    return rc ? rc : tpk_write(w, payload, (size_t)stored_len);
}

tp_code tpk_write_zstd_section(tpk_writer *w, uint16_t kind, const void *raw, size_t raw_len, int level)
{
    tp_buf z = {0};
    tp_code rc = tp_zstd_compress(w->ctx, raw, raw_len, level, &z);
    if (!rc) rc = tpk_write_section(w, kind, SEC_REQUIRED, CODEC_ZSTD, z.data, z.len, raw_len);
    tp_buf_free(&z);
    return rc;
}

tp_code tpk_write_end(tpk_writer *w, uint64_t nsections)
{
    return tpk_write_section(w, SEC_END, SEC_REQUIRED, CODEC_STORED, "", 0, nsections);
}

/* ---- reading ----------------------------------------------------------- */

static bool known_kind(uint16_t k) { return k <= SEC_KIND_MAX_KNOWN; }

tp_code tpk_parse(tp_ctx *ctx, const uint8_t *file, size_t len, tpk_header *h, tpk_section **secs, size_t *nsecs)
{
    memset(h, 0, sizeof *h);
    *secs = NULL;
    *nsecs = 0;
    if (len < TPK_MAGIC_LEN || memcmp(file, TPK_MAGIC, TPK_MAGIC_LEN) != 0)
        return tp_fail(ctx, TP_E_NOT_TPK, 0, "the file does not start with the treepack magic");
    tp_cursor c = tp_cursor_make(file, len);
    tp_cursor_take(&c, TPK_MAGIC_LEN);
    h->version = tp_cursor_u8(&c);
    uint8_t hflags = tp_cursor_u8(&c);
    uint16_t hsize = tp_cursor_u16(&c);
    uint32_t reserved = tp_cursor_u32(&c);
    if (c.bad) return tp_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short");
    if (h->version != TPK_VERSION)
        return tp_fail(ctx, TP_E_TPK_VERSION, 8, "format version %u (this treepack reads version %u)", h->version,
                       TPK_VERSION);
    if (hflags || reserved)
        return tp_fail(ctx, TP_E_TPK_CORRUPT, 9, "reserved header bits are set");
    h->original_size = tp_cursor_u64(&c);
    const uint8_t *sum = tp_cursor_take(&c, 16);
    uint16_t name_len = tp_cursor_u16(&c);
    const uint8_t *name = tp_cursor_take(&c, name_len);
    size_t covered = c.pos;
    uint64_t hsum = tp_cursor_u64(&c);
    if (c.bad) return tp_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)len, "the header is cut short");
    if (hsize != c.pos || name_len > TPK_NAME_MAX)
        return tp_fail(ctx, TP_E_TPK_CORRUPT, 10, "the header size does not add up");
    if (hsum != tp_checksum64(file, covered))
        return tp_fail(ctx, TP_E_TPK_CHECKSUM, (int64_t)covered, "the header checksum does not match");
    memcpy(h->checksum, sum, 16);
    memcpy(h->name, name, name_len);
    h->name[name_len] = 0;
    h->header_size = c.pos;

    size_t cap = 0, n = 0, total = 0; /* n: sections kept; total: sections seen */
    tpk_section *list = NULL;
    tp_code rc = TP_OK;
    for (;;) {
        size_t at = c.pos;
        const uint8_t *hdr = file + at;
        tpk_section s = {0};
        s.kind = tp_cursor_u16(&c);
        s.flags = tp_cursor_u16(&c);
        s.codec = tp_cursor_u8(&c);
        const uint8_t *res = tp_cursor_take(&c, 3);
        s.stored_len = tp_cursor_u64(&c);
        s.raw_len = tp_cursor_u64(&c);
        uint64_t ssum = tp_cursor_u64(&c);
        if (c.bad) {
            rc = tp_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)at, "a section header is cut short");
            break;
        }
        if (res[0] | res[1] | res[2] || (s.flags & ~SEC_REQUIRED) || s.codec > CODEC_ZSTD_DICT) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "reserved bits are set in a section header");
            break;
        }
        if (s.stored_len > tp_cursor_left(&c)) {
            rc = tp_fail(ctx, TP_E_TPK_TRUNCATED, (int64_t)at, "a %s section declares %llu bytes, %zu remain",
                         tpk_kind_name(s.kind), (unsigned long long)s.stored_len, tp_cursor_left(&c));
            break;
        }
        s.offset = c.pos;
        const uint8_t *payload = tp_cursor_take(&c, (size_t)s.stored_len);
        if (s.codec == CODEC_LZMA2 && (s.kind != SEC_SKELETON || s.raw_len > TPK_LZMA2_MAX_RAW)) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "an LZMA2 section that is no skeleton or too large");
            break;
        }
        if (s.codec == CODEC_ZSTD_DICT && s.kind != SEC_SKELETON) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "a section that is no skeleton uses the skeleton dictionary");
            break;
        }
        if (s.kind != SEC_END && s.codec == CODEC_STORED && s.raw_len != s.stored_len) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "a stored section's lengths differ");
            break;
        }
        if (ssum != section_checksum(hdr, payload, (size_t)s.stored_len)) {
            rc = tp_fail(ctx, TP_E_TPK_CHECKSUM, (int64_t)at, "the %s section's checksum does not match",
                         tpk_kind_name(s.kind));
            break;
        }
        if (s.kind == SEC_END) {
            if (s.raw_len != total || s.stored_len != 0 || s.codec != CODEC_STORED || s.flags != SEC_REQUIRED) {
                rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)at, "the end marker counts %llu sections, found %zu",
                             (unsigned long long)s.raw_len, total);
            } else if (tp_cursor_left(&c)) {
                rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)c.pos, "%zu bytes follow the end marker",
                             tp_cursor_left(&c));
            }
            break;
        }
        if (!known_kind(s.kind)) {
            if (s.flags & SEC_REQUIRED) {
                rc = tp_fail(ctx, TP_E_TPK_UNKNOWN, (int64_t)at,
                             "section kind %u is required to expand this file but treepack %s does not know it; "
                             "use a newer treepack", s.kind, tp_version());
                break;
            }
            total++; /* counted by the end marker, otherwise ignored */
            continue;
        }
        if (!tp_array_push((void **)&list, &n, &cap, &s, sizeof s)) {
            rc = tp_fail(ctx, TP_E_NOMEM, -1, "section list");
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

tp_code tpk_section_read(tp_ctx *ctx, const uint8_t *file, const tpk_section *s, tp_buf *out)
{
    out->len = 0;
    if (s->raw_len > SIZE_MAX / 2)
        return tp_fail(ctx, TP_E_LIMIT_SIZE, (int64_t)s->offset, "a section declares %llu bytes",
                       (unsigned long long)s->raw_len);
    if (s->codec == CODEC_STORED) {
        tp_buf_append(out, file + s->offset, (size_t)s->stored_len);
        return out->failed ? tp_fail(ctx, TP_E_NOMEM, -1, "section buffer") : TP_OK;
    }
    /* Grow with what actually comes out of the decoder, never to the
     * declared size up front. */
    ZSTD_DCtx *own;
    ZSTD_DCtx *dc = tp_zstd_dctx((size_t)TP_MIN(s->raw_len, (uint64_t)SIZE_MAX), &own);
    if (!dc) return tp_fail(ctx, TP_E_NOMEM, -1, "zstd context");
    tp_code rc = TP_OK;
    if (s->codec == CODEC_ZSTD_DICT &&
        ZSTD_isError(ZSTD_DCtx_loadDictionary(dc, tp_skeleton_dict, tp_skeleton_dict_size)))
        rc = tp_fail(ctx, TP_E_NOMEM, -1, "zstd dictionary");
    ZSTD_inBuffer in = {file + s->offset, (size_t)s->stored_len, 0};
    size_t chunk = (size_t)TP_MIN(s->raw_len + 1, (uint64_t)1 << 20);
    while (!rc) {
        if (!tp_buf_reserve(out, chunk)) {
            rc = tp_fail(ctx, TP_E_NOMEM, -1, "section buffer");
            break;
        }
        ZSTD_outBuffer o = {out->data + out->len, out->cap - out->len, 0};
        size_t r = ZSTD_decompressStream(dc, &o, &in);
        out->len += o.pos;
        if (ZSTD_isError(r)) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "%s section: zstd: %s", tpk_kind_name(s->kind),
                         ZSTD_getErrorName(r));
            break;
        }
        if (out->len > s->raw_len) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is longer than declared",
                         tpk_kind_name(s->kind));
            break;
        }
        if (r == 0 && in.pos == in.size) break;
        if (in.pos == in.size && o.pos < o.size) {
            rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is truncated",
                         tpk_kind_name(s->kind));
            break;
        }
        chunk = TP_MIN(out->cap, (size_t)64 << 20);
    }
    ZSTD_freeDCtx(own);
    if (!rc && out->len != s->raw_len)
        rc = tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "the %s section is %zu bytes, %llu declared",
                     tpk_kind_name(s->kind), out->len, (unsigned long long)s->raw_len);
    return rc;
}
