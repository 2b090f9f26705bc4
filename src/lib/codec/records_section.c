/*
 * records_section.c - structured arrays column by column in SEC_RECORDS
 * sections (the format is in records_section.h): each column transformed
 * and compressed, a block checked by decoding it again on compress, and
 * the arrays' bytes given back one block at a time on expand.  Which
 * arrays are stored is sklearn/records.c's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "base/lzma2.h"
#include "base/zstd_ctx.h"
#include "codec/records_section.h"

/* Blocks are cut at about this many record bytes, as tree blocks are. */
#define REC_BLOCK_TARGET ((uint64_t)8 << 20)

/* ---- layout --------------------------------------------------------------- */

static void layout_write(const rec_layout *lay, tp_buf *out)
{
    tp_buf_varint(out, lay->itemsize);
    tp_buf_varint(out, lay->ncols);
    for (uint32_t k = 0; k < lay->ncols; k++) {
        tp_buf_varint(out, lay->off[k]);
        tp_buf_varint(out, lay->width[k]);
        tp_buf_u8(out, lay->type[k]);
    }
}

/* Columns must tile the record exactly, in order. */
static bool layout_read(tp_cursor *c, rec_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    lay->itemsize = (uint32_t)tp_cursor_varint_max(c, REC_MAX_ITEMSIZE);
    lay->ncols = (uint32_t)tp_cursor_varint_max(c, REC_MAX_COLS);
    uint32_t at = 0;
    for (uint32_t k = 0; k < lay->ncols && !c->bad; k++) {
        lay->off[k] = (uint32_t)tp_cursor_varint_max(c, REC_MAX_ITEMSIZE);
        lay->width[k] = (uint32_t)tp_cursor_varint_max(c, REC_MAX_ITEMSIZE);
        lay->type[k] = tp_cursor_u8(c);
        if (lay->off[k] != at || lay->width[k] == 0 || lay->type[k] > REC_TYPE_MAX) return false;
        at += lay->width[k];
    }
    return !c->bad && lay->itemsize > 0 && at == lay->itemsize;
}
/* ---- transforms --------------------------------------------------------------- */

static bool is_big(uint8_t type) { return type == REC_INT_BE || type == REC_FLOAT_BE; }

static uint64_t load_w(const uint8_t *p, uint32_t w, bool big)
{
    uint64_t v = 0;
    if (big)
        for (uint32_t i = 0; i < w; i++) v = (v << 8) | p[i];
    else
        for (uint32_t i = w; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static void store_w(uint8_t *p, uint32_t w, bool big, uint64_t v)
{
    if (big)
        for (uint32_t i = w; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
    else
        for (uint32_t i = 0; i < w; i++, v >>= 8) p[i] = (uint8_t)v;
}

static bool transform_applies(int t, uint8_t type, uint32_t w)
{
    if (t == REC_T_PLANES) return w > 1;
    if (t == REC_T_DELTA) return type != REC_BYTES && w <= 8;
    return true;
}

/* col (n values of w bytes) -> out */
static void forward(int t, bool big, const uint8_t *col, uint64_t n, uint32_t w, uint8_t *out, uint8_t *tmp)
{
    if (t == REC_T_RAW) {
        memcpy(out, col, (size_t)(n * w));
        return;
    }
    const uint8_t *src = col;
    if (t == REC_T_DELTA) {
        /* differences of consecutive values, as little-endian w-byte
         * integers (wrapping) */
        uint64_t prev = 0, mask = w == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * w)) - 1);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = load_w(col + i * w, w, big);
            store_w(tmp + i * w, w, false, (v - prev) & mask);
            prev = v;
        }
        src = tmp;
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < w; k++) out[k * n + i] = src[i * w + k];
}

static void inverse(int t, bool big, const uint8_t *in, uint64_t n, uint32_t w, uint8_t *col)
{
    if (t == REC_T_RAW) {
        memcpy(col, in, (size_t)(n * w));
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < w; k++) col[i * w + k] = in[k * n + i];
    if (t == REC_T_DELTA) {
        uint64_t prev = 0, mask = w == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * w)) - 1);
        for (uint64_t i = 0; i < n; i++) {
            prev = (prev + load_w(col + i * w, w, false)) & mask;
            store_w(col + i * w, w, big, prev);
        }
    }
}

/* ---- encoding ------------------------------------------------------------------ */

