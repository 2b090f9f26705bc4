/*
 * error.c - the error catalogue and the context that carries detail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/common.h"
#include "tp_config.h"

static const struct {
    tp_code code;
    const char *text;
} catalogue[] = {
    {TP_OK, "no error"},
    {TP_E_NOMEM, "out of memory"},
    {TP_E_LIMIT_MEMORY, "memory limit reached"},
    {TP_E_WRITE, "cannot write output"},
    {TP_E_INTERNAL, "internal error"},
    {TP_E_USAGE, "invalid options"},
    {TP_E_EMPTY, "empty input"},
    {TP_E_TRUNCATED, "pickle truncated"},
    {TP_E_UNKNOWN_OPCODE, "unknown pickle opcode"},
    {TP_E_PROTOCOL, "unsupported pickle protocol"},
    {TP_E_STACK_UNDERFLOW, "pickle stack underflow"},
    {TP_E_NO_MARK, "pickle MARK missing"},
    {TP_E_MEMO_MISSING, "pickle memo entry missing"},
    {TP_E_BAD_ARGUMENT, "malformed opcode argument"},
    {TP_E_TRAILING_DATA, "trailing data after the pickle"},
    {TP_E_FRAME, "bad pickle frame"},
    {TP_E_TYPE, "opcode applied to the wrong kind of value"},
    {TP_E_NO_STOP, "pickle ends without STOP"},
    {TP_E_OUT_OF_BAND, "out-of-band buffer not in the file"},
    {TP_E_BAD_UTF8, "invalid UTF-8 in a string"},
    {TP_E_LIMIT_STACK, "stack limit reached"},
    {TP_E_LIMIT_MARKS, "MARK limit reached"},
    {TP_E_LIMIT_MEMO, "memo limit reached"},
    {TP_E_LIMIT_NESTING, "nesting limit reached"},
    {TP_E_LIMIT_OPCODES, "opcode limit reached"},
    {TP_E_LIMIT_SIZE, "declared size beyond the limit"},
    {TP_E_TREE, "malformed tree"},
    {TP_E_JOBLIB, "malformed joblib file"},
    {TP_E_NOT_TPK, "not a treepack file"},
    {TP_E_TPK_VERSION, "unsupported treepack format version"},
    {TP_E_TPK_TRUNCATED, "treepack file truncated"},
    {TP_E_TPK_CHECKSUM, "treepack file corrupted (checksum mismatch)"},
    {TP_E_TPK_UNKNOWN, "treepack file needs a newer treepack"},
    {TP_E_TPK_CORRUPT, "treepack file corrupted"},
    {TP_E_MISMATCH, "expanded data does not match the original checksum"},
    {TP_E_ZSTD, "zstd error"},
    {TP_E_UNSAFE, "unsafe to load"},
};

const char *tp_strerror(tp_code code)
{
    for (size_t i = 0; i < ARRAY_LEN(catalogue); i++)
        if (catalogue[i].code == code) return catalogue[i].text;
    return "unknown error";
}

tp_ctx *tp_ctx_new(void)
{
    tp_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx) ctx_reset(ctx);
    return ctx;
}

void tp_ctx_free(tp_ctx *ctx) { free(ctx); }

void ctx_reset(tp_ctx *ctx)
{
    ctx->code = TP_OK;
    ctx->offset = -1;
    ctx->msg[0] = 0;
}

tp_code tp_ctx_code(const tp_ctx *ctx) { return ctx->code; }
const char *tp_ctx_message(const tp_ctx *ctx) { return ctx->msg; }
int64_t tp_ctx_offset(const tp_ctx *ctx) { return ctx->offset; }

tp_code ctx_fail(tp_ctx *ctx, tp_code code, int64_t offset, const char *fmt, ...)
{
    if (!ctx || ctx->code != TP_OK) return ctx ? ctx->code : code;
    ctx->code = code;
    ctx->offset = offset;
    int n = snprintf(ctx->msg, sizeof ctx->msg, "%s", tp_strerror(code));
    if (fmt && fmt[0] && n > 0 && (size_t)n < sizeof ctx->msg) {
        n += snprintf(ctx->msg + n, sizeof ctx->msg - (size_t)n, ": ");
        va_list ap;
        va_start(ap, fmt);
        if ((size_t)n < sizeof ctx->msg) n += vsnprintf(ctx->msg + n, sizeof ctx->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (offset >= 0 && n > 0 && (size_t)n < sizeof ctx->msg)
        snprintf(ctx->msg + n, sizeof ctx->msg - (size_t)n, " (at byte %lld)", (long long)offset);
    return code;
}

const char *tp_version(void) { return TREEPACK_VERSION; }
