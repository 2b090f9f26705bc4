/*
 * vocab.c - vocabularies: find them, describe them by a model, regenerate
 * their bytes, sort them.  How they are stored: codec/vocab_section.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "numpy/joblib.h"
#include "numpy/npy.h"
#include "sklearn/vocab.h"

void vocab_free(vocabulary *v)
{
    free(v->text);
    free(v->toff);
    free(v->ids);
    free(v->raw);
    free(v->rawbuf);
    free(v->gets);
    free(v->frames);
    free(v->batches);
    memset(v, 0, sizeof *v);
}

void found_vocabs_free(found_vocab *f, size_t n)
{
    for (size_t i = 0; i < n; i++) vocab_free(&f[i].v);
    free(f);
}

/* ---- opcodes as the picklers write them ---------------------------------- */

static uint8_t closer_multi(uint8_t kind)
{
    return kind == VOCAB_DICT ? OP_SETITEMS : kind == VOCAB_SET ? OP_ADDITEMS : OP_APPENDS;
}
static uint8_t closer_single(uint8_t kind)
{
    return kind == VOCAB_DICT ? OP_SETITEM : kind == VOCAB_LIST ? OP_APPEND : 0;
}
static uint8_t empty_op(uint8_t kind)
{
    return kind == VOCAB_DICT ? OP_EMPTY_DICT : kind == VOCAB_SET ? OP_EMPTY_SET : OP_EMPTY_LIST;
}

/* The opcode CPython writes for an int (protocol 1+), or 0 when it takes
 * LONG1 (left to raw items). */
static uint8_t int_op(int64_t v)
{
    if (v >= 0 && v <= 0xff) return OP_BININT1;
    if (v >= 0 && v <= 0xffff) return OP_BININT2;
    if (v >= INT32_MIN && v <= INT32_MAX) return OP_BININT;
    return 0;
}

typedef struct gen {
    bytebuf *out;
    size_t base;
    uint64_t limit;        /* bytes the range may take */
    const vocabulary *v;
    size_t fi;
    uint64_t memo_next;
    bool over;
} gen;

static size_t g_len(const gen *g) { return g->out->len - g->base; }

static void g_frames(gen *g)
{
    const vocabulary *v = g->v;
    while (g->fi < v->nframes && v->frames[g->fi].off == g_len(g)) {
        uint8_t f[9] = {OP_FRAME};
        store_le64(f + 1, v->frames[g->fi].len);
        bytebuf_append(g->out, f, 9);
        g->fi++;
    }
}

static void g_bytes(gen *g, const void *p, size_t n)
{
    g_frames(g);
    if (n > g->limit || g_len(g) > g->limit - n) {
        g->over = true;
        return;
    }
    bytebuf_append(g->out, p, n);
}

static void g_u8(gen *g, uint8_t b) { g_bytes(g, &b, 1); }

static void g_put(gen *g)
{
    if (g->v->flags & VF_MEMOIZE) {
        g_u8(g, OP_MEMOIZE);
    } else if (g->memo_next < 256) {
        uint8_t b[2] = {OP_BINPUT, (uint8_t)g->memo_next};
        g_bytes(g, b, 2);
    } else if (g->memo_next <= UINT32_MAX) {
        uint8_t b[5] = {OP_LONG_BINPUT};
        store_le32(b + 1, (uint32_t)g->memo_next);
        g_bytes(g, b, 5);
    } else {
        g->over = true;
    }
    g->memo_next++;
}

static void put_get(uint8_t *b, size_t *n, uint64_t idx)
{
    if (idx < 256) {
        b[0] = OP_BINGET, b[1] = (uint8_t)idx, *n = 2;
    } else {
        b[0] = OP_LONG_BINGET, store_le32(b + 1, (uint32_t)idx), *n = 5;
    }
}

static void g_get(gen *g, uint64_t idx)
{
    uint8_t b[5];
    size_t n;
    if (idx > UINT32_MAX) {
        g->over = true;
        return;
    }
    put_get(b, &n, idx);
    g_bytes(g, b, n);
}

/* str: SHORT_BINUNICODE (protocol 4+, < 256 bytes), BINUNICODE, BINUNICODE8 */
static void g_str(gen *g, const uint8_t *t, uint64_t n)
{
    uint8_t h[9];
    size_t hn;
    bool p4 = g->v->flags & VF_MEMOIZE;
    if (p4 && n < 256) {
        h[0] = OP_SHORT_BINUNICODE, h[1] = (uint8_t)n, hn = 2;
    } else if (n <= UINT32_MAX) {
        h[0] = OP_BINUNICODE, store_le32(h + 1, (uint32_t)n), hn = 5;
    } else if (p4) {
        h[0] = OP_BINUNICODE8, store_le64(h + 1, n), hn = 9;
    } else {
        g->over = true;
        return;
    }
    g_frames(g);
    if (n + hn > g->limit || g_len(g) > g->limit - n - hn) {
        g->over = true;
        return;
    }
    bytebuf_append(g->out, h, hn);
    bytebuf_append(g->out, t, (size_t)n);
}

