/*
 * fuzz_roundtrip.c - compress arbitrary bytes; whenever that succeeds,
 * expanding the container must give the input back, byte for byte.
 */
#include <string.h>

#include "fuzz.h"
#include "treepack.h"

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

static int mem_write(void *opaque, const void *data, size_t len)
{
    membuf *m = opaque;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_ctx *ctx = tp_ctx_new();
    if (!ctx) return 0;
    tp_options opt;
    tp_options_init(&opt);
    opt.level = 1;
    opt.limits.max_memory = FUZZ_MAX_MEMORY;
    opt.allow_unsafe = 1; /* any bytes: the round trip is what is tested */
    membuf tpk = {0}, back = {0};
    tp_sink s1 = {.write = mem_write, .opaque = &tpk}, s2 = {.write = mem_write, .opaque = &back};
    tp_report rep;
    tp_report_init(&rep);
    if (tp_compress(ctx, data, size, &opt, &s1, &rep) == TP_OK) {
        tp_code rc = tp_expand(ctx, tpk.data, tpk.len, &opt, &s2, NULL);
        if (rc) fprintf(stderr, "expand: %s\n", tp_ctx_message(ctx));
        FUZZ_ASSERT(rc == TP_OK);
        /* A compressed joblib file whose compressor settings cannot be
         * reproduced is compressed anew (the report says so): then only
         * the decompressed stream is exact, which expand has checked
         * against its XXH3-128 already. */
        if (!rep.wrapper[0] || rep.wrapper_exact)
            FUZZ_ASSERT(back.len == size && (size == 0 || memcmp(back.data, data, size) == 0));
    }
    free(tpk.data);
    free(back.data);
    tp_ctx_free(ctx);
    return 0;
}
