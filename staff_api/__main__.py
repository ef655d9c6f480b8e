"""`python -m staff_api` serves the staff API with waitress."""
import logging
import sys

import waitress

from .app import config_from_env, create_app


def main(argv=sys.argv[1:]):
    """Serve on STAFF_API_HOST:STAFF_API_PORT."""
    if argv:
        print("usage: python -m staff_api", file=sys.stderr)
        return 2
    config = config_from_env()
    # INFO, so that waitress says where it listens; Python shows only warnings by default.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    waitress.serve(create_app(config), host=config["staff_api.host"], port=config["staff_api.port"],
                   ident="staff_api")
    return 0


if __name__ == "__main__":
    sys.exit(main())
