/*
 * fileio.c - inputs, atomic outputs, cleanup on signals.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The temporary files being written (one per file converted at once),
 * for the signal handler.  Fixed buffers: the handler may only call
 * async-signal-safe functions.  A slot is claimed under the lock and
 * armed only once its path is complete. */
#define CLEANUP_SLOTS 256
static struct {
    char path[4096];
    volatile sig_atomic_t armed;
    bool used;
} cleanup[CLEANUP_SLOTS];
static pthread_mutex_t cleanup_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
    for (int i = 0; i < CLEANUP_SLOTS; i++)
        if (cleanup[i].armed) unlink(cleanup[i].path);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The slot for `path`, armed; -1 when none is free or it is too long
 * (the file is then only removed by the normal paths). */
static int cleanup_arm(const char *path)
{
    size_t n = strlen(path);
    if (n >= sizeof cleanup[0].path) return -1;
    int slot = -1;
    pthread_mutex_lock(&cleanup_lock);
    for (int i = 0; i < CLEANUP_SLOTS && slot < 0; i++)
        if (!cleanup[i].used) {
            cleanup[i].used = true;
            slot = i;
        }
    pthread_mutex_unlock(&cleanup_lock);
    if (slot < 0) return -1;
    memcpy(cleanup[slot].path, path, n + 1);
    cleanup[slot].armed = 1;
    return slot;
}

static void cleanup_disarm(int slot)
{
    if (slot < 0) return;
    cleanup[slot].armed = 0;
    pthread_mutex_lock(&cleanup_lock);
    cleanup[slot].used = false;
    pthread_mutex_unlock(&cleanup_lock);
}

void install_signal_cleanup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* an input is mapped (input_read): a file cut short while it is read
     * faults; the output under way is removed all the same */
    sigaction(SIGBUS, &sa, NULL);
    /* A closed pipe is an ordinary write error, reported as such. */
    signal(SIGPIPE, SIG_IGN);
}

bool stderr_is_tty(void) { return isatty(2); }

/* Inputs are mapped, not copied: a model may be larger than the memory
 * of the machine that ships it, and the library reads a forest's node
 * arrays once, in order.  A small file is mapped with its pages read in
 * at once (MAP_POPULATE), as the file tool's small outputs are; a large
 * one is faulted in as it is read, and the kernel may drop clean pages
 * again under pressure, so the input costs no anonymous memory. */
#define POPULATE_BELOW ((off_t)8 << 20)

/* What arrives on a pipe is read into memory up to this size; past it,
 * the whole stream goes to an unlinked temporary file that is then
 * mapped like a regular input (the format needs the size and checksum of
 * the original before its first section, and the scan reads back and
 * forth, so a stream cannot be converted as it arrives). */
#define SPOOL_ABOVE ((size_t)64 << 20)

static bool map_fd(input_file *in, int fd, size_t len)
{
    if (len == 0) {
        in->data = NULL;
        in->len = 0;
        return true;
    }
    int flags = MAP_PRIVATE | ((off_t)len <= POPULATE_BELOW ? MAP_POPULATE : 0);
    void *p = mmap(NULL, len, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED) return false;
    /* read ahead: the scan and the blocks go through the file in order */
    if ((off_t)len > POPULATE_BELOW) madvise(p, len, MADV_SEQUENTIAL);
    in->data = p;
    in->len = len;
    in->mapped = true;
    return true;
}

