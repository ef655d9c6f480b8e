"""The staff API's schema migrations, oldest first; chassis/migrations.py applies the missing ones
at start and with `python -m staff_api migrate`. Only ever append."""
from peewee import CharField
from playhouse.migrate import migrate as run

from chassis.text import search_key

from .models import db

OLD_LOG_INDEX = "request_log_time_method_route_status_ms_cache_cep_ms"


def index_request_log_by_time(migrator):
    """The summary reads roll-ups now, so request_log's covering index gives way to one on time."""
    if OLD_LOG_INDEX in [index.name for index in db.get_indexes("request_log")]:
        run(migrator.drop_index("request_log", OLD_LOG_INDEX))


def add_name_key(migrator):
    """employee.name_key, what ?q= compares the same way on SQLite and PostgreSQL, filled."""
    run(migrator.add_column("employee", "name_key", CharField(default="")))
    for row_id, name in db.execute_sql("SELECT id, name FROM employee").fetchall():
        db.execute_sql(f"UPDATE employee SET name_key = {db.param} WHERE id = {db.param}", (search_key(name), row_id))


def roll_ups_as_text(migrator):
    """log_minute's durations are text now: the table is dropped, and made anew (migrate() creates it)."""
    # Alone of the migrations, it drops rows: they are made from request_log, and the log's writer refills them.
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


MIGRATIONS = (index_request_log_by_time, add_name_key, roll_ups_as_text)
