/*
 * opcodes.c - the pickle opcode table and the single-opcode decoder.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "pickle/opcodes.h"

/* name, code, proto, arg, mark, pops, pushes */
#define FIXED_WIDTH(a) \
    ((a) == ARG_NONE ? 1 : (a) == ARG_U1 ? 2 : (a) == ARG_U2 ? 3 : (a) == ARG_I4 || (a) == ARG_U4 ? 5 : 0)
#define OPC(c, n, p, a, m, po, pu) [c] = {n, c, p, a, m, po, pu, FIXED_WIDTH(a)}

const opinfo opinfo_table[256] = {
    /* protocol 0 */
    OPC('I', "INT", 0, ARG_DECIMALNL_SHORT, 0, 0, 1),
    OPC('L', "LONG", 0, ARG_DECIMALNL_LONG, 0, 0, 1),
    OPC('S', "STRING", 0, ARG_STRINGNL, 0, 0, 1),
    OPC('V', "UNICODE", 0, ARG_UNICODESTRINGNL, 0, 0, 1),
    OPC('F', "FLOAT", 0, ARG_FLOATNL, 0, 0, 1),
    OPC('a', "APPEND", 0, ARG_NONE, 0, 2, 1),
    OPC('l', "LIST", 0, ARG_NONE, 1, 0, 1),
    OPC('t', "TUPLE", 0, ARG_NONE, 1, 0, 1),
    OPC('d', "DICT", 0, ARG_NONE, 1, 0, 1),
    OPC('s', "SETITEM", 0, ARG_NONE, 0, 3, 1),
    OPC('0', "POP", 0, ARG_NONE, 0, 1, 0),
    OPC('2', "DUP", 0, ARG_NONE, 0, 1, 2),
    OPC('(', "MARK", 0, ARG_NONE, 0, 0, 0),
    OPC('g', "GET", 0, ARG_DECIMALNL_SHORT, 0, 0, 1),
    OPC('p', "PUT", 0, ARG_DECIMALNL_SHORT, 0, 1, 1),
    OPC('c', "GLOBAL", 0, ARG_STRINGNL_PAIR, 0, 0, 1),
    OPC('R', "REDUCE", 0, ARG_NONE, 0, 2, 1),
    OPC('b', "BUILD", 0, ARG_NONE, 0, 2, 1),
    OPC('i', "INST", 0, ARG_STRINGNL_PAIR, 1, 0, 1),
    OPC('.', "STOP", 0, ARG_NONE, 0, 1, 0),
    OPC('P', "PERSID", 0, ARG_STRINGNL_NOESCAPE, 0, 0, 1),
    OPC('N', "NONE", 0, ARG_NONE, 0, 0, 1),
    /* protocol 1 */
    OPC('J', "BININT", 1, ARG_I4, 0, 0, 1),
    OPC('K', "BININT1", 1, ARG_U1, 0, 0, 1),
    OPC('M', "BININT2", 1, ARG_U2, 0, 0, 1),
    OPC('T', "BINSTRING", 1, ARG_STRING4, 0, 0, 1),
    OPC('U', "SHORT_BINSTRING", 1, ARG_STRING1, 0, 0, 1),
    OPC('X', "BINUNICODE", 1, ARG_UNICODE4, 0, 0, 1),
    OPC('G', "BINFLOAT", 1, ARG_FLOAT8, 0, 0, 1),
    OPC(']', "EMPTY_LIST", 1, ARG_NONE, 0, 0, 1),
    OPC('e', "APPENDS", 1, ARG_NONE, 1, 1, 1),
    OPC(')', "EMPTY_TUPLE", 1, ARG_NONE, 0, 0, 1),
    OPC('}', "EMPTY_DICT", 1, ARG_NONE, 0, 0, 1),
    OPC('u', "SETITEMS", 1, ARG_NONE, 1, 1, 1),
    OPC('1', "POP_MARK", 1, ARG_NONE, 1, 0, 0),
    OPC('h', "BINGET", 1, ARG_U1, 0, 0, 1),
    OPC('j', "LONG_BINGET", 1, ARG_U4, 0, 0, 1),
    OPC('q', "BINPUT", 1, ARG_U1, 0, 1, 1),
    OPC('r', "LONG_BINPUT", 1, ARG_U4, 0, 1, 1),
    OPC('o', "OBJ", 1, ARG_NONE, 1, 0, 1),
    OPC('Q', "BINPERSID", 1, ARG_NONE, 0, 1, 1),
    /* protocol 2 */
    OPC(0x80, "PROTO", 2, ARG_U1, 0, 0, 0),
    OPC(0x81, "NEWOBJ", 2, ARG_NONE, 0, 2, 1),
    OPC(0x82, "EXT1", 2, ARG_U1, 0, 0, 1),
    OPC(0x83, "EXT2", 2, ARG_U2, 0, 0, 1),
    OPC(0x84, "EXT4", 2, ARG_I4, 0, 0, 1),
    OPC(0x85, "TUPLE1", 2, ARG_NONE, 0, 1, 1),
    OPC(0x86, "TUPLE2", 2, ARG_NONE, 0, 2, 1),
    OPC(0x87, "TUPLE3", 2, ARG_NONE, 0, 3, 1),
    OPC(0x88, "NEWTRUE", 2, ARG_NONE, 0, 0, 1),
    OPC(0x89, "NEWFALSE", 2, ARG_NONE, 0, 0, 1),
    OPC(0x8a, "LONG1", 2, ARG_LONG1, 0, 0, 1),
    OPC(0x8b, "LONG4", 2, ARG_LONG4, 0, 0, 1),
    /* protocol 3 */
    OPC('B', "BINBYTES", 3, ARG_BYTES4, 0, 0, 1),
    OPC('C', "SHORT_BINBYTES", 3, ARG_BYTES1, 0, 0, 1),
    /* protocol 4 */
    OPC(0x8c, "SHORT_BINUNICODE", 4, ARG_UNICODE1, 0, 0, 1),
    OPC(0x8d, "BINUNICODE8", 4, ARG_UNICODE8, 0, 0, 1),
    OPC(0x8e, "BINBYTES8", 4, ARG_BYTES8, 0, 0, 1),
    OPC(0x8f, "EMPTY_SET", 4, ARG_NONE, 0, 0, 1),
    OPC(0x90, "ADDITEMS", 4, ARG_NONE, 1, 1, 1),
    OPC(0x91, "FROZENSET", 4, ARG_NONE, 1, 0, 1),
    OPC(0x92, "NEWOBJ_EX", 4, ARG_NONE, 0, 3, 1),
    OPC(0x93, "STACK_GLOBAL", 4, ARG_NONE, 0, 2, 1),
    OPC(0x94, "MEMOIZE", 4, ARG_NONE, 0, 1, 1),
    OPC(0x95, "FRAME", 4, ARG_U8, 0, 0, 0),
    /* protocol 5 */
    OPC(0x96, "BYTEARRAY8", 5, ARG_BYTEARRAY8, 0, 0, 1),
    OPC(0x97, "NEXT_BUFFER", 5, ARG_NONE, 0, 0, 1),
    OPC(0x98, "READONLY_BUFFER", 5, ARG_NONE, 0, 1, 1),
};

