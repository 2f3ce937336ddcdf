#!/usr/bin/env bash
# Installs Apache Airflow 3.3.2 (with its Postgres and Celery providers and psycopg2) into a cached virtualenv outside
# the clone, for the end-to-end tests against a real Airflow. Repeat runs reuse it (a marker file says the
# install finished). When the install cannot happen, the reason goes to "$VENV.failed" and the Airflow
# tests report skipped with it; this script itself never fails `make test`.
set -uo pipefail
. "$(dirname "$0")/lib/cached-venv.sh"

VERSION=3.3.2
CACHE=${SWITCHYARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}
VENV=${SWITCHYARD_AIRFLOW_VENV:-$CACHE/airflow-$VERSION}
# Celery 5.7 removed `celery.backends.database.retry`, which the Celery provider (3.26) imports: every
# `airflow celery worker` then fails at start-up.
CELERY="celery[redis]>=5.5,<5.7"
cached_venv airflow "$VENV" airflow " (about 4 minutes the first time)" \
    "apache-airflow[postgres,celery]==$VERSION" "$CELERY" psycopg2-binary

# A venv installed before the Celery executor was tested has no Celery provider: add it (seconds). Its failure
# goes to "$VENV.celery-failed" and only the Celery tests skip.
if [ -f "$VENV/.switchyard-installed" ] \
    && ! "$VENV/bin/python" -c 'import airflow.providers.celery; from celery.backends.database import retry' >/dev/null 2>&1; then
    echo "airflow: adding the Celery provider to $VENV" >&2
    if ! timeout 600 "$VENV/bin/pip" install --disable-pip-version-check -q "apache-airflow[postgres,celery]==$VERSION" "$CELERY" \
        >> "$VENV/install.log" 2>&1; then
        echo "pip install apache-airflow[celery]==$VERSION failed: $(tail -n 3 "$VENV/install.log" | tr '\n' ' ' | cut -c1-400)" \
            > "$VENV.celery-failed"
    else
        rm -f "$VENV.celery-failed"
    fi
fi
