#!/usr/bin/env bash
# Installs Apache Airflow 3.3.2 (with its Postgres provider and psycopg2) into a cached virtualenv outside
# the clone, for the end-to-end tests against a real Airflow. Repeat runs reuse it (a marker file says the
# install finished). When the install cannot happen, the reason goes to "$VENV.failed" and the Airflow
# tests report skipped with it; this script itself never fails `make test`.
set -uo pipefail
. "$(dirname "$0")/lib/cached-venv.sh"

VERSION=3.3.2
CACHE=${SWITCHYARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}
VENV=${SWITCHYARD_AIRFLOW_VENV:-$CACHE/airflow-$VERSION}
cached_venv airflow "$VENV" airflow " (about 4 minutes the first time)" \
    "apache-airflow[postgres]==$VERSION" psycopg2-binary
