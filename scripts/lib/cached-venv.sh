# Sourced by the install-*.sh scripts: installs pip packages into a cached virtualenv outside the clone.
# Repeat runs reuse it (a marker file says the install finished). When the install cannot happen, the
# reason goes to "$VENV.failed" and the tests that need it report skipped with it; never fails `make test`.
#
#   cached_venv LABEL VENV CHECK_PROGRAM "install note" PACKAGE...
#
# CHECK_PROGRAM (relative to the venv's bin/) must run with --version after the install.
cached_venv() {
    local label=$1 venv=$2 program=$3 note=$4
    shift 4
    local marker="$venv/.switchyard-installed" failed="$venv.failed"
    if [ -f "$marker" ] && [ -x "$venv/bin/$program" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$venv")"
    rm -f "$failed"
    fail() {
        echo "$1" > "$failed"
        echo "$label: not installed: $1" >&2
        return 0
    }
    local python=${PYTHON:-python3}
    command -v "$python" >/dev/null 2>&1 || { fail "no python3 on PATH"; return 0; }
    if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
                || { fail "python3-venv could not be installed with apt-get"; return 0; }
        else
            fail "python3 has no venv module (apt-get install python3-venv)"
            return 0
        fi
    fi
    local started
    started=$(date +%s)
    echo "$label: installing $* into $venv$note" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" || { fail "python3 -m venv $venv failed"; return 0; }
    local log="$venv/install.log"
    # No constraints file: it lives on GitHub, which this network may not reach; pip resolves from PyPI.
    if ! timeout 900 "$venv/bin/pip" install --disable-pip-version-check -q "$@" > "$log" 2>&1; then
        fail "pip install $* failed: $(tail -n 3 "$log" | tr '\n' ' ' | cut -c1-400)"
        return 0
    fi
    "$venv/bin/$program" version > /dev/null 2>> "$log" || "$venv/bin/$program" --version > /dev/null 2>> "$log" \
        || { fail "$program --version failed after the install: $(tail -n 2 "$log" | tr '\n' ' ' | cut -c1-300)"; return 0; }
    touch "$marker"
    echo "$label: installed in $(( $(date +%s) - started )) s" >&2
}
