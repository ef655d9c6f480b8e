"""The request log: one row per answered request in this service's own database (table request_log).

A row holds when the request came in, its method, its route's *pattern* (/ceps/<cep>: never the
path, so no CEP is logged, and rows group by route), the status, the milliseconds from before
routing until the body was produced, and the body's size. No bodies, query strings or headers.
A path that matches no route (a 404, a 405, a path that is not UTF-8) is logged as route "(none)".
Requests to /logs are logged too: a dashboard polling every few seconds adds a few rows a minute.

Rows are written off the request path: a request only puts its row in a queue; one writer thread
per app takes what is queued every FLUSH_INTERVAL and commits it, BATCH_ROWS rows per transaction.
A crash loses the rows of the last FLUSH_INTERVAL at most; a stop (SIGTERM, app.close()) loses none.
The same thread rolls up each minute once it is over (log_summary.py: what keeps GET /logs/summary
fast) and deletes rows past the retention (days, and a row count) about once a minute.
GET /logs reads the table (find_page below).
"""
import logging
import queue
import threading
import time

from bottle import Bottle
from peewee import DatabaseError, fn

from . import log_summary
from .models import LogMinute, RequestLog, db, writing_in_background

# Small, frequent batches: the writer holds the GIL while it drains the queue and binds a batch's
# values, and the request threads wait meanwhile. Measured with 1,500 rows/s queued: a thread
# waking every millisecond was at worst ~4 ms late with 0.5 s / 500 rows, ~2.7 ms with these.
FLUSH_INTERVAL = 0.1  # seconds between two writes of the queued rows
BATCH_ROWS = 100  # rows per write transaction: each one short, so other writers wait little
PRUNE_INTERVAL = 60.0  # seconds between two prunings of old rows
ROLLUP_INTERVAL = 15.0  # seconds between two looks for minutes to roll up (log_summary.roll_up)
NO_ROUTE = "(none)"  # the route of a request no route matched
COLUMNS = (RequestLog.time, RequestLog.method, RequestLog.route, RequestLog.status, RequestLog.ms,
           RequestLog.bytes)  # the order of a queued row

# A batch is one INSERT of many rows, written by hand: peewee's insert_many() spends tens of
# milliseconds of Python per 500 rows, and executemany() lets go of the GIL and asks for it back
# once per row; either way the waitress threads wait, and the p99 of the answers grows.
INSERT = f"INSERT INTO request_log ({', '.join(column.name for column in COLUMNS)}) VALUES "

log = logging.getLogger(__name__)


