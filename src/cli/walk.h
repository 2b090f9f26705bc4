/*
 * walk.h - the list of files a run works on: the arguments, and with -r
 * the model files under the directories among them.
 */
#ifndef CLI_WALK_H
#define CLI_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

typedef struct file_list {
    char **names;          /* owned */
    uint64_t *sizes;       /* 0 for standard input */
    size_t n, cap;
    size_t skipped;        /* files under a directory that are not for this command */
    size_t skipped_quietly; /* of those, the ones not named (see walk.c) */
    size_t failed;         /* arguments and entries that could not be read (each said why) */
    int status;            /* EXIT_FILE_FAILED when an argument could not be read */
} file_list;

/* Add one argument.  A directory is an error without -r; with it, the
 * files under it are added in name order, those the command has no use
 * for skipped with a note.  False only when out of memory. */
bool file_list_add(file_list *l, const char *arg, command cmd, bool recursive);
void file_list_free(file_list *l);

#endif
