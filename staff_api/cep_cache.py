"""The CEP cache: a table in this service's database in front of the CEP API (docs/architecture.md).

1. a fresh entry                        -> used as is, no HTTP call at all        ("hit")
2. a stale entry                        -> GET with If-None-Match; 304 renews it  ("revalidated")
3. no entry                             -> GET; a 200 or a 404 is stored          ("miss")
4. the CEP API down, slow or failing    -> a stale entry is still used            ("stale"),
                                           and without one: CepServiceUnavailable (a 503)

Fresh entries are also kept in memory, and hits are counted there: a hit touches neither the
network nor the disk. A background thread writes the counts once a second, prunes old entries, and
empties the memory when another process evicted entries.
"""
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from typing import NamedTuple

from peewee import OperationalError

from chassis.background import Worker

from .cep_client import CepServiceUnavailable
from .models import CacheVersion, CepCacheEntry, db
from .validation import format_cep

HOUSEKEEPING_INTERVAL = 1.0  # seconds between two writes of the counted hits
PRUNE_EVERY = 60  # housekeeping rounds (so, seconds) between two prunings of old entries
# About 1 kB of memory each (measured: docs/performance.md), so about 20 MB at most;
# the table keeps every entry.
MAX_ENTRIES_IN_MEMORY = 20_000

log = logging.getLogger(__name__)


class Entry(NamedTuple):
    """One cached answer, as read from the table and kept in memory (a tuple: small, and read-only)."""

    cep: str
    status: int  # what the CEP API answered: 200 (found) or 404 (not found)
    body: str  # the JSON record for a 200, empty for a 404
    etag: str
    expires_at: float  # Unix time


