"""Answers computed once: each CEP record's encoded body and ETag, kept in memory until it is written
(through this process: forgotten at once; through another: seen within RECHECK_INTERVAL, via models.DataVersion)."""
# Every GET of a record gives the same bytes: encoding them again would be wasted work. Only found
# records are kept, so a CEP added later is seen at once.
import threading
import time

SHAPES = ("cep", "viacep-json", "viacep-xml")  # GET /ceps/<cep>, GET /ws/<cep>/json/ and /ws/<cep>/xml/
RECHECK_INTERVAL = 0.5  # seconds: at most this stale after a write through another process


class Memo:
    """A bounded, thread-safe map (CEP, shape) -> (body, etag) that never serves a stale answer."""

    def __init__(self, read_data_version, max_entries=100_000):
        # read_data_version() counts the database's writes, from every process: a query, so it is
        # asked once every RECHECK_INTERVAL, not once a request.
        self.read_data_version = read_data_version
        self.max_entries = max_entries
        self._data_version, self._recheck_at = None, 0.0
        self._entries = {}
        self._lock = threading.Lock()
        # Bumped by every write. A reader notes it before reading the database and keeps its answer
        # only if no write happened meanwhile; otherwise it could put back an answer that a
        # concurrent write had just made stale.
        self._writes = 0

    def answer(self, cep, shape, read):
        """The (body, etag) of `cep` in `shape`: memoized, or read() from the database and kept (a None is not kept)."""
        if time.monotonic() >= self._recheck_at:
            self._recheck()
        found = self._entries.get((cep, shape))
        if found is None:
            writes_seen = self._writes  # taken before reading: see _writes
            found = read()
            if found is not None:
                self._remember(cep, shape, found, writes_seen)
        return found

    def forget(self, cep):
        """Call after a write to `cep` is committed."""
        with self._lock:
            self._writes += 1
            for shape in SHAPES:
                self._entries.pop((cep, shape), None)

    def _recheck(self):
        """Forget every answer if the database was written since the last look (by any process)."""
        with self._lock:
            if time.monotonic() < self._recheck_at:  # another thread has just looked
                return
            self._recheck_at = time.monotonic() + RECHECK_INTERVAL
            version = self.read_data_version()
            if version != self._data_version:
                self._data_version = version
                self._writes += 1  # a reader in flight may hold an older answer
                self._entries.clear()

    def _remember(self, cep, shape, answer, writes_seen):
        """Keep `answer` unless a write happened since `writes_seen` was taken."""
        with self._lock:
            if self._writes != writes_seen:
                return
            if len(self._entries) >= self.max_entries:
                # Drop the oldest entry (dicts keep insertion order): memory stays bounded.
                del self._entries[next(iter(self._entries))]
            self._entries[cep, shape] = answer
