"""The request logs of both services: a row per request, written off the request path, read back
through GET /logs and GET /logs/summary, bounded, and switched off on demand."""
import re
import sqlite3
import statistics
import threading
import time

import pytest
import requests
from webtest import TestApp

from conftest import count_rows

TOKEN = "log-token"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def make_cep_app(engine, request):
    """make_cep_app(**settings) -> a CEP API app over this test's database (a SQLite copy, or a
    PostgreSQL one, as cep_app), closed when the test ends."""
    from cep_api.app import create_app

    if engine == "postgresql":
        url = request.getfixturevalue("new_postgres_database")(request.getfixturevalue("seeded_cep_template"))
        where = {"cep_api.database_url": url}
    else:
        where = {"cep_api.db_path": str(request.getfixturevalue("cep_db_path"))}
    apps = []

    def make(**settings):
        apps.append(create_app({**where, **{f"cep_api.{name}": value for name, value in settings.items()}}))
        return apps[-1]

    yield make
    for app in apps:
        app.close()


def logged(db_path, columns="method, route, status, ms, bytes"):
    """The committed rows of request_log, oldest first, read over a connection of our own."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(f"SELECT {columns} FROM request_log ORDER BY id").fetchall()
    finally:
        conn.close()


def insert_rows(model, rows):
    """Put rows straight into a service's request_log table (for the read side's tests)."""
    with model._meta.database.connection_context():
        model.insert_many(rows).execute()


def test_each_cep_request_is_one_row_with_its_route_pattern_status_duration_and_size(make_cep_app, cep_db_path):
    app = make_cep_app()
    client = TestApp(app)
    found = client.get("/ceps/01001000")
    answers = [
        found,
        client.get("/ceps/01001-000", headers={"If-None-Match": found.headers["ETag"]}),
        client.get("/ceps/99999999", status=404),
        client.get("/nowhere/01001000", status=404),
        client.post("/health", status=405),
        client.get("/ceps?per_page=0", status=422),
        client.get("/ceps/0100%FF1000", status=400),
    ]
    app.close()  # writes what is queued
    rows = logged(cep_db_path)
    assert [row[:3] for row in rows] == [
        ("GET", "/ceps/<cep>", 200),
        ("GET", "/ceps/<cep>", 304),
        ("GET", "/ceps/<cep>", 404),
        ("GET", "(none)", 404),
        ("POST", "(none)", 405),
        ("GET", "/ceps", 422),
        ("GET", "(none)", 400),
    ]
    assert [row[4] for row in rows] == [len(answer.body) for answer in answers]
    assert rows[0][4] > 100 and rows[1][4] == 0  # the record; the 304 has no body
    assert all(0 < row[3] < 5000 for row in rows)
    assert "01001" not in repr(rows)  # never a path, never a CEP


def test_a_401_is_logged_and_the_cep_log_needs_the_token_when_one_is_set(make_cep_app, cep_db_path):
    client = TestApp(make_cep_app(token=TOKEN))
    assert client.get("/logs", status=401).json["error"]["status"] == 401
    assert client.get("/logs/summary", status=401).status_int == 401
    assert client.get("/ceps/01001000").status_int == 200  # reading CEPs stays open
    assert client.get("/logs", headers={"Authorization": f"Bearer {TOKEN}"}).status_int == 200
    client.app.close()
    assert [row[:3] for row in logged(cep_db_path)] == [
        ("GET", "/logs", 401), ("GET", "/logs/summary", 401), ("GET", "/ceps/<cep>", 200), ("GET", "/logs", 200)]


def test_staff_rows_carry_the_cache_outcome_and_the_wait_on_the_cep_api(cep_server, make_staff_app, staff_db_path):
    app = make_staff_app(cep_server.url, token=TOKEN)
    client = TestApp(app)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    client.get("/addresses/01001000", headers=bearer)  # a miss: one call to the CEP API
    client.get("/addresses/01001000", headers=bearer)  # a hit: none
    client.get("/employees", headers=bearer)
    client.get("/employees", status=401)
    client.get("/employees/7", headers=bearer, status=404)
    app.close()
    rows = logged(staff_db_path, "method, route, status, cache, cep_ms, bytes")
    assert [row[:4] for row in rows] == [
        ("GET", "/addresses/<cep>", 200, "miss"),
        ("GET", "/addresses/<cep>", 200, "hit"),
        ("GET", "/employees", 200, ""),
        ("GET", "/employees", 401, ""),
        ("GET", "/employees/<employee_id>", 404, ""),
    ]
    assert rows[0][4] > 0  # it waited on the CEP API
    assert [row[4] for row in rows[1:]] == [None] * 4


def test_the_list_is_newest_first_and_every_filter_narrows_it(make_cep_app):
    from cep_api.models import RequestLog

    client = TestApp(make_cep_app(log=False))  # only the rows below are in the table
    base = 1796155200.0  # 2026-12-01T20:00:00Z
    insert_rows(RequestLog, [
        {"time": base + 1.5, "method": "GET", "route": "/ceps/<cep>", "status": 200, "ms": 1.0, "bytes": 144},
        {"time": base + 60, "method": "GET", "route": "/ceps/<cep>", "status": 404, "ms": 3.0, "bytes": 100},
        {"time": base + 120, "method": "POST", "route": "/ceps", "status": 201, "ms": 9.5, "bytes": 150},
        {"time": base + 180, "method": "GET", "route": "(none)", "status": 404, "ms": 0.2, "bytes": 55},
    ])
    listed = client.get("/logs").json
    assert listed["total"] == 4 and listed["page"] == 1 and listed["per_page"] == 20
    assert [item["time"] for item in listed["items"]] == [
        "2026-12-01T20:03:00.000Z", "2026-12-01T20:02:00.000Z", "2026-12-01T20:01:00.000Z", "2026-12-01T20:00:01.500Z"]
    assert listed["items"][-1] == {"time": "2026-12-01T20:00:01.500Z", "method": "GET", "route": "/ceps/<cep>",
                                   "status": 200, "ms": 1.0, "bytes": 144}

    def statuses(query):
        return [item["status"] for item in client.get("/logs", query).json["items"]]

    assert statuses({"route": "/ceps/<cep>"}) == [404, 200]
    assert statuses({"method": "POST"}) == [201]
    assert statuses({"status": "404"}) == [404, 404]
    assert statuses({"since": "2026-12-01T20:01:00Z"}) == [404, 201, 404]
    assert statuses({"until": "2026-12-01T17:01:00-03:00"}) == [200]  # an offset is read as such
    assert statuses({"min_ms": "3"}) == [201, 404]
    assert statuses({"route": "/ceps/<cep>", "since": "2026-12-01T20:00:30.5Z", "min_ms": "2.5"}) == [404]
    assert client.get("/logs", {"per_page": "1", "page": "2"}).json["items"][0]["time"] == "2026-12-01T20:02:00.000Z"


@pytest.mark.parametrize("path, query, fields", [
    ("/logs", {"status": "abc"}, {"status"}),
    ("/logs", {"status": "99"}, {"status"}),
    ("/logs", {"method": "get"}, {"method"}),
    ("/logs", {"since": "yesterday", "until": "2026-12-01T20:00:00"}, {"since", "until"}),  # no offset: ambiguous
    ("/logs", {"min_ms": "-1"}, {"min_ms"}),
    ("/logs", {"min_ms": "nan"}, {"min_ms"}),
    ("/logs", {"min_ms": "1e999"}, {"min_ms"}),
    ("/logs", {"per_page": "101", "path": "/ceps/01001000"}, {"per_page", "path"}),
    ("/logs/summary", {"minutes": "0"}, {"minutes"}),
    ("/logs/summary", {"minutes": "1441"}, {"minutes"}),
    ("/logs/summary", {"minutes": "60", "route": "/ceps"}, {"route"}),
])
def test_bad_log_queries_are_422_naming_every_field_at_fault(cep_app, path, query, fields):
    answer = TestApp(cep_app).get(path, query, status=422).json["error"]
    assert set(answer["fields"]) == fields


def test_summary_percentiles_are_those_of_statistics_quantiles(make_cep_app):
    from cep_api.models import RequestLog

    client = TestApp(make_cep_app(log=False))
    now = time.time()
    minute_start = now // 60 * 60 - 120  # two minutes ago, a minute's start
    durations = [0.5 + (i * 37 % 101) / 7 for i in range(250)]
    rows = [{"time": minute_start + i % 3 * 60 + 1, "method": "GET", "route": "/ceps/<cep>",
             "status": (200, 304, 404, 500)[i % 4], "ms": ms, "bytes": 10} for i, ms in enumerate(durations)]
    rows.append({"time": minute_start + 2, "method": "DELETE", "route": "/ceps/<cep>", "status": 204, "ms": 4.25,
                 "bytes": 0})
    rows.append({"time": now - 2 * 3600, "method": "GET", "route": "/health", "status": 200, "ms": 1, "bytes": 5})
    insert_rows(RequestLog, rows)

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


def test_staff_summary_of_an_empty_window_has_no_ratio_and_no_wait(make_staff_app):
    summary = TestApp(make_staff_app("http://127.0.0.1:9", log=False)).get("/logs/summary").json
    assert summary == {"minutes": 60, "routes": [], "series": [],
                       "cache": {"hits": 0, "misses": 0, "hit_ratio": None},
                       "cep_api_wait": {"count": 0, "p50_ms": None, "p95_ms": None}, "dropped": 0}


def roll_up_everything(service, now=None):
    """Roll up every minute of `service`'s request log settled at `now` (default: now), as its writer
    thread does."""
    import importlib

    from chassis import log_summary

    models = importlib.import_module(f"{service}.models")
    more = True
    while more:
        with models.db.writing():
            more = log_summary.roll_up(models.RequestLog, models.LogMinute, now or time.time())


def staff_rows(now):
    """Log rows of the staff API over the last 12 minutes and this one, every cache outcome among them
    (durations to the microsecond, as the log records them)."""
    outcomes = [("miss", 12.0), ("hit", None), ("revalidated", 3.5), ("stale", 2000.0), ("", None)]
    return [{"time": now - 720 + i * 2.9, "method": ("GET", "POST")[i % 5 == 0],
             "route": ("/addresses/<cep>", "/employees")[i % 5 == 0], "status": (200, 201, 304, 422, 503)[i % 7 % 5],
             "ms": round(0.25 + (i * 53 % 97) / 9, 3), "bytes": 10, "cache": outcomes[i % 5][0], "cep_ms": outcomes[i % 5][1]}
            for i in range(250)]


def rows_in(model):
    """How many rows `model`'s table has (in the database its app uses: SQLite or PostgreSQL)."""
    with model._meta.database.connection_context():
        return model.select().count()


