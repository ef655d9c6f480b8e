"""Fixtures shared by the whole suite: fresh apps on temporary databases, real servers on loopback."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from pathlib import Path

import pytest
import requests
from webtest.http import StopableWSGIServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# The services are run from the repo root (python -m cep_api), not installed.
sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def seeded_cep_db(tmp_path_factory):
    """A CEP database with the bundled 2,711-row sample, built once; tests use copies."""
    from cep_api.migrations import MIGRATIONS
    from cep_api.models import TABLES, db
    from cep_api.seed import seed
    from chassis.migrations import open_and_migrate

    path = tmp_path_factory.mktemp("template") / "cep.sqlite3"
    open_and_migrate(db, {"db_path": path, "database_url": ""}, MIGRATIONS, TABLES)
    seed()
    with db.write_lock:  # an earlier test's app may still be writing its request log
        db.close_all()  # checkpoints the WAL into the file so a plain copy is complete
    return path


# --- PostgreSQL: a throwaway cluster, and a fresh database per test ---------------------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)  # Debian's newest
DATABASE_NUMBERS = count(1)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster of its own (initdb + pg_ctl) on a free loopback port; its base URL.

    Skipped when PostgreSQL is not installed. As root, the cluster runs as the postgres user
    (PostgreSQL refuses root), in a directory that user owns; it is stopped and deleted at the end."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL runs are skipped")
    directory = Path(tempfile.mkdtemp(prefix="cep-staff-pg-"))
    as_owner = []
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(as_owner + [PG_BIN / "initdb", "-D", directory / "data", "-U", "postgres", "--auth=trust",
                               "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    settings = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    subprocess.run(as_owner + [PG_BIN / "pg_ctl", "-D", directory / "data", "-o", settings, "-l", directory / "log",
                               "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(as_owner + [PG_BIN / "pg_ctl", "-D", directory / "data", "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def run_sql(server_url, statement):
    """Run one statement on the cluster's `postgres` database, outside any transaction."""
    import psycopg2

    conn = psycopg2.connect(f"{server_url}/postgres")
    conn.autocommit = True  # CREATE and DROP DATABASE refuse to run in a transaction
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def seeded_cep_template(postgres_server):
    """A PostgreSQL database with the CEP API's tables and the bundled sample; tests get copies."""
    from cep_api.migrations import MIGRATIONS
    from cep_api.models import TABLES, db
    from cep_api.seed import seed
    from chassis.migrations import open_and_migrate

    run_sql(postgres_server, "CREATE DATABASE cep_template")
    open_and_migrate(db, {"db_path": "", "database_url": f"{postgres_server}/cep_template"}, MIGRATIONS, TABLES)
    seed()
    with db.write_lock:  # an earlier test's app may still be writing its request log
        db.close_all()  # a template may have no connection when it is copied
    return "cep_template"


