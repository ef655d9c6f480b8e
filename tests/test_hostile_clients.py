"""Hostile clients, as the security issue reported them, against the services as they really run:
`python -m cep_api` / `python -m staff_api` on loopback ports (or the apps served by real waitress,
where a test needs both database engines), spoken to over real sockets, byte for byte where a
well-behaved client library would refuse to send what an attacker sends.

One section per item of the issue: idle and slow sockets, huge methods in the request log, lone
surrogates and control characters, DNS rebinding, ?q= through the trigram index, huge queries and
bodies, ViaCEP's 3-character minimum, and the dashboard's way to the CEP API's log summary.
"""
import os
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from conftest import REPO_ROOT, free_port, get_once_up

# --- helpers: services in their own processes, and raw HTTP ------------------------------------


class Service:
    """One `python -m <name>` on a loopback port; its stderr goes to a file the test may read."""

    def __init__(self, name, process, port, db_path, stderr_path):
        self.name, self.process, self.port = name, process, port
        self.db_path, self.stderr_path = db_path, stderr_path
        self.url = f"http://127.0.0.1:{port}"

    def stop(self):
        """SIGTERM, as a service manager would; SIGKILL if it does not end within 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stderr(self):
        """What the process wrote to stderr so far."""
        return self.stderr_path.read_bytes()


@pytest.fixture
def services(tmp_path):
    """services(name, **env) -> a started Service on its own database in tmp_path; every one is
    stopped when the test ends. The environment is this process's without any setting of the
    services (no token, no allowed host, no database URL leaks in), plus `env`."""
    started = []

    def start(name, **env):
        port, prefix = free_port(), name.upper()
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith(("CEP_API_", "STAFF_API_", "STAFF_CEP_"))}
        db_path = tmp_path / f"{name}-{port}.sqlite3"
        environ.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port), f"{prefix}_DB": str(db_path)})
        if name == "staff_api":  # a port nobody listens on, unless the test names its CEP API
            environ["CEP_API_URL"] = f"http://127.0.0.1:{free_port()}"
        environ.update(env)
        stderr_path = tmp_path / f"{name}-{port}.stderr"
        with open(stderr_path, "wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", name], cwd=REPO_ROOT, env=environ,
                                       stdout=subprocess.DEVNULL, stderr=sink)
        service = Service(name, process, port, Path(environ[f"{prefix}_DB"]), stderr_path)
        started.append(service)
        get_once_up(service.url + "/health", timeout=30)
        return service

    yield start
    for service in started:
        service.stop()


def exchange(port, data, seconds=30.0):
    """Send the bytes `data` on a new connection to 127.0.0.1:port and read one answer, all within
    `seconds` (socket.timeout past that): (status, {header: value}, body)."""
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as conn:
        conn.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            received += receive(conn, deadline)
        head, body = received.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        while len(body) < int(headers.get("content-length", "0")):
            body += receive(conn, deadline)
        return int(status_line.split()[1]), headers, body


def receive(conn, deadline):
    """The next bytes from `conn`, waiting no later than `deadline` (time.monotonic())."""
    conn.settimeout(max(deadline - time.monotonic(), 0.001))
    chunk = conn.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection before the whole answer")
    return chunk


def assert_json_error(resp, status):
    """A requests response in the contract's error shape, with the security headers; its error."""
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["Content-Type"].split(";")[0] == "application/json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    error = resp.json()["error"]
    assert error["status"] == status and isinstance(error["message"], str) and error["message"]
    return error


