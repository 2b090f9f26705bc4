/*
 * termcm.c - context mixing for term lists (see termcm.h).
 *
 * The structure follows the well-known lpaq design (Matt Mahoney's,
 * public domain): hashed bit contexts feeding adaptive probabilities, a
 * logistic mixer, an APM stage and a carry-less binary arithmetic coder.
 * The contexts are this file's own: they know lines (terms) and words.
 */
#include <stdlib.h>

#include "base/termcm.h"

#define NM 10                 /* hashed models */
#define NI (NM + 2)           /* mixer inputs: models, match model, bias */
#define NSETS 64              /* mixer weight sets */
#define MATCH_BITS 20
#define MAX_TERM 255

typedef struct cm {
    uint32_t *t;              /* NM tables of 1 << bits slots: p22 << 10 | count */
    unsigned bits;
    uint32_t mask;
    uint32_t h[NM];           /* per byte */
    uint32_t *slot[NM];       /* per bit */
    uint32_t line[NM];        /* per nibble: the 16-slot group (one cache line) of each model */
    int st[NI];
    int32_t w[NSETS][NI];
    int wset;
    int pmix, pr;
    uint16_t *apm;            /* 65536 contexts x 33 */
    uint32_t apm_i;
    int stretch_t[4096];
    int dt[1024];
    /* match model */
    uint32_t *mt;
    uint64_t mptr, mlen;
    int mbit;                 /* expected bit, or -1 */
    uint16_t msm[64];         /* p16 by (len bucket, expected bit) */
    int msm_i;
    /* history */
    const uint8_t *buf;       /* the data so far (input, or output while decoding) */
    uint64_t pos;
    uint32_t c0;
    uint32_t c4, c8;          /* last 8 bytes */
    /* terms */
    uint8_t cur[MAX_TERM + 1], prev[MAX_TERM + 1];
    int curlen, prevlen, match;
    uint32_t term_h, word_h, pword_h;
} cm;

static int squash(int d)
{
    static const int t[33] = {1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
                              310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
                              3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
    if (d > 2047) return 4095;
    if (d < -2047) return 1;
    int x = d + 2048;
    int i = x >> 7, w = x & 127;
    return (t[i] * (128 - w) + t[i + 1] * w + 64) >> 7;
}

static uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t h = a * 0x9E3779B1u ^ b * 0x85EBCA77u ^ c * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 13;
    return h;
}

static bool cm_init(cm *m, size_t n)
{
    memset(m, 0, sizeof *m);
    unsigned bits = 12;
    while (bits < 21 && ((uint64_t)1 << bits) < (uint64_t)n * 4) bits++;
    m->bits = bits;
    m->mask = (1u << bits) - 1;
    m->t = malloc(((size_t)NM << bits) * sizeof *m->t);
    m->apm = malloc((size_t)65536 * 33 * sizeof *m->apm);
    m->mt = calloc((size_t)1 << MATCH_BITS, sizeof *m->mt);
    if (!m->t || !m->apm || !m->mt) return false;
    m->t[0] = (uint32_t)1 << 31; /* p = 1/2, no count */
    for (size_t done = 1; done < ((size_t)NM << bits); done *= 2)
        memcpy(m->t + done, m->t, MIN_OF(done, ((size_t)NM << bits) - done) * sizeof *m->t);
    int pi = 0;
    for (int x = -2047; x <= 2047; x++) {
        int v = squash(x);
        for (int j = pi; j <= v; j++) m->stretch_t[j] = x;
        pi = v + 1;
    }
    for (int j = pi; j < 4096; j++) m->stretch_t[j] = 2047;
    for (int i = 0; i < 1024; i++) m->dt[i] = 131072 / (2 * i + 3); /* 2^16 / (n + 1.5) */
    for (int s = 0; s < NSETS; s++)
        for (int i = 0; i < NI; i++) m->w[s][i] = i < NM ? (1 << 14) : 0;
    for (int j = 0; j < 33; j++) m->apm[j] = (uint16_t)(squash((j - 16) * 128) * 16);
    for (size_t done = 33; done < (size_t)65536 * 33; done *= 2) /* copy the first row, doubling */
        memcpy(m->apm + done, m->apm, MIN_OF(done, (size_t)65536 * 33 - done) * sizeof *m->apm);
    for (int i = 0; i < 64; i++) m->msm[i] = 1 << 15;
    m->c0 = 1;
    m->match = 1;
    m->mbit = -1;
    return true;
}

static void cm_free(cm *m)
{
    free(m->t);
    free(m->apm);
    free(m->mt);
}

static int stretch(const cm *m, int p) { return m->stretch_t[p]; }