static void g_int(gen *g, int64_t v)
{
    uint8_t b[5];
    switch (int_op(v)) {
    case OP_BININT1: b[0] = OP_BININT1, b[1] = (uint8_t)v; g_bytes(g, b, 2); break;
    case OP_BININT2: b[0] = OP_BININT2, store_le16(b + 1, (uint16_t)v); g_bytes(g, b, 3); break;
    case OP_BININT: b[0] = OP_BININT, store_le32(b + 1, (uint32_t)(int32_t)v); g_bytes(g, b, 5); break;
    default: g->over = true;
    }
}

/* numpy.core.multiarray.scalar(dtype('int64'), <8 bytes>) with the global
 * and the dtype already in the memo (4 bytes for int32, VF_NUMPY4). */
static void g_numpy(gen *g, int64_t v)
{
    const vocabulary *voc = g->v;
    const size_t width = voc->flags & VF_NUMPY4 ? 4 : 8;
    uint8_t raw[8];
    store_le64(raw, (uint64_t)v);
    if (width == 4 && (v < INT32_MIN || v > INT32_MAX)) g->over = true; /* no such id in an int32 scalar */
    g_get(g, voc->np_scalar);
    g_get(g, voc->np_dtype);
    if (voc->flags & VF_NUMPY_CODECS) {
        /* _codecs.encode(<latin-1 text as UTF-8>, 'latin1') */
        g_get(g, voc->np_encode);
        uint8_t t[5 + 16];
        size_t tn = npy_latin1_encode(raw, width, t + 5);
        t[0] = OP_BINUNICODE;
        store_le32(t + 1, (uint32_t)tn);
        g_bytes(g, t, 5 + tn);
        g_put(g);
        g_get(g, voc->np_latin1);
        g_u8(g, OP_TUPLE2);
        g_put(g);
        g_u8(g, OP_REDUCE);
        g_put(g);
    } else {
        uint8_t t[10] = {OP_SHORT_BINBYTES, (uint8_t)width};
        memcpy(t + 2, raw, width);
        g_bytes(g, t, 2 + width);
        g_put(g);
    }
    g_u8(g, OP_TUPLE2);
    g_put(g);
    g_u8(g, OP_REDUCE);
    g_put(g);
}

/* stream_len 0: not known yet (a model being changed), no bound. */
static tp_code gen_run(tp_ctx *ctx, const vocabulary *v, bytebuf *out, uint64_t *memo_end)
{
    gen g = {.out = out, .base = out->len, .limit = v->stream_len ? v->stream_len : UINT64_MAX, .v = v,
             .memo_next = v->memo_first};
    g_u8(&g, empty_op(v->kind));
    g_put(&g);
    for (uint64_t i = 0; i < v->filler && !g.over; i++) g_put(&g);
    uint64_t pos = 0, li = 0;
    size_t ri = 0, gi = 0;
    for (size_t b = 0; b < v->nbatches && !g.over; b++) {
        const vocab_batch *bt = &v->batches[b];
        if (!bt->single) g_u8(&g, OP_MARK);
        for (uint64_t k = 0; k < bt->count && !g.over; k++, pos++) {
            if (ri < v->nraw && v->raw[ri].pos == pos) {
                g_bytes(&g, v->rawbuf + v->raw[ri].blob_off, (size_t)v->raw[ri].blob_len);
                g.memo_next += v->raw[ri].puts;
                ri++;
                continue;
            }
            if (li >= v->nlisted) {
                g.over = true;
                break;
            }
            if (gi < v->ngets && v->gets[gi].pos == pos) {
                g_get(&g, v->gets[gi].memo);
                gi++;
            } else {
                g_str(&g, v->text + v->toff[li], v->toff[li + 1] - v->toff[li]);
                g_put(&g);
            }
            if (v->kind == VOCAB_DICT) {
                if (v->flags & VF_NUMPY) g_numpy(&g, v->ids[li]);
                else g_int(&g, v->ids[li]);
            }
            li++;
        }
        g_u8(&g, bt->single ? closer_single(v->kind) : closer_multi(v->kind));
    }
    if (out->failed) return ctx_fail(ctx, TP_E_NOMEM, -1, "vocabulary buffer");
    if (g.over || pos != v->n || li != v->nlisted || ri != v->nraw || gi != v->ngets || g.fi != v->nframes ||
        (v->stream_len && g_len(&g) != v->stream_len))
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "a vocabulary does not add up to its %llu bytes",
                       (unsigned long long)v->stream_len);
    if (memo_end) *memo_end = g.memo_next;
    return TP_OK;
}

