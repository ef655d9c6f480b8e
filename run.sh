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
            (Ctrl-C stops them; ports and hosts come from the environment: see docs/configuration.md)
  test      install if needed (with test tools) and run the whole test suite with coverage;
            with no arguments, then the container test too (deploy/docker/test.sh) if docker can run it
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

# The JavaScript packages some tests use (tests/js: axe-core, cep-promise), when npm is there; a
# stamp named after the lock file's checksum skips repeats. Without npm those tests say why they skip.
install_test_js() {
    command -v npm >/dev/null 2>&1 || { say "npm is not installed: the tests that need tests/js are skipped"; return 0; }
    stamp="tests/js/node_modules/.installed-$(cksum < tests/js/package-lock.json | cut -d' ' -f1)"
    [ -f "$stamp" ] && return 0
    say "installing tests/js (npm ci)"
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
    touch "$stamp"
}

run_tests() {
    install
    install_requirements requirements-dev.txt
    install_test_js
    rm -f .coverage .coverage.*
    "$PY" -m pytest --cov --cov-report= "$@"
    # One threshold per package: a well-tested service must not hide an untested one, nor the chassis.
    for service in chassis cep_api staff_api; do
        printf '\ncoverage of %s:\n' "$service"
        "$PY" -m coverage report --include="$service/*" --fail-under=90
    done
    # The whole suite (no pytest arguments): then the image and compose.yaml, built and run for
    # real (a minute or two). Without docker it says why it is skipped.
    if [ $# -eq 0 ]; then
        printf '\n'
        deploy/docker/test.sh
    fi
}

seed() {
    install
    "$PY" -m cep_api seed "$@"
}

# Does URL answer with a 2xx within a second?
answers() {
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null
}

# Is something listening on host:port? (bash's /dev/tcp: no curl or nc needed)
port_taken() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Say why we cannot start when a port is taken, and by whom.
refuse_taken_port() {
    name=$1 host=$2 port=$3 variable=$4
    if answers "http://$host:$port/health"; then
        say "cep-staff is already running: $name answers at http://$host:$port (stop it with Ctrl-C where it runs)."
    else
        say "port $port is taken by another program; choose another one, e.g. $variable=$((port + 100)) ./run.sh"
    fi
    exit 1
}

# Wait until URL answers while process PID lives; give up after 30 s.
wait_for_health() {
    url=$1 pid=$2 name=$3 tries=0
    until answers "$url"; do
        kill -0 "$pid" 2>/dev/null || { say "$name exited while starting (see its log above)"; return 1; }
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { say "$name did not answer $url within 30 s"; return 1; }
        sleep 0.1
    done
}

# Stop whatever we started, then exit with $1.
stop_services() {
    trap - INT TERM
    for pid in ${STAFF_PID:-} ${CEP_PID:-}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${STAFF_PID:-} ${CEP_PID:-}; do
        wait "$pid" 2>/dev/null || true
    done
    rm -f var/cep_api.pid var/staff_api.pid
    say "stopped"
    exit "$1"
}

serve() {
    install
    export CEP_API_HOST="${CEP_API_HOST:-127.0.0.1}" CEP_API_PORT="${CEP_API_PORT:-8001}"
    export STAFF_API_HOST="${STAFF_API_HOST:-127.0.0.1}" STAFF_API_PORT="${STAFF_API_PORT:-8002}"
    # A service listening on 0.0.0.0 (every interface) is reached from here at 127.0.0.1.
    cep_host=$CEP_API_HOST staff_host=$STAFF_API_HOST
    [ "$cep_host" != "0.0.0.0" ] || cep_host=127.0.0.1
    [ "$staff_host" != "0.0.0.0" ] || staff_host=127.0.0.1
    export CEP_API_URL="${CEP_API_URL:-http://$cep_host:$CEP_API_PORT}"
    staff_url="http://$staff_host:$STAFF_API_PORT"

    ! port_taken "$cep_host" "$CEP_API_PORT" || refuse_taken_port cep_api "$cep_host" "$CEP_API_PORT" CEP_API_PORT
    ! port_taken "$staff_host" "$STAFF_API_PORT" || refuse_taken_port staff_api "$staff_host" "$STAFF_API_PORT" STAFF_API_PORT

    "$PY" -m cep_api seed --if-empty
    mkdir -p var
    export PYTHONUNBUFFERED=1  # log lines appear as they happen
    trap 'stop_services 0' INT TERM

    # Each service's output goes through sed, which prefixes its name; $! is the service itself.
    "$PY" -m cep_api > >(sed "s/^/[cep_api]   /") 2>&1 &
    CEP_PID=$!
    echo "$CEP_PID" > var/cep_api.pid
    wait_for_health "$CEP_API_URL/health" "$CEP_PID" cep_api || stop_services 1

    "$PY" -m staff_api > >(sed "s/^/[staff_api] /") 2>&1 &
    STAFF_PID=$!
    echo "$STAFF_PID" > var/staff_api.pid
    wait_for_health "$staff_url/health" "$STAFF_PID" staff_api || stop_services 1

    cat <<EOF

  CEP API:    $CEP_API_URL   (try $CEP_API_URL/ceps/01001000)
  Staff API:  $staff_url   (try $staff_url/employees)
  Dashboard:  $staff_url/   (employee form, grid, charts of both services' logs)
  API docs:   $CEP_API_URL/docs   $staff_url/docs
  Press Ctrl-C to stop both.

EOF
    # Run until Ctrl-C or SIGTERM, or until both services have stopped: one may stop alone
    # (the walkthroughs stop the CEP API to show the staff API's cache at work).
    while kill -0 "$CEP_PID" 2>/dev/null || kill -0 "$STAFF_PID" 2>/dev/null; do
        sleep 1 &
        wait $! || true  # unlike a plain sleep, wait lets the trap run at once
    done
    say "both services have stopped"
    stop_services 1
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