/* The contexts of the next byte. */
static void byte_contexts(cm *m)
{
    uint32_t c1 = m->c4 & 0xff, c2 = m->c4 & 0xffff, c3 = m->c4 & 0xffffff;
    int pc = m->curlen < m->prevlen ? m->prev[m->curlen] : 256;
    int pc2 = m->curlen + 1 < m->prevlen ? m->prev[m->curlen + 1] : 256;
    int len = m->curlen < 15 ? m->curlen : 15;
    m->h[0] = hash3(1, c1, 0);
    m->h[1] = hash3(2, c2, 0);
    m->h[2] = hash3(3, c3, 0);
    m->h[3] = hash3(4, m->c4, 0);
    m->h[4] = hash3(5, m->c4, m->c8 & 0xffff);
    m->h[5] = hash3(6, m->term_h, (uint32_t)m->curlen);
    m->h[6] = hash3(7, m->word_h, c1);
    m->h[7] = hash3(8, m->pword_h, m->word_h);
    m->h[8] = hash3(9, (uint32_t)pc | (uint32_t)m->match << 9, c1);
    m->h[9] = hash3(10, (uint32_t)pc | (uint32_t)pc2 << 9 | (uint32_t)m->match << 18, (uint32_t)len);
    int lb = m->curlen < 3 ? m->curlen : 3;
    m->wset = (m->match ? 1 : 0) + 2 * lb;
}

static void predict(cm *m)
{
    int bitpos = 0;
    for (uint32_t c = m->c0; c > 1; c >>= 1) bitpos++;
    /* a nibble's 15 contexts share one group of 16 slots: two cache
     * misses per byte and model instead of eight */
    if (bitpos == 0 || bitpos == 4) {
        uint32_t mix = (bitpos ? m->c0 : 0) * 0x9E3779B1u;
        for (int i = 0; i < NM; i++) m->line[i] = (((m->h[i] ^ mix) * 0x2545F491u) >> (32 - m->bits)) & ~15u;
    }
    uint32_t nib = bitpos < 4 ? m->c0 : (m->c0 & ((1u << (bitpos - 4)) - 1)) | 1u << (bitpos - 4);
    for (int i = 0; i < NM; i++) {
        m->slot[i] = &m->t[((size_t)i << m->bits) + m->line[i] + nib];
        m->st[i] = stretch(m, (int)(*m->slot[i] >> 20));
    }
    /* match model */
    if (m->mlen && m->mbit >= 0) {
        int lb = m->mlen < 15 ? (int)m->mlen : 15;
        m->msm_i = lb * 2 + m->mbit;
        m->st[NM] = stretch(m, m->msm[m->msm_i] >> 4);
    } else {
        m->msm_i = -1;
        m->st[NM] = 0;
    }
    m->st[NM + 1] = 256;
    int set = m->wset + 8 * bitpos;
    int64_t dot = 0;
    for (int i = 0; i < NI; i++) dot += (int64_t)m->w[set][i] * m->st[i];
    int d = (int)(dot >> 16);
    m->pmix = squash(d);
    /* APM on order 1 */
    int s = stretch(m, m->pmix) + 2048;
    int lo = s >> 7, wt = s & 127;
    uint32_t cx = (m->c0 | (m->c4 & 0xff) << 8) * 33;
    uint32_t a = cx + (uint32_t)lo;
    int pa = (m->apm[a] * (128 - wt) + m->apm[a + 1] * wt) >> 11;
    m->apm_i = a + (wt >> 6);
    int p = (m->pmix + 3 * pa) >> 2;
    m->pr = p < 1 ? 1 : p > 4095 ? 4095 : p;
}

