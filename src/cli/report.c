/*
 * report.c - messages and the `info` report.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

int cli_verbosity = 1;

void cli_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    progress_hold();
    fputs("treepack: ", stderr);
    if (name) fprintf(stderr, "%s: ", strcmp(name, "-") ? name : "(stdin)");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    progress_release();
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    if (cli_verbosity < 1) return;
    va_list ap;
    va_start(ap, fmt);
    progress_hold();
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    progress_release();
    va_end(ap);
}

void human_size(uint64_t b, char *buf, size_t len)
{
    if (b < 1000) snprintf(buf, len, "%llu B", (unsigned long long)b);
    else if (b < 1000000) snprintf(buf, len, "%.1f kB", b / 1e3);
    else if (b < 1000000000) snprintf(buf, len, "%.1f MB", b / 1e6);
    else snprintf(buf, len, "%.2f GB", b / 1e9);
}

void summary_line(const tp_report *r, const char *name, char *buf, size_t len)
{
    char a[32], b[32];
    human_size(r->original_size, a, sizeof a);
    human_size(r->container_size, b, sizeof b);
    double ratio = r->container_size ? (double)r->original_size / (double)r->container_size : 0.0;
    int n;
    if (r->whole) { /* what was recognised stayed in the skeleton: say so, not "kept as they were" */
        n = snprintf(buf, len, "%s %s -> %s (%.1fx), %llu tree%s", name, a, b, ratio,
                     (unsigned long long)r->trees_verbatim, r->trees_verbatim == 1 ? "" : "s");
        if (n > 0 && (size_t)n < len && r->predictors_verbatim)
            n += snprintf(buf + n, len - (size_t)n, ", %llu HistGradientBoosting predictor%s",
                          (unsigned long long)r->predictors_verbatim, r->predictors_verbatim == 1 ? "" : "s");
        if (n > 0 && (size_t)n < len) n += snprintf(buf + n, len - (size_t)n, " in one stream (smaller so)");
    } else
        n = snprintf(buf, len, "%s %s -> %s (%.1fx), %llu tree%s", name, a, b, ratio, (unsigned long long)r->trees,
                     r->trees == 1 ? "" : "s");
    if (n > 0 && (size_t)n < len && r->trees_verbatim && !r->whole)
        n += snprintf(buf + n, len - (size_t)n, " (+%llu kept as they were)", (unsigned long long)r->trees_verbatim);
    if (n > 0 && (size_t)n < len && r->predictors)
        n += snprintf(buf + n, len - (size_t)n, ", %llu HistGradientBoosting predictor%s",
                      (unsigned long long)r->predictors, r->predictors == 1 ? "" : "s");
    if (n > 0 && (size_t)n < len && r->vocabularies)
        n += snprintf(buf + n, len - (size_t)n, ", %llu vocabular%s", (unsigned long long)r->vocabularies,
                      r->vocabularies == 1 ? "y" : "ies");
    if (n > 0 && (size_t)n < len && (r->stripped || r->exact_mode == TP_EXACT_MODEL)) {
        n += snprintf(buf + n, len - (size_t)n, r->stripped ? ", lossy (stripped" : ", model-exact");
        for (unsigned bit = 1; bit <= TP_STRIP_ALL && n > 0 && (size_t)n < len; bit <<= 1)
            if (r->stripped & bit)
                n += snprintf(buf + n, len - (size_t)n, "%s%s", (r->stripped & (bit - 1)) ? ", " : " ",
                              tp_strip_name(bit));
        if (r->stripped && n > 0 && (size_t)n < len) n += snprintf(buf + n, len - (size_t)n, ")");
        return;
    }
    if (n > 0 && (size_t)n < len) {
        if (r->wrapper[0] && !r->wrapper_exact)
            snprintf(buf + n, len - (size_t)n, ", exact %s stream (the file is compressed anew)", r->wrapper);
        else if (r->wrapper[0])
            snprintf(buf + n, len - (size_t)n, ", exact (%s)", r->wrapper);
        else
            snprintf(buf + n, len - (size_t)n, ", exact");
    }
}