def test_a_summary_of_rolled_up_minutes_is_the_summary_of_their_rows(make_staff_app):
    from staff_api.models import LogMinute, RequestLog, db

    client = TestApp(make_staff_app("http://127.0.0.1:9", log=False))
    insert_rows(RequestLog, staff_rows(time.time()))
    from_rows = client.get("/logs/summary", {"minutes": "15"}).json
    now = time.time()  # both roll-ups see the same minutes settled, even if one more settles meanwhile
    roll_up_everything("staff_api", now)  # by the database (group_concat, or string_agg in PostgreSQL)
    rolled_up = rows_in(LogMinute)
    assert 10 <= rolled_up <= 2 * 12  # two routes a minute, the minutes over for 30 s and more
    assert client.get("/logs/summary", {"minutes": "15"}).json == from_rows  # the last minutes still from rows
    with db.writing():  # the summary reads the roll-ups: without the rows they were made of, the same
        newest = LogMinute.select(LogMinute.minute).order_by(LogMinute.minute.desc()).limit(1).scalar()
        RequestLog.delete().where(RequestLog.time < (newest + 1) * 60).execute()
    assert rows_in(RequestLog) < 100
    assert client.get("/logs/summary", {"minutes": "15"}).json == from_rows
    assert sum(route["count"] for route in from_rows["routes"]) == 250
    roll_up_everything("staff_api", now)  # nothing new: nothing rolled up twice
    assert rows_in(LogMinute) == rolled_up


