/*
 * commands.c - compress, expand, test and info for one file each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "progress.h"

/* -c, or standard input without -o: output goes to standard output. */
static bool writes_stdout(const cli_opts *o, const char *file)
{
    return o->to_stdout || (!o->output && !strcmp(file, "-"));
}

/* ---- output names --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* model.pkl -> model.tpk; anything else gets .tpk appended. */
static char *compressed_name(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n + 5);
    if (!out) return NULL;
    if (ends_with(in, ".pkl") && n > 4) snprintf(out, n + 5, "%.*s.tpk", (int)(n - 4), in);
    else snprintf(out, n + 5, "%s.tpk", in);
    return out;
}

/* The extensions a model file has, and the compression joblib may add. */
static const char *const MODEL_EXTS[] = {".pkl", ".pickle", ".joblib", ".sav"};
static const char *const COMPRESSION_EXTS[] = {"", ".gz", ".bz2", ".xz", ".lzma", ".lz4", ".z", ".zlib"};

static bool has_model_extension(const char *name)
{
    for (size_t i = 0; i < sizeof MODEL_EXTS / sizeof *MODEL_EXTS; i++)
        for (size_t k = 0; k < sizeof COMPRESSION_EXTS / sizeof *COMPRESSION_EXTS; k++) {
            char ext[32];
            snprintf(ext, sizeof ext, "%s%s", MODEL_EXTS[i], COMPRESSION_EXTS[k]);
            if (ends_with(name, ext) && strlen(name) > strlen(ext)) return true;
        }
    return false;
}

/* A name stored in a container is untrusted: used (-N) only when it is a
 * plain model file name, no path, no dotfile, nothing but printable
 * ASCII, so that it can never become conftest.py, .bashrc or ../x. */
static bool plain_model_name(const char *s)
{
    if (!s[0] || s[0] == '.' || s[0] == '-' || strlen(s) > 200) return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) return false;
    return has_model_extension(s);
}

/* As gzip does, the name comes from the input: model.tpk -> model.pkl,
 * forest.joblib.tpk -> forest.joblib.  With -N, the directory of the
 * input plus the name stored in the container. */
static char *expanded_name(const char *in, const char *stored, bool use_stored)
{
    size_t n = strlen(in);
    if (use_stored) {
        const char *slash = strrchr(in, '/');
        size_t dir = slash ? (size_t)(slash - in) + 1 : 0;
        size_t len = dir + strlen(stored) + 1;
        char *out = malloc(len);
        if (out) snprintf(out, len, "%.*s%s", (int)dir, in, stored);
        return out;
    }
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    if (!ends_with(in, ".tpk") || strlen(base) <= 4) return NULL;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    snprintf(out, n + 1, "%.*s", (int)(n - 4), in);
    if (!has_model_extension(out)) snprintf(out, n + 1, "%.*s.pkl", (int)(n - 4), in);
    return out;
}

/* ---- commands -------------------------------------------------------------- */

/* Without -T, a large file is worth every core: a forest of gigabytes
 * takes minutes on one, and the blocks are the same whatever the number
 * of threads (so is the file).  Small files stay on one thread, which
 * costs less than starting others. */
#define ALL_CORES_FROM ((uint64_t)64 << 20)

static int threads_for(const cli_opts *o, uint64_t size)
{
    if (o->threads_given || size < ALL_CORES_FROM) return o->lib.threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 256 ? 256 : n > 1 ? (int)n : 1;
}

static void lib_error(const char *file, tp_ctx *ctx) { cli_error(file, "%s", tp_ctx_message(ctx)); }

/* The status for a failed library call: refusals have their own. */
static int lib_status(const char *file, tp_ctx *ctx)
{
    lib_error(file, ctx);
    if (tp_ctx_code(ctx) != TP_E_UNSAFE) return EXIT_FILE_FAILED;
    cli_error(file, "refused: loading it could run code; see treepack inspect %s, and use --trust or "
                    "--allow-unsafe only if you trust where it came from", file);
    return EXIT_REFUSED;
}

/* lib_status, but a write that failed says why (a full disk, say) */
static int out_status(const char *file, tp_ctx *ctx, const output_file *out)
{
    if (tp_ctx_code(ctx) != TP_E_WRITE || !out->failed) return lib_status(file, ctx);
    cli_error(file, "writing %s: %s", out->final ? out->final : "to standard output", strerror(out->err));
    return EXIT_FILE_FAILED;
}

