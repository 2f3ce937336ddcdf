#ifndef SWITCHYARD_CMALLOC_SHIM_H
#define SWITCHYARD_CMALLOC_SHIM_H
#include <malloc.h>
#include <sys/prctl.h>

// glibc's malloc tuning, which the Glibc Swift module does not expose.
static inline int sy_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
// Returns freed heap pages to the kernel.
static inline int sy_malloc_trim(void) { return malloc_trim(0); }
// Makes this process non-dumpable: /proc/PID/environ and ptrace are closed to other processes of the same
// user (prctl is variadic, which Swift cannot call).
static inline int sy_set_non_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
// Makes this process the reaper of its orphaned descendants: a process its command put in a group or
// session of its own (Airflow's task runner does) is reparented to it when its parent dies, not to init.
static inline int sy_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
#endif
