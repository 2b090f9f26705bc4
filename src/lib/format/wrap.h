/*
 * wrap.h - compressed joblib files.
 *
 * joblib.dump(..., compress=...) pushes the whole pickle stream through
 * zlib, gzip, bz2, xz, lzma (".lzma", LZMA-alone) or lz4 (frame format);
 * joblib < 0.10 wrote zlib data after a "ZF" header.  Decompressed, the
 * stream is an ordinary joblib stream.  Here:
 *
 *   compress: detect the method by its magic bytes (as joblib does),
 *     decompress with Debian's zlib, libbz2, liblzma or liblz4 (bounded by
 *     tp_limits.max_memory; a size a header claims is never allocated),
 *     then try to compress the stream again with the settings joblib uses
 *     (the level the header suggests first) until one gives the original
 *     bytes exactly; the container records the method, the settings, the
 *     file's size and XXH3-128, and whether the settings reproduce it.
 *   expand: the rebuilt stream (checked against the header's checksum)
 *     goes through the same compressor to the output; when the settings
 *     reproduce the file the result is checked against its checksum too.
 *     Otherwise the output is a file that decompresses to the original
 *     stream, which joblib.load reads to the same model.
 *
 * Both sides feed the compressor in pieces of WRAP_CHUNK bytes, so the
 * output cannot depend on how the stream happened to be cut.
 *
 * SEC_WRAP payload (zstd), all varints unless noted:
 *   u8 version (1), u8 method (wrap_method_id), u8 exact (0/1),
 *   svarint level, varint param (method-specific, below), varint file
 *   size, 16 bytes XXH3-128 of the file (canonical), varint prefix length
 *   + bytes, varint suffix length + bytes.
 *   param: xz = the check id (0 none, 1 CRC32, 4 CRC64, 10 SHA-256);
 *          lz4 = frame flags: bit 0 block checksums, bit 1 content checksum,
 *          bit 2 content size, bit 3 independent blocks, bits 4-6 block
 *          size id (4..7); others 0.
 *   prefix: bytes before the compressed data (the gzip header, whatever
 *           wrote it; the legacy "ZF" header);
 *   suffix: bytes after its end, kept as they are.
 *   gzip is compressed as raw deflate after the prefix, then CRC-32 and
 *   size of the stream, so any gzip writer's header comes back.
 */
#ifndef FORMAT_WRAP_H
#define FORMAT_WRAP_H

#include "base/buf.h"
#include "base/common.h"

enum wrap_method_id {
    WRAP_NONE = 0,
    WRAP_ZLIB = 1,
    WRAP_GZIP = 2,
    WRAP_BZ2 = 3,
    WRAP_XZ = 4,
    WRAP_LZMA = 5,   /* LZMA-alone, joblib's ".lzma" */
    WRAP_LZ4 = 6,    /* LZ4 frame */
    WRAP_ZF = 7,     /* joblib < 0.10: "ZF", hex length, zlib data */
    WRAP_METHOD_MAX = 7
};

/* The method whose magic bytes `in` starts with (WRAP_NONE if none). */
int wrap_detect(const uint8_t *in, size_t len);

#define WRAP_CHUNK ((size_t)1 << 20)

typedef struct wrap_info {
    uint8_t method;
    uint8_t exact;            /* the settings reproduce the file byte for byte */
    int32_t level;
    uint32_t param;
    uint64_t file_size;
    uint8_t file_checksum[16];
    const uint8_t *prefix, *suffix;
    size_t prefix_len, suffix_len;
    bytebuf stream;            /* compress: the decompressed stream */
    bytebuf section;           /* expand: the decoded section prefix/suffix point into */
} wrap_info;

/* Name of a method ("gzip"), "" for WRAP_NONE. */
const char *wrap_name(int method);

/* Compress side: if `in` is a compressed joblib file, decompress it into
 * w->stream and find settings that reproduce it; otherwise method is
 * WRAP_NONE and nothing is allocated. */
tp_code wrap_open(tp_ctx *ctx, const uint8_t *in, size_t len, const tp_limits *lim, wrap_info *w);
void wrap_free(wrap_info *w);

/* The section. */
void wrap_serialize(const wrap_info *w, bytebuf *out);
/* Parse a decoded section; w keeps `raw` (moved into w->section). */
tp_code wrap_parse(tp_ctx *ctx, bytebuf *raw, wrap_info *w);

/* Add " (in the decompressed gzip stream)" to the context's message, so
 * that offsets are not taken for offsets in the file. */
void wrap_annotate(tp_ctx *ctx, const wrap_info *w);

/* Fill the report's wrapper fields; size and checksum of the stream come
 * from the caller (the container header), the file's from w. */
void wrap_report(const wrap_info *w, tp_report *rep);

/* Expand side: a sink that compresses what it is given and passes the
 * result to `next` (which may be NULL: then it is only checked). */
typedef struct wrap_writer wrap_writer;
tp_code wrap_writer_new(tp_ctx *ctx, const wrap_info *w, uint64_t stream_size, tp_sink *next, wrap_writer **out,
                           tp_sink *as_sink);
/* Flush; when the wrap is exact, check the file's size and checksum
 * (TP_E_MISMATCH if they differ).  Call it from the thread that made the
 * writer, once the sink's writes are over. */
tp_code wrap_writer_finish(wrap_writer *ww);
/* The sink's writes keep their errors to themselves (they may run in
 * another thread): after a write failed, put the cause into ctx (in place
 * of a generic TP_E_WRITE) and return its code. */
tp_code wrap_writer_error(wrap_writer *ww, tp_ctx *ctx);
void wrap_writer_free(wrap_writer *ww);

/* For callers that rebuild the stream in memory first (to inspect it
 * before handing it out): expand the container's pickle stream without
 * compressing it again (*wrapped = 1 when the original was compressed;
 * defined in expand.c), then compress it as the container's SEC_WRAP
 * says, to out, checking the file's checksum when the settings
 * reproduce it.  wrap_rewrap with a container without SEC_WRAP writes
 * the stream as it is. */
tp_code expand_stream(tp_ctx *ctx, const uint8_t *in, size_t in_len, const tp_options *opt, tp_sink *out,
                         tp_report *report, int *wrapped);
/* The SEC_WRAP of a container (w->method 0 when it has none). */
tp_code wrap_load(tp_ctx *ctx, const uint8_t *container, size_t container_len, wrap_info *w);
/* Why a loader could read the wrapped file beyond the stream it
 * decompresses to (bytes after the compressed stream, a header that is
 * not the method's), NULL if it could not. */
const char *wrap_loader_risk(const wrap_info *w);
tp_code wrap_rewrap(tp_ctx *ctx, const uint8_t *container, size_t container_len, const uint8_t *stream, size_t n,
                       tp_sink *out);

#endif