def poll(condition, seconds=10.0):
    """Call condition() until it returns something true, or `seconds` have passed; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


# --- 1. Connection exhaustion: idle and slow-header sockets --------------------------------------

IDLE_SOCKETS = 300
SLOW_SOCKETS = 300
TRICKLE_EVERY = 2.0  # seconds between two bytes on each slow-header socket
SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "  # a header that never ends


class Trickle:
    """A thread that sends one more byte of an endless header on each socket every TRICKLE_EVERY s."""

    def __init__(self, sockets):
        self.sockets, self.stopping, self.rounds = sockets, threading.Event(), 0
        self.one_round_done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(TRICKLE_EVERY):
            for conn in self.sockets:
                try:
                    conn.send(b"a")
                except OSError:  # the server closed it: a slow client may be dropped
                    pass
            self.rounds += 1
            self.one_round_done.set()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)


@pytest.mark.parametrize("name", ["cep_api", "staff_api"])
def test_hundreds_of_idle_and_slow_sockets_do_not_block_an_ordinary_request(services, name):
    service = services(name)
    sockets = []
    trickle = None
    try:
        for _ in range(IDLE_SOCKETS):  # connect, and send nothing at all
            sockets.append(socket.create_connection(("127.0.0.1", service.port), timeout=10))
        slow = []
        for _ in range(SLOW_SOCKETS):  # a request line and the start of a header that never ends
            conn = socket.create_connection(("127.0.0.1", service.port), timeout=10)
            conn.sendall(SLOW_HEAD)
            slow.append(conn)
        sockets.extend(slow)
        trickle = Trickle(slow)
        assert trickle.one_round_done.wait(30), "the trickle thread never sent a round of bytes"
        # The deadline is what this test is about. Three tries, each within 1 s, so that a moment
        # when this 2-core machine is busy elsewhere does not fail it; waitress with the default
        # connection_limit (100) answers none of them, however long one waits.
        failures = []
        for _ in range(3):
            try:
                status, _, body = exchange(service.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                         b"Connection: close\r\n\r\n", seconds=1.0)
            except OSError as error:  # socket.timeout is an OSError
                failures.append(repr(error))
                continue
            assert status == 200 and b'"status":"ok"' in body
            break
        else:
            pytest.fail(f"GET /health did not answer within 1 s with {IDLE_SOCKETS} idle and {SLOW_SOCKETS} "
                        f"slow-header sockets open: {failures}")
        assert trickle.rounds >= 1  # the slow sockets were still being fed while the request was answered
    finally:
        if trickle:
            trickle.stop()
        for conn in sockets:
            conn.close()


# --- 2. The request log's fields: a 200 kB method ------------------------------------------------

HUGE_METHOD = b"A" * (200 * 1024)  # waitress takes a request line up to 256 kB (max_request_header_size)
HUGE_METHOD_REQUESTS = 40  # 8 MB of methods in all: a log that kept them would pass 5 MB


def database_bytes(db_path):
    """The size of a SQLite database on disk: the file, its WAL and its shared-memory file."""
    return sum(path.stat().st_size for path in db_path.parent.glob(db_path.name + "*"))


@pytest.mark.parametrize("name", ["cep_api", "staff_api"])
def test_a_huge_method_is_logged_as_other_and_the_log_stays_small(services, name):
    service = services(name)
    for _ in range(HUGE_METHOD_REQUESTS):
        status, _, body = exchange(service.port, HUGE_METHOD + b" / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                               b"Connection: close\r\n\r\n")
        assert 400 <= status < 500 and len(body) < 4096

    def all_logged():
        page = requests.get(service.url + "/logs", params={"route": "(none)", "per_page": 100}, timeout=30)
        return page.json()["total"] >= HUGE_METHOD_REQUESTS and page

    logged = poll(all_logged)
    assert logged, "the requests never reached the request log"
    assert len(logged.content) < 50_000
    assert {row["method"] for row in logged.json()["items"]} == {"OTHER"}
    summary = requests.get(service.url + "/logs/summary", timeout=30)
    assert summary.status_code == 200 and len(summary.content) < 50_000
    others = [route for route in summary.json()["routes"] if route["method"] == "OTHER"]
    assert others and sum(route["count"] for route in others) >= HUGE_METHOD_REQUESTS
    service.stop()  # the log's writer writes what it holds; the files are whole afterwards
    assert database_bytes(service.db_path) < 5 * 1024 * 1024


def test_the_rows_logged_as_other_can_be_listed_by_their_method(services):
    service = services("cep_api")
    status, _, _ = exchange(service.port, b"BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status in (404, 405)
    assert poll(lambda: requests.get(service.url + "/logs", params={"route": "(none)"}, timeout=30).json()["total"])
    listed = requests.get(service.url + "/logs", params={"method": "OTHER"}, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [row["method"] for row in listed.json()["items"]] == ["OTHER"]


# --- 3. A lone surrogate in a JSON key; control characters in a path ----------------------------

LONE_SURROGATE_BODY = b'{"\\udfff": 1}'  # valid JSON: a key that is one lone UTF-16 surrogate


def test_a_lone_surrogate_and_control_characters_get_json_and_never_reach_stderr_raw(services, cep_db_path):
    cep = services("cep_api", CEP_API_DB=str(cep_db_path))
    staff = services("staff_api", CEP_API_URL=cep.url)
    json_type = {"Content-Type": "application/json"}

    created = requests.post(cep.url + "/ceps", data=LONE_SURROGATE_BODY, headers=json_type, timeout=30)
    assert "\udfff" in assert_json_error(created, 422)["fields"]  # the unknown key, named as sent
    changed = requests.patch(cep.url + "/ceps/01001000", data=LONE_SURROGATE_BODY, headers=json_type, timeout=30)
    assert "\udfff" in assert_json_error(changed, 422)["fields"]
    hired = requests.post(staff.url + "/employees", data=LONE_SURROGATE_BODY, headers=json_type, timeout=30)
    assert "\udfff" in assert_json_error(hired, 422)["fields"]

    # CR, LF and ESC in the path, percent-encoded as a client sends them; waitress decodes them.
    forged = "/employees/%0d%0aFAKE%1b[31m"
    for method in ("PATCH", "PUT"):
        status, headers, body = exchange(staff.port, (
            f"{method} {forged} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(LONE_SURROGATE_BODY)}\r\nConnection: close\r\n\r\n").encode() + LONE_SURROGATE_BODY)
        assert 400 <= status < 500 and headers["content-type"].startswith("application/json"), body[:300]
        assert headers["x-content-type-options"] == "nosniff"
    status, headers, _ = exchange(cep.port, f"GET /ceps{forged[10:]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                            "Connection: close\r\n\r\n".encode())
    assert status == 400 and headers["content-type"].startswith("application/json")

    for service in (cep, staff):
        service.stop()  # what it had to say is all in the file now
        written = service.stderr()
        assert b"\x1b" not in written, written[-2000:]
        assert not any(line.startswith(b"FAKE") for line in written.replace(b"\r", b"\n").split(b"\n")), written[-2000:]


# --- 4. DNS rebinding: the Host header -----------------------------------------------------------

FOREIGN_HOSTS = ["rebind.attacker.example", "rebind.attacker.example:{port}", "localhost.attacker.example:{port}",
                 "127.0.0.1.nip.io:{port}"]
LOOPBACK_HOSTS = ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LocalHost:{port}", "localhost"]
NEW_CEP = {"cep": "01000999", "logradouro": "Rua do Rebinding", "bairro": "Centro", "localidade": "São Paulo",
           "uf": "SP"}


def as_host(host, port, method, url, **kwargs):
    """A request to `url` carrying `Host: host` (with {port} filled in)."""
    return requests.request(method, url, headers={"Host": host.format(port=port), **kwargs.pop("headers", {})},
                            timeout=30, **kwargs)


def test_a_foreign_host_name_is_refused_and_nothing_is_written(services, cep_db_path):
    cep = services("cep_api", CEP_API_DB=str(cep_db_path), CEP_API_ALLOWED_HOSTS="cep.example.org")
    staff = services("staff_api", CEP_API_URL=cep.url, STAFF_API_ALLOWED_HOSTS="Staff.Example.org, other.example.org")
    employee = {"name": "Eve Rebinder", "email": "eve@attacker.example", "cep": "01001000"}
    for host in FOREIGN_HOSTS:
        for method, path, body in (("GET", "/employees", None), ("POST", "/employees", employee), ("GET", "/", None),
                                   ("GET", "/addresses/01001000", None), ("DELETE", "/cep-cache", None),
                                   ("GET", "/logs", None)):
            assert_json_error(as_host(host, staff.port, method, staff.url + path, json=body), 400)
        for method, path, body in (("GET", "/ceps/01001000", None), ("GET", "/ceps", None),
                                   ("POST", "/ceps", NEW_CEP), ("PATCH", "/ceps/01001000", {"bairro": "Rebound"}),
                                   ("DELETE", "/ceps/01001000", None), ("GET", "/ws/01001000/json/", None)):
            assert_json_error(as_host(host, cep.port, method, cep.url + path, json=body), 400)

    # Nothing was written, nor looked up: no employee, no cached CEP, the CEPs as they were.
    assert requests.get(staff.url + "/employees", timeout=30).json()["total"] == 0
    assert requests.get(staff.url + "/cep-cache", timeout=30).json()["total"] == 0
    assert requests.get(cep.url + "/ceps/01000999", timeout=30).status_code == 404
    assert requests.get(cep.url + "/ceps/01001000", timeout=30).json()["bairro"] == "Sé"

    # The names it is reached by are served: loopback, with or without a port, and those of the variable.
    for host in LOOPBACK_HOSTS + ["staff.example.org:8443", "other.example.org"]:
        assert as_host(host, staff.port, "GET", staff.url + "/employees").status_code == 200, host
    for host in LOOPBACK_HOSTS + ["cep.example.org", "CEP.example.org:443"]:
        assert as_host(host, cep.port, "GET", cep.url + "/ceps/01001000").status_code == 200, host
    assert as_host("staff.example.org", staff.port, "POST", staff.url + "/employees", json=employee).status_code == 201
    assert requests.get(staff.url + "/employees", timeout=30).json()["total"] == 1
    # One service's name is not the other's.
    assert_json_error(as_host("cep.example.org", staff.port, "GET", staff.url + "/employees"), 400)
    assert_json_error(as_host("staff.example.org", cep.port, "GET", cep.url + "/ceps"), 400)


def test_an_allowed_hosts_star_answers_any_host(services):
    cep = services("cep_api", CEP_API_ALLOWED_HOSTS="*")
    assert as_host("rebind.attacker.example", cep.port, "GET", cep.url + "/health").status_code == 200
    assert as_host("anything.example:81", cep.port, "GET", cep.url + "/ceps").status_code == 200


# --- 5. ?q= through the trigram index, on both engines --------------------------------------------


def fold(text):
    """The text as ?q= compares it, written here on its own: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).casefold().split())


