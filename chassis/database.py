"""A service's database, a SQLite file or PostgreSQL: each service has its own `db = Database()` (models.py)."""
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from peewee import DatabaseProxy, SqliteDatabase
from playhouse import db_url
from playhouse.pool import PooledSqliteDatabase


class Database(DatabaseProxy):
    """peewee's stand-in for a database chosen at start, with one write lock per process."""

    def __init__(self):
        super().__init__()
        # Writers queue on this lock and start the moment the one before commits. Without it they
        # would meet at SQLite's write lock, whose busy handler sleeps and retries with growing
        # pauses (one writer waiting 50 ms behind a 1 ms commit). Other processes wait via busy_timeout.
        object.__setattr__(self, "write_lock", threading.Lock())  # a peewee proxy refuses `self.x = ...`

    def open(self, path, url=""):
        """Use PostgreSQL when `url` is set (postgresql://user:password@host/name), else the SQLite file `path`."""
        with self.write_lock:  # close_all() also closes connections in use: never in the middle of a write
            if self.obj is not None:
                self.close_all()  # an earlier app in this process (a test) used another database
            if url:
                # playhouse.db_url reads the URL; "+pool" asks it for a pool of connections, as SQLite has.
                scheme, rest = url.split("://", 1)
                self.initialize(db_url.connect(f"{scheme.removesuffix('+pool')}+pool://{rest}",
                                               max_connections=32, timeout=10))
                return
            create_private(Path(path))
            # A pool hands a connection back instead of closing the file, so taking one per request
            # is cheap (a fresh SQLite connect + close costs about 530 µs of CPU here).
            # WAL: readers never wait for the writer; busy_timeout: a second writer waits up to 5 s
            # instead of failing; synchronous=normal: safe with WAL, and much faster commits.
            # check_same_thread=False: waitress threads share the pool's connections.
            self.initialize(PooledSqliteDatabase(
                str(path), pragmas={"journal_mode": "wal", "busy_timeout": 5000, "synchronous": "normal"},
                check_same_thread=False, max_connections=32, timeout=10))

    def is_postgres(self):
        """True when open() chose PostgreSQL."""
        return not isinstance(self.obj, SqliteDatabase)

    @contextmanager
    def writing(self):
        """A write transaction, one at a time in this process, holding the database's write lock from its start."""
        # SQLite's BEGIN IMMEDIATE: two transactions that each read, then write, would otherwise fail
        # with "database is locked"; PostgreSQL locks each row it writes. A thread with no connection
        # (a background thread) takes one and hands it back, under the lock: open() closes them all.
        with self.write_lock:
            had_connection = not self.is_closed()
            try:
                with self.atomic() if self.is_postgres() else self.atomic("IMMEDIATE"):
                    yield
            finally:
                if not had_connection:
                    self.close()

    def close_connection(self):
        """after_request hook: hand back the connection the request's first query took, if any."""
        # None is taken before: a request with no query (a memoized answer, a cache hit) takes none,
        # which matters on PostgreSQL, where the pool checks each connection with a round trip.
        if not self.is_closed():
            self.close()


def create_private(path):
    """Create the database's directory (0700) and file (0600) if missing: only the service reads them."""
    # SQLite would create the file with the umask's mode, often 0644: readable by every user.
    # Its -wal and -shm files copy the mode of the database file.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
