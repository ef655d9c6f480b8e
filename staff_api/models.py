"""The staff API's tables (employees, CEP cache, request log), in its own database (SQLite or PostgreSQL), its alone."""
from peewee import CharField, DoubleField, IntegerField, Model, TextField

from chassis import request_log
from chassis.database import Database
from chassis.web import iso_utc

from .validation import format_cep

db = Database()  # create_app opens it: SQLite by default, or PostgreSQL
ADDRESS_FIELDS = ("logradouro", "bairro", "localidade", "uf", "ibge")  # copied from the CEP API's record


class BaseModel(Model):
    """Every model of this service lives in `db`."""

    class Meta:
        database = db
        legacy_table_names = False


class Employee(BaseModel):
    """An employee; the address columns are a copy of the CEP API's answer for `cep`."""

    name = CharField()
    email = CharField()
    email_key = CharField(unique=True)  # email.casefold(): uniqueness that ignores case
    name_key = CharField(default="")  # search_key(name) (chassis/text.py): what ?q= compares
    role = CharField(default="")
    cep = CharField(max_length=8)  # 8 digits, no hyphen
    number = CharField(default="")
    complement = CharField(default="")
    logradouro = CharField(default="")
    bairro = CharField(default="")
    localidade = CharField(default="")
    uf = CharField(max_length=2, index=True)
    ibge = CharField(default="")
    created_at = CharField()  # ISO 8601 text sorts like the time it names
    updated_at = CharField()

    def to_dict(self):
        """The employee as the API answers it, fields always in the same order."""
        return {"id": self.id, "name": self.name, "email": self.email, "role": self.role,
                "cep": format_cep(self.cep), "number": self.number, "complement": self.complement,
                "address": {name: getattr(self, name) for name in ADDRESS_FIELDS},
                "created_at": self.created_at, "updated_at": self.updated_at}


class CepCacheEntry(BaseModel):
    """One remembered answer of the CEP API (cep_cache.py says how it is used)."""

    cep = CharField(max_length=8, primary_key=True)
    status = IntegerField()  # what the CEP API answered: 200 (found) or 404 (not found)
    body = TextField(default="")  # the JSON record for a 200, empty for a 404
    etag = CharField(default="")  # sent back as If-None-Match to revalidate
    fetched_at = DoubleField()  # Unix time: compared with time.time(), shown as ISO text
    expires_at = DoubleField()  # fresh until then; afterwards revalidated before use
    hits = IntegerField(default=0)  # answers served from this entry (written about once a second)

    def to_dict(self, unwritten_hits=0):
        """The entry as GET /cep-cache lists it, with the hits not yet written to the table."""
        return {"cep": format_cep(self.cep), "status": self.status, "fetched_at": iso_utc(self.fetched_at),
                "expires_at": iso_utc(self.expires_at), "hits": self.hits + unwritten_hits}


class CacheVersion(BaseModel):
    """One row, one number: every eviction from the CEP cache adds one (cep_cache.py)."""
    # So the other processes of this service empty their memory of cache entries too.

    version = IntegerField()


RequestLog, LogMinute = request_log.tables(db)  # the chassis's request log, in this service's database
TABLES = [Employee, CepCacheEntry, CacheVersion, RequestLog, LogMinute]  # every table; the first tells a new database