def every_page(url, params, per_page=100, most=100):
    """(every item of a list, page after page until an empty one, and the first page's total)."""
    items, total = [], None
    for page in range(1, most + 1):
        answer = requests.get(url, params={**params, "page": page, "per_page": per_page}, timeout=30)
        assert answer.status_code == 200, answer.text
        total = answer.json()["total"] if total is None else total
        if not answer.json()["items"]:
            return items, total
        items.extend(answer.json()["items"])
    pytest.fail(f"{url} {params} still had items on page {most}")


def matching(records, q, uf=None, localidade=None):
    """The CEPs of `records` whose street or district holds `q` (folded), in order: brute force."""
    key = fold(q)
    return sorted(record["cep"] for record in records
                  if (key in fold(record["logradouro"]) or key in fold(record["bairro"]))
                  and (uf is None or record["uf"] == uf.upper())
                  and (localidade is None or record["localidade"] == localidade))


@pytest.fixture
def cep_url(cep_app, serve):
    """The seeded CEP API (either engine) on a loopback port."""
    return serve(cep_app).url


SEARCHES = [("jardim", {}), ("JARDIM", {}), ("são", {}), ("Sa\u0303o", {}), ("paulista", {}), ("praça da sé", {}),
            ("  joao  ", {}), ("ção", {}), ("a b", {}), ("do j", {}), ("centro", {"uf": "SP"}),
            ("vila", {"uf": "rj"}), ("rua", {"uf": "DF"}), ("rua", {"localidade": "São Paulo"}),
            ("jardim", {"uf": "SP", "localidade": "São Paulo"}), ("avenida", {"uf": "AC", "localidade": "Rio Branco"}),
            ("zzzzzz", {}),
            # What the index's query language or LIKE would read as syntax is text to look for.
            ('"""', {}), ('rua" OR "jardim', {}), ("jar*", {}), ("NEAR(rua", {}), ("%%%", {}), ("___", {}),
            ("%%%", {"localidade": "São Paulo"}), ("r_a", {"localidade": "São Paulo"})]


