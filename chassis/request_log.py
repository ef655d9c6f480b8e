"""The request log: a row per answered request in the service's database, written by a background thread."""
# A row keeps the route's pattern (/ceps/<cep>), never the path, a body or a token. A request only
# queues its row: the thread writes the queue, has finished minutes rolled up, prunes old rows.
import logging
import queue
import threading
import time

from peewee import CharField, DoubleField, IntegerField, Model, fn

from . import log_summary, outgoing
from .background import Worker
from .web import DATABASE_DOWN, iso_utc

# Small, frequent batches: the writer holds the GIL while it binds a batch's values, and the
# request threads wait meanwhile (a waiting thread was ~4 ms late with 500 rows, ~2.7 ms with 100).
FLUSH_INTERVAL = 0.1  # seconds between two writes of the queued rows
BATCH_ROWS = 100  # rows per write transaction: each one short, so other writers wait little
PRUNE_INTERVAL = 60.0  # seconds between two prunings of old rows
ROLLUP_INTERVAL = 15.0  # seconds between two looks for minutes to roll up
MAX_QUEUED = 10_000  # rows waiting to be written at most (the database may be down): more are dropped, and counted
COLUMNS = ("time", "method", "route", "status", "ms", "bytes", "cache", "cep_ms")  # a queued row's order

log = logging.getLogger(__name__)


class RequestLog(Model):
    """One answered request; tables() puts it in a service's database."""

    time = DoubleField(index=True)  # Unix time the request came in
    method = CharField()
    route = CharField()  # "(none)" when no route matched
    status = IntegerField()
    ms = DoubleField()  # from before routing until the body was produced, to the microsecond
    bytes = IntegerField()  # size of the body sent
    cache = CharField(null=True)  # how a cache answered (the staff API's X-Cep-Cache), or ""
    cep_ms = DoubleField(null=True)  # time waited on another service (outgoing.py), else None

    def to_dict(self, with_cache):
        """The row as GET /logs lists it (the cache's columns only for a service with a cache)."""
        row = {"time": iso_utc(self.time, milliseconds=True), "method": self.method, "route": self.route,
               "status": self.status, "ms": round(self.ms, 3), "bytes": self.bytes}
        if with_cache:
            row.update(cache=self.cache, cep_ms=None if self.cep_ms is None else round(self.cep_ms, 3))
        return row


def tables(db):
    """The log's two tables, RequestLog and log_summary.LogMinute, in the database `db`."""

    class RequestLogTable(RequestLog):
        class Meta:
            database, table_name, legacy_table_names = db, "request_log", False  # its index: request_log_time

    class LogMinuteTable(log_summary.LogMinute):
        class Meta:
            database, table_name = db, "log_minute"

    return RequestLogTable, LogMinuteTable


def install(app, tables, settings, cache_header=None):
    """GET /logs and /logs/summary over `tables`, and a row per request unless the `log` setting is off."""
    # cache_header: the header that says how a cache answered (a service with a cache logs it)
    app.config["chassis.log_tables"] = (*tables, cache_header)
    app.get("/logs", callback=log_summary.list_logs)
    app.get("/logs/summary", callback=log_summary.summarize_logs)
    if settings["log"]:
        app.install(RequestLogger(tables, settings["log_retention_days"], settings["log_max_rows"], cache_header))


