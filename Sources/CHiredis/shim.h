#ifndef SWITCHYARD_CHIREDIS_SHIM_H
#define SWITCHYARD_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/time.h>

// redisCommand is variadic; Switchyard only sends binary-safe argv commands, so no wrapper is needed for it.
// Typed accessors keep struct layout knowledge out of Swift.
static inline int sy_redis_err(const redisContext *c) { return c ? c->err : REDIS_ERR_OTHER; }
static inline const char *sy_redis_errstr(const redisContext *c) { return c ? c->errstr : "no context"; }
static inline int sy_redis_fd(const redisContext *c) { return c ? (int)c->fd : -1; }
static inline struct timeval sy_timeval_ms(long long ms) {
    struct timeval tv;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}
#endif