def test_the_cep_api_summary_is_the_same_rolled_up_or_not(make_cep_app):
    from cep_api.models import LogMinute, RequestLog

    client = TestApp(make_cep_app(log=False))
    now = time.time()
    insert_rows(RequestLog, [{"time": now - 400 + i * 1.7, "method": "GET", "route": ("/ceps/<cep>", "/ceps")[i % 2],
                              "status": (200, 304, 404, 500)[i % 4], "ms": round((i * 31 % 89) / 7, 3), "bytes": 10}
                             for i in range(235)])
    from_rows = client.get("/logs/summary", {"minutes": "10"}).json
    roll_up_everything("cep_api")
    assert rows_in(LogMinute) >= 8
    assert client.get("/logs/summary", {"minutes": "10"}).json == from_rows


def test_a_minute_of_one_request_read_from_the_rows_counts_it_whatever_its_duration(make_cep_app):
    """A group of one duration, "0.0" as text: peewee would read it as the number 0.0 (models.joined)."""
    from cep_api.models import RequestLog

    client = TestApp(make_cep_app(log=False))
    insert_rows(RequestLog, [{"time": time.time() - 1, "method": "GET", "route": "/health", "status": 200,
                              "ms": 0.0, "bytes": 5}])
    assert client.get("/logs/summary").json["routes"] == [
        {"method": "GET", "route": "/health", "count": 1, "errors": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0,
         "max_ms": 0.0}]


