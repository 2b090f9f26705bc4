/*
 * fuzz_pickle.c - the opcode decoder, the symbolic interpreter and the
 * tree locator on arbitrary bytes.  They must fail cleanly (an error code
 * and a message), never crash, and stay within the memory limit.
 */
#include <string.h>

#include "fuzz.h"
#include "sklearn/locate.h"
#include "pickle/opcodes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_ctx *ctx = tp_ctx_new();
    if (!ctx) return 0;

    /* the decoder alone, opcode after opcode */
    size_t pos = 0;
    pickle_op op;
    while (pos < size && op_decode(ctx, data, size, pos, &op) == TP_OK) {
        FUZZ_ASSERT(op.end > pos && op.end <= size);
        FUZZ_ASSERT(op.data + op.size <= size && op.data2 + op.size2 <= size);
        pos = (size_t)op.end;
    }

    /* the interpreter and the locator */
    ctx_reset(ctx);
    tp_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_memory = FUZZ_MAX_MEMORY;
    scan_result scan;
    tp_code rc = scan_run(ctx, data, size, &lim, &scan);
    if (rc == TP_OK) {
        for (size_t i = 0; i < scan.ntrees; i++) {
            const found_tree *t = &scan.trees[i];
            FUZZ_ASSERT(t->nodes.data_off + t->nodes.data_len <= size);
            FUZZ_ASSERT(t->values.data_off + t->values.data_len <= size);
        }
        scan_free(&scan);
    } else {
        FUZZ_ASSERT(tp_ctx_code(ctx) == rc && tp_ctx_message(ctx)[0]);
    }

    /* the safety report: it lists what it found even on failure, and
     * agrees with the interpreter on whether the input reads */
    tp_options opt;
    tp_options_init(&opt);
    opt.limits = lim;
    tp_inspection insp;
    tp_inspection_init(&insp);
    tp_code ri = tp_inspect(ctx, data, size, &opt, &insp);
    /* (inspect reads containers and compressed joblib files, which the
     * interpreter alone does not: those may differ) */
    FUZZ_ASSERT((ri == TP_OK) == (rc == TP_OK) || tp_is_container(data, size) || insp.compressed ||
                ri == TP_E_JOBLIB);
    FUZZ_ASSERT(insp.complete == (ri == TP_OK));
    for (size_t i = 0; i < insp.ncalls; i++)
        FUZZ_ASSERT(insp.calls[i].import < (int64_t)insp.nimports);
    for (size_t i = 0; i < insp.nimports; i++)
        FUZZ_ASSERT((insp.compressed || insp.imports[i].offset < size) && insp.imports[i].module &&
                    insp.imports[i].name);
    tp_inspection_free(&insp);
    tp_ctx_free(ctx);
    return 0;
}
