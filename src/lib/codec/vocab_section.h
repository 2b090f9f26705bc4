/*
 * vocab_section.h - vocabularies stored in the container's VOCAB section.
 */
#ifndef CODEC_VOCAB_SECTION_H
#define CODEC_VOCAB_SECTION_H

#include "sklearn/vocab.h"

/* Serialise every vocabulary of a file; level is the zstd level. */
tp_code vocab_section_write(tp_ctx *ctx, vocabulary *const *v, size_t n, int level, bytebuf *out);
/* Parse a section; total_len bounds what the vocabularies may expand to. */
tp_code vocab_section_read(tp_ctx *ctx, const uint8_t *data, size_t len, uint64_t total_len, vocabulary **out,
                              size_t *n);

#endif
