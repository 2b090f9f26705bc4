/*
 * inspect.c - what a pickle would do when loaded, and the refusals built
 * on it.
 *
 * Why expand checks its output (tp_expand_checked): a .tpk is untrusted
 * too, and its checksum only proves that the bytes are the ones the
 * writer meant.  A crafted container can put any opcodes in the skeleton,
 * and splice payloads whose bytes (thresholds, rest bytes) become opcodes.
 * Only the finished stream tells what loading it would do, so expand
 * builds it in memory, reads it as compress would (imports, calls, trees
 * with their n_features) and hands it to the sink only when it passes.
 * The cost is holding the original in memory once.  A caller that can
 * take its output back (a file under a temporary name) streams it with
 * allow_unsafe instead and runs tp_check on the written file: the command
 * line does, which keeps expand close to the speed of writing the bytes.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>

#include "allowlist.h"
#include "container.h"
#include "inspect.h"
#include "verdict.h"
#include "wrap.h"

tp_code tp_inspection_refuse(tp_ctx *ctx, const tp_inspection *r, const char *where)
{
    size_t others = r->nrefused ? r->nrefused - 1 : 0;
    char more[64] = "";
    if (others) snprintf(more, sizeof more, " (and %zu more: see treepack inspect)", others);
    /* the first refusal in the stream, import or call */
    const tp_import *im = NULL;
    const tp_call *c = NULL;
    for (size_t i = 0; i < r->nimports && !im; i++)
        if (r->imports[i].status == TP_REFUSED) im = &r->imports[i];
    for (size_t i = 0; i < r->ncalls && !c; i++) {
        const tp_call *k = &r->calls[i];
        if (k->status == TP_REFUSED && !(k->import >= 0 && r->imports[k->import].status == TP_REFUSED)) c = k;
    }
    if (c && (!im || c->offset < im->offset)) {
        const tp_import *of = c->import >= 0 ? &r->imports[c->import] : NULL;
        if (of && (of->module[0] || of->name[0]))
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)c->offset, "%s%s %s.%s: %s%s", where, c->opcode, of->module,
                           of->name, c->why ? c->why : "refused", more);
        return tp_fail(ctx, TP_E_UNSAFE, (int64_t)c->offset, "%s%s: %s%s", where, c->opcode,
                       c->why ? c->why : "calls something that is not an imported name", more);
    }
    if (im) {
        if (im->module[0] || im->name[0])
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s %s.%s: %s%s", where, im->opcode, im->module,
                           im->name, im->why, more);
        if (!strncmp(im->opcode, "EXT", 3))
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s code %d: %s%s", where, im->opcode,
                           (int)im->ext_code, im->why, more);
        return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s: %s%s", where, im->opcode, im->why, more);
    }
    return tp_fail(ctx, TP_E_INTERNAL, -1, "a refusal without a refused name");
}

void tp_inspection_free(tp_inspection *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nimports; i++) {
        free(r->imports[i].module);
        free(r->imports[i].name);
    }
    free(r->imports);
    free(r->calls);
    free(r->trees);
    free(r->arrays);
    memset(r, 0, sizeof *r);
}

/* ---- checks ------------------------------------------------------------- */

tp_code tp_wrap_judge(tp_ctx *ctx, const tp_wrap *w, const uint8_t *file, size_t len, const tp_options *opt,
                      tp_inspection *sites)
{
    if (!w->method) return TP_OK;
    const char *why = tp_wrap_loader_risk(w);
    if (why && tp_verdict_note(sites, "(wrapper)", 0, why, TP_LOADER_PICKLE | TP_LOADER_JOBLIB))
        return tp_fail(ctx, TP_E_NOMEM, -1, "inspection tables");
    return file ? tp_scan_raw(ctx, file, len, opt, sites) : TP_OK;
}

tp_code tp_wrap_safe(tp_ctx *ctx, const tp_wrap *w, const uint8_t *file, size_t len, const tp_options *opt)
{
    if (!w->method || (opt && opt->allow_unsafe)) return TP_OK;
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_code rc = tp_wrap_judge(ctx, w, file, len, opt, &r);
    if (!rc && r.nrefused) rc = tp_inspection_refuse(ctx, &r, "");
    tp_inspection_free(&r);
    return rc;
}

tp_code tp_scan_safe(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_scan *scan)
{
    if (opt && opt->allow_unsafe) return tp_scan_run(ctx, in, len, &opt->limits, scan);
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_code rc = tp_scan_run_ex(ctx, in, len, opt, scan, &r);
    if (r.nrefused) {
        if (!rc) tp_scan_free(scan);
        tp_ctx_reset(ctx);
        rc = tp_inspection_refuse(ctx, &r, "");
    }
    tp_inspection_free(&r);
    return rc;
}

