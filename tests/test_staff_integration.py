"""Both services for real: waitress on loopback ports, the staff API calling the CEP API over HTTP."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import REPO_ROOT, count_rows, free_port, get_once_up

ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001-000"}


def employee(n, cep):
    return {"name": f"Employee {n}", "email": f"e{n}@example.com", "cep": cep}


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def post(http, server, body):
    return http.post(f"{server.url}/employees", json=body, timeout=10)


class CacheClock:
    """Stands in for the `time` module in cep_cache.py: a test moves it forward instead of sleeping
    out a TTL (a TTL short enough to sleep out may also run out before the next request's hit)."""

    def __init__(self):
        self.ahead = 0.0

    def time(self):
        """Now, `ahead` seconds into the future."""
        return time.time() + self.ahead


@pytest.fixture
def cache_clock(monkeypatch):
    from staff_api import cep_cache

    clock = CacheClock()
    monkeypatch.setattr(cep_cache, "time", clock)
    return clock


def test_miss_then_hit_makes_no_second_http_call(cep_server, make_staff_app, serve, http):
    staff = serve(make_staff_app(cep_server.url))
    first = post(http, staff, ANA)
    assert first.status_code == 201 and first.headers["X-Cep-Cache"] == "miss"
    assert len(cep_server.log.lookups()) == 1

    second = post(http, staff, {**ANA, "email": "bia@example.com"})
    assert second.status_code == 201 and second.headers["X-Cep-Cache"] == "hit"
    assert second.json()["address"] == first.json()["address"]
    assert len(cep_server.log.lookups()) == 1  # the CEP API was not asked again


def test_the_cache_survives_a_restart_of_the_staff_api(cep_server, make_staff_app, serve, http):
    staff = serve(make_staff_app(cep_server.url))
    assert post(http, staff, ANA).headers["X-Cep-Cache"] == "miss"
    staff.stop()

    restarted = serve(make_staff_app(cep_server.url))
    resp = http.get(f"{restarted.url}/addresses/01001000", timeout=10)
    assert resp.status_code == 200 and resp.headers["X-Cep-Cache"] == "hit"
    assert len(cep_server.log.lookups()) == 1


def test_cep_api_stopped_cached_cep_still_works_uncached_is_503(cep_server, make_staff_app, serve, http,
                                                                 staff_db_path):
    staff = serve(make_staff_app(cep_server.url))
    assert post(http, staff, ANA).status_code == 201
    cep_server.stop()

    cached = post(http, staff, {**ANA, "email": "bia@example.com"})
    assert cached.status_code == 201 and cached.headers["X-Cep-Cache"] == "hit"
    uncached = post(http, staff, {**ANA, "email": "caio@example.com", "cep": "01310-100"})
    assert uncached.status_code == 503
    assert uncached.json()["error"]["status"] == 503
    assert count_rows(staff_db_path, "employee") == 2
    assert http.get(f"{staff.url}/health", timeout=10).json()["cep_api"] == "down"


def test_stale_entry_is_revalidated_with_304_after_the_ttl(cep_server, make_staff_app, serve, http, cache_clock):
    staff = serve(make_staff_app(cep_server.url, cep_cache_ttl=60))
    assert post(http, staff, ANA).headers["X-Cep-Cache"] == "miss"
    cache_clock.ahead += 61  # the entry is stale now

    again = http.get(f"{staff.url}/addresses/01001000", timeout=10)
    assert again.headers["X-Cep-Cache"] == "revalidated"
    method, path, if_none_match, status = cep_server.log.lookups()[-1]
    assert (path, status) == ("/ceps/01001000", 304) and if_none_match.startswith('"')
    # The 304 renewed the entry: fresh again, so the next one is a plain hit.
    assert http.get(f"{staff.url}/addresses/01001000", timeout=10).headers["X-Cep-Cache"] == "hit"


def test_a_changed_record_is_fetched_again_after_the_ttl(cep_server, make_staff_app, serve, http):
    staff = serve(make_staff_app(cep_server.url, cep_cache_ttl=0.2))
    assert post(http, staff, ANA).json()["address"]["logradouro"] == "Praça da Sé"
    http.patch(f"{cep_server.url}/ceps/01001000", json={"logradouro": "Praça da Sé (renomeada)"}, timeout=10)
    time.sleep(0.3)
    moved = post(http, staff, {**ANA, "email": "bia@example.com"})
    assert moved.headers["X-Cep-Cache"] == "miss"
    assert moved.json()["address"]["logradouro"] == "Praça da Sé (renomeada)"


def test_stale_if_error_serves_an_expired_entry_when_the_cep_api_is_down(cep_server, make_staff_app, serve, http):
    staff = serve(make_staff_app(cep_server.url, cep_cache_ttl=0.1))
    assert post(http, staff, ANA).status_code == 201
    cep_server.stop()
    time.sleep(0.2)
    resp = post(http, staff, {**ANA, "email": "bia@example.com"})
    assert resp.status_code == 201 and resp.headers["X-Cep-Cache"] == "stale"


def test_not_found_is_cached_for_the_negative_ttl(cep_server, make_staff_app, serve, http, cache_clock):
    staff = serve(make_staff_app(cep_server.url, cep_negative_ttl=60))
    unknown = post(http, staff, {**ANA, "cep": "01001-998"})
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"] == {"cep": "no such CEP"}
    assert post(http, staff, {**ANA, "cep": "01001-998"}).headers["X-Cep-Cache"] == "hit"
    assert len(cep_server.log.lookups()) == 1

    created = http.post(f"{cep_server.url}/ceps", json={"cep": "01001998", "localidade": "São Paulo", "uf": "SP"},
                        timeout=10)
    assert created.status_code == 201
    cache_clock.ahead += 61  # the negative answer expires and the new CEP is found
    found = post(http, staff, {**ANA, "cep": "01001-998"})
    assert found.status_code == 201 and found.headers["X-Cep-Cache"] == "miss"


# --- a CEP API that fails in other ways: real servers, no mocks -------------------------

def failing_app(status, body):
    def app(environ, start_response):
        start_response(status, [("Content-Type", "application/json")])
        return [body]
    return app


@pytest.mark.parametrize("status, body", [
    ("500 Internal Server Error", b'{"error": {"status": 500}}'),
    ("200 OK", b"<html>not json</html>"),
    ("200 OK", b'{"cep": "99999-999"}'),  # a record, but not the one asked for
])
def test_a_failing_cep_api_is_503_without_cache_and_stale_with_it(make_staff_app, serve, http, staff_db_path,
                                                                 cep_server, status, body):
    staff = serve(make_staff_app(cep_server.url, cep_cache_ttl=0.1))
    assert post(http, staff, ANA).status_code == 201
    cep_server.stop()
    broken = serve(failing_app(status, body))
    staff.stop()
    staff = serve(make_staff_app(broken.url, cep_cache_ttl=0.1))
    time.sleep(0.2)

    assert post(http, staff, employee(2, "01001000")).headers["X-Cep-Cache"] == "stale"
    uncached = post(http, staff, employee(3, "01310100"))
    assert uncached.status_code == 503
    assert count_rows(staff_db_path, "employee") == 2


def test_a_closed_port_is_a_fast_503(make_staff_app, serve, http, staff_db_path):
    staff = serve(make_staff_app(f"http://127.0.0.1:{free_port()}"))
    resp = post(http, staff, ANA)
    assert resp.status_code == 503 and "could not be reached" in resp.json()["error"]["message"]
    assert count_rows(staff_db_path, "employee") == 0
    assert http.get(f"{staff.url}/health", timeout=10).json() == {
        "status": "ok", "service": "staff_api", "cep_api": "down"}


def test_a_cep_api_that_accepts_but_never_answers_is_503_within_the_budget(make_staff_app, serve, http,
                                                                          staff_db_path):
    # A real listening socket that never reads nor answers: the kernel completes the
    # connection, so only the timeout can end the call.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        budget = 0.5
        staff = serve(make_staff_app(f"http://127.0.0.1:{silent.getsockname()[1]}", cep_timeout=budget))
        started = time.monotonic()
        resp = post(http, staff, ANA)
        elapsed = time.monotonic() - started
        health = http.get(f"{staff.url}/health", timeout=10).json()
    assert resp.status_code == 503 and "did not answer within 0.5 s" in resp.json()["error"]["message"]
    assert elapsed < budget + 1.0  # bounded by the budget, not hung (generous margin for slow CI)
    assert health["cep_api"] == "down"
    assert count_rows(staff_db_path, "employee") == 0


# --- concurrency --------------------------------------------------------------------------

def test_concurrent_creates_with_the_same_uncached_ceps(cep_server, make_staff_app, serve, staff_db_path):
    """Eight client threads, three CEPs nobody has cached yet: every create is a 201."""
    staff = serve(make_staff_app(cep_server.url), threads=8)
    ceps = ["01001000", "01310100", "70150900"]
    statuses, errors = [], []

    def create_many(worker):
        with requests.Session() as session:
            for n in range(10):
                resp = post(session, staff, employee(worker * 100 + n, ceps[(worker + n) % 3]))
                statuses.append(resp.status_code)
                if resp.status_code != 201:
                    errors.append(resp.text)

    threads = [threading.Thread(target=create_many, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and statuses == [201] * 80
    assert count_rows(staff_db_path, "employee") == 80
    assert count_rows(staff_db_path, "cep_cache_entry") == 3
    assert len(cep_server.log.lookups()) <= 8 * 3  # at worst each thread fetched each CEP once


# --- the command ----------------------------------------------------------------------------

def test_python_m_staff_api_serves_and_reports_the_cep_api(tmp_path, cep_server):
    port = free_port()
    env = {**os.environ, "STAFF_API_DB": str(tmp_path / "staff.sqlite3"), "STAFF_API_PORT": str(port),
           "CEP_API_URL": cep_server.url}
    server = subprocess.Popen([sys.executable, "-m", "staff_api"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = get_once_up(f"http://127.0.0.1:{port}/health").json()
        assert health == {"status": "ok", "service": "staff_api", "cep_api": "up"}
    finally:
        server.terminate()
        server.wait(timeout=10)

