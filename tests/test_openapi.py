"""The OpenAPI documents: complete, valid and true to the code. (How /openapi.json and the /docs
explorer serve them, the chassis's: tests/chassis/test_explorer.py.)

Each document is data, `openapi.json` in its package, read here as a client reads it. The tests
below keep it honest: every route documented and nothing more, valid OpenAPI 3.1, examples that
fit their schemas and are what the API answers, and the rules it states (fields, lengths, patterns,
UFs) equal to the constants the validation code uses, so that the two cannot drift apart.
"""
import json
import re
from collections import namedtuple
from itertools import product

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from webtest import TestApp

import cep_api.validation as cep_rules
from cep_api.app import CALLBACK, search_terms
from cep_api.ceps import MAX_MATCHES
from chassis.params import MAX_FILTER_LENGTH
from chassis.text import NOT_STORABLE
from chassis.web import MAX_ERROR_FIELDS, ApiError
import staff_api.validation as staff_rules
from staff_api.employees import SORT_KEYS
from conftest import REPO_ROOT

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Swagger UI's own files: part of the /docs page, not of the API, so left out of the documents.
UNDOCUMENTED_RULES = {"/docs/static/<name>", "/", "/static/<name>"}  # pages and their files, not API


def document_file(package):
    """Where a service's OpenAPI document is: data in its package."""
    return REPO_ROOT / package / "openapi.json"


def load_document(package):
    """A service's OpenAPI document, as a client reads it: the JSON file."""
    return json.loads(document_file(package).read_text(encoding="utf-8"))


CEP_OPENAPI = load_document("cep_api")
STAFF_OPENAPI = load_document("staff_api")

Service = namedtuple("Service", "app document package")


@pytest.fixture(params=["cep_api", "staff_api"])
def service(request, cep_app, make_staff_app):
    """(app, its OpenAPI document, its package) for each service; the staff app never calls the CEP API."""
    if request.param == "cep_api":
        return Service(cep_app, CEP_OPENAPI, "cep_api")
    return Service(make_staff_app("http://127.0.0.1:9"), STAFF_OPENAPI, "staff_api")


def routes_of(app):
    """(METHOD, path) of every route of a Bottle app, written the OpenAPI way: <cep> -> {cep}."""
    # OPTIONS routes are CORS preflights (cep_api/cors.py): the browser's business, not the API's.
    return {(route.method, re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.rule))
            for route in app.routes if route.rule not in UNDOCUMENTED_RULES and route.method != "OPTIONS"}


def operations_of(document):
    """(METHOD, path) of every operation in an OpenAPI document."""
    return {(method.upper(), path) for method, path, _ in each_operation(document)}


def test_every_route_is_documented_and_every_documented_route_exists(service):
    app, document, _ = service
    assert routes_of(app) - operations_of(document) == set(), "routes missing from the OpenAPI document"
    assert operations_of(document) - routes_of(app) == set(), "documented operations without a route"


def test_the_route_walk_sees_a_route_added_later(cep_app):
    """The comparison above is not vacuous: a new route shows up in it."""
    cep_app.route("/ceps/<cep>/neighbours", "GET", lambda cep: {})
    assert routes_of(cep_app) - operations_of(CEP_OPENAPI) == {("GET", "/ceps/{cep}/neighbours")}


@pytest.mark.parametrize("document", [CEP_OPENAPI, STAFF_OPENAPI], ids=["cep_api", "staff_api"])
def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


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


@pytest.mark.parametrize("clean, document, create", [(cep_rules.clean_record, CEP_OPENAPI, "/ceps"),
                                                     (staff_rules.clean_employee, STAFF_OPENAPI, "/employees")],
                         ids=["cep_api", "staff_api"])
def test_max_length_counts_the_text_as_sent_like_the_document_says(clean, document, create):
    """Found by Schemathesis: 21 characters with a leading space passed a 20-character limit."""
    fields = {name: flatten(document, schema) for name, schema in sent_fields(document, create, "post").items()}
    limited = {name: rules["maxLength"] for name, rules in fields.items() if "maxLength" in rules}
    assert limited
    for name, max_length in limited.items():
        _, errors = clean({name: "x" * max_length}, partial=True)
        assert not errors.get(name, "").startswith("must be at most"), name
        _, errors = clean({name: " " + "x" * max_length}, partial=True)
        assert errors[name] == f"must be at most {max_length} characters"


