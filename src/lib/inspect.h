/*
 * inspect.h - the safety report and the checks built on it.
 *
 * The interpreter records every import and every call, verdict.c judges
 * each into a tp_inspection; this module lets compress and expand refuse
 * what is not allowed.
 */
#ifndef TP_INSPECT_H
#define TP_INSPECT_H

#include "locate.h"
#include "wrap.h"

/* Record TP_E_UNSAFE naming the first refused import or call.  `where`
 * ("", or "in the expanded pickle: ") starts the detail. */
tp_code tp_inspection_refuse(tp_ctx *ctx, const tp_inspection *r, const char *where);

/* tp_scan_run for compress: unless opt->allow_unsafe, a pickle with a
 * refused import or call fails with TP_E_UNSAFE (that wins over a later
 * parse error: loading would have run the import before failing). */
tp_code tp_scan_safe(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, tp_scan *scan);

/* What a loader may read of a compressed file besides the stream the
 * file decompresses to: the file's own bytes, when pickle.load is given
 * it as it is, and bytes after the compressed stream, which Python's gzip,
 * bz2 and lzma readers take for more of the stream.  Either adds a
 * refused finding to *sites. */
tp_code tp_wrap_judge(tp_ctx *ctx, const tp_wrap *w, const uint8_t *file, size_t len, const tp_options *opt,
                      tp_inspection *sites);

/* compress: tp_wrap_judge, and TP_E_UNSAFE when it refuses (unless
 * opt->allow_unsafe). */
tp_code tp_wrap_safe(tp_ctx *ctx, const tp_wrap *w, const uint8_t *file, size_t len, const tp_options *opt);

/* Load a found tree's columns and check it (tp_tree_validate with its
 * n_features).  TP_OK and why[0] = 0 when valid; TP_OK and a reason in
 * why when not; an error code only for resource failures. */
tp_code tp_found_tree_check(tp_ctx *ctx, const uint8_t *in, const tp_found_tree *f, char *why, size_t why_len);

/* The whole check of a pickle that is about to be handed out: it must
 * parse, import and call only allowed names, and hold valid trees (those
 * in proven, which may be NULL, are known to be; see locate.h). */
tp_code tp_check_pickle(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, const char *where,
                        const tp_proven *proven);

/* tp_expand with the re-check: the pickle is expanded into memory,
 * checked with tp_check_pickle, and only then given to the sink. */
tp_code tp_expand_checked(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                          tp_report *report);

#endif
