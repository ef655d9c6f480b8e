"""The container files, checked without docker: compose.yaml's shape, the Dockerfile's rules, the
image's health check. deploy/docker/test.sh builds and runs them for real (./run.sh test calls it).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, free_port

HEALTHCHECK = REPO_ROOT / "deploy" / "docker" / "healthcheck.py"


def compose_file():
    """compose.yaml as data (PyYAML comes with swagger-ui-py)."""
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO_ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_publishes_on_loopback_only_and_wires_the_staff_api_to_the_cep_service():
    services = compose_file()["services"]
    assert set(services) == {"cep_api", "staff_api", "postgres"}
    for name in ("cep_api", "staff_api"):
        service = services[name]
        assert service["image"] == "${CEP_STAFF_IMAGE:-cep-staff}"  # deploy/docker/test.sh sets its own
        assert service["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.12-slim}"
        assert all(port.startswith("127.0.0.1:") for port in service["ports"]), service["ports"]
        assert service["volumes"] == [f"{name.split('_')[0]}_data:/data"]
        assert f"python -m {name}" in " ".join(service["command"])
        assert "profiles" not in service
    assert services["cep_api"]["ports"] == ["127.0.0.1:${CEP_API_PUBLISHED_PORT:-8001}:8001"]
    assert services["staff_api"]["ports"] == ["127.0.0.1:${STAFF_API_PUBLISHED_PORT:-8002}:8002"]
    assert "seed --if-empty" in services["cep_api"]["command"][-1]
    assert services["staff_api"]["environment"]["CEP_API_URL"] == "http://cep_api:8001"
    assert services["staff_api"]["depends_on"] == {"cep_api": {"condition": "service_healthy"}}
    # PostgreSQL only on request, never published.
    assert services["postgres"]["profiles"] == ["postgres"] and "ports" not in services["postgres"]


def test_the_services_are_open_only_by_an_opt_out_that_tokens_override():
    services = compose_file()["services"]
    for name, prefix in (("cep_api", "CEP_API"), ("staff_api", "STAFF_API")):
        environment = services[name]["environment"]
        assert environment[f"{prefix}_TOKEN"] == f"${{{prefix}_TOKEN:-}}"
        assert environment[f"{prefix}_ALLOW_OPEN"] == f"${{{prefix}_ALLOW_OPEN:-1}}"


def test_the_dockerfile_builds_on_any_base_runs_as_a_user_and_knows_nothing_of_this_network():
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split()[0] for line in text.splitlines() if re.match(r"[A-Z]+\s", line)]
    assert instructions[:2] == ["ARG", "FROM"]
    assert "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n" in text
    assert re.search(r"^USER cepstaff$", text, re.M) and "HEALTHCHECK" in instructions
    assert "requirements-dev.txt" not in text  # runtime requirements only
    # The CA bundle pip needs on the test machines belongs to the test's base image.
    assert "PIP_CERT" not in text and "ca-certificates.crt" not in text


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else():
    rules = [line for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out (.venv/, .git/, tests/, var/...), then what is let in
    let_in = {rule[1:] for rule in rules if rule.startswith("!")}
    copied = re.findall(r"^COPY (.+) \S+$", (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert {source for line in copied for source in line.split()} == let_in


def compose_command():
    """Debian's docker-compose, or the docker compose plugin, or None."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 timeout=30).returncode == 0:
        return ["docker", "compose"]
    return None


def test_compose_validates_the_file():
    """`compose config` checks the file against compose's own schema (no daemon needed)."""
    command = compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed: compose.yaml is not "
                    "validated (apt-get install docker-compose)")
    result = subprocess.run([*command, "-f", "compose.yaml", "config", "--quiet"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def answering(status):
    """A WSGI app whose every answer has this status."""
    def app(environ, start_response):
        """Answer `status` with an empty body."""
        start_response(status, [("Content-Length", "0")])
        return [b""]
    return app


@pytest.mark.parametrize("status, healthy", [("200 OK", True), ("503 Service Unavailable", False)])
def test_the_health_check_asks_whichever_port_this_container_serves(serve, status, healthy):
    server = serve(answering(status))
    for cep_port, staff_port in ((server.port, free_port()), (free_port(), server.port)):
        env = dict(os.environ, CEP_API_PORT=str(cep_port), STAFF_API_PORT=str(staff_port))
        result = subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, timeout=30)
        assert result.returncode == (0 if healthy else 1), result.stderr


def test_the_health_check_fails_when_nothing_answers():
    env = dict(os.environ, CEP_API_PORT=str(free_port()), STAFF_API_PORT=str(free_port()))
    assert subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, timeout=30).returncode == 1


def wait_for_database(variable, env):
    """Run deploy/docker/wait_for_database.py as compose.yaml's commands do."""
    return subprocess.run([sys.executable, str(REPO_ROOT / "deploy" / "docker" / "wait_for_database.py"), variable],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=30)


def test_wait_for_database_has_nothing_to_wait_for_on_sqlite():
    result = wait_for_database("CEP_API_DATABASE_URL", {"CEP_API_DATABASE_URL": ""})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_wait_for_database_returns_once_postgresql_answers(postgres_server):
    result = wait_for_database("STAFF_API_DATABASE_URL", {"STAFF_API_DATABASE_URL": f"{postgres_server}/postgres"})
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
