/*
 * expand.h - what expand offers the other operations: the pickle of a
 * container built in memory, and expanding with the check made there.
 */
#ifndef API_EXPAND_H
#define API_EXPAND_H

#include "base/common.h"

/* A growing output in memory. */
typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

/* The pickle stream a loader would read, into *m (free m->data): for a
 * compressed joblib file the stream before it is compressed again
 * (*wrapped set).  Not checked: the caller judges it. */
tp_code expand_to_memory(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, membuf *m,
                            tp_report *report, int *wrapped);

/* tp_expand with the re-check: the pickle is expanded into memory,
 * checked with check_pickle, and only then given to the sink. */
tp_code expand_checked(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                          tp_report *report);

#endif