def test_q_finds_what_a_substring_search_finds(cep_url):
    records, total = every_page(cep_url + "/ceps", {})
    assert total == len(records) > 2000  # the seeded sample
    from cep_api.ceps import MAX_MATCHES
    for q, filters in SEARCHES:
        expected = matching(records, q, filters.get("uf"), filters.get("localidade"))
        assert len(expected) < MAX_MATCHES  # so every match is listed
        found, total = every_page(cep_url + "/ceps", {"q": q, **filters})
        assert [item["cep"] for item in found] == expected, (q, filters)
        assert total == len(expected), (q, filters)
    assert matching(records, "paulista") and matching(records, "rua", localidade="São Paulo")  # some find something


def test_q_follows_every_write(cep_url):
    def found(q):
        return [item["cep"] for item in requests.get(cep_url + "/ceps", params={"q": q}, timeout=30).json()["items"]]

    record = {"cep": "01000-999", "logradouro": "Rua Xilófago Çãozinho", "complemento": "", "bairro": "Quuxbaz",
              "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
    assert requests.post(cep_url + "/ceps", json=record, timeout=30).status_code == 201
    assert found("xilofago") == found("CAOZINHO") == found("quuxbaz") == found("ofago caoz") == ["01000-999"]
    patched = requests.patch(cep_url + "/ceps/01000999", json={"logradouro": "Travessa Wumpus"}, timeout=30)
    assert patched.status_code == 200
    assert found("xilofago") == [] and found("wumpus") == found("quuxbaz") == ["01000-999"]
    replaced = requests.put(cep_url + "/ceps/01000999", json={**record, "logradouro": "", "bairro": "Grault Garply"},
                            timeout=30)
    assert replaced.status_code == 200
    assert found("wumpus") == found("quuxbaz") == [] and found("grault") == ["01000-999"]
    # An existing record changed too: the seeded Praça da Sé loses its name, then gets it back.
    assert found("praca da se") == ["01001-000"]
    requests.patch(cep_url + "/ceps/01001000", json={"logradouro": "Largo Plugh"}, timeout=30).raise_for_status()
    assert found("praca da se") == [] and found("plugh") == ["01001-000"]
    requests.patch(cep_url + "/ceps/01001000", json={"logradouro": "Praça da Sé"}, timeout=30).raise_for_status()
    assert found("praca da se") == ["01001-000"] and found("plugh") == []
    assert requests.delete(cep_url + "/ceps/01000999", timeout=30).status_code == 204
    assert found("grault") == []
    assert requests.post(cep_url + "/ceps", json=record, timeout=30).status_code == 201  # the same CEP again
    assert found("xilofago") == ["01000-999"] and found("grault") == []


@pytest.mark.parametrize("q", ["", "ab", "  ab  ", "Sé", "ß", "\u0301\u0301\u0301", "s\u0301\u0301e", "--"])
def test_q_of_fewer_than_3_folded_characters_is_422(cep_url, q):
    answer = requests.get(cep_url + "/ceps", params={"q": q}, timeout=30)
    assert set(assert_json_error(answer, 422)["fields"]) == {"q"}


@pytest.mark.parametrize("q", ["a b", "ßa", "São", "Sa\u0303o"])
def test_q_of_3_folded_characters_is_a_search(cep_url, q):
    assert requests.get(cep_url + "/ceps", params={"q": q}, timeout=30).status_code == 200


SMALL_CAP = 50  # "jardim" matches 244 records of the sample, "rua" 72 of Rio Branco's
CAPPED_SEARCHES = [("jardim", {}), ("rua", {"localidade": "Rio Branco"})]


def test_q_counts_at_most_max_matches(cep_url, monkeypatch):
    from cep_api import ceps

    monkeypatch.setattr(ceps, "MAX_MATCHES", SMALL_CAP, raising=False)  # the app runs in this process
    records, _ = every_page(cep_url + "/ceps", {})
    expected = matching(records, "jardim")
    assert len(expected) > SMALL_CAP
    answer = requests.get(cep_url + "/ceps", params={"q": "jardim", "per_page": 20}, timeout=30).json()
    assert answer["total"] == SMALL_CAP
    assert [item["cep"] for item in answer["items"]] == expected[:20]
    in_sp = requests.get(cep_url + "/ceps", params={"q": "jardim", "uf": "SP"}, timeout=30).json()
    assert in_sp["total"] == min(SMALL_CAP, len(matching(records, "jardim", "SP")))
    assert len(matching(records, "rua", localidade="Rio Branco")) > SMALL_CAP
    in_town = requests.get(cep_url + "/ceps", params={"q": "rua", "localidade": "Rio Branco"}, timeout=30).json()
    assert in_town["total"] == SMALL_CAP


@pytest.mark.parametrize("q, filters", CAPPED_SEARCHES)
def test_q_lists_no_more_records_than_its_total(cep_url, monkeypatch, q, filters):
    from cep_api import ceps

    monkeypatch.setattr(ceps, "MAX_MATCHES", SMALL_CAP, raising=False)
    records, _ = every_page(cep_url + "/ceps", {})
    listed, total = every_page(cep_url + "/ceps", {"q": q, **filters}, per_page=20)
    assert total == SMALL_CAP
    assert [item["cep"] for item in listed] == matching(records, q, localidade=filters.get("localidade"))[:SMALL_CAP]


# --- 6. Huge queries and bodies -------------------------------------------------------------------

UNKNOWN_NAMES = 25_000  # "n12345=&" x 25,000: 200 kB of query string, under waitress's 256 kB


@pytest.mark.parametrize("name, paths", [("cep_api", ["/ceps", "/logs"]), ("staff_api", ["/employees", "/cep-cache"])])
def test_many_unknown_query_names_get_a_small_422(services, name, paths):
    from chassis.web import MAX_ERROR_FIELDS

    service = services(name)
    query = "&".join(f"n{number}=" for number in range(UNKNOWN_NAMES))
    for path in paths:
        answer = requests.get(f"{service.url}{path}?{query}", timeout=30)
        error = assert_json_error(answer, 422)
        assert len(error["fields"]) == MAX_ERROR_FIELDS
        assert set(error["fields"]) <= {f"n{number}" for number in range(UNKNOWN_NAMES)}
        assert str(UNKNOWN_NAMES) in error["message"].replace(",", "")  # how many there were, said once
        assert len(answer.content) < 4096


@pytest.mark.parametrize("name, path", [("cep_api", "/ceps"), ("staff_api", "/employees")])
def test_an_oversize_body_gets_the_json_413_and_a_huge_one_waitress_413(services, name, path):
    service = services(name)
    for size in (200 * 1024, 1_000_000):  # over the app's 100 KiB, within waitress's 1 MiB
        body = b'{"name": "' + b"x" * (size - 12) + b'"}'
        answer = requests.post(service.url + path, data=body, headers={"Content-Type": "application/json"},
                               timeout=30)
        assert_json_error(answer, 413)
    chunked = requests.post(service.url + path, data=iter([b"{" + b" " * 100_000] + [b" " * 100_000] * 2 + [b"}"]),
                            headers={"Content-Type": "application/json"}, timeout=30)  # no length said: chunked
    assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert_json_error(chunked, 413)
    # Over 1 MiB: waitress answers 413 from the headers alone, without reading (or waiting for) the body.
    status, _, _ = exchange(service.port, (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                           f"\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n").encode())
    assert status == 413


# --- 7. ViaCEP's 3-character minimum, counted after folding --------------------------------------


def test_viacep_search_counts_characters_after_folding(cep_url):
    accents_only = requests.get(cep_url + "/ws/SP/sao%20paulo/%CC%81%CC%81%CC%81/json/", timeout=30)
    assert set(assert_json_error(accents_only, 400)["fields"]) == {"logradouro"}
    two_letters = requests.get(cep_url + "/ws/SP/sao%20paulo/s%CC%81%CC%81e/json/", timeout=30)  # "se", 4 code points
    assert set(assert_json_error(two_letters, 400)["fields"]) == {"logradouro"}
    no_town = requests.get(cep_url + "/ws/SP/%CC%83%CC%83%CC%83/paulista/json/", timeout=30)
    assert set(assert_json_error(no_town, 400)["fields"]) == {"cidade"}
    for wildcards in ("%25%25%25", "___"):  # LIKE's wildcards are text to look for: no street holds them
        assert requests.get(f"{cep_url}/ws/SP/sao%20paulo/{wildcards}/json/", timeout=30).json() == []
    # "São" with a combining tilde (4 code points) is 3 characters, as "São" typed with one key.
    combining = requests.get(cep_url + "/ws/SP/Sa%CC%83o%20Paulo/Sa%CC%83o/json/", timeout=30)
    composed = requests.get(cep_url + "/ws/SP/S%C3%A3o%20Paulo/S%C3%A3o/json/", timeout=30)
    assert combining.status_code == composed.status_code == 200 and combining.content == composed.content
    # And it finds what the composed text finds ("Rua João de Lery" in the sample).
    combining = requests.get(cep_url + "/ws/SP/Sa%CC%83o%20Paulo/Joa%CC%83o/json/", timeout=30)
    composed = requests.get(cep_url + "/ws/SP/S%C3%A3o%20Paulo/Jo%C3%A3o/json/", timeout=30)
    assert combining.status_code == composed.status_code == 200 and combining.content == composed.content
    assert combining.json() and all("joao" in fold(record["logradouro"]) and record["localidade"] == "São Paulo"
                                    for record in combining.json())


# --- 8. The dashboard and the CEP API's log summary ----------------------------------------------

CEP_TOKEN, STAFF_TOKEN = "cep-secret-4a1f", "staff-secret-9c3e"


def test_the_staff_api_relays_the_cep_apis_log_summary_without_the_browser_holding_its_token(services):
    cep = services("cep_api", CEP_API_TOKEN=CEP_TOKEN)
    staff = services("staff_api", STAFF_API_TOKEN=STAFF_TOKEN, CEP_API_TOKEN=CEP_TOKEN, CEP_API_URL=cep.url)
    for _ in range(3):
        assert requests.get(cep.url + "/ceps/01001000", timeout=30).status_code == 404  # an empty database; logged
    # The CEP API's log still needs its own token.
    for path in ("/logs", "/logs/summary"):
        assert_json_error(requests.get(cep.url + path, timeout=30), 401)
    assert requests.get(cep.url + "/logs/summary", headers={"Authorization": f"Bearer {CEP_TOKEN}"},
                        timeout=30).status_code == 200

    relayed_url = staff.url + "/cep-api/logs/summary"
    staff_auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}

    def relayed_lookups():
        answer = requests.get(relayed_url, params={"minutes": 5}, headers=staff_auth, timeout=30)
        assert answer.status_code == 200, answer.text
        routes = {(route["method"], route["route"]): route["count"] for route in answer.json()["routes"]}
        return routes.get(("GET", "/ceps/<cep>"), 0) >= 3 and answer.json()

    summary = poll(relayed_lookups)
    assert summary, "the relayed summary never showed the CEP API's lookups"
    assert summary["minutes"] == 5  # the CEP API's summary of the window asked for, not the staff API's own
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {CEP_TOKEN}"}):
        refused = requests.get(relayed_url, headers=headers, timeout=30)
        assert_json_error(refused, 401)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    # The open dashboard names neither the CEP API's address nor its token: not in the page, its
    # files or its headers (a Content-Security-Policy naming the CEP API's origin would).
    page = requests.get(staff.url + "/", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    answers = [page] + [requests.get(f"{staff.url}/static/{name}", timeout=30)
                        for name in ("dashboard.js", "dashboard.css")]
    for answer in answers:
        assert answer.status_code == 200
        shown = answer.text + " ".join(answer.headers.values())
        for secret in (CEP_TOKEN, cep.url, f"127.0.0.1:{cep.port}"):
            assert secret not in shown, (answer.url, secret)


def test_the_dashboards_redirect_does_not_echo_the_host(make_staff_app, serve):
    from deploy.pythonanywhere.one_app import PrefixDispatcher

    dead_cep_api = f"http://127.0.0.1:{free_port()}"
    staff_app = make_staff_app(dead_cep_api, allowed_hosts=("localhost", "127.0.0.1", "::1", "staff.example.org"))
    server = serve(PrefixDispatcher({"/staff": staff_app}))
    for headers in ({"Host": "staff.example.org:8443"},
                    {"Host": "staff.example.org", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}):
        moved = requests.get(server.url + "/staff", headers=headers, allow_redirects=False, timeout=30)
        assert moved.status_code in (301, 302, 307, 308)
        location = moved.headers["Location"]
        for told in ("staff.example.org", "8443", "evil.example", "https"):
            assert told not in location, location
        assert urljoin(server.url + "/staff", location) == server.url + "/staff/"
        assert requests.get(urljoin(server.url + "/staff", location), timeout=30).status_code == 200
    # A foreign name gets no redirect at all.
    refused = requests.get(server.url + "/staff", headers={"Host": "rebind.attacker.example"}, allow_redirects=False,
                           timeout=30)
    assert_json_error(refused, 400)