class CepCache:
    """Resolves CEPs through the cache table, calling the CEP API only when it must. Installed in
    an app as a Bottle plugin, so that app.close() stops its housekeeping thread."""

    name, api = "cep_cache", 2

    def __init__(self, client, ttl, negative_ttl):
        """A cache in front of `client` (a cep_client.CepApiClient); answers are fresh for `ttl`
        seconds, "no such CEP" for `negative_ttl`."""
        self.client = client  # a cep_client.CepApiClient
        self.ttl, self.negative_ttl = ttl, negative_ttl  # seconds an answer, or a "no such CEP", is fresh
        self.hits = 0  # answers given from the cache (hit, revalidated, stale) since start
        self.misses = 0  # answers that needed a full fetch since start
        # CEP -> Entry read from the table while fresh, least recently used first. One that has
        # expired here is read from the table again (it may have been renewed meanwhile).
        self._fresh = OrderedDict()
        self._unwritten_hits = Counter()  # CEP -> hits not yet added to the table
        self._lock = threading.Lock()  # held for any change of the three above (quick ones only)
        # Held from taking the unwritten hits until they are in the table, so that a listing never
        # sees them in neither place (and never in both).
        self._hits_lock = threading.Lock()
        # Held while an entry goes from the table into memory, and while entries are evicted,
        # so that memory never keeps an entry an eviction has just deleted.
        self._table_lock = threading.Lock()
        self._evictions_seen = None  # CacheVersion when the housekeeper last looked
        self._rounds = 0
        self._housekeeper = Worker(HOUSEKEEPING_INTERVAL, self._keep_house)

    def lookup(self, cep):
        """(record, outcome) for 8 CEP digits, or CepServiceUnavailable."""
        # The record is the CEP API's, or None for a CEP that does not exist; the outcome, how it
        # was found: "hit", "miss", "revalidated" or "stale" (the X-Cep-Cache header).
        self._housekeeper.poke()  # its thread runs in the process that serves (chassis/background.py)
        entry = self._find(cep)
        if entry is not None and entry.expires_at > time.time():
            return self._answer_from(entry, "hit")
        # Only a found record has an ETag worth sending back.
        etag = entry.etag if entry is not None and entry.status == 200 else ""
        try:
            status, record, new_etag = self.client.fetch(cep, etag)
        except CepServiceUnavailable as error:
            if entry is not None:  # stale-if-error: an old answer beats no answer
                return self._answer_from(entry, "stale")
            raise CepServiceUnavailable(f"{error} and CEP {format_cep(cep)} is not cached; "
                                        "nothing was saved, try again later.")
        if status == 304:  # our copy is still right: fresh again for a whole TTL
            self._store(cep, entry.status, entry.body, entry.etag)
            return self._answer_from(entry, "revalidated")
        self._store(cep, status, json.dumps(record, ensure_ascii=False) if record else "", new_etag)
        with self._lock:
            self.misses += 1
        return record, "miss"

    def page(self, page, per_page):
        """One page of the entries, sorted by CEP, with the hit and miss totals (GET /cep-cache)."""
        query = CepCacheEntry.select().order_by(CepCacheEntry.cep)
        with self._hits_lock:
            entries, total = list(query.paginate(page, per_page)), query.count()
            with self._lock:  # the hits of the last second are not in the table yet
                items = [entry.to_dict(self._unwritten_hits[entry.cep]) for entry in entries]
                return {"items": items, "page": page, "per_page": per_page, "total": total,
                        "hits": self.hits, "misses": self.misses}

    def evict(self, cep=None):
        """Forget the entry for `cep`, or every entry when `cep` is None."""
        with self._table_lock, db.writing():
            query = CepCacheEntry.delete()
            if cep is not None:
                query = query.where(CepCacheEntry.cep == cep)
            query.execute()
            (CacheVersion.insert(id=1, version=1)  # tells the other processes
             .on_conflict(conflict_target=[CacheVersion.id], update={CacheVersion.version: CacheVersion.version + 1})
             .execute())
            with self._lock:
                if cep is None:
                    self._fresh.clear()
                else:
                    self._fresh.pop(cep, None)

    def setup(self, app):
        """Become `app`'s cache: its handlers find it in the app's config."""
        app.config["staff_api.cep_cache"] = self

    def apply(self, callback, route):
        """A route's handler is left as it is (a plugin only for setup and close)."""
        return callback

    def close(self):
        """Stop the housekeeping thread, after it has written the last hits (app.close() calls this)."""
        self._housekeeper.close()

    def _keep_house(self, closing=False):
        """The housekeeping round, every second: write the counted hits, empty the memory after an
        eviction (in any process), prune old entries every minute."""
        self._rounds += 1
        evictions = self._evictions_seen
        with self._hits_lock:
            with self._lock:
                unwritten, self._unwritten_hits = self._unwritten_hits, Counter()
            try:
                with db.writing():  # one write transaction per round
                    self._write_hits(unwritten)
                    if self._rounds % PRUNE_EVERY == 0:
                        self._prune()
                    evictions = CacheVersion.select(CacheVersion.version).scalar()
            except OperationalError as error:  # e.g. another process held the database > 5 s
                log.warning("cache housekeeping failed, will retry: %s", error)
                with self._lock:  # not lost: the next round writes them
                    self._unwritten_hits.update(unwritten)
        if evictions != self._evictions_seen:  # an eviction, through this process or another
            # Once the write lock is let go: evict() takes these two locks, then that one.
            with self._table_lock, self._lock:  # so no entry read before it comes in after this
                self._fresh.clear()
            self._evictions_seen = evictions

    def _write_hits(self, unwritten):
        """Add the hits counted since the last write to the table."""
        # In CEP order: two processes on one PostgreSQL database that update the same rows in
        # different orders deadlock (each waiting on a row the other holds, for 1 s).
        for cep, count in sorted(unwritten.items()):
            CepCacheEntry.update(hits=CepCacheEntry.hits + count).where(CepCacheEntry.cep == cep).execute()

    def _prune(self):
        """Delete the entries too old to be of use, so the table never grows without end."""
        # A found record is kept one more TTL after it expired, to answer "stale" while the CEP API
        # is down; a "no such CEP" once expired (each unknown 8-digit string would add a row).
        now = time.time()
        (CepCacheEntry.delete()
         .where(((CepCacheEntry.status == 200) & (CepCacheEntry.expires_at < now - self.ttl))
                | ((CepCacheEntry.status != 200) & (CepCacheEntry.expires_at < now)))
         .execute())

    def _find(self, cep):
        """The entry for `cep`: from memory while it is fresh there, else from the table (or None)."""
        with self._lock:
            entry = self._fresh.get(cep)
            if entry is not None and entry.expires_at > time.time():
                self._fresh.move_to_end(cep)  # the least recently used is the first to go
                return entry
        with self._table_lock:
            row = (CepCacheEntry
                   .select(CepCacheEntry.cep, CepCacheEntry.status, CepCacheEntry.body,
                           CepCacheEntry.etag, CepCacheEntry.expires_at)
                   .where(CepCacheEntry.cep == cep).tuples().first())
            entry = Entry(*row) if row else None
            if entry is not None and entry.expires_at > time.time():
                with self._lock:
                    self._fresh[cep] = entry
                    if len(self._fresh) > MAX_ENTRIES_IN_MEMORY:
                        self._fresh.popitem(last=False)
        return entry

    def _answer_from(self, entry, outcome):
        """Count a use of `entry` and answer with it."""
        with self._lock:
            self.hits += 1
            self._unwritten_hits[entry.cep] += 1
        return json.loads(entry.body) if entry.status == 200 else None, outcome

    def _store(self, cep, status, body, etag):
        """Insert or replace the entry for `cep` (its hits stay); two threads storing it at once both succeed."""
        now = time.time()
        ttl = self.ttl if status == 200 else self.negative_ttl
        fields = {"status": status, "body": body, "etag": etag, "fetched_at": now, "expires_at": now + ttl}
        with db.writing():
            (CepCacheEntry
             .insert(cep=cep, **fields)
             .on_conflict(conflict_target=[CepCacheEntry.cep], update=fields)
             .execute())