const opinfo *opinfo_get(uint8_t code) { return opinfo_table[code].name ? &opinfo_table[code] : NULL; }

const opinfo *opinfo_at(size_t i)
{
    for (size_t c = 0; c < 256; c++)
        if (opinfo_table[c].name && i-- == 0) return &opinfo_table[c];
    return NULL;
}

bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) need = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) need = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) need = 3, cp = c & 0x07, min = 0x10000;
        else return false;
        if (need > n - i - 1) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms and code points past U+10FFFF are invalid;
         * surrogates pass, as with CPython's "surrogatepass". */
        if (cp < min || cp > 0x10ffff) return false;
        i += need + 1;
    }
    return true;
}

/* Parse [+-]digits into ival, or flag `big` when it does not fit. */
static bool parse_decimal(const uint8_t *s, size_t n, pickle_op *op)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n || n - i > PICKLE_MAX_INT_DIGITS) return false;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) overflow = true;
        else v = v * 10 + d;
    }
    if (overflow || v > (uint64_t)INT64_MAX + neg) {
        op->big = 1;
        return true;
    }
    op->ival = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static tp_code bad(tp_ctx *ctx, const pickle_op *op, const char *what)
{
    return ctx_fail(ctx, TP_E_BAD_ARGUMENT, (int64_t)op->offset, "%s: %s", op->info->name, what);
}

static tp_code truncated(tp_ctx *ctx, const pickle_op *op, uint64_t need, uint64_t have)
{
    return ctx_fail(ctx, TP_E_TRUNCATED, (int64_t)op->offset,
                   "%s needs %llu more bytes, %llu remain", op->info->name,
                   (unsigned long long)need, (unsigned long long)have);
}