tp_code vocab_generate(tp_ctx *ctx, const vocabulary *v, bytebuf *out)
{
    if (!v->stream_len) return ctx_fail(ctx, TP_E_INTERNAL, -1, "a vocabulary without its length");
    return gen_run(ctx, v, out, NULL);
}

static tp_code settle_length(tp_ctx *ctx, vocabulary *v, uint64_t *memo_end)
{
    bytebuf b = {0};
    v->stream_len = 0;
    tp_code rc = gen_run(ctx, v, &b, memo_end);
    v->stream_len = b.len;
    bytebuf_free(&b);
    return rc;
}

tp_code vocab_unframe(tp_ctx *ctx, vocabulary *v)
{
    v->nframes = 0;
    return settle_length(ctx, v, NULL);
}

tp_code vocab_empty(tp_ctx *ctx, vocabulary *v)
{
    uint64_t memo_end = 0;
    v->nframes = 0;
    tp_code rc = settle_length(ctx, v, &memo_end);
    if (rc) return rc;
    v->filler = memo_end - v->memo_first - 1;
    v->n = v->nlisted = 0;
    v->nraw = v->ngets = v->nbatches = 0;
    v->rawbuf_len = 0;
    return settle_length(ctx, v, NULL);
}

/* ---- parsing a range into a model ---------------------------------------- */

typedef struct parser {
    const uint8_t *d;
    size_t len;
    size_t c;
    size_t start;
    vocab_frame *frames;
    size_t nframes, fcap;
    bool oom;
} parser;

static bool p_decode(const parser *p, size_t at, pickle_op *op)
{
    tp_ctx scratch;
    ctx_reset(&scratch);
    return at < p->len && op_decode(&scratch, p->d, p->len, at, op) == TP_OK;
}

/* Pass FRAME opcodes at the cursor, recording them (or not). */
static bool p_frames(parser *p, bool record)
{
    pickle_op op;
    while (p_decode(p, p->c, &op) && op.info->code == OP_FRAME) {
        if (record) {
            vocab_frame f = {op.offset - p->start, (uint64_t)op.ival};
            if (!array_push((void **)&p->frames, &p->nframes, &p->fcap, &f, sizeof f)) {
                p->oom = true;
                return false;
            }
        }
        p->c = (size_t)op.end;
    }
    return true;
}

static bool p_next(parser *p, pickle_op *op)
{
    if (!p_frames(p, true) || !p_decode(p, p->c, op)) return false;
    p->c = (size_t)op->end;
    return true;
}

static bool p_peek(const parser *p, pickle_op *op)
{
    parser q = *p;
    return p_frames(&q, false) && p_decode(&q, q.c, op);
}

static bool is_put(const pickle_op *op)
{
    uint8_t c = op->info->code;
    return c == OP_MEMOIZE || c == OP_BINPUT || c == OP_LONG_BINPUT;
}

static bool is_get(const pickle_op *op) { return op->info->code == OP_BINGET || op->info->code == OP_LONG_BINGET; }

static bool canon_put(uint8_t flags, const pickle_op *op, uint64_t memo_next)
{
    if (flags & VF_MEMOIZE) return op->info->code == OP_MEMOIZE;
    if ((uint64_t)op->ival != memo_next) return false;
    return op->info->code == (memo_next < 256 ? OP_BINPUT : OP_LONG_BINPUT);
}

static bool canon_get(const pickle_op *op)
{
    return op->ival >= 0 && op->info->code == ((uint64_t)op->ival < 256 ? OP_BINGET : OP_LONG_BINGET);
}

static bool is_str(const pickle_op *op)
{
    uint8_t c = op->info->code;
    return c == OP_SHORT_BINUNICODE || c == OP_BINUNICODE || c == OP_BINUNICODE8;
}

static bool canon_str(uint8_t flags, const pickle_op *op)
{
    uint8_t want = (flags & VF_MEMOIZE) && op->size < 256 ? OP_SHORT_BINUNICODE
                   : op->size <= UINT32_MAX                ? OP_BINUNICODE
                                                           : OP_BINUNICODE8;
    return op->info->code == want;
}

/* Pass the ops of one value whose last op the interpreter knows (what
 * made it), and the memo puts after it, counting puts. */
