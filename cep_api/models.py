"""The CEP table and its SQLite database (one file, owned by this service alone), and the
connection each request takes when it starts and hands back when it ends."""
from pathlib import Path

from peewee import CharField, Model
from playhouse.pool import PooledSqliteDatabase

from .validation import TEXT_FIELDS, format_cep

# Deferred: the path is only known when create_app() gets its configuration.
# A pool hands a connection back instead of closing the file, so taking one per request
# is cheap (a fresh SQLite connect + close costs about 530 µs of CPU here).
db = PooledSqliteDatabase(None)


class BaseModel(Model):
    """Every model of this service lives in `db`."""

    class Meta:
        database = db
        legacy_table_names = False


class Cep(BaseModel):
    """One address record; field names follow ViaCEP so its clients read ours unchanged."""

    cep = CharField(max_length=8, primary_key=True)  # 8 digits, no hyphen: sorts as text
    logradouro = CharField(default="")
    complemento = CharField(default="")
    bairro = CharField(default="")
    localidade = CharField(index=True)
    uf = CharField(max_length=2, index=True)
    ibge = CharField(default="")

    def to_dict(self):
        """The record as the API answers it, fields always in the same order (TEXT_FIELDS's)."""
        return {"cep": format_cep(self.cep), **{name: getattr(self, name) for name in TEXT_FIELDS}}


def init_db(path):
    """Point the model at `path`, with the pragmas every connection gets, and create the table."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not db.deferred:
        db.close_all()  # an earlier app in this process (a test) used another file
    db.init(
        str(path),
        pragmas={
            "journal_mode": "wal",  # readers never wait for the writer
            "busy_timeout": 5000,  # a second writer waits up to 5 s instead of failing
            "synchronous": "normal",  # safe with WAL, and much faster commits
        },
        check_same_thread=False,  # waitress threads share the pool's connections
        max_connections=32,
        timeout=10,  # wait up to 10 s for a free pooled connection
    )
    with db.connection_context():
        db.create_tables([Cep])


def open_connection():
    """Before each request: take a connection from the pool (the one of this thread, if open)."""
    db.connect(reuse_if_open=True)


def close_connection():
    """After each request: with the pool, close() hands the connection back instead of closing the file."""
    if not db.is_closed():
        db.close()
