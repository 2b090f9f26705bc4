/*
 * skeleton_dict.c - the bytes of the built-in skeleton dictionary (see
 * skeleton_dict.h; skeleton_dict.zdict is the same bytes for zstd -D).
 */
#include "base/skeleton_dict.h"

const uint8_t tp_skeleton_dict[] = {
#include "base/skeleton_dict.inc"
};
const size_t tp_skeleton_dict_size = sizeof tp_skeleton_dict;
