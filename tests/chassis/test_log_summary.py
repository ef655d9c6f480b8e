"""GET /logs/summary (chassis/log_summary.py) in both services: exact percentiles, per route and per
minute, the same whether a minute is read from its rows or from its roll-up, and the staff API's
cache figures."""
import importlib
import statistics
import time

import pytest
from webtest import TestApp

from conftest import committed_rows


def insert_rows(model, rows):
    """Put rows straight into a service's request_log table (for the read side's tests)."""
    with model._meta.database.connection_context():
        model.insert_many(rows).execute()


def models_of(service):
    """A service's models module: its db, RequestLog and LogMinute."""
    return importlib.import_module(f"{service}.models")


def roll_up_everything(service, now=None):
    """Roll up every minute of `service`'s request log settled at `now` (default: now), as its writer
    thread does."""
    from chassis import log_summary

    models = models_of(service)
    more = True
    while more:
        with models.db.writing():
            more = log_summary.roll_up(models.RequestLog, models.LogMinute, now or time.time())


def rows_in(model):
    """How many rows `model`'s table has (in the database its app uses: SQLite or PostgreSQL)."""
    with model._meta.database.connection_context():
        return model.select().count()


def test_summary_percentiles_are_those_of_statistics_quantiles(service_name, make_app):
    client = TestApp(make_app(log=False))
    now = time.time()
    minute_start = now // 60 * 60 - 120  # two minutes ago, a minute's start
    durations = [0.5 + (i * 37 % 101) / 7 for i in range(250)]
    rows = [{"time": minute_start + i % 3 * 60 + 1, "method": "GET", "route": "/ceps/<cep>",
             "status": (200, 304, 404, 500)[i % 4], "ms": ms, "bytes": 10} for i, ms in enumerate(durations)]
    rows.append({"time": minute_start + 2, "method": "DELETE", "route": "/ceps/<cep>", "status": 204, "ms": 4.25,
                 "bytes": 0})
    rows.append({"time": now - 2 * 3600, "method": "GET", "route": "/health", "status": 200, "ms": 1, "bytes": 5})
    insert_rows(models_of(service_name).RequestLog, rows)

    summary = client.get("/logs/summary", {"minutes": "5"}).json
    assert summary["minutes"] == 5
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    assert summary["routes"] == [  # the /health row is older than the window
        {"method": "DELETE", "route": "/ceps/<cep>", "count": 1, "errors": 0,
         "p50_ms": 4.25, "p95_ms": 4.25, "p99_ms": 4.25, "max_ms": 4.25},  # one value: every percentile
        {"method": "GET", "route": "/ceps/<cep>", "count": 250, "errors": 62,  # status 500: every 4th, 62 of 250
         "p50_ms": round(statistics.median(durations), 3), "p95_ms": round(cuts[94], 3),
         "p99_ms": round(cuts[98], 3), "max_ms": round(max(durations), 3)},
    ]
    assert round(cuts[49], 3) == round(statistics.median(durations), 3)
    series = summary["series"]
    assert [entry["minute"] for entry in series] == [
        time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(minute_start + n * 60)) for n in range(3)]
    first = [ms for i, ms in enumerate(durations) if i % 3 == 0]
    first_cuts = statistics.quantiles(first + [4.25], n=100, method="inclusive")
    assert series[0]["count"] == len(first) + 1
    assert series[0]["p50_ms"] == round(first_cuts[49], 3) and series[0]["p95_ms"] == round(first_cuts[94], 3)
    assert sum(entry["count"] for entry in series) == 251
    for name, status in (("2xx", 200), ("3xx", 300), ("4xx", 400), ("5xx", 500)):
        assert sum(entry[name] for entry in series) == sum(1 for row in rows[:-1] if row["status"] // 100 == status // 100)
    assert sum(entry["errors"] for entry in series) == 62


def test_staff_summary_counts_cache_hits_and_the_wait_on_the_cep_api(make_staff_app):
    from staff_api.models import RequestLog

    client = TestApp(make_staff_app("http://127.0.0.1:9", log=False))
    now = time.time()
    outcomes = [("miss", 12.0), ("hit", None), ("hit", None), ("revalidated", 3.0), ("stale", 2000.0), ("", None)]
    insert_rows(RequestLog, [{"time": now - 5, "method": "GET", "route": "/addresses/<cep>", "status": 200, "ms": 1.0,
                              "bytes": 10, "cache": cache, "cep_ms": cep_ms} for cache, cep_ms in outcomes])
    summary = client.get("/logs/summary").json
    assert summary["cache"] == {"hits": 4, "misses": 1, "hit_ratio": 0.8}
    waits = [12.0, 3.0, 2000.0]
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    assert summary["cep_api_wait"] == {"count": 3, "p50_ms": 12.0, "p95_ms": round(cuts[94], 3)}
    assert summary["series"][0]["hits"] == 4 and summary["series"][0]["misses"] == 1
    assert client.get("/logs", {"route": "/addresses/<cep>"}).json["items"][0]["cache"] in ("miss", "hit", "")


# A service with a cache (the staff API) also says how its cache answered, and how long it waited.
EMPTY_CACHE_FIGURES = {"cep_api": {}, "staff_api": {"cache": {"hits": 0, "misses": 0, "hit_ratio": None},
                                                    "cep_api_wait": {"count": 0, "p50_ms": None, "p95_ms": None}}}


def test_the_summary_of_an_empty_window_has_no_figure_and_no_ratio(service_name, make_app):
    summary = TestApp(make_app(log=False)).get("/logs/summary").json
    assert summary == {"minutes": 60, "routes": [], "series": [], **EMPTY_CACHE_FIGURES[service_name], "dropped": 0}


ROUTES = {"cep_api": ("/ceps/<cep>", "/ceps"), "staff_api": ("/addresses/<cep>", "/employees")}


def log_rows(service, now):
    """Log rows of `service` over the last 12 minutes and this one (durations to the microsecond, as the
    log records them); the staff API's with every cache outcome among them."""
    outcomes = [("miss", 12.0), ("hit", None), ("revalidated", 3.5), ("stale", 2000.0), ("", None)]
    rows = [{"time": now - 720 + i * 2.9, "method": ("GET", "POST")[i % 5 == 0], "route": ROUTES[service][i % 5 == 0],
             "status": (200, 201, 304, 422, 503)[i % 7 % 5], "ms": round(0.25 + (i * 53 % 97) / 9, 3), "bytes": 10,
             "cache": outcomes[i % 5][0], "cep_ms": outcomes[i % 5][1]} for i in range(250)]
    if service == "cep_api":  # no cache: no such columns
        rows = [{name: value for name, value in row.items() if name not in ("cache", "cep_ms")} for row in rows]
    return rows


def test_a_summary_of_rolled_up_minutes_is_the_summary_of_their_rows(service_name, make_app):
    models = models_of(service_name)
    RequestLog, LogMinute = models.RequestLog, models.LogMinute
    client = TestApp(make_app(log=False))
    insert_rows(RequestLog, log_rows(service_name, time.time()))
    from_rows = client.get("/logs/summary", {"minutes": "15"}).json
    now = time.time()  # both roll-ups see the same minutes settled, even if one more settles meanwhile
    roll_up_everything(service_name, now)  # by the database (group_concat, or string_agg in PostgreSQL)
    rolled_up = rows_in(LogMinute)
    assert 10 <= rolled_up <= 2 * 12  # two routes a minute, the minutes over for 30 s and more
    assert client.get("/logs/summary", {"minutes": "15"}).json == from_rows  # the last minutes still from rows
    with models.db.writing():  # the summary reads the roll-ups: without the rows they were made of, the same
        newest = LogMinute.select(LogMinute.minute).order_by(LogMinute.minute.desc()).limit(1).scalar()
        RequestLog.delete().where(RequestLog.time < (newest + 1) * 60).execute()
    assert rows_in(RequestLog) < 100
    assert client.get("/logs/summary", {"minutes": "15"}).json == from_rows
    assert sum(route["count"] for route in from_rows["routes"]) == 250
    roll_up_everything(service_name, now)  # nothing new: nothing rolled up twice
    assert rows_in(LogMinute) == rolled_up


def test_a_roll_up_of_an_empty_log_writes_nothing_and_has_nothing_left(service_name, make_app):
    from chassis import log_summary

    make_app(log=False)
    models = models_of(service_name)
    with models.db.writing():
        assert log_summary.roll_up(models.RequestLog, models.LogMinute, time.time()) is False
    assert rows_in(models.LogMinute) == 0


def test_a_minute_of_one_request_read_from_the_rows_counts_it_whatever_its_duration(service_name, make_app):
    """A group of one duration, "0.0" as text: peewee would read it as the number 0.0 (log_summary.joined)."""
    client = TestApp(make_app(log=False))
    insert_rows(models_of(service_name).RequestLog, [{"time": time.time() - 1, "method": "GET", "route": "/health",
                                                      "status": 200, "ms": 0.0, "bytes": 5}])
    assert client.get("/logs/summary").json["routes"] == [
        {"method": "GET", "route": "/health", "count": 1, "errors": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0,
         "max_ms": 0.0}]


@pytest.mark.parametrize("settings, minutes_left", [
    ({}, 2),  # rolled up when the app closed: the minutes of 6 and 3 minutes ago
    ({"log_max_rows": 3}, 0),  # their rows were pruned: their roll-ups go too
])
def test_the_writer_rolls_up_settled_minutes_and_prunes_them_with_their_rows(service_name, make_app, settings,
                                                                               minutes_left):
    app = make_app(**settings)
    now = time.time()
    minute_start = now // 60 * 60  # 360 and 359 s before a minute's start fall in one minute, whatever the clock
    insert_rows(models_of(service_name).RequestLog, [{"time": minute_start - ago, "method": "GET", "route": "/health",
                                                      "status": 200, "ms": 1.0, "bytes": 5} for ago in (360, 359, 180)])
    client = TestApp(app)
    for _ in range(3):
        client.get("/health")
    app.close()  # the last round rolls up, then prunes
    # the requests above may settle their minute before close() if the clock turns one meanwhile: not counted
    minutes = committed_rows(app.config, service_name,
                             f"SELECT minute FROM log_minute WHERE minute < {int(now // 60)} ORDER BY minute")
    assert minutes == [(int((minute_start - ago) // 60),) for ago in (360, 180)][:minutes_left]


@pytest.mark.parametrize("settings, kept", [
    ({"log_retention_days": 1.0}, 3),  # the two rows of three days ago go
    ({"log_max_rows": 2}, 2),  # the oldest rows go, the newest two stay
])
def test_the_writer_prunes_by_age_and_by_row_count(service_name, make_app, settings, kept):
    app = make_app(**settings)
    old = time.time() - 3 * 86400
    insert_rows(models_of(service_name).RequestLog, [{"time": old + i, "method": "GET", "route": "/health",
                                                      "status": 200, "ms": 1.0, "bytes": 5} for i in range(2)])
    client = TestApp(app)
    for _ in range(3):
        client.get("/health")
    app.close()  # the last round prunes too
    rows = committed_rows(app.config, service_name, "SELECT time, route FROM request_log")
    assert len(rows) == kept
    assert all(row[0] > old + 10 for row in rows)  # whichever rule, the oldest went first
