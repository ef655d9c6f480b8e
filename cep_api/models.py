"""The CEP API's tables, in its own database (a SQLite file, or PostgreSQL), owned by this service alone."""
from contextlib import contextmanager
from pathlib import Path

from peewee import CharField, IntegerField, Model

from chassis import request_log
from chassis.database import Database
from chassis.text import search_key

from .validation import TEXT_FIELDS, format_cep

db = Database()  # create_app opens it: SQLite by default, or PostgreSQL


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
    # The ViaCEP address search (viacep.py) and ?q= compare these, kept in step by save() and the seed.
    town_key = CharField(default="")  # search_key(localidade)
    street_key = CharField(default="")  # search_key(logradouro)
    district_key = CharField(default="")  # search_key(bairro)

    class Meta:
        # The search picks one town of one UF, in CEP order: this index hands it the rows in that
        # order, so 50 results need no sort even in a town of 50,000 CEPs.
        indexes = ((("uf", "town_key", "cep"), False),)

    def save(self, *args, **kwargs):
        """Save the record, its search keys updated from its town, street and district."""
        self.town_key, self.street_key = search_key(self.localidade), search_key(self.logradouro)
        self.district_key = search_key(self.bairro)
        return super().save(*args, **kwargs)

    def to_dict(self):
        """The record as the API answers it, fields always in the same order (TEXT_FIELDS's)."""
        return {"cep": format_cep(self.cep), **{name: getattr(self, name) for name in TEXT_FIELDS}}


class DataVersion(BaseModel):
    """One row, one number: every write of CEP records adds one (writing())."""
    # So each process's memo of answers (memo.py) sees the writes made through the other processes.

    version = IntegerField()


def data_version():
    """The number of CEP writes so far, in every process (None before the first)."""
    return DataVersion.select(DataVersion.version).scalar()


@contextmanager
def writing():
    """A write transaction of CEP records (Database.writing), counted in DataVersion with the write."""
    with db.writing():
        yield
        (DataVersion.insert(id=1, version=1)
         .on_conflict(conflict_target=[DataVersion.id], update={DataVersion.version: DataVersion.version + 1})
         .execute())


SQLITE_SEARCH = (Path(__file__).parent / "search.sql").read_text(encoding="utf-8")  # a data file: SQL reads best as SQL


def create_search_index():
    """Make what ?q= searches, once: SQLite's FTS5 table (search.sql), or PostgreSQL's trigram indexes."""
    if db.is_postgres():
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # a trusted extension: the database's owner may
        for column in ("street_key", "district_key"):
            db.execute_sql(f"CREATE INDEX IF NOT EXISTS cep_{column}_trigrams ON cep "
                           f"USING gin ({column} gin_trgm_ops)")
    elif not db.table_exists("cep_search"):
        for statement in SQLITE_SEARCH.split("\n\n"):
            db.execute_sql(statement)


def search_index(key, spans, limit):
    """The first `limit` CEPs (in order) whose street or district holds `key`, from SQLite's cep_search."""
    # CEPs as 8 digits; `key` has 3 characters or more; `spans` ((first, last), ...), if any, bound the CEPs.
    where, args = "cep_search MATCH ?", ['"' + key.replace('"', '""') + '"']  # the whole key, as one phrase
    if spans:
        where += " AND (" + " OR ".join(["rowid BETWEEN ? AND ?"] * len(spans)) + ")"
        args += [int(digits) for span in spans for digits in span]
    rows = db.execute_sql(f"SELECT rowid FROM cep_search WHERE {where} ORDER BY rowid LIMIT ?", [*args, limit])
    return [f"{rowid:08d}" for (rowid,) in rows]


RequestLog, LogMinute = request_log.tables(db)  # the chassis's request log, in this service's database
TABLES = [Cep, DataVersion, RequestLog, LogMinute]  # every table; the first tells a new database
