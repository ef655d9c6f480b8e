#!/usr/bin/env bash
# Vagrant provisioner (runs as root in the VM): installs both services under systemd.
#
# Why a copy in /opt/cep-staff instead of running from /vagrant:
# - /vagrant is the host's tree; a .venv/ made on the host holds host binaries that do
#   not run here, and run.sh always uses .venv/ at the repo root. The copy gets its own.
# - The services must start at boot without waiting for a synced folder to be mounted.
# - The code is owned by root and read-only for the service user `cepstaff`, who may
#   write only the databases in /opt/cep-staff/var/ (0700: nobody else may read them).
#
# The services listen on 0.0.0.0 (for Vagrant's forwarded ports), so they require bearer
# tokens: made once into /etc/cep-staff/tokens.env, which only root can read and both
# units load with EnvironmentFile=. The end of the run says how to get and send them.
#
# Idempotent: a second run changes nothing and restarts nothing. It installs only
# missing packages, copies only changed files, keeps the tokens it made before, and
# restarts the services only when the code, the dependencies, a unit file or the tokens
# file changed.
set -euo pipefail

SRC=/vagrant
APP=/opt/cep-staff
APP_USER=cepstaff
CEP_DB=$APP/var/cep.sqlite3   # the same path as CEP_API_DB in deploy/systemd/cep-api.service
UNITS="cep-api.service staff-api.service"
TOKENS=/etc/cep-staff/tokens.env   # the same path as EnvironmentFile= in both units
# The checksum of the tokens file the services were started with: a new or edited file
# restarts them, as a changed unit does (they read it only when they start).
TOKENS_SEEN=/var/lib/cep-staff/tokens.env.sha256
PACKAGES="python3 python3-venv rsync curl"
# Set when the code, a unit or the tokens change, removed once the services restarted: a
# run that fails half-way still restarts them on the next run. /run is emptied at boot,
# when the services start afresh anyway.
RESTART_PENDING=/run/cep-staff.restart-pending

say() { printf '==> %s\n' "$*"; }

# Makes the file $1 of API tokens (NAME=value lines) with two fresh random tokens, unless it
# exists: a second run keeps them, so a token that a user saved keeps working. The file is
# 0600 and its directory 0700 (owned by root, who runs this). The tokens are never printed:
# the provision log is shown on the host's terminal and gets pasted into bug reports.
create_tokens_file() {
    local file=$1 cep staff
    if [ -e "$file" ]; then
        say "API tokens: $file exists, kept"
        return
    fi
    say "API tokens: creating $file (the end of this run says how to read it)"
    # Both made before anything is written: if python3 fails, set -e stops here.
    cep=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    staff=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    install -d -m 0700 "$(dirname "$file")"
    # umask 077: the file is 0600 from its first moment. noclobber: `>` refuses to replace
    # a file that appeared since the test above.
    (
        umask 077
        set -o noclobber
        printf 'CEP_API_TOKEN=%s\nSTAFF_API_TOKEN=%s\n' "$cep" "$staff" >"$file"
    )
}

# 1. Debian packages: `apt-get update` only when something is missing.
missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086  # one word per package
    apt-get install -y -q --no-install-recommends $missing
else
    say "Debian packages already installed: $PACKAGES"
fi

# 2. The service user: a system account with no login shell.
if id -u "$APP_USER" >/dev/null 2>&1; then
    say "user $APP_USER exists"
else
    say "creating system user $APP_USER"
    useradd --system --user-group --home-dir "$APP" --no-create-home \
        --shell /usr/sbin/nologin "$APP_USER"
fi

# 3. The code: copy /vagrant to /opt/cep-staff. Files come out owned by root and not
# writable by group or others. .venv/ and var/ are excluded, so --delete keeps them.
say "syncing $SRC/ to $APP/"
install -d -m 0755 "$APP"
# --omit-dir-times: run.sh creating .venv/ must not count as a change on the next run.
changes=$(rsync --recursive --links --perms --times --omit-dir-times --delete \
    --no-owner --no-group --chmod=go-w --itemize-changes \
    --exclude=/.git/ --exclude=/.vagrant/ --exclude=/.venv/ --exclude=/var/ \
    --exclude=__pycache__/ --exclude=.pytest_cache/ --exclude='/.coverage*' \
    --exclude=/htmlcov/ \
    "$SRC/" "$APP/")
if [ -n "$changes" ]; then
    printf '%s\n' "$changes" | sed 's/^/    /'
    touch "$RESTART_PENDING"
else
    say "code unchanged"
fi

# 4. The venv and the dependencies (as root: the service user cannot change its code),
# then the CEP sample (as the service user, who owns the databases).
say "./run.sh install"
(cd "$APP" && bash ./run.sh install)
install -d -m 0700 -o "$APP_USER" -g "$APP_USER" "$APP/var"
say "./run.sh seed (as $APP_USER)"
(cd "$APP" && runuser -u "$APP_USER" -- env CEP_API_DB="$CEP_DB" bash ./run.sh seed)

# 5. The API tokens, before the units that read them.
create_tokens_file "$TOKENS"
tokens_sum=$(sha256sum "$TOKENS")
if [ "$tokens_sum" != "$(cat "$TOKENS_SEEN" 2>/dev/null)" ]; then
    say "API tokens are new or changed: the services will restart"
    install -d -m 0700 "$(dirname "$TOKENS_SEEN")"
    printf '%s\n' "$tokens_sum" >"$TOKENS_SEEN"
    touch "$RESTART_PENDING"
fi

# 6. The systemd units: copied only when they differ.
units_changed=0
for unit in $UNITS; do
    if cmp -s "$APP/deploy/systemd/$unit" "/etc/systemd/system/$unit"; then
        say "unit $unit unchanged"
    else
        say "installing /etc/systemd/system/$unit"
        install -m 0644 "$APP/deploy/systemd/$unit" "/etc/systemd/system/$unit"
        units_changed=1
    fi
done
if [ "$units_changed" = 1 ]; then
    say "systemctl daemon-reload"
    systemctl daemon-reload
    touch "$RESTART_PENDING"
fi

# 7. Start at boot and now; restart only when something above changed.
# shellcheck disable=SC2086  # $UNITS: one word per unit
if [ -e "$RESTART_PENDING" ]; then
    say "enabling and (re)starting $UNITS: something changed"
    systemctl enable $UNITS
    systemctl restart $UNITS
    rm -f "$RESTART_PENDING"
else
    say "nothing changed: enabling and starting $UNITS if they are not already"
    systemctl enable --now $UNITS
fi

# 8. Wait (bounded) until both answer (/health needs no token), then say where they are.
for url in http://127.0.0.1:8001/health http://127.0.0.1:8002/health; do
    say "waiting for $url"
    if ! curl --fail --silent --max-time 5 \
            --retry 30 --retry-delay 1 --retry-connrefused --retry-max-time 60 "$url"; then
        say "$url does not answer; see: journalctl -u cep-api -u staff-api"
        exit 1
    fi
    echo
done
say "ready: CEP API   http://127.0.0.1:8001/ceps/01001000"
say "ready: staff API http://127.0.0.1:8002/employees"
say "a token is needed for writes to the CEP API and for the staff API but /health and /docs;"
say "the tokens are in $TOKENS in the VM, shown by:"
say "    vagrant ssh -c 'sudo cat $TOKENS'"
say "and sent as a header (with STAFF_API_TOKEN set to the value shown):"
# shellcheck disable=SC2016  # the user's shell expands $STAFF_API_TOKEN, not this script
say '    curl -H "Authorization: Bearer $STAFF_API_TOKEN" http://127.0.0.1:8002/employees'
