"""Two processes of one service on one database, as a host with several workers runs them: a write
through one is seen by the other within the documented bound (docs/scaling.md), never "until
restart". Each process is a real `python -m ...` on its own loopback port."""
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import requests

from conftest import REPO_ROOT, free_port, get_once_up

SEEN_WITHIN = 3.0  # seconds this test waits; the bound is 0.5 s (CEP API) and 1 s (staff API)


@contextmanager
def two_processes(service, environ):
    """Two `python -m <service>` on free ports with the same environment (so the same database)."""
    ports = [free_port(), free_port()]
    prefix = service.upper()
    processes = [subprocess.Popen([sys.executable, "-m", service], cwd=REPO_ROOT,
                                  env={**os.environ, **environ, f"{prefix}_PORT": str(port)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            get_once_up(url + "/health")
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def poll_until(condition):
    """Call condition() until it is true, or SEEN_WITHIN seconds have passed; its last value."""
    deadline = time.monotonic() + SEEN_WITHIN
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_a_cep_written_through_one_process_is_answered_anew_by_the_other(cep_db_path):
    with two_processes("cep_api", {"CEP_API_DB": str(cep_db_path), "CEP_API_LOG": "off"}) as (first, second):
        before = requests.get(first + "/ceps/01001000", timeout=5)
        assert requests.get(first + "/ws/01001000/json/", timeout=5).json()["bairro"] == "Sé"  # both memoized
        changed = requests.patch(second + "/ceps/01001000", json={"bairro": "Centro"}, timeout=5)
        assert changed.status_code == 200
        assert poll_until(lambda: requests.get(first + "/ceps/01001000", timeout=5).json()["bairro"] == "Centro")
        again = requests.get(first + "/ceps/01001000", headers={"If-None-Match": before.headers["ETag"]}, timeout=5)
        assert again.status_code == 200 and again.headers["ETag"] == changed.headers["ETag"]
        assert requests.get(first + "/ws/01001000/json/", timeout=5).json()["bairro"] == "Centro"


def test_an_eviction_through_one_staff_process_empties_the_others_memory(tmp_path, cep_server):
    environ = {"STAFF_API_DB": str(tmp_path / "staff.sqlite3"), "CEP_API_URL": cep_server.url,
               "STAFF_API_LOG": "off"}
    with two_processes("staff_api", environ) as (first, second):
        outcomes = [requests.get(first + "/addresses/01001000", timeout=5).headers["X-Cep-Cache"] for _ in range(2)]
        assert outcomes == ["miss", "hit"]  # the second from the first process's memory
        assert requests.delete(second + "/cep-cache/01001000", timeout=5).status_code == 204
        assert poll_until(lambda: requests.get(first + "/addresses/01001000", timeout=5).headers["X-Cep-Cache"]
                          == "miss")
        assert len(cep_server.log.lookups()) == 2  # fetched again, once
