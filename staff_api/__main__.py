"""`python -m staff_api` serves the API with waitress; `python -m staff_api migrate` updates the database's schema."""
# Serving brings the schema up to date too.
import sys

from chassis import serving

from .app import config_from_env, create_app
from .migrations import MIGRATIONS
from .models import TABLES, db


def main(argv=sys.argv[1:]):
    """Serve on STAFF_API_HOST:STAFF_API_PORT, or migrate."""
    return serving.main("staff_api", argv, config_from_env(), create_app, (db, MIGRATIONS, TABLES))


if __name__ == "__main__":
    sys.exit(main())
