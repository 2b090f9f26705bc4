/*
 * lossy.h - the opt-in modes that change the model's bytes:
 * --exact=model (vocabularies in sorted order) and --strip (node
 * impurity, node sample counts, stop_words_, internal-node values,
 * thresholds moved to float32, values rounded to float32).
 *
 * Both work the same way: the input P is rewritten into P', a pickle that
 * loads to a model with the same predictions (and, for --exact=model
 * alone, equal attributes), and P' is then compressed exactly.  Expand
 * gives P' back byte for byte and proves it by P''s checksum, which the
 * header holds; a required section (SEC_LOSSY) records what was done and
 * the size and checksum of the file that was compressed, so that no
 * reader presents P' as the original.
 *
 * P' keeps every memo index where it was: sorted vocabularies make the
 * same memo entries in the same places, an emptied stop-word set is
 * followed by as many memo puts as its terms made, and anything after a
 * range that refers into it (a GET of a term) leaves that range as it
 * was.  FRAMEs inside a changed range are dropped and the frame that
 * holds the range grows to cover it.
 */
#ifndef API_LOSSY_H
#define API_LOSSY_H

#include "base/buf.h"
#include "base/common.h"

/* How stripped tree fields are rewritten.  The tree codec predicts
 * fields from others (impurity from class counts, values from weights),
 * so a zero may cost more than the field did: compress tries the
 * policies and keeps the smallest file.  Either way the fields are no
 * longer meaningful and predictions do not change. */
#define POL_KEEP_IMPURITY 0x1u  /* impurity left as it was */
#define POL_KEEP_WEIGHTED 0x2u  /* samples: only n_node_samples zeroed */
#define POL_SAMPLES_LEFT_OUT 0x4u /* samples asked where safe, left out: an IsolationForest reads them */
#define POL_ALL 0x7u

typedef struct lossy_info {
    int exact;                  /* TP_EXACT_* */
    unsigned stripped;          /* TP_STRIP_* applied */
    unsigned policy;            /* POL_* */
    uint64_t source_size;
    uint8_t source_checksum[16];
    uint64_t trees_stripped, vocabularies_sorted, stop_words_dropped;
    uint64_t split_values_set, thresholds_lowered, values_rounded;
    double max_value_change;
    uint64_t trees_zeroed;      /* not written: trees whose fields were zeroed */
    uint64_t predictors_zeroed; /* not written: HistGradientBoosting predictors changed */
} lossy_info;

/* Rewrite in into *out per exact/strip.  *changed is false when P' would
 * equal P (then out is left empty and info still describes the request). */
tp_code lossy_transform(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, int exact,
                           unsigned strip, unsigned policy, bytebuf *out, lossy_info *info, bool *changed);

void lossy_write(const lossy_info *info, bytebuf *out);
tp_code lossy_read(tp_ctx *ctx, const uint8_t *data, size_t len, lossy_info *info);
void lossy_report(const lossy_info *info, tp_report *rep);

#endif
