/*
 * zstd_ctx.c - per-thread zstd contexts (see zstd_ctx.h).
 */
#include "zstd_ctx.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct zstd_pair {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} zstd_pair;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;

static void pair_free(void *p)
{
    zstd_pair *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

static void make_key(void) { key_ok = pthread_key_create(&key, pair_free) == 0; }

static zstd_pair *thread_pair(void)
{
    pthread_once(&key_once, make_key);
    if (!key_ok) return NULL;
    zstd_pair *z = pthread_getspecific(key);
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z) return NULL;
        if (pthread_setspecific(key, z) != 0) {
            free(z);
            return NULL;
        }
    }
    return z;
}

/* From this size on, a context of its own. */
#define KEEP_MAX ((size_t)128 << 10)

ZSTD_CCtx *tp_zstd_cctx(size_t n, ZSTD_CCtx **own)
{
    *own = NULL;
    if (n >= KEEP_MAX) return *own = ZSTD_createCCtx();
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->c && !(z->c = ZSTD_createCCtx())) return NULL;
    ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
    return z->c;
}

ZSTD_DCtx *tp_zstd_dctx(size_t n, ZSTD_DCtx **own)
{
    *own = NULL;
    if (n >= KEEP_MAX) return *own = ZSTD_createDCtx();
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->d && !(z->d = ZSTD_createDCtx())) return NULL;
    ZSTD_DCtx_reset(z->d, ZSTD_reset_session_and_parameters);
    return z->d;
}