class LoggedBottle(Bottle):
    """A Bottle app that logs every request it answers, whatever answered it.

    Why not Bottle's hooks: after_request runs before an error's body exists (a 404's JSON is
    rendered later) and before Bottle turns an unexpected exception into a 500, so neither the
    size nor that status would be known. Why not a WSGI middleware around the app: create_app
    must return the Bottle app (tests use its config and routes), and every caller (the tests'
    TestApp, `python -m cep_api`, wsgi.py, deploy/pythonanywhere) would have to remember to wrap
    it. wsgi() is the one method every answer goes through, so this subclass times that.
    """

    def wsgi(self, environ, start_response):
        """Answer as Bottle does, then queue the request's row (when logging is on)."""
        logger = self.config.get("cep_api.request_log")
        if logger is None:
            return super().wsgi(environ, start_response)
        came_in, started = time.time(), time.perf_counter()
        answered = {}

        def keeping_start_response(status, headers, exc_info=None):
            """start_response, keeping the status and headers for the log."""
            answered["status"], answered["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = super().wsgi(environ, keeping_start_response)
        ms = round((time.perf_counter() - started) * 1000, 3)  # to the microsecond: see log_summary.py
        route = environ.get("bottle.route")  # set by Bottle once a route matched
        status = int(answered["status"].split()[0])
        logger.record((came_in, environ["REQUEST_METHOD"], route.rule if route else NO_ROUTE, status, ms,
                       body_size(body, answered["headers"])))
        return body

    def close(self):
        """Close the app: Bottle's plugins, and the request log once its last rows are written."""
        super().close()
        if self.config.get("cep_api.request_log") is not None:
            self.config["cep_api.request_log"].close()


def body_size(body, headers):
    """Bytes of a WSGI body: Bottle gives a list of bytes, or a file with its Content-Length set."""
    if isinstance(body, list):
        return sum(len(chunk) for chunk in body)
    return int(dict(headers).get("Content-Length", 0))


def start(settings):
    """The app's RequestLogger, its writer thread running; None when CEP_API_LOG=off."""
    if not settings["cep_api.log"]:
        return None
    return RequestLogger(settings["cep_api.log_retention_days"], settings["cep_api.log_max_rows"])


class RequestLogger:
    """Queues rows from the request threads; its one writer thread writes them and prunes old ones."""

    def __init__(self, retention_days, max_rows):
        self.database = db.database  # the database it writes to: a file's path, or PostgreSQL's name
        self.retention_days, self.max_rows = retention_days, max_rows
        self._rows = queue.SimpleQueue()  # tuples in COLUMNS' order; put() never blocks a request
        self._closing = threading.Event()
        self._writer = threading.Thread(target=self._write_until_closed, daemon=True)
        self._writer.start()

    def record(self, row):
        """Queue one row (called by the request's thread: it never waits for the disk)."""
        self._rows.put(row)

    def close(self):
        """Stop the writer thread after it has written every queued row (and pruned)."""
        self._closing.set()
        self._writer.join()

    def _write_until_closed(self):
        """The writer thread: write what is queued every FLUSH_INTERVAL; roll up and prune now and then."""
        roll_up_at = pruned_at = time.monotonic()  # roll up at once: minutes may be left from a last run
        closing = False
        while not closing:
            closing = self._closing.wait(FLUSH_INTERVAL)  # and once more when closed
            rows = []
            while not self._rows.empty():
                rows.append(self._rows.get())
            for first in range(0, len(rows), BATCH_ROWS):
                self._write(rows[first:first + BATCH_ROWS])
            if closing or time.monotonic() >= roll_up_at:
                behind = self._write([], lambda: log_summary.roll_up(time.time()))
                roll_up_at = time.monotonic() + (0 if behind else ROLLUP_INTERVAL)  # catching up: go on
            if closing or time.monotonic() - pruned_at >= PRUNE_INTERVAL:
                self._write([], self._prune)
                pruned_at = time.monotonic()

    def _write(self, rows, then=None):
        """Insert `rows` and run `then` in one transaction, giving back what `then` returns. On
        failure the rows are lost, with a warning."""
        try:
            with writing_in_background():
                if db.database != self.database:  # another app now uses `db` (tests): stop writing
                    self._closing.set()
                    return None
                if rows:  # see INSERT
                    one_row = f"({', '.join([db.param] * len(COLUMNS))})"  # (?, ?, ...); %s in PostgreSQL
                    db.execute_sql(INSERT + ", ".join([one_row] * len(rows)),
                                   [value for row in rows for value in row])
                return then() if then else None
        except DatabaseError as error:  # e.g. another process held the database > 5 s
            log.warning("request log: %d rows not written: %s", len(rows), error)
            return None

    def _prune(self):
        """Delete the rows older than the retention, then the oldest beyond max_rows."""
        RequestLog.delete().where(RequestLog.time < time.time() - self.retention_days * 86400).execute()
        last_extra = (RequestLog.select(RequestLog.id)
                      .order_by(RequestLog.id.desc())
                      .limit(1).offset(self.max_rows)
                      .scalar())
        if last_extra is not None:
            RequestLog.delete().where(RequestLog.id <= last_extra).execute()
        # The roll-ups go with the rows they were made of (the oldest minute's may outlive a few).
        oldest = RequestLog.select(fn.MIN(RequestLog.time)).scalar()
        rolled_up = LogMinute.delete()
        (rolled_up if oldest is None else rolled_up.where(LogMinute.minute < oldest // 60)).execute()


def find_page(page, per_page, filters):
    """One page of rows, newest first, with the filters of GET /logs (times as Unix seconds)."""
    query = RequestLog.select()
    if "route" in filters:
        query = query.where(RequestLog.route == filters["route"])
    if "method" in filters:
        query = query.where(RequestLog.method == filters["method"])
    if "status" in filters:
        query = query.where(RequestLog.status == filters["status"])
    if "since" in filters:
        query = query.where(RequestLog.time >= filters["since"])
    if "until" in filters:
        query = query.where(RequestLog.time < filters["until"])
    if "min_ms" in filters:
        query = query.where(RequestLog.ms >= filters["min_ms"])
    rows = query.order_by(RequestLog.time.desc(), RequestLog.id.desc()).paginate(page, per_page)
    return {"items": [row.to_dict() for row in rows], "page": page, "per_page": per_page, "total": query.count()}