@pytest.fixture
def new_postgres_database(postgres_server):
    """new_postgres_database(template=None) -> the URL of a new, empty (or copied) database,
    dropped when the test ends."""
    names = []

    def create(template=None):
        names.append(f"test_{os.getpid()}_{next(DATABASE_NUMBERS)}")
        run_sql(postgres_server, f"CREATE DATABASE {names[-1]}" + (f" TEMPLATE {template}" if template else ""))
        return f"{postgres_server}/{names[-1]}"

    yield create
    for name in names:
        run_sql(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # the pools' connections too


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    """The database engine an app fixture uses: each test that takes cep_app or make_staff_app runs
    on both. A test that also reads the SQLite file itself (cep_db_path, staff_db_path) runs on
    SQLite only."""
    if request.param == "postgresql" and {"cep_db_path", "staff_db_path"} & set(request.fixturenames):
        pytest.skip("this test reads the SQLite file itself")
    return request.param


@pytest.fixture
def cep_db_path(seeded_cep_db, tmp_path):
    """A private copy of the seeded CEP database for one test."""
    path = tmp_path / "cep.sqlite3"
    shutil.copy(seeded_cep_db, path)
    return path


@pytest.fixture
def cep_app(engine, request):
    """A fresh CEP API app over a seeded database (a SQLite copy, or a PostgreSQL one); closed when
    the test ends (see make_staff_app)."""
    from cep_api.app import create_app

    if engine == "postgresql":
        url = request.getfixturevalue("new_postgres_database")(request.getfixturevalue("seeded_cep_template"))
        app = create_app({"cep_api.database_url": url})
    else:
        app = create_app({"cep_api.db_path": str(request.getfixturevalue("cep_db_path"))})
    yield app
    app.close()


class QuickStopServer(StopableWSGIServer):
    """WebTest's stoppable waitress server, polling every 50 ms instead of 500 ms, so that a
    test does not wait half a second for the server thread to notice its shutdown."""

    def run(self):
        try:
            self.asyncore.loop(0.05, map=self._map)
        except OSError:
            if not self.was_shutdown:
                raise


class LoopbackServer:
    """A WSGI app served by real waitress on 127.0.0.1 and an ephemeral port, in a thread.

    WebTest's StopableWSGIServer is a waitress server that can also be shut down cleanly
    (listening socket, open connections and worker threads), which plain waitress cannot.
    """

    def __init__(self, app, threads=4):
        self.server = QuickStopServer.create(
            app, host="127.0.0.1", port=0, threads=threads, expose_tracebacks=False)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        """Stop listening, close every connection and worker; the port is free afterwards."""
        self.server.shutdown()
        self.server.runner.join(timeout=5)


@pytest.fixture
def serve():
    """serve(app) -> a running LoopbackServer, stopped when the test ends."""
    servers = []

    def start(app, threads=4):
        server = LoopbackServer(app, threads)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def assert_error(resp, status):
    """A WebTest response in the contract's error shape: JSON, never HTML or a traceback."""
    assert resp.status_int == status
    assert resp.content_type == "application/json"
    error = resp.json["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in resp.text
    return error


def assert_bad_request_answered(client, method, path, body, content_type, status, fields):
    """Send one row of a bad-input table with WebTest; check the status and the error's fields.

    `body` is a dict or list (sent as JSON), text sent with `content_type`, or bytes sent as they are
    (a body that is not UTF-8).
    """
    if isinstance(body, (dict, list)):
        body, content_type = json.dumps(body), content_type or "application/json"
    if not isinstance(body, bytes):
        body = (body or "").encode()
    resp = client.request(path, method=method, body=body, content_type=content_type, expect_errors=True)
    error = assert_error(resp, status)
    assert set(error.get("fields", {})) == (fields or set())  # the fields at fault, and only they
    if status == 405:
        assert resp.headers["Allow"]


def get_once_up(url, timeout=10):
    """GET `url` as soon as a server starting in another process accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"nothing answered {url} within {timeout} s"
            time.sleep(0.05)


@pytest.fixture
def run_service(tmp_path):
    """run_service(name, **env) -> (process, url): `python -m name` on a loopback port, stopped at the end."""
    processes = []

    def start(name, **env):
        port = free_port()
        prefix = "CEP_API" if name == "cep_api" else "STAFF_API"
        environ = {key: value for key, value in os.environ.items() if not key.endswith("_TOKEN")}
        environ.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port),
                        f"{prefix}_DB": str(tmp_path / f"{name}.sqlite3"), **env})
        process = subprocess.Popen([sys.executable, "-m", name], cwd=REPO_ROOT, env=environ,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        get_once_up(url + "/health")
        return process, url

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


PORTS_HANDED_OUT = set()


def free_port():
    """A port nobody listens on right now (bound and released at once), never handed out before in
    this run: two calls in a row may otherwise get the same port (about 1 set of 6 in 1,000)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in PORTS_HANDED_OUT:
            PORTS_HANDED_OUT.add(port)
            return port


class RequestLog:
    """WSGI middleware that records what a real server was asked and answered.

    Wrapped around the real CEP API, it lets a test prove that the staff API made no
    HTTP call at all (a cache hit) or sent a conditional GET (a revalidation).
    """

    def __init__(self, app):
        self.app = app
        self.calls = []  # (method, path, If-None-Match, status)

    def __call__(self, environ, start_response):
        def recording_start_response(status, headers, exc_info=None):
            self.calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                               environ.get("HTTP_IF_NONE_MATCH"), int(status.split()[0])))
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    def lookups(self):
        """The CEP lookups served so far (health checks left out)."""
        return [call for call in self.calls if call[1].startswith("/ceps/")]


