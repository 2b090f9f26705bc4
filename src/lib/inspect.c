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
#include "wrap.h"

/* A printable copy of a name: printable ASCII but the backslash as it
 * is, everything else as \xNN, so that no two byte strings print the
 * same.  *readable is cleared when the name cannot be compared as it is
 * written (escapes in a STRING/UNICODE argument, a name too long). */
#define NAME_MAX_SHOWN 200

static char *printable(const pv_vm *vm, pv v, bool *readable)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    if (v.kind == PV_STR || v.kind == PV_BYTES) {
        p = vm->data + v.a;
        n = (size_t)v.n;
        if ((v.enc == ENC_ESCAPED || v.enc == ENC_RAW_UNICODE_ESCAPE) && memchr(p, '\\', n)) *readable = false;
    } else {
        *readable = false;
    }
    if (n > NAME_MAX_SHOWN) {
        n = NAME_MAX_SHOWN;
        *readable = false;
    }
    char *s = malloc(4 * n + 4);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') s[k++] = (char)p[i];
        else k += (size_t)snprintf(s + k, 5, "\\x%02x", p[i]);
    }
    if (!*readable && n == NAME_MAX_SHOWN) memcpy(s + k, "...", 3), k += 3;
    s[k] = 0;
    return s;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int add_import(tp_inspection *r, size_t *cap, char *module, char *name, uint8_t opcode, uint64_t offset,
                      int32_t ext, const char *why)
{
    if (!module || !name || !tp_array_room((void **)&r->imports, cap, r->nimports, sizeof *r->imports)) {
        free(module);
        free(name);
        return -1;
    }
    tp_import *im = &r->imports[r->nimports++];
    memset(im, 0, sizeof *im);
    im->module = module;
    im->name = name;
    im->opcode = tp_opinfo_get(opcode) ? tp_opinfo_get(opcode)->name : "?";
    im->offset = offset;
    im->ext_code = ext;
    im->why = why;
    return 0;
}

static void describe_dtype(const npy_dtype *dt, char *buf, size_t len)
{
    const npy_scalar *b = &dt->base;
    if (b->kind == 'V' || b->size == 1) snprintf(buf, len, "%c%u", b->kind, b->size);
    else snprintf(buf, len, "%c%c%u", b->big ? '>' : '<', b->kind, b->size);
}

int tp_inspection_collect(const pv_vm *vm, tp_inspection *r, bool arrays)
{
    size_t icap = r->nimports, ccap = r->ncalls, acap = r->narrays;
    r->protocol = vm->max_proto;
    r->opcodes = vm->nops;
    /* imports first, in stream order: their indices are the globals' */
    size_t base = r->nimports;
    for (size_t i = 0; i < vm->nglobals; i++) {
        const pv_global *g = &vm->globals[i];
        bool readable = true;
        const char *why = NULL;
        char *m, *n;
        if (g->opcode == OP_EXT1 || g->opcode == OP_EXT2 || g->opcode == OP_EXT4) {
            m = dup_str("");
            n = dup_str("");
            why = "an entry of the copyreg extension registry: a number, not a name";
        } else {
            m = printable(vm, g->module, &readable);
            n = printable(vm, g->name, &readable);
            if (!readable) why = "the name is written with escapes or is too long to compare";
        }
        if (add_import(r, &icap, m, n, g->opcode, g->offset, g->ext_code, why)) return -1;
    }
    for (size_t i = 0; i < vm->nobjs; i++) {
        const pv_obj *o = &vm->objs[i];
        int64_t imp = -1;
        if (o->how == HOW_PERSID) {
            imp = (int64_t)r->nimports;
            if (add_import(r, &icap, dup_str(""), dup_str(""), o->opcode, o->offset, 0,
                           "a persistent id: a plain load fails on it, a custom loader may do anything"))
                return -1;
        } else if (o->callable.kind == PV_GLOBAL && o->callable.ref < vm->nglobals) {
            imp = (int64_t)(base + o->callable.ref);
        }
        if (!tp_array_room((void **)&r->calls, &ccap, r->ncalls, sizeof *r->calls)) return -1;
        tp_call *c = &r->calls[r->ncalls++];
        memset(c, 0, sizeof *c);
        c->opcode = tp_opinfo_get(o->opcode) ? tp_opinfo_get(o->opcode)->name : "?";
        c->offset = o->offset;
        c->import = imp;

        npy_array a;
        pv v = {.kind = PV_OBJECT, .ref = (uint32_t)i};
        if (arrays && o->how != HOW_PERSID && npy_array_parse(vm, v, &a)) {
            if (!tp_array_room((void **)&r->arrays, &acap, r->narrays, sizeof *r->arrays)) return -1;
            tp_inspect_array *ar = &r->arrays[r->narrays++];
            memset(ar, 0, sizeof *ar);
            ar->offset = o->offset;
            describe_dtype(&a.dtype, ar->dtype, sizeof ar->dtype);
            ar->ndim = a.ndim;
            for (int d = 0; d < a.ndim && d < 8; d++) ar->shape[d] = a.shape[d];
            ar->nbytes = a.nbytes;
        }
    }
    return 0;
}

