/*
 * tpk_repair.c - test helper: change one field of a .tpk, then recompute
 * every checksum, so that the field (not a checksum) is what a reader
 * trips on.
 *
 *   tpk_repair IN OUT FIELD VALUE
 *   FIELD: original-size | skeleton-raw | section-count
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "format/container.h"

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
    if (n < 50 || memcmp(d, TPK_MAGIC, TPK_MAGIC_LEN)) return 1;
    size_t covered = 42 + tp_le16(d + 40);
    if (!strcmp(argv[3], "original-size")) tp_put_le64(d + 16, value);
    size_t pos = covered + 8;
    while (n - pos >= TPK_SECTION_HEADER) {
        uint16_t kind = tp_le16(d + pos);
        uint64_t stored = tp_le64(d + pos + 8);
        if (kind == SEC_SKELETON && !strcmp(argv[3], "skeleton-raw")) tp_put_le64(d + pos + 16, value);
        if (kind == SEC_END && !strcmp(argv[3], "section-count")) tp_put_le64(d + pos + 16, value);
        if (stored > n - pos - TPK_SECTION_HEADER) return 1;
        /* as container.c: the header's hash seeds the payload's */
        tp_put_le64(d + pos + 24, XXH3_64bits_withSeed(d + pos + TPK_SECTION_HEADER, (size_t)stored, XXH3_64bits(d + pos, 24)));
        pos += TPK_SECTION_HEADER + (size_t)stored;
    }
    tp_put_le64(d + covered, tp_checksum64(d, covered));
    f = fopen(argv[2], "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f)) return 1;
    return 0;
}