/* A temporary file for a large stream, in $TMPDIR or /tmp, without a name. */
static int spool_file(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/treepack-stdin.XXXXXX", dir) >= sizeof path) return -1;
    fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Standard input or another stream: in memory while small, then spooled. */
static bool read_stream(input_file *in, int fd)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    size_t len = 0;
    int spool = -1;
    uint64_t spooled = 0;
    if (!buf) {
        cli_error(in->name, "out of memory reading the input");
        return false;
    }
    for (;;) {
        if (len == cap && spool < 0 && cap < SPOOL_ABOVE) {
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        if (len == cap) { /* full: to the disk with it */
            if (spool < 0 && (spool = spool_file()) < 0) {
                cli_error(in->name, "cannot create a temporary file for a large input: %s", strerror(errno));
                free(buf);
                return false;
            }
            if (!write_all(spool, buf, len)) {
                cli_error(in->name, "writing a temporary copy of the input: %s", strerror(errno ? errno : EIO));
                free(buf);
                close(spool);
                return false;
            }
            spooled += len;
            len = 0;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            cli_error(in->name, "%s", strerror(errno));
            free(buf);
            if (spool >= 0) close(spool);
            return false;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    if (spool < 0) {
        in->data = buf;
        in->len = len;
        return true;
    }
    bool ok = write_all(spool, buf, len);
    free(buf);
    spooled += len;
    if (!ok || spooled > SIZE_MAX || !map_fd(in, spool, (size_t)spooled)) {
        cli_error(in->name, "cannot keep a temporary copy of the input: %s", strerror(errno ? errno : EIO));
        close(spool);
        return false;
    }
    close(spool); /* the mapping keeps the file */
    return true;
}

bool input_read(input_file *in, const char *name)
{
    memset(in, 0, sizeof *in);
    in->name = name;
    int fd = 0;
    if (strcmp(name, "-") != 0) {
        fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            cli_error(name, "%s", strerror(errno));
            return false;
        }
    }
    if (fstat(fd, &in->st) == 0 && S_ISDIR(in->st.st_mode)) {
        cli_error(name, "is a directory");
        if (fd) close(fd);
        return false;
    }
    in->is_regular = S_ISREG(in->st.st_mode);
    bool ok;
    if (in->is_regular && (uint64_t)in->st.st_size <= SIZE_MAX && map_fd(in, fd, (size_t)in->st.st_size)) {
        ok = true;
    } else if (in->is_regular && in->st.st_size > 0 && (uint64_t)in->st.st_size > SIZE_MAX) {
        cli_error(name, "is too large to map on this machine");
        ok = false;
    } else {
        /* a pipe, a terminal, or a file that would not map (procfs):
         * read what comes */
        ok = read_stream(in, fd);
    }
    if (fd) close(fd);
    return ok;
}

void input_free(input_file *in)
{
    if (in->mapped) munmap(in->data, in->len);
    else free(in->data);
    in->data = NULL;
    in->len = 0;
    in->mapped = false;
}

static bool open_direct(output_file *out, const char *path, const input_file *in, bool force)
{
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        cli_error(in->name, "cannot write into %s: %s", path, strerror(errno));
        return false;
    }
    if (isatty(fd) && !force) {
        close(fd);
        cli_error(in->name, "refusing to write binary data to a terminal (use -f to force, or redirect)");
        return false;
    }
    out->fd = fd;
    out->direct = true;
    out->final = strdup(path);
    out->fp = out->final ? fdopen(fd, "wb") : NULL;
    if (!out->fp) {
        cli_error(in->name, "%s", strerror(errno));
        output_abort(out);
        return false;
    }
    setvbuf(out->fp, NULL, _IOFBF, 1 << 20);
    return true;
}

bool output_open(output_file *out, const char *path, const input_file *in, bool force)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->cleanup_slot = -1;
    if (!path) {
        if (isatty(1) && !force) {
            cli_error(in->name, "refusing to write binary data to a terminal (use -f to force, or redirect)");
            return false;
        }
        out->fp = stdout;
        return true;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (in->is_regular && st.st_dev == in->st.st_dev && st.st_ino == in->st.st_ino) {
            cli_error(in->name, "the output %s is the input itself", path);
            return false;
        }
        if (S_ISDIR(st.st_mode)) { /* -f would not help: say so first */
            cli_error(in->name, "the output %s is a directory", path);
            return false;
        }
        /* /dev/null, a FIFO, a terminal: written into, never replaced by
         * a file (as root, -f would otherwise turn /dev/null into one) */
        if (!S_ISREG(st.st_mode) && (force || !S_ISBLK(st.st_mode))) return open_direct(out, path, in, force);
        if (!force) {
            cli_error(in->name, "%s already exists (use -f to overwrite)", path);
            return false;
        }
    }
    out->final = strdup(path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = strlen(path) + 16;
    out->tmp = malloc(n);
    if (!out->final || !out->tmp) {
        cli_error(in->name, "out of memory");
        output_abort(out);
        return false;
    }
    snprintf(out->tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
    out->fd = mkstemp(out->tmp);
    if (out->fd < 0) {
        cli_error(in->name, "cannot create a file next to %s: %s", path, strerror(errno));
        free(out->tmp);
        out->tmp = NULL;
        output_abort(out);
        return false;
    }
    out->cleanup_slot = cleanup_arm(out->tmp);
    out->fp = fdopen(out->fd, "wb");
    if (!out->fp) {
        cli_error(in->name, "%s", strerror(errno));
        output_abort(out);
        return false;
    }
    setvbuf(out->fp, NULL, _IOFBF, 1 << 20);
    return true;
}

static bool flush_to_read(output_file *out, const char *name, struct stat *st);

bool output_open_scratch(output_file *out, const char *name)
{
    memset(out, 0, sizeof *out);
    out->cleanup_slot = -1;
    out->fd = spool_file(); /* unlinked: nothing to clean up on a signal */
    if (out->fd < 0) {
        cli_error(name, "cannot create a temporary file: %s", strerror(errno));
        return false;
    }
    out->fp = fdopen(out->fd, "w+b");
    if (!out->fp) {
        cli_error(name, "%s", strerror(errno));
        close(out->fd);
        out->fd = -1;
        return false;
    }
    setvbuf(out->fp, NULL, _IOFBF, 1 << 20);
    return true;
}

bool output_copy(output_file *from, output_file *to, const char *name)
{
    struct stat st;
    if (!flush_to_read(from, name, &st)) return false;
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        cli_error(name, "out of memory");
        return false;
    }
    bool ok = true;
    for (off_t at = 0; ok && at < st.st_size;) {
        ssize_t r = pread(from->fd, buf, cap, at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cli_error(name, "cannot read back the temporary copy: %s", r ? strerror(errno) : "it is shorter");
            ok = false;
            break;
        }
        ok = output_write(to, buf, (size_t)r) == 0;
        at += r;
    }
    free(buf);
    return ok;
}

int output_write(void *opaque, const void *data, size_t len)
{
    output_file *out = opaque;
    if (out->failed) return -1;
    if (fwrite(data, 1, len, out->fp) != len) {
        out->failed = true;
        out->err = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

/* Everything written so far on the disk's side of stdio; st describes
 * the temporary file then. */
static bool flush_to_read(output_file *out, const char *name, struct stat *st)
{
    if (!out->fp || out->fp == stdout || out->direct) return false;
    if (out->failed || fflush(out->fp) != 0) {
        cli_error(name, "writing %s: %s", out->final ? out->final : "a temporary file",
                  strerror(out->failed ? out->err : errno));
        return false;
    }
    return fstat(out->fd, st) == 0;
}

bool output_read_back(output_file *out, const char *name, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    if (!flush_to_read(out, name, &st)) return false;
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    size_t got = 0;
    while (p && got < n) {
        ssize_t r = pread(out->fd, p + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (!p || got != n) {
        cli_error(name, "cannot read back %s to verify it", out->final);
        free(p);
        return false;
    }
    *data = p;
    *len = n;
    return true;
}

bool output_map(output_file *out, const char *name, const uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    if (!flush_to_read(out, name, &st)) return false;
    if (st.st_size == 0) {
        *data = (const uint8_t *)"";
        return true;
    }
    /* The check reads the opcodes, and the trees the expander did not
     * prove itself.  In a large forest that is a small part, left to be
     * faulted in as it is read.  A small file is mapped whole at once
     * (MAP_POPULATE): faulting in pages just written, one at a time, was
     * slower by a third of a millisecond (gb_clf4 of scripts/bench). */
    int populate = st.st_size <= (8 << 20) ? MAP_POPULATE : 0;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | populate, out->fd, 0);
    if (p == MAP_FAILED) {
        cli_error(name, "cannot map %s to check it: %s", out->final ? out->final : "a temporary file", strerror(errno));
        return false;
    }
    *data = p;
    *len = (size_t)st.st_size;
    return true;
}

void output_unmap(const uint8_t *data, size_t len)
{
    if (len) munmap((void *)(uintptr_t)data, len);
}

void output_abort(output_file *out)
{
    if (out->fp && out->fp != stdout) fclose(out->fp);
    else if (out->fd >= 0) close(out->fd);
    if (out->tmp) unlink(out->tmp);
    cleanup_disarm(out->cleanup_slot);
    free(out->tmp);
    free(out->final);
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->cleanup_slot = -1;
}

/* rename(tmp, final), which replaces an existing file atomically: a
 * reader of the name sees the old file or the new one, never neither.
 * Over an existing file, though, ext4 (auto_da_alloc) starts writing all
 * of the new file out inside rename(): on a 300 MB model that is 150 ms,
 * longer than the rest of an expand's writing.  Exchanging the two names
 * and then removing the old file, now under the temporary name, is just
 * as atomic without it.  Only over a regular file: an exchange would move
 * a directory aside where rename() fails. */
static int replace_file(const char *tmp, const char *final)
{
#ifdef RENAME_EXCHANGE
    struct stat st;
    if (lstat(final, &st) == 0 && S_ISREG(st.st_mode) &&
        renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        if (unlink(tmp) == 0) return 0;
        /* no longer a file there (it changed after lstat): put the names
         * back and let rename() judge */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) != 0) return -1;
    }
#endif
    return rename(tmp, final);
}

bool output_commit(output_file *out, const input_file *in, bool force, bool sync)
{
    if (out->fp == stdout) {
        if (fflush(stdout) != 0 || out->failed) {
            cli_error(in->name, "writing to standard output: %s", strerror(out->failed ? out->err : errno));
            return false;
        }
        return true;
    }
    bool ok = !out->failed && fflush(out->fp) == 0;
    int err = out->failed ? out->err : errno;
    /* --sync: on the disk before the name appears, so that even a power
     * loss never leaves a complete-looking name over incomplete data.
     * Not by default, as gzip and zstd: the rename alone already means
     * that a failed or killed run leaves nothing, and forcing hundreds of
     * MB out to the disk can take longer than making them. */
    if (ok && sync && fsync(out->fd) != 0 && errno != EINVAL && errno != EROFS) {
        ok = false;
        err = errno;
    }
    if (ok && in->is_regular && !out->direct) fchmod(out->fd, in->st.st_mode & 07777);
    if (fclose(out->fp) != 0 && ok) {
        ok = false;
        err = errno;
    }
    out->fp = NULL;
    out->fd = -1;
    if (!ok) {
        cli_error(in->name, "writing %s: %s", out->final, strerror(err));
        output_abort(out);
        return false;
    }
    if (out->direct) {
        /* written into where it was: nothing to rename */
    } else if (force) {
        if (replace_file(out->tmp, out->final) != 0) {
            cli_error(in->name, "cannot rename into %s: %s", out->final, strerror(errno));
            output_abort(out);
            return false;
        }
    } else {
        /* link() fails if the name appeared meanwhile: never clobber. */
        if (link(out->tmp, out->final) != 0) {
            struct stat st;
            if (errno == EEXIST || stat(out->final, &st) == 0) {
                cli_error(in->name, "%s already exists (use -f to overwrite)", out->final);
                output_abort(out);
                return false;
            }
            /* Filesystems without hard links: the name is free, rename. */
            if (rename(out->tmp, out->final) != 0) {
                cli_error(in->name, "cannot create %s: %s", out->final, strerror(errno));
                output_abort(out);
                return false;
            }
        } else {
            unlink(out->tmp);
        }
    }
    cleanup_disarm(out->cleanup_slot);
    free(out->tmp);
    free(out->final);
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->cleanup_slot = -1;
    return true;
}
