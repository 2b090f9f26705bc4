/*
 * options.c - the versioned structs of the interface (see TP_API_VERSION
 * in treepack.h): their init functions, and how the library takes a
 * caller's struct in and gives one back, whatever header it was built
 * with.  Also the defaults of tp_options and the names of a report's parts.
 */
#include "base/common.h"

unsigned tp_version_api(void) { return TP_API_VERSION; }

void tp_options_init_sized(tp_options *o, size_t size)
{
    tp_options full;
    memset(&full, 0, sizeof full);
    full.struct_size = size;
    full.level = TP_LEVEL_DEFAULT;
    full.threads = 1;
    memcpy(o, &full, MIN_OF(size, sizeof full));
}

tp_code options_take(tp_ctx *ctx, const tp_options *in, tp_options *full)
{
    tp_options_init(full);
    if (!in) return TP_OK;
    if (in->struct_size < offsetof(tp_options, level) + sizeof in->level || in->struct_size > (1u << 16))
        return ctx_fail(ctx, TP_E_USAGE, -1, "tp_options not set up with tp_options_init");
    memcpy(full, in, MIN_OF(in->struct_size, sizeof *full));
    full->struct_size = sizeof *full;
    return TP_OK;
}

void tp_report_init_sized(tp_report *r, size_t size)
{
    memset(r, 0, size);
    r->struct_size = size;
}

void report_give(tp_report *out, const tp_report *full)
{
    size_t n = out->struct_size;
    if (n < sizeof out->struct_size || n > (1u << 16)) return; /* not set up: nothing is written */
    memcpy(out, full, MIN_OF(n, sizeof *full));
    out->struct_size = n;
}

const char *tp_part_name(int part)
{
    static const char *names[TP_PART_COUNT] = {"skeleton", "topology", "features", "thresholds", "impurity",
                                               "counts",   "values",   "other",    "records",
                                               "vocab"};
    return part >= 0 && part < TP_PART_COUNT ? names[part] : "?";
}
