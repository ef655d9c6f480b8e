"""Which answers a page on another origin may read (chassis/cors.py): public reads, never the rest."""
import pytest
from bottle import Bottle
from webtest import TestApp

TOKEN = "log-token"


@pytest.fixture
def toy():
    """A Bottle app with a public read, a public write and a private read, CORS for /public only."""
    from chassis import cors

    app = Bottle()
    app.get("/public/<name>", callback=lambda name: {"name": name})
    app.post("/public/<name>", callback=lambda name: {"written": name})
    app.get("/private", callback=lambda: {"secret": 1})
    cors.install(app, ("/public",))
    return TestApp(app)


def test_any_page_may_read_a_public_read_and_see_its_etag(toy):
    for method in ("GET", "HEAD"):
        answer = toy.request("/public/x", method=method, headers={"Origin": "https://any.example"})
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["Access-Control-Expose-Headers"] == "ETag"


def test_no_page_may_read_a_write_or_a_private_read(toy):
    for answer in (toy.post("/public/x", headers={"Origin": "https://any.example"}),
                   toy.get("/private", headers={"Origin": "https://any.example"}),
                   toy.get("/nowhere", headers={"Origin": "https://any.example"}, status=404)):
        assert not any(name.startswith("Access-Control-") for name in answer.headers), answer.headers


def test_a_preflight_of_a_public_read_allows_reads_and_the_headers_it_names(toy):
    asked = {"Origin": "https://any.example", "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "If-None-Match"}
    answer = toy.options("/public/x", headers=asked, status=204)
    assert answer.body == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, HEAD"  # never a write
    assert answer.headers["Access-Control-Allow-Headers"] == "If-None-Match"
    assert answer.headers["Access-Control-Max-Age"] == "86400"
    plain = toy.options("/public/x", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"},
                        status=204)
    assert "Access-Control-Allow-Headers" not in plain.headers  # none asked for, none named
    toy.options("/private", headers=asked, status=405)  # no preflight where no page may read


def test_a_preflight_naming_headers_whose_bytes_are_not_utf8_is_no_500(toy):
    asked = {"Origin": "https://any.example", "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "X-\xff"}  # the byte FF, as a client may send it
    assert toy.options("/public/x", headers=asked, expect_errors=True).status_int < 500


@pytest.mark.parametrize("origin, headers, status", [
    ("http://127.0.0.1:8002", {"Authorization": f"Bearer {TOKEN}"}, 200),
    ("http://127.0.0.1:8002", {}, 401),  # an error too
    ("http://127.0.0.1:8002", {"Authorization": "Bearer wrong"}, 401),
    ("http://evil.example", {"Authorization": f"Bearer {TOKEN}"}, 200),
])
def test_no_page_may_read_the_cep_apis_log_but_any_may_read_its_ceps(make_cep_app, origin, headers, status):
    """The CEP API's log was once readable by configured origins (the dashboard's); the staff API now
    relays its summary, so no origin may read it, while every origin may read a CEP."""
    client = TestApp(make_cep_app(token=TOKEN, log=False))
    answer = client.get("/logs/summary", headers={"Origin": origin, **headers}, status=status)
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    preflight = client.options("/logs", headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
                               status=405)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert client.get("/ceps/01001000", headers={"Origin": origin}).headers["Access-Control-Allow-Origin"] == "*"
