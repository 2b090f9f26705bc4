/*
 * planes.h - byte planes: byte b of value i goes to plane b.
 *
 * For doubles, the sign/exponent bytes of all values then sit together
 * and compress far better than interleaved with the mantissa noise; the
 * same holds for the bytes of fixed-width indices.
 */
#ifndef CODEC_PLANES_H
#define CODEC_PLANES_H

#include <stddef.h>
#include <stdint.h>

static inline void planes_split(const uint8_t *in, uint8_t *out, size_t count, size_t width)
{
    for (size_t b = 0; b < width; b++) {
        uint8_t *dst = out + b * count;
        const uint8_t *src = in + b;
        for (size_t i = 0; i < count; i++) dst[i] = src[i * width];
    }
}

static inline void planes_join(const uint8_t *in, uint8_t *out, size_t count, size_t width)
{
    for (size_t b = 0; b < width; b++) {
        const uint8_t *src = in + b * count;
        uint8_t *dst = out + b;
        for (size_t i = 0; i < count; i++) dst[i * width] = src[i];
    }
}

#endif
