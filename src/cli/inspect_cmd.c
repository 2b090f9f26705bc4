/*
 * inspect_cmd.c - `treepack inspect`: what loading a file would do.
 *
 * Prints every import and call site with its opcode and byte offset, the
 * trees and arrays found, and a verdict.  Exit status: 0 when everything
 * is allowed or trusted, 3 when something is refused, 1 when the file
 * cannot be read or holds an invalid tree (what was found before the problem is still listed: a
 * loader runs those imports before it fails).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"

static const char *status_word(tp_status s)
{
    return s == TP_ALLOWED ? "allowed" : s == TP_TRUSTED ? "trusted" : "REFUSED";
}

/* Which loaders meet a site, when not both (the file holds joblib
 * wrappers, whose raw array bytes pickle.load reads as opcodes). */
static const char *only_under(unsigned loaders)
{
    /* what joblib.load alone reads is the rest of the file: said once */
    return loaders == TP_LOADER_PICKLE ? " (pickle.load only)" : "";
}

static void json_loaders(unsigned loaders)
{
    printf(", \"loaders\": [%s%s%s]", loaders & TP_LOADER_PICKLE ? "\"pickle\"" : "",
           loaders == (TP_LOADER_PICKLE | TP_LOADER_JOBLIB) ? ", " : "", loaders & TP_LOADER_JOBLIB ? "\"joblib\"" : "");
}

/* "module.name", or what stands for a nameless import */
static void import_label(const tp_import *im, char *buf, size_t len)
{
    if (im->module[0] || im->name[0]) snprintf(buf, len, "%s.%s", im->module, im->name);
    else if (!strncmp(im->opcode, "EXT", 3)) snprintf(buf, len, "(extension code %d)", (int)im->ext_code);
    else snprintf(buf, len, "(persistent id)");
}

static void print_json(const char *file, const tp_inspection *r, tp_code rc, const char *err)
{
    printf("{\"file\": ");
    cli_json_string(file);
    printf(", \"format\": \"%s\", \"compressed\": %s, \"protocol\": %d, \"size\": %llu, \"opcodes\": %llu, "
           "\"complete\": %s",
           r->format == TP_FORMAT_TPK ? "tpk" : "pickle", r->compressed ? "true" : "false", r->protocol,
           (unsigned long long)r->size, (unsigned long long)r->opcodes, r->complete ? "true" : "false");
    if (rc) {
        printf(", \"error\": ");
        cli_json_string(err);
    }
    printf(", \"imports\": [");
    for (size_t i = 0; i < r->nimports; i++) {
        const tp_import *im = &r->imports[i];
        printf("%s{\"opcode\": \"%s\", \"offset\": %llu, \"module\": ", i ? ", " : "", im->opcode,
               (unsigned long long)im->offset);
        cli_json_string(im->module);
        printf(", \"name\": ");
        cli_json_string(im->name);
        if (!strncmp(im->opcode, "EXT", 3)) printf(", \"ext_code\": %d", (int)im->ext_code);
        printf(", \"status\": \"%s\"", status_word(im->status));
        if (im->status == TP_REFUSED && im->why) {
            printf(", \"why\": ");
            cli_json_string(im->why);
        }
        json_loaders(im->loaders);
        printf("}");
    }
    printf("], \"calls\": [");
    for (size_t i = 0; i < r->ncalls; i++) {
        const tp_call *c = &r->calls[i];
        printf("%s{\"opcode\": \"%s\", \"offset\": %llu, \"import\": %lld, \"status\": \"%s\"", i ? ", " : "",
               c->opcode, (unsigned long long)c->offset, (long long)c->import, status_word(c->status));
        if (c->status == TP_REFUSED) {
            printf(", \"why\": ");
            cli_json_string(c->why ? c->why : "calls something that is not an imported name");
        }
        json_loaders(c->loaders);
        printf("}");
    }
    printf("], \"trees\": [");
    for (size_t i = 0; i < r->ntrees; i++) {
        const tp_inspect_tree *t = &r->trees[i];
        printf("%s{\"offset\": %llu, \"nodes\": %llu, \"n_features\": %lld, \"n_outputs\": %u, \"n_classes\": %u, "
               "\"valid\": %s",
               i ? ", " : "", (unsigned long long)t->offset, (unsigned long long)t->nodes, (long long)t->n_features,
               t->n_outputs, t->n_classes, t->valid ? "true" : "false");
        if (!t->valid) {
            printf(", \"problem\": ");
            cli_json_string(t->problem);
        }
        printf("}");
    }
    printf("], \"arrays\": [");
    for (size_t i = 0; i < r->narrays; i++) {
        const tp_inspect_array *a = &r->arrays[i];
        printf("%s{\"offset\": %llu, \"dtype\": \"%s\", \"shape\": [", i ? ", " : "", (unsigned long long)a->offset,
               a->dtype);
        for (int d = 0; d < a->ndim; d++) printf("%s%llu", d ? ", " : "", (unsigned long long)a->shape[d]);
        printf("], \"nbytes\": %llu}", (unsigned long long)a->nbytes);
    }
    size_t invalid = 0;
    for (size_t i = 0; i < r->ntrees; i++) invalid += !r->trees[i].valid;
    /* safe: loading runs nothing outside the allowlist (or trusted);
     * verdict also says whether the file can be used */
    const char *verdict = r->nrefused ? "unsafe" : rc ? "unreadable" : invalid ? "invalid-tree" : "safe";
    if (r->plain_stop >= 0) printf("], \"pickle_load_stops\": %lld", (long long)r->plain_stop);
    else printf("]");
    printf(", \"refused\": %zu, \"safe\": %s, \"verdict\": \"%s\"}\n", r->nrefused,
           !rc && !r->nrefused ? "true" : "false", verdict);
}

