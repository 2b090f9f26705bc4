/*
 * outpipe.c - double-buffered output with a writer thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>

#include "base/outpipe.h"

/* 8 x 1 MiB: a 5 GB pickle is about 5,000 hand-offs to the writer rather
 * than 40,000 (each a wake-up of the other thread, and at 128 KiB a
 * context switch every few tens of microseconds), for 7 MiB more. */
#define NBUF 8
#define BUFSIZE ((size_t)1 << 20)
#define THREAD_MIN_BYTES ((uint64_t)4 << 20)

struct outpipe {
    tp_ctx *ctx;
    tp_sink *sink;
    XXH3_state_t *hash;
    uint8_t *buf[NBUF];
    size_t len[NBUF];
    /* ring: buffers [head, head+queued) are full and wait for the writer;
     * `cur` is the one the producer fills. */
    int cur, head, queued;
    bool done, failed, started, inited;
    bool abandon;         /* stop without writing what is queued */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
};

static void *writer(void *arg)
{
    outpipe *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->queued && !p->done) pthread_cond_wait(&p->cond, &p->lock);
        if (p->abandon || (!p->queued && p->done)) break;
        int b = p->head;
        pthread_mutex_unlock(&p->lock);
        bool ok = true;
        XXH3_128bits_update(p->hash, p->buf[b], p->len[b]);
        if (p->sink && p->sink->write(p->sink->opaque, p->buf[b], p->len[b])) ok = false;
        pthread_mutex_lock(&p->lock);
        if (!ok) p->failed = true;
        p->head = (p->head + 1) % NBUF;
        p->queued--;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

tp_code outpipe_open(tp_ctx *ctx, tp_sink *sink, uint64_t expected, outpipe **out)
{
    *out = NULL;
    outpipe *p = calloc(1, sizeof *p);
    if (!p) return ctx_fail(ctx, TP_E_NOMEM, -1, "output pipe");
    p->ctx = ctx;
    p->sink = sink;
    p->hash = XXH3_createState();
    bool ok = p->hash && XXH3_128bits_reset(p->hash) == XXH_OK;
    /* Without a sink the bytes are only hashed: that is done where they
     * are, in the caller's thread, faster than copying them to a buffer
     * for another thread would be (the check after compress expands the
     * whole file this way).  Without the writer, one buffer is all that
     * is used. */
    const bool threaded = sink && expected >= THREAD_MIN_BYTES;
    for (int i = 0; i < (!sink ? 0 : threaded ? NBUF : 1) && ok; i++) ok = (p->buf[i] = malloc(BUFSIZE)) != NULL;
    if (!ok) {
        outpipe_free(p);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "output pipe");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->inited = true;
    p->started = threaded && pthread_create(&p->thread, NULL, writer, p) == 0;
    *out = p;
    return TP_OK;
}

/* Hand the current buffer to the writer and take the next free one. */
static tp_code rotate(outpipe *p)
{
    if (!p->started) { /* no thread: write in place */
        XXH3_128bits_update(p->hash, p->buf[p->cur], p->len[p->cur]);
        if (p->sink && p->sink->write(p->sink->opaque, p->buf[p->cur], p->len[p->cur])) p->failed = true;
        p->len[p->cur] = 0;
        return p->failed ? ctx_fail(p->ctx, TP_E_WRITE, -1, "the output refused data") : TP_OK;
    }
    pthread_mutex_lock(&p->lock);
    p->queued++;
    pthread_cond_broadcast(&p->cond);
    while (p->queued == NBUF) pthread_cond_wait(&p->cond, &p->lock);
    p->cur = (p->head + p->queued) % NBUF;
    p->len[p->cur] = 0;
    bool failed = p->failed;
    pthread_mutex_unlock(&p->lock);
    return failed ? ctx_fail(p->ctx, TP_E_WRITE, -1, "the output refused data") : TP_OK;
}

tp_code outpipe_write(outpipe *p, const void *data, size_t len)
{
    if (!p->sink) { /* only hashed, in place */
        XXH3_128bits_update(p->hash, data, len);
        return TP_OK;
    }
    const uint8_t *s = data;
    while (len) {
        size_t room = BUFSIZE - p->len[p->cur];
        size_t n = len < room ? len : room;
        memcpy(p->buf[p->cur] + p->len[p->cur], s, n);
        p->len[p->cur] += n;
        s += n;
        len -= n;
        if (p->len[p->cur] == BUFSIZE) {
            tp_code rc = rotate(p);
            if (rc) return rc;
        }
    }
    return TP_OK;
}

tp_code outpipe_finish(outpipe *p, uint8_t digest[16])
{
    tp_code rc = p->sink && p->len[p->cur] ? rotate(p) : TP_OK;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->done = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        p->started = false;
    }
    if (!rc && p->failed) rc = ctx_fail(p->ctx, TP_E_WRITE, -1, "the output refused data");
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(p->hash));
    memcpy(digest, c.digest, 16);
    return rc;
}

void outpipe_free(outpipe *p)
{
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->done = true;
        p->abandon = true; /* the output is being thrown away */
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    if (p->inited) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
    }
    for (int i = 0; i < NBUF; i++) free(p->buf[i]);
    if (p->hash) XXH3_freeState(p->hash);
    free(p);
}
