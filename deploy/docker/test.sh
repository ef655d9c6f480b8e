#!/usr/bin/env bash
# The Dockerfile and compose.yaml, built and run for real (docs/deployment.md, Docker):
#   1. a Debian bookworm base image, made here with debootstrap because no image registry may be
#      reachable (python:3.12-slim cannot be pulled); kept, tagged, for the next run;
#   2. the project's image, built on it: docker build --build-arg BASE_IMAGE=<that base>;
#   3. both services started with compose.yaml, on free ports of 127.0.0.1, until both are healthy;
#   4. a smoke test over HTTP: an employee (cache miss), another at the same CEP (hit), the CEP
#      container stopped, a third employee and GET /addresses still answered from the cache, an
#      uncached CEP refused with the contract's 503;
#   5. compose down -v and the image removed, whatever happened (the base image stays).
#
# ./run.sh test runs it after pytest. Without docker, compose, curl or (for the first run)
# debootstrap and root it says why it is skipped and exits 0; with DOCKER_TEST_REQUIRED=1 (.ci/run)
# a skip is a failure. It prints how long each step took.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BASE_IMAGE_TAG=${DOCKER_TEST_BASE_IMAGE:-cep-staff-test-base:bookworm}
IMAGE=cep-staff:test-$$
PROJECT=cepstafftest$$  # compose's project: its own containers, network and volumes
DEBIAN_MIRROR=http://deb.debian.org/debian
# Not in /tmp: often a tmpfs mounted nodev, where debootstrap's chroot gets no /dev/null.
WORK=$(mktemp -d /var/tmp/cep-staff-docker-test.XXXXXX)

say() { printf 'deploy/docker/test.sh: %s\n' "$*" >&2; }

# Not able to run here: say why, and pass, unless CI asked for this test to run.
skip() {
    if [ "${DOCKER_TEST_REQUIRED:-}" = 1 ]; then
        say "FAILED: cannot run: $* (DOCKER_TEST_REQUIRED=1)"
        exit 1
    fi
    say "skipped: $*"
    exit 0
}

