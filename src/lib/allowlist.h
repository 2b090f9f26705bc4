/*
 * allowlist.h - names that model pickles legitimately import (see the
 * reasoning in allowlist.c).  Names are compared byte for byte.
 */
#ifndef TP_ALLOWLIST_H
#define TP_ALLOWLIST_H

#include "common.h"

/* On the built-in allowlist. */
bool tp_allowlisted(const char *module, const char *name);
/* Trusted by one of the caller's entries: "module" (and its submodules)
 * or "module.name". */
bool tp_trusted(const char *module, const char *name, const char *const *trusted, size_t n);
/* What a well-known dangerous name does, for messages; NULL if unknown. */
const char *tp_notorious(const char *module, const char *name);

#endif