tp_code tp_found_tree_check(tp_ctx *ctx, const uint8_t *in, const tp_found_tree *f, char *why, size_t why_len)
{
    why[0] = 0;
    if (f->n_features < 1) {
        snprintf(why, why_len, "Tree declares %lld features", (long long)f->n_features);
        return TP_OK;
    }
    const npy_array *arr[2] = {&f->nodes, &f->values};
    const uint8_t *bytes[2];
    uint8_t *owned[2] = {NULL, NULL};
    tp_code rc = npy_array_bytes(ctx, in, &f->nodes, &bytes[0], &owned[0]);
    /* A tree as sklearn writes it is proven on its records where they
     * lie; only one that is not gets columns and the full walk. */
    if (!rc && tp_nodes_quick_valid(&f->layout, bytes[0], f->nodes.shape[0], f->n_features)) {
        free(owned[0]);
        return TP_OK;
    }
    if (!rc) rc = npy_array_bytes(ctx, in, arr[1], &bytes[1], &owned[1]);
    tp_tree t;
    if (!rc && !tp_tree_alloc(&t, f->nodes.shape[0], (uint32_t)f->values.shape[1], (uint32_t)f->values.shape[2],
                              f->layout.rest_size))
        rc = tp_fail(ctx, TP_E_NOMEM, (int64_t)f->offset, "a tree of %llu nodes", (unsigned long long)f->nodes.shape[0]);
    else if (!rc) {
        t.values_big = f->values.dtype.base.big;
        t.values_fortran = f->values.fortran;
        tp_tree_from_bytes(&t, &f->layout, bytes[0], bytes[1]);
        tp_tree_validate(&t, f->n_features, why, why_len);
        tp_tree_free(&t);
    }
    free(owned[0]);
    free(owned[1]);
    return rc;
}

/* Put `where` in front of the detail of the message already recorded. */
static void prefix_message(tp_ctx *ctx, const char *where)
{
    if (!where[0]) return;
    char old[sizeof ctx->msg];
    memcpy(old, ctx->msg, sizeof old);
    const char *head = tp_strerror(ctx->code);
    size_t hl = strlen(head);
    const char *detail = !strncmp(old, head, hl) && !strncmp(old + hl, ": ", 2) ? old + hl + 2 : old;
    snprintf(ctx->msg, sizeof ctx->msg, "%s: %s%s", head, where, detail);
}

tp_code tp_check_pickle(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, const char *where,
                        const tp_proven *proven)
{
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_scan scan;
    tp_code rc = tp_scan_trees(ctx, data, len, opt, &scan, &r, proven);
    if (r.nrefused && !(opt && opt->allow_unsafe)) {
        if (!rc) tp_scan_free(&scan);
        tp_ctx_reset(ctx);
        rc = tp_inspection_refuse(ctx, &r, where);
        tp_inspection_free(&r);
        return rc;
    }
    tp_inspection_free(&r);
    if (rc) {
        prefix_message(ctx, where);
        return rc;
    }
    if (scan.bad_tree_why[0])
        rc = tp_fail(ctx, TP_E_TREE, (int64_t)scan.bad_tree_offset, "%stree %zu: %s", where, scan.bad_tree,
                     scan.bad_tree_why);
    tp_scan_free(&scan);
    return rc;
}

/* ---- expanding into memory ------------------------------------------- */

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

