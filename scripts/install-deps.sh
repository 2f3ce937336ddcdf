#!/usr/bin/env bash
# Installs what Switchyard needs on Debian/Ubuntu: the C libraries it links (libpq, hiredis, libcurl)
# and the servers its tests and local deployment run (PostgreSQL, Redis). Idempotent: does nothing
# when everything is present. When not root, prints the exact command to run instead.
set -euo pipefail

packages=(libpq-dev libhiredis-dev libcurl4-openssl-dev postgresql redis-server pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Optional tools: iproute2 and nftables for partition tests and drills, faketime for the lab's skewed clocks, wrk/nginx for benchmarks, chromium for the dashboard test, prometheus for promtool (alert rules), systemd for systemd-analyze (units). Installed when root, never required.
optional=(iproute2 nftables wrk nginx-light hyperfine chromium prometheus systemd faketime)
optional_missing=()
for p in "${optional[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional_missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && { [ ${#optional_missing[@]} -eq 0 ] || [ "$(id -u)" -ne 0 ]; }; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Switchyard needs these packages: ${missing[*]}" >&2
    echo "Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "installing: ${missing[*]} ${optional_missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ ${#optional_missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${optional_missing[@]}" >/dev/null || \
        echo "optional packages not installed: ${optional_missing[*]}" >&2
fi
# The distribution's own clusters and servers are not used: Switchyard starts its own on free ports.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true; fi
service redis-server stop >/dev/null 2>&1 || true
service postgresql stop >/dev/null 2>&1 || true
service prometheus stop >/dev/null 2>&1 || true  # only promtool is used