# --- helpers ------------------------------------------------------------------------------

def each_operation(document):
    """(method, path, operation) for every operation of an OpenAPI document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def lookup(document, pointer):
    """The part of the document a local $ref ("#/components/schemas/Text") points at."""
    target = document
    for key in pointer.removeprefix("#/").split("/"):
        target = target[key]
    return target


def resolve(document, node):
    """Follow a local $ref, and the $ref found there, to what it finally points at."""
    while "$ref" in node:
        node = lookup(document, node["$ref"])
    return node


def flatten(document, schema):
    """A schema with its $ref merged in: in OpenAPI 3.1 a $ref and the keywords beside it all apply.

    Where both name the same keyword (a field's own `pattern` beside Text's), the field's own is kept.
    """
    if "$ref" not in schema:
        return schema
    own = {key: value for key, value in schema.items() if key != "$ref"}
    return {**flatten(document, lookup(document, schema["$ref"])), **own}


def request_schema(document, path, method):
    """The schema of an operation's JSON request body, $ref merged in."""
    body = document["paths"][path][method]["requestBody"]
    return flatten(document, body["content"]["application/json"]["schema"])


def sent_fields(document, path, method):
    """{name: schema as written} of the fields an operation's request body may hold."""
    return request_schema(document, path, method)["properties"]


def examples_in(document):
    """(where, schema, example) for every example of the document: schemas and their fields,
    parameters, headers, bodies."""
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, example
        for field, field_schema in schema.get("properties", {}).items():
            for example in field_schema.get("examples", []):
                yield f"schema {name}, field {field}", field_schema, example
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


# --- the documents state the rules the validation code applies -----------------------------
# Each rule is written twice: in validation.py, which the service runs, and in openapi.json,
# which clients read. Here the two are compared, so that changing one alone fails a test.
# The code checks a value with fullmatch(), after trimming it where it trims; the document
# says the same with anchors: exactly(p) for p.fullmatch(text), trimmed(p) for
# p.fullmatch(text.strip()). The regexes use [0-9], never \d: \d matches any Unicode digit.

TEXT = "#/components/schemas/Text"
# The NOT_STORABLE control characters (both services) written as regex escapes; each Text
# pattern is built from them, and test_the_text_pattern_refuses_what_the_code_cannot_store
# proves that pattern refuses what NOT_STORABLE refuses.
CONTROL = r"\x00-\x1f\x7f-\x9f"


def exactly(pattern):
    """The document's form of `pattern.fullmatch(text)`: the regex anchored at both ends."""
    return f"^{pattern}$"


def plain_filter(longest):
    """The pattern of a text filter (chassis/params.py read_text): trimmed, at most `longest` characters, and
    no control character (NOT_STORABLE, as far as a pattern can say: lone surrogates aside) inside."""
    printable, plain = r"[^\s\x00-\x1f\x7f-\x9f]", r"[^\x00-\x1f\x7f-\x9f]"
    return trimmed(rf"({printable}{plain}{{0,{longest - 2}}}{printable}|{printable})?")


def trimmed(pattern):
    """The document's form of `pattern.fullmatch(text.strip())`: spaces allowed around the text."""
    return rf"^\s*{pattern}\s*$"


def any_case(words):
    """A regex for one of `words` in any case: ["DF", "SP"] -> "([Dd][Ff]|[Ss][Pp])"."""
    return "(" + "|".join("".join(f"[{letter}{letter.lower()}]" for letter in word) for word in words) + ")"


UFS = sorted(cep_rules.UF_RANGES)


