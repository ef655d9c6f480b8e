"""Schemathesis against both services served on loopback: generated requests, every answer checked.

For each operation of each OpenAPI document, Schemathesis sends the documented examples, boundary
values of every parameter and field, and requests built at random, valid and invalid, then checks
the answer: no 5xx, a documented status, content type, headers and body shape, invalid data refused.

The servers live only while this module runs: each service's database handle is global to its
package, so they are started here, not interleaved with the apps of other test modules.
"""
import json
import re
import shutil
from xml.etree import ElementTree

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from conftest import REPO_ROOT, LoopbackServer

# Schemathesis' settings, as its docs write them (schemathesis.toml). Bounded so that the whole
# module stays well under two minutes on a 2-core machine; the same requests every run
# (deterministic) so that a failure here fails the same way again.
CONFIG = SchemathesisConfig.from_str("""
[generation]
max-examples = 25
deterministic = true
database = "none"

# Data the schema allows can still be refused with a 422 by a rule JSON Schema cannot state:
# a CEP outside its UF's Correios range, a `cep` in the body that is not the one in the path,
# a CEP the CEP API does not know. Only by those: see the check below.
[[operations]]
include-name = ["POST /ceps", "PUT /ceps/{cep}", "PATCH /ceps/{cep}",
                "POST /employees", "PUT /employees/{employee_id}", "PATCH /employees/{employee_id}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

# A search counts characters as it compares them (accents, case and repeated spaces folded away: "é"
# is one, "ß" two): no JSON Schema pattern can count that way in every alphabet. The documents' patterns
# are exact for ASCII and let through, beyond it, some text that folds to fewer than 3 characters; the
# service refuses it, naming the parameter (see the check below). A "/" in a path part is a 404.
[[operations]]
include-name = ["GET /ceps"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "422"]

[[operations]]
include-name = ["GET /ws/{uf}/{cidade}/{logradouro}/json/", "GET /ws/{uf}/{cidade}/{logradouro}/json"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "404"]

# Both services run with a token, as on a server. Schemathesis sends it where a document's
# securitySchemes ask for it, and also checks that a request without it is refused with 401.
[auth.openapi.bearerAuth]
bearer = "schemathesis-token"
""")

# The documents as the services serve them: each package's openapi.json.
cep_schema = schemathesis.openapi.from_path(REPO_ROOT / "cep_api" / "openapi.json", config=CONFIG)
staff_schema = schemathesis.openapi.from_path(REPO_ROOT / "staff_api" / "openapi.json", config=CONFIG)

# (field, how the code's message starts) for the rules above. What the code forgives
# (spaces around a value, a UF in any case) and what else it refuses (control characters,
# blank names) the documents say, so that valid data refused for any other reason is a failure.
RULES_JSON_SCHEMA_CANNOT_STATE = [
    ("uf", "CEP "),  # CEP 01001-000 is not in the Correios range of RJ (...)
    ("cep", "cannot change"),  # PUT/PATCH /ceps/{cep} with another CEP in the body
    ("cep", "no such CEP"),  # the CEP API does not know it
    ("q", "must have 3 characters at least"),  # GET /ceps?q=é: one character once folded
    ("cidade", "must have 3 to"),  # /ws/SP/é/.../json/: the same rule in ViaCEP's search (a 400, as ViaCEP's)
    ("logradouro", "must have 3 to"),
]


@schemathesis.check
def valid_data_is_refused_only_by_a_rule_json_schema_cannot_state(ctx, response, case):
    """A 400 or 422 to data the document calls valid names only the rules JSON Schema cannot state."""
    if response.status_code not in (400, 422) or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    fields = response.json()["error"].get("fields", {})
    assert fields, "data the document calls valid was refused, and no field named"
    unexplained = {name: why for name, why in fields.items()
                   if not any(name == field and why.startswith(start)
                              for field, start in RULES_JSON_SCHEMA_CANNOT_STATE)}
    assert not unexplained, f"data the document calls valid was refused: {unexplained}"


# The formats of ViaCEP's routes that are not JSON, read so that their bodies are checked against the
# document too: XML as the fields of <xmlcep> ({"cep": "01001-000", ...}, or {"erro": "true"}), and
# JSONP as its text (the document's pattern: callback(...);), once the JSON inside is known to parse.
JSONP = re.compile(r"([A-Za-z0-9_$.]{1,64})\((.*)\);", re.DOTALL)


@schemathesis.deserializer("application/xml")
def read_xmlcep(ctx, response):
    root = ElementTree.fromstring(response.content)
    assert root.tag == "xmlcep" and not root.attrib, f"not ViaCEP's XML: <{root.tag}>"
    assert all(len(child) == 0 and not child.attrib for child in root), "an <xmlcep> field holds more than text"
    return {child.tag: child.text or "" for child in root}


@schemathesis.deserializer("application/javascript")
def read_jsonp(ctx, response):
    text = response.content.decode("utf-8")
    found = JSONP.fullmatch(text)
    assert found, f"not a JSONP call: {text[:80]!r}"
    json.loads(found[2])
    return text


TOKEN = "schemathesis-token"  # the bearer of CONFIG above


@pytest.fixture(scope="module")
def http():
    """One HTTP session for the module: connections are reused between calls."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def cep_url(seeded_cep_db, tmp_path_factory):
    """The CEP API, seeded, on a loopback port, for the whole module."""
    from cep_api.app import create_app

    path = tmp_path_factory.mktemp("schemathesis") / "cep.sqlite3"
    shutil.copy(seeded_cep_db, path)
    app = create_app({"cep_api.db_path": str(path), "cep_api.token": TOKEN})
    server = LoopbackServer(app)
    yield server.url
    server.stop()
    app.close()  # its request log's writer must not outlive the module


@pytest.fixture(scope="module")
def staff_url(cep_url, tmp_path_factory):
    """The staff API, over its own empty database, calling the CEP API above (with its token, so
    that GET /cep-api/logs/summary relays a real summary)."""
    from staff_api.app import create_app

    path = tmp_path_factory.mktemp("schemathesis") / "staff.sqlite3"
    app = create_app({"staff_api.db_path": str(path), "staff_api.cep_api_url": cep_url, "staff_api.token": TOKEN,
                      "staff_api.cep_api_token": TOKEN})
    server = LoopbackServer(app)
    yield server.url
    server.stop()
    app.config["staff_api.cep_cache"].close()  # its cache thread must not outlive the module
    app.close()  # nor its request log's writer


@staff_schema.parametrize()
def test_staff_api(case, staff_url, http):
    case.call_and_validate(base_url=staff_url, session=http, timeout=10)


# After the staff API's test: this one changes and deletes records (the example CEPs among
# them) that the staff API, which only reads the CEP API, needs to find as they were seeded.
@cep_schema.parametrize()
def test_cep_api(case, cep_url, http):
    case.call_and_validate(base_url=cep_url, session=http, timeout=10)
