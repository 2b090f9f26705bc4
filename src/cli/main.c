/*
 * main.c - the treepack command line: a thin layer over libtreepack.
 *
 * Gathers the files (walking directories with -r), converts them one
 * after another or, with -T and several files, several at once, and ends
 * with a summary when there was more than one.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "progress.h"
#include "walk.h"

typedef struct run {
    const cli_opts *opts;
    const file_list *files;
    file_result *results;
    size_t next;           /* the next file to take (several at once) */
    pthread_mutex_t lock;
} run;

static int convert_one(const cli_opts *o, const char *file, tp_ctx *ctx, file_result *res)
{
    switch (o->cmd) {
    case CMD_COMPRESS: return do_compress(o, file, ctx, res);
    case CMD_EXPAND: return do_expand(o, file, ctx, false, res);
    case CMD_TEST: return do_expand(o, file, ctx, true, res);
    case CMD_INFO: return do_info(o, file, ctx);
    case CMD_INSPECT: return do_inspect(file, &o->lib, o->json, ctx);
    default: return EXIT_USAGE;
    }
}

static void *worker(void *arg)
{
    run *r = arg;
    tp_ctx *ctx = tp_ctx_new();
    for (;;) {
        pthread_mutex_lock(&r->lock);
        size_t i = r->next < r->files->n ? r->next++ : SIZE_MAX;
        pthread_mutex_unlock(&r->lock);
        if (i == SIZE_MAX) break;
        file_result *res = &r->results[i];
        if (!ctx) {
            cli_error(r->files->names[i], "out of memory");
            res->status = EXIT_FILE_FAILED;
            continue;
        }
        res->status = convert_one(r->opts, r->files->names[i], ctx, res);
        progress_file_done(r->files->sizes[i]);
    }
    tp_ctx_free(ctx);
    return NULL;
}

/* Convert every file; `workers` at once. */
static void convert_all(const cli_opts *o, const file_list *files, file_result *results, int workers)
{
    run r = {.opts = o, .files = files, .results = results, .lock = PTHREAD_MUTEX_INITIALIZER};
    pthread_t *tids = workers > 1 ? calloc((size_t)workers, sizeof *tids) : NULL;
    int started = 0;
    while (tids && started < workers && pthread_create(&tids[started], NULL, worker, &r) == 0) started++;
    if (started == 0) worker(&r); /* one at a time (or threads could not start) */
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
}

/* "3 files compressed, 1.23 GB -> 52.1 MB (23.6x); 2 skipped; 1 failed" */
static void summary(const cli_opts *o, const file_list *files, const file_result *res)
{
    size_t ok = 0, failed = files->failed;
    uint64_t in = 0, out = 0;
    for (size_t i = 0; i < files->n; i++) {
        if (res[i].status) {
            failed++;
            continue;
        }
        ok++;
        in += res[i].in_bytes;
        out += res[i].out_bytes;
    }
    char line[256], a[32], b[32];
    human_size(in, a, sizeof a);
    human_size(out, b, sizeof b);
    int n;
    const char *files_word = ok == 1 ? "file" : "files";
    if (!ok)
        n = snprintf(line, sizeof line, "no file %s", o->cmd == CMD_COMPRESS ? "compressed"
                                                      : o->cmd == CMD_EXPAND ? "expanded"
                                                      : o->cmd == CMD_TEST   ? "tested OK"
                                                                             : "read");
    else if (o->cmd == CMD_COMPRESS)
        n = snprintf(line, sizeof line, "%zu %s compressed, %s -> %s (%.1fx)", ok, files_word, a, b,
                     out ? (double)in / (double)out : 0.0);
    else if (o->cmd == CMD_EXPAND)
        n = snprintf(line, sizeof line, "%zu %s expanded, %s -> %s", ok, files_word, a, b);
    else if (o->cmd == CMD_TEST)
        n = snprintf(line, sizeof line, "%zu %s tested OK (%s in all)", ok, files_word, b);
    else
        n = snprintf(line, sizeof line, "%zu %s read", ok, files_word);
    if (n > 0 && (size_t)n < sizeof line && files->skipped)
        n += snprintf(line + n, sizeof line - (size_t)n, "; %zu skipped%s", files->skipped,
                      files->skipped_quietly ? " (-v names them)" : "");
    if (n > 0 && (size_t)n < sizeof line && failed)
        snprintf(line + n, sizeof line - (size_t)n, "; %zu failed", failed);
    cli_note("%s", line);
}

int main(int argc, char **argv)
{
    cli_opts o;
    int first = 0;
    int status = parse_args(argc, argv, &o, &first);
    if (status) {
        free(o.trusted);
        return status == -1 ? EXIT_OK : status;
    }
    install_signal_cleanup();
    /* The library allocates and frees buffers of a few MB per block; give
     * them back to the kernel only in large amounts, so that the next
     * block reuses the pages instead of faulting in fresh zeroed ones. */
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    /* Worker threads would each get an arena whose free pages the others
     * cannot reuse; the allocations are few and large, so one is enough. */
    mallopt(M_ARENA_MAX, 1);

    file_list files;
    memset(&files, 0, sizeof files);
    bool ok = true;
    if (!argv[first]) ok = file_list_add(&files, "-", o.cmd, false); /* no files: standard input */
    for (int i = first; ok && argv[i]; i++) ok = file_list_add(&files, argv[i], o.cmd, o.recursive);
    file_result *results = ok ? calloc(files.n ? files.n : 1, sizeof *results) : NULL;
    if (!results) {
        cli_error(NULL, "out of memory");
        file_list_free(&files);
        free(o.trusted);
        return EXIT_FILE_FAILED;
    }

    /* Several files at once when -T allows, each with its share of the
     * threads; not when the outputs share stdout (they would interleave). */
    bool parallel_ok = (o.cmd == CMD_COMPRESS || o.cmd == CMD_EXPAND || o.cmd == CMD_TEST) && !o.to_stdout;
    int workers = parallel_ok && files.n > 1 && o.threads > 1 ? (int)(files.n < (size_t)o.threads ? files.n
                                                                                               : (size_t)o.threads)
                                                            : 1;
    if (workers > 1) o.lib.threads = o.threads / workers > 1 ? o.threads / workers : 1;
    uint64_t total = 0;
    for (size_t i = 0; i < files.n; i++) total += files.sizes[i];
    bool show_progress = o.cmd == CMD_COMPRESS || o.cmd == CMD_EXPAND || o.cmd == CMD_TEST;
    progress_start(show_progress ? o.progress : PROGRESS_NEVER, command_name(o.cmd), files.n, total);
    /* one file at a time: the library reports how far into it */
    if (workers == 1 && show_progress) o.lib.progress = progress_update;
    convert_all(&o, &files, results, workers);
    progress_end();

    int worst = files.status;
    size_t failed = files.failed;
    for (size_t i = 0; i < files.n; i++) {
        if (results[i].status > worst) worst = results[i].status;
        if (results[i].status) failed++;
    }
    if (files.n == 0 && o.recursive && !files.status)
        cli_note("no files to %s", o.cmd == CMD_INFO ? "describe" : command_name(o.cmd));
    else if ((files.n + files.failed > 1 || o.recursive || files.skipped) &&
             (show_progress || failed || files.skipped))
        summary(&o, &files, results);
    free(results);
    file_list_free(&files);
    free(o.trusted);
    return worst;
}
