"""The settings every service reads, and `python -m <service>` (chassis/serving.py): migrate, serve
with waitress's limits, refuse to listen beyond loopback without a token, stop on SIGTERM after the
background threads have written what they hold."""
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
import requests

from conftest import NO_CEP_API, REPO_ROOT, count_rows, free_port, get_once_up


def test_a_service_refuses_to_listen_beyond_loopback_without_a_token(tmp_path, service_name):
    env = {key: value for key, value in os.environ.items() if not key.endswith("_TOKEN")}
    prefix = service_name.upper()
    run = subprocess.run([sys.executable, "-m", service_name], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=30, env={**env, f"{prefix}_HOST": "0.0.0.0",
                                          f"{prefix}_DB": str(tmp_path / f"{service_name}.sqlite3")})
    assert run.returncode == 2
    assert f"{prefix}_TOKEN" in run.stderr and f"{prefix}_ALLOW_OPEN=1" in run.stderr


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.0.10", False), ("example.com", False)])
def test_which_hosts_count_as_loopback(host, loopback):
    from chassis.serving import is_loopback

    assert is_loopback(host) == loopback


def test_waitress_refuses_a_huge_body_without_reading_it(run_service):
    _, url = run_service("cep_api")
    just_too_big = requests.post(url + "/ceps", data=b"{" + b" " * (101 * 1024) + b"}",
                                 headers={"Content-Type": "application/json"}, timeout=10)
    assert just_too_big.status_code == 413 and just_too_big.json()["error"]["status"] == 413
    # Headers announcing 10 MiB, and no body at all: the answer comes at once, nothing is buffered.
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /ceps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10485760\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 413")


# --- settings ----------------------------------------------------------------------------------

def test_the_settings_have_safe_defaults():
    from chassis.serving import settings_from_env

    assert settings_from_env("staff_api", 8002, {}) == {
        "staff_api.db_path": str(REPO_ROOT / "var" / "staff.sqlite3"), "staff_api.database_url": "",
        "staff_api.host": "127.0.0.1", "staff_api.port": 8002,
        "staff_api.allowed_hosts": ("localhost", "127.0.0.1", "::1", "127.0.0.1"),
        "staff_api.token": "", "staff_api.allow_open": False, "staff_api.log": True,
        "staff_api.log_retention_days": 7.0, "staff_api.log_max_rows": 100_000}


def test_each_service_reads_its_own_variables_and_allows_the_host_it_listens_on():
    from chassis.serving import section, settings_from_env

    environ = {"CEP_API_HOST": "Cep.Example.ORG", "CEP_API_PORT": "9001", "CEP_API_DB": "/data/cep.db",
               "CEP_API_ALLOWED_HOSTS": "Api.Example.org, other.example  third.example,,",
               "CEP_API_TOKEN": "t", "CEP_API_ALLOW_OPEN": "1", "CEP_API_LOG": "OFF",
               "CEP_API_LOG_RETENTION_DAYS": "0.5", "CEP_API_LOG_MAX_ROWS": "10",
               "STAFF_API_TOKEN": "someone else's", "CEP_API_DATABASE_URL": "postgresql://db/cep"}
    settings = settings_from_env("cep_api", 8001, environ)
    assert section(settings, "cep_api") == {
        "db_path": "/data/cep.db", "database_url": "postgresql://db/cep", "host": "Cep.Example.ORG", "port": 9001,
        "allowed_hosts": ("localhost", "127.0.0.1", "::1", "cep.example.org", "api.example.org", "other.example",
                          "third.example"),
        "token": "t", "allow_open": True, "log": False, "log_retention_days": 0.5, "log_max_rows": 10}
    assert section({**settings, "staff_api.token": "x", "cep_api_other.x": 1}, "cep_api") == section(settings,
                                                                                                     "cep_api")


# --- python -m <service> -----------------------------------------------------------------------