/* All arrays' bytes one after the other: the form blocks decode to. */
static tp_code gather(tp_ctx *ctx, const uint8_t *in, const tp_found_records *recs, size_t count, tp_buf *all)
{
    tp_code rc = TP_OK;
    for (size_t i = 0; i < count && !rc; i++) {
        const uint8_t *p = NULL;
        uint8_t *own = NULL;
        if ((rc = npy_array_bytes(ctx, in, &recs[i].arr, &p, &own))) break;
        tp_buf_append(all, p, (size_t)recs[i].arr.nbytes);
        free(own);
        if (all->failed) rc = tp_fail(ctx, TP_E_NOMEM, -1, "record buffer");
    }
    return rc;
}

static tp_code decode_block(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t *budget, uint64_t *first,
                            uint64_t *count, tp_buf *out, uint64_t **starts);

/* A column's transform byte: the transform, and this bit when the column
 * is coded with LZMA2 instead of zstd. */
#define REC_LZMA2 0x80

tp_code tp_records_encode(tp_ctx *ctx, const uint8_t *in, const tp_found_records *recs, size_t first, size_t count,
                          int level, uint64_t *lzma_budget, tp_buf *out)
{
    const rec_layout *lay = &recs[first].layout;
    tp_buf all = {0}, col = {0}, fwd = {0}, tmp = {0}, z = {0}, best = {0}, check = {0};
    uint64_t *starts = NULL;
    const size_t start_len = out->len;
    tp_code rc = gather(ctx, in, recs + first, count, &all);
    if (rc) goto done;
    const uint64_t nrec = all.len / lay->itemsize;

    uint64_t stream_bytes = 0;
    for (size_t i = 0; i < count; i++) stream_bytes += recs[first + i].arr.data_len;
    tp_buf_varint(out, first);
    tp_buf_varint(out, count);
    tp_buf_varint(out, stream_bytes);
    layout_write(lay, out);
    for (size_t i = 0; i < count; i++) tp_buf_varint(out, recs[first + i].arr.shape[0]);
    for (uint32_t k = 0; k < lay->ncols && !rc; k++) {
        const uint32_t w = lay->width[k];
        const size_t n = (size_t)(nrec * w);
        col.len = fwd.len = tmp.len = 0;
        if (!tp_buf_grow(&col, n + 1) || !tp_buf_grow(&fwd, n + 1) || !tp_buf_grow(&tmp, n + 1)) {
            rc = tp_fail(ctx, TP_E_NOMEM, -1, "record column");
            break;
        }
        for (uint64_t i = 0; i < nrec; i++) memcpy(col.data + i * w, all.data + i * lay->itemsize + lay->off[k], w);
        int best_t = -1;
        for (int t = REC_T_RAW; t <= REC_T_MAX && !rc; t++) {
            if (!transform_applies(t, lay->type[k], w)) continue;
            forward(t, is_big(lay->type[k]), col.data, nrec, w, fwd.data, tmp.data);
            z.len = 0;
            if (n && (rc = tp_zstd_compress(ctx, fwd.data, n, level, &z))) break;
            if (best_t < 0 || z.len < best.len) {
                best_t = t;
                best.len = 0;
                tp_buf_append(&best, z.data, z.len);
                if (best.failed) rc = tp_fail(ctx, TP_E_NOMEM, -1, "record column");
            }
        }
        uint8_t tbyte = (uint8_t)best_t;
        if (!rc && best_t >= 0 && n && level >= 5 && tp_lzma2_budget_take(lzma_budget, n)) {
            forward(best_t, is_big(lay->type[k]), col.data, nrec, w, fwd.data, tmp.data);
            z.len = 0;
            if (tp_lzma2_encode(fwd.data, n, 0, 0, w == 8 ? 3 : w == 4 ? 2 : 0, &z) && !z.failed &&
                z.len + z.len / 32 < best.len) {
                best.len = 0;
                tp_buf_append(&best, z.data, z.len);
                tbyte |= REC_LZMA2;
            }
        }
        tp_buf_u8(out, tbyte);
        tp_buf_varint(out, best.len);
        tp_buf_append(out, best.data, best.len);
    }
    if (!rc && out->failed) rc = tp_fail(ctx, TP_E_NOMEM, -1, "record block");
    if (rc) goto done;

    /* decode what was written and compare */
    uint64_t budget = UINT64_MAX, f2, c2;
    rc = decode_block(ctx, out->data + start_len, out->len - start_len, &budget, &f2, &c2, &check, &starts);
    if (rc || f2 != first || c2 != count || check.len != all.len || memcmp(check.data, all.data, all.len)) {
        char cause[sizeof ctx->msg];
        snprintf(cause, sizeof cause, "%s", rc ? ctx->msg : "different bytes");
        tp_ctx_reset(ctx);
        rc = tp_fail(ctx, TP_E_INTERNAL, (int64_t)recs[first].offset,
                     "a block of structured arrays does not survive its own round trip (%s); please report this",
                     cause);
    }
done:
    tp_buf_free(&all), tp_buf_free(&col), tp_buf_free(&fwd), tp_buf_free(&tmp);
    tp_buf_free(&z), tp_buf_free(&best), tp_buf_free(&check);
    free(starts);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------- */

static tp_code corrupt(tp_ctx *ctx, const char *what)
{
    return tp_fail(ctx, TP_E_TPK_CORRUPT, -1, "a block of structured arrays is malformed: %s", what);
}

static tp_code decode_block(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t *budget, uint64_t *first,
                            uint64_t *count, tp_buf *out, uint64_t **starts)
{
    tp_cursor c = tp_cursor_make(data, len);
    rec_layout lay;
    *first = tp_cursor_varint(&c);
    *count = tp_cursor_varint_max(&c, len); /* each array takes a byte at least */
    tp_cursor_varint(&c);                   /* stream bytes: for reports */
    if (c.bad || !layout_read(&c, &lay)) return corrupt(ctx, "header");
    *starts = calloc((size_t)*count + 1, sizeof **starts);
    if (!*starts) return tp_fail(ctx, TP_E_NOMEM, -1, "record table");
    uint64_t nrec = 0, bytes;
    for (uint64_t i = 0; i < *count; i++) {
        uint64_t n = tp_cursor_varint(&c);
        (*starts)[i] = nrec * lay.itemsize;
        if (c.bad || !tp_add_ok(nrec, n, &nrec)) return corrupt(ctx, "record counts");
    }
    if (!tp_mul_ok(nrec, lay.itemsize, &bytes) || bytes > *budget || bytes > SIZE_MAX / 2)
        return corrupt(ctx, "more records than the original could hold");
    (*starts)[*count] = bytes;
    *budget -= bytes;
    out->len = 0;
    tp_buf col = {0}, raw = {0};
    tp_code rc = TP_OK;
    if (!tp_buf_grow(out, (size_t)bytes + 1))
        rc = tp_fail(ctx, TP_E_NOMEM, -1, "records of %llu bytes", (unsigned long long)bytes);
    else
        out->len = (size_t)bytes;
    for (uint32_t k = 0; k < lay.ncols && !rc; k++) {
        const uint32_t w = lay.width[k];
        const size_t n = (size_t)(nrec * w);
        uint8_t t = tp_cursor_u8(&c);
        const bool lzma2 = (t & REC_LZMA2) != 0;
        t &= (uint8_t)~REC_LZMA2;
        uint64_t zlen = tp_cursor_varint_max(&c, tp_cursor_left(&c));
        const uint8_t *z = tp_cursor_take(&c, (size_t)zlen);
        if (c.bad || t > REC_T_MAX || !transform_applies(t, lay.type[k], w) || (n == 0) != (zlen == 0)) {
            rc = corrupt(ctx, "column header");
            break;
        }
        col.len = raw.len = 0;
        if (!tp_buf_grow(&col, n + 1) || !tp_buf_grow(&raw, n + 1)) {
            rc = tp_fail(ctx, TP_E_NOMEM, -1, "record column");
            break;
        }
        if (n && lzma2 && (rc = tp_lzma2_decode(ctx, z, (size_t)zlen, raw.data, n, "a column of structured arrays")))
            break;
        if (n && !lzma2 && (rc = tp_zstd_decompress_exact(ctx, z, (size_t)zlen, raw.data, n))) break;
        inverse(t, is_big(lay.type[k]), raw.data, nrec, w, col.data);
        for (uint64_t i = 0; i < nrec; i++) memcpy(out->data + i * lay.itemsize + lay.off[k], col.data + i * w, w);
    }
    if (!rc && tp_cursor_left(&c)) rc = corrupt(ctx, "trailing bytes");
    tp_buf_free(&col);
    tp_buf_free(&raw);
    return rc;
}

tp_code tp_records_load(tp_ctx *ctx, const uint8_t *file, const tpk_section *secs, size_t nsecs, tp_records_set *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->cur = SIZE_MAX;
    size_t n = 0;
    for (size_t i = 0; i < nsecs; i++) n += secs[i].kind == SEC_RECORDS;
    if (!n) return TP_OK;
    rs->blocks = calloc(n, sizeof *rs->blocks);
    if (!rs->blocks) return tp_fail(ctx, TP_E_NOMEM, -1, "record blocks");
    for (size_t i = 0; i < nsecs; i++) {
        const tpk_section *s = &secs[i];
        if (s->kind != SEC_RECORDS) continue;
        if (s->codec != CODEC_STORED)
            return tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "a block of structured arrays is not stored");
        rec_block *b = &rs->blocks[rs->nblocks];
        b->data = file + s->offset;
        b->len = (size_t)s->stored_len;
        tp_cursor c = tp_cursor_make(b->data, b->len);
        b->first = tp_cursor_varint(&c);
        b->count = tp_cursor_varint_max(&c, b->len);
        if (c.bad || b->first != rs->count || !tp_add_ok(rs->count, b->count, &rs->count))
            return tp_fail(ctx, TP_E_TPK_CORRUPT, (int64_t)s->offset, "blocks of structured arrays are out of order");
        rs->nblocks++;
    }
    return TP_OK;
}

