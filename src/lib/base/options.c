/*
 * options.c - the defaults of tp_options, and the names of a report's parts.
 */
#include "base/common.h"

void tp_options_init(tp_options *o)
{
    memset(o, 0, sizeof *o);
    o->level = TP_LEVEL_DEFAULT;
    o->threads = 1;
}

const char *tp_part_name(int part)
{
    static const char *names[TP_PART_COUNT] = {"skeleton", "topology", "features", "thresholds", "impurity",
                                               "counts",   "values",   "other",    "records",
                                               "vocab"};
    return part >= 0 && part < TP_PART_COUNT ? names[part] : "?";
}
