#!/usr/bin/env bash
# Installs what Switchyard needs on Debian/Ubuntu, by purpose:
#
#   build    the toolchain's C headers and pkg-config (libpq, hiredis, libcurl): `make build`, `make release`,
#            `make install`. No server.
#   runtime  the shared libraries the release binary links (what a host that only runs it needs). No server.
#   demo     build, plus the servers the local deployment starts on free loopback ports (PostgreSQL, Redis)
#            and faketime/nftables for its skewed clocks and partitions.
#   test     demo, plus the tools the tests use when present (wrk, nginx, Chromium, promtool, systemd-analyze,
#            dpkg-dev and lintian for the package).
#
# Idempotent: does nothing when everything is present. When not root, prints the exact command to run.
#
# Doing no harm to the host: installing never starts, stops or disables a server that was there before. A server
# package installed here is installed under a policy-rc.d that forbids starting it (Debian's own mechanism, the one
# image builders use), and its service is disabled at boot only when this script installed it: Switchyard's tests and
# demo start their own servers on free ports and never use the distribution's. `--list PURPOSE...` prints the
# packages and installs nothing.
set -euo pipefail

usage() { echo "usage: $0 [--list] build|runtime|demo|test..." >&2; exit 2; }

build=(pkg-config libpq-dev libhiredis-dev libcurl4-openssl-dev)
runtime=(libpq5 libhiredis0.14 libcurl4)
demo_required=(postgresql redis-server)
# Optional: iproute2 and nftables for partitions, faketime for skewed clocks.
demo_optional=(iproute2 nftables faketime)
# Optional: wrk/nginx/hyperfine for benchmarks, chromium for the dashboard test, prometheus for promtool (alert
# rules), systemd for systemd-analyze (units), dpkg-dev, fakeroot and lintian for the Debian package, etcd-server
# for the control database under Patroni (scripts/install-patroni.sh puts Patroni itself in a cached virtualenv).
# python3-venv: the Patroni virtualenv is made with the system's python3 (installed here, before the install scripts
# run at once and would race for apt's lock).
test_optional=(wrk nginx-light hyperfine chromium prometheus systemd dpkg-dev fakeroot lintian etcd-server python3-venv)
# Packages that carry a service, and the service's name.
declare -A services=([postgresql]=postgresql [redis-server]=redis-server [nginx-light]=nginx [prometheus]=prometheus
    [etcd-server]=etcd)

list=0
purposes=()
for arg in "$@"; do
    case "$arg" in
        --list) list=1 ;;
        build | runtime | demo | test) purposes+=("$arg") ;;
        *) usage ;;
    esac
done
[ ${#purposes[@]} -gt 0 ] || purposes=(build)

required=()
optional=()
for purpose in "${purposes[@]}"; do
    case "$purpose" in
        build) required+=("${build[@]}") ;;
        runtime) required+=("${runtime[@]}") ;;
        demo) required+=("${build[@]}" "${demo_required[@]}"); optional+=("${demo_optional[@]}") ;;
        test) required+=("${build[@]}" "${demo_required[@]}"); optional+=("${demo_optional[@]}" "${test_optional[@]}") ;;
    esac
done
dedupe() { printf '%s\n' "$@" | awk 'NF && !seen[$0]++'; }
mapfile -t required < <(dedupe "${required[@]}")
mapfile -t optional < <(dedupe "${optional[@]+"${optional[@]}"}")

if [ "$list" -eq 1 ]; then
    echo "required: ${required[*]}"
    echo "optional: ${optional[*]}"
    exit 0
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${required[@]}"; do installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${optional[@]+"${optional[@]}"}"; do installed "$p" || optional_missing+=("$p"); done

if [ ${#missing[@]} -eq 0 ] && { [ ${#optional_missing[@]} -eq 0 ] || [ "$(id -u)" -ne 0 ]; }; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Switchyard needs these packages: ${missing[*]}" >&2
    echo "Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

# A server this run installs must not start. policy-rc.d is what invoke-rc.d and deb-systemd-invoke ask before
# starting anything; an operator's own one is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# switchyard install-deps.sh: no service starts while it installs packages\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
echo "installing: ${missing[*]} ${optional_missing[*]}" >&2
apt-get update -qq
newly=()
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    newly+=("${missing[@]}")
fi
for p in "${optional_missing[@]+"${optional_missing[@]}"}"; do
    # One at a time, so one that cannot be installed does not hold the others back.
    if apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1; then
        newly+=("$p")
    else
        echo "optional package not installed: $p" >&2
    fi
done
# A server package this run installed is the tests' and demo's to ignore: not enabled at boot. One that was there
# before is the operator's and is not touched.
if command -v systemctl >/dev/null 2>&1; then
    for p in "${newly[@]+"${newly[@]}"}"; do
        if [ -n "${services[$p]:-}" ]; then systemctl disable "${services[$p]}" >/dev/null 2>&1 || true; fi
    done
fi
