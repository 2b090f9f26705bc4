/*
 * skeleton_dict.h - the zstd dictionary built into treepack for skeleton
 * sections (codec 3 of tpk(5)).
 *
 * A skeleton is mostly names (modules, classes, attributes, dtype
 * strings) that every model file repeats; a small file cannot amortise
 * them, a dictionary that already holds them can: a decision tree of
 * 2 kB goes from 803 to about 400 bytes of skeleton.  The dictionary was
 * trained once by scripts/make_skeleton_dict.py on models fitted here and
 * is part of the format: its bytes never change (a new one would get a
 * new ID and a new codec number).
 */
#ifndef BASE_SKELETON_DICT_H
#define BASE_SKELETON_DICT_H

#include <stddef.h>
#include <stdint.h>

#define SKELETON_DICT_ID 0x74706B31u /* "tpk1", in every frame made with it */

extern const uint8_t skeleton_dict[];
extern const size_t skeleton_dict_size;

#endif