static bool pass_value(parser *p, const pv_vm *vm, pv val, uint64_t *puts)
{
    pickle_op op;
    uint64_t end;
    if (!p_decode(p, p->c, &op)) return false;
    while (op.info->code == OP_FRAME) {
        p->c = (size_t)op.end;
        if (!p_decode(p, p->c, &op)) return false;
    }
    const pv_obj *o = pv_obj_of(vm, val);
    if (o) {
        uint64_t last = o->builds ? o->build_offset : o->offset;
        if (last < p->c || !p_decode(p, (size_t)last, &op)) return false;
        end = op.end;
    } else if (val.kind == PV_INT || val.kind == PV_BOOL || val.kind == PV_NONE || val.kind == PV_FLOAT ||
               val.kind == PV_BIGINT || val.kind == PV_STR || val.kind == PV_BYTES) {
        if (op.info->mark || op.info->pops || op.info->pushes != 1) return false;
        end = op.end;
    } else {
        return false; /* a container: where it ends is not recorded */
    }
    while (p->c < end) {
        if (!p_decode(p, p->c, &op) || op.end > end) return false;
        if (op.info->code == OP_STOP || op.info->code == OP_PROTO) return false;
        if (is_put(&op)) (*puts)++;
        p->c = (size_t)op.end;
    }
    while (p_decode(p, p->c, &op) && is_put(&op)) {
        (*puts)++;
        p->c = (size_t)op.end;
    }
    return true;
}

/* A numpy int64 scalar: scalar(dtype('<i8'), 8 bytes), the bytes as such
 * or as _codecs.encode(text, 'latin1'). */
static bool scalar_int(const pv_vm *vm, pv v, int64_t *out)
{
    const pv_obj *o = pv_obj_of(vm, v);
    if (!o || o->how != HOW_REDUCE || o->builds ||
        !pv_is_global(vm, o->callable, "numpy.core.multiarray|numpy._core.multiarray", "scalar"))
        return false;
    const pv_seq *a = pv_seq_of(vm, o->args);
    npy_dtype dt;
    if (!a || a->kind != PV_TUPLE || a->n != 2 || !npy_dtype_parse(vm, a->items[0], &dt) || dt.nfields ||
        dt.base.kind != 'i' || (dt.base.size != 8 && dt.base.size != 4) || dt.base.big)
        return false;
    const size_t width = dt.base.size;
    uint8_t raw[8];
    pv b = a->items[1];
    if (b.kind == PV_BYTES && b.n == width) {
        memcpy(raw, vm->data + b.a, width);
    } else {
        const pv_obj *e = pv_obj_of(vm, b);
        const pv_seq *ea = e ? pv_seq_of(vm, e->args) : NULL;
        if (!e || e->how != HOW_REDUCE || e->builds || !pv_is_global(vm, e->callable, "_codecs", "encode") || !ea ||
            ea->n != 2 || ea->items[0].kind != PV_STR || ea->items[0].enc != ENC_UTF8 ||
            !pv_text_eq(vm, ea->items[1], "latin1") ||
            !npy_latin1_decode(vm->data + ea->items[0].a, (size_t)ea->items[0].n, raw, width))
            return false;
    }
    *out = width == 8 ? (int64_t)load_le64(raw) : (int64_t)(int32_t)load_le32(raw);
    return true;
}

typedef struct builder {
    vocabulary v;
    size_t textcap, toffcap, idcap, rawcap, rawbufcap, getcap, batchcap;
    size_t ntext;
    uint64_t memo_next;
    bool np_known;
    bool oom;
} builder;

static bool b_text(builder *b, const uint8_t *t, size_t n)
{
    if (b->ntext + n > b->textcap) {
        size_t nc = b->textcap ? b->textcap : 4096;
        while (nc < b->ntext + n) nc *= 2;
        uint8_t *p = realloc(b->v.text, nc);
        if (!p) return false;
        b->v.text = p;
        b->textcap = nc;
    }
    if (n) memcpy(b->v.text + b->ntext, t, n);
    b->ntext += n;
    return true;
}

static bool b_listed(builder *b, const uint8_t *t, size_t n, int64_t id)
{
    if (!b->v.nlisted) {
        uint64_t z = 0;
        size_t cnt = 0;
        if (!array_push((void **)&b->v.toff, &cnt, &b->toffcap, &z, sizeof z)) return false;
    }
    size_t cnt = (size_t)b->v.nlisted + 1;
    if (!b_text(b, t, n)) return false;
    uint64_t end = b->ntext;
    if (!array_push((void **)&b->v.toff, &cnt, &b->toffcap, &end, sizeof end)) return false;
    size_t ni = (size_t)b->v.nlisted;
    if (b->v.kind == VOCAB_DICT && !array_push((void **)&b->v.ids, &ni, &b->idcap, &id, sizeof id)) return false;
    b->v.nlisted++;
    return true;
}