/* Find the newline that ends a text argument starting at pos. */
static tp_code take_line(tp_ctx *ctx, const uint8_t *data, size_t len, size_t pos, pickle_op *op,
                         uint64_t *start, uint64_t *size)
{
    const uint8_t *nl = memchr(data + pos, '\n', len - pos);
    if (!nl) return ctx_fail(ctx, TP_E_TRUNCATED, (int64_t)op->offset,
                            "%s: text argument has no ending newline", op->info->name);
    size_t n = (size_t)(nl - (data + pos));
    if (memchr(data + pos, 0, n)) return bad(ctx, op, "NUL byte in text argument");
    *start = pos;
    *size = n;
    return TP_OK;
}

/* Read a length-prefixed payload whose length field has `width` bytes:
 * the declared length is checked against what remains before anything
 * else happens. */
static tp_code take_counted(tp_ctx *ctx, cursor *c, pickle_op *op, int width, bool is_signed)
{
    if ((size_t)width > cursor_left(c)) return truncated(ctx, op, (uint64_t)width, cursor_left(c));
    uint64_t n = width == 1 ? cursor_u8(c) : width == 4 ? cursor_u32(c) : cursor_u64(c);
    if (is_signed && width == 4 && (n & 0x80000000u)) return bad(ctx, op, "negative length");
    if (n > cursor_left(c)) return truncated(ctx, op, n, cursor_left(c));
    op->data = c->pos;
    op->size = n;
    cursor_take(c, (size_t)n);
    op->end = c->pos;
    return TP_OK;
}

/* A fixed-width argument: the cursor refuses to read past the end. */
static tp_code take_fixed(tp_ctx *ctx, cursor *c, pickle_op *op, size_t width, const uint8_t **p)
{
    if (width > cursor_left(c)) return truncated(ctx, op, width, cursor_left(c));
    *p = cursor_take(c, width);
    op->end = c->pos;
    return *p ? TP_OK : truncated(ctx, op, width, 0);
}