def cep_rules_stated():
    """(rule, what the CEP API's document says, what cep_api.validation does) for each rule."""
    document = CEP_OPENAPI
    fields = sent_fields(document, "/ceps", "post")
    bodies = [("/ceps", "post"), ("/ceps/{cep}", "put"), ("/ceps/{cep}", "patch")]
    return [
        ("fields each body may hold", [set(sent_fields(document, *body)) for body in bodies],
         [{"cep", *cep_rules.TEXT_FIELDS}] * len(bodies)),
        ("fields POST requires", request_schema(document, "/ceps", "post")["required"],
         ["cep", *cep_rules.REQUIRED_FIELDS]),
        ("fields PUT requires", request_schema(document, "/ceps/{cep}", "put")["required"],
         list(cep_rules.REQUIRED_FIELDS)),
        ("fields PATCH requires", request_schema(document, "/ceps/{cep}", "patch").get("required", []), []),
        ("maxLength of each text field",
         {name: flatten(document, fields[name]).get("maxLength") for name in cep_rules.TEXT_FIELDS},
         dict.fromkeys(cep_rules.TEXT_FIELDS, cep_rules.MAX_TEXT_LENGTH)),
        # uf and ibge have patterns of their own (below), which admit no NUL; the rest are Text.
        ("text fields that are not Text",
         {name for name in cep_rules.TEXT_FIELDS if fields[name].get("$ref") != TEXT}, {"uf", "ibge"}),
        ("cep in a body", fields["cep"]["pattern"], exactly(cep_rules.CEP_PATTERN.pattern)),
        ("cep in a path", document["components"]["parameters"]["cep"]["schema"]["pattern"],
         exactly(cep_rules.CEP_PATTERN.pattern)),
        ("ibge, or empty", fields["ibge"]["pattern"], trimmed(f"({cep_rules.IBGE_PATTERN.pattern})?")),
        ("Text: no control character inside", document["components"]["schemas"]["Text"]["pattern"],
         trimmed(f"[^{CONTROL}]*")),
        ("fields an error names at most", error_fields_schema(document)["maxProperties"], MAX_ERROR_FIELDS),
        ("JSONP callback", parameter_schema(document, "callback")["pattern"], exactly(CALLBACK.pattern)),
        ("JSONP answers", [jsonp_schema(document, name)["pattern"] for name in ("ViacepAddress", "ViacepSearch")],
         [rf"^{CALLBACK.pattern}\([\s\S]*\);$"] * 2),
        ("localidade: trimmed length, plain text", parameter_schema(document, "localidade")["pattern"],
         plain_filter(MAX_FILTER_LENGTH)),
        ("maxLength of a search part", [parameter_schema(document, name)["maxLength"]
                                        for name in ("search_cidade", "search_logradouro")], [MAX_FILTER_LENGTH] * 2),
        ("matches a q search counts", re.findall(r"at most ([0-9]+)", document["components"]["schemas"]["CepPage"]
                                                 ["properties"]["total"]["description"]), [str(MAX_MATCHES)]),
    ]