static bool b_rawbytes(builder *b, const uint8_t *t, size_t n, uint64_t *off)
{
    if (b->v.rawbuf_len + n > b->rawbufcap) {
        size_t nc = b->rawbufcap ? b->rawbufcap : 1024;
        while (nc < b->v.rawbuf_len + n) nc *= 2;
        uint8_t *p = realloc(b->v.rawbuf, nc);
        if (!p) return false;
        b->v.rawbuf = p;
        b->rawbufcap = nc;
    }
    *off = b->v.rawbuf_len;
    if (n) memcpy(b->v.rawbuf + b->v.rawbuf_len, t, n);
    b->v.rawbuf_len += n;
    return true;
}

/* Learn the memo indices a numpy id refers to from the first value that
 * GETs both the global and the dtype. */
static void learn_numpy(parser *p, builder *b, size_t at)
{
    pickle_op o[4];
    size_t c = at;
    for (int i = 0; i < 4; i++) {
        if (!p_decode(p, c, &o[i])) return;
        c = (size_t)o[i].end;
    }
    if (!is_get(&o[0]) || !is_get(&o[1])) return;
    b->v.np_scalar = (uint64_t)o[0].ival;
    b->v.np_dtype = (uint64_t)o[1].ival;
    if (o[2].info->code == OP_SHORT_BINBYTES && (o[2].size == 8 || o[2].size == 4)) {
        b->v.flags |= VF_NUMPY | (o[2].size == 4 ? VF_NUMPY4 : 0);
        b->np_known = true;
        return;
    }
    if (!is_get(&o[2]) || o[3].info->code != OP_BINUNICODE) return;
    /* latin-1 text of 4 bytes is 4 to 8 bytes of UTF-8, of 8 bytes 8 to 16 */
    if (o[3].size < 8) b->v.flags |= VF_NUMPY4;
    pickle_op put, l;
    if (!p_decode(p, c, &put) || !is_put(&put) || !p_decode(p, (size_t)put.end, &l) || !is_get(&l)) return;
    b->v.np_encode = (uint64_t)o[2].ival;
    b->v.np_latin1 = (uint64_t)l.ival;
    b->v.flags |= VF_NUMPY | VF_NUMPY_CODECS;
    b->np_known = true;
}

/* One item: returns false when the range is no vocabulary after all. */
static bool parse_item(parser *p, builder *b, const pv_vm *vm, uint64_t pos, pv key, pv val)
{
    const uint8_t *term;
    size_t tlen;
    if (key.kind != PV_STR || !pv_text(vm, key, &term, &tlen)) return false;
    if (!p_frames(p, true)) return false;
    size_t item_start = p->c, frames_at = p->nframes;
    uint64_t memo_at = b->memo_next;
    bool canon = true;
    int64_t keyget = -1, id = 0;
    pickle_op op;
    if (!p_next(p, &op)) return false;
    if (is_str(&op) && op.data == key.a) {
        pickle_op put;
        canon = canon_str(b->v.flags, &op) && p_next(p, &put) && is_put(&put) && canon_put(b->v.flags, &put, b->memo_next);
        b->memo_next++;
    } else if (is_get(&op) && canon_get(&op)) {
        keyget = op.ival;
    } else {
        canon = false;
    }
    if (canon && b->v.kind == VOCAB_DICT) {
        if (!p_frames(p, true)) return false;
        size_t vstart = p->c;
        if (!p_next(p, &op)) return false;
        uint8_t code = op.info->code;
        if ((code == OP_BININT1 || code == OP_BININT2 || code == OP_BININT) && !(b->v.flags & VF_NUMPY)) {
            int64_t x;
            canon = pv_int(val, &x) && x == op.ival && int_op(x) == code;
            id = op.ival;
        } else if (is_get(&op) && scalar_int(vm, val, &id) && (b->np_known || b->v.nlisted == 0)) {
            if (!b->np_known) learn_numpy(p, b, vstart);
            p->c = vstart;
            uint64_t puts = 0;
            canon = b->np_known && pass_value(p, vm, val, &puts);
            if (canon) {
                bytebuf tmp = {0};
                gen g = {.out = &tmp, .limit = UINT64_MAX, .v = &b->v, .fi = b->v.nframes, .memo_next = b->memo_next};
                g_numpy(&g, id);
                canon = !g.over && !tmp.failed && tmp.len == p->c - vstart && memcmp(tmp.data, p->d + vstart, tmp.len) == 0;
                if (canon) b->memo_next = g.memo_next;
                bytebuf_free(&tmp);
            }
        } else {
            canon = false;
        }
    }
    if (!canon) {
        p->c = item_start;
        p->nframes = frames_at;
        b->memo_next = memo_at;
        vocab_raw r = {.pos = pos};
        if (!pass_value(p, vm, key, &r.puts) || (b->v.kind == VOCAB_DICT && !pass_value(p, vm, val, &r.puts)))
            return false;
        r.blob_len = p->c - item_start;
        r.term_len = tlen;
        if (!b_rawbytes(b, p->d + item_start, (size_t)r.blob_len, &r.blob_off) ||
            !b_rawbytes(b, term, tlen, &r.term_off) ||
            !array_push((void **)&b->v.raw, &b->v.nraw, &b->rawcap, &r, sizeof r)) {
            b->oom = true;
            return false;
        }
        b->memo_next += r.puts;
        return true;
    }
    if (keyget >= 0) {
        vocab_get gt = {pos, (uint64_t)keyget};
        if (!array_push((void **)&b->v.gets, &b->v.ngets, &b->getcap, &gt, sizeof gt)) {
            b->oom = true;
            return false;
        }
    }
    if (!b_listed(b, term, tlen, id)) {
        b->oom = true;
        return false;
    }
    return true;
}

