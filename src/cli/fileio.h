/*
 * fileio.h - the command line's files: reading inputs whole, and writing
 * outputs so that a failure or an interruption never leaves a partial file.
 *
 * An output is written to a temporary file in the target directory and
 * renamed into place only when complete; without --force an existing file
 * is never replaced (the final step is link(2), which fails if the name
 * exists, so there is no window between the check and the write).
 */
#ifndef CLI_FILEIO_H
#define CLI_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

typedef struct input_file {
    const char *name;      /* as given, "-" for stdin */
    uint8_t *data;
    size_t len;
    struct stat st;        /* valid when is_regular */
    bool is_regular;
    bool mapped;           /* data is a read-only mapping, not malloc'd */
} input_file;

/* Make the whole input readable: a regular file is mapped; a stream is
 * read into memory while small and spooled to an unlinked temporary file
 * (mapped in turn) past 64 MiB, so that no input costs its size in
 * anonymous memory.  The data must not be written to.  On failure prints "treepack: NAME: reason" and
 * returns false. */
bool input_read(input_file *in, const char *name);
void input_free(input_file *in);

typedef struct output_file {
    char *final;           /* target path, NULL for stdout */
    char *tmp;             /* temporary path while writing */
    int fd;
    FILE *fp;
    bool failed;           /* a write failed (errno saved) */
    int err;
    int cleanup_slot;      /* for the signal handler, -1 if none */
    bool direct;           /* written into an existing device or FIFO (-o /dev/null), which
                              is never replaced: no temporary file, nothing to read back */
} output_file;

/* Open an output.  path NULL means stdout.  Checks: not the same file as
 * the input (also through links), does not exist unless force, stdout is
 * not a terminal unless force.  An existing character device, FIFO or
 * socket (and, with force, a block device) is written into, as zstd does,
 * never replaced by a file.  Prints the reason and returns false. */
bool output_open(output_file *out, const char *path, const input_file *in, bool force);
/* A scratch output: an unlinked temporary file (in $TMPDIR or /tmp) that
 * can be mapped like an output (output_map) and is gone once aborted.
 * For pickles that must be checked before any byte goes where they are
 * bound (standard output) or nowhere (test), without holding them in
 * memory. */
bool output_open_scratch(output_file *out, const char *name);
/* Everything written to `from` so far, written to `to`. */
bool output_copy(output_file *from, output_file *to, const char *name);
/* The sink callback for the library. */
int output_write(void *opaque, const void *data, size_t len);
/* Flush the temporary file and read it back whole, to verify it before
 * it is committed.  False (after printing why) on failure; free *data. */
bool output_read_back(output_file *out, const char *name, uint8_t **data, size_t *len);
/* The same without a copy: the temporary file mapped read-only (a small
 * file whole at once, a large one's pages as they are touched).  Unmap
 * with output_unmap(data, len). */
bool output_map(output_file *out, const char *name, const uint8_t **data, size_t *len);
void output_unmap(const uint8_t *data, size_t len);
/* Finish: flush, fsync if `sync`, copy the input's permission bits, rename into place.
 * Returns false (after printing why) if anything failed; then nothing is
 * left behind. */
bool output_commit(output_file *out, const input_file *in, bool force, bool sync);
/* Give up: remove the temporary file. */
void output_abort(output_file *out);

/* SIGINT/SIGTERM/SIGHUP remove the output being written, then end the
 * process with the signal. */
void install_signal_cleanup(void);

/* "Is a terminal": for progress and for refusing binary output. */
bool stderr_is_tty(void);

#endif