def staff_rules_stated():
    """(rule, what the staff API's document says, what staff_api.validation does) for each rule."""
    document = STAFF_OPENAPI
    fields = sent_fields(document, "/employees", "post")
    bodies = [("/employees", "post"), ("/employees/{employee_id}", "put"), ("/employees/{employee_id}", "patch")]
    employee = document["components"]["schemas"]["Employee"]["properties"]
    return [
        ("fields each body may hold", [set(sent_fields(document, *body)) for body in bodies],
         [set(staff_rules.MAX_LENGTHS)] * len(bodies)),
        ("fields an employee has", set(employee), {*staff_rules.MAX_LENGTHS, *staff_rules.READ_ONLY_FIELDS}),
        ("fields POST requires", request_schema(document, "/employees", "post")["required"],
         list(staff_rules.REQUIRED_FIELDS)),
        ("fields PUT requires", request_schema(document, "/employees/{employee_id}", "put")["required"],
         list(staff_rules.REQUIRED_FIELDS)),
        ("fields PATCH requires",
         request_schema(document, "/employees/{employee_id}", "patch").get("required", []), []),
        ("maxLength of each field", {name: flatten(document, schema).get("maxLength")
                                     for name, schema in fields.items()}, staff_rules.MAX_LENGTHS),
        # email and cep have patterns of their own (below), which admit no control character; the rest are Text.
        ("fields that are not Text", {name for name, schema in fields.items() if schema.get("$ref") != TEXT},
         {"email", "cep"}),
        # The code refuses control characters in an e-mail (NOT_STORABLE) as well as spaces (EMAIL_PATTERN):
        # one pattern says both, so that Schemathesis draws from one regex instead of filtering by two.
        ("email in a body", fields["email"]["pattern"],
         trimmed(staff_rules.EMAIL_PATTERN.pattern.replace(r"\s", r"\s" + CONTROL))),
        ("cep in a body", fields["cep"]["pattern"], trimmed(staff_rules.CEP_PATTERN.pattern)),
        ("cep in a path", document["components"]["parameters"]["cep"]["schema"]["pattern"],
         exactly(staff_rules.CEP_PATTERN.pattern)),
        ("Text: no control character inside", document["components"]["schemas"]["Text"]["pattern"],
         trimmed(f"[^{CONTROL}]*")),
        ("fields an error names at most", error_fields_schema(document)["maxProperties"], MAX_ERROR_FIELDS),
        # list_employees takes each key of SORT_KEYS, with or without "-" (descending), trimmed.
        ("sort", parameter_schema(document, "sort")["pattern"], trimmed(f"-?({'|'.join(SORT_KEYS)})")),
        ("uf and q: trimmed length, plain text", [parameter_schema(document, name)["pattern"] for name in ("uf", "q")],
         [plain_filter(MAX_FILTER_LENGTH)] * 2),
        ("the relayed summary's fields are the CEP API's",
         set(document["components"]["schemas"]["CepApiLogSummary"]["properties"]),
         set(CEP_OPENAPI["components"]["schemas"]["LogSummary"]["properties"])),
    ]


def parameter_schema(document, name):
    """The schema of one of the document's shared parameters."""
    return document["components"]["parameters"][name]["schema"]


def error_fields_schema(document):
    """The schema of `fields` in the Error shape."""
    return document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["fields"]


def jsonp_schema(document, response):
    """The schema of a ViaCEP response's JSONP form."""
    return document["components"]["responses"][response]["content"]["application/javascript; charset=utf-8"]["schema"]


@pytest.mark.parametrize("in_document, in_code", [
    *[pytest.param(said, done, id=f"cep_api: {rule}") for rule, said, done in cep_rules_stated()],
    *[pytest.param(said, done, id=f"staff_api: {rule}") for rule, said, done in staff_rules_stated()],
])
def test_the_document_states_the_rule_the_validation_code_applies(in_document, in_code):
    assert in_document == in_code


def uf_schemas(node, where="#"):
    """(where, schema) of every `uf` in a document: fields named uf and parameters named uf."""
    if isinstance(node, dict):
        if node.get("name") == "uf" and "schema" in node:
            yield f"{where}/schema", node["schema"]
        for key, value in node.items():
            if key == "properties" and "uf" in value:
                yield f"{where}/properties/uf", value["uf"]
            yield from uf_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from uf_schemas(item, f"{where}/{index}")


def test_every_uf_of_the_cep_document_is_one_of_the_27_the_code_knows():
    """An answer's `uf` is an enum, in capitals; a sent one a pattern of the same 27 in any case,
    spaces around it allowed, because the code upper-cases and trims it before it checks."""
    found = dict(uf_schemas(CEP_OPENAPI))
    assert set(found) >= {"#/components/schemas/Cep/properties/uf", "#/components/schemas/CepFields/properties/uf",
                          "#/components/parameters/uf/schema"}
    for where, uf in found.items():
        assert "enum" in uf or "pattern" in uf, where
        assert uf.get("enum", UFS) == UFS, where
        assert uf.get("pattern", trimmed(any_case(UFS))) == trimmed(any_case(UFS)), where


@pytest.mark.parametrize("document, not_storable", [(CEP_OPENAPI, NOT_STORABLE),
                                                    (STAFF_OPENAPI, NOT_STORABLE)],
                         ids=["cep_api", "staff_api"])
