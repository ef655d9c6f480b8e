"""Hosting: the WSGI entry points, and both services in one web app with one worker (PythonAnywhere)."""
import os
import re
import runpy
import stat
import sys
import time

import pytest
import requests

from conftest import REPO_ROOT, count_rows
from deploy.pythonanywhere import one_app
from deploy.pythonanywhere.one_app import PrefixDispatcher, WSGIAdapter

PASTED_WSGI_FILE = REPO_ROOT / "deploy" / "pythonanywhere" / "pythonanywhere_wsgi.py"
TOKENS_LINE = 'load_tokens(REPO + "/var/tokens.env")'
TOKEN_NAMES = ("CEP_API_TOKEN", "STAFF_API_TOKEN")
ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001-000"}


def bearer(name):
    """The Authorization header with the token `name` that the WSGI file put into the environment."""
    return {"Authorization": f"Bearer {os.environ[name]}"}


def paste_wsgi_file(tmp_path):
    """The WSGI file as the guide says to paste it, USERNAME filled in; its tokens file in tmp_path/var."""
    text = PASTED_WSGI_FILE.read_text(encoding="utf-8")
    assert text.count('"/home/USERNAME/cep-staff"') == 1  # the one line the guide asks to edit
    text = text.replace("/home/USERNAME/cep-staff", str(REPO_ROOT))
    # The code comes from the repository, the tokens file must not go into it.
    assert text.count(TOKENS_LINE) == 1
    text = text.replace(TOKENS_LINE, f"load_tokens({str(tmp_path / 'var' / 'tokens.env')!r})")
    pasted = tmp_path / "USERNAME_pythonanywhere_com_wsgi.py"
    pasted.write_text(text, encoding="utf-8")
    return pasted


@pytest.fixture
def service_env(monkeypatch, cep_db_path, staff_db_path):
    """The environment a web app would get: both databases in this test's tmp_path."""
    monkeypatch.setenv("CEP_API_DB", str(cep_db_path))
    monkeypatch.setenv("STAFF_API_DB", str(staff_db_path))
    # Short, so that a staff request that did go over the network would fail fast, not hang.
    monkeypatch.setenv("STAFF_CEP_TIMEOUT", "2.0")
    for name in ("CEP_API_URL", *TOKEN_NAMES):
        # setenv first, so that monkeypatch also removes the value the WSGI file sets, after the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the WSGI files add to it


@pytest.fixture
def pasted_application(service_env, tmp_path):
    """`application` from the very WSGI file the guide says to paste, with USERNAME filled in.

    The file makes both tokens (in tmp_path/var/tokens.env): requests below send them with bearer().
    """
    application = runpy.run_path(str(paste_wsgi_file(tmp_path)))["application"]
    yield application
    # Stop the staff API's cache thread and both request logs: they must not write into the next test's database.
    application.mounts["/staff"].config["staff_api.cep_cache"].close()
    application.mounts["/staff"].close()
    application.mounts["/cep"].close()


@pytest.fixture
def run_wsgi_file(service_env, tmp_path, monkeypatch):
    """run_wsgi_file() runs the pasted WSGI file for its settings only: no apps are built."""
    monkeypatch.setattr(one_app, "create_app", lambda: "the application")
    pasted = paste_wsgi_file(tmp_path)
    return lambda: runpy.run_path(str(pasted))


@pytest.fixture
def one_worker(pasted_application, serve):
    """The single-web-app layout on a server with one thread: one request at a time, as there."""
    return serve(pasted_application, threads=1)