void cli_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void hex16(const uint8_t *d, char out[33])
{
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* What was recognised and what was left as it was. */
static void print_inventory(const tp_report *r)
{
    printf("  recognised: %llu tree%s, %llu numpy array%s (%llu raw joblib), %llu stored column by column",
           (unsigned long long)r->trees, r->trees == 1 ? "" : "s", (unsigned long long)r->arrays,
           r->arrays == 1 ? "" : "s", (unsigned long long)r->arrays_joblib, (unsigned long long)r->arrays_columnar);
    if (r->predictors) printf(", %llu HistGradientBoosting predictor%s", (unsigned long long)r->predictors,
                              r->predictors == 1 ? "" : "s");
    if (r->nested_pickles) printf(", %llu joblib object array%s (nested pickle%s)",
                                  (unsigned long long)r->nested_pickles, r->nested_pickles == 1 ? "" : "s",
                                  r->nested_pickles == 1 ? "" : "s");
    printf("\n");
    printf("  left as is: %llu tree%s, %llu predictor%s, %llu array%s not recognised (object or text dtypes, ...)\n",
           (unsigned long long)r->trees_verbatim, r->trees_verbatim == 1 ? "" : "s",
           (unsigned long long)r->predictors_verbatim, r->predictors_verbatim == 1 ? "" : "s",
           (unsigned long long)r->arrays_verbatim, r->arrays_verbatim == 1 ? "" : "s");
    if (r->verbatim_note[0]) printf("    %s\n", r->verbatim_note);
}

static void print_lossy(const tp_report *r)
{
    char hex[33], size[32];
    if (!r->stripped && r->exact_mode != TP_EXACT_MODEL) return;
    hex16(r->source_checksum, hex);
    human_size(r->source_size, size, sizeof size);
    if (r->exact_mode == TP_EXACT_MODEL)
        printf("  model-exact: %llu vocabular%s in sorted order; expand gives an equal model, not the original "
               "bytes\n", (unsigned long long)r->vocabularies_sorted, r->vocabularies_sorted == 1 ? "y" : "ies");
    for (unsigned b = 1; b <= TP_STRIP_ALL; b <<= 1)
        if (r->stripped & b)
            printf("  lossy: stripped %s (%s)\n    %s\n", tp_strip_name(b), tp_strip_cost(b),
                   tp_strip_done(b, r->strip_kept));
    if (r->stripped & (TP_STRIP_IMPURITY | TP_STRIP_SAMPLES | TP_STRIP_SPLIT_VALUES | TP_STRIP_THRESHOLDS |
                       TP_STRIP_PRECISION))
        printf("    %llu tree%s changed\n", (unsigned long long)r->trees_stripped, r->trees_stripped == 1 ? "" : "s");
    if (r->stripped & TP_STRIP_STOP_WORDS)
        printf("    %llu stop word%s dropped\n", (unsigned long long)r->stop_words_dropped,
               r->stop_words_dropped == 1 ? "" : "s");
    if (r->stripped & TP_STRIP_SPLIT_VALUES)
        printf("    %llu internal-node value%s set\n", (unsigned long long)r->split_values_set,
               r->split_values_set == 1 ? "" : "s");
    if (r->stripped & TP_STRIP_THRESHOLDS)
        printf("    %llu threshold%s lowered\n", (unsigned long long)r->thresholds_lowered,
               r->thresholds_lowered == 1 ? "" : "s");
    if (r->stripped & TP_STRIP_PRECISION)
        printf("    %llu value%s rounded, the largest change %.17g\n", (unsigned long long)r->values_rounded,
               r->values_rounded == 1 ? "" : "s", r->max_value_change);
    printf("  compressed from: %s, checksum XXH3-128 %s (the checksum above is of what expand gives)\n", size, hex);
}

static void print_wrapper(const tp_report *r)
{
    char hex[33], size[32];
    if (!r->wrapper[0]) return;
    hex16(r->stream_checksum, hex);
    human_size(r->stream_size, size, sizeof size);
    printf("  compressed joblib file (%s, level %d): ", r->wrapper, r->wrapper_level);
    if (r->wrapper_exact)
        printf("expand reproduces the file byte for byte\n");
    else
        printf("expand writes a new %s file of the same stream, not byte for byte the original\n", r->wrapper);
    printf("  decompressed stream: %s, checksum XXH3-128 %s%s\n", size, hex,
           r->wrapper_exact ? "" : " (this is what expand proves)");
    /* What expand costs: the stream is compressed again, and a stream of
     * one piece (all that joblib writes) comes out the same only from one
     * thread.  For xz or bz2 that is most of the time (issue 13: 4.3 s to
     * expand a 48 MB forest saved at xz level 3, whose pickle alone
     * expands in 0.05 s). */
    printf("  expand cost: the %s stream is compressed again with %s level %d in one thread (a stream of one "
           "piece cannot be split and come out the same): about as long as %s takes to compress it; the pickle "
           "alone expands without that\n",
           size, r->wrapper, r->wrapper_level, r->wrapper);
}

void print_info(const char *file, const tp_report *r, bool json)
{
    char hex[33];
    hex16(r->checksum, hex);
    if (json) {
        printf("{\"file\": ");
        cli_json_string(file);
        printf(", \"original_name\": ");
        cli_json_string(r->name);
        printf(", \"original_size\": %llu, \"container_size\": %llu, \"trees\": %llu, \"nodes\": %llu, "
               "\"exact\": %s, \"checksum_xxh3_128\": \"%s\", ",
               (unsigned long long)r->original_size, (unsigned long long)r->container_size,
               (unsigned long long)r->trees, (unsigned long long)r->nodes,
               (r->wrapper[0] && !r->wrapper_exact) || r->stripped || r->exact_mode == TP_EXACT_MODEL ? "false" : "true",
               hex);
        char shex[33];
        hex16(r->stream_checksum, shex);
        printf("\"wrapper\": ");
        cli_json_string(r->wrapper);
        printf(", \"wrapper_level\": %d, \"wrapper_exact\": %s, \"stream_size\": %llu, "
               "\"stream_checksum_xxh3_128\": \"%s\", ",
               r->wrapper_level, r->wrapper_exact ? "true" : "false", (unsigned long long)r->stream_size, shex);
        printf("\"recognised\": {\"trees\": %llu, \"arrays\": %llu, \"joblib_arrays\": %llu, "
               "\"columnar_arrays\": %llu, \"predictors\": %llu, \"nested_pickles\": %llu}, ",
               (unsigned long long)r->trees, (unsigned long long)r->arrays, (unsigned long long)r->arrays_joblib,
               (unsigned long long)r->arrays_columnar, (unsigned long long)r->predictors,
               (unsigned long long)r->nested_pickles);
        printf("\"left_as_is\": {\"trees\": %llu, \"predictors\": %llu, \"arrays\": %llu, \"note\": ",
               (unsigned long long)r->trees_verbatim, (unsigned long long)r->predictors_verbatim,
               (unsigned long long)r->arrays_verbatim);
        cli_json_string(r->verbatim_note);
        char srchex[33];
        hex16(r->source_checksum, srchex);
        printf("}, \"exactness\": \"%s\", \"stripped\": [",
               r->stripped ? "lossy" : r->exact_mode == TP_EXACT_MODEL ? "model" : "byte");
        for (unsigned b = 1, k = 0; b <= TP_STRIP_ALL; b <<= 1)
            if (r->stripped & b) printf("%s\"%s\"", k++ ? ", " : "", tp_strip_name(b));
        printf("], \"source_size\": %llu, \"source_checksum_xxh3_128\": \"%s\", \"vocabularies\": %llu, "
               "\"vocabularies_sorted\": %llu, \"trees_stripped\": %llu, \"stop_words_dropped\": %llu, "
               "\"split_values_set\": %llu, \"thresholds_lowered\": %llu, \"values_rounded\": %llu, "
               "\"max_value_change\": %.17g, "
               "\"kept\": {\"impurity\": %s, \"weighted_n_node_samples\": %s, \"samples\": %s}",
               (unsigned long long)r->source_size, srchex, (unsigned long long)r->vocabularies,
               (unsigned long long)r->vocabularies_sorted, (unsigned long long)r->trees_stripped,
               (unsigned long long)r->stop_words_dropped, (unsigned long long)r->split_values_set,
               (unsigned long long)r->thresholds_lowered, (unsigned long long)r->values_rounded,
               r->max_value_change, r->strip_kept & TP_KEPT_IMPURITY ? "true" : "false",
               r->strip_kept & TP_KEPT_WEIGHTED ? "true" : "false",
               r->strip_kept & TP_KEPT_SAMPLES ? "true" : "false");
        printf(", \"parts\": {");
        for (int p = 0; p < TP_PART_COUNT; p++)
            printf("%s\"%s\": {\"original\": %llu, \"stored\": %llu}", p ? ", " : "", tp_part_name(p),
                   (unsigned long long)r->part_raw[p], (unsigned long long)r->part_stored[p]);
        printf("}}\n");
        return;
    }
    char line[512];
    summary_line(r, r->name[0] ? r->name : "(unnamed)", line, sizeof line);
    printf("%s: %s\n", file, line);
    printf("  %llu nodes; checksum XXH3-128 %s\n", (unsigned long long)r->nodes, hex);
    print_lossy(r);
    print_wrapper(r);
    print_inventory(r);
    printf("  %-12s %12s %12s %7s\n", "part", "original", "stored", "share");
    for (int p = 0; p < TP_PART_COUNT; p++) {
        if (!r->part_raw[p] && !r->part_stored[p]) continue;
        char a[32], b[32];
        human_size(r->part_raw[p], a, sizeof a);
        human_size(r->part_stored[p], b, sizeof b);
        double share = r->container_size ? 100.0 * (double)r->part_stored[p] / (double)r->container_size : 0.0;
        printf("  %-12s %12s %12s %6.1f%%\n", tp_part_name(p), r->part_raw[p] ? a : "-", b, share);
    }
}
