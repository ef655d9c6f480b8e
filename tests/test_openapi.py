"""The OpenAPI documents and the /docs explorer: complete, valid, true to the code, served locally."""
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from webtest import TestApp

from cep_api.explorer import STATIC_ROOT
from cep_api.openapi import OPENAPI as CEP_OPENAPI
from cep_api.openapi import SENT_FIELDS as CEP_SENT_FIELDS
from cep_api.validation import clean_record
from staff_api.openapi import OPENAPI as STAFF_OPENAPI
from staff_api.openapi import SENT_FIELDS as STAFF_SENT_FIELDS
from staff_api.validation import clean_employee

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Swagger UI's own files: part of the /docs page, not of the API, so left out of the documents.
UNDOCUMENTED_RULES = {"/docs/static/<name>"}


@pytest.fixture(params=["cep_api", "staff_api"])
def service(request, cep_app, make_staff_app):
    """(app, its OpenAPI document) for each service; the staff app is never asked to call the CEP API."""
    if request.param == "cep_api":
        return cep_app, CEP_OPENAPI
    return make_staff_app("http://127.0.0.1:9"), STAFF_OPENAPI


def routes_of(app):
    """(METHOD, path) of every route of a Bottle app, written the OpenAPI way: <cep> -> {cep}."""
    return {(route.method, re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.rule))
            for route in app.routes if route.rule not in UNDOCUMENTED_RULES}


def operations_of(document):
    """(METHOD, path) of every operation in an OpenAPI document."""
    return {(method.upper(), path) for method, path, _ in each_operation(document)}


def test_every_route_is_documented_and_every_documented_route_exists(service):
    app, document = service
    assert routes_of(app) - operations_of(document) == set(), "routes missing from the OpenAPI document"
    assert operations_of(document) - routes_of(app) == set(), "documented operations without a route"


def test_the_route_walk_sees_a_route_added_later(cep_app):
    """The comparison above is not vacuous: a new route shows up in it."""
    cep_app.route("/ceps/<cep>/neighbours", "GET", lambda cep: {})
    assert routes_of(cep_app) - operations_of(CEP_OPENAPI) == {("GET", "/ceps/{cep}/neighbours")}


@pytest.mark.parametrize("document", [CEP_OPENAPI, STAFF_OPENAPI], ids=["cep_api", "staff_api"])
def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(json.loads(json.dumps(document)))  # as a client reads it: JSON, not Python objects


