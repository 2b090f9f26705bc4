/*
 * sniff.c - a cheap guess at what a file is, from its first bytes and its
 * last byte, so that `treepack -r DIR` can pass over files that are no
 * models without reading them whole.  A guess only: whatever it lets
 * through is still parsed in full, and refused there if it is not what
 * it looked like.
 */
#include "treepack.h"

#include "pickle/opcodes.h"
#include "format/wrap.h"

tp_file_kind tp_sniff(const uint8_t *head, size_t head_len, int last_byte)
{
    if (head_len == 0) return TP_FILE_OTHER;
    if (tp_is_container(head, head_len)) return TP_FILE_CONTAINER;
    /* protocols 2-5 open with PROTO n */
    if (head[0] == OP_PROTO) return head_len >= 2 && head[1] >= 2 && head[1] <= PICKLE_MAX_PROTOCOL
                                        ? TP_FILE_PICKLE : TP_FILE_OTHER;
    /* the compressors joblib writes, recognised as joblib recognises them */
    int method = wrap_detect(head, head_len);
    if (method == WRAP_ZLIB) {
        /* one byte of magic is weak: check the zlib header's own check
         * bits, and that it needs no preset dictionary (joblib uses none) */
        if (head_len >= 2 && ((unsigned)head[0] << 8 | head[1]) % 31 == 0 && !(head[1] & 0x20))
            return TP_FILE_COMPRESSED;
    } else if (method != WRAP_NONE) {
        return TP_FILE_COMPRESSED;
    }
    /* protocols 0 and 1 have no header: an opcode of theirs first and STOP
     * last is as much as can be said cheaply */
    const opinfo *op = opinfo_get(head[0]);
    if (op && op->proto <= 1 && head[0] != OP_STOP && last_byte == OP_STOP) return TP_FILE_PICKLE;
    return TP_FILE_OTHER;
}
