#!/usr/bin/env bash
# Stops servers and removes network namespaces left behind by a test process that crashed before its
# exit handler ran. Only leftovers of test processes (<pid>) that are no longer alive are touched.
for dir in /tmp/switchyard-test-*; do
    [ -d "$dir" ] || continue
    owner=${dir##*-}
    # After an interrupt the test process may still be on its way out: give it a few seconds.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$owner" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$owner" 2>/dev/null; then continue; fi
    # Daemons the tests started (schedulers, workers, agents, drills) name the directory in their arguments.
    for pid in $(pgrep -f -- "$dir/" 2>/dev/null); do
        [ "$pid" = "$$" ] && continue
        kill -CONT "$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    done
    # Airflow processes (and their children) run in their AIRFLOW_HOME under the directory.
    for cwd in /proc/[0-9]*/cwd; do
        pid=${cwd#/proc/}; pid=${pid%/cwd}
        [ "$pid" = "$$" ] && continue
        case "$(readlink "$cwd" 2>/dev/null)" in "$dir"/*airflow-*) kill -KILL "$pid" 2>/dev/null ;; esac
    done
    while IFS= read -r pidfile; do
        pid=$(head -1 "$pidfile" 2>/dev/null)
        [ -n "$pid" ] || continue
        kill -CONT "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null
    done < <(find "$dir" \( -name postmaster.pid -o -name redis.pid -o -name sentinel.pid -o -path '*/patroni/*.pid' \) 2>/dev/null)
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
