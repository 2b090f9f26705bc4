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

ZSTD_CCtx *tp_zstd_cctx(void)
{
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->c && !(z->c = ZSTD_createCCtx())) return NULL;
    ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
    return z->c;
}

ZSTD_DCtx *tp_zstd_dctx(void)
{
    zstd_pair *z = thread_pair();
    if (!z) return NULL;
    if (!z->d && !(z->d = ZSTD_createDCtx())) return NULL;
    ZSTD_DCtx_reset(z->d, ZSTD_reset_session_and_parameters);
    return z->d;
}