void tp_records_set_free(tp_records_set *rs)
{
    free(rs->blocks);
    tp_buf_free(&rs->bytes);
    free(rs->starts);
    memset(rs, 0, sizeof *rs);
    rs->cur = SIZE_MAX;
}

tp_code tp_records_bytes(tp_ctx *ctx, tp_records_set *rs, uint64_t index, uint64_t *budget, const uint8_t **p,
                         size_t *len)
{
    size_t b = 0;
    while (b < rs->nblocks && index >= rs->blocks[b].first + rs->blocks[b].count) b++;
    if (b == rs->nblocks)
        return tp_fail(ctx, TP_E_TPK_CORRUPT, -1, "structured array %llu is in no block", (unsigned long long)index);
    if (rs->cur != b) {
        free(rs->starts);
        rs->starts = NULL;
        rs->cur = SIZE_MAX;
        uint64_t first, count;
        tp_code rc = decode_block(ctx, rs->blocks[b].data, rs->blocks[b].len, budget, &first, &count, &rs->bytes,
                                  &rs->starts);
        if (rc) return rc;
        if (first != rs->blocks[b].first || count != rs->blocks[b].count)
            return tp_fail(ctx, TP_E_TPK_CORRUPT, -1, "a block of structured arrays miscounts its arrays");
        rs->cur = b;
    }
    uint64_t k = index - rs->blocks[b].first;
    *p = rs->bytes.data + rs->starts[k];
    *len = (size_t)(rs->starts[k + 1] - rs->starts[k]);
    return TP_OK;
}

