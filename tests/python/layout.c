/*
 * layout.c - the sizes and field offsets of treepack.h's structs, one
 * "struct.field offset" or "struct size" a line, for test_layout.py to
 * compare with the ctypes bindings of python/treepack/_lib.py.
 */
#include <stddef.h>
#include <stdio.h>

#include "treepack.h"

#define SIZE(t) printf("%s %zu\n", #t, sizeof(t))
#define FIELD(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void)
{
    SIZE(tp_limits);
    SIZE(tp_sink);
    SIZE(tp_options);
    FIELD(tp_options, name);
    FIELD(tp_options, limits);
    FIELD(tp_options, progress);
    FIELD(tp_options, trusted);
    FIELD(tp_options, allow_unsafe);
    FIELD(tp_options, strip);
    FIELD(tp_options, verified_by_caller);
    SIZE(tp_report);
    FIELD(tp_report, protocol);
    FIELD(tp_report, checksum);
    FIELD(tp_report, verbatim_note);
    FIELD(tp_report, wrapper);
    FIELD(tp_report, stream_size);
    FIELD(tp_report, vocabularies);
    FIELD(tp_report, exact_mode);
    FIELD(tp_report, source_size);
    FIELD(tp_report, stop_words_dropped);
    SIZE(tp_import);
    FIELD(tp_import, offset);
    FIELD(tp_import, ext_code);
    FIELD(tp_import, status);
    FIELD(tp_import, why);
    FIELD(tp_import, loaders);
    SIZE(tp_call);
    FIELD(tp_call, import);
    FIELD(tp_call, why);
    FIELD(tp_call, loaders);
    SIZE(tp_inspect_tree);
    FIELD(tp_inspect_tree, valid);
    FIELD(tp_inspect_tree, problem);
    SIZE(tp_inspect_array);
    FIELD(tp_inspect_array, ndim);
    FIELD(tp_inspect_array, nbytes);
    SIZE(tp_inspection);
    FIELD(tp_inspection, format);
    FIELD(tp_inspection, size);
    FIELD(tp_inspection, imports);
    FIELD(tp_inspection, nrefused);
    FIELD(tp_inspection, complete);
    FIELD(tp_inspection, plain_stop);
    return 0;
}
