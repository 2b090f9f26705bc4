/*
 * progress.h - the progress line on stderr.
 *
 * By default it is drawn only when stderr is a terminal and the work has
 * taken more than a second (so quick runs and logs stay clean);
 * --progress draws it from the start anywhere, --no-progress never.
 * Messages clear it before they print (cli_error, cli_note), and the
 * next update draws it again.
 *
 * It counts bytes of input: for one file, the share of the work the
 * library reports, scaled to the file's size; for several, whole files
 * as they finish plus the share of the one under way.
 */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stdint.h>

/* The run begins: verb ("compress"), files and their bytes in all. */
void progress_start(int mode, const char *verb, uint64_t nfiles, uint64_t total_bytes);
/* A file begins (name as given, size in bytes); one at a time. */
void progress_file(const char *name, uint64_t size);
/* The library's callback (tp_progress_fn): done of total in the
 * library's own units, for the file under way.  Thread-safe. */
void progress_update(void *opaque, uint64_t done, uint64_t total);
/* One file's work moves on to a later step ("verifying", "checking") of
 * `size` bytes: the line names it, and progress_update counts that step
 * from zero. */
void progress_step(const char *step, uint64_t size);
/* A file is finished (any of several at once).  Thread-safe. */
void progress_file_done(uint64_t size);
/* The run is over: clear the line. */
void progress_end(void);

/* For messages: clear the line and keep others from drawing until
 * progress_release. */
void progress_hold(void);
void progress_release(void);

#endif
