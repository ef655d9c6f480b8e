"""Schemathesis against both services served on loopback: generated requests, every answer checked.

For each operation of each OpenAPI document, Schemathesis sends the documented examples, boundary
values of every parameter and field, and requests built at random, valid and invalid, then checks
the answer: no 5xx, a documented status, content type, headers and body shape, invalid data refused.

The servers live only while this module runs: each service's database handle is global to its
package, so they are started here, not interleaved with the apps of other test modules.
"""
import json
import shutil

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from cep_api.openapi import OPENAPI as CEP_OPENAPI
from conftest import LoopbackServer
from staff_api.openapi import OPENAPI as STAFF_OPENAPI

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
# a CEP the CEP API does not know.
[[operations]]
include-name = ["POST /ceps", "PUT /ceps/{cep}", "PATCH /ceps/{cep}",
                "POST /employees", "PUT /employees/{employee_id}", "PATCH /employees/{employee_id}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]
""")

# Schemathesis is given copies: it may change the dicts it loads.
cep_schema = schemathesis.openapi.from_dict(json.loads(json.dumps(CEP_OPENAPI)), config=CONFIG)
staff_schema = schemathesis.openapi.from_dict(json.loads(json.dumps(STAFF_OPENAPI)), config=CONFIG)


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
    server = LoopbackServer(create_app({"cep_api.db_path": str(path)}))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def staff_url(cep_url, tmp_path_factory):
    """The staff API, over its own empty database, calling the CEP API above."""
    from staff_api.app import create_app

    path = tmp_path_factory.mktemp("schemathesis") / "staff.sqlite3"
    server = LoopbackServer(create_app({"staff_api.db_path": str(path), "staff_api.cep_api_url": cep_url}))
    yield server.url
    server.stop()


@staff_schema.parametrize()
def test_staff_api(case, staff_url, http):
    case.call_and_validate(base_url=staff_url, session=http, timeout=10)


# After the staff API's test: this one changes and deletes records (the example CEPs among
# them) that the staff API, which only reads the CEP API, needs to find as they were seeded.
@cep_schema.parametrize()
def test_cep_api(case, cep_url, http):
    case.call_and_validate(base_url=cep_url, session=http, timeout=10)
