"""Bearer tokens (chassis/auth.py) in both services: how a token is asked for and checked, what is
always open, and that the request log always needs it. Which of its own routes each service
protects is the service's business: tests/test_security.py."""
import json

import pytest
from webtest import TestApp

from conftest import assert_error

TOKEN = "s3cret-token-for-tests"
# A route each service protects, a body it takes there, and the status of that request with the token.
PROTECTED = {"cep_api": ("POST", "/ceps", {"cep": "01001-999", "localidade": "São Paulo", "uf": "SP"}, 201),
             "staff_api": ("GET", "/employees", None, 200)}
# What each service opens beyond the chassis's own open paths: the CEP API its reads, the staff API
# its dashboard and the dashboard's files.
OPENED_BY_THE_SERVICE = {"cep_api": ["/ceps/01001000", "/ceps?uf=SP"], "staff_api": ["/", "/static/dashboard.css"]}


def send(client, method, path, body=None, authorization=None):
    """One request, with `Authorization: <authorization>` when given; the answer, whatever its status."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.request(path, method=method, headers=headers, expect_errors=True,
                          body=(json.dumps(body) if body else "").encode(),
                          content_type="application/json")


def assert_unauthorized(resp, realm, invalid_token=False):
    """A 401 in the contract's shape that says how to authenticate, and never echoes a token."""
    assert_error(resp, 401)
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{realm}"')
    assert ('error="invalid_token"' in challenge) == invalid_token
    assert TOKEN not in resp.text and "wrong" not in resp.text


@pytest.mark.parametrize("authorization, invalid_token", [
    (None, False),
    ("", False),
    (f"Basic {TOKEN}", False),  # the right secret, the wrong scheme
    (f"Token {TOKEN}", False),
    (TOKEN, False),  # no scheme at all
    ("Bearer wrong", True),
    ("Bearer", True),  # the scheme, and no token
    (f"Bearer {TOKEN}x", True),
    (f"Bearer {TOKEN[:-1]}", True),  # all but the last character: no prefix of the token is one
    ("Bearer s3cret-tökén".encode().decode("latin-1"), True),  # UTF-8 bytes, as WSGI hands them over
])
def test_a_protected_route_asks_for_the_token_and_says_when_the_one_sent_is_wrong(service_name, make_app,
                                                                                   authorization, invalid_token):
    client = TestApp(make_app(token=TOKEN))
    method, path, body, _ = PROTECTED[service_name]
    assert_unauthorized(send(client, method, path, body, authorization), service_name, invalid_token)


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "])
def test_the_token_opens_a_protected_route_whatever_the_schemes_case_and_the_spaces_around_it(
        service_name, make_app, authorization):
    client = TestApp(make_app(token=TOKEN))
    method, path, body, status = PROTECTED[service_name]
    assert send(client, method, path, body, authorization).status_int == status


def test_a_token_that_is_not_ascii_is_compared_as_the_utf8_a_client_sends(service_name, make_app):
    client = TestApp(make_app(token="s3cret-tökén"))
    method, path, body, status = PROTECTED[service_name]
    sent = "Bearer s3cret-tökén".encode().decode("latin-1")  # a header's bytes, as WSGI hands them over
    assert send(client, method, path, body, sent).status_int == status
    assert_unauthorized(send(client, method, path, body, "Bearer s3cret-token"), service_name, invalid_token=True)


def test_a_token_whose_bytes_are_not_utf8_is_a_401_not_a_500(service_name, make_app):
    client = TestApp(make_app(token=TOKEN))
    method, path, body, _ = PROTECTED[service_name]
    sent = "Bearer s3cret-t\xf6k\xe9n"  # the bytes F6 and E9, as a client sending Latin-1 does
    assert_unauthorized(send(client, method, path, body, sent), service_name, invalid_token=True)


def test_the_open_paths_stay_open_and_unknown_routes_are_still_404_and_405(service_name, make_app):
    client = TestApp(make_app(token=TOKEN))
    for path in ("/health", "/docs", "/openapi.json", "/docs/static/docs.js", *OPENED_BY_THE_SERVICE[service_name]):
        assert client.get(path).status_int == 200, path
    assert_error(client.post("/nowhere", expect_errors=True), 404)
    assert_error(client.put("/health", expect_errors=True), 405)


def test_the_request_log_needs_the_token_even_where_reads_are_open(service_name, make_app):
    client = TestApp(make_app(token=TOKEN))
    for path in ("/logs", "/logs/summary"):
        for method in ("GET", "HEAD"):
            resp = client.request(path, method=method, expect_errors=True)
            assert resp.status_int == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_int == 200


def test_without_a_token_nothing_is_protected(service_name, make_app):
    client = TestApp(make_app())
    method, path, body, status = PROTECTED[service_name]
    assert send(client, method, path, body).status_int == status
    assert client.get("/logs").status_int == 200


def test_the_open_paths_are_the_apps_own_when_a_host_mounts_it_under_a_path(service_name, make_app):
    from deploy.pythonanywhere.one_app import PrefixDispatcher

    client = TestApp(PrefixDispatcher({"/mounted": make_app(token=TOKEN)}))
    assert client.get("/mounted/health").status_int == 200
    assert client.get("/mounted/docs").status_int == 200
    assert_unauthorized(client.get("/mounted/logs", expect_errors=True), service_name)
    assert client.get("/mounted/logs", headers={"Authorization": f"Bearer {TOKEN}"}).status_int == 200
