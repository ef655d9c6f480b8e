"""`python -m cep_api` serves the API with waitress; `python -m cep_api seed [--if-empty] [CSV]` loads CEPs;
`python -m cep_api migrate` brings the database's schema up to date (serving does it too)."""
import sys

from chassis import serving
from chassis.migrations import open_and_migrate

from .app import config_from_env, create_app
from .migrations import MIGRATIONS
from .models import Cep, TABLES, create_search_index, db
from .seed import SAMPLE_CSV, SeedError, seed


def seed_command(argv, settings):
    """`seed [--if-empty] [CSV]`: load the CSV (default: the bundled sample), and say what it added."""
    open_and_migrate(db, serving.section(settings, "cep_api"), MIGRATIONS, TABLES, create_search_index)
    # --if-empty (what ./run.sh does): a CEP a user deleted through the API does not come back on the next start.
    if argv[:1] == ["--if-empty"]:
        with db.connection_context():
            present = Cep.select().count()
        if present:
            print(f"not seeding: the database already has {present} CEPs ({settings['cep_api.db_path']})")
            return 0
        argv = argv[1:]
    try:
        added, present = seed(argv[0] if argv else SAMPLE_CSV)
    except (OSError, SeedError) as error:
        print(f"seed failed, nothing was loaded: {error}", file=sys.stderr)
        return 1
    print(f"added {added}, already present {present} ({settings['cep_api.db_path']})")
    return 0


def main(argv=sys.argv[1:]):
    """Serve, or seed or migrate when the first argument says so."""
    return serving.main("cep_api", argv, config_from_env(), create_app, (db, MIGRATIONS, TABLES, create_search_index),
                        {"seed": seed_command}, usage="seed [--if-empty] [CSV] | ")


if __name__ == "__main__":
    sys.exit(main())
