#!/usr/bin/env bash
# Vagrant provisioner (runs as root in the VM): installs both services under systemd.
#
# Why a copy in /opt/cep-staff instead of running from /vagrant:
# - /vagrant is the host's tree; a .venv/ made on the host holds host binaries that do
#   not run here, and run.sh always uses .venv/ at the repo root. The copy gets its own.
# - The services must start at boot without waiting for a synced folder to be mounted.
# - The code is owned by root and read-only for the service user `cepstaff`, who may
#   write only the databases in /opt/cep-staff/var/.
#
# Idempotent: a second run changes nothing and restarts nothing. It installs only
# missing packages, copies only changed files, and restarts the services only when
# the code, the dependencies or a unit file changed.
set -euo pipefail

SRC=/vagrant
APP=/opt/cep-staff
APP_USER=cepstaff
CEP_DB=$APP/var/cep.sqlite3   # the same path as CEP_API_DB in deploy/systemd/cep-api.service
UNITS="cep-api.service staff-api.service"
PACKAGES="python3 python3-venv rsync curl"
# Set when the code or a unit changes, removed once the services restarted: a run that
# fails half-way still restarts them on the next run. /run is emptied at boot, when the
# services start afresh anyway.
RESTART_PENDING=/run/cep-staff.restart-pending

say() { printf '==> %s\n' "$*"; }

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
install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$APP/var"
say "./run.sh seed (as $APP_USER)"
(cd "$APP" && runuser -u "$APP_USER" -- env CEP_API_DB="$CEP_DB" bash ./run.sh seed)

# 5. The systemd units: copied only when they differ.
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

# 6. Start at boot and now; restart only when something above changed.
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

# 7. Wait (bounded) until both answer, then say where they are.
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
