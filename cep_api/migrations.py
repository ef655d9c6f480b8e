"""Schema migrations: how a database made by an older version of this service gets today's shape.

A database keeps how many of MIGRATIONS it has had (table schema_version); one made before they
existed has had none. migrate() applies the missing ones in order, then creates whatever table or
index is new, all in one write transaction: a second process starting at the same moment waits
for it, then finds nothing left to do. A new database gets today's tables at once, every
migration counted as done. It runs at start (create_app) and as `python -m cep_api migrate`.

To change the schema: change models.py, then add at the end of MIGRATIONS a function that takes
a database of the previous shape to the new one, with playhouse.migrate, keeping every row.
"""
from peewee import CharField
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run

from .models import DataVersion, SchemaVersion, TABLES, db, is_postgres, writing_in_background
from .validation import search_key


def index_request_log_by_time(migrator):
    """#10: the summary reads roll-ups now, so request_log's covering index gives way to one on time."""
    if "request_log_time_method_route_status_ms" in [index.name for index in db.get_indexes("request_log")]:
        run(migrator.drop_index("request_log", "request_log_time_method_route_status_ms"))


def add_search_keys(migrator):
    """#11: the ViaCEP search's town_key and street_key on cep, filled from each town and street."""
    run(migrator.add_column("cep", "town_key", CharField(default="")),
        migrator.add_column("cep", "street_key", CharField(default="")))
    rows = db.execute_sql("SELECT cep, localidade, logradouro FROM cep").fetchall()
    db.cursor().executemany(f"UPDATE cep SET town_key = {db.param}, street_key = {db.param} WHERE cep = {db.param}",
                            [(search_key(town), search_key(street), cep) for cep, town, street in rows])


def add_district_key(migrator):
    """#12: cep.district_key, so that ?q= compares folded keys on SQLite and PostgreSQL alike."""
    run(migrator.add_column("cep", "district_key", CharField(default="")))
    rows = db.execute_sql("SELECT cep, bairro FROM cep").fetchall()
    db.cursor().executemany(f"UPDATE cep SET district_key = {db.param} WHERE cep = {db.param}",
                            [(search_key(district), cep) for cep, district in rows])


def roll_ups_as_text(migrator):
    """#10: log_minute's durations are text now. Its rows are made from request_log, so, alone of
    the migrations, it drops rows: migrate() creates the table anew, and the log's writer refills it."""
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


MIGRATIONS = (index_request_log_by_time, add_search_keys, add_district_key, roll_ups_as_text)  # oldest first; only ever append


def migrate():
    """Bring the database to this code's schema; return the names of the migrations applied."""
    with writing_in_background():
        if is_postgres():  # SQLite's IMMEDIATE already made the others wait; PostgreSQL needs a lock
            db.execute_sql("SELECT pg_advisory_xact_lock(12)")  # any number, the same in every process
        new = not db.table_exists("cep")
        db.create_tables([SchemaVersion])
        if new:  # today's tables come below, so every migration counts as done
            SchemaVersion.create(version=len(MIGRATIONS))
        done = SchemaVersion.select(SchemaVersion.version).scalar() or 0  # no row: from before migrations
        if done > len(MIGRATIONS):
            raise RuntimeError(f"the database has {done} migrations, this code knows {len(MIGRATIONS)}: "
                               "it was made by a newer version of cep_api")
        migrator = SchemaMigrator.from_database(db.obj)
        for migration in MIGRATIONS[done:]:
            migration(migrator)
        if done < len(MIGRATIONS):  # a start with nothing to do writes nothing here
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=len(MIGRATIONS))
        db.create_tables(TABLES)  # tables and indexes the migrations did not make (log_minute...)
        DataVersion.insert(id=1, version=0).on_conflict_ignore().execute()  # its one row, once
        return [migration.__name__ for migration in MIGRATIONS[done:]]
