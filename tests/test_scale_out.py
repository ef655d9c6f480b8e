"""Several processes per service behind one address, on PostgreSQL, for real: HAProxy with the
shipped deploy/haproxy/cep-staff.cfg in front of two CEP API and two staff API processes, each
service on a PostgreSQL database of its own (docs/scaling.md). Skipped without HAProxy or
PostgreSQL. The processes start together, so they also migrate their databases at the same time."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import requests

from conftest import REPO_ROOT, free_port, get_once_up, run_sql

HAPROXY = shutil.which("haproxy")
CONFIG = REPO_ROOT / "deploy" / "haproxy" / "cep-staff.cfg"
SHIPPED_PORTS = (8001, 8011, 8012, 8002, 8021, 8022)  # fronts and processes, as the file has them
SEEN_WITHIN = 3.0  # seconds this test waits for a write to show everywhere (the bound is 1 s)
ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001000"}


@pytest.fixture(scope="module")
def scaled_out(tmp_path_factory, postgres_server, seeded_cep_template):
    """{"cep": front URL, "staff": front URL, "processes": {port: Popen}} for the whole module."""
    if HAPROXY is None:
        pytest.skip("HAProxy is not installed (apt-get install haproxy): the scale-out test is skipped")
    directory = tmp_path_factory.mktemp("scale-out")
    ports = {shipped: free_port() for shipped in SHIPPED_PORTS}
    run_sql(postgres_server, f"CREATE DATABASE scale_cep TEMPLATE {seeded_cep_template}")
    run_sql(postgres_server, "CREATE DATABASE scale_staff")
    config = CONFIG.read_text(encoding="utf-8")
    for shipped, port in ports.items():
        config = config.replace(f"127.0.0.1:{shipped}", f"127.0.0.1:{port}")
    (directory / "haproxy.cfg").write_text(config, encoding="utf-8")
    fronts = {"cep": f"http://127.0.0.1:{ports[8001]}", "staff": f"http://127.0.0.1:{ports[8002]}"}
    environ = {**os.environ, "CEP_API_DATABASE_URL": f"{postgres_server}/scale_cep",
               "STAFF_API_DATABASE_URL": f"{postgres_server}/scale_staff", "CEP_API_URL": fronts["cep"]}
    processes = {}
    try:
        for service, variable, shipped in (("cep_api", "CEP_API_PORT", 8011), ("cep_api", "CEP_API_PORT", 8012),
                                           ("staff_api", "STAFF_API_PORT", 8021), ("staff_api", "STAFF_API_PORT", 8022)):
            processes[shipped] = subprocess.Popen([sys.executable, "-m", service], cwd=REPO_ROOT,
                                                  env={**environ, variable: str(ports[shipped])},
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for shipped in (8011, 8012, 8021, 8022):
            get_once_up(f"http://127.0.0.1:{ports[shipped]}/health", timeout=30)
        # Last, so that its first health checks find every process up.
        processes["haproxy"] = subprocess.Popen([HAPROXY, "-f", directory / "haproxy.cfg", "-db"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for front in fronts.values():
            assert get_once_up(front + "/health").status_code == 200
        yield {**fronts, "processes": processes}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=10)
        run_sql(postgres_server, "DROP DATABASE IF EXISTS scale_cep WITH (FORCE)")
        run_sql(postgres_server, "DROP DATABASE IF EXISTS scale_staff WITH (FORCE)")


def served_by(url, times=8):
    """Which processes answered `times` GETs of `url` through the proxy."""
    return {requests.get(url, timeout=5).headers["X-Served-By"] for _ in range(times)}


def test_each_front_spreads_requests_over_both_processes(scaled_out):
    assert served_by(scaled_out["cep"] + "/ceps/01001000") == {"cep1", "cep2"}
    assert served_by(scaled_out["staff"] + "/health") == {"staff1", "staff2"}


def test_a_cep_write_through_one_process_is_read_through_both_within_the_bound(scaled_out):
    cep = scaled_out["cep"]
    served_by(cep + "/ceps/01310100")  # both processes have the answer memoized
    assert requests.patch(cep + "/ceps/01310100", json={"bairro": "Paulista"}, timeout=5).status_code == 200
    deadline = time.monotonic() + SEEN_WITHIN
    while time.monotonic() < deadline:
        answers = [requests.get(cep + "/ceps/01310100", timeout=5) for _ in range(4)]
        if all(answer.json()["bairro"] == "Paulista" for answer in answers):
            break
        time.sleep(0.05)
    assert {answer.json()["bairro"] for answer in answers} == {"Paulista"}
    assert {answer.headers["X-Served-By"] for answer in answers} == {"cep1", "cep2"}


def cep_lookups(cep_front, at_least=0):
    """How many GET /ceps/<cep> the CEP API's processes have logged, once two readings 0.3 s apart
    agree (their writers flush every 0.1 s; a busy machine may make them late)."""
    deadline, last = time.monotonic() + 10, None
    while True:
        total = requests.get(cep_front + "/logs", params={"route": "/ceps/<cep>", "method": "GET"},
                             timeout=5).json()["total"]
        if (total == last and total >= at_least) or time.monotonic() > deadline:
            return total
        last = total
        time.sleep(0.3)


def test_employees_through_the_proxy_share_one_cache_and_one_unique_email(scaled_out):
    staff, cep = scaled_out["staff"], scaled_out["cep"]
    before = cep_lookups(cep)
    created = [requests.post(staff + "/employees", json={**ANA, "email": f"ana{n}@example.com"}, timeout=5)
               for n in range(6)]
    assert [answer.status_code for answer in created] == [201] * 6
    assert [answer.headers["X-Cep-Cache"] for answer in created] == ["miss"] + ["hit"] * 5
    assert {answer.headers["X-Served-By"] for answer in created} == {"staff1", "staff2"}
    assert cep_lookups(cep, at_least=before + 1) == before + 1  # the other staff process found the entry in the shared table
    taken = [requests.post(staff + "/employees", json={**ANA, "email": "ANA0@example.com"}, timeout=5)
             for _ in range(2)]
    assert [answer.status_code for answer in taken] == [409, 409]  # whichever process answers


def test_a_stopped_staff_process_is_routed_around(scaled_out):
    process = scaled_out["processes"][8022]
    process.terminate()
    process.wait(timeout=10)
    answers = [requests.get(scaled_out["staff"] + "/employees", timeout=5) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.headers["X-Served-By"] for answer in answers} == {"staff1"}


# --- moving the staff API's data from SQLite to PostgreSQL (docs/scaling.md) -----------------

MOVE_STEP = re.compile(r"<!-- staff-to-postgresql -->\n```sh\n(?P<commands>.*?)```", re.S)


@pytest.fixture
def engine():
    """The move test's CEP API (cep_server) runs on SQLite: the move is what is tested."""
    return "sqlite"


