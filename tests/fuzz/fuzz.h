/*
 * fuzz.h - what every fuzz target shares.
 *
 * Each target defines LLVMFuzzerTestOneInput().  Built with
 * -Dfuzzing=libfuzzer it links libFuzzer's main(); otherwise replay.c
 * supplies a main() that runs the target over the files and directories
 * given as arguments, so the corpora run as ordinary tests.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property is a crash: libFuzzer and the replay driver both
 * report the input that caused it. */
#define FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Limits low enough that libFuzzer's memory and time budgets are never
 * the first to trip, high enough for every fixture. */
#define FUZZ_MAX_MEMORY ((uint64_t)256 << 20)

#endif