static bool add_batch(builder *b, uint64_t count, uint8_t single)
{
    vocab_batch bt = {count, single};
    if (!array_push((void **)&b->v.batches, &b->v.nbatches, &b->batchcap, &bt, sizeof bt)) {
        b->oom = true;
        return false;
    }
    return true;
}

/* Parse the range of the container `seq` (kind VOCAB_*), whose items the
 * interpreter recorded; on success *v owns the model and *end is where
 * the range ends. */
static bool parse_range(const pv_vm *vm, const pv_seq *seq, uint8_t kind, const uint8_t *d, size_t len, vocabulary *out,
                        bool *oom)
{
    parser p = {.d = d, .len = len, .c = (size_t)seq->offset, .start = (size_t)seq->offset};
    builder b;
    memset(&b, 0, sizeof b);
    b.v.kind = kind;
    uint64_t n = kind == VOCAB_DICT ? seq->n / 2 : seq->n;
    bool ok = false;
    pickle_op op, put;
    if (!p_next(&p, &op) || op.info->code != empty_op(kind) || !p_next(&p, &put) || !is_put(&put)) goto done;
    if (put.info->code == OP_MEMOIZE) {
        b.v.flags |= VF_MEMOIZE;
        b.memo_next = seq->memo_at;
    } else {
        b.memo_next = (uint64_t)put.ival;
        b.v.memo_first = b.memo_next;
        if (!canon_put(0, &put, b.memo_next)) goto done;
    }
    b.v.memo_first = b.memo_next;
    b.memo_next++;
    /* a stripped container: puts that keep the memo numbering */
    while (p_peek(&p, &op) && is_put(&op) && canon_put(b.v.flags, &op, b.memo_next)) {
        p_next(&p, &op);
        b.v.filler++;
        b.memo_next++;
    }
    uint64_t items = 0;
    while (items < n) {
        if (!p_peek(&p, &op)) goto done;
        if (op.info->code == OP_MARK) {
            p_next(&p, &op);
            uint64_t count = 0;
            for (;;) {
                if (!p_peek(&p, &op)) goto done;
                if (op.info->code == closer_multi(kind)) {
                    p_next(&p, &op);
                    break;
                }
                if (items >= n) goto done;
                const pv *it = &seq->items[kind == VOCAB_DICT ? 2 * items : items];
                if (!parse_item(&p, &b, vm, items, it[0], kind == VOCAB_DICT ? it[1] : (pv){0})) goto done;
                items++;
                count++;
            }
            if (!add_batch(&b, count, 0)) goto done;
        } else if (closer_single(kind)) {
            const pv *it = &seq->items[kind == VOCAB_DICT ? 2 * items : items];
            if (!parse_item(&p, &b, vm, items, it[0], kind == VOCAB_DICT ? it[1] : (pv){0})) goto done;
            items++;
            if (!p_next(&p, &op) || op.info->code != closer_single(kind) || !add_batch(&b, 1, 1)) goto done;
        } else {
            goto done;
        }
    }
    /* CPython's C pickler ends a dict or set of a multiple of 1000 items
     * with an empty batch */
    {
        parser save = p;
        size_t nf = p.nframes;
        if (p_next(&p, &op) && op.info->code == OP_MARK && p_next(&p, &op) && op.info->code == closer_multi(kind)) {
            if (!add_batch(&b, 0, 0)) goto done;
        } else {
            p.c = save.c;
            p.nframes = nf;
        }
    }
    if (p.oom) goto done;
    b.v.n = n;
    b.v.frames = p.frames;
    b.v.nframes = p.nframes;
    p.frames = NULL;
    b.v.stream_len = p.c - p.start;
    if (n == 0 && b.v.filler == 0) goto done;
    if (!b.v.nlisted && !b.v.toff) {
        b.v.toff = calloc(1, sizeof *b.v.toff);
        if (!b.v.toff) goto done;
    }
    ok = true;
done:
    *oom = b.oom || p.oom;
    free(p.frames);
    if (ok) *out = b.v;
    else vocab_free(&b.v);
    return ok;
}

