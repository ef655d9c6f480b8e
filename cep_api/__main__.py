"""`python -m cep_api` serves the API with waitress; `python -m cep_api seed [CSV]` loads CEPs;
`python -m cep_api migrate` brings the database's schema up to date (serving does it too).

`seed --if-empty` loads the sample only into an empty database (what ./run.sh does, so that
CEPs a user deleted through the API do not come back on the next start).
"""
import ipaddress
import logging
import signal
import sys

import waitress

from .app import config_from_env, create_app
from .jsonhttp import MAX_BODY_BYTES
from .migrations import MIGRATIONS, migrate
from .models import Cep, db, init_db
from .seed import SAMPLE_CSV, SeedError, seed


def main(argv=sys.argv[1:]):
    """Serve, or seed or migrate when the first argument says so."""
    config = config_from_env()
    if argv == ["migrate"]:
        init_db(config["cep_api.db_path"], config["cep_api.database_url"])
        applied = migrate()
        print(f"applied {', '.join(applied) or 'nothing'}; the schema is at migration {len(MIGRATIONS)} "
              f"({config['cep_api.db_path']})")
        return 0
    if argv[:1] == ["seed"]:
        init_db(config["cep_api.db_path"], config["cep_api.database_url"])
        migrate()
        if argv[1:2] == ["--if-empty"]:
            with db.connection_context():
                present = Cep.select().count()
            if present:
                print(f"not seeding: the database already has {present} CEPs ({config['cep_api.db_path']})")
                return 0
            argv = argv[:1] + argv[2:]
        path = argv[1] if len(argv) > 1 else SAMPLE_CSV
        try:
            added, present = seed(path)
        except (OSError, SeedError) as error:
            print(f"seed failed, nothing was loaded: {error}", file=sys.stderr)
            return 1
        print(f"added {added}, already present {present} ({config['cep_api.db_path']})")
        return 0
    if argv:
        print("usage: python -m cep_api [seed [--if-empty] [CSV] | migrate]", file=sys.stderr)
        return 2
    host = config["cep_api.host"]
    if not (config["cep_api.token"] or config["cep_api.allow_open"] or is_loopback(host)):
        print(f"refusing to listen on {host} without CEP_API_TOKEN: anyone who reaches it "
              "could change the CEPs. Set CEP_API_TOKEN (README: Security), or CEP_API_ALLOW_OPEN=1 "
              "if it is really meant to be open.", file=sys.stderr)
        return 2
    app = create_app(config)
    # INFO, so that waitress says where it listens; Python shows only warnings by default.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress stops on Ctrl-C, and on SIGTERM (systemd, run.sh) once it is an exception too;
    # then the request log writes its last rows before the process ends.
    signal.signal(signal.SIGTERM, stop)
    waitress.serve(app, host=host, port=config["cep_api.port"], ident="cep_api",
                   max_request_body_size=WAITRESS_BODY_LIMIT)
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
