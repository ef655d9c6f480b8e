"""The migration runner (chassis/migrations.py), on both engines, with a toy schema of its own: a new
database counts every migration as done, an older one gets the missing ones in order, all in one
transaction with the service's `then`, and a database newer than the code is refused. Each
service's own migrations, from real old databases: tests/test_migrations.py."""
import importlib
import sqlite3

import pytest
from peewee import CharField, IntegerField, Model
from playhouse.migrate import migrate as run_operations

from chassis.migrations import migrate, open_and_migrate


@pytest.fixture
def toy(engine, request, tmp_path):
    """A chassis Database opened on this test's engine (a new SQLite file, or a new PostgreSQL database),
    with a toy table `thing` bound to it; closed when the test ends."""
    from chassis.database import Database

    db = Database()
    if engine == "postgresql":
        db.open("", request.getfixturevalue("new_postgres_database")())
    else:
        db.open(tmp_path / "toy.sqlite3")

    class Thing(Model):
        name = CharField()

        class Meta:
            database = db

    yield db, Thing
    db.close_all()


def add_size(migrator):
    """Migration 1: things have a size."""
    run_operations(migrator.add_column("thing", "size", IntegerField(default=0)))


def add_colour(migrator):
    """Migration 2: things have a colour."""
    run_operations(migrator.add_column("thing", "colour", CharField(default="")))


def broken(migrator):
    """A migration that fails halfway."""
    raise RuntimeError("this migration has a bug")


def columns(db, table="thing"):
    """The names of a table's columns, as the database has them."""
    with db.connection_context():
        return sorted(column.name for column in db.get_columns(table))


def version(db):
    """The migration count a database keeps in schema_version."""
    with db.connection_context():
        return db.execute_sql("SELECT version FROM schema_version").fetchall()


def make_old(db, thing):
    """The thing table as a version from before migrations made it: no size, no colour, no schema_version."""
    with db.connection_context():
        db.create_tables([thing])
        thing.create(name="kept")


def test_a_new_database_counts_every_migration_as_done_and_runs_none(toy):
    db, thing = toy
    ran = []
    migrations = [lambda migrator: ran.append(1), lambda migrator: ran.append(2)]
    assert migrate(db, migrations, [thing]) == []
    assert ran == [] and version(db) == [(2,)] and columns(db) == ["id", "name"]
    assert migrate(db, migrations, [thing]) == [] and ran == []


def test_an_older_database_gets_the_missing_migrations_in_order_and_keeps_its_rows(toy):
    db, thing = toy
    make_old(db, thing)
    assert migrate(db, [add_size, add_colour], [thing]) == ["add_size", "add_colour"]
    assert columns(db) == ["colour", "id", "name", "size"] and version(db) == [(2,)]
    with db.connection_context():
        assert db.execute_sql("SELECT name, size, colour FROM thing").fetchall() == [("kept", 0, "")]
    assert migrate(db, [add_size, add_colour], [thing]) == []  # a second start changes nothing
    assert version(db) == [(2,)]


def test_a_database_part_of_the_way_gets_only_the_rest(toy):
    db, thing = toy
    make_old(db, thing)
    assert migrate(db, [add_size], [thing]) == ["add_size"]
    assert migrate(db, [add_size, add_colour], [thing]) == ["add_colour"]  # the code gained a migration
    assert columns(db) == ["colour", "id", "name", "size"] and version(db) == [(2,)]


def test_a_failing_migration_leaves_the_database_as_it_was(toy):
    db, thing = toy
    make_old(db, thing)
    with pytest.raises(RuntimeError, match="this migration has a bug"):
        migrate(db, [add_size, broken], [thing])
    assert columns(db) == ["id", "name"]  # add_size, applied before it in the same transaction, is undone
    with db.connection_context():
        assert "schema_version" not in db.get_tables()
    assert migrate(db, [add_size, add_colour], [thing]) == ["add_size", "add_colour"]  # the fixed code


def test_then_runs_at_every_start_within_the_migrations_transaction(toy):
    db, thing = toy
    make_old(db, thing)
    calls = []

    def make_trigger():
        """What peewee's models cannot make: made once, kept after (IF NOT EXISTS)."""
        calls.append(db.in_transaction())
        db.execute_sql("CREATE INDEX IF NOT EXISTS thing_name_size ON thing (name, size)")

    assert migrate(db, [add_size], [thing], make_trigger) == ["add_size"]
    assert migrate(db, [add_size], [thing], make_trigger) == []
    assert calls == [True, True]
    with db.connection_context():
        assert "thing_name_size" in [index.name for index in db.get_indexes("thing")]

    def failing_then():
        raise RuntimeError("then failed")

    with pytest.raises(RuntimeError, match="then failed"):
        migrate(db, [add_size, add_colour], [thing], failing_then)
    assert "colour" not in columns(db) and version(db) == [(1,)]  # the migration went with it


def test_a_database_newer_than_the_code_is_refused_and_left_alone(toy):
    db, thing = toy
    migrate(db, [add_size, add_colour], [thing])
    with pytest.raises(RuntimeError, match="made by a newer version of this service"):
        migrate(db, [add_size], [thing])
    assert version(db) == [(2,)]


def test_open_and_migrate_opens_the_database_the_settings_name(tmp_path):
    from chassis.database import Database

    db = Database()

    class Thing(Model):
        name = CharField()

        class Meta:
            database = db

    path = tmp_path / "new" / "toy.sqlite3"
    assert open_and_migrate(db, {"db_path": path, "database_url": ""}, [add_size], [Thing]) == []
    db.close_all()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    finally:
        conn.close()


# --- the same, through each service ------------------------------------------------------------

def test_a_new_database_is_made_in_todays_shape_with_every_migration_counted(tmp_path, service_name):
    create_app = importlib.import_module(f"{service_name}.app").create_app
    migrations = importlib.import_module(f"{service_name}.migrations").MIGRATIONS
    path = tmp_path / "new.sqlite3"
    app = create_app({f"{service_name}.db_path": str(path), f"{service_name}.log": False})
    try:
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(migrations),)]
        conn.close()
    finally:
        app.close()


def test_a_database_newer_than_the_code_is_refused(tmp_path, service_name):
    create_app = importlib.import_module(f"{service_name}.app").create_app
    migrations = importlib.import_module(f"{service_name}.migrations").MIGRATIONS
    models = importlib.import_module(f"{service_name}.models")
    path = tmp_path / "db.sqlite3"
    create_app({f"{service_name}.db_path": str(path), f"{service_name}.log": False}).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(RuntimeError, match="newer version of this service"):
        migrate(models.db, migrations, models.TABLES)