# Seconds since $1 (an $EPOCHREALTIME), with one decimal.
since() { awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'; }

# docker compose (the plugin) where there is one, else Debian's docker-compose 1.29.
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
else
    COMPOSE=(docker-compose)
fi
compose() { "${COMPOSE[@]}" -f "$ROOT/compose.yaml" -p "$PROJECT" "$@"; }

preflight() {
    command -v docker >/dev/null 2>&1 || skip "docker is not installed (Debian: apt-get install docker.io)"
    docker info >/dev/null 2>&1 \
        || skip "docker's daemon does not answer (docker info failed: start dockerd, or join the docker group)"
    command -v "${COMPOSE[0]}" >/dev/null 2>&1 \
        || skip "neither the docker compose plugin nor docker-compose is installed (Debian: apt-get install docker-compose)"
    command -v curl >/dev/null 2>&1 || skip "curl is not installed (Debian: apt-get install curl)"
    docker image inspect "$BASE_IMAGE_TAG" >/dev/null 2>&1 && return 0
    command -v debootstrap >/dev/null 2>&1 \
        || skip "no base image $BASE_IMAGE_TAG yet, and debootstrap, which makes it, is not installed (apt-get install debootstrap)"
    [ "$(id -u)" -eq 0 ] || skip "no base image $BASE_IMAGE_TAG yet, and debootstrap needs root to make it once: sudo $0"
}

cleanup() {
    status=$?
    trap - EXIT
    if [ -n "${STARTED:-}" ]; then
        compose down --volumes --remove-orphans >"$WORK/down.log" 2>&1 || { say "compose down failed:"; cat "$WORK/down.log" >&2; }
    fi
    docker image rm "$IMAGE" >/dev/null 2>&1 || true
    # --one-file-system: never into a /proc or /sys that a failed debootstrap left mounted.
    rm -rf --one-file-system "$WORK"
    exit "$status"
}
trap cleanup EXIT

# Stop with what went wrong, the last answer, and what the containers said.
fail() {
    say "FAILED: $*"
    if [ -f "$WORK/headers" ]; then
        printf '\nthe last answer:\n' >&2
        cat "$WORK/headers" "$WORK/body" >&2 || true
    fi
    if [ -n "${STARTED:-}" ]; then
        printf '\n\ncompose logs:\n' >&2
        compose logs --no-color --tail=60 >&2 || true
    fi
    exit 1
}

# The base: Debian bookworm's minimal system with python3 and python3-venv, the two things the
# Dockerfile needs of a base image, imported into docker as an image.
make_base_image() {
    if docker image inspect "$BASE_IMAGE_TAG" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE_TAG exists, kept (docker image rm $BASE_IMAGE_TAG makes it again)"
        return 0
    fi
    say "making the base image $BASE_IMAGE_TAG with debootstrap (about a minute)"
    local started=$EPOCHREALTIME rootfs=$WORK/rootfs
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
    # What a slim image leaves out: downloaded packages, package lists, documentation, translations.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    # pip in the build checks PyPI's certificate against this host's CA bundle: some networks (the
    # project's CI) reach PyPI through a proxy that only the host trusts. That is this test's
    # business, so it goes into this base image, never into the project's Dockerfile.
    local changes=(--change 'CMD ["bash"]')
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/host-ca-certificates.crt"
        changes+=(--change "ENV PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt")
    fi
    tar --numeric-owner -C "$rootfs" -c . | docker import "${changes[@]}" - "$BASE_IMAGE_TAG" >/dev/null
    rm -rf --one-file-system "$rootfs"
    TIME_BASE="$(since "$started") s"
    say "base image made in $TIME_BASE"
}

build_image() {
    local started=$EPOCHREALTIME
    # --no-cache: a cold build, every time (it is the figure docs/deployment.md gives).
    docker build --no-cache --build-arg BASE_IMAGE="$BASE_IMAGE_TAG" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
        || { tail -30 "$WORK/build.log" >&2; fail "docker build failed"; }
    TIME_BUILD=$(since "$started")
    SIZE_MB=$(( $(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000 ))
    say "image built in $TIME_BUILD s: $SIZE_MB MB"
}

# Two distinct free ports on 127.0.0.1 (held together while chosen, so they differ).
free_ports() {
    python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))'
}

wait_until_healthy() {
    local service=$1 id health deadline=$((SECONDS + 90))
    id=$(compose ps -q "$service")
    [ -n "$id" ] || fail "compose started no $service container"
    while true; do
        health=$(docker inspect -f '{{.State.Health.Status}}' "$id") || fail "cannot read $service's health"
        [ "$health" != healthy ] || return 0
        [ "$health" != unhealthy ] || fail "$service is unhealthy (its health checks failed, or it exited)"
        [ "$SECONDS" -lt "$deadline" ] || fail "$service is not healthy after 90 s (it is $health)"
        sleep 0.5
    done
}

start_services() {
    local started=$EPOCHREALTIME ports
    ports=$(free_ports)
    # Every variable compose.yaml reads is set here: a .env file or the caller's environment must
    # not change what is tested. The staff API has a token and the CEP API runs open (the default
    # opt-out), so both ways a service may listen on 0.0.0.0 are tried.
    export CEP_STAFF_IMAGE=$IMAGE BASE_IMAGE=$BASE_IMAGE_TAG COMPOSE_PROFILES=""
    export CEP_API_PUBLISHED_PORT=${ports% *} STAFF_API_PUBLISHED_PORT=${ports#* }
    export CEP_API_TOKEN="" CEP_API_ALLOW_OPEN=1 CEP_API_DATABASE_URL=""
    STAFF_API_TOKEN=test-token-$$-$RANDOM
    export STAFF_API_TOKEN STAFF_API_ALLOW_OPEN=0 STAFF_API_DATABASE_URL=""  # 0: compose reads "" as unset
    CEP=http://127.0.0.1:$CEP_API_PUBLISHED_PORT STAFF=http://127.0.0.1:$STAFF_API_PUBLISHED_PORT
    STARTED=1
    say "starting both services with ${COMPOSE[*]} (project $PROJECT, ports $CEP_API_PUBLISHED_PORT and $STAFF_API_PUBLISHED_PORT)"
    compose up --detach --no-build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "compose up failed"; }
    wait_until_healthy cep_api
    wait_until_healthy staff_api
    TIME_UP=$(since "$started")
    say "both healthy in $TIME_UP s"
}

