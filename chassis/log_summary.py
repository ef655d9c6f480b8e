"""GET /logs, and GET /logs/summary: figures per route and per minute, exact percentiles, from roll-ups."""
# Exact percentiles need every duration. Once a minute is over, the database rolls it up (roll_up):
# one log_minute row per route, its durations joined in one text. A summary reads those, and the
# rows of the minutes not rolled up yet.
import json
import math
import statistics
import time
from array import array
from collections import Counter, defaultdict

from bottle import request
from peewee import Case, Cast, CharField, CompositeKey, IntegerField, Model, TextField, fn

from .params import (read_milliseconds, read_page, read_text, read_time, read_whole_number, reject_query_errors,
                     unknown_parameters)
from .web import iso_utc, send_json

ROLLUP_DELAY = 30  # seconds after a minute's end before it is rolled up: slow requests' rows are in by then
MINUTES_PER_ROLLUP = 5  # at most, in one write transaction (catching up after a restart)
LONGEST_WINDOW = 1440  # minutes: the longest summary reads no further back
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER")  # as logged: any other is "OTHER"
STATUS_CLASSES = (2, 3, 4, 5)  # 2xx to 5xx, counted per minute
CACHE_HITS = ("hit", "revalidated", "stale")  # answered from a cache, as the staff API's cache counts them


class LogMinute(Model):
    """One route's requests in one minute, rolled up from request_log once the minute is over."""

    minute = IntegerField()  # Unix time // 60
    method = CharField()
    route = CharField()
    ms = TextField()  # each request's milliseconds, "1.25,0.5,..."
    status_2xx = IntegerField()  # requests per status class
    status_3xx = IntegerField()
    status_4xx = IntegerField()
    status_5xx = IntegerField()
    hits = IntegerField(default=0)  # answers from a cache (hit, revalidated, stale)
    misses = IntegerField(default=0)  # fetches from another service
    cep_ms = TextField(null=True)  # each wait on another service; NULL when no request made one

    class Meta:
        primary_key = CompositeKey("minute", "method", "route")


class Figures:
    """The durations, status classes and cache outcomes of some requests: one row, or many merged."""

    def __init__(self, ms=None, classes=(), hits=0, misses=0, cep_ms=None):
        self.ms = array("d", numbers(ms))  # packed doubles: cheap to merge
        self.classes = Counter(dict(zip(STATUS_CLASSES, classes)))  # {2: 120, 4: 3}
        self.hits, self.misses = hits, misses
        self.cep_ms = array("d", numbers(cep_ms))

    def merge(self, other):
        """Count `other`'s requests too."""
        self.ms.extend(other.ms)
        self.classes.update(other.classes)
        self.hits, self.misses = self.hits + other.hits, self.misses + other.misses
        self.cep_ms.extend(other.cep_ms)


def numbers(joined):
    """The numbers in a roll-up's text, "12.5,0.25" (or None: none)."""
    return json.loads(f"[{joined or ''}]")  # JSON's parser, in C, beats float() one by one


def columns(minutes):
    """LogMinute's columns, in grouped()'s order."""
    return (minutes.minute, minutes.method, minutes.route, minutes.ms,
            *[getattr(minutes, f"status_{n}xx") for n in STATUS_CLASSES], minutes.hits, minutes.misses, minutes.cep_ms)


def grouped(rows, since, until):
    """The log's rows from `since` to before `until` (seconds) grouped by minute, method and route, as columns()."""
    postgres = rows._meta.database.is_postgres()
    minute = Cast(fn.FLOOR(rows.time / 60) if postgres else rows.time / 60, "integer")  # CAST rounds in PostgreSQL
    return (rows
            .select(minute, rows.method, rows.route, joined(rows.ms, postgres),
                    *[fn.SUM(Case(rows.status / 100, [(n, 1)], 0)) for n in STATUS_CLASSES],
                    fn.SUM(Case(None, [(rows.cache.in_(CACHE_HITS), 1)], 0)),
                    fn.SUM(Case(rows.cache, [("miss", 1)], 0)), joined(rows.cep_ms, postgres))
            .where((rows.time >= since) & (rows.time < until))
            .group_by(minute, rows.method, rows.route))


def joined(field, postgres):
    """SQL for a group's values of `field` as one text, "1.25,0.5" (written back exactly, with 3 decimals)."""
    # coerce(False): else peewee reads the text as the field's type, and "0.0" alone becomes 0.0.
    if postgres:
        return fn.string_agg(Cast(field, "text"), ",").coerce(False)
    return fn.group_concat(field, ",").coerce(False)


