#ifndef SWITCHYARD_CMALLOC_SHIM_H
#define SWITCHYARD_CMALLOC_SHIM_H
#include <malloc.h>

// glibc's malloc tuning, which the Glibc Swift module does not expose.
static inline int sy_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
// Returns freed heap pages to the kernel.
static inline int sy_malloc_trim(void) { return malloc_trim(0); }
#endif
