/*
 * fuzz_container.c - tp_info and tp_expand on arbitrary bytes.
 *
 * Random bytes would almost never get past the checksums, so the target
 * first repairs them: it recomputes the header's and every section's
 * XXH3-64 in place (on a copy), which lets mutations reach the section
 * decoders.  When expanding then fails only on the whole-file XXH3-128,
 * the target patches that too and expands again with the safety re-check
 * on, so crafted containers also reach the check of the expanded pickle.
 */
#include <string.h>
#include <xxhash.h>

#include "format/container.h"
#include "tests/tpk_walk.h"
#include "fuzz.h"

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

static int mem_write(void *opaque, const void *data, size_t len)
{
    membuf *m = opaque;
    if (m->len + len > ((size_t)64 << 20)) return -1;
    if (len > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap - m->len < len) cap *= 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p) return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

/* A sink that reads back: tp_expand then checks the written pickle where
 * it lies, sparing the trees its decoder proved (proven_list). */
static int mem_read_back(void *opaque, const uint8_t **data, size_t *len)
{
    membuf *m = opaque;
    *data = m->data ? m->data : (const uint8_t *)"";
    *len = m->len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *d = malloc(size ? size : 1);
    tp_ctx *ctx = tp_ctx_new();
    if (!d || !ctx) {
        free(d);
        tp_ctx_free(ctx);
        return 0;
    }
    memcpy(d, data, size);
    walk_reseal(d, size); /* the checksums that the layout of the bytes allows */

    tp_report rep;
    tp_report_init(&rep);
    tp_code rc = tp_info(ctx, d, size, &rep);
    FUZZ_ASSERT(rc == tp_ctx_code(ctx));

    tp_options opt;
    tp_options_init(&opt);
    opt.limits.max_memory = FUZZ_MAX_MEMORY;
    opt.allow_unsafe = 1;
    membuf out = {0};
    tp_sink sink = {.write = mem_write, .opaque = &out};
    rc = tp_expand(ctx, d, size, &opt, &sink, NULL);
    walk_header wh;
    if (rc == TP_E_MISMATCH && walk_read_header(d, size, &wh) && wh.checksum) {
        /* the stream was produced in full: make it the original and
         * expand again, checked (where the header keeps the checksum
         * depends on the format version) */
        checksum128(out.data, out.len, d + (wh.checksum - d));
        walk_reseal(d, size); /* the checksums that the layout of the bytes allows */
        opt.allow_unsafe = 0;
        out.len = 0;
        rc = tp_expand(ctx, d, size, &opt, &sink, NULL);
        FUZZ_ASSERT(rc != TP_E_MISMATCH);
        /* the check after writing, with the decoder's proofs, reaches
         * the verdict of the check in memory, without them */
        membuf back = {0};
        tp_sink rs = {.write = mem_write, .opaque = &back, .read_back = mem_read_back};
        tp_code rb = tp_expand(ctx, d, size, &opt, &rs, NULL);
        FUZZ_ASSERT(rb == rc || (rc == TP_E_WRITE || rb == TP_E_WRITE));
        free(back.data);
    }
    if (rc == TP_OK) {
        /* whatever expands cleanly must also inspect cleanly */
        tp_inspection insp;
        tp_inspection_init(&insp);
        tp_code ri = tp_inspect(ctx, d, size, &opt, &insp);
        FUZZ_ASSERT(ri == TP_OK || opt.allow_unsafe);
        tp_inspection_free(&insp);
    }
    free(out.data);
    free(d);
    tp_ctx_free(ctx);
    return 0;
}
