"""Each service's own security: which routes need its token, SIGTERM writing the cache's last hits,
and the CEP cache's housekeeping.

How the chassis checks a token, sends the security headers, refuses bodies and paths, keeps its
files private and refuses to listen beyond loopback without a token: tests/chassis/. The fault
tests of the staff API's outgoing calls (trickling, redirecting servers) are in
test_cep_client_faults.py; the bad-input tables in test_cep_api.py and test_staff_api.py.
"""
import json
import signal
import sqlite3
import time

import pytest
import requests
from webtest import TestApp

from conftest import assert_error, count_rows

TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
NEW_CEP = {"cep": "01001-999", "logradouro": "Rua Nova", "localidade": "São Paulo", "uf": "SP"}
ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001000"}


# --- tokens ----------------------------------------------------------------------------------

@pytest.fixture
def guarded_cep(cep_db_path):
    """A CEP API app with CEP_API_TOKEN set."""
    from cep_api.app import create_app

    return TestApp(create_app({"cep_api.db_path": str(cep_db_path), "cep_api.token": TOKEN}))


def assert_unauthorized(resp, invalid_token=False):
    """A 401 in the contract's shape that says how to authenticate, and never echoes a token."""
    assert_error(resp, 401)
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) == invalid_token
    assert TOKEN not in resp.text and "wrong" not in resp.text


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/ceps", NEW_CEP),
    ("PUT", "/ceps/01001000", {"localidade": "São Paulo", "uf": "SP"}),
    ("PATCH", "/ceps/01001000", {"bairro": "Centro"}),
    ("DELETE", "/ceps/01001000", None),
])
def test_cep_api_writes_need_the_token(guarded_cep, cep_db_path, method, path, body):
    before = sqlite3.connect(cep_db_path).execute("SELECT * FROM cep ORDER BY cep").fetchall()
    send = lambda headers: guarded_cep.request(path, method=method, headers=headers, expect_errors=True,
                                               body=(json.dumps(body) if body else "").encode(),
                                               content_type="application/json")
    assert_unauthorized(send({}))
    assert_unauthorized(send({"Authorization": "Bearer wrong"}), invalid_token=True)
    assert_unauthorized(send({"Authorization": f"Basic {TOKEN}"}))  # the right secret, the wrong scheme
    assert sqlite3.connect(cep_db_path).execute("SELECT * FROM cep ORDER BY cep").fetchall() == before
    assert send(BEARER).status_int in (200, 201, 204)


def test_without_a_token_writes_are_open(cep_app):
    assert TestApp(cep_app).post_json("/ceps", NEW_CEP).status_int == 201


@pytest.fixture
def guarded_staff(cep_server, make_staff_app):
    """A staff API app with STAFF_API_TOKEN set."""
    return TestApp(make_staff_app(cep_server.url, token=TOKEN))


def sample_path(rule):
    """A concrete path for a route rule: /employees/<employee_id> -> /employees/1."""
    if rule == "/static/<name>":
        return "/static/dashboard.css"
    return (rule.replace("<employee_id>", "1").replace("<cep>", "01001000")
            .replace("<name>", "swagger-ui.css"))


OPEN_STAFF_ROUTES = {("GET", "/health"), ("GET", "/docs"), ("GET", "/openapi.json"),
                     ("GET", "/docs/static/<name>"), ("GET", "/"), ("GET", "/static/<name>")}


def test_every_staff_route_but_the_open_ones_needs_the_token(guarded_staff, staff_db_path):
    guarded_staff.post_json("/employees", ANA, headers=BEARER)
    routes = {(route.method, route.rule) for route in guarded_staff.app.routes}
    assert OPEN_STAFF_ROUTES < routes
    for method, rule in sorted(routes - OPEN_STAFF_ROUTES):
        resp = guarded_staff.request(sample_path(rule), method=method, body=b"{}",
                                     content_type="application/json", expect_errors=True)
        assert_unauthorized(resp)
    for method, rule in OPEN_STAFF_ROUTES:
        assert guarded_staff.request(sample_path(rule), method=method).status_int == 200
    assert count_rows(staff_db_path, "employee") == 1  # the refused PUT, PATCH and DELETE did nothing
    assert guarded_staff.get("/employees/1", headers=BEARER).json["name"] == "Ana Souza"


# --- served by the real entry point: SIGTERM ------------------------------------------------

def test_sigterm_writes_the_hit_counts_of_the_last_second(run_service, cep_server, tmp_path):
    process, url = run_service("staff_api", CEP_API_URL=cep_server.url)
    with requests.Session() as http:
        for _ in range(20):  # one miss, then 19 hits, all within far less than a second
            assert http.get(url + "/addresses/01001000", timeout=10).status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    hits = sqlite3.connect(tmp_path / "staff_api.sqlite3").execute("SELECT hits FROM cep_cache_entry").fetchall()
    assert hits == [(19,)]


# --- the cache's housekeeping ----------------------------------------------------------------

