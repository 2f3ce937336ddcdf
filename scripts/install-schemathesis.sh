#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer) and jsonschema (for checking recorded responses against
# docs/openapi.json) into a cached virtualenv outside the clone, for the API contract tests. Repeat runs
# reuse it. When the install cannot happen, the reason goes to "$VENV.failed" and those tests report
# skipped with it; this script itself never fails `make test`.
set -uo pipefail
. "$(dirname "$0")/lib/cached-venv.sh"

VERSION=4.32.5
CACHE=${SWITCHYARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}
VENV=${SWITCHYARD_SCHEMATHESIS_VENV:-$CACHE/schemathesis-$VERSION}
cached_venv schemathesis "$VENV" st "" "schemathesis==$VERSION" "jsonschema>=4.18"
