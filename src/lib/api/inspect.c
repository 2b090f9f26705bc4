/*
 * inspect.c - tp_inspect: what loading a pickle, a joblib file or the
 * pickle inside a .tpk would import and call, judged site by site, with
 * the trees and arrays found; nothing is loaded.
 */
#include <stdlib.h>

#include "api/check.h"
#include "api/expand.h"
#include "safety/verdict.h"

static tp_code inspect_full(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_inspection *out)
{
    ctx_reset(ctx);
    memset(out, 0, sizeof *out);
    out->plain_stop = -1;
    membuf m = {0};
    const uint8_t *p = in;
    size_t n = len;
    tp_code rc = TP_OK;
    wrap_info wrap;
    memset(&wrap, 0, sizeof wrap);
    if (tp_is_container(in, len)) {
        out->format = TP_FORMAT_TPK;
        int wrapped = 0;
        if ((rc = expand_to_memory(ctx, in, len, opt, &m, NULL, &wrapped))) goto done;
        out->compressed = wrapped;
        if (wrapped) {
            wrap_info w;
            if (!(rc = wrap_load(ctx, in, len, &w))) rc = wrap_judge(ctx, &w, NULL, 0, opt, out);
            wrap_free(&w);
            if (rc) goto done;
        }
        p = m.data;
        n = m.len;
    } else {
        /* a compressed joblib file: what a loader reads is inside */
        if ((rc = wrap_open(ctx, in, len, opt ? &opt->limits : NULL, &wrap))) goto done;
        if (wrap.method) {
            out->compressed = 1;
            p = wrap.stream.data;
            n = wrap.stream.len;
            if ((rc = wrap_judge(ctx, &wrap, in, len, opt, out))) goto done;
        }
    }
    out->size = n;
    scan_result scan;
    rc = scan_run_ex(ctx, p, n, opt, &scan, out);
    if (rc) goto done;
    out->complete = 1;
    out->npickles = scan.npickles;
    out->trees = calloc(scan.ntrees + 1, sizeof *out->trees);
    if (!out->trees) rc = ctx_fail(ctx, TP_E_NOMEM, -1, "tree list");
    for (size_t i = 0; i < scan.ntrees && !rc; i++) {
        const found_tree *f = &scan.trees[i];
        tp_inspect_tree *t = &out->trees[out->ntrees++];
        t->offset = f->offset;
        t->n_features = f->n_features;
        t->nodes = f->nodes.shape[0];
        t->n_outputs = (uint32_t)f->values.shape[1];
        t->n_classes = (uint32_t)f->values.shape[2];
        rc = found_tree_check(ctx, p, f, t->problem, sizeof t->problem);
        t->valid = !t->problem[0];
    }
    scan_free(&scan);
done:
    if (rc && wrap.method) wrap_annotate(ctx, &wrap);
    wrap_free(&wrap);
    free(m.data);
    return rc;
}

tp_code tp_inspect(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_inspection *out)
{
    tp_options o;
    tp_inspection full;
    memset(&full, 0, sizeof full);
    full.plain_stop = -1;
    tp_code rc = options_take(ctx, opt, &o);
    if (!rc) rc = inspect_full(ctx, in, len, &o, &full);
    if (inspection_give(out, &full))
        return ctx_fail(ctx, TP_E_USAGE, -1, "the inspection was not set up with tp_inspection_init, or memory ran out");
    return rc;
}