def test_the_text_pattern_refuses_what_the_code_cannot_store(document, not_storable):
    """`Text`'s pattern accepts a character, alone or inside a text, exactly when the code stores it.

    Compared character by character rather than as regex text: the code also refuses a lone
    surrogate (JSON "\\ud800"), which no JSON Schema pattern can name in a way every engine reads
    (Rust's regex refuses it), so the document says that in words and the comparison leaves it out.
    """
    pattern = re.compile(document["components"]["schemas"]["Text"]["pattern"])
    for code in range(0x10000):  # the Basic Multilingual Plane: every control and space character
        if 0xD800 <= code <= 0xDFFF:
            continue
        for text in (chr(code), f"a{chr(code)}a"):
            stored = not_storable.search(text.strip()) is None
            assert (pattern.search(text) is not None) == stored, repr(text)


# --- searches: 3 characters at least, counted as search_key() compares them --------------------
# No JSON Schema pattern can count as search_key() does in every alphabet ("é" is one character,
# "ß" two, a combining accent none). The documents' patterns are exact for ASCII text, and beyond it
# never refuse a search the service takes; they let through some text the service then refuses,
# which test_schemathesis.py accepts from the service, naming the parameter.

# A letter in both cases, and three spaces: str.split(), hence search_key(), also cuts at \x1c, as
# the documents' \s does in Python (ECMA's \s does not).
ASCII_PIECES = ("a", "B", " ", "\t", "\x1c")
# One character in a few positions: alone, twice, three times, beside or between letters.
AROUND = (lambda c: c, lambda c: c * 2, lambda c: c * 3, lambda c: "a" + c, lambda c: c + "a", lambda c: "a" + c + "b")


def every_ascii_text(longest):
    """Every text of ASCII_PIECES up to `longest` pieces."""
    return ["".join(pieces) for size in range(longest + 1) for pieces in product(ASCII_PIECES, repeat=size)]


def every_bmp_text():
    """AROUND each character of the Basic Multilingual Plane beyond ASCII (surrogates aside)."""
    for code in range(0x80, 0x10000):
        if not 0xD800 <= code <= 0xDFFF:
            yield from (form(chr(code)) for form in AROUND)


def test_the_search_parts_pattern_is_exact_for_ascii_and_takes_every_search_the_service_takes():
    schema = parameter_schema(CEP_OPENAPI, "search_logradouro")
    assert parameter_schema(CEP_OPENAPI, "search_cidade") == schema
    pattern = re.compile(schema["pattern"])

    def documented(text):
        return len(text) <= schema["maxLength"] and pattern.search(text) is not None

    def taken(text):
        try:
            search_terms("SP", text, text)
        except ApiError as error:
            assert set(error.fields) == {"cidade", "logradouro"}
            return False
        return True

    limits = ["a" * 100, "a" * 101, "a" + " " * 98 + "b", " " * 97 + "abc", " " * 98 + "abc"]
    for text in every_ascii_text(5) + limits:
        assert documented(text) == taken(text), repr(text)
    for text in every_bmp_text():
        assert documented(text) or not taken(text), repr(text)


def test_the_q_pattern_is_exact_for_ascii_and_takes_every_search_the_service_takes(cep_app):
    client = TestApp(cep_app)
    pattern = re.compile(parameter_schema(CEP_OPENAPI, "q")["pattern"])

    def taken(q):
        answer = client.get("/ceps", {"q": q, "per_page": 1}, expect_errors=True)
        assert answer.status_int in (200, 422), (repr(q), answer.text)
        return answer.status_int == 200

    # Counted once trimmed, unlike the path parts above; a request each, so shorter texts than there.
    limits = ["a" * 100, " " + "a" * 100 + "\t", "a" * 101, "a" + " " * 98 + "b", "a" + " " * 99 + "b"]
    longer = ["a  b", " a\tb ", "\x1cab\x1c", "a \x1c b", "  ab  "]
    for q in every_ascii_text(3) + longer + limits:
        assert (pattern.search(q) is not None) == taken(q), repr(q)
    # Only what the pattern refuses needs asking: a few hundred texts, all spaces or ASCII.
    for q in every_bmp_text():
        if pattern.search(q) is None:
            assert not taken(q), repr(q)
    for q in ("ßa", "½", "ﬀa", "가나", "ａｂｃ", "São", "a\u0301bc"):  # some that fold into more characters
        assert pattern.search(q) and taken(q), repr(q)


