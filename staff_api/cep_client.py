"""Resolve a CEP to its address: a persisted cache table in front of the CEP API.

How an answer is found, in order:
1. a fresh entry                         -> used as is, no HTTP call at all      ("hit")
2. a stale entry                         -> GET with If-None-Match: its ETag;
                                            304 renews it                       ("revalidated")
3. no entry                              -> GET; a 200 or a 404 is stored         ("miss")
4. the CEP API is down, slow or failing  -> a stale entry is still used          ("stale")
                                            and without one: CepServiceUnavailable (HTTP 503)

The entries live in a table of this service's own database (models.CepCacheEntry), so they
survive a restart and GET /cep-cache can list them. Fresh entries are also kept in memory:
a hit then touches neither the network nor the disk. (Each SQLite call lets go of Python's
GIL, and with several busy waitress threads getting it back costs far more than the query:
measured with bench/bench_staff.py, a hit ran at 41% of a hello-world's speed reading the
table, 77% from memory.) Only this module changes the table, so memory and table agree.

Why a table of our own and not the requests-cache library? requests-cache would store the
same answers (in SQLite, even), but it hides exactly what a student should see: when an
answer is fresh, how revalidation works, what to do when the other service is down, and how
many calls were saved. Here each of those is a few lines you can read, and no dependency is
added.
"""
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests
from urllib3.util import Timeout

from .models import CepCacheEntry, db

# Hits are counted in memory and added to the table at most this often: writing each one at
# once would make every cache hit a write transaction, and SQLite has one writer at a time.
HITS_WRITE_INTERVAL = 1.0  # seconds
MAX_ENTRIES_IN_MEMORY = 100_000  # about 40 MB at most; the table itself has no limit


class CepServiceUnavailable(Exception):
    """The CEP API could not answer in time and no cached answer can stand in for it."""


@dataclass
class Resolution:
    """The outcome of resolving one CEP."""

    record: dict | None  # the CEP API's record, or None when the CEP does not exist
    cache: str  # how it was answered: "hit", "miss", "revalidated" or "stale"


