/*
 * wrap.c - a compressed joblib file as the container records it: the
 * SEC_WRAP section (written on compress, parsed and loaded on expand),
 * what the report and error messages say of it, and whether a loader
 * could read more of the file than the stream inside it.
 *
 * Decompressing and finding the settings is wrap_settings.c, compressing
 * again wrap_writer.c, the methods themselves wrap_methods.c and the
 * files it lists (see wrap_method.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/cursor.h"
#include "format/container.h"
#include "format/wrap_method.h"

void wrap_free(wrap_info *w)
{
    bytebuf_free(&w->stream);
    bytebuf_free(&w->section);
    memset(w, 0, sizeof *w);
}

/* ---- the section --------------------------------------------------------------- */

void wrap_serialize(const wrap_info *w, bytebuf *out)
{
    bytebuf_u8(out, 1);
    bytebuf_u8(out, w->method);
    bytebuf_u8(out, w->exact);
    bytebuf_svarint(out, w->level);
    bytebuf_varint(out, w->param);
    bytebuf_varint(out, w->file_size);
    bytebuf_append(out, w->file_checksum, 16);
    bytebuf_varint(out, w->prefix_len);
    bytebuf_append(out, w->prefix, w->prefix_len);
    bytebuf_varint(out, w->suffix_len);
    bytebuf_append(out, w->suffix, w->suffix_len);
}

/* Settings the method's compressor accepts: a section is refused here,
 * not by the compressor halfway through expand. */
static bool settings_ok(const wrap_method *m, int64_t level, uint64_t param)
{
    return level >= m->level_min && level <= m->level_max && param <= 0xff && (!m->param_ok || m->param_ok(param));
}

tp_code wrap_parse(tp_ctx *ctx, bytebuf *raw, wrap_info *w)
{
    memset(w, 0, sizeof *w);
    w->section = *raw;
    memset(raw, 0, sizeof *raw);
    cursor c = cursor_make(w->section.data, w->section.len);
    uint8_t version = cursor_u8(&c);
    w->method = cursor_u8(&c);
    w->exact = cursor_u8(&c);
    int64_t level = unzigzag(cursor_varint(&c));
    uint64_t param = cursor_varint(&c);
    w->file_size = cursor_varint(&c);
    const uint8_t *sum = cursor_take(&c, 16);
    w->prefix_len = (size_t)cursor_varint_max(&c, cursor_left(&c));
    w->prefix = cursor_take(&c, w->prefix_len);
    w->suffix_len = (size_t)cursor_varint_max(&c, cursor_left(&c));
    w->suffix = cursor_take(&c, w->suffix_len);
    const wrap_method *m = wrap_method_of(w->method);
    bool ok = !c.bad && !cursor_left(&c) && version == 1 && m && w->exact <= 1 && settings_ok(m, level, param);
    if (!ok) {
        wrap_free(w);
        return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the wrapper section is malformed");
    }
    w->level = (int32_t)level;
    w->param = (uint32_t)param;
    memcpy(w->file_checksum, sum, 16);
    return TP_OK;
}

tp_code wrap_load(tp_ctx *ctx, const uint8_t *container, size_t container_len, wrap_info *w)
{
    memset(w, 0, sizeof *w);
    tpk_header h;
    tpk_section *secs = NULL;
    size_t nsecs = 0;
    tp_code rc = tpk_parse(ctx, container, container_len, &h, &secs, &nsecs);
    const tpk_section *sec = NULL;
    for (size_t i = 0; !rc && i < nsecs; i++)
        if (secs[i].kind == SEC_WRAP) sec = &secs[i];
    if (!rc && sec) {
        bytebuf raw = {0};
        rc = tpk_section_read(ctx, container, sec, &raw);
        if (!rc) rc = wrap_parse(ctx, &raw, w);
        bytebuf_free(&raw);
    }
    free(secs);
    return rc;
}

/* ---- what is said of it ------------------------------------------------------------ */

void wrap_annotate(tp_ctx *ctx, const wrap_info *w)
{
    if (w->method == WRAP_NONE || !ctx->code) return;
    size_t n = strlen(ctx->msg);
    snprintf(ctx->msg + n, sizeof ctx->msg - n, " (in the %s-decompressed stream)", wrap_name(w->method));
}

void wrap_report(const wrap_info *w, tp_report *rep)
{
    rep->stream_size = rep->original_size;
    memcpy(rep->stream_checksum, rep->checksum, 16);
    if (w->method == WRAP_NONE) return;
    snprintf(rep->wrapper, sizeof rep->wrapper, "%s", wrap_name(w->method));
    rep->wrapper_level = w->level;
    rep->wrapper_exact = w->exact;
    rep->original_size = w->file_size;
    memcpy(rep->checksum, w->file_checksum, 16);
}

const char *wrap_loader_risk(const wrap_info *w)
{
    if (w->suffix_len)
        return "bytes after the compressed stream (a second gzip member, say), which Python's readers take for "
               "more of the pickle";
    /* pickle.load given the file as it is stops at its first byte: 0x1f,
     * 'Z', and the first bytes of the other methods, are no opcodes.  Only
     * a method with a header of its own (gzip, ZF) has a prefix, and it
     * starts with the method's magic bytes. */
    const wrap_method *m = wrap_method_of(w->method);
    const char *magic = m && m->prefix ? m->magic : NULL;
    if (w->prefix_len && (!magic || w->prefix_len < 2 || memcmp(w->prefix, magic, 2)))
        return "a header that does not start the way the compression method's does";
    return NULL;
}
