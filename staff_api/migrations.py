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
    rows = db.execute_sql("SELECT id, name FROM employee").fetchall()
    db.cursor().executemany(f"UPDATE employee SET name_key = {db.param} WHERE id = {db.param}",
                            [(search_key(name), employee_id) for employee_id, name in rows])


def roll_ups_as_text(migrator):
    """log_minute's durations are text now. Its rows are made from request_log, so, alone of the
    migrations, it drops rows: migrate() creates the table anew, and the log's writer refills it."""
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


MIGRATIONS = (index_request_log_by_time, add_name_key, roll_ups_as_text)
