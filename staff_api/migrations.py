"""Schema migrations: how a database made by an older version of this service gets today's shape.

A database keeps how many of MIGRATIONS it has had (table schema_version); one made before they
existed has had none. migrate() applies the missing ones in order, then creates whatever table or
index is new, all in one write transaction: a second process starting at the same moment waits
for it, then finds nothing left to do. A new database gets today's tables at once, every
migration counted as done. It runs at start (create_app) and as `python -m staff_api migrate`.

To change the schema: change models.py, then add at the end of MIGRATIONS a function that takes
a database of the previous shape to the new one, with playhouse.migrate, keeping every row.
"""
from peewee import CharField
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run

from .models import CacheVersion, SchemaVersion, TABLES, db, is_postgres, writing_in_background
from .validation import search_key

OLD_LOG_INDEX = "request_log_time_method_route_status_ms_cache_cep_ms"


def index_request_log_by_time(migrator):
    """#10: the summary reads roll-ups now, so request_log's covering index gives way to one on time."""
    if OLD_LOG_INDEX in [index.name for index in db.get_indexes("request_log")]:
        run(migrator.drop_index("request_log", OLD_LOG_INDEX))


def add_name_key(migrator):
    """#12: employee.name_key, what ?q= compares the same way on SQLite and PostgreSQL, filled."""
    run(migrator.add_column("employee", "name_key", CharField(default="")))
    rows = db.execute_sql("SELECT id, name FROM employee").fetchall()
    db.cursor().executemany(f"UPDATE employee SET name_key = {db.param} WHERE id = {db.param}",
                            [(search_key(name), employee_id) for employee_id, name in rows])


def roll_ups_as_text(migrator):
    """#10: log_minute's durations are text now. Its rows are made from request_log, so, alone of
    the migrations, it drops rows: migrate() creates the table anew, and the log's writer refills it."""
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


MIGRATIONS = (index_request_log_by_time, add_name_key, roll_ups_as_text)  # oldest first; only ever append


def migrate():
    """Bring the database to this code's schema; return the names of the migrations applied."""
    with writing_in_background():
        if is_postgres():  # SQLite's IMMEDIATE already made the others wait; PostgreSQL needs a lock
            db.execute_sql("SELECT pg_advisory_xact_lock(12)")  # any number, the same in every process
        new = not db.table_exists("employee")
        db.create_tables([SchemaVersion])
        if new:  # today's tables come below, so every migration counts as done
            SchemaVersion.create(version=len(MIGRATIONS))
        done = SchemaVersion.select(SchemaVersion.version).scalar() or 0  # no row: from before migrations
        if done > len(MIGRATIONS):
            raise RuntimeError(f"the database has {done} migrations, this code knows {len(MIGRATIONS)}: "
                               "it was made by a newer version of staff_api")
        migrator = SchemaMigrator.from_database(db.obj)
        for migration in MIGRATIONS[done:]:
            migration(migrator)
        if done < len(MIGRATIONS):  # a start with nothing to do writes nothing here
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=len(MIGRATIONS))
        db.create_tables(TABLES)  # tables and indexes the migrations did not make (log_minute...)
        CacheVersion.insert(id=1, version=0).on_conflict_ignore().execute()  # its one row, once
        return [migration.__name__ for migration in MIGRATIONS[done:]]
