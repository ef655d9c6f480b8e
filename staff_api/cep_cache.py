"""The CEP cache: a table in this service's database in front of the CEP API, with its fresh entries and
their hits also in memory, so that a hit touches neither the network nor the disk (docs/architecture.md)."""
import json
import logging
import threading
import time
from collections import Counter, OrderedDict, namedtuple

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


# One cached answer, as read from the table (models.CepCacheEntry) and kept in memory: a tuple, small and read-only.
Entry = namedtuple("Entry", "cep status body etag expires_at")


class CepCache:
    """Resolves CEPs through the cache table, calling the CEP API only when it must."""

    name, api = "cep_cache", 2  # a Bottle plugin: app.install() sets it up, app.close() stops its thread

    def __init__(self, client, ttl, negative_ttl):
        """A cache in front of `client` (a cep_client.CepApiClient)."""
        # ttl: the seconds an answer is fresh; negative_ttl: those of a "no such CEP".
        self.client, self.ttl, self.negative_ttl = client, ttl, negative_ttl
        self.hits, self.misses = 0, 0  # since start: answers from the cache (hit, revalidated, stale), full fetches
        # CEP -> Entry read from the table while fresh, least recently used first. One that has
        # expired here is read from the table again (it may have been renewed meanwhile).
        self._fresh = OrderedDict()
        self._unwritten_hits = Counter()  # CEP -> hits not yet added to the table
        self._lock = threading.Lock()  # held for any change of the three above (quick ones only)
        # Held from taking the unwritten hits until they are in the table: a listing sees them exactly once.
        self._hits_lock = threading.Lock()
        # Held while an entry goes from the table into memory, and during evictions: memory keeps no evicted entry.
        self._table_lock = threading.Lock()
        self._evictions_seen, self._rounds = None, 0  # CacheVersion when the housekeeper last looked; its rounds
        self._housekeeper = Worker(HOUSEKEEPING_INTERVAL, self._keep_house)

    def lookup(self, cep):
        """(record, outcome) for 8 CEP digits, or CepServiceUnavailable."""
        # The record is the CEP API's, or None for a CEP that does not exist; the outcome (the X-Cep-Cache
        # header): a fresh entry is a "hit"; a stale one is revalidated ("revalidated" when the CEP API
        # answers 304); no entry is a "miss"; with the CEP API failing, a stale entry is still used ("stale").
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
            with self._lock:  # all of memory: the next housekeeping round would empty it anyway (CacheVersion)
                self._fresh.clear()

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
        """Every second: write the counted hits, prune old entries (each minute), empty memory after any eviction."""
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
        CepCacheEntry.delete().where(((CepCacheEntry.status == 200) & (CepCacheEntry.expires_at < now - self.ttl))
                                     | ((CepCacheEntry.status != 200) & (CepCacheEntry.expires_at < now))).execute()

    def _find(self, cep):
        """The entry for `cep`: from memory while it is fresh there, else from the table (or None)."""
        with self._lock:
            entry = self._fresh.get(cep)
            if entry is not None and entry.expires_at > time.time():
                self._fresh.move_to_end(cep)  # the least recently used is the first to go
                return entry
        with self._table_lock:
            row = CepCacheEntry.get_or_none(CepCacheEntry.cep == cep)
            entry = Entry(row.cep, row.status, row.body, row.etag, row.expires_at) if row else None
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
            (CepCacheEntry.insert(cep=cep, **fields)
             .on_conflict(conflict_target=[CepCacheEntry.cep], update=fields).execute())
