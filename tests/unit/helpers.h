/*
 * helpers.h - small shared helpers for the unit tests: fixture files,
 * an in-memory sink, a deterministic random generator, and a way to mark
 * a known bug so that the suite stays green until it is fixed.
 *
 * Everything is static inline so that each test uses only what it needs
 * without unused-function warnings.
 */
#ifndef UNIT_HELPERS_H
#define UNIT_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "treepack.h"

/* Fail the test when `cond` holds, saying which bug it would be: each
 * use guards against the return of a bug that was found and fixed, and
 * the message says what it was. */
#define FAIL_IF(cond, ...)                                                                                        \
    do {                                                                                                          \
        if (cond) fail_msg("regression: " __VA_ARGS__);                                                           \
    } while (0)

/* Run fn(arg) in a child process, for inputs that may crash the library
 * (a known bug, or undefined behaviour a sanitizer turns into an abort).
 * Returns fn's result (0-255), or minus the signal that killed the child. */
static inline int tt_in_child(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1000;
    if (pid == 0) {
        /* cmocka's handlers would resume the test runner in the child */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        _exit(fn(arg) & 0xff);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1000;
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1000;
}

/* ---- files --------------------------------------------------------------- */

static inline uint8_t *tt_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        uint8_t *p = realloc(buf, cap);
        if (!p) {
            free(buf);
            buf = NULL;
        }
        buf = p;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The fixtures directory, from TP_FIXTURES (set by tests/unit/meson.build). */
static inline const char *tt_fixtures_dir(void)
{
    const char *d = getenv("TP_FIXTURES");
    return d && *d ? d : NULL;
}

/* Read fixtures/<name>; NULL when the directory is unknown or the file missing. */
static inline uint8_t *tt_load_fixture(const char *name, size_t *len)
{
    *len = 0;
    const char *dir = tt_fixtures_dir();
    if (!dir) return NULL;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) return NULL;
    snprintf(path, n, "%s/%s", dir, name);
    uint8_t *data = tt_read_file(path, len);
    free(path);
    return data;
}

/* Declare `var` holding fixtures/<name>, or skip the test when the
 * fixtures are not available. */
#define LOAD_FIXTURE_OR_SKIP(var, name, lenp)                                                                     \
    uint8_t *var = tt_load_fixture((name), (lenp));                                                               \
    if (!var) {                                                                                                   \
        print_message("fixture %s not found (TP_FIXTURES=%s)\n", (name),                                          \
                      tt_fixtures_dir() ? tt_fixtures_dir() : "unset");                                           \
        skip();                                                                                                   \
    }

/* One line of fixtures/MANIFEST.txt. */
typedef struct tt_fixture {
    char name[128];
    uint64_t bytes;
    uint64_t tree_nodes;
    int protocol;
} tt_fixture;

/* Parse MANIFEST.txt; returns the number of entries (0 if unavailable). */
static inline size_t tt_manifest(tt_fixture *out, size_t max)
{
    size_t len;
    uint8_t *m = tt_load_fixture("MANIFEST.txt", &len);
    if (!m) return 0;
    size_t n = 0;
    char *text = malloc(len + 1);
    memcpy(text, m, len);
    text[len] = 0;
    free(m);
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0]) continue;
        tt_fixture f;
        memset(&f, 0, sizeof f);
        unsigned long long bytes, nodes;
        int proto;
        if (sscanf(line, "%127s %llu %llu pickle protocol %d", f.name, &bytes, &nodes, &proto) != 4) continue;
        f.bytes = bytes;
        f.tree_nodes = nodes;
        f.protocol = proto;
        out[n++] = f;
    }
    free(text);
    return n;
}

/* ---- an in-memory sink --------------------------------------------------- */

typedef struct tt_membuf {
    uint8_t *data;
    size_t len, cap;
    long fail_after; /* refuse the write after this many bytes; -1: never */
} tt_membuf;

static inline int tt_membuf_write(void *opaque, const void *data, size_t len)
{
    tt_membuf *m = opaque;
    if (m->fail_after >= 0 && m->len + len > (size_t)m->fail_after) return 1;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + len) cap *= 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p) return 1;
        m->data = p;
        m->cap = cap;
    }
    if (len) memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

static inline tp_sink tt_membuf_sink(tt_membuf *m)
{
    memset(m, 0, sizeof *m);
    m->fail_after = -1;
    tp_sink s = {.write = tt_membuf_write, .opaque = m};
    return s;
}

static inline void tt_membuf_free(tt_membuf *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- deterministic randomness ------------------------------------------ */

typedef struct tt_rng {
    uint64_t s;
} tt_rng;

static inline uint64_t tt_next(tt_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t tt_below(tt_rng *r, uint64_t n) { return n ? tt_next(r) % n : 0; }

static inline double tt_unit(tt_rng *r) { return (double)(tt_next(r) >> 11) / 9007199254740992.0; }

static inline void tt_fill(tt_rng *r, void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)tt_next(r);
}

static inline double tt_bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline uint64_t tt_double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

#endif
