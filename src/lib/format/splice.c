/*
 * splice.c - (de)serialise the splice table.
 */
#include <stdlib.h>

#include "base/cursor.h"
#include "numpy/npy.h"
#include "format/splice.h"

void splices_write(const splice_entry *s, size_t n, bytebuf *out)
{
    bytebuf_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        bytebuf_varint(out, s[i].gap);
        bytebuf_varint(out, s[i].tree);
        bytebuf_u8(out, s[i].which);
        bytebuf_u8(out, s[i].payload);
        bytebuf_varint(out, s[i].stream_len);
    }
}

tp_code splices_read(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t total_len, uint64_t ntrees,
                        uint64_t nrecords, uint64_t nvocabs, splice_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    cursor c = cursor_make(data, len);
    /* each entry takes at least 5 bytes: bound the count by the data */
    uint64_t count = cursor_varint_max(&c, len / 5);
    if (c.bad) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the splice table is malformed");
    splice_entry *s = calloc(count ? (size_t)count : 1, sizeof *s);
    if (!s) return ctx_fail(ctx, TP_E_NOMEM, -1, "splice table");
    uint64_t pos = 0;
    for (uint64_t i = 0; i < count; i++) {
        s[i].gap = cursor_varint(&c);
        s[i].tree = cursor_varint(&c);
        s[i].which = cursor_u8(&c);
        s[i].payload = cursor_u8(&c);
        s[i].stream_len = cursor_varint(&c);
        uint64_t bound = s[i].which == SPLICE_RECORDS ? nrecords : s[i].which == SPLICE_VOCAB ? nvocabs : ntrees;
        if (c.bad || s[i].tree >= bound || s[i].which > SPLICE_VOCAB || s[i].payload > PAY_MAX ||
            (s[i].which == SPLICE_VOCAB && s[i].payload != PAY_RAW) ||
            !add_ok(pos, s[i].gap, &pos) || !add_ok(pos, s[i].stream_len, &pos) || pos > total_len) {
            free(s);
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "splice %llu is malformed", (unsigned long long)i);
        }
    }
    if (cursor_left(&c)) {
        free(s);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the splice table has trailing bytes");
    }
    *out = s;
    *n = (size_t)count;
    return TP_OK;
}