/* ---- finding vocabularies -------------------------------------------------- */

static const char *const known_modules = "sklearn.feature_extraction.text|sklearn.feature_extraction._dict_vectorizer|"
                                         "sklearn.feature_extraction.dict_vectorizer";

static bool owner_known(const pv_vm *vm, pv callable)
{
    return pv_is_global(vm, callable, known_modules, "CountVectorizer") ||
           pv_is_global(vm, callable, known_modules, "TfidfVectorizer") ||
           pv_is_global(vm, callable, known_modules, "DictVectorizer");
}

static bool sklearn_class(const pv_vm *vm, pv callable)
{
    const pv_global *g = pv_global_of(vm, callable);
    const uint8_t *m;
    size_t mn;
    return g && pv_text(vm, g->module, &m, &mn) && mn > 8 && memcmp(m, "sklearn.", 8) == 0;
}

/* The list inside set(list) (how protocols 1-3 write a set). */
static const pv_seq *set_list(const pv_vm *vm, pv v)
{
    const pv_obj *o = pv_obj_of(vm, v);
    if (!o || o->how != HOW_REDUCE || o->builds || !pv_is_global(vm, o->callable, "builtins|__builtin__", "set"))
        return NULL;
    const pv_seq *a = pv_seq_of(vm, o->args);
    if (!a || a->kind != PV_TUPLE || a->n != 1) return NULL;
    const pv_seq *l = pv_seq_of(vm, a->items[0]);
    return l && l->kind == PV_LIST ? l : NULL;
}

static int by_vocab_offset(const void *a, const void *b)
{
    const found_vocab *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

tp_code vocab_find(tp_ctx *ctx, const pv_vm *vm, const uint8_t *data, size_t len, found_vocab **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    found_vocab *f = NULL;
    size_t n = 0, cap = 0;
    static const struct {
        const char *attr;
        uint8_t role;
    } attrs[] = {{"vocabulary_", ROLE_VOCABULARY}, {"stop_words_", ROLE_STOP_WORDS}, {"feature_names_", ROLE_FEATURE_NAMES}};
    bytebuf regen = {0};
    for (size_t i = 0; i < vm->nobjs; i++) {
        const pv_obj *o = &vm->objs[i];
        if (o->how != HOW_NEWOBJ && o->how != HOW_REDUCE) continue;
        if (!sklearn_class(vm, o->callable)) continue;
        pv state = pv_state_dict(vm, o);
        if (state.kind != PV_DICT) continue;
        for (size_t a = 0; a < ARRAY_LEN(attrs); a++) {
            const pv *val = pv_dict_get(vm, state, attrs[a].attr);
            if (!val) continue;
            const pv_seq *seq = NULL;
            uint8_t kind;
            if (val->kind == PV_DICT && attrs[a].role == ROLE_VOCABULARY) {
                seq = pv_seq_of(vm, *val), kind = VOCAB_DICT;
            } else if (val->kind == PV_SET && attrs[a].role == ROLE_STOP_WORDS) {
                seq = pv_seq_of(vm, *val), kind = VOCAB_SET;
            } else if (val->kind == PV_LIST && attrs[a].role == ROLE_FEATURE_NAMES) {
                seq = pv_seq_of(vm, *val), kind = VOCAB_LIST;
            } else if (attrs[a].role == ROLE_STOP_WORDS && (seq = set_list(vm, *val))) {
                kind = VOCAB_LIST;
            }
            if (!seq) continue;
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++) dup = f[k].offset == seq->offset;
            if (dup) continue;
            found_vocab fv;
            memset(&fv, 0, sizeof fv);
            bool oom = false;
            if (!parse_range(vm, seq, kind, data, len, &fv.v, &oom)) {
                if (oom) goto nomem;
                continue;
            }
            fv.v.role = attrs[a].role;
            fv.offset = seq->offset;
            fv.owner_offset = o->offset;
            fv.owner_known = owner_known(vm, o->callable);
            /* the proof: the model gives back the very bytes */
            regen.len = 0;
            tp_ctx scratch;
            ctx_reset(&scratch);
            tp_code rc = vocab_generate(&scratch, &fv.v, &regen);
            if (rc == TP_E_NOMEM) {
                vocab_free(&fv.v);
                goto nomem;
            }
            if (rc || regen.len != fv.v.stream_len || memcmp(regen.data, data + fv.offset, regen.len) != 0) {
                vocab_free(&fv.v);
                continue;
            }
            /* memo entries made inside, and whether anything after GETs them */
            uint64_t puts = 1 + fv.v.filler;
            for (size_t r = 0; r < fv.v.nraw; r++) puts += fv.v.raw[r].puts;
            uint64_t per_item = fv.v.kind == VOCAB_DICT && (fv.v.flags & VF_NUMPY)
                                    ? ((fv.v.flags & VF_NUMPY_CODECS) ? 6 : 4)
                                    : 1;
            puts += (fv.v.nlisted - fv.v.ngets) * 1 + fv.v.nlisted * (per_item - 1);
            fv.memo_lo = (fv.v.flags & VF_MEMOIZE) ? seq->memo_at : fv.v.memo_first;
            fv.memo_hi = fv.memo_lo + puts;
            uint64_t end = fv.offset + fv.v.stream_len;
            for (uint64_t m = fv.memo_lo; m < fv.memo_hi && !fv.referenced; m++)
                fv.referenced = pv_last_get(vm, m) > end;
            if (!array_push((void **)&f, &n, &cap, &fv, sizeof fv)) {
                vocab_free(&fv.v);
                goto nomem;
            }
        }
    }
    bytebuf_free(&regen);
    if (n) qsort(f, n, sizeof *f, by_vocab_offset);
    /* ranges never overlap in a real pickle; a crafted one keeps the first */
    size_t k = 0;
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && f[i].offset < end) {
            vocab_free(&f[i].v);
            continue;
        }
        end = f[i].offset + f[i].v.stream_len;
        f[k++] = f[i];
    }
    *out = f;
    *nout = k;
    return TP_OK;
