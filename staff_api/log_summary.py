"""GET /logs/summary: figures per route and per minute from the request log, fast over a long window.

The percentiles are exact (statistics.quantiles over every duration), so they need every duration,
not an average. Grouping an hour of rows (100k at ~28 requests/s) takes ~0.5 s here, in the
database and in Python (parsing and sorting the durations). So once a minute is over, the log's
writer thread rolls it up (roll_up): one log_minute row per route and minute, its durations joined
in one text. A summary reads those few hundred rows, and groups only the raw rows of the minutes
not rolled up yet (grouped()).

The database does the rolling up, in one INSERT ... SELECT ... GROUP BY: Python never
sees the rows, so at 2,000 requests/s (120,000 rows a minute) the waitress threads are not kept
waiting for the GIL while they are counted. The durations are recorded to the microsecond
(request_log.py), so their text ("12.346") reads back as exactly the same numbers (a longer
number, written before that, comes back to 15 significant digits: percentiles are rounded to 1e-3).

A request counts in the minute it came in, and a minute is rolled up ROLLUP_DELAY after it ended,
so the rows of slow requests are in by then. A row written later still is in GET /logs, not here.
"""
import json
import math
import statistics
import time
from array import array
from collections import Counter, defaultdict

from peewee import Case, fn

from .models import LogMinute, RequestLog, iso_utc, joined, minute_of

ROLLUP_DELAY = 30  # seconds after a minute's end before it is rolled up
MINUTES_PER_ROLLUP = 5  # minutes rolled up in one write transaction at most (catching up after a restart)
LONGEST_WINDOW = 1440  # minutes: the longest summary (GET /logs/summary?minutes=1440) reads no further back
STATUS_CLASSES = (2, 3, 4, 5)  # 2xx to 5xx, counted per minute
CACHE_HITS = ("hit", "revalidated", "stale")  # answered from the cache, as CepCache.hits counts them


class Figures:
    """The durations, status classes and cache outcomes of some requests: one route in one minute,
    or many merged."""

    def __init__(self, ms=None, classes=(), hits=0, misses=0, cep_ms=None):
        """The figures of one row in COLUMNS' order (durations as text: "1.5,0.25"), or none yet."""
        self.ms = array("d", numbers(ms))  # every request's milliseconds: packed doubles, cheap to merge
        self.classes = Counter(dict(zip(STATUS_CLASSES, classes)))  # requests per status class: {2: 120, 4: 3}
        self.hits, self.misses = hits, misses  # answers from the CEP cache, and fetches from the CEP API
        self.cep_ms = array("d", numbers(cep_ms))  # the waits on the CEP API, one per request that made a call

    def merge(self, other):
        """Count `other`'s requests too."""
        self.ms.extend(other.ms)
        self.classes.update(other.classes)
        self.hits, self.misses = self.hits + other.hits, self.misses + other.misses
        self.cep_ms.extend(other.cep_ms)


COLUMNS = (LogMinute.minute, LogMinute.method, LogMinute.route, LogMinute.ms,
           *[getattr(LogMinute, f"status_{n}xx") for n in STATUS_CLASSES],
           LogMinute.hits, LogMinute.misses, LogMinute.cep_ms)  # in grouped()'s order


def grouped(since, until):
    """The rows from `since` to before `until` (seconds) grouped by minute, method and route, in
    COLUMNS' order: what roll_up stores, and what summarize reads of the minutes not rolled up yet."""
    minute = minute_of(RequestLog.time)
    return (RequestLog
            .select(minute, RequestLog.method, RequestLog.route, joined(RequestLog.ms),
                    *[fn.SUM(Case(RequestLog.status / 100, [(n, 1)], 0)) for n in STATUS_CLASSES],
                    fn.SUM(Case(None, [(RequestLog.cache.in_(CACHE_HITS), 1)], 0)),
                    fn.SUM(Case(RequestLog.cache, [("miss", 1)], 0)), joined(RequestLog.cep_ms))
            .where((RequestLog.time >= since) & (RequestLog.time < until))
            .group_by(minute, RequestLog.method, RequestLog.route))


