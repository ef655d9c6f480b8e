"""Resolve a CEP to its address: a persisted cache table in front of the CEP API.

How an answer is found, in order:
1. a fresh entry in the table            -> used as is, no HTTP call at all      ("hit")
2. a stale entry                         -> GET with If-None-Match: its ETag;
                                            304 renews it                       ("revalidated")
3. no entry                              -> GET; a 200 or a 404 is stored         ("miss")
4. the CEP API is down, slow or failing  -> a stale entry is still used          ("stale")
                                            and without one: CepServiceUnavailable (HTTP 503)

Why a table of our own and not the requests-cache library? requests-cache would store the
same answers (in SQLite, even), but it hides exactly what a student should see: when an
answer is fresh, how revalidation works, what to do when the other service is down, and how
many calls were saved. Here each of those is a few lines you can read, the entries live in
this service's own database (so they survive a restart and GET /cep-cache can list them),
and no dependency is added.
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
# Peewee would build this SQL text anew on every lookup (about 200 µs, more than the rest of a
# cache hit); on this hottest path we hand SQLite the statement ourselves.
FIND_ENTRY_SQL = "SELECT * FROM cep_cache_entry WHERE cep = ?"


class CepServiceUnavailable(Exception):
    """The CEP API could not answer in time and no cached answer can stand in for it."""


@dataclass
class Resolution:
    """The outcome of resolving one CEP."""

    record: dict | None  # the CEP API's record, or None when the CEP does not exist
    cache: str  # how it was answered: "hit", "miss", "revalidated" or "stale"


class CepClient:
    """Looks CEPs up in the cache table, calling the CEP API only when it must."""

    def __init__(self, base_url, timeout, ttl, negative_ttl, session=None):
        self.base_url = base_url.rstrip("/")
        # `total` bounds the whole call, connect included, as STAFF_CEP_TIMEOUT promises;
        # requests alone would never time out, and a plain number bounds each phase apart.
        self.timeout = Timeout(total=timeout)
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        # One session for the whole service: it keeps TCP connections open between calls.
        self.session = session or requests.Session()
        self.hits = 0  # answers given from the table (hit, revalidated, stale) since start
        self.misses = 0  # answers that needed a full fetch since start
        self._unwritten_hits = Counter()  # CEP -> hits not yet added to the table
        self._hits_written_at = time.monotonic()
        self._count_lock = threading.Lock()

    def resolve(self, cep):
        """Resolve 8 CEP digits to a Resolution, or raise CepServiceUnavailable."""
        entry = find_entry(cep)
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


def find_entry(cep):
    """The cache entry for `cep`, or None."""
    rows = list(CepCacheEntry.raw(FIND_ENTRY_SQL, cep))
    return rows[0] if rows else None


def read_record(response, cep):
    """The JSON record of a 200 answer, checked to be the CEP we asked for (ValueError if not)."""
    record = response.json()
    fields = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge")
    if not (isinstance(record, dict) and all(isinstance(record.get(name), str) for name in fields)
            and record["cep"].replace("-", "") == cep):
        raise ValueError("not the CEP record asked for")
    return record
