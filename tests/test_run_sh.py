"""`./run.sh`: starts both services from a fresh copy, and SIGTERM stops every one of them."""
import requests

from conftest import port_is_closed, process_is_gone


def test_run_sh_starts_both_and_sigterm_stops_everything(run_sh):
    runner = run_sh()
    runner.wait_until_up()
    pids = runner.service_pids()

    created = requests.post(f"{runner.staff_url}/employees", timeout=10,
                            json={"name": "Ana Souza", "email": "ana@example.com", "cep": "01001-000"})
    assert created.status_code == 201
    assert created.json()["address"]["logradouro"] == "Praça da Sé"
    assert runner.terminate() == 0
    log = runner.log()
    assert "added 2711, already present 0" in log  # an empty database was seeded
    assert runner.staff_url in log and runner.cep_url in log and f"{runner.staff_url}/docs" in log
    # Each service's own log lines reach the terminal, prefixed with its name.
    lines = log.splitlines()
    for name, port in (("cep_api", runner.cep_port), ("staff_api", runner.staff_port)):
        assert any(line.startswith(f"[{name}]") and f"Serving on http://127.0.0.1:{port}" in line
                   for line in lines), log
    assert port_is_closed(runner.cep_port) and port_is_closed(runner.staff_port)
    assert all(process_is_gone(pid) for pid in pids)
    assert not (runner.repo / "var" / "cep_api.pid").exists()


def test_a_second_run_sh_says_one_is_running(run_sh):
    first = run_sh()
    first.wait_until_up()
    second = run_sh(ports=(first.cep_port, first.staff_port))
    assert second.process.wait(timeout=30) == 1
    assert "already running" in second.log()
    assert first.process.poll() is None  # the first one is untouched
    assert first.terminate() == 0


def test_seeding_happens_only_into_an_empty_database(run_sh):
    first = run_sh()
    first.wait_until_up()
    assert requests.delete(f"{first.cep_url}/ceps/01001000", timeout=10).status_code == 204
    assert first.terminate() == 0

    again = run_sh(ports=(first.cep_port, first.staff_port))
    again.wait_until_up()
    assert "not seeding: the database already has 2710 CEPs" in again.log()
    assert requests.get(f"{again.cep_url}/ceps/01001000", timeout=10).status_code == 404
    assert again.terminate() == 0
