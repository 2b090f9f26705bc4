/*
 * splice.c - (de)serialise the splice table.
 */
#include <stdlib.h>

#include "base/cursor.h"
#include "numpy/npy.h"
#include "format/splice.h"

size_t splice_memo_arg(uint8_t op, uint64_t idx, uint8_t out[SPLICE_MEMO_ARG_MAX])
{
    switch (op) {
    case OP_BINPUT:
        if (idx > 0xff) return 0;
        out[0] = (uint8_t)idx;
        return 1;
    case OP_LONG_BINPUT:
        if (idx > 0xffffffffu) return 0;
        for (int k = 0; k < 4; k++) out[k] = (uint8_t)(idx >> (8 * k));
        return 4;
    case OP_PUT: {
        uint8_t digits[20];
        size_t n = 0;
        do digits[n++] = (uint8_t)('0' + idx % 10);
        while (idx /= 10);
        for (size_t k = 0; k < n; k++) out[k] = digits[n - 1 - k];
        out[n] = '\n';
        return n + 1;
    }
    default: return 0;
    }
}

void splices_write(const splice_entry *s, size_t n, bytebuf *out, bytebuf *memo)
{
    size_t nmemo = 0;
    for (size_t i = 0; i < n; i++) nmemo += s[i].which == SPLICE_MEMO;
    bytebuf_varint(out, n - nmemo);
    uint64_t skel = 0; /* skeleton bytes since the last entry of the table */
    for (size_t i = 0; i < n; i++) {
        skel += s[i].gap;
        if (s[i].which == SPLICE_MEMO) continue;
        bytebuf_varint(out, skel);
        bytebuf_varint(out, s[i].tree);
        bytebuf_u8(out, s[i].which);
        bytebuf_u8(out, s[i].payload);
        bytebuf_varint(out, s[i].stream_len);
        skel = 0;
    }
    if (!nmemo) return;
    /* columns: where, then the opcodes, then the index steps */
    bytebuf_varint(memo, nmemo);
    skel = 0;
    for (size_t i = 0; i < n; i++) {
        skel += s[i].gap;
        if (s[i].which != SPLICE_MEMO) continue;
        bytebuf_varint(memo, skel);
        skel = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i].which == SPLICE_MEMO) bytebuf_u8(memo, s[i].payload);
    uint64_t next = 0; /* one more than the index before */
    for (size_t i = 0; i < n; i++)
        if (s[i].which == SPLICE_MEMO) {
            bytebuf_varint(memo, s[i].tree - next);
            next = s[i].tree + 1;
        }
}

/* The memo table (splices_write) into *out, count entries, each gap the
 * skeleton bytes since the memo entry before. */
static tp_code memo_read(tp_ctx *ctx, const uint8_t *data, size_t len, splice_entry **out, size_t *count)
{
    cursor c = cursor_make(data, len);
    /* each entry takes at least 3 bytes: bound the count by the data */
    uint64_t n = len ? cursor_varint_max(&c, len / 3) : 0;
    splice_entry *m = c.bad ? NULL : calloc(n ? (size_t)n : 1, sizeof *m);
    if (!m) return c.bad ? ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the memo table is malformed")
                         : ctx_fail(ctx, TP_E_NOMEM, -1, "memo table");
    for (uint64_t k = 0; k < n; k++) m[k] = (splice_entry){.gap = cursor_varint(&c), .which = SPLICE_MEMO};
    for (uint64_t k = 0; k < n; k++) m[k].payload = cursor_u8(&c);
    uint64_t next = 0;
    for (uint64_t k = 0; k < n && !c.bad; k++) {
        uint8_t arg[SPLICE_MEMO_ARG_MAX];
        uint64_t step = cursor_varint(&c);
        if (!add_ok(next, step, &m[k].tree) || m[k].tree == UINT64_MAX ||
            !(m[k].stream_len = splice_memo_arg(m[k].payload, m[k].tree, arg))) {
            free(m);
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "memo entry %llu is malformed", (unsigned long long)k);
        }
        next = m[k].tree + 1;
    }
    if (c.bad || cursor_left(&c)) {
        free(m);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the memo table is malformed");
    }
    *out = m;
    *count = (size_t)n;
    return TP_OK;
}

tp_code splices_read(tp_ctx *ctx, const uint8_t *data, size_t len, const uint8_t *memo, size_t memo_len,
                     uint64_t total_len, uint64_t ntrees, uint64_t nrecords, uint64_t nvocabs, splice_entry **out,
                     size_t *n)
{
    *out = NULL;
    *n = 0;
    splice_entry *m = NULL;
    size_t nm = 0;
    tp_code rc = memo_read(ctx, memo, memo_len, &m, &nm);
    if (rc) return rc;
    cursor c = cursor_make(data, len);
    /* each entry takes at least 5 bytes: bound the count by the data */
    uint64_t count = len ? cursor_varint_max(&c, len / 5) : 0;
    if (c.bad) {
        free(m);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the splice table is malformed");
    }
    splice_entry *s = calloc((size_t)count + nm + 1, sizeof *s);
    if (!s) {
        free(m);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "splice table");
    }
    /* the two lists merged by where they go among the skeleton's bytes
     * (a memo entry first where both go at the same place); each gap made
     * relative to the entry before in the merged list */
    uint64_t pos = 0, skel = 0, at_main = 0, at_memo = nm ? m[0].gap : 0;
    size_t k = 0, j = 0;
    splice_entry held = {0}; /* the next entry of the table, at at_main */
    bool have = false;
    for (uint64_t i = 0; i < count + nm; i++) {
        if (!have && k < count) {
            held.gap = cursor_varint(&c);
            held.tree = cursor_varint(&c);
            held.which = cursor_u8(&c);
            held.payload = cursor_u8(&c);
            held.stream_len = cursor_varint(&c);
            uint64_t bound = held.which == SPLICE_RECORDS ? nrecords : held.which == SPLICE_VOCAB ? nvocabs : ntrees;
            if (c.bad || held.tree >= bound || held.which > SPLICE_VOCAB || held.payload > PAY_MAX ||
                (held.which == SPLICE_VOCAB && held.payload != PAY_RAW) || !add_ok(at_main, held.gap, &at_main)) {
                free(s), free(m);
                return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "splice %zu is malformed", k);
            }
            have = true;
        }
        splice_entry e;
        if (have && (j == nm || at_main < at_memo)) {
            e = held;
            e.gap = at_main - skel;
            skel = at_main;
            have = false;
            k++;
        } else {
            e = m[j];
            e.gap = at_memo - skel;
            skel = at_memo;
            if (++j < nm && !add_ok(at_memo, m[j].gap, &at_memo)) at_memo = UINT64_MAX;
        }
        if (at_memo == UINT64_MAX || !add_ok(pos, e.gap, &pos) || !add_ok(pos, e.stream_len, &pos) ||
            pos > total_len) {
            free(s), free(m);
            return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "splice %llu is malformed", (unsigned long long)i);
        }
        s[i] = e;
    }
    free(m);
    if (cursor_left(&c)) {
        free(s);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the splice table has trailing bytes");
    }
    *out = s;
    *n = (size_t)(count + nm);
    return TP_OK;
}