def roll_up(now):
    """Roll up the minutes that ended ROLLUP_DELAY ago or more, oldest first, a few per call; True
    when some are left for the next call.

    Called by the log's writer thread, in its write transaction: a few minutes at a time, so that
    catching up after a restart never holds the other writers back for long. Any process may do it
    (it reads every process's rows), and a minute rolled up twice is kept once (its primary key).
    """
    settled = int((now - ROLLUP_DELAY) // 60) - 1  # the newest minute that is over and settled
    since = max(rolled_through(default=-1) + 1, settled - LONGEST_WINDOW) * 60
    oldest = RequestLog.select(fn.MIN(RequestLog.time)).where(RequestLog.time >= since).scalar()
    if oldest is None:
        return False
    first = int(oldest // 60)  # the first minute with rows: an idle night is skipped at once
    last = min(settled, first + MINUTES_PER_ROLLUP - 1)
    if first <= last:
        LogMinute.insert_from(grouped(first * 60, (last + 1) * 60), COLUMNS).on_conflict_ignore().execute()
    return last < settled


def rolled_through(default):
    """The newest minute rolled up (Unix minutes), or `default` when none is."""
    newest = LogMinute.select(fn.MAX(LogMinute.minute)).scalar()
    return default if newest is None else newest


def numbers(joined):
    """The numbers in a roll-up's text, "12.5,0.25" (or None: none)."""
    # JSON's parser, written in C, reads 100,000 of them in ~25 ms; float() one by one in ~35.
    return json.loads(f"[{joined or ''}]")


def summarize(minutes):
    """GET /logs/summary: each route's and each minute's figures, from the minute `minutes` ago on."""
    first = int((time.time() - minutes * 60) // 60)  # whole minutes, so rolled-up ones fit
    rolled = rolled_through(default=first - 1)  # read once: a roll-up meanwhile is neither missed nor doubled
    rows = [*LogMinute.select(*COLUMNS).where(LogMinute.minute.between(first, rolled)).tuples(),
            *grouped(max(first, rolled + 1) * 60, math.inf).tuples()]
    by_route, by_minute, everything = defaultdict(Figures), defaultdict(Figures), Figures()
    for minute, method, route, ms, *classes, hits, misses, cep_ms in rows:
        figures = Figures(ms, classes, hits, misses, cep_ms)
        by_route[method, route].merge(figures)
        by_minute[minute].merge(figures)
        everything.merge(figures)
    routes = []
    for (method, route), figures in sorted(by_route.items()):
        p50, p95, p99 = percentiles(figures.ms, 50, 95, 99)
        routes.append({"method": method, "route": route, "count": len(figures.ms), "errors": figures.classes[5],
                       "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": round(max(figures.ms), 3)})
    series = []
    for minute, figures in sorted(by_minute.items()):  # oldest first
        p50, p95 = percentiles(figures.ms, 50, 95)
        series.append({"minute": iso_utc(minute * 60), "count": len(figures.ms), "p50_ms": p50, "p95_ms": p95,
                       "errors": figures.classes[5], **{f"{n}xx": figures.classes[n] for n in STATUS_CLASSES},
                       "hits": figures.hits, "misses": figures.misses})
    hits, misses = everything.hits, everything.misses
    wait_p50, wait_p95 = percentiles(everything.cep_ms, 50, 95)
    return {"minutes": minutes, "routes": routes, "series": series,
            "cache": {"hits": hits, "misses": misses,
                      "hit_ratio": round(hits / (hits + misses), 3) if hits + misses else None},
            "cep_api_wait": {"count": len(everything.cep_ms), "p50_ms": wait_p50, "p95_ms": wait_p95}}


def percentiles(values, *wanted):
    """The `wanted` percentiles of `values`, as statistics.quantiles(method="inclusive") cuts them."""
    if len(values) < 2:  # quantiles() needs two values; a single value is each of its own percentiles
        return [round(values[0], 3) if values else None for _ in wanted]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [round(cuts[p - 1], 3) for p in wanted]  # rounded to the microsecond
