#!/usr/bin/env bash
# One command for everything: ./run.sh help lists what it does.
set -eu

ROOT=$(cd "$(dirname "$0")" && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
cd "$ROOT"

say() { printf 'run.sh: %s\n' "$*" >&2; }

usage() {
    cat <<'EOF'
usage: ./run.sh [command]

  (none)    install if needed, seed the CEP database if empty, start both services
  test      install if needed (with test tools) and run the whole test suite with coverage
  install   create .venv/ and install requirements.txt (used by Vagrant and CI)
  seed      load the bundled CEP sample into the CEP database (idempotent)
  help      show this text
EOF
}

# Create .venv/ with a Python 3.11+, or say exactly what is missing.
make_venv() {
    [ -x "$PY" ] && return 0
    command -v python3 >/dev/null 2>&1 || { say "python3 is not installed; install Python 3.11 or newer."; exit 1; }
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "Python 3.11 or newer is needed; python3 is $(python3 -V 2>&1)."
        exit 1
    fi
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        say "python3 cannot create virtual environments here."
        say "On Debian/Ubuntu: sudo apt-get install python3-venv   (then run this again)"
        exit 1
    fi
    say "creating $VENV"
    python3 -m venv "$VENV"
}

# Install a requirements file once; a stamp named after its checksum skips repeats.
install_requirements() {
    file=$1
    stamp="$VENV/.installed-$(basename "$file")-$(cksum < "$file" | cut -d' ' -f1)"
    [ -f "$stamp" ] && return 0
    say "installing $file"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$file"
    rm -f "$VENV/.installed-$(basename "$file")-"*
    touch "$stamp"
}

install() {
    make_venv
    install_requirements requirements.txt
}

run_tests() {
    install
    install_requirements requirements-dev.txt
    rm -f .coverage .coverage.*
    "$PY" -m pytest --cov --cov-report= "$@"
    # One threshold per service: a well-tested service must not hide an untested one.
    for service in cep_api staff_api; do
        printf '\ncoverage of %s:\n' "$service"
        "$PY" -m coverage report --include="$service/*" --fail-under=90
    done
}

seed() {
    install
    "$PY" -m cep_api seed "$@"
}

serve() {
    install
    "$PY" -m cep_api seed
    exec "$PY" -m cep_api
}

command=${1:-run}
[ $# -gt 0 ] && shift
case "$command" in
    run) serve ;;
    test) run_tests "$@" ;;
    install) install ;;
    seed) seed "$@" ;;
    help|-h|--help) usage ;;
    *) usage >&2; exit 2 ;;
esac
