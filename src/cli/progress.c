/*
 * progress.c - the progress line (see progress.h).
 */
#include "progress.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SHOW_AFTER 1.0     /* seconds before the line appears (automatic mode) */
#define REDRAW_EVERY 0.25  /* seconds between two drawings */

static struct {
    pthread_mutex_t lock;
    int active;            /* decided by progress_start */
    int immediate;         /* --progress: no first-second wait */
    const char *verb;
    uint64_t nfiles, files_done;
    uint64_t total, base;  /* bytes of all files, of the finished ones */
    const char *name;      /* the file under way (one at a time) */
    uint64_t size;
    double share;          /* of it done, 0..1 */
    const char *step;      /* the step under way after the main one, or NULL */
    double t0, t_step, last;
    int width;             /* characters on screen, to clear */
} pg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(int mode, const char *verb, uint64_t nfiles, uint64_t total_bytes)
{
    pthread_mutex_lock(&pg.lock);
    pg.active = mode == PROGRESS_ALWAYS || (mode == PROGRESS_AUTO && cli_verbosity >= 1 && isatty(2));
    pg.immediate = mode == PROGRESS_ALWAYS;
    pg.verb = verb;
    pg.nfiles = nfiles;
    pg.files_done = 0;
    pg.total = total_bytes;
    pg.base = 0;
    pg.name = NULL;
    pg.size = 0;
    pg.share = 0;
    pg.step = NULL;
    pg.t0 = now();
    pg.last = 0;
    pg.width = 0;
    pthread_mutex_unlock(&pg.lock);
}

static void clear_locked(void)
{
    if (pg.width) fprintf(stderr, "\r%*s\r", pg.width, "");
    pg.width = 0;
}

static void draw_locked(void)
{
    double t = now();
    if (!pg.active) return;
    if (!pg.immediate && t - pg.t0 < SHOW_AFTER) return;
    if (pg.last && t - pg.last < REDRAW_EVERY) return;
    pg.last = t;
    uint64_t done = pg.base + (uint64_t)((double)pg.size * pg.share);
    if (done > pg.total) done = pg.total;
    char d[32], tot[32], rate[32], line[512];
    human_size(done, d, sizeof d);
    human_size(pg.total, tot, sizeof tot);
    human_size(t > pg.t0 ? (uint64_t)((double)done / (t - pg.t0)) : 0, rate, sizeof rate);
    int pct = pg.total ? (int)(100.0 * (double)done / (double)pg.total) : 0;
    int n;
    if (pg.step) { /* one file's later step: its own share and rate */
        uint64_t sd = (uint64_t)((double)pg.size * pg.share);
        human_size(sd, d, sizeof d);
        human_size(pg.size, tot, sizeof tot);
        human_size(t > pg.t_step ? (uint64_t)((double)sd / (t - pg.t_step)) : 0, rate, sizeof rate);
        n = snprintf(line, sizeof line, "%s %s, %s: %s of %s (%d%%)", pg.verb, pg.name ? pg.name : "", pg.step, d,
                     tot, (int)(100.0 * pg.share));
        done = sd;
    } else if (pg.nfiles == 1)
        n = snprintf(line, sizeof line, "%s %s: %s of %s (%d%%)", pg.verb, pg.name ? pg.name : "", d, tot, pct);
    else
        n = snprintf(line, sizeof line, "%s: %llu of %llu files, %s of %s (%d%%)", pg.verb,
                     (unsigned long long)pg.files_done, (unsigned long long)pg.nfiles, d, tot, pct);
    if (n > 0 && (size_t)n < sizeof line && done) n += snprintf(line + n, sizeof line - (size_t)n, ", %s/s", rate);
    if (n < 0) return;
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    /* pad over what the last drawing left */
    fprintf(stderr, "\r%s%*s", line, pg.width > n ? pg.width - n : 0, "");
    if (pg.width < n) pg.width = n;
    fflush(stderr);
}

void progress_file(const char *name, uint64_t size)
{
    pthread_mutex_lock(&pg.lock);
    pg.name = strcmp(name, "-") ? name : "(stdin)";
    pg.size = size;
    pg.share = 0;
    pg.step = NULL;
    if (pg.nfiles == 1) pg.total = size; /* standard input has its size only now */
    draw_locked();
    pthread_mutex_unlock(&pg.lock);
}

void progress_step(const char *step, uint64_t size)
{
    pthread_mutex_lock(&pg.lock);
    pg.step = step;
    pg.size = size;
    pg.share = 0;
    pg.t_step = now();
    pg.last = 0; /* show the new step at once */
    draw_locked();
    pthread_mutex_unlock(&pg.lock);
}

void progress_update(void *opaque, uint64_t done, uint64_t total)
{
    (void)opaque;
    pthread_mutex_lock(&pg.lock);
    pg.share = total ? (double)done / (double)total : 0;
    if (pg.share > 1) pg.share = 1;
    draw_locked();
    pthread_mutex_unlock(&pg.lock);
}

void progress_file_done(uint64_t size)
{
    pthread_mutex_lock(&pg.lock);
    pg.files_done++;
    pg.base += size;
    pg.step = NULL;
    if (pg.nfiles == 1) pg.share = 0;
    draw_locked();
    pthread_mutex_unlock(&pg.lock);
}

void progress_end(void)
{
    pthread_mutex_lock(&pg.lock);
    clear_locked();
    pg.active = 0;
    pthread_mutex_unlock(&pg.lock);
}

void progress_hold(void)
{
    pthread_mutex_lock(&pg.lock);
    clear_locked();
}

void progress_release(void) { pthread_mutex_unlock(&pg.lock); }
