/*
 * skeleton_dict.c - the bytes of the built-in skeleton dictionary (see
 * skeleton_dict.h; skeleton_dict.zdict is the same bytes for zstd -D).
 */
#include "base/skeleton_dict.h"

const uint8_t skeleton_dict[] = {
#include "base/skeleton_dict.inc"
};
const size_t skeleton_dict_size = sizeof skeleton_dict;
