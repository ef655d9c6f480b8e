"""The CEP API's schema migrations, oldest first; chassis/migrations.py applies the missing ones
at start and with `python -m cep_api migrate`. Only ever append."""
from peewee import CharField, DoubleField
from playhouse.migrate import migrate as run

from chassis.text import search_key

from .models import db


def index_request_log_by_time(migrator):
    """The summary reads roll-ups now, so request_log's covering index gives way to one on time."""
    if "request_log_time_method_route_status_ms" in [index.name for index in db.get_indexes("request_log")]:
        run(migrator.drop_index("request_log", "request_log_time_method_route_status_ms"))


def add_search_keys(migrator):
    """The ViaCEP search's town_key and street_key on cep, filled from each town and street."""
    run(migrator.add_column("cep", "town_key", CharField(default="")),
        migrator.add_column("cep", "street_key", CharField(default="")))
    rows = db.execute_sql("SELECT cep, localidade, logradouro FROM cep").fetchall()
    db.cursor().executemany(f"UPDATE cep SET town_key = {db.param}, street_key = {db.param} WHERE cep = {db.param}",
                            [(search_key(town), search_key(street), cep) for cep, town, street in rows])


def add_district_key(migrator):
    """cep.district_key, so that ?q= compares folded keys on SQLite and PostgreSQL alike."""
    run(migrator.add_column("cep", "district_key", CharField(default="")))
    rows = db.execute_sql("SELECT cep, bairro FROM cep").fetchall()
    db.cursor().executemany(f"UPDATE cep SET district_key = {db.param} WHERE cep = {db.param}",
                            [(search_key(district), cep) for cep, district in rows])


def roll_ups_as_text(migrator):
    """log_minute's durations are text now: the table is dropped, and made anew (migrate() creates it)."""
    # Alone with the next migration, it drops rows: they are made from request_log, and the log's writer refills them.
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


def one_request_log_for_both_services(migrator):
    """One request log for both services (the chassis's): the staff API's columns too, log_minute made anew."""
    # The staff API's columns stay empty here.
    if db.table_exists("request_log") and "cache" not in [column.name for column in db.get_columns("request_log")]:
        run(migrator.add_column("request_log", "cache", CharField(null=True)),
            migrator.add_column("request_log", "cep_ms", DoubleField(null=True)))
    db.execute_sql("DROP TABLE IF EXISTS log_minute")


MIGRATIONS = (index_request_log_by_time, add_search_keys, add_district_key, roll_ups_as_text,
              one_request_log_for_both_services)