@pytest.fixture
def service_env(service_name, tmp_path, monkeypatch):
    """The environment of `python -m <service_name>` run in this process: its own database in tmp_path,
    a free loopback port, no token, no database URL; the staff API with no CEP API. Its (port, db path)."""
    prefix, port = service_name.upper(), free_port()
    for name in list(os.environ):
        if name.startswith(("CEP_API_", "STAFF_API_", "STAFF_CEP_")):
            monkeypatch.delenv(name)
    db_path = tmp_path / f"{service_name}.sqlite3"
    monkeypatch.setenv(f"{prefix}_HOST", "127.0.0.1")
    monkeypatch.setenv(f"{prefix}_PORT", str(port))
    monkeypatch.setenv(f"{prefix}_DB", str(db_path))
    if service_name == "staff_api":
        monkeypatch.setenv("CEP_API_URL", NO_CEP_API)
    return port, db_path


def main_of(service):
    """The function `python -m <service>` runs (it reads the environment each time it is called)."""
    return importlib.import_module(f"{service}.__main__").main


USAGE = {"cep_api": "usage: python -m cep_api [seed [--if-empty] [CSV] | migrate]\n",
         "staff_api": "usage: python -m staff_api [migrate]\n"}


@pytest.mark.parametrize("argv", [["serve-please"], ["extra"], ["migrate", "now"]])
def test_an_unknown_command_prints_the_usage_and_does_nothing(service_name, service_env, capsys, argv):
    assert main_of(service_name)(argv) == 2
    assert capsys.readouterr().err == USAGE[service_name]
    assert not service_env[1].exists()


def test_migrate_makes_a_new_database_and_says_what_it_applied(service_name, service_env, capsys):
    _, db_path = service_env
    assert main_of(service_name)(["migrate"]) == 0
    migrations = importlib.import_module(f"{service_name}.migrations").MIGRATIONS
    assert capsys.readouterr().out == (f"applied nothing; the schema is at migration {len(migrations)} "
                                       f"({db_path})\n")  # a new database: every migration counted, none run
    assert count_rows(db_path, "schema_version") == 1
    assert main_of(service_name)(["migrate"]) == 0  # and again: nothing to do
    assert capsys.readouterr().out.startswith("applied nothing;")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "staff.example.org"])  # a name may resolve to any address
def test_main_refuses_a_host_beyond_loopback_without_a_token_before_it_opens_anything(service_name, service_env,
                                                                                     monkeypatch, capsys, host):
    prefix = service_name.upper()
    monkeypatch.setenv(f"{prefix}_HOST", host)
    assert main_of(service_name)([]) == 2
    said = capsys.readouterr().err
    assert f"refusing to listen on {host} without {prefix}_TOKEN" in said and f"{prefix}_ALLOW_OPEN=1" in said
    assert not service_env[1].exists()  # not even its database was made


def test_sigterm_stops_the_server_after_the_request_log_has_written_its_queue(service_name, service_env,
                                                                              monkeypatch):
    """In this process, so that what it runs is measured: a thread asks /health, then sends SIGTERM."""
    import waitress
    from waitress import wasyncore

    from chassis import request_log
    from chassis.serving import WAITRESS_SETTINGS

    monkeypatch.setattr(request_log, "FLUSH_INTERVAL", 3600)  # only the last round, at app.close(), writes
    port, db_path = service_env
    servers, create_server = [], waitress.create_server

    def keeping_create_server(app, **settings):
        """waitress's own server, kept: after a SIGTERM it leaves its socket to the process's exit."""
        servers.append((create_server(app, **settings), settings))
        return servers[-1][0]

    monkeypatch.setattr(waitress, "create_server", keeping_create_server)
    answered, serving = [], threading.Event()

    def client():
        """Ask once the server is up, then stop it as a service manager would."""
        try:
            answered.append(get_once_up(f"http://127.0.0.1:{port}/health", timeout=30).status_code)
        finally:
            if serving.is_set():  # never a SIGTERM to this process once main() has returned
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=client)
    serving.set()
    thread.start()
    try:
        assert main_of(service_name)([]) == 0
    finally:
        serving.clear()
        signal.signal(signal.SIGTERM, previous)
        thread.join(timeout=60)
        for server, _ in servers:  # what the process's exit would close
            server.close()
            wasyncore.close_all(server._map)
    assert answered == [200]
    assert count_rows(db_path, "request_log") == 1  # the /health row, written after SIGTERM
    [(_, settings)] = servers
    assert settings.items() >= {"host": "127.0.0.1", "port": port, "ident": service_name, **WAITRESS_SETTINGS}.items()
