"""The staff API's CEP client against misbehaving servers: real sockets on loopback, no mocks.

Each fault is a tiny server in threads (RawServer) that answers the way a broken, slow or wrong
server would; the client must turn every one of them into CepServiceUnavailable, within its
one deadline, and never take someone else's answer for the CEP API's. (The deadline socket itself,
and outgoing.get, the chassis's: tests/chassis/test_outgoing.py.)
"""
import json
import threading
import time

import pytest
import requests

import staff_api.cep_client
from conftest import free_port
from staff_api.cep_client import MAX_BODY_BYTES, RECORD_FIELDS, CepApiClient, CepServiceUnavailable

SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar", "bairro": "Sé",
      "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
TIMEOUT = 0.5


def within_budget(elapsed, timeout=TIMEOUT):
    """The call ended because of its deadline, not because the server gave up (generous for slow CI)."""
    return elapsed < 2 * timeout + 0.5


@pytest.fixture
def client():
    """client(url, timeout=5.0) -> a CepApiClient, its session closed when the test ends. Tests of the
    deadline pass TIMEOUT; the others get time to spare on a busy machine."""
    clients = []

    def make(url, timeout=5.0):
        clients.append(CepApiClient(url, timeout))
        return clients[-1]

    yield make
    for made in clients:
        made.session.close()


def http_answer(status="200 OK", body=b"", content_type="application/json", headers=()):
    """An `answer` sending one complete HTTP response, then closing the connection."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *headers]

    def answer(conn, stopping):
        """Send the whole response at once."""
        conn.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    return answer


def trickle(data, interval=0.3):
    """An `answer` sending `data` one byte every `interval` seconds: each read gets a byte in time."""
    def answer(conn, stopping):
        """Send `data` byte by byte, until the client gives up or the test ends."""
        for byte in data:
            if stopping.wait(interval):
                return
            conn.sendall(bytes([byte]))
    return answer


def headers_then_trickle(conn, stopping):
    """Status line and headers at once, then the body one byte every 0.3 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    trickle(b" " * 1000)(conn, stopping)


def never_answer(conn, stopping):
    """Read the request, then say nothing until the test ends."""
    stopping.wait()


def fetch_fails(client, cep="01001000", etag=""):
    """The CepServiceUnavailable message of a fetch that must fail, and how long the call took."""
    started = time.monotonic()
    with pytest.raises(CepServiceUnavailable) as failure:
        client.fetch(cep, etag)
    return str(failure.value), time.monotonic() - started


# --- one deadline per call ----------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    headers_then_trickle,
    trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100 + b"\r\n\r\n"),  # trickled headers
    never_answer,
], ids=["trickled-body", "trickled-headers", "never-answers"])
def test_a_slow_server_is_given_up_at_the_deadline(raw_server, client, answer):
    server = raw_server(answer)
    message, elapsed = fetch_fails(client(server.url, TIMEOUT))
    assert message == "The CEP API did not answer within 0.5 s"
    assert within_budget(elapsed)
    assert len(server.heads) == 1  # it was asked once: no retry spent a second budget


def test_a_closed_port_fails_fast(client):
    message, elapsed = fetch_fails(client(f"http://127.0.0.1:{free_port()}"))
    assert message == "The CEP API could not be reached"
    assert elapsed < TIMEOUT  # refused at once: not a wait for the deadline


def test_a_reused_connection_gets_a_deadline_of_its_own(raw_server, client):
    body = json.dumps(SE).encode()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def keep_alive(conn, stopping):
        """Answer three requests on the one connection."""
        conn.sendall(response)
        for _ in range(2):
            conn.recv(4096)
            conn.sendall(response)

    server = raw_server(keep_alive)
    cep = client(server.url, TIMEOUT)
    for _ in range(3):
        assert cep.fetch("01001000") == (200, SE, "")
        time.sleep(TIMEOUT / 2)  # together longer than one budget: the first call's deadline has passed
    assert server.connections == 1


def test_no_watchdog_threads_are_left_after_many_calls(cep_server, client, raw_server):
    slow_server = raw_server(headers_then_trickle)
    cep, slow = client(cep_server.url), client(slow_server.url, timeout=0.2)
    assert cep.fetch("01001000")[0] == 200  # the CEP API's own threads start at its first request
    threads_before = set(threading.enumerate())
    for _ in range(50):
        assert cep.fetch("01001000")[0] == 200
    for _ in range(3):
        fetch_fails(slow)
    # No thread of the client's is running: no timer per call, no watchdog per connection.
    assert set(threading.enumerate()) - threads_before - set(slow_server.threads) == set()


# --- only the CEP API's own answers count -------------------------------------------------

@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found"])
def test_a_redirect_is_not_followed(raw_server, client, status):
    good = raw_server(http_answer(body=SE))
    redirecting = raw_server(http_answer(status, headers=[f"Location: {good.url}/ceps/01001000"]))
    message, _ = fetch_fails(client(redirecting.url))
    assert message == f"The CEP API answered {status.split()[0]}"
    assert good.heads == []


