#!/usr/bin/env bash
# Stops servers and removes network namespaces left behind by a test process that crashed before its
# exit handler ran. Only leftovers of test processes (<pid>) that are no longer alive are touched.
for dir in /tmp/switchyard-test-*; do
    [ -d "$dir" ] || continue
    owner=${dir##*-}
    if kill -0 "$owner" 2>/dev/null; then continue; fi
    while IFS= read -r pidfile; do
        pid=$(head -1 "$pidfile" 2>/dev/null)
        [ -n "$pid" ] || continue
        kill -CONT "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null
    done < <(find "$dir" \( -name postmaster.pid -o -name redis.pid -o -name sentinel.pid \) 2>/dev/null)
    sleep 1
    rm -rf "$dir"
done
if command -v ip >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^sy-(srv|cli)-'); do
        owner=$(echo "$ns" | cut -d- -f3)
        kill -0 "$owner" 2>/dev/null || ip netns del "$ns" 2>/dev/null
    done
fi
exit 0
