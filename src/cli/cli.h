/*
 * cli.h - shared bits of the command-line tool.
 */
#ifndef TP_CLI_H
#define TP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "treepack.h"

/* Exit statuses (documented in treepack(1)). */
enum {
    EXIT_OK = 0,
    EXIT_FILE_FAILED = 1,   /* a file could not be converted */
    EXIT_USAGE = 2,         /* wrong usage */
    EXIT_REFUSED = 3        /* a pickle imports something not allowed */
};

extern int cli_verbosity; /* 0 quiet, 1 normal, 2 verbose */

/* "treepack: NAME: message" on stderr (NAME may be NULL). */
void cli_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Informational message on stderr, shown unless quiet. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "48.6 MB" */
void human_size(uint64_t bytes, char *buf, size_t len);

/* `inspect`: print the report of one file; returns the exit status. */
int do_inspect(const char *file, const tp_options *opt, bool json, tp_ctx *ctx);

/* One-line summary: "model.pkl 48.6 MB -> 2.1 MB (23.1x), 30 trees, exact". */
void summary_line(const tp_report *r, const char *name, char *buf, size_t len);
/* `info`: the summary and the table of parts, or JSON. */
void print_info(const char *file, const tp_report *r, bool json);

#endif