class RequestLogger:
    """Bottle plugin that times every answer of its app and queues its row for the background thread."""

    name, api = "request_log", 2

    def __init__(self, tables, retention_days, max_rows, cache_header):
        self.rows, self.minutes = tables
        self.db = self.rows._meta.database
        self.db_name = self.db.database  # a file's path, or PostgreSQL's name: see _write
        self.retention_days, self.max_rows, self.cache_header = retention_days, max_rows, cache_header
        self._queue, self._batch = queue.Queue(MAX_QUEUED), []  # rows queued, and taken but not written yet
        self.dropped, self._dropping = 0, threading.Lock()  # rows that found the queue full: /logs/summary says so
        self._failing = False  # the last write failed: said once in the log, not every round
        self._roll_up_at = self._pruned_at = time.monotonic()  # at once: minutes may be left from a last run
        self._worker = Worker(FLUSH_INTERVAL, self._write_queued)

    def setup(self, app):
        """Time every request of `app`."""
        # Bottle runs app.wsgi() for every request, whatever answers it (a route, a 404, an error):
        # wrapped here, the way Flask's middlewares wrap app.wsgi_app, every server gets the log.
        app.wsgi = self.timed(app.wsgi)
        app.config["chassis.request_log"] = self

    def apply(self, callback, route):
        """A handler is left as it is: the log works around the whole app (setup)."""
        return callback

    def close(self):
        """Write every queued row, then stop the writer (app.close() calls this)."""
        self._worker.close()

    def timed(self, wsgi):
        """`wsgi`, queueing a row for each request it answers."""
        def logged_wsgi(environ, start_response):
            """The app's answer, and its row in the queue."""
            came_in, started = time.time(), time.perf_counter()
            outgoing.reset_wait()  # this thread has not waited on another service for this request yet
            answered = {}

            def keeping_start_response(status, headers, exc_info=None):
                """start_response, keeping the status and headers for the row."""
                answered["status"], answered["headers"] = status, dict(headers)
                return start_response(status, headers, exc_info)

            body = wsgi(environ, keeping_start_response)
            route, method, headers = environ.get("bottle.route"), environ["REQUEST_METHOD"], answered["headers"]
            size = sum(map(len, body)) if isinstance(body, list) else int(headers.get("Content-Length", 0))
            method = method if method in log_summary.METHODS else "OTHER"  # a client may send a 250 kB one
            self.record((came_in, method, route.rule if route else "(none)",
                         int(answered["status"].split()[0]), round((time.perf_counter() - started) * 1000, 3), size,
                         headers.get(self.cache_header, "")[:20], outgoing.waited_ms()))
            self._worker.poke()
            return body
        return logged_wsgi

    def record(self, row):
        """Queue a row (never waiting: a full queue drops it, counted)."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            with self._dropping:
                self.dropped += 1

    def _write_queued(self, closing=False):
        """The background round: write what is queued; roll up and prune now and then."""
        while self._batch or not self._queue.empty():
            while len(self._batch) < BATCH_ROWS and not self._queue.empty():
                self._batch.append(self._queue.get_nowait())
            if self._write(self._batch) is False:  # the database is down: the rows wait for the next round
                break
            self._batch = []
        if closing or time.monotonic() >= self._roll_up_at:
            behind = self._write([], lambda: log_summary.roll_up(self.rows, self.minutes, time.time()))
            self._roll_up_at = time.monotonic() + (0 if behind else ROLLUP_INTERVAL)  # catching up: go on
        if closing or time.monotonic() - self._pruned_at >= PRUNE_INTERVAL:
            self._write([], self._prune)
            self._pruned_at = time.monotonic()

    def _write(self, rows, then=None):
        """Insert `rows` and run `then` in one transaction: what `then` returns, or False if it failed."""
        try:
            with self.db.writing():
                if self.db.database != self.db_name:  # another app uses this database object now (tests)
                    return None
                if rows:  # one INSERT of many rows: insert_many() costs tens of ms of Python per 500
                    one_row = f"({', '.join([self.db.param] * len(COLUMNS))})"  # (?, ?...); %s in PostgreSQL
                    self.db.execute_sql(f"INSERT INTO request_log ({', '.join(COLUMNS)}) VALUES "
                                        + ", ".join([one_row] * len(rows)), [value for row in rows for value in row])
                result = then() if then else None
        except DATABASE_DOWN as error:  # stopped, locked by another process for > 5 s, a full disk...
            if not self._failing:
                log.warning("request log: the database failed, rows wait in memory: %s", error)
            self._failing = True
            return False
        if self._failing and rows:  # rows written: not only a roll-up with nothing to roll up
            log.warning("request log: the database is back")
            self._failing = False
        return result

    def _prune(self):
        """Delete the rows older than the retention, then the oldest beyond max_rows, and their roll-ups."""
        rows = self.rows
        rows.delete().where(rows.time < time.time() - self.retention_days * 86400).execute()
        last_extra = rows.select(rows.id).order_by(rows.id.desc()).limit(1).offset(self.max_rows).scalar()
        if last_extra is not None:
            rows.delete().where(rows.id <= last_extra).execute()
        oldest = rows.select(fn.MIN(rows.time)).scalar()  # the oldest minute's roll-up may outlive a few rows
        rolled_up = self.minutes.delete()
        (rolled_up if oldest is None else rolled_up.where(self.minutes.minute < oldest // 60)).execute()