class CepClient:
    """Looks CEPs up in the cache, calling the CEP API only when it must."""

    def __init__(self, base_url, timeout, ttl, negative_ttl, session=None):
        self.base_url = base_url.rstrip("/")
        # `total` bounds the whole call, connect included, as STAFF_CEP_TIMEOUT promises;
        # requests alone would never time out, and a plain number bounds each phase apart.
        self.timeout = Timeout(total=timeout)
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        # One session for the whole service: it keeps TCP connections open between calls.
        self.session = session or requests.Session()
        self.hits = 0  # answers given from the cache (hit, revalidated, stale) since start
        self.misses = 0  # answers that needed a full fetch since start
        # CEP -> CepCacheEntry: entries read from the table while fresh. One that has expired
        # here is simply read from the table again (it may have been renewed meanwhile).
        self._fresh = {}
        # Held while an entry goes from the table into memory, and while entries are evicted:
        # so memory never keeps an entry that an eviction has just deleted.
        self._table_lock = threading.Lock()
        self._unwritten_hits = Counter()  # CEP -> hits not yet added to the table
        self._hits_written_at = time.monotonic()
        self._count_lock = threading.Lock()

    def resolve(self, cep):
        """Resolve 8 CEP digits to a Resolution, or raise CepServiceUnavailable."""
        entry = self._find(cep)
        if entry is not None and entry.expires_at > time.time():
            return self._answer_from(entry, "hit")

        # Only a found record has an ETag worth sending back.
        etag = entry.etag if entry is not None and entry.status == 200 else ""
        try:
            response = self._get(f"/ceps/{cep}", etag)
            if response.status_code == 304 and etag:
                self._renew(entry)
                return self._answer_from(entry, "revalidated")
            if response.status_code == 200:
                record = read_record(response, cep)
                self._store(cep, 200, json.dumps(record, ensure_ascii=False), response.headers.get("ETag", ""))
                return self._count_miss(Resolution(record, "miss"))
            if response.status_code == 404:
                self._store(cep, 404, "", "")
                return self._count_miss(Resolution(None, "miss"))
            failure = f"answered {response.status_code}"
        except requests.Timeout:
            failure = f"did not answer within {self.timeout.total} s"
        except requests.RequestException:
            failure = "could not be reached"
        except ValueError:
            failure = "answered something that is not the CEP record asked for"
        if entry is not None:  # stale-if-error: an old answer beats no answer
            return self._answer_from(entry, "stale")
        raise CepServiceUnavailable(f"The CEP API {failure}")

    def api_is_up(self):
        """True when the CEP API answers /health within the timeout (never raises)."""
        try:
            return self._get("/health").status_code == 200
        except requests.RequestException:
            return False

    def evict(self, cep=None):
        """Forget the entry for `cep`, or every entry when `cep` is None."""
        with self._table_lock, db.atomic("IMMEDIATE"):
            query = CepCacheEntry.delete()
            if cep is not None:
                query = query.where(CepCacheEntry.cep == cep)
            query.execute()
            if cep is None:
                self._fresh.clear()
            else:
                self._fresh.pop(cep, None)

    def write_hits(self):
        """Add the hits counted in memory to the table, in one short transaction."""
        with self._count_lock:
            unwritten, self._unwritten_hits = self._unwritten_hits, Counter()
            self._hits_written_at = time.monotonic()
        if unwritten:
            with db.atomic("IMMEDIATE"):
                for cep, count in unwritten.items():
                    (CepCacheEntry
                     .update(hits=CepCacheEntry.hits + count)
                     .where(CepCacheEntry.cep == cep)
                     .execute())

    def _find(self, cep):
        """The entry for `cep`: from memory while it is fresh there, else from the table."""
        entry = self._fresh.get(cep)
        if entry is not None and entry.expires_at > time.time():
            return entry
        with self._table_lock:
            entry = CepCacheEntry.get_or_none(CepCacheEntry.cep == cep)
            if entry is not None and entry.expires_at > time.time():
                if len(self._fresh) >= MAX_ENTRIES_IN_MEMORY:
                    # Drop the oldest (dicts keep insertion order): memory stays bounded.
                    del self._fresh[next(iter(self._fresh))]
                self._fresh[cep] = entry
        return entry

    def _get(self, path, etag=""):
        """One call to the CEP API, always with the timeout."""
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        return self.session.get(self.base_url + path, headers=headers, timeout=self.timeout)

    def _answer_from(self, entry, how):
        """Count a use of `entry` and answer with it."""
        with self._count_lock:
            self.hits += 1
            self._unwritten_hits[entry.cep] += 1
            due = time.monotonic() - self._hits_written_at >= HITS_WRITE_INTERVAL
        if due:
            self.write_hits()
        record = json.loads(entry.body) if entry.status == 200 else None
        return Resolution(record, how)

    def _count_miss(self, resolution):
        with self._count_lock:
            self.misses += 1
        return resolution

    def _renew(self, entry):
        """A 304 says our copy is still right: it is fresh again for a whole TTL."""
        now = time.time()
        with db.atomic("IMMEDIATE"):
            (CepCacheEntry
             .update(fetched_at=now, expires_at=now + self.ttl)
             .where(CepCacheEntry.cep == entry.cep)
             .execute())

    def _store(self, cep, status, body, etag):
        """Insert or replace the entry for `cep`; two threads fetching it at once both succeed."""
        now = time.time()
        ttl = self.ttl if status == 200 else self.negative_ttl
        fields = {"status": status, "body": body, "etag": etag, "fetched_at": now, "expires_at": now + ttl}
        with db.atomic("IMMEDIATE"):
            (CepCacheEntry
             .insert(cep=cep, **fields)
             .on_conflict(conflict_target=[CepCacheEntry.cep], update=fields)
             .execute())


def read_record(response, cep):
    """The JSON record of a 200 answer, checked to be the CEP we asked for (ValueError if not)."""
    record = response.json()
    fields = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge")
    if not (isinstance(record, dict) and all(isinstance(record.get(name), str) for name in fields)
            and record["cep"].replace("-", "") == cep):
        raise ValueError("not the CEP record asked for")
    return record