@pytest.fixture
def cep_server(cep_app, serve):
    """The real CEP API on a loopback port, seeded, with `.log` of the requests it served."""
    log = RequestLog(cep_app)
    server = serve(log)
    server.log = log
    return server


@pytest.fixture
def staff_db_path(tmp_path):
    return tmp_path / "staff.sqlite3"


@pytest.fixture
def make_staff_app(engine, request):
    """make_staff_app(cep_api_url, **settings) -> a staff app over this test's staff database.

    Each app's CEP cache and request log are closed when the test ends, so that their background
    writers have written their last hits and rows into this test's database, not the next test's.
    """
    from staff_api.app import create_app

    apps = []
    if engine == "postgresql":
        db_path, url = "", request.getfixturevalue("new_postgres_database")()
    else:
        db_path, url = str(request.getfixturevalue("staff_db_path")), ""

    def make(cep_api_url, **settings):
        config = {"staff_api.db_path": db_path, "staff_api.database_url": url,
                  "staff_api.cep_api_url": cep_api_url,
                  "staff_api.cep_timeout": 2.0, "staff_api.cep_cache_ttl": 86400.0,
                  "staff_api.cep_negative_ttl": 300.0}
        config.update({f"staff_api.{name}": value for name, value in settings.items()})
        apps.append(create_app(config))
        return apps[-1]

    yield make
    for app in apps:
        app.close()  # the cache's and the request log's threads write what they hold


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


# --- the chassis's tests: one test, run once per service ---------------------------------------

SERVICES = ("cep_api", "staff_api")
NO_CEP_API = "http://127.0.0.1:9"  # a port nobody listens on: a staff app that never reaches a CEP API


@pytest.fixture(params=SERVICES)
def service_name(request):
    """The package of a service: a test of the chassis that takes it runs once for each service."""
    return request.param


@pytest.fixture
def make_app(service_name, engine, request):
    """make_app(**settings) -> an app of the service `service_name` on this test's engine, closed when
    the test ends: the CEP API over the seeded sample, the staff API over an empty database and, unless
    `cep_api_url` is given, no CEP API."""
    if service_name == "cep_api":
        return request.getfixturevalue("make_cep_app")
    make_staff = request.getfixturevalue("make_staff_app")
    return lambda cep_api_url=NO_CEP_API, **settings: make_staff(cep_api_url, **settings)


@pytest.fixture
def service_app(service_name, make_app, request):
    """An app of the service `service_name` that works in full: the CEP API seeded, the staff API with
    the real CEP API (cep_server) behind it, so that it can create employees."""
    if service_name == "staff_api":
        return make_app(cep_api_url=request.getfixturevalue("cep_server").url)
    return make_app()