def test_proxy_variables_are_ignored(raw_server, client, monkeypatch):
    proxy = raw_server(http_answer("502 Bad Gateway"))
    good = raw_server(http_answer(body=SE))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):  # 127.0.0.1 listed there would make this test prove nothing
        monkeypatch.delenv(name, raising=False)
    with requests.Session() as default:  # the test is real: requests on its own does go through the proxy
        assert default.get(f"{good.url}/health", timeout=5).status_code == 502
    proxy.connections = 0

    assert client(good.url).fetch("01001000") == (200, SE, "")
    assert proxy.connections == 0


def test_the_session_the_client_is_given_is_left_as_it_is():
    with requests.Session() as session:
        adapters = dict(session.adapters)
        assert CepApiClient("http://127.0.0.1:9", TIMEOUT, session=session).session is session
        assert session.trust_env is True and session.adapters == adapters


def test_the_body_is_asked_for_uncompressed(raw_server, client):
    server = raw_server(http_answer(body=SE))
    client(server.url).fetch("01001000")
    assert b"\r\naccept-encoding: identity\r\n" in server.heads[0].lower()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_64_kib_is_a_failure(raw_server, client, chunked):
    body = json.dumps(SE).encode() + b" " * (70 * 1024)
    if chunked:  # no Content-Length to look at: the size is counted as the body is read
        def answer(conn, stopping):
            """Send the body in chunks of 4 KiB."""
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 4096):
                piece = body[start:start + 4096]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
    else:
        answer = http_answer(body=body)
    message, _ = fetch_fails(client(raw_server(answer).url))
    assert message == "The CEP API answered more than 64 KiB"


def test_a_body_of_exactly_64_kib_is_read(raw_server, client):
    record = json.dumps(SE).encode()
    server = raw_server(http_answer(body=record + b" " * (MAX_BODY_BYTES - len(record))))
    assert client(server.url).fetch("01001000") == (200, SE, "")


NO_SUCH_CEP = {"error": {"status": 404, "message": "CEP 01001-000 is not in the database.",
                         "fields": {"cep": "no such CEP"}}}


@pytest.mark.parametrize("content_type, body", [
    ("text/html", b"<html><body><h1>404 Not Found</h1></body></html>"),
    ("text/html", json.dumps(NO_SUCH_CEP).encode()),  # the right shape, not JSON's content type
    ("application/json", b'{"detail": "Not Found"}'),  # another JSON API's 404
    ("application/json", b'{"error": {"status": 404, "message": "Not found: \'/x/ceps/01001000\'"}}'),  # no fields
    ("application/json", json.dumps({"error": {**NO_SUCH_CEP["error"], "fields": {"uf": "x"}}}).encode()),
    ("application/json", json.dumps({"error": {**NO_SUCH_CEP["error"], "status": 400}}).encode()),
    ("application/json", b'{"error": "Not found."}'),
    ("application/json", b"not json"),
])
def test_a_404_that_is_not_the_cep_apis_no_such_cep_is_a_failure(raw_server, client, content_type, body):
    server = raw_server(http_answer("404 Not Found", body, content_type))
    message, _ = fetch_fails(client(server.url))
    assert message == "The CEP API answered 404 for the address itself (is CEP_API_URL right?)"


def test_a_wrong_prefix_in_the_url_is_a_failure_even_on_the_cep_api(cep_server, client):
    message, _ = fetch_fails(client(cep_server.url + "/wrong-prefix"))
    assert "404 for the address itself" in message


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_a_no_such_cep_404_is_one(raw_server, client, content_type):
    server = raw_server(http_answer("404 Not Found", NO_SUCH_CEP, content_type))
    assert client(server.url).fetch("01001000") == (404, None, "")


def test_the_cep_apis_own_404_means_no_such_cep(cep_server, client):
    assert client(cep_server.url).fetch("99999999") == (404, None, "")


def test_304_renews_only_when_an_etag_was_sent(cep_server, raw_server, client):
    status, record, etag = client(cep_server.url).fetch("01001000")
    assert status == 200 and record == SE and etag
    assert client(cep_server.url).fetch("01001000", etag) == (304, None, "")
    unasked = raw_server(http_answer("304 Not Modified"))
    assert fetch_fails(client(unasked.url))[0] == "The CEP API answered 304"


@pytest.mark.parametrize("status", ["500 Internal Server Error", "502 Bad Gateway", "204 No Content"])
def test_any_other_status_is_a_failure(raw_server, client, status):
    server = raw_server(http_answer(status, b'{"error": {"status": 500, "message": "x"}}'))
    assert fetch_fails(client(server.url))[0] == f"The CEP API answered {status.split()[0]}"


def test_only_the_seven_record_fields_are_kept(raw_server, client):
    server = raw_server(http_answer(body={**SE, "password": "hunter2", "html": "<script>"}))
    status, record, _ = client(server.url).fetch("01001000")
    assert status == 200 and record == SE and tuple(record) == RECORD_FIELDS


