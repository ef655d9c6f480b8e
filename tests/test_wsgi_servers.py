"""Pre-fork WSGI servers: the one-app layout (deploy/pythonanywhere/one_app.py) under uWSGI and
gunicorn, each building the app once in its master and forking it into two workers.

A fork does not carry threads into the child: the request logs and the CEP cache's hit counts,
written by background threads, must still reach both services' tables (chassis/background.py).
uWSGI is built from PyPI by `pip install -r requirements-dev.txt` (Debian's build-essential and
python3-dev); these tests skip, saying so, where it is not installed.
"""
import collections
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port, stop_session
from test_outages import own_postgres  # noqa: F401  (a fixture: a PostgreSQL cluster this test may stop)

BIN = Path(sys.executable).parent  # the venv's scripts: uwsgi and gunicorn are installed there
START_TIMEOUT = 90  # seconds for a server to load both apps and answer (a busy 2-core machine)
WRITE_TIMEOUT = 30  # seconds for the background rounds to bring the rows and hits to the tables
EMPLOYEES = 12  # POST /staff/employees, all with one CEP: 1 miss, then hits
ADDRESS_LOOKUPS = 4  # GET /staff/addresses/<cep>: hits
CEP_LOOKUPS = 4  # GET /cep/ceps/<cep>, straight to the CEP API
CEP = "01001000"
UNKNOWN_CEP = "99999999"  # in no range of the sample: the CEP API answers 404
HIT_OUTCOMES = ("hit", "revalidated", "stale")  # each adds 1 to its entry's hits (cep_cache._answer_from)

# The WSGI file a user would write: the one app, built at import, in the master. It tells which
# process built it and which one answered, so that the test sees the workers were forked from it.
WSGI_FILE = '''\
import os
import sys

sys.path.insert(0, {repo!r})
from deploy.pythonanywhere.one_app import create_app

BUILT_IN = str(os.getpid())
one_app = create_app()


def application(environ, start_response):
    def start(status, headers, exc_info=None):
        headers = [*headers, ("X-Built-In", BUILT_IN), ("X-Answered-By", str(os.getpid()))]
        return start_response(status, headers, exc_info)
    return one_app(environ, start)
'''


@pytest.fixture
def one_app_files(seeded_cep_db, tmp_path):
    """(directory, environment): the WSGI file `one_app_wsgi.py` in tmp_path, and the environment
    for a server: both services' SQLite databases in tmp_path."""
    (tmp_path / "one_app_wsgi.py").write_text(WSGI_FILE.format(repo=str(REPO_ROOT)), encoding="utf-8")
    shutil.copy(seeded_cep_db, tmp_path / "cep.sqlite3")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CEP_API_", "STAFF_API_", "STAFF_CEP_"))}  # no token, URL or database of ours
    env.update(CEP_API_DB=str(tmp_path / "cep.sqlite3"), STAFF_API_DB=str(tmp_path / "staff.sqlite3"),
               PYTHONUNBUFFERED="1")
    return tmp_path, env


class Server:
    """A WSGI server started in a session of its own, so that stop() can end all its processes."""

    def __init__(self, command, directory, env, port):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = directory / "server.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def get(self, path, deadline):
        """GET `path` once the server answers (it may still be loading the apps)."""
        while True:
            assert self.process.poll() is None, f"the server exited:\n{self.log()}"
            try:
                return requests.get(self.url + path, timeout=10)
            except requests.RequestException:
                assert time.monotonic() < deadline, f"the server did not answer {path}:\n{self.log()}"
                time.sleep(0.2)

    def stop(self):
        """SIGTERM to the master (uWSGI: --die-on-term), as a service manager stops it; then SIGKILL."""
        stop_session(self.process)


