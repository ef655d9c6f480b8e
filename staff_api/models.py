"""The staff API's tables (employees, CEP cache, request log) in its own database, and its wiring."""
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from peewee import Cast, CharField, CompositeKey, DatabaseProxy, DoubleField, IntegerField, Model, TextField
from peewee import SqliteDatabase, fn
from playhouse import db_url
from playhouse.pool import PooledSqliteDatabase

from .validation import format_cep

# SQLite by default, or PostgreSQL: init_db() decides once it has the configuration.
db = DatabaseProxy()
WRITE_LOCK = threading.Lock()  # see writing()
ADDRESS_FIELDS = ("logradouro", "bairro", "localidade", "uf", "ibge")  # copied from the CEP API's record


def iso_utc(timestamp=None, milliseconds=False):
    """A Unix time (default: now) as the API writes times: ISO 8601, UTC, 'Z' (whole seconds, or ...00.123Z)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return text + (f".{int(timestamp % 1 * 1000):03d}Z" if milliseconds else "Z")


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Employee(BaseModel):
    """An employee; the address columns are a copy of the CEP API's answer for `cep`."""

    name = CharField()
    email = CharField()
    email_key = CharField(unique=True)  # email.casefold(): uniqueness that ignores case
    name_key = CharField(default="")  # validation.search_key(name): what ?q= compares
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


class RequestLog(BaseModel):
    """One answered request (request_log.py writes the rows, in batches, from a thread of its own)."""

    time = DoubleField(index=True)  # Unix time the request came in; shown as ISO text
    method = CharField()
    route = CharField()  # the route's pattern (/employees/<employee_id>), never the path
    status = IntegerField()
    ms = DoubleField()  # from before routing until the body was produced
    bytes = IntegerField()  # size of the body sent
    cache = CharField(default="")  # X-Cep-Cache: hit, miss, revalidated, stale; "" when no CEP was resolved
    cep_ms = DoubleField(null=True)  # time spent waiting on the CEP API; None when it was not called

    def to_dict(self):
        """The row as GET /logs lists it."""
        return {"time": iso_utc(self.time, milliseconds=True), "method": self.method, "route": self.route,
                "status": self.status, "ms": round(self.ms, 3), "bytes": self.bytes, "cache": self.cache,
                "cep_ms": None if self.cep_ms is None else round(self.cep_ms, 3)}


class LogMinute(BaseModel):
    """One route's requests in one minute, rolled up from request_log once the minute is over
    (log_summary.py): what GET /logs/summary reads instead of every row."""

    minute = IntegerField()  # Unix time // 60
    method = CharField()
    route = CharField()
    ms = TextField()  # each request's milliseconds, "1.25,0.5,...": exact percentiles need them all
    status_2xx = IntegerField()  # requests per status class
    status_3xx = IntegerField()
    status_4xx = IntegerField()
    status_5xx = IntegerField()
    hits = IntegerField()  # answers from the CEP cache (hit, revalidated, stale)
    misses = IntegerField()  # fetches from the CEP API
    cep_ms = TextField(null=True)  # each wait on the CEP API, as ms; NULL when no request made one

    class Meta:
        primary_key = CompositeKey("minute", "method", "route")


class CacheVersion(BaseModel):
    """One row, one number: every eviction from the CEP cache adds one, so that the other processes
    of this service empty their memory of cache entries too (cep_cache.py)."""

    version = IntegerField()


class SchemaVersion(BaseModel):
    """How many schema migrations this database has had (migrations.py): one row."""

    version = IntegerField()


TABLES = [Employee, CepCacheEntry, RequestLog, LogMinute, CacheVersion]  # every table, as migrations.py creates them


def init_db(path, url=""):
    """Point the models at PostgreSQL when `url` is set (postgresql://user:password@host:5432/name),
    else at the SQLite file `path`, with what every connection needs; migrations.migrate() then
    brings the tables up to date."""
    with WRITE_LOCK:  # close_all() also closes connections in use: never in the middle of a write
        if db.obj is not None:
            db.close_all()  # an earlier app in this process (a test) used another database
        if url:
            # playhouse.db_url reads the URL; "+pool" asks it for a pool of connections, as SQLite has.
            scheme, rest = url.split("://", 1)
            db.initialize(db_url.connect(f"{scheme.removesuffix('+pool')}+pool://{rest}", max_connections=32,
                                         timeout=10))
            return
        create_private(Path(path))
        # A pool hands a connection back instead of closing the file, so taking one per request
        # is cheap (a fresh SQLite connect + close costs about 530 µs of CPU here).
        db.initialize(PooledSqliteDatabase(
            str(path),
            pragmas={
                "journal_mode": "wal",  # readers never wait for the writer
                "busy_timeout": 5000,  # a second writer waits up to 5 s instead of failing
                "synchronous": "normal",  # safe with WAL, and much faster commits
            },
            check_same_thread=False,  # waitress threads share the pool's connections
            max_connections=32,
            timeout=10,  # wait up to 10 s for a free pooled connection
        ))


def create_private(path):
    """Create the database's directory (0700) and file (0600) if missing: only the service reads them."""
    # SQLite would create the file with the umask's mode, often 0644: readable by every user.
    # Its -wal and -shm files copy the mode of the database file.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


@contextmanager
def writing():
    """A write transaction, one at a time in this process.

    Writers queue on a lock and start the moment the one before commits. Without it they would
    meet at SQLite's write lock, whose busy handler sleeps and retries with growing pauses (one
    writer waiting 50 ms behind a 1 ms commit). Other processes still wait via busy_timeout."""
    with WRITE_LOCK, write_transaction():
        yield


def is_postgres():
    """True when init_db() chose PostgreSQL."""
    return not isinstance(db.obj, SqliteDatabase)


def joined(field):
    """SQL for all of a group's values of `field` as one text, "1.25,0.5": SQLite's group_concat,
    PostgreSQL's string_agg. Both write a value with 3 decimals back exactly (log_summary.py)."""
    # coerce(False): else peewee reads the text as the field's type, and "0.0" alone becomes 0.0.
    if is_postgres():
        return fn.string_agg(Cast(field, "text"), ",").coerce(False)
    return fn.group_concat(field, ",").coerce(False)


def minute_of(field):
    """SQL for the Unix minute of a time in seconds: CAST truncates in SQLite, rounds in PostgreSQL."""
    # GROUP BY repeats this with its 60: psycopg2 writes both in as the same text, so PostgreSQL agrees.
    return Cast(fn.FLOOR(field / 60) if is_postgres() else field / 60, "integer")


def write_transaction():
    """A transaction that holds the database's write lock from its first statement: SQLite's BEGIN
    IMMEDIATE (two transactions that each read, then write, would otherwise fail with "database is
    locked"). PostgreSQL locks each row as it is written: a plain transaction."""
    return db.atomic() if is_postgres() else db.atomic("IMMEDIATE")


@contextmanager
def writing_in_background():
    """writing() for code that serves no request (the log's and cache's threads, migrations): it takes
    its own connection, under the write lock too, because init_db (a test building another app)
    closes every connection, and does so only while it holds that lock."""
    with WRITE_LOCK, db.connection_context(), write_transaction():
        yield


def close_connection():
    """After each request: hand back the connection its first query took, if it made one.

    No hook takes one before: peewee connects at a request's first query, so a request that makes
    none (a cache hit, a memoized answer) takes none. On PostgreSQL that matters: the pool checks
    each connection it hands out with a round trip to the server (SELECT 1), one at a time."""
    if not db.is_closed():  # a request that made no query has none
        db.close()
