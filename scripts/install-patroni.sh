#!/usr/bin/env bash
# Installs Patroni (with its etcd v3 client and psycopg2) into a cached virtualenv outside the clone, for the
# control database's Patroni drills (`switchyard dev up --control-patroni`); etcd itself is Debian's etcd-server
# (scripts/install-deps.sh test). Repeat runs reuse it. When the install cannot happen, the reason goes to
# "$VENV.failed" and the Patroni tests report skipped with it; this script itself never fails `make test`.
#
# Patroni runs PostgreSQL, which refuses root: as root the lab runs it as the postgres user, so the virtualenv is
# made with the system's python3 under /var/cache (a root-only home or a pyenv interpreter is out of its reach).
set -uo pipefail
. "$(dirname "$0")/lib/cached-venv.sh"

VERSION=4.1.5
if [ "$(id -u)" -eq 0 ]; then
    VENV=${SWITCHYARD_PATRONI_VENV:-/var/cache/switchyard/patroni-$VERSION}
    export PYTHON=${PYTHON:-/usr/bin/python3}
else
    CACHE=${SWITCHYARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}
    VENV=${SWITCHYARD_PATRONI_VENV:-$CACHE/patroni-$VERSION}
fi
cached_venv patroni "$VENV" patroni "" "patroni[etcd3]==$VERSION" psycopg2-binary
[ "$(id -u)" -eq 0 ] && chmod -R a+rX "$VENV" 2>/dev/null
exit 0
