"""The settings every service reads from its environment, and `python -m <service>` with waitress."""
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

import waitress

from .migrations import open_and_migrate
from .web import PlainErrors

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# waitress, told what a hostile client could do (docs/security.md). An idle socket costs it a file
# descriptor, not a thread: many may wait, each for a short while. Bodies are refused unread past
# 1 MiB (the app's own limit, 100 KiB, answers with the contract's JSON below that).
WAITRESS_SETTINGS = {"connection_limit": 1000, "channel_timeout": 30, "asyncore_use_poll": True,
                     "max_request_body_size": 1024 * 1024}


def settings_from_env(name, port, environ=os.environ):
    """The settings every service has, for the service `name` ("cep_api", read from CEP_API_...)."""
    prefix = name.upper()
    host = environ.get(f"{prefix}_HOST", "127.0.0.1")
    return {
        f"{name}.db_path": environ.get(f"{prefix}_DB", str(REPO_ROOT / "var" / f"{name.split('_')[0]}.sqlite3")),
        # When set (postgresql://user:password@host:5432/name), PostgreSQL instead of the file above.
        f"{name}.database_url": environ.get(f"{prefix}_DATABASE_URL", ""),
        f"{name}.host": host,
        f"{name}.port": int(environ.get(f"{prefix}_PORT", str(port))),
        # The Host headers it answers: a name it is reached by, never just any (DNS rebinding).
        f"{name}.allowed_hosts": (*LOOPBACK_NAMES, host.lower(), *environ.get(f"{prefix}_ALLOWED_HOSTS", "").lower()
                                  .replace(",", " ").split()),
        f"{name}.token": environ.get(f"{prefix}_TOKEN", ""),  # empty: open (docs/security.md)
        f"{name}.allow_open": environ.get(f"{prefix}_ALLOW_OPEN", "") == "1",
        f"{name}.log": environ.get(f"{prefix}_LOG", "on").lower() != "off",  # the request log
        f"{name}.log_retention_days": float(environ.get(f"{prefix}_LOG_RETENTION_DAYS", "7")),
        f"{name}.log_max_rows": int(environ.get(f"{prefix}_LOG_MAX_ROWS", "100000")),
    }


def section(settings, name):
    """The settings of `name` without their namespace: {"token": ..., "log": ...}."""
    return {key.removeprefix(f"{name}."): value for key, value in settings.items() if key.startswith(f"{name}.")}


def main(name, argv, settings, create_app, schema, commands=None, usage=""):
    """`python -m <name>`: serve the app, or migrate its database's `schema`, or run one of `commands`."""
    # schema: (db, migrations, tables[, then]); commands: {first argument: function(arguments, settings)}
    own = section(settings, name)
    if argv == ["migrate"]:
        db, migrations, tables, *then = schema
        applied = open_and_migrate(db, own, migrations, tables, *then)
        print(f"applied {', '.join(applied) or 'nothing'}; the schema is at migration {len(migrations)} "
              f"({own['db_path']})")
        return 0
    if argv[:1] and argv[0] in (commands or {}):
        return commands[argv[0]](argv[1:], settings)
    if argv:
        print(f"usage: python -m {name} [{usage}migrate]", file=sys.stderr)
        return 2
    if not (own["token"] or own["allow_open"] or is_loopback(own["host"])):
        print(f"refusing to listen on {own['host']} without {name.upper()}_TOKEN: anyone who reaches it could "
              f"use it. Set {name.upper()}_TOKEN (docs/security.md), or {name.upper()}_ALLOW_OPEN=1 "
              "if it is really meant to be open.", file=sys.stderr)
        return 2
    # INFO, so that waitress says where it listens; every line made plain (web.plain_lines).
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(PlainErrors(sys.stderr))],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    # waitress stops on Ctrl-C, and on SIGTERM (systemd, run.sh) once it is an exception too;
    # then app.close() lets the background threads write what they hold before the process ends.
    signal.signal(signal.SIGTERM, stop)
    waitress.serve(app, host=own["host"], port=own["port"], ident=name, **WAITRESS_SETTINGS)
    app.close()
    return 0


def stop(signum, frame):
    """SIGTERM handler: stop waitress the way Ctrl-C does."""
    raise SystemExit(0)


def is_loopback(host):
    """True for an address only this machine reaches: 127.0.0.1, ::1, localhost."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False