void tp_inspection_judge(tp_inspection *r, const tp_options *opt)
{
    r->nrefused = 0;
    for (size_t i = 0; i < r->nimports; i++) {
        tp_import *im = &r->imports[i];
        if (im->why) {
            im->status = TP_REFUSED;
        } else if (tp_allowlisted(im->module, im->name)) {
            im->status = TP_ALLOWED;
        } else if (opt && tp_trusted(im->module, im->name, opt->trusted, opt->ntrusted)) {
            im->status = TP_TRUSTED;
        } else {
            im->status = TP_REFUSED;
            im->why = tp_notorious(im->module, im->name);
            if (!im->why) im->why = "not on the allowlist";
        }
        if (im->status == TP_REFUSED) r->nrefused++;
    }
    for (size_t i = 0; i < r->ncalls; i++) {
        tp_call *c = &r->calls[i];
        /* Calling what an earlier call returned is never needed by a
         * model, and the allowlist cannot vouch for it. */
        c->status = c->import < 0 || (size_t)c->import >= r->nimports ? TP_REFUSED : r->imports[c->import].status;
        if (c->import < 0) r->nrefused++;
    }
}

tp_code tp_inspection_refuse(tp_ctx *ctx, const tp_inspection *r, const char *where)
{
    size_t others = r->nrefused ? r->nrefused - 1 : 0;
    char more[64] = "";
    if (others) snprintf(more, sizeof more, " (and %zu more: see treepack inspect)", others);
    for (size_t i = 0; i < r->nimports; i++) {
        const tp_import *im = &r->imports[i];
        if (im->status != TP_REFUSED) continue;
        if (im->module[0] || im->name[0])
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s %s.%s: %s%s", where, im->opcode, im->module,
                           im->name, im->why, more);
        if (!strncmp(im->opcode, "EXT", 3))
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s code %d: %s%s", where, im->opcode,
                           (int)im->ext_code, im->why, more);
        return tp_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s: %s%s", where, im->opcode, im->why, more);
    }
    for (size_t i = 0; i < r->ncalls; i++)
        if (r->calls[i].status == TP_REFUSED)
            return tp_fail(ctx, TP_E_UNSAFE, (int64_t)r->calls[i].offset,
                           "%s%s calls something that is not an imported name%s", where, r->calls[i].opcode, more);
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

tp_code tp_scan_safe(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_scan *scan)
{
    if (opt && opt->allow_unsafe) return tp_scan_run(ctx, in, len, &opt->limits, scan);
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_code rc = tp_scan_run_ex(ctx, in, len, opt ? &opt->limits : NULL, scan, &r);
    tp_inspection_judge(&r, opt);
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
    tp_code rc = tp_scan_trees(ctx, data, len, opt ? &opt->limits : NULL, &scan, &r, proven);
    tp_inspection_judge(&r, opt);
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

tp_code tp_expand_checked(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                          tp_report *report)
{
    membuf m = {0};
    int wrapped = 0;
    tp_code rc = expand_to_memory(ctx, in, in_len, opt, &m, report, &wrapped);
    if (!rc) rc = tp_check_pickle(ctx, m.data, m.len, opt, "in the expanded pickle: ", NULL);
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
        p = m.data;
        n = m.len;
    } else {
        /* a compressed joblib file: what a loader reads is inside */
        if ((rc = tp_wrap_open(ctx, in, len, opt ? &opt->limits : NULL, &wrap))) goto done;
        if (wrap.method) {
            out->compressed = 1;
            p = wrap.stream.data;
            n = wrap.stream.len;
        }
    }
    out->size = n;
    tp_scan scan;
    rc = tp_scan_run_ex(ctx, p, n, opt ? &opt->limits : NULL, &scan, out);
    tp_inspection_judge(out, opt);
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