@pytest.mark.skipif(shutil.which("sqlite3") is None or shutil.which("psql") is None,
                    reason="the move in docs/scaling.md uses sqlite3 and psql (apt-get install sqlite3 postgresql-client)")
def test_the_documented_move_carries_the_employees_to_postgresql(tmp_path, cep_server, new_postgres_database):
    from webtest import TestApp

    from staff_api.app import create_app

    sqlite_path = tmp_path / "staff.sqlite3"
    old = create_app({"staff_api.db_path": str(sqlite_path), "staff_api.cep_api_url": cep_server.url,
                      "staff_api.log": False})
    client = TestApp(old)
    client.post_json("/employees", ANA)  # role, number and complement empty
    client.post_json("/employees", {"name": "Bruno, \"Lima\"", "email": "bruno@example.com", "cep": "01310-100",
                                    "role": "Engineer", "number": "1, 2"})  # commas, quotes: CSV must keep them
    client.delete("/employees/1")  # a gap in the ids
    client.post_json("/employees", {**ANA, "email": "ana.souza@example.com", "complement": "apto 12"})
    before = client.get("/employees").json
    old.config["staff_api.cep_cache"].close()

    url = new_postgres_database()
    commands = MOVE_STEP.search((REPO_ROOT / "docs" / "scaling.md").read_text(encoding="utf-8"))["commands"]
    moved = subprocess.run(["bash", "-ec", commands], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "STAFF_API_DB": str(sqlite_path), "STAFF_API_DATABASE_URL": url})
    assert moved.returncode == 0, moved.stderr

    new = create_app({"staff_api.database_url": url, "staff_api.cep_api_url": cep_server.url, "staff_api.log": False})
    client = TestApp(new)
    try:
        assert client.get("/employees").json == before
        assert client.post_json("/employees", {**ANA, "email": "carla@example.com"}).json["id"] == 4
        assert client.post_json("/employees", {**ANA, "email": "BRUNO@example.com"}, status=409)
    finally:
        new.config["staff_api.cep_cache"].close()