nomem:
    bytebuf_free(&regen);
    found_vocabs_free(f, n);
    return ctx_fail(ctx, TP_E_NOMEM, -1, "vocabularies");
}

/* ---- term order ------------------------------------------------------------ */

typedef struct term_ref {
    const uint8_t *p;
    uint64_t n;
    uint64_t idx;      /* listed index, or UINT64_MAX for a raw item's term */
} term_ref;

int vocab_term_cmp(const uint8_t *a, uint64_t an, const uint8_t *b, uint64_t bn)
{
    size_t m = (size_t)MIN_OF(an, bn);
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int term_cmp(const void *a, const void *b)
{
    const term_ref *x = a, *y = b;
    return vocab_term_cmp(x->p, x->n, y->p, y->n);
}

/* ---- changing the order ---------------------------------------------------- */

bool vocab_is_sorted(const vocabulary *v)
{
    for (uint64_t i = 1; i < v->nlisted; i++) {
        term_ref a = {v->text + v->toff[i - 1], v->toff[i] - v->toff[i - 1], 0};
        term_ref b = {v->text + v->toff[i], v->toff[i + 1] - v->toff[i], 0};
        if (term_cmp(&a, &b) > 0) return false;
    }
    return true;
}

bool vocab_sort(vocabulary *v)
{
    if (v->ngets || v->nframes) return false;
    if (vocab_is_sorted(v)) return true;
    size_t n = (size_t)v->nlisted;
    term_ref *t = malloc(n * sizeof *t);
    uint8_t *text = malloc((size_t)v->toff[n] + 1);
    uint64_t *toff = malloc((n + 1) * sizeof *toff);
    int64_t *ids = v->ids ? malloc(n * sizeof *ids) : NULL;
    if (!t || !text || !toff || (v->ids && !ids)) {
        free(t), free(text), free(toff), free(ids);
        return false;
    }
    for (size_t i = 0; i < n; i++) t[i] = (term_ref){v->text + v->toff[i], v->toff[i + 1] - v->toff[i], i};
    qsort(t, n, sizeof *t, term_cmp);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++) dup = term_cmp(&t[i - 1], &t[i]) == 0;
    if (dup && v->kind == VOCAB_DICT) { /* the last value wins: order matters */
        free(t), free(text), free(toff), free(ids);
        return false;
    }
    toff[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(text + toff[i], t[i].p, (size_t)t[i].n);
        toff[i + 1] = toff[i] + t[i].n;
        if (ids) ids[i] = v->ids[t[i].idx];
    }
    free(t);
    free(v->text), free(v->toff), free(v->ids);
    v->text = text, v->toff = toff, v->ids = ids;
    return true;
}
