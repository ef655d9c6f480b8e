"""JSON over HTTP (chassis/web.py), the same in both services: every error as the contract's JSON,
the security headers, the bodies and paths refused before a service sees them, a database that
cannot answer, and log lines no client can forge."""
import importlib
import io
import json
import logging

import pytest
from webtest import TestApp

from conftest import assert_bad_request_answered, assert_error, committed_rows

NEW_CEP = {"cep": "01001-999", "logradouro": "Rua Nova", "localidade": "São Paulo", "uf": "SP"}
ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001000"}
# Where each service takes a JSON body: its collection (POST) and one item in it (PUT, PATCH), and a
# body it creates a new record from.
COLLECTION = {"cep_api": "/ceps", "staff_api": "/employees"}
ITEM = {"cep_api": "/ceps/01001000", "staff_api": "/employees/1"}
NEW_RECORD = {"cep_api": NEW_CEP, "staff_api": {**ANA, "email": "bia@example.com"}}


@pytest.fixture
def client(service_name, service_app):
    """A WebTest client of the service; the staff API's with employee 1 in it."""
    client = TestApp(service_app)
    if service_name == "staff_api":
        client.post_json("/employees", ANA)
    return client


def data_of(app, service):
    """Every committed row of the service's own data, read over a separate connection (a cache entry's
    hit counter left out: using the cache is no change of data)."""
    if service == "cep_api":
        return committed_rows(app.config, service, "SELECT * FROM cep ORDER BY cep")
    return (committed_rows(app.config, service, "SELECT * FROM employee ORDER BY id"),
            committed_rows(app.config, service, "SELECT cep, status, body, etag, fetched_at, expires_at "
                                                "FROM cep_cache_entry ORDER BY cep"))


# --- bodies and paths refused before the service sees them -----------------------------------

DEEP_VALUE = '{"name": ' + "[" * 5_000 + "]" * 5_000 + "}"  # nested deeper than Python's parser goes

BAD_REQUESTS = [
    # (id, method, path ({collection} or {item} of the service), body (dict = JSON, str = raw text in
    # which {record} is the service's NEW_RECORD, bytes = raw bytes), content type, status)
    # 400: the body is not a JSON object
    ("malformed-json", "POST", "{collection}", '{"name": ', "application/json", 400),
    ("trailing-garbage-after-json", "POST", "{collection}", "{record} x", "application/json", 400),
    ("json-array", "POST", "{collection}", "[1, 2]", "application/json", 400),
    ("empty-json-array", "POST", "{collection}", "[]", "application/json", 400),
    ("json-string-put", "PUT", "{item}", '"01001-000"', "application/json", 400),
    ("json-string-patch", "PATCH", "{item}", '"Ana"', "application/json", 400),
    ("deeply-nested", "POST", "{collection}", "[" * 5_000, "application/json", 400),
    ("deeply-nested-put", "PUT", "{item}", "[" * 5_000, "application/json", 400),
    ("deeply-nested-inside-object", "PATCH", "{item}", DEEP_VALUE, "application/json", 400),
    ("json-null-post", "POST", "{collection}", "null", "application/json", 400),
    ("json-null-patch", "PATCH", "{item}", "null", "application/json", 400),
    ("empty-body-post", "POST", "{collection}", "", "application/json", 400),
    ("empty-body-put", "PUT", "{item}", "", "application/json", 400),
    ("body-not-utf8-post", "POST", "{collection}", b'{"name": "Jo\xe3o", "cep": "01001000"}', "application/json",
     400),
    ("body-not-utf8-patch", "PATCH", "{item}", b'{"name": "S\xe9"}', "application/json", 400),
    ("nan-is-not-json", "PATCH", "{item}", '{"name": NaN}', "application/json", 400),
    ("infinity-is-not-json", "POST", "{collection}", '{"cep": "01001999", "uf": -Infinity}', "application/json",
     400),
    ("utf16-body", "PATCH", "{item}", '{"name": "x"}'.encode("utf-16"), "application/json", 400),
    # 400: the path's bytes are not UTF-8 (Bottle alone drops such bytes: 0100%FF1000 became 01001000)
    ("path-not-utf8-get", "GET", "{collection}/0100%FF1000", None, None, 400),
    ("path-not-utf8-delete", "DELETE", "{collection}/0100%FF1000", None, None, 400),
    ("path-not-utf8-patch", "PATCH", "{collection}/0100%FF1000", {"name": "X"}, None, 400),
    ("path-overlong-utf8-zero", "GET", "{collection}/0100%C0%B01000", None, None, 400),
    ("path-utf8-encoded-surrogate", "GET", "{collection}/0100%ED%A0%801000", None, None, 400),
    ("path-bad-utf8-continuation", "GET", "{collection}/%C3%28", None, None, 400),
    ("path-not-utf8-where-no-route-is", "DELETE", "/nowhere/0100%FF1000", None, None, 400),
    # 413: the size is checked before anything is parsed
    ("too-large", "POST", "{collection}", {"name": "x" * (101 * 1024), "uf": "SP"}, None, 413),
    ("too-large-and-not-json-patch", "PATCH", "{item}", "x" * (101 * 1024), "application/json", 413),
    ("too-large-and-not-json-put", "PUT", "{item}", "x" * (101 * 1024), "application/json", 413),
    # 415: only JSON is read
    ("text-plain", "POST", "{collection}", "{record}", "text/plain", 415),
    ("form-post", "POST", "{collection}", "name=Ana&email=ana%40example.com", "application/x-www-form-urlencoded",
     415),
    ("form-put", "PUT", "{item}", "uf=SP", "application/x-www-form-urlencoded", 415),
    ("no-type-patch", "PATCH", "{item}", '{"name": "x"}', "", 415),
    ("merge-patch-type", "PATCH", "{item}", '{"name": "x"}', "application/merge-patch+json", 415),
]