def test_the_sort_pattern_takes_exactly_what_the_staff_api_takes(make_staff_app):
    client = TestApp(make_staff_app("http://127.0.0.1:9"))
    pattern = re.compile(parameter_schema(STAFF_OPENAPI, "sort")["pattern"])
    tried = [sign + name for name in SORT_KEYS for sign in ("", "-", "+", "--", " -", "- ")]
    tried += ["", " ", "-", " name ", "\t-cep\n", "NAME", "Id", "name-", "id,name", "idx", "xid", "nome", "name\x00"]
    for sort in tried:
        answer = client.get("/employees", {"sort": sort}, expect_errors=True)
        assert answer.status_int in (200, 422), (repr(sort), answer.text)
        assert (pattern.search(sort) is not None) == (answer.status_int == 200), repr(sort)


# --- what every operation may answer ------------------------------------------------------------

# Operations whose handler never touches the service's database.
NO_DATABASE = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/cep-api/logs/summary")}


@pytest.mark.parametrize("document", [CEP_OPENAPI, STAFF_OPENAPI], ids=["cep_api", "staff_api"])
def test_every_operation_documents_the_host_400_and_the_database_503_and_507(document):
    for method, path, operation in each_operation(document):
        responses = operation["responses"]
        assert "400" in responses, f"{method} {path}: any request may name a host not allowed"
        if (method.upper(), path) not in NO_DATABASE:
            assert {"503", "507"} <= set(responses), f"{method} {path}"
            assert "Retry-After" in resolve(document, responses["503"])["headers"], f"{method} {path}"


def test_every_operation_answers_a_host_not_allowed_with_the_documented_400(service):
    app, document, _ = service
    client = TestApp(app)
    for method, path, _ in each_operation(document):
        concrete = re.sub(r"\{(\w+)\}", lambda name: {"employee_id": "1", "uf": "SP"}.get(name[1], "abc"), path)
        answer = client.request(concrete, method=method.upper(), headers={"Host": "rebinding.example"},
                                expect_errors=True)
        error = answer.json["error"]
        assert (answer.status_int, error["status"]) == (400, 400), f"{method} {path}"
        assert "host" in error["message"]


def test_public_reads_and_only_they_document_cors_headers(cep_app):
    public = cep_app.config["chassis.public_rules"]  # what chassis.cors opens to any origin
    cors = {"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"}
    opened = set()
    for method, path, operation in each_operation(CEP_OPENAPI):
        for status, answer in operation["responses"].items():
            headers = set(resolve(CEP_OPENAPI, answer).get("headers", {}))
            if method == "get" and path.startswith(public) and status in ("200", "304"):
                assert cors <= headers, f"{method} {path} {status}"
                opened.add(path)
            elif int(status) < 400:  # errors share their descriptions with writes: the info says it in words
                assert not cors & headers, f"{method} {path} {status}"
    assert {"/ceps", "/ceps/{cep}", "/ws/{cep}/xml/"} <= opened
    for method, path, _ in each_operation(STAFF_OPENAPI):
        assert all(not {"Access-Control-Allow-Origin"} & set(resolve(STAFF_OPENAPI, answer).get("headers", {}))
                   for answer in STAFF_OPENAPI["paths"][path][method]["responses"].values())


def test_the_viacep_examples_are_what_the_api_answers(cep_app):
    client = TestApp(cep_app)
    address = CEP_OPENAPI["components"]["responses"]["ViacepAddress"]["content"]
    examples = address["application/json; charset=utf-8"]["examples"]
    assert client.get("/ws/01001000/json/").json == examples["Praça da Sé"]["value"]
    assert client.get("/ws/99999999/json/").json == examples["No such CEP"]["value"] == {"erro": True}
    for example in address["application/javascript; charset=utf-8"]["examples"].values():
        callback = example["value"].split("(")[0]
        cep = "01001000" if "01001-000" in example["value"] else "99999999"
        assert client.get(f"/ws/{cep}/json/", {"callback": callback}).text == example["value"]
    xml = CEP_OPENAPI["components"]["responses"]["ViacepXml"]["description"]
    shown = re.search(r"```xml\n(.*)```", xml, re.DOTALL)[1]
    assert client.get("/ws/01001000/xml/").text == shown
