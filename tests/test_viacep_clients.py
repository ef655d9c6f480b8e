"""A real ViaCEP client from npm, unmodified, against the CEP API: cep-promise, run by Debian's Node.js.

cep-promise tests `erro === true`: with ViaCEP's "not found" written as the string "true" it took
{"erro": "true"} for an address and failed with a TypeError. tests/js/viacep_client.cjs points it at
a CEP API on a loopback port (see there how) and prints what it resolved or rejected with, as JSON.
The package comes from tests/js (`npm ci --prefix tests/js`); without it, or without Node.js, the
tests are skipped, saying why.
"""
import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

NODE = Path("/usr/bin/node")  # Debian's nodejs
JS = REPO_ROOT / "tests" / "js"
CLIENT = JS / "viacep_client.cjs"

pytestmark = [
    pytest.mark.skipif(not NODE.exists(), reason="install Debian's nodejs to run cep-promise (apt-get install nodejs)"),
    pytest.mark.skipif(not (JS / "node_modules" / "cep-promise").is_dir(),
                       reason="cep-promise is not installed: run npm ci --prefix tests/js --no-audit --no-fund"),
]

NOT_FOUND = "CEP não encontrado na base do ViaCEP."  # cep-promise's own words for ViaCEP's erro: true


@pytest.fixture
def engine():
    """The client's tests run on SQLite only: what they test is the HTTP, and the API's own tests
    run on both engines (conftest's `engine`)."""
    return "sqlite"


def cep_promise(base_url, *ceps):
    """{cep: what cep-promise resolved or rejected with} for each of `ceps`, asked of `base_url`."""
    done = subprocess.run([NODE, CLIENT, base_url, *ceps], cwd=JS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [answer["cep"] for answer in answers] == list(ceps), done.stdout
    return {answer["cep"]: answer for answer in answers}


def test_cep_promise_resolves_a_known_cep(cep_app, serve):
    server = serve(cep_app)
    answers = cep_promise(server.url, "01001000", "70150-900")
    assert answers["01001000"] == {
        "cep": "01001000", "ok": True, "requested": [f"{server.url}/ws/01001000/json/"],
        "address": {"cep": "01001000", "state": "SP", "city": "São Paulo", "neighborhood": "Sé",
                    "street": "Praça da Sé", "service": "viacep"}}
    assert answers["70150-900"]["address"]["city"] == "Brasília"


def test_cep_promise_rejects_an_unknown_cep_with_its_not_found_error(cep_app, serve):
    server = serve(cep_app)
    answer = cep_promise(server.url, "99999999")["99999999"]
    assert answer["requested"] == [f"{server.url}/ws/99999999/json/"]  # asked, and answered 200 {"erro": true}
    assert answer["ok"] is False
    error = answer["error"]
    assert (error["name"], error["type"]) == ("CepPromiseError", "service_error")
    assert error["errors"] == [{"name": "ServiceError", "message": NOT_FOUND, "service": "viacep"}]


def test_cep_promise_checks_the_cep_itself_before_asking(cep_app, serve):
    server = serve(cep_app)
    answer = cep_promise(server.url, "0100100000")["0100100000"]
    assert answer["requested"] == [] and answer["error"]["type"] == "validation_error"


def test_the_string_erro_of_old_failed_cep_promise_with_a_type_error(serve):
    """The test can tell: a server answering {"erro": "true"}, as the CEP API did, breaks cep-promise."""
    def old_not_found(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8")])
        return [b'{\n  "erro": "true"\n}']

    server = serve(old_not_found)
    error = cep_promise(server.url, "99999999")["99999999"]["error"]
    assert error["errors"][0]["message"] != NOT_FOUND
    assert "Cannot read properties of undefined" in error["errors"][0]["message"]  # a TypeError, caught inside