@pytest.mark.parametrize("document", [CEP_OPENAPI, STAFF_OPENAPI], ids=["cep_api", "staff_api"])
def test_every_error_answer_has_the_contracts_error_shape(document):
    for method, path, operation in each_operation(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                schema = resolve(document, answer)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"


@pytest.mark.parametrize("document", [CEP_OPENAPI, STAFF_OPENAPI], ids=["cep_api", "staff_api"])
def test_every_example_fits_its_schema(document):
    checked = 0
    for where, schema, example in examples_in(document):
        # The schema as a root that also holds the components, so that its $refs resolve.
        validator = Draft202012Validator({**schema, "components": document["components"]},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], where
        checked += 1
    assert checked >= 10


def test_the_cep_examples_are_what_the_api_answers(cep_app):
    client = TestApp(cep_app)
    examples = CEP_OPENAPI["paths"]["/ceps/{cep}"]["get"]["responses"]["200"]["content"]["application/json"]
    for example in examples["examples"].values():
        record = example["value"]
        assert client.get(f"/ceps/{record['cep']}").json == record
    new = CEP_OPENAPI["paths"]["/ceps"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for example in new.values():  # adding it works on a freshly seeded database
        assert client.post_json("/ceps", example["value"]).json == example["value"]


def test_the_address_examples_are_what_the_cep_api_answers(cep_app):
    client = TestApp(cep_app)
    content = STAFF_OPENAPI["paths"]["/addresses/{cep}"]["get"]["responses"]["200"]["content"]["application/json"]
    for example in content["examples"].values():
        assert client.get(f"/ceps/{example['value']['cep']}").json == example["value"]


def test_the_employee_example_is_what_the_staff_api_answers(cep_server, make_staff_app):
    create = STAFF_OPENAPI["paths"]["/employees"]["post"]
    sent = create["requestBody"]["content"]["application/json"]["examples"]["Ana"]["value"]
    answer = create["responses"]["201"]["content"]["application/json"]["examples"]["Ana"]["value"]
    created = TestApp(make_staff_app(cep_server.url)).post_json("/employees", sent).json
    times = ("created_at", "updated_at")
    assert {**created, **{name: answer[name] for name in times}} == answer


@pytest.mark.parametrize("clean, fields", [(clean_record, CEP_SENT_FIELDS), (clean_employee, STAFF_SENT_FIELDS)],
                         ids=["cep_api", "staff_api"])
def test_max_length_counts_the_text_as_sent_like_the_document_says(clean, fields):
    """Found by Schemathesis: 21 characters with a leading space passed a 20-character limit."""
    limited = {name: schema["maxLength"] for name, schema in fields.items() if "maxLength" in schema}
    assert limited
    for name, max_length in limited.items():
        _, errors = clean({name: "x" * max_length}, partial=True)
        assert not errors.get(name, "").startswith("must be at most"), name
        _, errors = clean({name: " " + "x" * max_length}, partial=True)
        assert errors[name] == f"must be at most {max_length} characters"


def test_openapi_json_serves_the_document_byte_for_byte_the_same(service):
    app, document = service
    first = TestApp(app).get("/openapi.json")
    assert first.content_type == "application/json"
    assert first.json == document
    assert TestApp(app).get("/openapi.json").body == first.body


# --- /docs --------------------------------------------------------------------------------

def test_docs_page_loads_swagger_ui_from_this_server_by_relative_addresses(service):
    app, document = service
    client = TestApp(app)
    page = client.get("/docs")
    assert page.content_type == "text/html"
    assert f"<title>{document['info']['title']}</title>" in page.text
    assert 'url: "openapi.json"' in page.text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded and all(not urlsplit(url).scheme and not url.startswith("/") for url in loaded), loaded
    for url in loaded:  # the package's own files, byte for byte
        assert client.get(urljoin("/docs", url)).body == (Path(STATIC_ROOT) / url.split("/")[-1]).read_bytes()


@pytest.mark.parametrize("path", [
    "/docs/static/no-such-file.js",
    "/docs/static/swagger-initializer.js",  # in the package, but not a file the page loads
    "/docs/static/..",
    "/docs/static/%2e%2e",
    "/docs/static/..%2f..%2fapp.py",
    "/docs/static/..%2F..%2F..%2Fcep_api%2Fapp.py",
    "/docs/static/../../cep_api/app.py",
    "/docs/static/%2Fetc%2Fpasswd",
])
def test_docs_static_serves_nothing_but_swagger_ui(service, path):
    app, _ = service
    resp = TestApp(app).get(path, expect_errors=True)
    assert resp.status_int == 404
    assert resp.content_type == "application/json" and resp.json["error"]["status"] == 404


class PrefixMount:
    """WSGI: serve `app` under `prefix`, as a host that mounts each service under its own path does."""

    def __init__(self, prefix, app):
        self.prefix, self.app = prefix, app

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if not path.startswith(self.prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"outside the mount"]
        environ["SCRIPT_NAME"] += self.prefix
        environ["PATH_INFO"] = path[len(self.prefix):]
        return self.app(environ, start_response)


def test_docs_and_try_it_out_work_under_a_path_prefix(cep_app):
    client = TestApp(PrefixMount("/cep", cep_app))
    page = client.get("/cep/docs")
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert client.get(urljoin("/cep/docs", url)).status_int == 200
    document_url = urljoin("/cep/docs", "openapi.json")
    document = client.get(document_url).json
    assert document == CEP_OPENAPI
    # Swagger UI resolves a relative server against the document's address, then adds the path.
    server = urljoin(document_url, document["servers"][0]["url"])
    assert server == "/cep/"
    assert client.get(server.rstrip("/") + "/ceps/01001000").json["logradouro"] == "Praça da Sé"


# --- helpers ------------------------------------------------------------------------------

def each_operation(document):
    """(method, path, operation) for every operation of an OpenAPI document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(document, node):
    """Follow a local $ref ("#/components/...") to what it points at."""
    while "$ref" in node:
        target = document
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        node = target
    return node


def examples_in(document):
    """(where, schema, example) for every example of the document: schemas, parameters, headers, bodies."""
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, example
    for kind in ("parameters", "headers"):
        for name, part in document["components"][kind].items():
            for example in named_examples(part):
                yield f"{kind} {name}", part["schema"], example
    for method, path, operation in each_operation(document):
        for body in [operation.get("requestBody", {}), *operation["responses"].values()]:
            for media in resolve(document, body).get("content", {}).values():
                for example in named_examples(media):
                    yield f"{method} {path}", media["schema"], example


def named_examples(part):
    """The values of `examples` ({name: {"value": ...}}) and of `example`, where present."""
    values = [example["value"] for example in part.get("examples", {}).values()]
    return values + ([part["example"]] if "example" in part else [])