/* Read the finished container back from the temporary file and expand it
 * (to nowhere): only a file that gives the input back is renamed into
 * place. */
static bool verify_written(output_file *out, const char *file, tp_ctx *ctx, const tp_options *lib,
                           uint64_t expanded_size)
{
    const uint8_t *data;
    size_t len;
    /* mapped, not read into memory: the container of a large forest is
     * a fair share of it */
    if (!output_map(out, file, &data, &len)) return false;
    tp_options check = *lib;
    check.allow_unsafe = 1; /* the input was judged already; this checks the bytes */
    if (check.progress) progress_step("verifying the written file", expanded_size);
    tp_code rc = tp_expand(ctx, data, len, &check, NULL, NULL);
    output_unmap(data, len);
    if (rc) cli_error(file, "the written file does not verify, so it was removed: %s", tp_ctx_message(ctx));
    return rc == TP_OK;
}

/* The sink of an expanded file: written through stdio, read back for
 * the library's check by mapping the temporary file (tp_sink.read_back),
 * so that the pickle is never held in memory whole. */
typedef struct file_sink {
    output_file *out;
    const char *file;
    bool progress;     /* name the check on the progress line */
    uint64_t written;
} file_sink;

static int file_sink_write(void *opaque, const void *data, size_t len)
{
    file_sink *s = opaque;
    s->written += len;
    return output_write(s->out, data, len);
}

/* The library reads the file back when it starts its check. */
static int file_sink_read_back(void *opaque, const uint8_t **data, size_t *len)
{
    file_sink *s = opaque;
    if (s->progress) progress_step("checking the written pickle", s->written);
    return output_map(s->out, s->file, data, len) ? 0 : -1;
}

static void file_sink_release(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque;
    output_unmap(data, len);
}

/* What a lossy compress gave up, one line each. */
static void lossy_notes(const tp_report *r, const tp_options *asked);

/* "model.pkl 555.9 kB -> 22.9 kB (24.3x), 25 trees, exact -> model.tpk" */
static void compressed_notes(const tp_report *rep, const tp_options *asked, const char *file, const char *target)
{
    if (cli_verbosity < 1) return;
    char line[700];
    summary_line(rep, strcmp(file, "-") ? file : "(stdin)", line, sizeof line);
    if (target) cli_note("%s -> %s", line, target);
    else cli_note("%s", line);
    lossy_notes(rep, asked);
    if (cli_verbosity >= 2 && rep->verbatim_note[0] && !rep->whole) cli_note("  kept as they were: %s", rep->verbatim_note);
}

/* The counts of a tree part, as "; 1,234 thresholds"; "" for the others. */
static void strip_counted(const tp_report *r, unsigned b, char *out, size_t len)
{
    out[0] = '\0';
    if (b == TP_STRIP_SPLIT_VALUES)
        snprintf(out, len, ": %llu value%s", (unsigned long long)r->split_values_set, r->split_values_set == 1 ? "" : "s");
    else if (b == TP_STRIP_THRESHOLDS)
        snprintf(out, len, ": %llu threshold%s", (unsigned long long)r->thresholds_lowered,
                 r->thresholds_lowered == 1 ? "" : "s");
    else if (b == TP_STRIP_PRECISION)
        snprintf(out, len, ": %llu value%s, the largest change %.3g", (unsigned long long)r->values_rounded,
                 r->values_rounded == 1 ? "" : "s", r->max_value_change);
}

static void lossy_notes(const tp_report *r, const tp_options *asked)
{
    if (r->exact_mode == TP_EXACT_MODEL)
        cli_note("model-exact: %llu vocabular%s written in sorted order; the expanded file loads to an equal model "
                 "but is not byte-identical to the original",
                 (unsigned long long)r->vocabularies_sorted, r->vocabularies_sorted == 1 ? "y" : "ies");
    else if (asked->exact == TP_EXACT_MODEL)
        cli_note("--exact=model: no vocabulary to write in another order; the file stays byte-exact");
    for (unsigned b = 1; b <= TP_STRIP_ALL; b <<= 1) {
        char counted[96];
        strip_counted(r, b, counted, sizeof counted);
        if (r->stripped & b)
            cli_note("lossy: stripped %s (%s; %s%s)", tp_strip_name(b), tp_strip_cost(b),
                     tp_strip_done(b, r->strip_kept), counted);
        else if (b == TP_STRIP_SAMPLES && (r->strip_kept & TP_KEPT_SAMPLES))
            cli_note("--strip=all: samples kept, an IsolationForest's scores read n_node_samples");
        else if ((asked->strip & b) && !(asked->strip & TP_STRIP_WHERE_SAFE))
            cli_note("--strip=%s: nothing stripped, %s", tp_strip_name(b),
                     b == TP_STRIP_STOP_WORDS ? "no stop_words_ in this file"
                     : !r->trees             ? "no trees in this file"
                     : b == TP_STRIP_SPLIT_VALUES || b == TP_STRIP_PRECISION
                         ? "no regression tree in this file"
                         : "the file is no smaller without it");
    }
}

