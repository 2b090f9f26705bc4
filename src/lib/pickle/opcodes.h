/*
 * opcodes.h - the 68 pickle opcodes of protocols 0-5, described once, as
 * data, and a decoder that reads one opcode with its argument.
 *
 * The table follows CPython's Lib/pickletools.py: argument format,
 * protocol that introduced the opcode, and stack effect.  The
 * interpreter, the disassembler in tests and the safety report all use it.
 */
#ifndef PICKLE_OPCODES_H
#define PICKLE_OPCODES_H

#include "base/common.h"

typedef enum op_argfmt {
    ARG_NONE,
    ARG_U1,                /* uint1 */
    ARG_U2,                /* uint2, little-endian */
    ARG_I4,                /* int4, little-endian, signed */
    ARG_U4,                /* uint4 */
    ARG_U8,                /* uint8 (FRAME) */
    ARG_DECIMALNL_SHORT,   /* decimal digits, newline (INT, GET, PUT) */
    ARG_DECIMALNL_LONG,    /* decimal digits with optional L, newline (LONG) */
    ARG_STRINGNL,          /* quoted repr, newline (STRING) */
    ARG_STRINGNL_NOESCAPE, /* text, newline (PERSID) */
    ARG_STRINGNL_PAIR,     /* two texts, each ended by newline (GLOBAL, INST) */
    ARG_UNICODESTRINGNL,   /* raw-unicode-escape text, newline (UNICODE) */
    ARG_FLOATNL,           /* float repr, newline (FLOAT) */
    ARG_FLOAT8,            /* big-endian IEEE double (BINFLOAT) */
    ARG_STRING1,           /* uint1 length + bytes */
    ARG_STRING4,           /* int4 length + bytes (negative lengths are errors) */
    ARG_BYTES1,
    ARG_BYTES4,            /* uint4 length + bytes */
    ARG_BYTES8,            /* uint8 length + bytes */
    ARG_UNICODE1,          /* uint1 length + UTF-8 */
    ARG_UNICODE4,
    ARG_UNICODE8,
    ARG_BYTEARRAY8,
    ARG_LONG1,             /* uint1 length + little-endian two's complement */
    ARG_LONG4              /* int4 length + little-endian two's complement */
} op_argfmt;

typedef struct opinfo {
    const char *name;      /* NULL: not an opcode */
    uint8_t code;
    uint8_t proto;         /* protocol that introduced it */
    uint8_t arg;           /* op_argfmt */
    uint8_t mark;          /* 1: pops everything down to the topmost MARK */
    uint8_t pops;          /* values popped (besides the marked slice) */
    uint8_t pushes;        /* values pushed */
    uint8_t fixed;         /* 1 + the width of an argument that is none or a
                              fixed-width integer (ARG_NONE .. ARG_U4), else 0 */
} opinfo;

/* Opcode bytes, for readability in the interpreter. */
enum {
    OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
    OP_FLOAT = 'F', OP_INT = 'I', OP_BININT = 'J', OP_BININT1 = 'K', OP_LONG = 'L',
    OP_BININT2 = 'M', OP_NONE = 'N', OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
    OP_STRING = 'S', OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V',
    OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_DICT = 'd',
    OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_GET = 'g', OP_BINGET = 'h', OP_INST = 'i',
    OP_LONG_BINGET = 'j', OP_LIST = 'l', OP_EMPTY_LIST = ']', OP_OBJ = 'o', OP_PUT = 'p',
    OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
    OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_EXT1 = 0x82, OP_EXT2 = 0x83, OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b,
    OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
    OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d, OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91, OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96, OP_NEXT_BUFFER = 0x97, OP_READONLY_BUFFER = 0x98
};

#define OPCODE_COUNT 68
#define PICKLE_MAX_PROTOCOL 5
/* Python refuses to parse integers written with more digits than this
 * (sys.int_info.default_max_str_digits); so do we. */
#define PICKLE_MAX_INT_DIGITS 4300

/* Description of an opcode byte, or NULL if the byte is no opcode. */
const opinfo *opinfo_get(uint8_t code);
/* The i-th opcode (0 <= i < OPCODE_COUNT) in byte order. */
const opinfo *opinfo_at(size_t i);

/* One decoded opcode.  Offsets are absolute positions in the input. */
typedef struct pickle_op {
    const opinfo *info;
    uint64_t offset;       /* the opcode byte */
    uint64_t end;          /* first byte after the opcode and its argument */
    /* integer arguments (ARG_U*, ARG_I4, short decimals that fit) */
    int64_t ival;
    double fval;           /* ARG_FLOAT8, ARG_FLOATNL */
    /* payload: bytes of a string/bytes/long argument, or the text of a
     * newline-terminated argument without its newline (and without the
     * quotes for STRING) */
    uint64_t data;
    uint64_t size;
    /* second text of ARG_STRINGNL_PAIR */
    uint64_t data2;
    uint64_t size2;
    /* text integers: 0 = ival holds it, 1 = too big for int64 (kept as text) */
    uint8_t big;
    /* INT "00"/"01": 1 = the argument is a boolean, ival 0 or 1 */
    uint8_t is_bool;
} pickle_op;

/* Decode the opcode at data[pos].  On failure, records the error in ctx
 * (with the offset) and returns its code.  Checks every length against
 * the bytes that remain, validates text arguments (no NUL, newline
 * present, numbers well-formed) and UTF-8 of unicode arguments. */
tp_code op_decode(tp_ctx *ctx, const uint8_t *data, size_t len, size_t pos, pickle_op *op);

/* Indexed by opcode byte; entries without a name are no opcode. */
extern const opinfo opinfo_table[256];

/* op_decode, with the opcodes that take no argument or a fixed-width
 * integer (four in five of a model's) decoded inline, for the
 * interpreter's loop.  Everything else, and every error, is left to
 * op_decode: the result is the same (a unit test compares them). */
static inline tp_code op_decode_fast(tp_ctx *ctx, const uint8_t *data, size_t len, size_t pos, pickle_op *op)
{
    if (pos < len) {
        const opinfo *in = &opinfo_table[data[pos]];
        size_t w = (size_t)in->fixed - 1; /* SIZE_MAX when not fixed */
        if (in->fixed && w < len - pos) {
            const uint8_t *p = data + pos + 1;
            int64_t v = 0;
            switch (in->arg) {
            case ARG_U1: v = p[0]; break;
            case ARG_U2: v = load_le16(p); break;
            case ARG_I4: v = (int32_t)load_le32(p); break;
            case ARG_U4: v = load_le32(p); break;
            }
            *op = (pickle_op){.info = in, .offset = pos, .end = pos + 1 + w, .ival = v};
            return TP_OK;
        }
    }
    return op_decode(ctx, data, len, pos, op);
}

/* UTF-8 validity as CPython's "surrogatepass" decoder sees it. */
bool utf8_valid(const uint8_t *s, size_t n);

#endif