def test_one_worker_creates_an_employee_with_its_address(one_worker, staff_db_path):
    created = requests.post(f"{one_worker.url}/staff/employees", json=ANA, timeout=5,
                            headers=bearer("STAFF_API_TOKEN"))
    assert created.status_code == 201  # over HTTP to itself it would be a 503 (the naive test below)
    assert created.headers["X-Cep-Cache"] == "miss"
    assert created.json()["address"] == {"logradouro": "Praça da Sé", "bairro": "Sé",
                                         "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
    # Only the staff API's own headers: none of the CEP API's answer leaked into this one.
    assert "ETag" not in created.headers
    # (The staff API's own Cache-Control is no-store, employee data being personal; the CEP API's is public.)
    assert created.headers.get("Cache-Control", "no-store") == "no-store"
    assert count_rows(staff_db_path, "employee") == 1

    second = requests.post(f"{one_worker.url}/staff/employees", timeout=5,
                           json={**ANA, "email": "bia@example.com"}, headers=bearer("STAFF_API_TOKEN"))
    assert second.status_code == 201
    assert second.headers["X-Cep-Cache"] == "hit"


def test_one_worker_serves_the_cep_api_under_cep(one_worker):
    # No token: reading CEPs is open.
    found = requests.get(f"{one_worker.url}/cep/ceps/01001000", timeout=5)
    assert found.status_code == 200
    assert found.json()["localidade"] == "São Paulo"
    again = requests.get(f"{one_worker.url}/cep/ceps/01001-000", timeout=5,
                         headers={"If-None-Match": found.headers["ETag"]})
    assert again.status_code == 304


def test_one_worker_reports_the_cep_api_up_and_rejects_unknown_ceps(one_worker, staff_db_path):
    health = requests.get(f"{one_worker.url}/staff/health", timeout=5)  # open: no token
    assert health.json() == {"status": "ok", "service": "staff_api", "cep_api": "up"}

    unknown = requests.post(f"{one_worker.url}/staff/employees", json={**ANA, "cep": "01001999"}, timeout=5,
                            headers=bearer("STAFF_API_TOKEN"))
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"] == {"cep": "no such CEP"}
    assert count_rows(staff_db_path, "employee") == 0


@pytest.mark.parametrize("path", ["/", "/nope", "/cepx/ceps/01001000", "/staff-api/employees",
                                  "/cep/nope", "/staff/employees/999"])
def test_one_worker_answers_json_404_for_unknown_paths(one_worker, path):
    # With the staff token, so that /staff/employees/999 gets as far as its 404.
    answer = requests.get(one_worker.url + path, timeout=5, headers=bearer("STAFF_API_TOKEN"))
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["status"] == 404


def test_location_of_a_create_points_inside_the_mount(one_worker):
    staff = bearer("STAFF_API_TOKEN")
    created = requests.post(f"{one_worker.url}/staff/employees", json=ANA, timeout=5, headers=staff)
    assert created.headers["Location"] == "/staff/employees/1"
    read = requests.get(one_worker.url + created.headers["Location"], timeout=5, headers=staff)
    assert read.status_code == 200

    record = {"cep": "01001-999", "localidade": "São Paulo", "uf": "SP"}
    created = requests.post(f"{one_worker.url}/cep/ceps", json=record, timeout=5,
                            headers=bearer("CEP_API_TOKEN"))
    assert created.headers["Location"] == "/cep/ceps/01001999"


def read_tokens_file(path):
    """{NAME: value} of a tokens file."""
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


def test_wsgi_file_makes_the_tokens_once_and_reuses_them(run_wsgi_file, tmp_path, monkeypatch):
    tokens_file = tmp_path / "var" / "tokens.env"
    assert not tokens_file.parent.exists()

    assert run_wsgi_file()["application"] == "the application"
    tokens = read_tokens_file(tokens_file)
    assert sorted(tokens) == sorted(TOKEN_NAMES)
    for value in tokens.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # secrets.token_urlsafe(32): 256 random bits
    assert tokens["CEP_API_TOKEN"] != tokens["STAFF_API_TOKEN"]
    assert {name: os.environ[name] for name in TOKEN_NAMES} == tokens
    # Only the account's owner may read them.
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(tokens_file.parent.stat().st_mode) == 0o700

    # The next start (a reload: a fresh environment) reads the same file and changes nothing in it.
    for name in TOKEN_NAMES:
        monkeypatch.delenv(name)
    run_wsgi_file()
    assert read_tokens_file(tokens_file) == tokens
    assert {name: os.environ[name] for name in TOKEN_NAMES} == tokens


def test_a_token_in_the_environment_wins_over_the_file(run_wsgi_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CEP_API_TOKEN", "set-in-the-wsgi-file")
    run_wsgi_file()
    tokens = read_tokens_file(tmp_path / "var" / "tokens.env")
    assert os.environ["CEP_API_TOKEN"] == "set-in-the-wsgi-file"
    assert os.environ["STAFF_API_TOKEN"] == tokens["STAFF_API_TOKEN"]


def test_a_tokens_file_without_a_token_stops_the_web_app(run_wsgi_file, tmp_path):
    """Started without its token, a service on the internet would let anyone write."""
    (tmp_path / "var").mkdir(mode=0o700)
    (tmp_path / "var" / "tokens.env").write_text("CEP_API_TOKEN=abc\nSTAFF_API_TOKEN=\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="has no STAFF_API_TOKEN: delete it to get new tokens"):
        run_wsgi_file()


def test_naive_one_worker_layout_waits_for_itself_until_the_timeout(cep_app, make_staff_app, serve,
                                                                    staff_db_path):
    """What the in-process adapter avoids: the staff API calling /cep over HTTP on its own worker."""
    apps = []
    server = serve(lambda environ, start_response: apps[0](environ, start_response), threads=1)
    staff_app = make_staff_app(f"{server.url}/cep", cep_timeout=0.5)
    apps.append(PrefixDispatcher({"/cep": cep_app, "/staff": staff_app}))

    started = time.monotonic()
    created = requests.post(f"{server.url}/staff/employees", json=ANA, timeout=5)
    waited = time.monotonic() - started

    # The call to /cep queued behind the very request that made it, until the staff API gave up.
    assert created.status_code == 503
    assert "did not answer within 0.5 s" in created.json()["error"]["message"]
    assert 0.5 <= waited < 3
    assert count_rows(staff_db_path, "employee") == 0


def test_wsgi_adapter_carries_bodies_queries_and_encoded_paths(make_cep_app):
    session = requests.Session()
    # The adapter sends the URL's host as Host: the app must answer for that name.
    session.mount("http://cep.test/", WSGIAdapter(make_cep_app(allowed_hosts=("cep.test",))))
    record = {"cep": "01001-999", "logradouro": "Rua do Adaptador", "localidade": "São Paulo", "uf": "SP"}

    created = session.post("http://cep.test/ceps", json=record, timeout=0.001)  # no timeout in-process
    assert created.status_code == 201
    assert created.reason == "Created"
    assert created.headers["location"] == "/ceps/01001999"
    assert created.json()["logradouro"] == "Rua do Adaptador"
    assert created.url == "http://cep.test/ceps"

    listed = session.get("http://cep.test/ceps", params={"localidade": "São Paulo", "q": "Adaptador"})
    assert listed.json()["total"] == 1
    assert session.get("http://cep.test/ceps/01001%2D999").json()["cep"] == "01001-999"
    session.close()


def test_service_wsgi_files_serve_each_service_as_its_own_web_app(service_env, monkeypatch, serve, staff_db_path,
                                                                  request):
    """The layout of two web apps (a paid account): each service's wsgi.py, each its own worker."""
    cep_app = runpy.run_path(str(REPO_ROOT / "cep_api" / "wsgi.py"))["application"]
    request.addfinalizer(cep_app.close)  # its request log's writer stops with the test
    cep = serve(cep_app, threads=1)
    monkeypatch.setenv("CEP_API_URL", cep.url)
    staff_app = runpy.run_path(str(REPO_ROOT / "staff_api" / "wsgi.py"))["application"]
    request.addfinalizer(staff_app.config["staff_api.cep_cache"].close)  # its cache thread stops with the test
    request.addfinalizer(staff_app.close)  # and its request log's writer
    staff = serve(staff_app, threads=1)

    created = requests.post(f"{staff.url}/employees", json=ANA, timeout=5)
    assert created.status_code == 201
    assert created.headers["Location"] == "/employees/1"
    assert created.json()["address"]["uf"] == "SP"
    assert count_rows(staff_db_path, "employee") == 1
