#!/usr/bin/env bash
# Installs Apache Airflow 3.3.2 (with its Postgres provider and psycopg2) into a cached virtualenv outside
# the clone, for the end-to-end tests against a real Airflow. Repeat runs reuse it (a marker file says the
# install finished). When the install cannot happen, the reason goes to "$VENV.failed" and the Airflow
# tests report skipped with it; this script itself never fails `make test`.
set -uo pipefail

VERSION=3.3.2
CACHE=${SWITCHYARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}
VENV=${SWITCHYARD_AIRFLOW_VENV:-$CACHE/airflow-$VERSION}
MARKER="$VENV/.switchyard-installed"
FAILED="$VENV.failed"

if [ -f "$MARKER" ] && [ -x "$VENV/bin/airflow" ]; then
    exit 0
fi
mkdir -p "$(dirname "$VENV")"
rm -f "$FAILED"
fail() {
    echo "$1" > "$FAILED"
    echo "airflow: not installed: $1" >&2
    exit 0
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || fail "no python3 on PATH"
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
            || fail "python3-venv could not be installed with apt-get"
    else
        fail "python3 has no venv module (apt-get install python3-venv)"
    fi
fi

started=$(date +%s)
echo "airflow: installing apache-airflow[postgres]==$VERSION into $VENV (about 4 minutes the first time)" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || fail "python3 -m venv $VENV failed"
log="$VENV/install.log"
# No constraints file: it lives on GitHub, which this network may not reach; pip resolves from PyPI.
if ! timeout 900 "$VENV/bin/pip" install --disable-pip-version-check -q \
        "apache-airflow[postgres]==$VERSION" psycopg2-binary > "$log" 2>&1; then
    fail "pip install apache-airflow[postgres]==$VERSION failed: $(tail -n 3 "$log" | tr '\n' ' ' | cut -c1-400)"
fi
"$VENV/bin/airflow" version > /dev/null 2>> "$log" || fail "airflow version failed after the install: $(tail -n 2 "$log" | tr '\n' ' ' | cut -c1-300)"
touch "$MARKER"
echo "airflow: installed in $(( $(date +%s) - started )) s" >&2
