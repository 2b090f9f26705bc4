/*
 * wrap_settings.c - the compress side of a compressed joblib file
 * (wrap_open): detect the method, decompress the stream within the
 * memory limit, and search for the settings that compress it back to the
 * file's bytes: the levels the header points to, likeliest first, each
 * tried until its output first differs.
 */
#include <stdlib.h>

#include "base/zstd_ctx.h"
#include "format/wrap_method.h"

typedef struct trial {
    const uint8_t *expect;
    size_t len, pos;
    bool differs;
} trial;

static int trial_out(void *opaque, const uint8_t *p, size_t n)
{
    trial *t = opaque;
    if (n > t->len - t->pos || memcmp(p, t->expect + t->pos, n)) {
        t->differs = true;
        return 1;
    }
    t->pos += n;
    return 0;
}

/* Compress the stream with w's settings, stopping at the first byte that
 * differs from the file's compressed data.  The stream goes in in pieces
 * of WRAP_CHUNK, as the writer on expand feeds it. */
static bool reproduces(const wrap_info *w, const uint8_t *expect, size_t len)
{
    trial t = {expect, len, 0, false};
    wrap_enc e;
    tp_ctx quiet;
    ctx_reset(&quiet);
    tp_code rc = wrap_enc_init(&quiet, &e, w, w->stream.len, trial_out, &t);
    for (size_t at = 0; !rc && at < w->stream.len; at += WRAP_CHUNK)
        rc = wrap_enc_run(&quiet, &e, w->stream.data + at, MIN_OF(WRAP_CHUNK, w->stream.len - at), false);
    if (!rc) rc = wrap_enc_run(&quiet, &e, NULL, 0, true);
    wrap_enc_free(&e);
    return !rc && !t.differs && t.pos == len;
}

tp_code wrap_open(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, wrap_info *w)
{
    memset(w, 0, sizeof *w);
    w->method = (uint8_t)wrap_detect(in, len);
    const wrap_method *m = wrap_method_of(w->method);
    if (!m) return TP_OK;
    w->file_size = len;
    checksum128(in, len, w->file_checksum);
    uint64_t limit = lim && lim->max_memory ? lim->max_memory : (uint64_t)4 << 30;
    wrap_dec d = {ctx, &w->stream, limit, m};

    size_t start = 0, used = 0;
    if (m->prefix) {
        tp_code rc = m->prefix(ctx, in, len, &start);
        if (rc) return rc;
        w->prefix = in;
        w->prefix_len = start;
    }
    const uint8_t *z = in + start;
    size_t zlen = len - start;
    tp_code rc = m->decompress(&d, z, zlen, &used);
    if (rc) {
        wrap_free(w);
        return rc;
    }
    w->suffix = z + used;
    w->suffix_len = zlen - used;

    int cand[16];
    size_t n = m->candidates(w, in, z, zlen, cand);
    if (!n) cand[n++] = m->fallback_level;
    w->param = m->header_param ? m->header_param(z, zlen) : 0;
    for (size_t i = 0; i < n && !w->exact; i++) {
        w->level = cand[i];
        w->exact = reproduces(w, z, used);
    }
    /* nothing reproduces the file: the likeliest level still gives a file
     * that decompresses to the same stream */
    if (!w->exact) w->level = cand[0];
    return TP_OK;
}