static void expanded_note(const tp_report *r, const char *file, const char *target, bool test_only);

int do_compress(const cli_opts *o, const char *file, tp_ctx *ctx, file_result *res)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    res->in_bytes = in.len;
    if (o->lib.progress) progress_file(file, in.len);
    if (tp_is_container(in.data, in.len)) {
        cli_error(file, "is already a treepack file");
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    char *target = NULL;
    if (!writes_stdout(o, file)) {
        target = o->output ? strdup(o->output) : compressed_name(file);
        if (!target) {
            cli_error(file, "out of memory");
            input_free(&in);
            return EXIT_FILE_FAILED;
        }
    }
    output_file out;
    if (!output_open(&out, target, &in, o->force)) {
        free(target);
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    tp_options lib = o->lib;
    lib.name = strcmp(file, "-") ? file : NULL;
    /* a file is expanded again before it gets its name (verify_written),
     * which proves every block: the library need not decode each twice */
    lib.verified_by_caller = target != NULL && !out.direct; /* a device is not read back */
    lib.threads = threads_for(o, in.len);
    tp_sink sink = {.write = output_write, .opaque = &out};
    tp_report rep;
    tp_report_init(&rep);
    tp_code rc = tp_compress(ctx, in.data, in.len, &lib, &sink, &rep);
    int status = EXIT_OK;
    if (rc) {
        status = out_status(file, ctx, &out);
        output_abort(&out);
    } else if (target && !out.direct &&
               !verify_written(&out, file, ctx, &lib, rep.stream_size ? rep.stream_size : rep.original_size)) {
        status = EXIT_FILE_FAILED;
        output_abort(&out);
    } else if (!output_commit(&out, &in, o->force, o->sync)) {
        status = EXIT_FILE_FAILED;
    } else {
        res->out_bytes = rep.container_size;
        compressed_notes(&rep, &o->lib, file, target);
    }
    free(target);
    input_free(&in);
    return status;
}

/* Pickles from this size on are checked in a scratch file rather than in
 * memory when they have no file of their own (standard output, test). */
#define SCRATCH_FROM ((uint64_t)64 << 20)

/* The original size a container's header declares (checked later; a lie
 * only moves the pickle between memory and a scratch file). */
static uint64_t declared_size(const input_file *in)
{
    return in->len >= 24 ? ((uint64_t)in->data[16] | (uint64_t)in->data[17] << 8 | (uint64_t)in->data[18] << 16 |
                            (uint64_t)in->data[19] << 24 | (uint64_t)in->data[20] << 32 |
                            (uint64_t)in->data[21] << 40 | (uint64_t)in->data[22] << 48 |
                            (uint64_t)in->data[23] << 56)
                         : 0;
}

int do_expand(const cli_opts *o, const char *file, tp_ctx *ctx, bool test_only, file_result *res)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    res->in_bytes = in.len;
    if (o->lib.progress) progress_file(file, in.len);
    tp_report rep;
    tp_report_init(&rep);
    if (!tp_is_container(in.data, in.len)) {
        cli_error(file, "is not a treepack file (no .tpk magic)");
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    char *target = NULL;
    output_file out;
    memset(&out, 0, sizeof out);
    out.cleanup_slot = -1;
    bool have_out = false;
    if (!test_only) {
        if (!writes_stdout(o, file)) {
            if (o->output) {
                target = strdup(o->output);
            } else if (o->stored_name) {
                if (tp_info(ctx, in.data, in.len, &rep)) {
                    lib_error(file, ctx);
                    input_free(&in);
                    return EXIT_FILE_FAILED;
                }
                if (!plain_model_name(rep.name)) {
                    if (!rep.name[0]) cli_error(file, "-N: it stores no name: use -o FILE");
                    else
                        cli_error(file, "-N: the name it stores, '%s', is not a plain model file name (.pkl, .joblib, "
                                        "...): use -o FILE", rep.name);
                    input_free(&in);
                    return EXIT_FILE_FAILED;
                }
                target = expanded_name(file, rep.name, true);
            } else {
                target = expanded_name(file, NULL, false);
            }
            if (!target) {
                cli_error(file, "no name to expand to (it does not end in .tpk): use -o FILE, -c or -N");
                input_free(&in);
                return EXIT_USAGE;
            }
        }
        if (!output_open(&out, target, &in, o->force)) {
            free(target);
            input_free(&in);
            return EXIT_FILE_FAILED;
        }
        have_out = true;
    }
    /* The library checks the expanded pickle before the sink sees a byte
     * (unless --allow-unsafe), which means holding all of it in memory.
     * A file under a temporary name can still be taken back: the library
     * streams it there and checks it where it lies before it gets its
     * name.  (A compressed joblib file is checked on its stream, in
     * memory.) */
    file_sink fs = {&out, file, o->lib.progress != NULL, 0};
    tp_sink sink = {.write = output_write, .opaque = &out};
    /* To standard output, a device, or for test, a large pickle goes to a
     * scratch file instead of memory, is checked there, then copied out. */
    bool to_file = have_out && target && !out.direct;
    output_file scratch;
    bool use_scratch = !to_file && declared_size(&in) >= SCRATCH_FROM;
    if (use_scratch && !output_open_scratch(&scratch, file)) {
        if (have_out) output_abort(&out);
        free(target);
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    if (use_scratch) fs.out = &scratch;
    if (to_file || use_scratch)
        sink = (tp_sink){.write = file_sink_write, .opaque = &fs, .read_back = file_sink_read_back,
                         .release = file_sink_release};
    tp_code rc = tp_expand(ctx, in.data, in.len, &o->lib, have_out || use_scratch ? &sink : NULL, &rep);
    bool copied = !use_scratch || !have_out || rc || output_copy(&scratch, &out, file);
    if (use_scratch) output_abort(&scratch);
    int status = EXIT_OK;
    if (!copied) {
        status = EXIT_FILE_FAILED;
        output_abort(&out);
    } else if (rc) {
        status = have_out ? out_status(file, ctx, &out) : lib_status(file, ctx);
        if (have_out) output_abort(&out);
    } else if (have_out && !output_commit(&out, &in, o->force, o->sync)) {
        status = EXIT_FILE_FAILED;
    } else {
        res->out_bytes = rep.original_size;
        expanded_note(&rep, file, target, test_only);
    }
    free(target);
    input_free(&in);
    return status;
}

/* "model.tpk -> model.pkl (555.9 kB, checksum verified)" */
static void expanded_note(const tp_report *r, const char *file, const char *target, bool test_only)
{
    if (cli_verbosity < 1) return;
    char size[32];
    human_size(r->original_size, size, sizeof size);
    /* a compressed joblib file whose compression is not reproduced: only
     * its stream is checked (see `info`) */
    bool stream_only = r->wrapper[0] && !r->wrapper_exact;
    if (!strcmp(file, "-")) file = "(stdin)"; /* as cli_error names it */
    const char *what = r->stripped ? "; lossy: not the original model, see info"
                       : r->exact_mode == TP_EXACT_MODEL ? "; model-exact: an equal model, not the original bytes"
                                                         : "";
    if (test_only)
        cli_note("%s: OK, expands to %s (%s) with a matching checksum%s%s", file, r->name[0] ? r->name : "(unnamed)",
                 size, stream_only ? " of its decompressed stream" : "", what);
    else
        cli_note("%s -> %s (%s, checksum verified%s%s)", file, target ? target : "(stdout)", size,
                 stream_only ? " on the decompressed stream; the file is compressed anew" : "", what);
}

int do_info(const cli_opts *o, const char *file, tp_ctx *ctx)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    tp_report rep;
    tp_report_init(&rep);
    int status = EXIT_OK;
    if (!tp_is_container(in.data, in.len)) {
        cli_error(file, "is not a treepack file (no .tpk magic)");
        status = EXIT_FILE_FAILED;
    } else if (tp_info(ctx, in.data, in.len, &rep)) {
        lib_error(file, ctx);
        status = EXIT_FILE_FAILED;
    } else {
        print_info(strcmp(file, "-") ? file : "(stdin)", &rep, o->json);
    }
    input_free(&in);
    return status;
}

