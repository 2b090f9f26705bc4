/*
 * cli.h - shared bits of the command-line tool.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "treepack.h"

/* Exit statuses (documented in treepack(1)). */
enum {
    EXIT_OK = 0,
    EXIT_FILE_FAILED = 1,   /* a file could not be converted */
    EXIT_USAGE = 2,         /* wrong usage */
    EXIT_REFUSED = 3        /* a pickle imports something not allowed */
};

typedef enum command { CMD_NONE, CMD_COMPRESS, CMD_EXPAND, CMD_INFO, CMD_TEST, CMD_INSPECT, CMD_COUNT } command;

/* When to draw the progress line (see progress.h). */
enum { PROGRESS_AUTO, PROGRESS_NEVER, PROGRESS_ALWAYS };

typedef struct cli_opts {
    command cmd;
    const char *output;   /* -o */
    bool to_stdout;       /* -c */
    bool force;           /* -f */
    bool stored_name;     /* -N */
    bool sync;            /* --sync */
    bool json;            /* --json */
    bool recursive;       /* -r */
    int progress;         /* PROGRESS_* */
    int threads;          /* -T as given (1 without it) */
    bool threads_given;   /* -T was given (else large files use every core) */
    tp_options lib;
    const char **trusted; /* --trust, for lib.trusted */
} cli_opts;

/* What one file came to, for the summary of several. */
typedef struct file_result {
    int status;           /* EXIT_* */
    uint64_t in_bytes;    /* bytes read */
    uint64_t out_bytes;   /* bytes written (or that would be, for test) */
} file_result;

extern int cli_verbosity; /* 0 quiet, 1 normal, 2 verbose */

/* "treepack: NAME: message" on stderr (NAME may be NULL). */
void cli_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Informational message on stderr, shown unless quiet. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A string as a JSON string literal, on stdout. */
void cli_json_string(const char *s);

/* "48.6 MB" */
void human_size(uint64_t bytes, char *buf, size_t len);

/* args.c: the command line.  Returns 0 and the files in argv[*first ..],
 * -1 when --help or --version was answered, or EXIT_USAGE. */
int parse_args(int argc, char **argv, cli_opts *o, int *first);
const char *command_name(command c);

/* commands.c: one file each. */
int do_compress(const cli_opts *o, const char *file, tp_ctx *ctx, file_result *res);
int do_expand(const cli_opts *o, const char *file, tp_ctx *ctx, bool test_only, file_result *res);
int do_info(const cli_opts *o, const char *file, tp_ctx *ctx);
/* `inspect`: print the report of one file; returns the exit status. */
int do_inspect(const char *file, const tp_options *opt, bool json, tp_ctx *ctx);

/* One-line summary: "model.pkl 48.6 MB -> 2.1 MB (23.1x), 30 trees, exact". */
void summary_line(const tp_report *r, const char *name, char *buf, size_t len);
/* `info`: the summary and the table of parts, or JSON. */
void print_info(const char *file, const tp_report *r, bool json);

#endif