# request METHOD URL [JSON]: the status in STATUS, the answer in $WORK/headers and $WORK/body.
request() {
    local args=(--silent --show-error --noproxy '*' --max-time 10 -X "$1"
                -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}')
    [ "$2" = "${2#"$STAFF"}" ] || args+=(-H "Authorization: Bearer $STAFF_API_TOKEN")
    [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' -d "$3")
    STATUS=$(curl "${args[@]}" "$2") || fail "$1 $2: no answer"
}

# expect STATUS [X-Cep-Cache value]: the last answer had them.
expect() {
    [ "$STATUS" = "$1" ] || fail "expected $1, got $STATUS"
    [ $# -lt 2 ] || tr -d '\r' <"$WORK/headers" | grep -qix "X-Cep-Cache: $2" || fail "expected X-Cep-Cache: $2"
}

body_has() { grep -qF -- "$1" "$WORK/body" || fail "the answer does not contain $1"; }

employee() { printf '{"name": "%s", "email": "%s@example.com", "cep": "%s"}' "$1" "$2" "$3"; }

smoke_test() {
    local started=$EPOCHREALTIME cep_id staff_id uid unauthorized
    cep_id=$(compose ps -q cep_api) staff_id=$(compose ps -q staff_api)
    for id in "$cep_id" "$staff_id"; do
        uid=$(docker exec "$id" id -u) || fail "cannot ask a container for its user"
        case $uid in '' | 0) fail "a service runs as root (id -u: '$uid')" ;; esac
        if docker port "$id" | grep -qv '^[0-9/a-z]* -> 127\.0\.0\.1:'; then
            fail "a port is published beyond 127.0.0.1: $(docker port "$id")"
        fi
    done

    request GET "$CEP/ceps/01001000"; expect 200; body_has '"logradouro":"Praça da Sé"'  # seeded on first start
    unauthorized=$(curl --silent --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' "$STAFF/employees") \
        || fail "GET $STAFF/employees: no answer"
    [ "$unauthorized" = 401 ] || fail "without its token the staff API answered $unauthorized, not 401"
    request GET "$STAFF/"; expect 200; body_has 'static/dashboard.js'  # the dashboard
    # Its charts of the CEP API come through the staff API, which calls it as cep_api on compose's network.
    request GET "$STAFF/cep-api/logs/summary"; expect 200; body_has '"routes":'

    request POST "$STAFF/employees" "$(employee 'Ana Souza' ana 01001-000)"; expect 201 miss
    request POST "$STAFF/employees" "$(employee 'Bruno Lima' bruno 01001000)"; expect 201 hit

    compose stop cep_api >"$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log" >&2; fail "compose stop cep_api failed"; }
    # 0: the CEP API, PID 1 in its container (sh execs it), stopped cleanly on SIGTERM.
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$cep_id")" = 0 ] || fail "the CEP API did not stop cleanly on SIGTERM"
    request POST "$STAFF/employees" "$(employee 'Carla Dias' carla 01001-000)"; expect 201 hit
    request GET "$STAFF/addresses/01001000"; expect 200 hit; body_has '"logradouro":"Praça da Sé"'
    request POST "$STAFF/employees" "$(employee 'Davi Rocha' davi 01310-100)"; expect 503
    body_has '{"error":{"status":503,"message":"The CEP API could not be reached and CEP 01310-100 is not cached'
    request GET "$STAFF/employees"; expect 200; body_has '"total":3'
    TIME_SMOKE=$(since "$started")
    say "smoke test passed in $TIME_SMOKE s"
}

preflight
STARTED_ALL=$EPOCHREALTIME
TIME_BASE="kept"
make_base_image
build_image
start_services
smoke_test
compose down --volumes --remove-orphans >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down failed"; }
STARTED=""
say "passed in $(since "$STARTED_ALL") s (base image: $TIME_BASE, build: $TIME_BUILD s, up: $TIME_UP s, smoke: $TIME_SMOKE s; image $SIZE_MB MB)"