@pytest.fixture
def cache(cep_server, make_staff_app):
    """The CEP cache of a staff app, used directly, with a database connection open."""
    from staff_api.models import db

    app = make_staff_app(cep_server.url)
    with db.connection_context():
        yield app.config["staff_api.cep_cache"]


def test_pruning_forgets_old_entries_and_keeps_useful_ones(cache, staff_db_path):
    from staff_api.models import CepCacheEntry

    for cep in ("01001000", "20040020", "01310100", "99999998", "99999999"):
        cache.lookup(cep)
    now, day = time.time(), cache.ttl
    expiries = {"01001000": now + 10,  # fresh
                "20040020": now - day / 2,  # stale, still kept to answer while the CEP API is down
                "01310100": now - day - 10,  # stale for longer than a TTL: of no use
                "99999998": now + 10,  # a fresh "no such CEP"
                "99999999": now - 1}  # an expired "no such CEP"
    for cep, expires_at in expiries.items():
        CepCacheEntry.update(expires_at=expires_at).where(CepCacheEntry.cep == cep).execute()
    cache._prune()
    assert sorted(entry.cep for entry in CepCacheEntry.select()) == ["01001000", "20040020", "99999998"]


def test_memory_keeps_the_most_recently_used_entries(cep_server, make_staff_app, monkeypatch):
    from staff_api import cep_cache
    from staff_api.models import db

    # The housekeeper's first round empties the memory (it has seen no eviction count yet): not now.
    monkeypatch.setattr(cep_cache, "HOUSEKEEPING_INTERVAL", 3600)
    monkeypatch.setattr(cep_cache, "MAX_ENTRIES_IN_MEMORY", 2)
    cache = make_staff_app(cep_server.url).config["staff_api.cep_cache"]
    with db.connection_context():
        for cep in ("01001000", "20040020", "01001000", "01310100"):
            cache.lookup(cep)
            cache.lookup(cep)  # the second lookup is a hit, read from the table into memory
    assert list(cache._fresh) == ["01001000", "01310100"]  # 20040020 was the least recently used


# --- PATCH while another request changes the CEP ---------------------------------------------

def test_a_change_never_leaves_one_cep_with_another_ceps_address(cache, monkeypatch):
    from staff_api import employees
    from staff_api.models import Employee

    employee, _ = employees.create({"name": "Ana", "email": "ana@example.com", "role": "", "cep": "01001000",
                                    "number": "", "complement": ""}, cache)
    real_iso_utc, interleaved = employees.iso_utc, []

    def another_request_moves_the_employee(*args):
        """Called between the change's read and its write: another request changes the CEP then."""
        if not interleaved:
            interleaved.append(True)
            employees.change(str(employee.id), {"cep": "20040020"}, cache)
        return real_iso_utc(*args)

    monkeypatch.setattr(employees, "iso_utc", another_request_moves_the_employee)
    # This request read CEP 01001000, so it saw no CEP change and looked up no address.
    changed, _ = employees.change(str(employee.id), {"cep": "01001000", "name": "Ana S."}, cache)
    stored = Employee.get_by_id(employee.id)
    assert interleaved and (stored.cep, stored.localidade, stored.name) == ("01001000", "São Paulo", "Ana S.")
    assert changed.to_dict() == stored.to_dict()


def test_a_wrong_cep_api_prefix_is_a_failure_not_an_unknown_cep(cep_server, make_staff_app, staff_db_path):
    staff = TestApp(make_staff_app(cep_server.url + "/wrong-prefix"))
    assert_error(staff.post_json("/employees", ANA, expect_errors=True), 503)
    assert count_rows(staff_db_path, "cep_cache_entry") == 0  # nothing was cached as "no such CEP"


def test_hit_counts_survive_a_failed_write(cache, staff_db_path, monkeypatch, caplog):
    from peewee import OperationalError

    from staff_api import cep_cache

    cache.lookup("01001000")  # a miss: stored
    real_write_hits, failures = cep_cache.CepCache._write_hits, []

    def locked_once(self, unwritten):
        """The first write finds the database locked by another process (for > busy_timeout)."""
        if unwritten and not failures:
            failures.append(dict(unwritten))
            raise OperationalError("database is locked")
        real_write_hits(self, unwritten)

    monkeypatch.setattr(cep_cache.CepCache, "_write_hits", locked_once)
    for _ in range(3):
        cache.lookup("01001000")  # hits, counted in memory
    deadline = time.monotonic() + 5
    while not failures and time.monotonic() < deadline:  # the thread's next round (within a second) fails
        time.sleep(0.05)
    cache.close()  # its last round writes what the failed round gave back
    assert len(failures) == 1 and 1 <= failures[0]["01001000"] <= 3  # the round may have come between hits
    assert "cache housekeeping failed" in caplog.text
    hits = sqlite3.connect(staff_db_path).execute("SELECT hits FROM cep_cache_entry").fetchone()[0]
    assert hits == 3
