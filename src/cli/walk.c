/*
 * walk.c - arguments and directory walks (see walk.h).
 *
 * The walk keeps its own stack of directories rather than recursing, so a
 * deep tree costs heap, not C stack.  Symbolic links are not followed (a
 * link to a parent would never end, and gzip -r does the same), and
 * entries are taken in byte order of their names so that two runs on the
 * same tree do the same thing in the same order.
 */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool push_name(file_list *l, const char *name, uint64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **names = realloc(l->names, cap * sizeof *names);
        if (!names) return false;
        l->names = names;
        uint64_t *sizes = realloc(l->sizes, cap * sizeof *sizes);
        if (!sizes) return false;
        l->sizes = sizes;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return false;
    l->names[l->n] = copy;
    l->sizes[l->n++] = size;
    return true;
}

void file_list_free(file_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}

/* What the file looks like, from its first bytes and its last. */
static tp_file_kind sniff_file(const char *path, uint64_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return TP_FILE_OTHER;
    uint8_t head[16];
    ssize_t n = pread(fd, head, sizeof head, 0);
    uint8_t last = 0;
    bool have_last = size > 0 && pread(fd, &last, 1, (off_t)(size - 1)) == 1;
    close(fd);
    if (n <= 0) return TP_FILE_OTHER;
    return tp_sniff(head, (size_t)n, have_last ? last : -1);
}

/* Why `cmd` has no use for a file of this kind, or NULL if it has.
 * *expected: the file is the other side of the conversion (a .tpk met by
 * compress, a pickle by expand), which a directory of models is full of:
 * those are named only with -v. */
static const char *why_skipped(command cmd, tp_file_kind kind, bool *expected)
{
    *expected = false;
    switch (cmd) {
    case CMD_COMPRESS:
        *expected = kind == TP_FILE_CONTAINER;
        if (kind == TP_FILE_CONTAINER) return "already a .tpk";
        return kind == TP_FILE_OTHER ? "not a pickle or joblib file" : NULL;
    case CMD_INSPECT:
        return kind == TP_FILE_OTHER ? "not a pickle, joblib or .tpk file" : NULL;
    default:
        *expected = kind == TP_FILE_PICKLE || kind == TP_FILE_COMPRESSED;
        return kind == TP_FILE_CONTAINER ? NULL : "not a .tpk file";
    }
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    bool slash = n && dir[n - 1] == '/';
    size_t len = n + strlen(name) + 2;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

/* One directory: its files into the list, its subdirectories onto the
 * stack (in reverse, so that they come off it in order). */
static bool walk_one(file_list *l, const char *dir, command cmd, char ***stack, size_t *depth, size_t *stack_cap)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name);
    if (n < 0) {
        cli_error(dir, "%s", strerror(errno));
        l->status = EXIT_FILE_FAILED;
        l->failed++;
        return true;
    }
    bool ok = true;
    size_t first_sub = *depth;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *path = NULL;
        if (ok && strcmp(name, ".") && strcmp(name, "..") && !(path = join(dir, name))) ok = false;
        struct stat st;
        if (path && lstat(path, &st) != 0) {
            cli_error(path, "%s", strerror(errno));
            l->status = EXIT_FILE_FAILED;
            l->failed++;
        } else if (path && S_ISDIR(st.st_mode)) {
            if (*depth == *stack_cap) {
                size_t cap = *stack_cap ? *stack_cap * 2 : 16;
                char **s = realloc(*stack, cap * sizeof *s);
                if (!s) ok = false;
                else *stack = s, *stack_cap = cap;
            }
            if (ok) {
                (*stack)[(*depth)++] = path;
                path = NULL;
            }
        } else if (path) {
            bool expected = false;
            const char *why = S_ISLNK(st.st_mode)  ? "a symbolic link, not followed"
                              : !S_ISREG(st.st_mode) ? "not a regular file"
                                                     : why_skipped(cmd, sniff_file(path, (uint64_t)st.st_size), &expected);
            if (why) {
                if (!expected || cli_verbosity >= 2) cli_note("skipped %s: %s", path, why);
                else l->skipped_quietly++;
                l->skipped++;
            } else if (!push_name(l, path, (uint64_t)st.st_size)) {
                ok = false;
            }
        }
        free(path);
        free(ents[i]);
    }
    free(ents);
    /* reverse the subdirectories just pushed */
    for (size_t a = first_sub, b = *depth; a + 1 < b; a++, b--) {
        char *t = (*stack)[a];
        (*stack)[a] = (*stack)[b - 1];
        (*stack)[b - 1] = t;
    }
    return ok;
}

bool file_list_add(file_list *l, const char *arg, command cmd, bool recursive)
{
    struct stat st;
    if (!strcmp(arg, "-")) return push_name(l, arg, 0);
    if (stat(arg, &st) != 0) {
        cli_error(arg, "%s", strerror(errno));
        l->status = EXIT_FILE_FAILED;
        l->failed++;
        return true;
    }
    if (!S_ISDIR(st.st_mode)) return push_name(l, arg, (uint64_t)st.st_size);
    if (!recursive) {
        cli_error(arg, "is a directory (use -r for the model files under it)");
        l->status = EXIT_FILE_FAILED;
        l->failed++;
        return true;
    }
    char **stack = NULL;
    size_t depth = 0, cap = 0;
    char *top = strdup(arg);
    bool ok = top != NULL;
    while (ok && top) {
        ok = walk_one(l, top, cmd, &stack, &depth, &cap);
        free(top);
        top = depth ? stack[--depth] : NULL;
    }
    free(top);
    while (depth) free(stack[--depth]);
    free(stack);
    return ok;
}