@pytest.fixture
def start_server(one_app_files):
    """start_server(command with {port} and {wsgi_file}) -> a running Server, stopped after the test."""
    directory, env = one_app_files
    servers = []

    def start(command):
        port = free_port()
        command = [part.format(port=port, wsgi_file=directory / "one_app_wsgi.py") for part in command]
        servers.append(Server(command, directory, env, port))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def count(db_path, sql):
    """One number read from a SQLite file over a connection of our own (what is committed)."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # a table not created yet
        return None
    finally:
        conn.close()


def exercise_and_check(server, directory, poke=False):
    """Make the requests (employees, address and CEP lookups), then wait until both request logs
    have their rows and the cache's table its hits. With `poke`, a request to each service at each
    look meanwhile (a server whose app threads do not run between requests writes only while it
    answers): a lookup of an unknown CEP, whose hits and rows are not among those counted."""
    server.get("/cep/health", time.monotonic() + START_TIMEOUT)
    answered_by, outcomes = collections.Counter(), collections.Counter()
    built_in = set()
    for number in range(EMPLOYEES):
        resp = requests.post(f"{server.url}/staff/employees", timeout=30,
                            json={"name": f"Worker {number}", "email": f"worker{number}@example.com", "cep": CEP})
        assert resp.status_code == 201, resp.text
        outcomes[resp.headers["X-Cep-Cache"]] += 1
        answered_by[resp.headers["X-Answered-By"]] += 1
        built_in.add(resp.headers["X-Built-In"])
    for _ in range(ADDRESS_LOOKUPS):
        resp = requests.get(f"{server.url}/staff/addresses/{CEP}", timeout=30)
        assert resp.status_code == 200, resp.text
        outcomes[resp.headers["X-Cep-Cache"]] += 1
        answered_by[resp.headers["X-Answered-By"]] += 1
    for _ in range(CEP_LOOKUPS):
        resp = requests.get(f"{server.url}/cep/ceps/{CEP}", timeout=30)
        assert resp.status_code == 200, resp.text
        answered_by[resp.headers["X-Answered-By"]] += 1
    # The app was built in one process (the master) and answered in others (forked workers).
    assert len(built_in) == 1 and not built_in & set(answered_by), (built_in, answered_by)
    hits = sum(outcomes[outcome] for outcome in HIT_OUTCOMES)
    assert hits >= EMPLOYEES + ADDRESS_LOOKUPS - 2, outcomes  # a miss at most in each worker

    staff_db, cep_db = directory / "staff.sqlite3", directory / "cep.sqlite3"
    expected = {  # what each table must come to hold, written by the workers' background rounds
        "staff employee rows": EMPLOYEES,
        "staff address rows": ADDRESS_LOOKUPS,
        "CEP API lookup rows": CEP_LOOKUPS,
        "hits in cep_cache_entry": hits,
    }

    def written():
        return {
            "staff employee rows": count(staff_db, "SELECT count(*) FROM request_log "
                                                   "WHERE method = 'POST' AND route = '/employees'"),
            "staff address rows": count(staff_db, "SELECT count(*) FROM request_log "
                                                  "WHERE route = '/addresses/<cep>' AND status = 200"),
            # The CEP API also logs the staff API's in-process lookups (a miss): at least those sent to it.
            "CEP API lookup rows": min(CEP_LOOKUPS, count(cep_db, "SELECT count(*) FROM request_log "
                                                                  "WHERE route = '/ceps/<cep>'") or 0),
            "hits in cep_cache_entry": count(staff_db, f"SELECT total(hits) FROM cep_cache_entry WHERE cep = '{CEP}'"),
        }

    deadline = time.monotonic() + WRITE_TIMEOUT
    while written() != expected:
        assert time.monotonic() < deadline, (
            f"after {WRITE_TIMEOUT} s the tables hold {written()}, not {expected}; requests answered by "
            f"{dict(answered_by)}\n{server.log()[-3000:]}")
        time.sleep(0.2)
        if poke:
            for path, status in ((f"/staff/addresses/{UNKNOWN_CEP}", 404), ("/cep/health", 200)):
                resp = requests.get(server.url + path, timeout=30)
                assert resp.status_code == status, f"{path}: {resp.status_code} {resp.text}\n{server.log()[-5000:]}"
                answered_by[resp.headers["X-Answered-By"]] += 1
    assert "Traceback" not in server.log(), server.log()
    # SQLite's busy_timeout is 5 s: "locked" means a writer held the database that long.
    assert "database is locked" not in server.log(), server.log()


def uwsgi_binary():
    """The uwsgi that requirements-dev.txt builds from PyPI, or skip saying how to get it."""
    binary = BIN / "uwsgi"
    if not binary.exists():
        pytest.skip("uWSGI is not installed in this venv: `pip install -r requirements-dev.txt` builds it from "
                    "PyPI, which needs Debian's build-essential and python3-dev")
    return str(binary)


def uwsgi_command(binary, processes=2):
    """uWSGI in its default pre-fork mode: the app built in the master (no --lazy-apps), its workers
    forked from it; --die-on-term so that SIGTERM stops it (else it reloads)."""
    return [binary, "--master", "--processes", str(processes), "--http", "127.0.0.1:{port}",
            "--wsgi-file", "{wsgi_file}", "--need-app", "--die-on-term", "--disable-logging"]


def gunicorn_command():
    """gunicorn --preload: the app imported in the arbiter before it forks the workers."""
    pytest.importorskip("gunicorn", reason="gunicorn is not installed: pip install -r requirements-dev.txt")
    return [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", "127.0.0.1:{port}",
            "one_app_wsgi:application"]


def test_one_app_under_uwsgi_master_without_lazy_apps(one_app_files, start_server):
    """(uWSGI 2.0.31 has Python threads on, whether or not --enable-threads is given.)"""
    server = start_server(uwsgi_command(uwsgi_binary()))
    exercise_and_check(server, one_app_files[0])


def test_one_app_under_gunicorn_preload(one_app_files, start_server):
    server = start_server(gunicorn_command())
    exercise_and_check(server, one_app_files[0])


@pytest.fixture(scope="session")
def threadless_uwsgi(tmp_path_factory):
    """The uwsgi binary of uWSGI 2.0.26, the last release whose Python threads are off unless
    --enable-threads is given (from 2.0.27 that option is a stub, always on): a host such as
    PythonAnywhere, where app threads may not run between requests. Built from PyPI once (pip
    keeps the wheel it builds), installed in a directory of its own, not in the venv."""
    uwsgi_binary()  # the same needs as for the venv's own uwsgi
    target = tmp_path_factory.mktemp("uwsgi-2.0.26")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "--no-deps", "--target", str(target), "uwsgi==2.0.26"],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.skip(f"uWSGI 2.0.26 could not be installed from PyPI: {result.stderr.strip()[-500:]}")
    return str(target / "bin" / "uwsgi")


@pytest.mark.parametrize("processes", [1, 2])
def test_one_app_under_uwsgi_without_app_threads(threadless_uwsgi, one_app_files, start_server, processes):
    """uWSGI 2.0.26 without --enable-threads: the rounds are done by the requests (chassis/background.py).
    One worker, as on a free PythonAnywhere account, and two. (A thread there runs only while its worker
    answers: one stopped mid-round kept SQLite's write lock, and the other worker's writes failed,
    "database is locked", now and then.)"""
    directory, env = one_app_files
    # Outside the venv, this uwsgi finds the venv's packages through PYTHONPATH.
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path.endswith("site-packages"))
    server = start_server(uwsgi_command(threadless_uwsgi, processes))
    exercise_and_check(server, directory, poke=True)
    assert "Python threads support is disabled" in server.log()


@pytest.mark.parametrize("server_kind", ["uwsgi", "gunicorn"])
def test_one_app_answers_json_503_while_its_postgresql_is_stopped(server_kind, one_app_files, start_server,
                                                                   own_postgres):
    """The staff API's database stopped under a pre-fork server: the JSON 503 of chassis/web.py,
    whatever the server, and service again once the database is back. (Bottle hands the exception to
    start_response, and uWSGI's raised SystemError on it: it was Bottle's HTML 500 under uWSGI.)"""
    directory, env = one_app_files
    env["STAFF_API_DATABASE_URL"] = own_postgres.create_database("staff")
    server = start_server(uwsgi_command(uwsgi_binary()) if server_kind == "uwsgi" else gunicorn_command())
    assert server.get("/staff/employees", time.monotonic() + START_TIMEOUT).status_code == 200

    own_postgres.stop()
    for path in ("/staff/employees", "/staff/health"):
        resp = requests.get(server.url + path, timeout=30)
        assert (resp.status_code, resp.headers["Content-Type"]) == (503, "application/json"), resp.text[:500]
        assert resp.json()["error"]["status"] == 503 and int(resp.headers["Retry-After"]) > 0
    own_postgres.start()
    deadline = time.monotonic() + WRITE_TIMEOUT
    while requests.get(f"{server.url}/staff/employees", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, f"no service after PostgreSQL came back:\n{server.log()[-3000:]}"
        time.sleep(0.2)
