#!/usr/bin/env bash
# Stops Postgres and Redis servers left behind by a test process that crashed before its exit handler ran.
# Only servers under /tmp/switchyard-test-<pid> whose <pid> is no longer alive are touched.
for dir in /tmp/switchyard-test-*; do
    [ -d "$dir" ] || continue
    owner=${dir##*-}
    if kill -0 "$owner" 2>/dev/null; then continue; fi
    for pidfile in "$dir"/pg*/data/postmaster.pid "$dir"/redis*/redis.pid "$dir"/*/sentinel.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(head -1 "$pidfile")
        [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
    done
    sleep 1
    rm -rf "$dir"
done
exit 0
