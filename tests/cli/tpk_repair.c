/*
 * tpk_repair.c - test helper: change one field of a .tpk (format version
 * 1 or 2), then write it again with every checksum right, so that the
 * field (not a checksum) is what a reader trips on.
 *
 *   tpk_repair IN OUT FIELD VALUE
 *   FIELD: original-size | skeleton-raw | section-count
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tpk_walk.h"

static int file_write(void *opaque, const void *data, size_t len)
{
    return fwrite(data, 1, len, opaque) == len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tpk_repair IN OUT FIELD VALUE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    static uint8_t d[1 << 24];
    size_t n = fread(d, 1, sizeof d, f);
    fclose(f);
    uint64_t value = strtoull(argv[4], NULL, 10);
    walk_header wh;
    if (!walk_read_header(d, n, &wh) || wh.name_len > TPK_NAME_MAX) return 1;
    tpk_header h;
    memset(&h, 0, sizeof h);
    h.original_size = !strcmp(argv[3], "original-size") ? value : wh.original_size;
    memcpy(h.checksum, wh.checksum, 16);
    memcpy(h.name, wh.name, wh.name_len);
    FILE *o = fopen(argv[2], "wb");
    if (!o) return 1;
    tp_sink sink = {.write = file_write, .opaque = o};
    tpk_writer w = {NULL, &sink, 0, 0, wh.version};
    w.ctx = tp_ctx_new();
    int bad = tpk_write_header(&w, &h) != TP_OK;
    size_t pos = wh.end;
    walk_section s;
    while (!bad && walk_read_section(d, n, wh.version, pos, &s)) {
        uint64_t raw = s.raw;
        if (s.kind == SEC_SKELETON && !strcmp(argv[3], "skeleton-raw")) raw = value;
        if (s.kind == SEC_END && !strcmp(argv[3], "section-count")) raw = value;
        bad = tpk_write_section(&w, s.kind, s.flags, s.codec, d + s.payload, s.stored, raw) != TP_OK;
        pos = s.payload + (size_t)s.stored;
        if (s.kind == SEC_END) break;
    }
    tp_ctx_free(w.ctx);
    return fclose(o) || bad || pos != n;
}
