"""Schema migrations: each service lists its own, oldest first; a database keeps how many it has had."""
from peewee import IntegerField, Model
from playhouse.migrate import SchemaMigrator


class SchemaVersion(Model):
    """How many schema migrations a database has had: one row."""

    version = IntegerField()

    class Meta:
        legacy_table_names = False  # schema_version


def open_and_migrate(db, settings, migrations, tables, then=None):
    """Open `db` where the service's `settings` say (db_path, database_url), then migrate() it."""
    db.open(settings["db_path"], settings["database_url"])
    return migrate(db, migrations, tables, then)


def migrate(db, migrations, tables, then=None):
    """Bring `db` to the shape of `tables` (the first tells a new database); the names of the migrations applied."""
    # One write transaction: a second process starting at the same moment waits, then finds nothing to do.
    with db.writing(), SchemaVersion.bind_ctx(db):
        if db.is_postgres():  # SQLite's IMMEDIATE already made the others wait; PostgreSQL needs a lock
            db.execute_sql("SELECT pg_advisory_xact_lock(12)")  # any number, the same in every process
        new = not tables[0].table_exists()
        db.create_tables([SchemaVersion])
        if new:  # today's tables come below, so every migration counts as done
            SchemaVersion.create(version=len(migrations))
        done = SchemaVersion.select(SchemaVersion.version).scalar() or 0  # no row: from before migrations
        if done > len(migrations):
            raise RuntimeError(f"the database has {done} migrations, this code knows {len(migrations)}: "
                               "it was made by a newer version of this service")
        migrator = SchemaMigrator.from_database(db.obj)
        for migration in migrations[done:]:
            migration(migrator)
        if done < len(migrations):  # a start with nothing to do writes nothing here
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=len(migrations))
        db.create_tables(tables)  # tables and indexes the migrations did not make
        if then:  # what peewee's models cannot make (a virtual table, triggers): made once, kept after
            then()
        return [migration.__name__ for migration in migrations[done:]]
