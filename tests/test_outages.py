"""Broken infrastructure, for real: a PostgreSQL stopped and started again under a running staff
API, a full filesystem under its SQLite file, and the request log's bounded queue meanwhile.

A database that cannot be reached answers 503 with Retry-After (and /health 503, so that HAProxy
and compose route around the process); a full disk answers 507 saying so, while reads go on; the
request log's rows wait in a bounded queue and arrive once the database is back, and those it had
to drop are counted in /logs/summary.
"""
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port, stop_session

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)  # Debian's newest
ANSWER_DEADLINE = 10  # seconds: a request while the database is down must be answered by then, not hang
START_TIMEOUT = 60  # seconds for a service to start on a busy machine
RECOVERY_TIMEOUT = 30  # seconds for the service to serve again, and its queued rows to arrive
CEP = "01001-000"  # in the bundled sample


class Cluster:
    """A PostgreSQL cluster of this test's own (initdb + pg_ctl, as conftest's postgres_server), that
    the test may stop and start: the session's cluster is shared by every test."""

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="cep-staff-outage-pg-"))
        self.as_owner = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.directory, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        self.pg_ctl(["initdb", "-D", self.directory / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--no-sync"])

    def pg_ctl(self, arguments, check=True):
        """Run a PostgreSQL program (initdb or pg_ctl) as the cluster's owner."""
        program, *rest = arguments
        return subprocess.run(self.as_owner + [PG_BIN / program, *rest], check=check, capture_output=True,
                              timeout=120)

    def start(self):
        settings = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl(["pg_ctl", "-D", self.directory / "data", "-o", settings, "-l", self.directory / "log",
                     "-w", "start"])

    def stop(self, mode="fast"):
        """pg_ctl stop: "fast" ends every session (a DBA's stop), then waits until it is down."""
        self.pg_ctl(["pg_ctl", "-D", self.directory / "data", "-m", mode, "-w", "stop"], check=mode != "immediate")

    def create_database(self, name):
        """A new, empty database; its URL."""
        import psycopg2

        conn = psycopg2.connect(f"{self.url}/postgres")
        conn.autocommit = True  # CREATE DATABASE refuses to run in a transaction
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            conn.close()
        return f"{self.url}/{name}"

    def count(self, database, sql, *parameters):
        """One number read over a connection of our own."""
        import psycopg2

        conn = psycopg2.connect(f"{self.url}/{database}")
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchone()[0]
        finally:
            conn.close()


@pytest.fixture
def own_postgres():
    """A running Cluster of this test's own; stopped and deleted after it, whatever happened."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): the outage tests need a real one")
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.directory, ignore_errors=True)


class Service:
    """`python -m <module>` from the repo, the way run.sh starts it, in a session of its own."""

    def __init__(self, module, env, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        prefix = module.upper()
        env = {**env, f"{prefix}_PORT": str(self.port), f"{prefix}_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", module], cwd=REPO_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, f"{module} exited:\n{self.log()}"
            try:
                if requests.get(f"{self.url}/health", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"{module} did not come up:\n{self.log()}"
            time.sleep(0.1)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, **kwargs):
        """One request that must be answered within ANSWER_DEADLINE: a hang fails the test."""
        try:
            return requests.request(method, self.url + path, timeout=ANSWER_DEADLINE, **kwargs)
        except requests.Timeout:
            pytest.fail(f"{method} {path} was not answered within {ANSWER_DEADLINE} s")

    def stop(self):
        """SIGTERM (the service writes what it holds), then SIGKILL to whatever is left."""
        stop_session(self.process)


@pytest.fixture
def start_service(tmp_path):
    """start_service(module, **environment) -> a running Service; every one is stopped after the test."""
    started = []
    base = {name: value for name, value in os.environ.items()
            if not name.startswith(("CEP_API_", "STAFF_API_", "STAFF_CEP_"))}  # no token, URL or database of ours

    def start(module, **env):
        started.append(Service(module, {**base, **env}, tmp_path / f"{module}_{len(started)}.log"))
        return started[-1]

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def cep_process(seeded_cep_db, tmp_path, start_service):
    """A real CEP API process over a copy of the seeded SQLite database."""
    shutil.copy(seeded_cep_db, tmp_path / "cep.sqlite3")
    return start_service("cep_api", CEP_API_DB=str(tmp_path / "cep.sqlite3"))


def employee(number):
    return {"name": f"Employee {number}", "email": f"employee{number}@example.com", "cep": CEP}


def iso(timestamp):
    """A Unix time as /logs?since= and ?until= take it."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def logged(service, since, until, **filters):
    """How many request-log rows /logs holds for requests that came in within [since, until)."""
    resp = service.request("GET", "/logs", params={"since": iso(since), "until": iso(until), "per_page": 1,
                                                   **filters})
    assert resp.status_code == 200, resp.text
    return resp.json()["total"]


def assert_json_error(resp, statuses):
    """The contract's JSON error with one of `statuses`; its message."""
    assert resp.status_code in statuses, (resp.request.method, resp.request.url, resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    error = resp.json()["error"]
    assert error["status"] == resp.status_code and error["message"]
    return error["message"]


def test_staff_api_answers_503_while_postgresql_is_stopped_and_serves_again_once_it_is_back(
        own_postgres, cep_process, start_service):
    url = own_postgres.create_database("staff")
    staff = start_service("staff_api", STAFF_API_DATABASE_URL=url, CEP_API_URL=cep_process.url)
    resp = staff.request("POST", "/employees", json=employee(1))
    assert resp.status_code == 201, resp.text
    ana = resp.json()["id"]
    assert staff.request("GET", f"/employees/{ana}").status_code == 200

    own_postgres.stop()  # every session ended, as a DBA's restart or a crash does
    stopped_at = time.time()
    outage = [("GET", "/employees", None), ("GET", f"/employees/{ana}", None), ("POST", "/employees", employee(2)),
              ("PATCH", f"/employees/{ana}", {"role": "engineer"}), ("PUT", f"/employees/{ana}", employee(3)),
              ("DELETE", f"/employees/{ana}", None), ("GET", "/health", None), ("GET", "/logs", None),
              ("GET", "/logs/summary", None), ("GET", "/cep-cache", None)]
    # Each again, and more than the 32 pooled connections: a connection a failed request took must
    # come back to the pool, or the service would wait for one (and fail) after the outage.
    outage += [("GET", "/employees", None)] * 40
    for method, path, body in outage:
        resp = staff.request(method, path, json=body)
        assert_json_error(resp, {503})
        assert int(resp.headers["Retry-After"]) > 0, resp.headers  # when a client may try again
    restarting_at = time.time()

    own_postgres.start()
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while staff.request("GET", "/health").status_code != 200:
        assert time.monotonic() < deadline, f"the staff API did not serve again:\n{staff.log()[-3000:]}"
        time.sleep(0.2)
    for _ in range(40):  # every pooled connection works again
        assert staff.request("GET", "/employees").status_code == 200
    resp = staff.request("GET", f"/employees/{ana}")
    assert resp.status_code == 200 and resp.json()["role"] == ""  # nothing of the outage's writes was saved
    resp = staff.request("POST", "/employees", json=employee(2))
    assert resp.status_code == 201, resp.text

    # The outage's rows waited in memory and arrive now: each request answered, 503s and all.
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while logged(staff, stopped_at, restarting_at) != len(outage):
        assert time.monotonic() < deadline, (
            f"{logged(staff, stopped_at, restarting_at)} of the outage's {len(outage)} rows were written")
        time.sleep(0.2)
    assert logged(staff, stopped_at, restarting_at, status=503) == len(outage)
    assert staff.request("GET", "/logs/summary").json()["dropped"] == 0  # the queue never filled up


@pytest.fixture
def small_filesystem(tmp_path):
    """A 4 MB tmpfs mounted on tmp_path/small (root only; skipped elsewhere), unmounted after the test."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount_point)],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=60).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True, timeout=60)


def fill(directory):
    """Fill the filesystem of `directory` with one file, to its last byte; the file's path."""
    path = directory / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return path


def staff_api_on_a_full_disk(small_filesystem, cep_process, start_service):
    """(staff, employee id, filler): a staff API whose SQLite file is on `small_filesystem`, with one
    employee, and the filesystem filled up to its last byte by the file `filler`."""
    staff = start_service("staff_api", STAFF_API_DB=str(small_filesystem / "staff.sqlite3"),
                          CEP_API_URL=cep_process.url)
    resp = staff.request("POST", "/employees", json=employee(1))
    assert resp.status_code == 201, resp.text
    return staff, resp.json()["id"], fill(small_filesystem)


def test_staff_api_on_a_full_disk_refuses_writes_serves_reads_and_writes_again_once_there_is_room(
        small_filesystem, cep_process, start_service):
    staff, ana, filler = staff_api_on_a_full_disk(small_filesystem, cep_process, start_service)
    full_at = time.time()
    writes = [("POST", "/employees", employee(2)), ("PATCH", f"/employees/{ana}", {"role": "engineer"}),
              ("DELETE", f"/employees/{ana}", None)]
    for method, path, body in writes:
        assert_json_error(staff.request(method, path, json=body), {507, 503})  # never a 500
    # Reads go on.
    resp = staff.request("GET", "/employees")
    assert resp.status_code == 200 and [item["id"] for item in resp.json()["items"]] == [ana], resp.text
    resp = staff.request("GET", f"/employees/{ana}")
    assert resp.status_code == 200 and resp.json()["role"] == "", resp.text
    room_at = time.time()

    filler.unlink()
    resp = staff.request("POST", "/employees", json=employee(2))
    assert resp.status_code == 201, resp.text
    resp = staff.request("PATCH", f"/employees/{ana}", json={"role": "engineer"})
    assert resp.status_code == 200 and resp.json()["role"] == "engineer", resp.text
    # The rows of the requests answered meanwhile waited, and are written now.
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    answered = len(writes) + 2  # and the two reads
    while logged(staff, full_at, room_at) != answered:
        assert time.monotonic() < deadline, f"{logged(staff, full_at, room_at)} of the full disk's {answered} rows"
        time.sleep(0.2)
    assert logged(staff, full_at, room_at, status=200) == 2
    assert staff.request("GET", "/logs/summary").json()["dropped"] == 0
    staff.stop()  # before the filesystem is unmounted


def test_staff_api_on_a_full_disk_says_the_disk_is_full(small_filesystem, cep_process, start_service):
    staff, ana, _ = staff_api_on_a_full_disk(small_filesystem, cep_process, start_service)
    for method, path, body in [("POST", "/employees", employee(2)), ("PATCH", f"/employees/{ana}", {"role": "x"})]:
        message = assert_json_error(staff.request(method, path, json=body), {507, 503})
        assert "full" in message.lower(), message  # it says why, so that a user knows what to do
    staff.stop()  # before the filesystem is unmounted


def test_request_log_queue_is_bounded_while_the_database_is_down_and_counts_what_it_drops(
        own_postgres, serve, monkeypatch):
    """In-process, so that the queue can be small (the failure is real: PostgreSQL is stopped).
    Every request answered during the outage has its row written afterwards, or counted as dropped."""
    from chassis import request_log
    from staff_api.app import create_app

    monkeypatch.setattr(request_log, "MAX_QUEUED", 5, raising=False)  # raising=False: absent before the fix
    url = own_postgres.create_database("staff")
    app = create_app({"staff_api.database_url": url, "staff_api.db_path": "",
                      "staff_api.cep_api_url": f"http://127.0.0.1:{free_port()}",  # nothing there: not needed
                      "staff_api.cep_timeout": 1.0, "staff_api.log": True})
    try:
        server = serve(app)
        assert requests.get(f"{server.url}/employees", timeout=ANSWER_DEADLINE).status_code == 200
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while own_postgres.count("staff", "SELECT count(*) FROM request_log") < 1:  # the writer is idle now
            assert time.monotonic() < deadline, "the first row was not written"
            time.sleep(0.1)

        own_postgres.stop()
        stopped_at = time.time()
        # More than the queue and one batch taken from it (BATCH_ROWS) can hold.
        requests_sent = 5 + getattr(request_log, "BATCH_ROWS", 100) + 50
        for _ in range(requests_sent):
            resp = requests.get(f"{server.url}/employees", timeout=ANSWER_DEADLINE)
            assert resp.status_code == 503, resp.text
        restarting_at = time.time()
        own_postgres.start()

        # No request now, until the writer has written what it kept: each would queue a row too.
        logger = app.config["chassis.request_log"]
        sql = "SELECT count(*) FROM request_log WHERE time >= %s AND time < %s"
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while own_postgres.count("staff", sql, stopped_at, restarting_at) + logger.dropped != requests_sent:
            assert time.monotonic() < deadline, (
                f"{own_postgres.count('staff', sql, stopped_at, restarting_at)} rows written and {logger.dropped} "
                f"dropped of the {requests_sent} requests")
            time.sleep(0.1)
        kept = own_postgres.count("staff", sql, stopped_at, restarting_at)
        assert 0 < kept <= 5 + getattr(request_log, "BATCH_ROWS", 100)
        summary = requests.get(f"{server.url}/logs/summary", timeout=ANSWER_DEADLINE)
        assert summary.status_code == 200, summary.text
        assert summary.json()["dropped"] == requests_sent - kept > 0
    finally:
        app.close()