static void print_text(const char *file, const tp_inspection *r, tp_code rc, const char *err)
{
    printf("%s: %s%s, protocol %d, %llu bytes%s, %llu opcodes\n", file,
           r->format == TP_FORMAT_TPK ? "treepack file holding a pickle" : "pickle",
           r->compressed ? " (compressed joblib; offsets are in the decompressed stream)" : "", r->protocol,
           (unsigned long long)r->size, r->format == TP_FORMAT_TPK ? " expanded" : "",
           (unsigned long long)r->opcodes);
    char label[512];
    printf("imports (%zu):\n", r->nimports);
    for (size_t i = 0; i < r->nimports; i++) {
        const tp_import *im = &r->imports[i];
        import_label(im, label, sizeof label);
        printf("  byte %-10llu %-13s %s  %s", (unsigned long long)im->offset, im->opcode, label,
               status_word(im->status));
        if (im->status == TP_REFUSED && im->why) printf(": %s", im->why);
        printf("%s\n", only_under(im->loaders));
    }
    printf("calls (%zu):\n", r->ncalls);
    for (size_t i = 0; i < r->ncalls; i++) {
        const tp_call *c = &r->calls[i];
        if (c->import >= 0) import_label(&r->imports[c->import], label, sizeof label);
        else if (c->why) snprintf(label, sizeof label, "-");
        else snprintf(label, sizeof label, "(a value that is not an imported name)");
        printf("  byte %-10llu %-13s %s  %s", (unsigned long long)c->offset, c->opcode, label,
               status_word(c->status));
        /* a call of a refused import says no more than the import */
        bool for_import = c->import >= 0 && r->imports[c->import].status == TP_REFUSED;
        if (c->status == TP_REFUSED && c->why && !for_import) printf(": %s", c->why);
        printf("%s\n", only_under(c->loaders));
    }
    if (r->plain_stop >= 0)
        printf("pickle.load stops at byte %lld: joblib wrote array bytes there, which are no opcodes; "
               "joblib.load reads on\n",
               (long long)r->plain_stop);
    printf("trees (%zu):\n", r->ntrees);
    for (size_t i = 0; i < r->ntrees; i++) {
        const tp_inspect_tree *t = &r->trees[i];
        printf("  byte %-10llu %llu nodes, %lld features, %u output%s, %u class%s: %s%s\n",
               (unsigned long long)t->offset, (unsigned long long)t->nodes, (long long)t->n_features, t->n_outputs,
               t->n_outputs == 1 ? "" : "s", t->n_classes, t->n_classes == 1 ? "" : "es",
               t->valid ? "valid" : "INVALID: ", t->valid ? "" : t->problem);
    }
    printf("arrays (%zu):\n", r->narrays);
    for (size_t i = 0; i < r->narrays; i++) {
        const tp_inspect_array *a = &r->arrays[i];
        printf("  byte %-10llu %s (", (unsigned long long)a->offset, a->dtype);
        for (int d = 0; d < a->ndim; d++) printf("%s%llu", d ? ", " : "", (unsigned long long)a->shape[d]);
        printf("%s), %llu bytes\n", a->ndim == 1 ? "," : "", (unsigned long long)a->nbytes);
    }
    size_t invalid = 0;
    for (size_t i = 0; i < r->ntrees; i++) invalid += !r->trees[i].valid;
    if (invalid)
        printf("verdict: INVALID: %zu tree%s break%s the rules sklearn relies on; predicting with %s would crash\n",
               invalid, invalid == 1 ? "" : "s", invalid == 1 ? "s" : "", invalid == 1 ? "it" : "them");
    if (rc) printf("verdict: NOT READ TO THE END: %s; the lists above stop there\n", err);
    if (r->nrefused)
        printf("verdict: UNSAFE: %zu import%s or call%s refused; loading this file could run code\n", r->nrefused,
               r->nrefused == 1 ? "" : "s", r->nrefused == 1 ? "" : "s");
    else if (!rc && !invalid) {
        size_t trusted = 0;
        for (size_t i = 0; i < r->nimports; i++) trusted += r->imports[i].status == TP_TRUSTED;
        if (trusted) printf("verdict: safe to load if you trust the %zu trusted import%s\n", trusted, trusted == 1 ? "" : "s");
        else printf("verdict: safe to load: every import and call is on the allowlist, under pickle.load and "
                    "joblib.load\n");
    }
}

int do_inspect(const char *file, const tp_options *opt, bool json, tp_ctx *ctx)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    tp_inspection r;
    tp_inspection_init(&r);
    tp_code rc = tp_inspect(ctx, in.data, in.len, opt, &r);
    const char *err = tp_ctx_message(ctx);
    const char *shown = strcmp(file, "-") ? file : "(stdin)";
    if (json) print_json(shown, &r, rc, err);
    else print_text(shown, &r, rc, err);
    size_t invalid = 0;
    for (size_t i = 0; i < r.ntrees; i++) invalid += !r.trees[i].valid;
    int status = r.nrefused ? EXIT_REFUSED : rc || invalid ? EXIT_FILE_FAILED : EXIT_OK;
    if (rc) cli_error(file, "%s", err);
    tp_inspection_free(&r);
    input_free(&in);
    return status;
}
