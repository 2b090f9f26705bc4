/*
 * test_shared.c - libtreepack.so as others use it: only treepack.h, only
 * the exported symbols.  A round trip of a fixture, and callers built
 * against an older, smaller header (their structs shorter than the
 * library's): the library reads and writes only what they have.
 *   test_shared FIXTURE
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "treepack.h"

static int failures;
#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

typedef struct mem {
    unsigned char *p;
    size_t n, cap;
} mem;

static int mem_write(void *opaque, const void *data, size_t len)
{
    mem *m = opaque;
    if (m->n + len > m->cap) {
        size_t cap = (m->n + len) * 2;
        unsigned char *p = realloc(m->p, cap);
        if (!p) return -1;
        m->p = p, m->cap = cap;
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) free(p), p = NULL;
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    size_t len;
    unsigned char *pkl = slurp(argv[1], &len);
    CHECK(pkl != NULL);
    if (!pkl) return 1;
    CHECK(tp_version_api() >= TP_API_VERSION);
    CHECK(tp_version()[0] != 0);
    tp_ctx *ctx = tp_ctx_new();

    /* a round trip, today's header */
    tp_options opt;
    tp_options_init(&opt);
    tp_report rep;
    tp_report_init(&rep);
    mem tpk = {0}, back = {0};
    tp_sink to_tpk = {.write = mem_write, .opaque = &tpk};
    CHECK(tp_compress(ctx, pkl, len, &opt, &to_tpk, &rep) == TP_OK);
    CHECK(rep.original_size == len && rep.trees > 0);
    tp_sink to_back = {.write = mem_write, .opaque = &back};
    CHECK(tp_expand(ctx, tpk.p, tpk.n, &opt, &to_back, NULL) == TP_OK);
    CHECK(back.n == len && !memcmp(back.p, pkl, len));

    /* an older caller: its tp_options ends before `exact`, its report
     * before `trees`; whatever lies after them must stay untouched */
    struct {
        tp_options opt;
        unsigned char guard[64];
    } old_opt;
    memset(&old_opt, 0xAB, sizeof old_opt);
    tp_options_init_sized(&old_opt.opt, offsetof(tp_options, exact));
    CHECK(old_opt.opt.level == TP_LEVEL_DEFAULT);
    CHECK(((unsigned char *)&old_opt)[offsetof(tp_options, exact)] == 0xAB);
    struct {
        tp_report rep;
        unsigned char guard[64];
    } old_rep;
    memset(&old_rep, 0xCD, sizeof old_rep);
    tp_report_init_sized(&old_rep.rep, offsetof(tp_report, trees));
    tpk.n = 0;
    CHECK(tp_compress(ctx, pkl, len, &old_opt.opt, &to_tpk, &old_rep.rep) == TP_OK);
    CHECK(old_rep.rep.original_size == len);
    CHECK(((unsigned char *)&old_rep)[offsetof(tp_report, trees)] == 0xCD);
    CHECK(((unsigned char *)&old_rep)[sizeof old_rep - 1] == 0xCD);

    /* an inspection whose element structs are shorter than the library's:
     * the lists are laid out with the caller's sizes */
    tp_inspection ins;
    tp_inspection_init_sized(&ins, sizeof ins, offsetof(tp_import, why), offsetof(tp_call, why),
                             sizeof(tp_inspect_tree), sizeof(tp_inspect_array));
    CHECK(tp_inspect(ctx, pkl, len, &opt, &ins) == TP_OK);
    CHECK(ins.nimports > 1 && ins.nrefused == 0);
    const unsigned char *second = (const unsigned char *)ins.imports + offsetof(tp_import, why);
    tp_import im;
    memcpy(&im, second, offsetof(tp_import, why));
    CHECK(im.module && im.name && im.offset > ins.imports[0].offset);
    tp_inspection_free(&ins);
    CHECK(ins.struct_size == sizeof ins && ins.import_size == offsetof(tp_import, why));

    /* a struct nobody set up is refused, not read */
    tp_options junk;
    memset(&junk, 0, sizeof junk);
    CHECK(tp_compress(ctx, pkl, len, &junk, &to_tpk, NULL) == TP_E_USAGE);

    tp_ctx_free(ctx);
    free(pkl);
    free(tpk.p);
    free(back.p);
    if (!failures) printf("libtreepack.so: round trip and older callers ok\n");
    return failures ? 1 : 0;
}