void tp_records_sizes(const tp_records_set *rs, uint64_t *raw, uint64_t *stored)
{
    for (size_t b = 0; b < rs->nblocks; b++) {
        tp_cursor c = tp_cursor_make(rs->blocks[b].data, rs->blocks[b].len);
        tp_cursor_varint(&c);
        tp_cursor_varint(&c);
        uint64_t stream_bytes = tp_cursor_varint(&c);
        if (!c.bad) *raw += stream_bytes;
        *stored += rs->blocks[b].len;
    }
}

tp_code tp_records_write(tp_ctx *ctx, tpk_writer *w, const uint8_t *in, const tp_found_records *recs, size_t n,
                         int level, uint64_t *lzma_budget, uint64_t *nsec, uint64_t *raw, uint64_t *stored)
{
    tp_buf block = {0};
    tp_code rc = TP_OK;
    for (size_t first = 0; first < n && !rc;) {
        /* a block: consecutive arrays with the first one's layout */
        size_t count = 0;
        uint64_t bytes = 0;
        uint64_t stream_bytes = 0;
        while (first + count < n && bytes < REC_BLOCK_TARGET &&
               memcmp(&recs[first + count].layout, &recs[first].layout, sizeof(rec_layout)) == 0) {
            stream_bytes += recs[first + count].arr.data_len;
            bytes += recs[first + count++].arr.nbytes;
        }
        block.len = 0;
        if ((rc = tp_records_encode(ctx, in, recs, first, count, level, lzma_budget, &block))) break;
        rc = tpk_write_section(w, SEC_RECORDS, SEC_REQUIRED, CODEC_STORED, block.data, block.len, block.len);
        (*nsec)++;
        *raw += stream_bytes;
        *stored += block.len;
        first += count;
    }
    tp_buf_free(&block);
    return rc;
}
