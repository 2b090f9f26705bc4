/*
 * check.c - the refusals built on the verdict (verdict.c): what compress
 * refuses to compress, and what expand refuses to hand out.
 *
 * Why expand checks its output: a .tpk is untrusted too, and its checksum
 * only proves that the bytes are the ones the writer meant.  A crafted
 * container can put any opcodes in the skeleton, and splice payloads whose
 * bytes (thresholds, rest bytes) become opcodes.  Only the finished stream
 * tells what loading it would do, so expand reads it as compress would
 * (imports, calls, trees with their n_features) before anyone can load it:
 * in memory (expand_checked, expand.c), or where a file under a
 * temporary name lies (tp_sink.read_back).
 */
#include <stdio.h>

#include "api/check.h"
#include "safety/verdict.h"

tp_code inspection_refuse(tp_ctx *ctx, const tp_inspection *r, const char *where)
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
            return ctx_fail(ctx, TP_E_UNSAFE, (int64_t)c->offset, "%s%s %s.%s: %s%s", where, c->opcode, of->module,
                           of->name, c->why ? c->why : "refused", more);
        return ctx_fail(ctx, TP_E_UNSAFE, (int64_t)c->offset, "%s%s: %s%s", where, c->opcode,
                       c->why ? c->why : "calls something that is not an imported name", more);
    }
    if (im) {
        if (im->module[0] || im->name[0])
            return ctx_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s %s.%s: %s%s", where, im->opcode, im->module,
                           im->name, im->why, more);
        if (!strncmp(im->opcode, "EXT", 3))
            return ctx_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s code %d: %s%s", where, im->opcode,
                           (int)im->ext_code, im->why, more);
        return ctx_fail(ctx, TP_E_UNSAFE, (int64_t)im->offset, "%s%s: %s%s", where, im->opcode, im->why, more);
    }
    return ctx_fail(ctx, TP_E_INTERNAL, -1, "a refusal without a refused name");
}

/* ---- checks ------------------------------------------------------------- */

tp_code wrap_judge(tp_ctx *ctx, const wrap_info *w, const uint8_t *file, size_t len, const tp_options *opt,
                      tp_inspection *sites)
{
    if (!w->method) return TP_OK;
    const char *why = wrap_loader_risk(w);
    if (why && verdict_note(sites, "(wrapper)", 0, why, TP_LOADER_PICKLE | TP_LOADER_JOBLIB))
        return ctx_fail(ctx, TP_E_NOMEM, -1, "inspection tables");
    return file ? scan_raw(ctx, file, len, opt, sites) : TP_OK;
}

tp_code wrap_safe(tp_ctx *ctx, const wrap_info *w, const uint8_t *file, size_t len, const tp_options *opt)
{
    if (!w->method || (opt && opt->allow_unsafe)) return TP_OK;
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_code rc = wrap_judge(ctx, w, file, len, opt, &r);
    if (!rc && r.nrefused) rc = inspection_refuse(ctx, &r, "");
    tp_inspection_free(&r);
    return rc;
}

tp_code scan_safe(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, scan_result *scan)
{
    if (opt && opt->allow_unsafe) return scan_run(ctx, in, len, &opt->limits, scan);
    tp_inspection r;
    memset(&r, 0, sizeof r);
    tp_code rc = scan_run_ex(ctx, in, len, opt, scan, &r);
    if (r.nrefused) {
        if (!rc) scan_free(scan);
        ctx_reset(ctx);
        rc = inspection_refuse(ctx, &r, "");
    }
    tp_inspection_free(&r);
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

tp_code check_pickle(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, const char *where,
                        const proven_list *proven)
{
    tp_inspection r;
    memset(&r, 0, sizeof r);
    scan_result scan;
    tp_code rc = scan_trees(ctx, data, len, opt, &scan, &r, proven);
    if (r.nrefused && !(opt && opt->allow_unsafe)) {
        if (!rc) scan_free(&scan);
        ctx_reset(ctx);
        rc = inspection_refuse(ctx, &r, where);
        tp_inspection_free(&r);
        return rc;
    }
    tp_inspection_free(&r);
    if (rc) {
        prefix_message(ctx, where);
        return rc;
    }
    if (scan.bad_tree_why[0])
        rc = ctx_fail(ctx, TP_E_TREE, (int64_t)scan.bad_tree_offset, "%stree %zu: %s", where, scan.bad_tree,
                     scan.bad_tree_why);
    scan_free(&scan);
    return rc;
}

/* The compression around the stream that expand would write: what
 * wrap_judge says of a file, said of the one expand writes. */
tp_code wrap_check_container(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt)
{
    wrap_info w;
    tp_code rc = wrap_load(ctx, in, in_len, &w);
    tp_inspection r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = wrap_judge(ctx, &w, NULL, 0, opt, &r);
    if (!rc && r.nrefused) rc = inspection_refuse(ctx, &r, "in the expanded file: ");
    tp_inspection_free(&r);
    wrap_free(&w);
    return rc;
}

tp_code tp_check(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt)
{
    ctx_reset(ctx);
    tp_options o;
    tp_code rc = options_take(ctx, opt, &o);
    if (rc) return rc;
    o.allow_unsafe = 0; /* this is the check */
    return check_pickle(ctx, data, len, &o, "in the expanded pickle: ", NULL);
}
