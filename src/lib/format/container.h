/*
 * container.h - the .tpk container, format version 2 (see man/tpk.5).
 *
 * A header (magic, version, original size and XXH3-128 checksum, name)
 * followed by sections, each with a kind, a "required" flag, a codec, its
 * stored and raw lengths and an XXH3-64 checksum of the stored bytes, and
 * a final END section.  A reader refuses a required section kind it does
 * not know, and skips an optional one.
 */
#ifndef FORMAT_CONTAINER_H
#define FORMAT_CONTAINER_H

#include "base/buf.h"
#include "base/common.h"
#include "base/zstd_ctx.h"

#define TPK_MAGIC "\x89TPK\r\n\x1a\n"
#define TPK_MAGIC_LEN 8
/* Version written; readers take 1 too.  Version 2 has the fields of
 * version 1 in a compact form (varints, 32-bit section checksums): a
 * small file's sections cost 8-12 bytes each rather than 32. */
#define TPK_VERSION 2
#define TPK_VERSION_1_SECTION_HEADER 32
#define TPK_SECTION_HEADER_MAX (2 + 10 + 10 + 4)
#define TPK_NAME_MAX 255

enum tpk_kind {
    SEC_END = 0,
    SEC_SKELETON = 1,   /* the original without the spliced payloads */
    SEC_SPLICES = 2,    /* where each payload goes back */
    SEC_LAYOUTS = 3,    /* node layouts (dtype maps) used by the trees */
    SEC_DICT = 4,       /* forest-wide tables shared by tree blocks */
    SEC_TREES = 5,      /* a block of trees, column by column */
    SEC_WRAP = 6,       /* the file is a compressed joblib file: how to compress
                           the expanded stream again (required; wrap.h) */
    SEC_RECORDS = 7,    /* a block of structured arrays, column by column
                           (required; records.h) */
    SEC_INVENTORY = 8,  /* what the scan recognised and what it left as is,
                           for `info` (optional; inventory.h) */
    SEC_VOCAB = 9,      /* vocabularies of text vectorizers (required; vocab.h) */
    SEC_LOSSY = 10,     /* the expanded file is not the original: model-exact
                           or stripped (required; lossy.h) */
    SEC_MEMO = 11,      /* the memo indices after PUT opcodes, left out of
                           the skeleton (required; splice.h) */
    SEC_KIND_MAX_KNOWN = 11
};

/* For a compressed joblib file (SEC_WRAP present), the header's original
 * size and checksum are those of the decompressed stream, which the other
 * sections rebuild; SEC_WRAP holds the size and checksum of the file
 * itself and says whether compressing the stream again reproduces it. */

#define SEC_REQUIRED 0x0001

/* CODEC_LZMA2 (base/lzma2.h) only for skeleton sections, and only up to
 * TPK_LZMA2_MAX_RAW bytes: those are decoded whole, so that bound is all
 * the memory a section's claimed size can ask for. */
/* CODEC_ZSTD_DICT: zstd frames made with the built-in skeleton dictionary
 * (base/skeleton_dict.h), only for skeleton sections. */
enum tpk_codec { CODEC_STORED = 0, CODEC_ZSTD = 1, CODEC_LZMA2 = 2, CODEC_ZSTD_DICT = 3 };
/* Whether a codec's payload is zstd frames (decoded as a stream). */
static inline int tpk_codec_is_zstd(uint8_t codec) { return codec == CODEC_ZSTD || codec == CODEC_ZSTD_DICT; }
#define TPK_LZMA2_MAX_RAW ((uint64_t)8 << 20)

typedef struct tpk_header {
    uint8_t version;
    uint64_t original_size;
    uint8_t checksum[16];      /* XXH3-128, canonical (big-endian) form */
    char name[TPK_NAME_MAX + 1];
    size_t header_size;
} tpk_header;

typedef struct tpk_section {
    uint16_t kind;
    uint16_t flags;
    uint8_t codec;
    uint64_t stored_len;
    uint64_t raw_len;
    uint64_t offset;           /* of the payload in the file */
    uint32_t header_len;       /* bytes of its header, before the payload */
} tpk_section;

/* Streaming writer: counts bytes and turns sink failures into TP_E_WRITE. */
typedef struct tpk_writer {
    tp_ctx *ctx;
    tp_sink *sink;
    uint64_t written;
    size_t last_header_len; /* of the section written last */
    uint8_t version;        /* format written: 0 = TPK_VERSION; 1 for the
                               tests of what older treepacks wrote */
} tpk_writer;

tp_code tpk_write(tpk_writer *w, const void *data, size_t len);
tp_code tpk_write_header(tpk_writer *w, const tpk_header *h);
/* Write a section; payload holds stored_len bytes already encoded with `codec`. */
tp_code tpk_write_section(tpk_writer *w, uint16_t kind, uint16_t flags, uint8_t codec, const void *payload,
                          uint64_t stored_len, uint64_t raw_len);
/* Compress raw bytes with zstd at `level` and write them as a section;
 * stored as they are when the frame would be no smaller. */
tp_code tpk_write_zstd_section(tpk_writer *w, uint16_t kind, const void *raw, size_t raw_len, int level);
tp_code tpk_write_end(tpk_writer *w, uint64_t nsections);

/* Parse and check the whole container: magic, version, header checksum,
 * every section's framing and checksum, the END section, nothing after.
 * *secs is allocated (free it).  Unknown optional sections are dropped. */
tp_code tpk_parse(tp_ctx *ctx, const uint8_t *file, size_t len, tpk_header *h, tpk_section **secs, size_t *nsecs);

/* Decode a section's payload into out (replacing its content).
 * max_raw bounds the result whatever the section claims. */
tp_code tpk_section_read(tp_ctx *ctx, const uint8_t *file, const tpk_section *s, bytebuf *out);


const char *tpk_kind_name(uint16_t kind);

#endif