@pytest.mark.parametrize("settings, minutes_left", [
    ({}, 2),  # rolled up when the app closed: the minutes of 6 and 3 minutes ago
    ({"log_max_rows": 3}, 0),  # their rows were pruned: their roll-ups go too
])
def test_the_writer_rolls_up_settled_minutes_and_prunes_them_with_their_rows(make_cep_app, cep_db_path, settings,
                                                                               minutes_left):
    from cep_api.models import RequestLog

    app = make_cep_app(**settings)
    now = time.time()
    minute_start = now // 60 * 60  # 360 and 359 s before a minute's start fall in one minute, whatever the clock
    insert_rows(RequestLog, [{"time": minute_start - ago, "method": "GET", "route": "/health", "status": 200,
                              "ms": 1.0, "bytes": 5} for ago in (360, 359, 180)])
    client = TestApp(app)
    for _ in range(3):
        client.get("/health")
    app.close()  # the last round rolls up, then prunes
    conn = sqlite3.connect(cep_db_path)
    try:
        # the requests above may settle their minute before close() if the clock turns one meanwhile: not counted
        minutes = conn.execute("SELECT minute FROM log_minute WHERE minute < ?", (int(now // 60),)).fetchall()
    finally:
        conn.close()
    assert sorted(minutes) == [(int((minute_start - ago) // 60),) for ago in (360, 180)][:minutes_left]


@pytest.mark.parametrize("settings, kept", [
    ({"log_retention_days": 1.0}, 3),  # the two rows of three days ago go
    ({"log_max_rows": 2}, 2),  # the oldest rows go, the newest two stay
])
def test_the_writer_prunes_by_age_and_by_row_count(make_cep_app, cep_db_path, settings, kept):
    from cep_api.models import RequestLog

    app = make_cep_app(**settings)
    old = time.time() - 3 * 86400
    insert_rows(RequestLog, [{"time": old + i, "method": "GET", "route": "/health", "status": 200, "ms": 1.0,
                              "bytes": 5} for i in range(2)])
    client = TestApp(app)
    for _ in range(3):
        client.get("/health")
    app.close()  # the last round prunes too
    rows = logged(cep_db_path, "time, route")
    assert len(rows) == kept
    assert all(row[0] > old + 10 for row in rows)  # whichever rule, the oldest went first


def test_log_off_writes_nothing_and_starts_no_thread(make_cep_app, cep_db_path, monkeypatch):
    from cep_api.app import config_from_env

    assert config_from_env({"CEP_API_LOG": "off"})["cep_api.log"] is False
    assert config_from_env({})["cep_api.log"] is True
    threads = threading.active_count()
    app = make_cep_app(log=False)
    assert "chassis.request_log" not in app.config and threading.active_count() == threads
    TestApp(app).get("/ceps/01001000")
    app.close()
    assert count_rows(cep_db_path, "request_log") == 0


def test_close_writes_the_rows_still_queued(make_cep_app, cep_db_path, monkeypatch):
    from chassis import request_log

    monkeypatch.setattr(request_log, "FLUSH_INTERVAL", 3600)  # the writer would wait an hour
    app = make_cep_app()
    client = TestApp(app)
    for _ in range(5):
        client.get("/ceps/01001000")
    time.sleep(0.2)
    assert count_rows(cep_db_path, "request_log") == 0  # queued, not written yet
    app.close()
    assert count_rows(cep_db_path, "request_log") == 5


def test_no_row_is_lost_under_8_threads_of_500_requests_through_waitress(cep_app, cep_db_path, serve):
    server = serve(cep_app, threads=8)
    statuses = []

    def client():
        with requests.Session() as session:
            statuses.extend(session.get(f"{server.url}/ceps/01001000", timeout=10).status_code for _ in range(500))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4000
    cep_app.close()  # a row is queued before its answer is sent: all 4,000 are queued by now
    assert logged(cep_db_path, "count(*), min(route), max(route), min(status), max(status)") == [
        (4000, "/ceps/<cep>", "/ceps/<cep>", 200, 200)]


def test_log_rows_list_iso_times_to_the_millisecond(make_cep_app):
    client = TestApp(make_cep_app())
    client.get("/health")
    client.app.close()  # written; the app still answers reads
    items = client.get("/logs").json["items"]
    assert ISO_MS.fullmatch(items[0]["time"]) and items[0]["route"] == "/health"


@pytest.mark.parametrize("origin, headers, status, allowed", [
    ("http://127.0.0.1:8002", {"Authorization": f"Bearer {TOKEN}"}, 200, True),
    ("http://127.0.0.1:8002", {}, 401, True),  # an error too: the page must see the 401 to ask for the token
    ("http://127.0.0.1:8002", {"Authorization": "Bearer wrong"}, 401, True),
    ("http://evil.example", {"Authorization": f"Bearer {TOKEN}"}, 200, False),
])
def test_the_cep_api_lets_configured_origins_read_its_logs_errors_included(make_cep_app, origin, headers, status,
                                                                          allowed):
    client = TestApp(make_cep_app(token=TOKEN, log=False))
    answer = client.get("/logs/summary", headers={"Origin": origin, **headers}, status=status)
    assert answer.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    assert answer.headers["Vary"] == "Origin" and answer.headers["X-Content-Type-Options"] == "nosniff"
    preflight = client.options("/logs", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}, status=204)
    assert preflight.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    assert "Access-Control-Allow-Origin" not in client.get("/ceps/01001000", headers={"Origin": origin}).headers