@pytest.fixture
def database_outage():
    """database_outage(app, service, table) -> a context manager during which the app's database really
    fails: on SQLite `table` is renamed away (every statement on it is an OperationalError, as when the
    file is locked or gone); on PostgreSQL the database takes no connection and its open ones are
    ended. It answers again afterwards."""
    from contextlib import contextmanager

    @contextmanager
    def fail(app, service, table):
        url = app.config[f"{service}.database_url"]
        if not url:
            run_on_database(app.config, service, f"ALTER TABLE {table} RENAME TO {table}_away")
            try:
                yield
            finally:
                run_on_database(app.config, service, f"ALTER TABLE {table}_away RENAME TO {table}")
            return
        server, name = url.rsplit("/", 1)
        run_sql(server, f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        run_sql(server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            yield
        finally:
            run_sql(server, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")

    return fail


def committed_rows(config, service, sql):
    """What `sql` reads over a connection of its own (so only what is committed) from the database
    in an app's config: PostgreSQL when it has a URL, else its SQLite file."""
    conn = connect_to(config, service)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def run_on_database(config, service, sql):
    """Run one statement on the database in an app's config, over a connection of its own, and commit."""
    conn = connect_to(config, service)
    try:
        conn.cursor().execute(sql)
        conn.commit()
    finally:
        conn.close()


def connect_to(config, service):
    """A DB-API connection of our own to the database in an app's config: PostgreSQL or SQLite."""
    import sqlite3

    import psycopg2

    url = config[f"{service}.database_url"]
    return psycopg2.connect(url) if url else sqlite3.connect(config[f"{service}.db_path"])


def count_rows(db_path, table):
    """Rows committed in `table`, read over a separate connection."""
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


class RunSh:
    """`./run.sh` started from a copy of the repo, on free ports, the way a user starts it."""

    def __init__(self, repo_copy, log_path, ports=None):
        self.repo = repo_copy
        self.cep_port, self.staff_port = ports or (free_port(), free_port())
        self.cep_url = f"http://127.0.0.1:{self.cep_port}"
        self.staff_url = f"http://127.0.0.1:{self.staff_port}"
        self.env = {**os.environ, "CEP_API_PORT": str(self.cep_port), "STAFF_API_PORT": str(self.staff_port)}
        for name in ("CEP_API_URL", "CEP_API_DB", "STAFF_API_DB", "CEP_API_HOST", "STAFF_API_HOST"):
            self.env.pop(name, None)  # the defaults, as on a fresh clone
        self.log_path = log_path
        with open(log_path, "wb") as log:
            # Its own session, so that cleanup can end every process it started.
            self.process = subprocess.Popen(["bash", "run.sh"], cwd=repo_copy, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_until_up(self, timeout=60):
        """Wait until run.sh says both services are up, and check that both /health answer."""
        deadline = time.monotonic() + timeout
        # The banner is run.sh's own "ready": printed once both answered, and after it a
        # SIGTERM is handled as a stop, not an interrupted start.
        while "Press Ctrl-C to stop" not in self.log():
            assert self.process.poll() is None, f"run.sh exited early:\n{self.log()}"
            assert time.monotonic() < deadline, f"run.sh did not come up:\n{self.log()}"
            time.sleep(0.1)
        for url in (self.cep_url, self.staff_url):
            assert requests.get(f"{url}/health", timeout=5).status_code == 200

    def service_pids(self):
        return [int((self.repo / "var" / f"{name}.pid").read_text()) for name in ("cep_api", "staff_api")]

    def terminate(self, timeout=20):
        """SIGTERM to run.sh alone, as a service manager would; return its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def cleanup(self):
        """Whatever happened in the test, leave no process behind."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def repo_copy(tmp_path):
    """The repo's files in a temp dir (no var/, no .git), sharing this test run's virtualenv."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO_ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "__pycache__", ".pytest_cache", ".coverage*", "htmlcov"))
    if sys.prefix != sys.base_prefix:  # running inside a venv: let run.sh use it, no reinstall
        (copy / ".venv").symlink_to(sys.prefix)
    return copy


@pytest.fixture
def run_sh(repo_copy, tmp_path):
    """run_sh(ports=None) -> a started RunSh; every process it started is gone after the test."""
    started = []

    def start(ports=None):
        runner = RunSh(repo_copy, tmp_path / f"run_sh_{len(started)}.log", ports)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.cleanup()


def port_is_closed(port):
    """True when nothing accepts connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def process_is_gone(pid):
    """True when no process has this pid any more (or it is a zombie nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


# --- a raw TCP server, for answers no real server would give -----------------------------------

class RawServer:
    """A TCP server on 127.0.0.1 that reads each request's head, then runs `answer(conn, stopping)`.

    One thread per connection; `stop()` ends them all (handlers wait on `stopping`, never sleep).
    """

    def __init__(self, answer):
        self.answer = answer
        self.heads = []  # the request heads received (bytes), in order
        self.connections = 0
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)  # accept() wakes up to notice stop()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads = [threading.Thread(target=self._accept_until_stopped)]
        self.threads[0].start()

    def _accept_until_stopped(self):
        """Accept connections, each served in a thread of its own, until stop()."""
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,))
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn):
        """Read one request's head, record it, and answer."""
        with conn:
            try:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                self.heads.append(head)
                self.answer(conn, self.stopping)
            except OSError:  # the client gave up and closed: what most tests here expect
                pass

    def stop(self):
        """End every thread of the server and close its socket."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def raw_server():
    """raw_server(answer) -> a running RawServer, stopped when the test ends."""
    servers = []

    def start(answer):
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def stop_session(process, timeout=30):
    """SIGTERM to a process started in a session of its own (start_new_session=True), as a service
    manager stops it; after `timeout` s, or once it is gone, SIGKILL to whatever is left of its session."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