static int mem_write(void *opaque, const void *data, size_t len)
{
    membuf *m = opaque;
    if (len > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap - m->len < len) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *p = realloc(m->data, cap);
        if (!p) return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

/* The pickle stream a loader would read: for a compressed joblib file,
 * the stream before it is compressed again (*wrapped set). */
static tp_code expand_to_memory(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, membuf *m,
                                tp_report *report, int *wrapped)
{
    tp_options o;
    if (opt) o = *opt;
    else tp_options_init(&o);
    o.allow_unsafe = 1; /* the caller checks */
    /* one allocation of the declared size (within the memory limit): growing
     * by doubling would copy the stream and hold up to twice its size */
    tpk_header h;
    tpk_section *secs = NULL;
    size_t nsecs = 0;
    if (tpk_parse(ctx, in, in_len, &h, &secs, &nsecs) == TP_OK && h.original_size &&
        h.original_size <= (o.limits.max_memory ? o.limits.max_memory : (uint64_t)4 << 30) &&
        h.original_size <= SIZE_MAX) {
        m->data = malloc((size_t)h.original_size);
        if (m->data) m->cap = (size_t)h.original_size;
#ifdef MADV_HUGEPAGE
        /* a few hundred MB faulted in 4 KiB pages costs more system time
         * than writing them out; huge pages cut that 512-fold */
        if (m->data && m->cap >= (32u << 20)) {
            uintptr_t a = ((uintptr_t)m->data + 0x1fffff) & ~(uintptr_t)0x1fffff;
            uintptr_t e = ((uintptr_t)m->data + m->cap) & ~(uintptr_t)0x1fffff;
            if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
        }
#endif
    }
    free(secs);
    tp_ctx_reset(ctx);
    tp_sink sink = {.write = mem_write, .opaque = m};
    return tp_expand_stream(ctx, in, in_len, &o, &sink, report, wrapped);
}

/* The compression around the stream that expand would write: what
 * tp_wrap_judge says of a file, said of the one expand writes. */
static tp_code wrap_check(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt)
{
    tp_wrap w;
    tp_code rc = tp_wrap_load(ctx, in, in_len, &w);
    tp_inspection r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = tp_wrap_judge(ctx, &w, NULL, 0, opt, &r);
    if (!rc && r.nrefused) rc = tp_inspection_refuse(ctx, &r, "in the expanded file: ");
    tp_inspection_free(&r);
    tp_wrap_free(&w);
    return rc;
}

tp_code tp_expand_checked(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                          tp_report *report)
{
    membuf m = {0};
    int wrapped = 0;
    tp_code rc = expand_to_memory(ctx, in, in_len, opt, &m, report, &wrapped);
    if (!rc) rc = tp_check_pickle(ctx, m.data, m.len, opt, "in the expanded pickle: ", NULL);
    if (!rc && wrapped && !(opt && opt->allow_unsafe)) rc = wrap_check(ctx, in, in_len, opt);
    if (!rc && wrapped) {
        /* a compressed joblib file: compress the checked stream again
         * (this also checks the file's own checksum) */
        rc = tp_wrap_rewrap(ctx, in, in_len, m.data, m.len, out);
    } else if (!rc && out && m.len && out->write(out->opaque, m.data, m.len)) {
        rc = tp_fail(ctx, TP_E_WRITE, -1, "the output refused %zu bytes", m.len);
    }
    free(m.data);
    return rc;
}

tp_code tp_check(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt)
{
    tp_ctx_reset(ctx);
    tp_options o;
    if (opt) o = *opt;
    else tp_options_init(&o);
    o.allow_unsafe = 0; /* this is the check */
    return tp_check_pickle(ctx, data, len, &o, "in the expanded pickle: ", NULL);
}

/* ---- the public report ------------------------------------------------- */

tp_code tp_inspect(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_inspection *out)
{
    tp_ctx_reset(ctx);
    memset(out, 0, sizeof *out);
    out->plain_stop = -1;
    membuf m = {0};
    const uint8_t *p = in;
    size_t n = len;
    tp_code rc = TP_OK;
    tp_wrap wrap;
    memset(&wrap, 0, sizeof wrap);
    if (tp_is_container(in, len)) {
        out->format = TP_FORMAT_TPK;
        int wrapped = 0;
        if ((rc = expand_to_memory(ctx, in, len, opt, &m, NULL, &wrapped))) goto done;
        out->compressed = wrapped;
        if (wrapped) {
            tp_wrap w;
            if (!(rc = tp_wrap_load(ctx, in, len, &w))) rc = tp_wrap_judge(ctx, &w, NULL, 0, opt, out);
            tp_wrap_free(&w);
            if (rc) goto done;
        }
        p = m.data;
        n = m.len;
    } else {
        /* a compressed joblib file: what a loader reads is inside */
        if ((rc = tp_wrap_open(ctx, in, len, opt ? &opt->limits : NULL, &wrap))) goto done;
        if (wrap.method) {
            out->compressed = 1;
            p = wrap.stream.data;
            n = wrap.stream.len;
            if ((rc = tp_wrap_judge(ctx, &wrap, in, len, opt, out))) goto done;
        }
    }
    out->size = n;
    tp_scan scan;
    rc = tp_scan_run_ex(ctx, p, n, opt, &scan, out);
    if (rc) goto done;
    out->complete = 1;
    out->npickles = scan.npickles;
    out->trees = calloc(scan.ntrees + 1, sizeof *out->trees);
    if (!out->trees) rc = tp_fail(ctx, TP_E_NOMEM, -1, "tree list");
    for (size_t i = 0; i < scan.ntrees && !rc; i++) {
        const tp_found_tree *f = &scan.trees[i];
        tp_inspect_tree *t = &out->trees[out->ntrees++];
        t->offset = f->offset;
        t->n_features = f->n_features;
        t->nodes = f->nodes.shape[0];
        t->n_outputs = (uint32_t)f->values.shape[1];
        t->n_classes = (uint32_t)f->values.shape[2];
        rc = tp_found_tree_check(ctx, p, f, t->problem, sizeof t->problem);
        t->valid = !t->problem[0];
    }
    tp_scan_free(&scan);
done:
    if (rc && wrap.method) tp_wrap_annotate(ctx, &wrap);
    tp_wrap_free(&wrap);
    free(m.data);
    return rc;
}
