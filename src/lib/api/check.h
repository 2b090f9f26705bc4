/*
 * check.h - the refusals compress and expand make from the verdict
 * (verdict.h): a pickle that would import or call what is not allowed,
 * or holds an invalid tree, is not compressed and not handed out.
 */
#ifndef API_CHECK_H
#define API_CHECK_H

#include "sklearn/locate.h"
#include "format/wrap.h"

/* Record TP_E_UNSAFE naming the first refused import or call.  `where`
 * ("", or "in the expanded pickle: ") starts the detail. */
tp_code inspection_refuse(tp_ctx *ctx, const tp_inspection *r, const char *where);

/* scan_run for compress: unless opt->allow_unsafe, a pickle with a
 * refused import or call fails with TP_E_UNSAFE (that wins over a later
 * parse error: loading would have run the import before failing). */
tp_code scan_safe(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_options *opt, scan_result *scan);

/* What a loader may read of a compressed file besides the stream the
 * file decompresses to: the file's own bytes (file may be NULL), when
 * pickle.load is given it as it is, and bytes after the compressed stream,
 * which Python's gzip, bz2 and lzma readers take for more of the stream.
 * Either adds a refused finding to *sites. */
tp_code wrap_judge(tp_ctx *ctx, const wrap_info *w, const uint8_t *file, size_t len, const tp_options *opt,
                      tp_inspection *sites);

/* compress: wrap_judge, and TP_E_UNSAFE when it refuses (unless
 * opt->allow_unsafe). */
tp_code wrap_safe(tp_ctx *ctx, const wrap_info *w, const uint8_t *file, size_t len, const tp_options *opt);

/* expand: wrap_judge of the compressed file it would write (the
 * container's SEC_WRAP), TP_E_UNSAFE when it refuses. */
tp_code wrap_check_container(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt);

/* The whole check of a pickle that is about to be handed out: it must
 * parse, import and call only allowed names, and hold valid trees (those
 * in proven, which may be NULL, are known to be; see locate.h). */
tp_code check_pickle(tp_ctx *ctx, const uint8_t *data, size_t len, const tp_options *opt, const char *where,
                        const proven_list *proven);

#endif