tp_code op_decode(tp_ctx *ctx, const uint8_t *data, size_t len, size_t pos, pickle_op *op)
{
    memset(op, 0, sizeof *op);
    op->offset = pos;
    if (pos >= len) return ctx_fail(ctx, TP_E_NO_STOP, (int64_t)pos, "the stream ends before STOP");
    op->info = opinfo_get(data[pos]);
    if (!op->info)
        return ctx_fail(ctx, TP_E_UNKNOWN_OPCODE, (int64_t)pos, "byte 0x%02x is no pickle opcode", data[pos]);
    /* Every read below goes through this cursor over the whole input. */
    cursor c = cursor_make(data, len);
    c.pos = pos + 1;
    op->end = c.pos;
    const uint8_t *p = NULL;
    tp_code rc;

    switch ((op_argfmt)op->info->arg) {
    case ARG_NONE:
        return TP_OK;
    case ARG_U1:
        if ((rc = take_fixed(ctx, &c, op, 1, &p))) return rc;
        op->ival = p[0];
        return TP_OK;
    case ARG_U2:
        if ((rc = take_fixed(ctx, &c, op, 2, &p))) return rc;
        op->ival = load_le16(p);
        return TP_OK;
    case ARG_I4:
        if ((rc = take_fixed(ctx, &c, op, 4, &p))) return rc;
        op->ival = (int32_t)load_le32(p);
        return TP_OK;
    case ARG_U4:
        if ((rc = take_fixed(ctx, &c, op, 4, &p))) return rc;
        op->ival = load_le32(p);
        return TP_OK;
    case ARG_U8: {
        if ((rc = take_fixed(ctx, &c, op, 8, &p))) return rc;
        uint64_t v = load_le64(p);
        if (v > INT64_MAX) return bad(ctx, op, "length beyond 2^63");
        op->ival = (int64_t)v;
        return TP_OK;
    }
    case ARG_FLOAT8:
        if ((rc = take_fixed(ctx, &c, op, 8, &p))) return rc;
        op->fval = bits_to_f64(load_be64(p));
        return TP_OK;
    case ARG_DECIMALNL_SHORT:
    case ARG_DECIMALNL_LONG: {
        if ((rc = take_line(ctx, data, len, c.pos, op, &op->data, &op->size))) return rc;
        op->end = op->data + op->size + 1;
        size_t n = (size_t)op->size;
        const uint8_t *s = data + op->data;
        if (op->info->arg == ARG_DECIMALNL_LONG && n > 0 && s[n - 1] == 'L') n--;
        if (op->info->code == OP_INT && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
            op->is_bool = 1;
            op->ival = s[1] - '0';
            return TP_OK;
        }
        /* INT and LONG are read in base 0 (_pickle.c load_int: strtol(s,
         * &end, 0); pickle.py: int(data, 0)): "010" is 8 to pickle.load and
         * an error to the Python unpickler, and "+1" is True to the first
         * and 1 to the second.  Only forms both read as the same decimal
         * number are taken: no leading zero before other digits, no sign
         * on 0 or on +1 (GET and PUT are read in base 10: not these). */
        if (op->info->code == OP_INT || op->info->code == OP_LONG) {
            size_t d = n && (s[0] == '-' || s[0] == '+');
            bool zeros = d < n;
            for (size_t i = d; i < n; i++) zeros &= s[i] == '0';
            if (n - d > 1 && s[d] == '0' && !zeros)
                return bad(ctx, op, "a leading zero, which pickle.load reads as octal and Python's unpickler refuses");
            if (op->info->code == OP_INT && d && n == 2 && (s[1] == '0' || (s[1] == '1' && s[0] == '+')))
                return bad(ctx, op, "a sign on 0 or 1, which pickle.load reads as a bool and Python's unpickler as an int");
        }
        if (!parse_decimal(s, n, op)) return bad(ctx, op, "not a decimal integer of at most 4300 digits");
        return TP_OK;
    }
    case ARG_FLOATNL: {
        if ((rc = take_line(ctx, data, len, c.pos, op, &op->data, &op->size))) return rc;
        op->end = op->data + op->size + 1;
        char tmp[512];
        if (op->size == 0 || op->size >= sizeof tmp) return bad(ctx, op, "not a float");
        memcpy(tmp, data + op->data, op->size);
        tmp[op->size] = 0;
        char *endp;
        errno = 0;
        op->fval = strtod(tmp, &endp);
        if (endp == tmp || *endp) return bad(ctx, op, "not a float");
        return TP_OK;
    }
    case ARG_STRINGNL: {
        if ((rc = take_line(ctx, data, len, c.pos, op, &op->data, &op->size))) return rc;
        op->end = op->data + op->size + 1;
        const uint8_t *s = data + op->data;
        if (op->size < 2 || s[0] != s[op->size - 1] || (s[0] != '\'' && s[0] != '"'))
            return bad(ctx, op, "the argument must be quoted");
        op->data++;
        op->size -= 2;
        return TP_OK;
    }
    case ARG_STRINGNL_NOESCAPE:
    case ARG_UNICODESTRINGNL:
        if ((rc = take_line(ctx, data, len, c.pos, op, &op->data, &op->size))) return rc;
        op->end = op->data + op->size + 1;
        return TP_OK;
    case ARG_STRINGNL_PAIR:
        if ((rc = take_line(ctx, data, len, c.pos, op, &op->data, &op->size))) return rc;
        if ((rc = take_line(ctx, data, len, (size_t)(op->data + op->size + 1), op, &op->data2, &op->size2)))
            return rc;
        op->end = op->data2 + op->size2 + 1;
        if (op->size == 0 || op->size2 == 0) return bad(ctx, op, "empty module or name");
        if (!utf8_valid(data + op->data, op->size) || !utf8_valid(data + op->data2, op->size2))
            return ctx_fail(ctx, TP_E_BAD_UTF8, (int64_t)op->offset, "%s: name is not UTF-8", op->info->name);
        return TP_OK;
    case ARG_STRING1:
    case ARG_BYTES1:
    case ARG_LONG1:
        return take_counted(ctx, &c, op, 1, false);
    case ARG_UNICODE1:
    case ARG_UNICODE4:
    case ARG_UNICODE8: {
        int w = op->info->arg == ARG_UNICODE1 ? 1 : op->info->arg == ARG_UNICODE4 ? 4 : 8;
        if ((rc = take_counted(ctx, &c, op, w, false))) return rc;
        if (!utf8_valid(data + op->data, op->size))
            return ctx_fail(ctx, TP_E_BAD_UTF8, (int64_t)op->offset, "%s argument is not valid UTF-8", op->info->name);
        return TP_OK;
    }
    case ARG_STRING4:
    case ARG_LONG4:
        return take_counted(ctx, &c, op, 4, true);
    case ARG_BYTES4:
        return take_counted(ctx, &c, op, 4, false);
    case ARG_BYTES8:
    case ARG_BYTEARRAY8:
        return take_counted(ctx, &c, op, 8, false);
    }
    return ctx_fail(ctx, TP_E_INTERNAL, (int64_t)op->offset, "opcode table has an unknown argument format");
}
