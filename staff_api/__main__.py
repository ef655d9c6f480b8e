"""`python -m staff_api` serves the staff API with waitress; `python -m staff_api migrate` brings the
database's schema up to date (serving does it too)."""
import ipaddress
import logging
import signal
import sys

import waitress

from .app import config_from_env, create_app
from .jsonhttp import MAX_BODY_BYTES
from .migrations import MIGRATIONS, migrate
from .models import init_db


def main(argv=sys.argv[1:]):
    """Serve on STAFF_API_HOST:STAFF_API_PORT, or migrate."""
    config = config_from_env()
    if argv == ["migrate"]:
        init_db(config["staff_api.db_path"], config["staff_api.database_url"])
        applied = migrate()
        print(f"applied {', '.join(applied) or 'nothing'}; the schema is at migration {len(MIGRATIONS)} "
              f"({config['staff_api.db_path']})")
        return 0
    if argv:
        print("usage: python -m staff_api [migrate]", file=sys.stderr)
        return 2
    host = config["staff_api.host"]
    if not (config["staff_api.token"] or config["staff_api.allow_open"] or is_loopback(host)):
        print(f"refusing to listen on {host} without STAFF_API_TOKEN: anyone who reaches it "
              "could read every employee. Set STAFF_API_TOKEN (README: Security), or STAFF_API_ALLOW_OPEN=1 "
              "if it is really meant to be open.", file=sys.stderr)
        return 2
    app = create_app(config)
    # INFO, so that waitress says where it listens; Python shows only warnings by default.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress stops on Ctrl-C, and on SIGTERM (systemd, run.sh) once it is an exception too;
    # then the cache writes the hit counts of the last second, and the request log its last rows,
    # before the process ends.
    signal.signal(signal.SIGTERM, stop)
    waitress.serve(app, host=host, port=config["staff_api.port"], ident="staff_api",
                   max_request_body_size=WAITRESS_BODY_LIMIT)
    app.config["staff_api.cep_cache"].close()
    app.close()
    return 0


# waitress reads a whole body before the app sees it (1 GiB by default). Past the app's limit
# (jsonhttp.MAX_BODY_BYTES, 100 KiB) the app answers a JSON 413; past this one, waitress answers
# its own plain-text 413 without reading the body. A little room between the two keeps the JSON
# answer for a body just too big.
WAITRESS_BODY_LIMIT = MAX_BODY_BYTES + 28 * 1024


def stop(signum, frame):
    """SIGTERM handler: stop waitress the way Ctrl-C does."""
    raise SystemExit(0)


def is_loopback(host):
    """True for an address only this machine reaches: 127.0.0.1, ::1, localhost."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False


if __name__ == "__main__":
    sys.exit(main())