def roll_up(rows, minutes, now):
    """Roll up the settled minutes, oldest first, a few per call; True when some are left for the next call."""
    # Any process may do it (it reads every process's rows): a minute rolled up twice is kept once.
    settled = int((now - ROLLUP_DELAY) // 60) - 1  # the newest minute that is over and settled
    since = max(rolled_through(minutes, default=-1) + 1, settled - LONGEST_WINDOW) * 60
    oldest = rows.select(fn.MIN(rows.time)).where(rows.time >= since).scalar()
    if oldest is None:
        return False
    first = int(oldest // 60)  # the first minute with rows: an idle night is skipped at once
    last = min(settled, first + MINUTES_PER_ROLLUP - 1)
    if first <= last:
        minutes.insert_from(grouped(rows, first * 60, (last + 1) * 60), columns(minutes)).on_conflict_ignore().execute()
    return last < settled


def rolled_through(minutes, default):
    """The newest minute rolled up (Unix minutes), or `default` when none is."""
    newest = minutes.select(fn.MAX(minutes.minute)).scalar()
    return default if newest is None else newest


def list_logs():
    """GET /logs: one page of the request log, newest first, filtered by route, method, status, time, ms."""
    table, _, cache_header = request.app.config["chassis.log_tables"]
    errors = unknown_parameters("page", "per_page", "route", "method", "status", "since", "until", "min_ms")
    page, per_page = read_page(errors)
    query, sent = table.select(), request.query
    if "route" in sent:  # compared whole (route = ?)
        query = query.where(table.route == read_text("route", errors))
    if "method" in sent:
        method = sent.getunicode("method", "").strip()
        if method not in METHODS:
            errors["method"] = "must be one of " + ", ".join(METHODS)
        query = query.where(table.method == method)
    if "status" in sent:
        query = query.where(table.status == read_whole_number("status", 0, 100, 599, errors))
    if "since" in sent:
        query = query.where(table.time >= read_time("since", errors))
    if "until" in sent:
        query = query.where(table.time < read_time("until", errors))
    if "min_ms" in sent:
        query = query.where(table.ms >= read_milliseconds("min_ms", errors))
    reject_query_errors(errors)
    rows = query.order_by(table.time.desc(), table.id.desc()).paginate(page, per_page)
    return send_json({"items": [row.to_dict(cache_header is not None) for row in rows], "page": page,
                      "per_page": per_page, "total": query.count()})


def summarize_logs():
    """GET /logs/summary: per route and per minute figures of the last `minutes` minutes."""
    rows, minutes_table, cache_header = request.app.config["chassis.log_tables"]
    summary = summarize(rows, minutes_table, read_minutes(), cache_header is not None)
    logger = request.app.config.get("chassis.request_log")
    return send_json({**summary, "dropped": logger.dropped if logger else 0})  # rows this process could not keep


def read_minutes():
    """The `minutes` of a summary: 1 to 1440 (a day), 60 when not sent; or 422."""
    errors = unknown_parameters("minutes")
    minutes = read_whole_number("minutes", 60, 1, 1440, errors)
    reject_query_errors(errors)
    return minutes


def summarize(rows, minutes_table, minutes, with_cache):
    """The summary from the minute `minutes` ago on; `with_cache`: with the cache's outcomes and waits."""
    first = int((time.time() - minutes * 60) // 60)  # whole minutes, so rolled-up ones fit
    # Read once: a roll-up that happens meanwhile is neither missed nor counted twice.
    rolled = rolled_through(minutes_table, default=first - 1)
    found = [*minutes_table.select(*columns(minutes_table)).where(minutes_table.minute.between(first, rolled)).tuples(),
             *grouped(rows, max(first, rolled + 1) * 60, math.inf).tuples()]
    by_route, by_minute, everything = defaultdict(Figures), defaultdict(Figures), Figures()
    for minute, method, route, ms, *classes, hits, misses, cep_ms in found:
        figures = Figures(ms, classes, hits, misses, cep_ms)
        for total in (by_route[method, route], by_minute[minute], everything):
            total.merge(figures)
    routes = [{"method": method, "route": route, "count": len(figures.ms), "errors": figures.classes[5],
               **percentiles(figures.ms, 50, 95, 99), "max_ms": round(max(figures.ms), 3)}
              for (method, route), figures in sorted(by_route.items())]
    series = [{"minute": iso_utc(minute * 60), "count": len(figures.ms), **percentiles(figures.ms, 50, 95),
               "errors": figures.classes[5], **{f"{n}xx": figures.classes[n] for n in STATUS_CLASSES},
               "hits": figures.hits, "misses": figures.misses} for minute, figures in sorted(by_minute.items())]
    summary = {"minutes": minutes, "routes": routes, "series": series}
    if with_cache:
        hits, misses = everything.hits, everything.misses
        summary["cache"] = {"hits": hits, "misses": misses,
                            "hit_ratio": round(hits / (hits + misses), 3) if hits + misses else None}
        summary["cep_api_wait"] = {"count": len(everything.cep_ms), **percentiles(everything.cep_ms, 50, 95)}
    return summary


def percentiles(values, *wanted):
    """{"p50_ms": ...}: the `wanted` percentiles of `values` as statistics.quantiles(method="inclusive") cuts them."""
    if len(values) < 2:  # quantiles() needs two values; a single value is each of its own percentiles
        return {f"p{p}_ms": round(values[0], 3) if values else None for p in wanted}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {f"p{p}_ms": round(cuts[p - 1], 3) for p in wanted}  # rounded to the microsecond