@pytest.mark.parametrize("method, path, body, content_type, status", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_body_or_path_gets_a_json_error_and_changes_nothing(service_name, client, method, path, body,
                                                                  content_type, status):
    before = data_of(client.app, service_name)
    path = path.format(collection=COLLECTION[service_name], item=ITEM[service_name])
    if isinstance(body, str):  # a record the service would create, were it not for what is wrong around it
        body = body.replace("{record}", json.dumps(NEW_RECORD[service_name]))
    assert_bad_request_answered(client, method, path, body, content_type, status, None)
    assert data_of(client.app, service_name) == before


def test_every_status_the_chassis_gives_a_body_is_covered():
    """The services' own tables (test_cep_api.py, test_staff_api.py) cover the statuses of their routes."""
    assert {case[5] for case in BAD_REQUESTS} == {400, 413, 415}


# Paths that Bottle, dropping the bad byte, would read as a record that exists.
PATHS_NOT_UTF8 = {"cep_api": ["/ceps/0100%FF1000"],
                  "staff_api": ["/addresses/0100%FF1000", "/cep-cache/0100%FF1000", "/employees/1%FF"]}


def test_a_path_that_is_not_utf8_is_refused_not_repaired(service_name, client):
    # Bottle would drop the bad byte, and /ceps/0100%FF1000 would read (or DELETE) 01001-000.
    before = data_of(client.app, service_name)
    for path in PATHS_NOT_UTF8[service_name]:
        for method in ("GET", "DELETE"):
            error = assert_error(client.request(path, method=method, expect_errors=True), 400)
            assert error["message"] == "The path is not valid UTF-8."
    assert data_of(client.app, service_name) == before
    assert client.get(ITEM[service_name]).status_int == 200


def test_a_json_type_written_with_spaces_is_still_json(service_name, client):
    # Bottle's request.json ignores "application/json ; charset=utf-8": a valid body became a 400.
    created = client.post(COLLECTION[service_name], json.dumps(NEW_RECORD[service_name]).encode(),
                          content_type="application/json ; charset=utf-8")
    assert created.status_int == 201


# --- headers -----------------------------------------------------------------------------------

def test_every_answer_carries_the_security_headers(service_name, client):
    if service_name == "cep_api":
        answers = [client.get("/ceps/01001000"), client.get("/ceps/99999999", expect_errors=True),
                   client.put("/health", expect_errors=True), client.post("/ceps", "x", expect_errors=True),
                   client.get("/docs")]
    else:
        answers = [client.get("/employees"), client.post_json("/employees", {**ANA, "email": "bia@example.com"}),
                   client.get("/employees/9", expect_errors=True), client.get("/addresses/x", expect_errors=True),
                   client.get("/health"), client.get("/docs")]
    for resp in answers:
        assert resp.headers["X-Content-Type-Options"] == "nosniff", resp.request.path
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    if service_name == "staff_api":
        for resp in answers:  # employee data: no cache may keep a copy
            assert resp.headers["Cache-Control"] == "no-store", resp.request.path
    else:
        assert answers[0].headers["Cache-Control"] == "public, max-age=3600"  # public data stays cacheable


# An answer of each service that carries an ETag (web.answer_with_etag).
WITH_ETAG = {"cep_api": "/ceps/01001000", "staff_api": "/"}


def test_an_etag_sent_back_is_a_304_and_any_other_the_answer(service_name, make_app):
    client = TestApp(make_app())
    path = WITH_ETAG[service_name]
    etag = client.get(path).headers["ETag"]
    for sent in (etag, f"W/{etag}", f'W/{etag}, "x"', f'"other", {etag}', "*"):
        revalidated = client.get(path, headers={"If-None-Match": sent})
        assert revalidated.status_int == 304 and revalidated.body == b"" and revalidated.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_int == 200


def test_an_etag_whose_bytes_are_not_utf8_matches_nothing(service_name, make_app):
    client = TestApp(make_app())
    assert client.get(WITH_ETAG[service_name], headers={"If-None-Match": '"\xff"'}).status_int == 200


# --- errors ------------------------------------------------------------------------------------

# A function each service's route calls, so that a test can make it fail: (module, name, path).
CALLED_BY = {"cep_api": ("cep_api.ceps", "answer", "/ceps/01001000"),
             "staff_api": ("staff_api.employees", "find", "/employees/1")}


def test_an_unexpected_failure_is_a_json_500_and_its_traceback_goes_to_the_log_made_plain(service_name, client,
                                                                                         monkeypatch):
    module, name, path = CALLED_BY[service_name]

    def a_bug(*args):
        raise ValueError("a bug in the code, not the client's fault\x1b[2J\nFAKE record")

    monkeypatch.setattr(importlib.import_module(module), name, a_bug)
    resp = client.get(path, expect_errors=True)
    assert assert_error(resp, 500)["message"] == "Internal server error."
    assert "a bug in the code" not in resp.text
    logged = resp.errors  # what the app wrote to wsgi.errors, which a server sends to its log
    assert "Traceback" in logged and "a bug in the code" in logged  # for the operator, in the server's log
    assert "\x1b" not in logged and "\\x1b[2J" in logged  # escaped: it cannot rewrite a terminal
    assert "\n    FAKE record" in logged and "\nFAKE" not in logged  # indented: it cannot pass for a record


# A table each service's route reads, and that route.
TABLE_READ_BY = {"cep_api": ("cep", "/ceps/01001000"), "staff_api": ("employee", "/employees")}


def test_a_database_that_cannot_answer_is_a_503_to_retry_not_a_500(service_name, make_app, database_outage):
    app = make_app()
    client = TestApp(app)
    table, path = TABLE_READ_BY[service_name]
    with database_outage(app, service_name, table):
        resp = client.get(path, expect_errors=True)
        assert "try again later" in assert_error(resp, 503)["message"]
        assert resp.headers["Retry-After"] == "5"
    assert client.get(path).status_int == 200  # back, with no restart


def test_an_error_names_at_most_max_error_fields_and_says_how_many_there_were(make_app):
    from chassis.web import MAX_ERROR_FIELDS

    client = TestApp(make_app())
    many = [f"n{number:02d}" for number in range(MAX_ERROR_FIELDS + 5)]
    error = client.get("/logs?" + "&".join(f"{name}=" for name in many), status=422).json["error"]
    assert list(error["fields"]) == many[:MAX_ERROR_FIELDS]  # the first ones, in the order sent
    assert f"({MAX_ERROR_FIELDS + 5} fields at fault; the first {MAX_ERROR_FIELDS} are named.)" in error["message"]
    just_so = client.get("/logs?" + "&".join(f"{name}=" for name in many[:MAX_ERROR_FIELDS]), status=422).json
    assert len(just_so["error"]["fields"]) == MAX_ERROR_FIELDS
    assert "fields at fault" not in just_so["error"]["message"]


def test_an_error_that_quotes_the_request_quotes_500_characters_at_most(make_app):
    long_path = "/nowhere/" + "a" * 10_000
    error = TestApp(make_app()).get(long_path, status=404).json["error"]
    assert error["status"] == 404 and "aaaa" in error["message"]
    assert len(error["message"]) == 500


# --- what is written: JSON, and the server's log ----------------------------------------------

def test_json_bytes_writes_a_lone_surrogate_as_its_json_escape():
    """JSON lets a client send "\\udfff"; UTF-8 has no such character, so it goes back escaped."""
    from chassis.web import json_bytes

    assert json_bytes({"\udfff": "S\ud800o", "São": 1}) == '{"\\udfff":"S\\ud800o","São":1}'.encode()
    assert json.loads(json_bytes({"\udfff": 1})) == {"\udfff": 1}  # the same JSON, read back
    assert json_bytes({"b": 1, "a": [1.5, None]}) == b'{"b":1,"a":[1.5,null]}'  # compact, in the order built


@pytest.mark.parametrize("text, plain", [
    ("GET /x 200\n", "GET /x 200\n"),  # a line as it is, its end kept
    ("GET /\x1b[31mred\r\n", "GET /\\x1b[31mred\\r\n"),  # ESC and CR escaped
    ("one\ntwo\nthree", "one\n    two\n    three"),  # lines after the first indented: none passes for a record
    ("tab\there\x00nul\x7fdel\x85nel\x9fc1", "tab\\there\\x00nul\\x7fdel\\x85nel\\x9fc1"),
    ("lone \udfff and \ud800", "lone \\udfff and \\ud800"),  # no UTF-8 for them
    ("São Paulo — ação", "São Paulo — ação"),  # text that is printable stays as it is
])
def test_plain_lines_escapes_control_characters_and_indents_continuation_lines(text, plain):
    from chassis.web import plain_lines

    assert plain_lines(text) == plain


def test_plain_errors_writes_plain_lines_to_its_stream_and_flushes_it():
    from chassis.web import PlainErrors

    class Stream(io.StringIO):
        flushed = 0

        def flush(self):
            self.flushed += 1
            super().flush()

    stream = Stream()
    errors = PlainErrors(stream)
    errors.write("Traceback\nValueError: \x1b]0;owned\x07\n")
    errors.flush()
    assert stream.getvalue() == "Traceback\n    ValueError: \\x1b]0;owned\\x07\n" and stream.flushed == 1


def test_a_logging_handler_over_plain_errors_writes_each_record_on_its_own_lines():
    """What `python -m <service>` logs through (chassis/serving.py): a message cannot forge a record."""
    from chassis.web import PlainErrors

    stream = io.StringIO()
    handler = logging.StreamHandler(PlainErrors(stream))
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.chassis.plain")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("path /x\r\nINFO forged\x1b[2K")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "WARNING path /x\\r\n    INFO forged\\x1b[2K\n"