static void update(cm *m, int y)
{
    int bitpos = 0;
    for (uint32_t c = m->c0; c > 1; c >>= 1) bitpos++;
    int set = m->wset + 8 * bitpos;
    /* mixer */
    int err = ((y << 12) - m->pmix) * 6;
    for (int i = 0; i < NI; i++) m->w[set][i] += (m->st[i] * err + (1 << 15)) >> 16;
    /* counters */
    for (int i = 0; i < NM; i++) {
        uint32_t v = *m->slot[i];
        uint32_t n = v & 1023, p = v >> 10;
        int64_t target = y ? (1 << 22) - 1 : 0;
        p = (uint32_t)((int64_t)p + (((target - (int64_t)p) * m->dt[n]) >> 16));
        if (n < 255) n++;
        *m->slot[i] = p << 10 | n;
    }
    /* APM */
    int g = (y << 16) + (y << 7) - y - y;
    m->apm[m->apm_i] = (uint16_t)(m->apm[m->apm_i] + ((g - m->apm[m->apm_i]) >> 7));
    /* match model */
    if (m->msm_i >= 0) {
        int t = y << 16;
        m->msm[m->msm_i] = (uint16_t)(m->msm[m->msm_i] + ((t - m->msm[m->msm_i] - (t ? 1 : 0)) >> 6));
        if (m->mbit != y) m->mlen = 0;
    }
    m->c0 = m->c0 << 1 | (uint32_t)y;
    if (m->c0 < 256) {
        if (m->mlen) {
            int b = bitpos + 1;
            uint32_t pb = (uint32_t)m->buf[m->mptr] | 256;
            m->mbit = (int)((pb >> (7 - b)) & 1);
        }
        return;
    }
    /* a whole byte */
    uint8_t c = (uint8_t)m->c0;
    m->c0 = 1;
    m->c8 = m->c8 << 8 | m->c4 >> 24;
    m->c4 = m->c4 << 8 | c;
    m->pos++;
    if (c == '\n') {
        memcpy(m->prev, m->cur, (size_t)m->curlen);
        m->prevlen = m->curlen;
        m->curlen = 0;
        m->match = 1;
        m->term_h = m->word_h = m->pword_h = 0;
    } else {
        if (m->curlen < MAX_TERM) {
            m->match = m->match && m->curlen < m->prevlen && m->prev[m->curlen] == c;
            m->cur[m->curlen++] = c;
        } else {
            m->match = 0;
        }
        m->term_h = hash3(m->term_h, c, 11);
        bool wordch = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (wordch) {
            m->word_h = hash3(m->word_h, c, 12);
        } else {
            m->pword_h = m->word_h ^ c;
            m->word_h = 0;
        }
    }
    /* match model: follow or find */
    if (m->mlen) {
        m->mptr++;
        m->mlen++;
    }
    if (m->pos >= 5) {
        uint32_t hh = hash3(m->c4, m->c8 & 0xff, 13) >> (32 - MATCH_BITS);
        if (!m->mlen) {
            uint32_t cand = m->mt[hh];
            if (cand) {
                m->mptr = cand;
                uint64_t l = 0;
                while (l < 32 && l < cand && m->buf[cand - 1 - l] == m->buf[m->pos - 1 - l]) l++;
                m->mlen = l;
            }
        }
        m->mt[hh] = (uint32_t)m->pos;
    }
    if (m->mlen && m->mptr >= m->pos) m->mlen = 0;
    m->mbit = m->mlen ? (m->buf[m->mptr] >> 7) & 1 : -1;
    byte_contexts(m);
}

tp_code termcm_encode(tp_ctx *ctx, const uint8_t *data, size_t n, bytebuf *out)
{
    if (n > UINT32_MAX) return ctx_fail(ctx, TP_E_USAGE, -1, "term list of %zu bytes is too long", n);
    cm *m = malloc(sizeof *m);
    if (!m || !cm_init(m, n)) {
        if (m) cm_free(m);
        free(m);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "term coder");
    }
    m->buf = data;
    byte_contexts(m);
    uint32_t x1 = 0, x2 = 0xffffffff;
    for (size_t i = 0; i < n; i++) {
        for (int b = 7; b >= 0; b--) {
            int y = (data[i] >> b) & 1;
            predict(m);
            uint32_t xmid = x1 + (uint32_t)(((uint64_t)(x2 - x1) * (uint32_t)m->pr) >> 12);
            if (y) x2 = xmid;
            else x1 = xmid + 1;
            update(m, y);
            while (((x1 ^ x2) & 0xff000000) == 0) {
                bytebuf_u8(out, (uint8_t)(x2 >> 24));
                x1 <<= 8;
                x2 = (x2 << 8) | 255;
            }
        }
    }
    for (int k = 3; k >= 0; k--) bytebuf_u8(out, (uint8_t)(x1 >> (8 * k))); /* x1, most significant byte first */
    cm_free(m);
    free(m);
    return out->failed ? ctx_fail(ctx, TP_E_NOMEM, -1, "term coder output") : TP_OK;
}

tp_code termcm_decode(tp_ctx *ctx, const uint8_t *in, size_t len, uint8_t *dst, size_t n)
{
    cm *m = malloc(sizeof *m);
    if (!m || !cm_init(m, n)) {
        if (m) cm_free(m);
        free(m);
        return ctx_fail(ctx, TP_E_NOMEM, -1, "term coder");
    }
    m->buf = dst;
    byte_contexts(m);
    uint32_t x1 = 0, x2 = 0xffffffff, x = 0;
    size_t ip = 0;
    /* the encoder ends with the 4 bytes of x1: reading past the end is corruption */
    bool over = false;
    for (int k = 0; k < 4; k++) x = x << 8 | (ip < len ? in[ip++] : (over = true, 0));
    for (size_t i = 0; i < n && !over; i++) {
        uint32_t c = 0;
        for (int b = 7; b >= 0; b--) {
            predict(m);
            uint32_t xmid = x1 + (uint32_t)(((uint64_t)(x2 - x1) * (uint32_t)m->pr) >> 12);
            int y = x <= xmid;
            if (y) x2 = xmid;
            else x1 = xmid + 1;
            c = c << 1 | (uint32_t)y;
            if (b == 0) dst[i] = (uint8_t)c; /* the byte is history before the update reads it */
            update(m, y);
            while (((x1 ^ x2) & 0xff000000) == 0) {
                x1 <<= 8;
                x2 = (x2 << 8) | 255;
                x = x << 8 | (ip < len ? in[ip++] : (over = true, 0));
            }
        }
    }
    cm_free(m);
    free(m);
    if (over || ip != len) return ctx_fail(ctx, TP_E_TPK_CORRUPT, -1, "the coded terms do not decode");
    return TP_OK;
}
