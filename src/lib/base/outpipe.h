/*
 * outpipe.h - an output stream that hashes and writes in a second thread.
 *
 * expand produces bytes at the speed of memory; writing them costs the
 * kernel about as much again.  Handing full buffers to a writer thread
 * lets the two overlap, so that expanding takes about as long as writing
 * the bytes, which is the goal.  The writer also runs the XXH3-128 that
 * proves the output is the original.
 */
#ifndef BASE_OUTPIPE_H
#define BASE_OUTPIPE_H

#include "base/common.h"

typedef struct outpipe outpipe;

/* sink may be NULL: the bytes are then only hashed.  expected: about how
 * many bytes will come; below a few MB there is no writer thread, whose
 * start and hand-overs would cost more than they overlap. */
tp_code outpipe_open(tp_ctx *ctx, tp_sink *sink, uint64_t expected, outpipe **out);
tp_code outpipe_write(outpipe *p, const void *data, size_t len);
/* Flush, wait for the writer, give the digest (canonical XXH3-128).
 * Returns TP_E_WRITE if the sink failed at any point. */
tp_code outpipe_finish(outpipe *p, uint8_t digest[16]);
/* Stop the writer (if running) and free; safe after finish or on error. */
void outpipe_free(outpipe *p);

#endif