@pytest.mark.parametrize("record", [
    {**SE, "logradouro": "a" * 200},
    {**SE, "ibge": ""},
    {**SE, "complemento": ""},
])
def test_a_valid_record_at_the_limits_is_accepted(raw_server, client, record):
    assert client(raw_server(http_answer(body=record)).url).fetch("01001000") == (200, record, "")


@pytest.mark.parametrize("body", [
    pytest.param({**SE, "ibge": 3550308}, id="number"),
    pytest.param({**SE, "logradouro": None}, id="null"),
    pytest.param({name: value for name, value in SE.items() if name != "bairro"}, id="missing-field"),
    pytest.param({**SE, "cep": "01001000"}, id="cep-without-dash"),  # not as the CEP API writes it
    pytest.param({**SE, "cep": "01310-100"}, id="another-cep"),  # a record, but not the one asked for
    pytest.param({**SE, "uf": "sp"}, id="uf-lowercase"),
    pytest.param({**SE, "uf": "SPX"}, id="uf-3-letters"),
    pytest.param({**SE, "uf": ""}, id="uf-empty"),
    pytest.param({**SE, "ibge": "355030"}, id="ibge-6-digits"),
    pytest.param({**SE, "ibge": "35503080"}, id="ibge-8-digits"),
    pytest.param({**SE, "ibge": "355030\uff18"}, id="ibge-fullwidth-digit"),
    pytest.param({**SE, "logradouro": "a" * 201}, id="text-201-chars"),
    pytest.param({**SE, "bairro": "S\u00e9\x1b[2J"}, id="escape-sequence"),  # would rewrite a terminal
    pytest.param({**SE, "complemento": "lado\nimpar"}, id="newline"),
    pytest.param({**SE, "localidade": "S\u00e3o\x85Paulo"}, id="c1-control"),
    pytest.param({**SE, "localidade": "S\u00e3o\x7fPaulo"}, id="del"),
    pytest.param({**SE, "logradouro": "\ud800"}, id="lone-surrogate"),  # JSON may carry one
    pytest.param([SE], id="list"),
    pytest.param("01001-000", id="string"),
])
def test_a_record_that_is_not_valid_is_a_failure(raw_server, client, body):
    message, _ = fetch_fails(client(raw_server(http_answer(body=body)).url))
    assert message == "The CEP API answered something that is not the CEP record asked for"


@pytest.mark.parametrize("body", [
    pytest.param(b"<html>not json</html>", id="html"),
    pytest.param(b"[" * 60_000, id="nested-too-deep"),  # a RecursionError in Python's decoder, not a ValueError
    pytest.param(b'{"cep": "01001-000", "logradouro": "Pra\xe7a"}', id="latin-1"),  # not UTF-8
    pytest.param(b"", id="empty"),
])
def test_a_body_that_is_not_json_is_a_failure(raw_server, client, body):
    message, _ = fetch_fails(client(raw_server(http_answer(body=body)).url))
    assert message == "The CEP API answered something that is not the CEP record asked for"


# --- /health: probed at most once per interval, never waited for --------------------------

def test_is_up_probes_at_most_once_per_interval(raw_server, client, monkeypatch):
    monkeypatch.setattr(staff_api.cep_client, "HEALTH_PROBE_INTERVAL", 60)
    server = raw_server(http_answer(body={"status": "ok"}))
    cep = client(server.url)
    assert all(cep.is_up() for _ in range(20))
    assert len(server.heads) == 1 and server.heads[0].startswith(b"GET /health ")

    cep._probed_at -= 61  # as if the interval had passed
    server.stop()  # down now: the next probe says so
    assert cep.is_up() is False
    assert len(server.heads) == 1


@pytest.mark.parametrize("answer", [http_answer("503 Service Unavailable"), never_answer])
def test_is_up_is_false_for_an_error_or_no_answer(raw_server, client, answer):
    started = time.monotonic()
    assert client(raw_server(answer).url, TIMEOUT).is_up() is False
    assert within_budget(time.monotonic() - started)


def test_a_caller_does_not_wait_while_another_probes(raw_server, client):
    def slow_health(conn, stopping):
        """Answer /health after a second."""
        if not stopping.wait(1.0):
            http_answer(body={"status": "ok"})(conn, stopping)

    server = raw_server(slow_health)
    cep = client(server.url, timeout=3)
    answers = []
    prober = threading.Thread(target=lambda: answers.append(cep.is_up()))
    prober.start()
    deadline = time.monotonic() + 5
    while not server.heads and time.monotonic() < deadline:  # the probe is under way
        time.sleep(0.01)

    started = time.monotonic()
    assert cep.is_up() is False  # no probe has finished yet: the default answer, at once
    assert time.monotonic() - started < 0.5
    prober.join(timeout=5)
    assert answers == [True] and cep.is_up() is True
    assert len(server.heads) == 1
