"""The chassis's request log (chassis/request_log.py), in both services: a row per request, queued on
the request path and written by the background thread, read back through GET /logs, bounded, kept
in memory while the database fails, and switched off on demand. The summary: test_log_summary.py."""
import importlib
import re
import threading
import time

import pytest
import requests
from webtest import TestApp

from conftest import committed_rows, count_rows

TOKEN = "log-token"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def logged(app, service, columns="method, route, status, ms, bytes"):
    """The committed rows of an app's request_log, oldest first, read over a connection of our own."""
    return committed_rows(app.config, service, f"SELECT {columns} FROM request_log ORDER BY id")


def insert_rows(model, rows):
    """Put rows straight into a service's request_log table (for the read side's tests)."""
    with model._meta.database.connection_context():
        model.insert_many(rows).execute()


def models_of(service):
    """A service's models module: its db, RequestLog and LogMinute."""
    return importlib.import_module(f"{service}.models")


def poll(condition, seconds=10.0):
    """Call condition() until it returns something true, or `seconds` have passed; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


# --- a row per request ---------------------------------------------------------------------------

def test_each_cep_request_is_one_row_with_its_route_pattern_status_duration_and_size(make_cep_app):
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
    rows = logged(app, "cep_api")
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


# An open read of each service, and its route: the log itself needs the token even where reads are open.
OPEN_READ = {"cep_api": ("/ceps/01001000", "/ceps/<cep>"), "staff_api": ("/health", "/health")}


def test_a_401_is_logged_and_the_log_needs_the_token_when_one_is_set(service_name, make_app):
    app = make_app(token=TOKEN)
    client = TestApp(app)
    path, route = OPEN_READ[service_name]
    assert client.get("/logs", status=401).json["error"]["status"] == 401
    assert client.get("/logs/summary", status=401).status_int == 401
    assert client.get(path).status_int == 200  # reading CEPs (or the staff API's health) stays open
    assert client.get("/logs", headers={"Authorization": f"Bearer {TOKEN}"}).status_int == 200
    app.close()
    assert [row[:3] for row in logged(app, service_name)] == [
        ("GET", "/logs", 401), ("GET", "/logs/summary", 401), ("GET", route, 200), ("GET", "/logs", 200)]


def test_staff_rows_carry_the_cache_outcome_and_the_wait_on_the_cep_api(cep_server, make_staff_app):
    app = make_staff_app(cep_server.url, token=TOKEN)
    client = TestApp(app)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    client.get("/addresses/01001000", headers=bearer)  # a miss: one call to the CEP API
    client.get("/addresses/01001000", headers=bearer)  # a hit: none
    client.get("/employees", headers=bearer)
    client.get("/employees", status=401)
    client.get("/employees/7", headers=bearer, status=404)
    app.close()
    rows = logged(app, "staff_api", "method, route, status, cache, cep_ms, bytes")
    assert [row[:4] for row in rows] == [
        ("GET", "/addresses/<cep>", 200, "miss"),
        ("GET", "/addresses/<cep>", 200, "hit"),
        ("GET", "/employees", 200, ""),
        ("GET", "/employees", 401, ""),
        ("GET", "/employees/<employee_id>", 404, ""),
    ]
    assert rows[0][4] > 0  # it waited on the CEP API
    assert [row[4] for row in rows[1:]] == [None] * 4


def test_a_method_http_does_not_define_is_logged_as_other(service_name, make_app):
    app = make_app()
    client = TestApp(app, lint=False)  # WebTest's lint refuses what an HTTP client may well send
    client.request("/health", method="BREW", status=405)
    client.request("/health", method="X" * 5000, status=405)  # no method, however long, is kept as sent
    client.request("/health", method="OPTIONS", status=405)  # one of request_log.METHODS: kept as it is
    app.close()
    assert logged(app, service_name, "method, route, status") == [
        ("OTHER", "(none)", 405), ("OTHER", "(none)", 405), ("OPTIONS", "(none)", 405)]


def test_log_rows_list_iso_times_to_the_millisecond(make_app):
    client = TestApp(make_app())
    client.get("/health")
    client.app.close()  # written; the app still answers reads
    items = client.get("/logs").json["items"]
    assert ISO_MS.fullmatch(items[0]["time"]) and items[0]["route"] == "/health"


# --- GET /logs ---------------------------------------------------------------------------------

def test_the_list_is_newest_first_and_every_filter_narrows_it(service_name, make_app):
    client = TestApp(make_app(log=False))  # only the rows below are in the table
    base = 1796155200.0  # 2026-12-01T20:00:00Z
    insert_rows(models_of(service_name).RequestLog, [
        {"time": base + 1.5, "method": "GET", "route": "/ceps/<cep>", "status": 200, "ms": 1.0, "bytes": 144},
        {"time": base + 60, "method": "GET", "route": "/ceps/<cep>", "status": 404, "ms": 3.0, "bytes": 100},
        {"time": base + 120, "method": "POST", "route": "/ceps", "status": 201, "ms": 9.5, "bytes": 150},
        {"time": base + 180, "method": "GET", "route": "(none)", "status": 404, "ms": 0.2, "bytes": 55},
    ])
    listed = client.get("/logs").json
    assert listed["total"] == 4 and listed["page"] == 1 and listed["per_page"] == 20
    assert [item["time"] for item in listed["items"]] == [
        "2026-12-01T20:03:00.000Z", "2026-12-01T20:02:00.000Z", "2026-12-01T20:01:00.000Z", "2026-12-01T20:00:01.500Z"]
    oldest = {"time": "2026-12-01T20:00:01.500Z", "method": "GET", "route": "/ceps/<cep>", "status": 200, "ms": 1.0,
              "bytes": 144}
    if service_name == "staff_api":  # a service with a cache lists how it answered, and the wait behind it
        oldest.update(cache=None, cep_ms=None)
    assert listed["items"][-1] == oldest

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
def test_bad_log_queries_are_422_naming_every_field_at_fault(make_app, path, query, fields):
    answer = TestApp(make_app()).get(path, query, status=422).json["error"]
    assert set(answer["fields"]) == fields


# --- the writer: off the request path, bounded, patient with a failing database -----------------

def test_log_off_writes_nothing_and_starts_no_thread(service_name, make_app):
    config_from_env = importlib.import_module(f"{service_name}.app").config_from_env
    prefix = service_name.upper()
    assert config_from_env({f"{prefix}_LOG": "off"})[f"{service_name}.log"] is False
    assert config_from_env({})[f"{service_name}.log"] is True
    threads = threading.active_count()
    app = make_app(log=False)
    assert "chassis.request_log" not in app.config and threading.active_count() == threads
    TestApp(app).get("/health")
    app.close()
    assert logged(app, service_name) == []


def test_close_writes_the_rows_still_queued(service_name, make_app, monkeypatch):
    from chassis import request_log

    monkeypatch.setattr(request_log, "FLUSH_INTERVAL", 3600)  # the writer would wait an hour
    app = make_app()
    client = TestApp(app)
    for _ in range(5):
        client.get("/health")
    time.sleep(0.2)
    assert logged(app, service_name) == []  # queued, not written yet
    app.close()
    assert len(logged(app, service_name)) == 5


def test_rows_beyond_the_queue_are_dropped_and_the_summary_counts_them(service_name, make_app, monkeypatch):
    from chassis import request_log

    monkeypatch.setattr(request_log, "MAX_QUEUED", 5)
    monkeypatch.setattr(request_log, "FLUSH_INTERVAL", 3600)  # nothing leaves the queue until close()
    app = make_app()
    client = TestApp(app)
    for _ in range(8):
        assert client.get("/health").status_int == 200  # a full queue never costs a request its answer
    assert client.get("/logs/summary").json["dropped"] == 3
    # That summary's own row found the queue full too; this process counts, it does not forget.
    assert client.get("/logs/summary").json["dropped"] == 4
    app.close()
    assert len(logged(app, service_name)) == 5  # the queued rows, all of them, and none of the dropped


def test_rows_wait_in_memory_while_the_database_fails_and_are_written_once_it_is_back(
        service_name, make_app, database_outage, caplog):
    app = make_app()
    client = TestApp(app)
    client.get("/health")
    assert poll(lambda: len(logged(app, service_name)) == 1), "the first row was never written"
    with database_outage(app, service_name, "request_log"):
        for _ in range(3):
            client.get("/health", expect_errors=True)  # a 503 on PostgreSQL: logged all the same
        assert poll(lambda: "the database failed, rows wait in memory" in caplog.text), caplog.text
        assert caplog.text.count("the database failed") == 1  # said once, not every round
    assert poll(lambda: len(logged(app, service_name)) == 4), "the rows kept in memory were never written"
    assert poll(lambda: "the database is back" in caplog.text)
    assert TestApp(app).get("/logs/summary").json["dropped"] == 0  # waited in memory: none was lost


def test_rows_of_an_app_whose_database_another_app_now_uses_go_to_neither(tmp_path, monkeypatch):
    """Tests open many apps of one service in one process: one database object, opened by each in turn."""
    from cep_api.app import create_app
    from chassis import request_log

    monkeypatch.setattr(request_log, "FLUSH_INTERVAL", 3600)
    first = create_app({"cep_api.db_path": str(tmp_path / "first.sqlite3")})
    TestApp(first).get("/health")
    second = create_app({"cep_api.db_path": str(tmp_path / "second.sqlite3")})
    try:
        first.close()  # its queued row would land in the second app's database
        assert count_rows(tmp_path / "second.sqlite3", "request_log") == 0
        assert count_rows(tmp_path / "first.sqlite3", "request_log") == 0
    finally:
        second.close()


def test_no_row_is_lost_under_8_threads_of_500_requests_through_waitress(cep_app, cep_db_path, serve):
    """On SQLite only (cep_db_path), as ever: 4,000 requests are a load test, not a test of the engine."""
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
    assert logged(cep_app, "cep_api", "count(*), min(route), max(route), min(status), max(status)") == [
        (4000, "/ceps/<cep>", "/ceps/<cep>", 200, 200)]
