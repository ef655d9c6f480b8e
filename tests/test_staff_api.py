"""The staff API's routes and errors (WebTest), against the real CEP API served on loopback."""
import sqlite3
import time
from urllib.parse import quote

import pytest
from webtest import TestApp

from conftest import assert_bad_request_answered, assert_error, committed_rows, count_rows

ANA = {"name": "Ana Souza", "email": "ana@example.com", "role": "Engineer", "cep": "01001000",
       "number": "100", "complement": "apto 12"}
SE_ADDRESS = {"logradouro": "Praça da Sé", "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}


@pytest.fixture
def staff(cep_server, make_staff_app):
    return TestApp(make_staff_app(cep_server.url))


def test_create_fills_the_address_from_the_cep_api(staff):
    resp = staff.post_json("/employees", ANA)
    assert resp.status_int == 201
    assert resp.headers["Location"] == f"/employees/{resp.json['id']}"
    assert resp.headers["X-Cep-Cache"] == "miss"
    employee = resp.json
    assert employee["cep"] == "01001-000" and employee["address"] == SE_ADDRESS
    assert employee["created_at"] == employee["updated_at"] and employee["created_at"].endswith("Z")
    assert staff.get(resp.headers["Location"]).json == employee


def test_read_list_filter_update_delete(staff):
    ana = staff.post_json("/employees", ANA).json
    bia = staff.post_json("/employees", {"name": "Bia Lima", "email": "bia@example.com", "cep": "69900-070"}).json
    listed = staff.get("/employees?per_page=1").json
    assert listed["total"] == 2 and [item["id"] for item in listed["items"]] == [ana["id"]]
    assert [e["id"] for e in staff.get("/employees?uf=sp").json["items"]] == [ana["id"]]
    assert [e["id"] for e in staff.get("/employees?q=BIA@").json["items"]] == [bia["id"]]

    moved = staff.patch_json(f"/employees/{ana['id']}", {"cep": "01310-100", "role": "Lead"})
    assert moved.headers["X-Cep-Cache"] == "miss"
    assert moved.json["address"]["logradouro"] == "Avenida Paulista" and moved.json["role"] == "Lead"
    assert moved.json["name"] == ANA["name"]

    same_cep = staff.patch_json(f"/employees/{ana['id']}", {"cep": "01310100", "email": "ANA@example.com"})
    assert "X-Cep-Cache" not in same_cep.headers  # the CEP did not change: no lookup
    assert same_cep.json["email"] == "ANA@example.com"

    replaced = staff.put_json(f"/employees/{ana['id']}", {"name": "Ana S.", "email": "ana@example.com", "cep": "01001-000"})
    assert replaced.json["role"] == "" and replaced.json["address"] == SE_ADDRESS
    assert replaced.headers["X-Cep-Cache"] == "hit"

    taken = staff.patch_json(f"/employees/{bia['id']}", {"email": "Ana@Example.com"}, expect_errors=True)
    assert assert_error(taken, 409)["fields"] == {"email": "already taken"}
    assert staff.get(f"/employees/{bia['id']}").json["email"] == "bia@example.com"

    assert staff.delete(f"/employees/{ana['id']}").status_int == 204
    assert_error(staff.get(f"/employees/{ana['id']}", expect_errors=True), 404)
    assert staff.get("/employees").json["total"] == 1


def test_q_ignores_case_and_accents_in_every_alphabet_on_either_engine(staff):
    jose = staff.post_json("/employees", {"name": "José  ÁVILA", "email": "Zoë@Example.com", "cep": "01001000"}).json
    staff.post_json("/employees", ANA)
    for q in ("jose avila", "JOSÉ ÁVILA", "ávila", "zoë@example", "ZOË"):
        assert [e["id"] for e in staff.get("/employees", {"q": q}).json["items"]] == [jose["id"]], q
    renamed = staff.patch_json(f"/employees/{jose['id']}", {"name": "Júlia Ávila"}).json
    assert [e["id"] for e in staff.get("/employees", {"q": "JULIA"}).json["items"]] == [renamed["id"]]
    assert staff.get("/employees", {"q": "jose"}).json["total"] == 0


def test_nfc_and_nfd_spellings_of_an_email_are_one_email(staff, staff_db_path):
    """"joão" typed with one key (NFC) or with a combining tilde (NFD) is the same e-mail: 409."""
    staff.post_json("/employees", {**ANA, "email": "jo\u00e3o@example.com"})
    resp = staff.post_json("/employees", {**ANA, "name": "Outro Jo\u00e3o", "email": "joa\u0303o@example.com"},
                           expect_errors=True)
    assert assert_error(resp, 409)["fields"] == {"email": "already taken"}
    assert count_rows(staff_db_path, "employee") == 1


def test_a_name_sent_in_nfd_is_stored_and_answered_in_nfc(staff, staff_db_path):
    """A name typed with combining accents is kept in the composed form (NFC) that one key types."""
    created = staff.post_json("/employees", {**ANA, "name": "Joa\u0303o Se\u0301"}).json
    assert created["name"] == "Jo\u00e3o S\u00e9"
    assert staff.get(f"/employees/{created['id']}").json["name"] == "Jo\u00e3o S\u00e9"
    patched = staff.patch_json(f"/employees/{created['id']}", {"name": "Ma\u0301rio"}).json
    assert patched["name"] == "M\u00e1rio"
    conn = sqlite3.connect(staff_db_path)
    try:
        assert conn.execute("SELECT name FROM employee").fetchall() == [("M\u00e1rio",)]
    finally:
        conn.close()


def test_address_lookup_and_the_cache_listing(staff):
    first = staff.get("/addresses/01001-000")
    assert first.headers["X-Cep-Cache"] == "miss" and first.json["logradouro"] == "Praça da Sé"
    second = staff.get("/addresses/01001000")
    assert second.headers["X-Cep-Cache"] == "hit" and second.body == first.body
    unknown = staff.get("/addresses/99999999", expect_errors=True)
    assert_error(unknown, 404)
    assert unknown.headers["X-Cep-Cache"] == "miss"
    assert staff.get("/addresses/99999999", expect_errors=True).headers["X-Cep-Cache"] == "hit"

    cache = staff.get("/cep-cache").json
    assert cache["hits"] == 2 and cache["misses"] == 2 and cache["total"] == 2
    assert [(item["cep"], item["status"], item["hits"]) for item in cache["items"]] == [
        ("01001-000", 200, 1), ("99999-999", 404, 1)]

    assert staff.delete("/cep-cache/01001-000").status_int == 204
    assert [item["cep"] for item in staff.get("/cep-cache").json["items"]] == ["99999-999"]
    assert staff.get("/addresses/01001000").headers["X-Cep-Cache"] == "miss"  # evicted means fetched again
    assert staff.get("/addresses/01001000").headers["X-Cep-Cache"] == "hit"
    assert staff.delete("/cep-cache").status_int == 204
    assert staff.get("/cep-cache").json["total"] == 0
    assert staff.get("/addresses/01001000").headers["X-Cep-Cache"] == "miss"
    assert staff.get("/addresses/99999999", expect_errors=True).headers["X-Cep-Cache"] == "miss"


def test_health_says_whether_the_cep_api_answers(staff, cep_server, monkeypatch):
    from staff_api import cep_client

    assert staff.get("/health").json == {"status": "ok", "service": "staff_api", "cep_api": "up"}
    cep_server.stop()
    # Within HEALTH_PROBE_INTERVAL /health repeats its last answer; once it is over, it asks again.
    assert staff.get("/health").json["cep_api"] == "up"
    monkeypatch.setattr(cep_client, "HEALTH_PROBE_INTERVAL", 0)  # as if the 5 s were over
    assert staff.get("/health").json == {"status": "ok", "service": "staff_api", "cep_api": "down"}


# --- bad input: every status, and nothing is written ------------------------------------

BAD_REQUESTS = [
    # (id, method, path, body (dict = JSON, str = raw text, bytes = raw bytes), content type, status, fields)
    # A body that is no JSON object, too large or of another type, and a path that is not UTF-8, are the
    # chassis's, refused alike by both services: tests/chassis/test_web.py.
    # 400: the CEP in the path is not a CEP
    ("bad-cep-in-path", "GET", "/addresses/123", None, None, 400, None),
    ("9-digits-in-path", "GET", "/addresses/010010000", None, None, 400, None),
    ("letters-in-path", "GET", "/addresses/abcde-fgh", None, None, 400, None),
    ("space-inside-cep-in-path", "GET", "/addresses/01001%20000", None, None, 400, None),
    ("newline-after-cep-in-path", "GET", "/addresses/01001000%0A", None, None, 400, None),
    ("fullwidth-digits-in-path", "GET", "/addresses/" + quote("０１００１０００"), None, None, 400, None),
    ("bad-cep-evict", "DELETE", "/cep-cache/abc", None, None, 400, None),
    # 404: no such employee, or an id that is not a positive integer
    ("unknown-id", "GET", "/employees/999", None, None, 404, None),
    ("unknown-id-delete", "DELETE", "/employees/2", None, None, 404, None),
    ("id-zero", "GET", "/employees/0", None, None, 404, None),
    ("id-negative", "PATCH", "/employees/-1", {"role": "x"}, None, 404, None),
    ("id-not-number", "DELETE", "/employees/abc", None, None, 404, None),
    ("id-float", "GET", "/employees/1.0", None, None, 404, None),
    ("id-hex", "GET", "/employees/0x1", None, None, 404, None),
    ("id-arabic-indic-digit", "GET", "/employees/" + quote("١"), None, None, 404, None),
    ("id-too-big", "PUT", "/employees/99999999999999999999", ANA, None, 404, None),
    ("id-one-past-sqlite-max", "GET", "/employees/9223372036854775808", None, None, 404, None),
    # Python's int() refuses more than 4,300 digits (a ValueError, once a 500).
    ("id-4301-digits", "GET", "/employees/" + "1" * 4301, None, None, 404, None),
    ("unknown-path", "GET", "/employee", None, None, 404, None),
    ("trailing-slash", "GET", "/employees/1/", None, None, 404, None),
    # 405
    ("method", "PUT", "/employees", ANA, None, 405, None),
    ("post-on-item", "POST", "/employees/1", ANA, None, 405, None),
    ("method-cache", "POST", "/cep-cache", {}, None, 405, None),
    ("get-on-cache-item", "GET", "/cep-cache/01001000", None, None, 405, None),
    ("patch-on-address", "PATCH", "/addresses/01001000", {"bairro": "x"}, None, 405, None),
    # 409: the e-mail is unique ignoring case, and once trimmed
    ("duplicate-email-any-case", "POST", "/employees", {**ANA, "email": "ANA@Example.COM"}, None, 409, {"email"}),
    ("duplicate-email-padded", "POST", "/employees", {**ANA, "email": " ana@example.com "}, None, 409, {"email"}),
    # 422: fields that do not exist, are read-only or are missing
    ("missing-required", "POST", "/employees", {"role": "x"}, None, 422, {"name", "email", "cep"}),
    ("put-is-a-full-replace", "PUT", "/employees/1", {"name": "Ana"}, None, 422, {"email", "cep"}),
    ("unknown-field", "POST", "/employees", {**ANA, "salary": "1"}, None, 422, {"salary"}),
    ("address-part-sent-flat", "PATCH", "/employees/1", {"uf": "RJ"}, None, 422, {"uf"}),
    ("empty-field-name", "POST", "/employees", {**ANA, "": "x"}, None, 422, {""}),
    ("address-is-read-only", "POST", "/employees", {**ANA, "address": SE_ADDRESS}, None, 422, {"address"}),
    ("id-is-read-only", "PUT", "/employees/1", {**ANA, "id": 2}, None, 422, {"id"}),
    ("timestamps-are-read-only", "PATCH", "/employees/1",
     {"created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}, None, 422,
     {"created_at", "updated_at"}),
    # 422: e-mail and CEP rules
    ("bad-email", "POST", "/employees", {**ANA, "email": "ana at example"}, None, 422, {"email"}),
    ("email-without-tld", "POST", "/employees", {**ANA, "email": "ana@example"}, None, 422, {"email"}),
    ("email-two-ats", "PATCH", "/employees/1", {"email": "ana@b@example.com"}, None, 422, {"email"}),
    ("bad-cep", "POST", "/employees", {**ANA, "cep": "0100100"}, None, 422, {"cep"}),
    ("cep-9-digits", "POST", "/employees", {**ANA, "cep": "010010000"}, None, 422, {"cep"}),
    ("cep-with-letter", "PATCH", "/employees/1", {"cep": "0100A000"}, None, 422, {"cep"}),
    ("cep-space-inside", "PUT", "/employees/1", {**ANA, "cep": "01001 000"}, None, 422, {"cep"}),
    ("fullwidth-cep", "POST", "/employees", {**ANA, "cep": "０１００１０００"}, None, 422, {"cep"}),
    ("arabic-indic-cep", "POST", "/employees", {**ANA, "cep": "٠١٠٠١٠٠٠"}, None, 422, {"cep"}),
    ("unknown-cep", "POST", "/employees", {**ANA, "email": "x@example.com", "cep": "99999999"}, None, 422, {"cep"}),
    ("unknown-cep-patch", "PATCH", "/employees/1", {"cep": "99999-999"}, None, 422, {"cep"}),
    # 422: a field of the wrong JSON type, one type per field
    ("number-not-string", "PATCH", "/employees/1", {"number": 100}, None, 422, {"number"}),
    ("null-name", "POST", "/employees", {**ANA, "name": None}, None, 422, {"name"}),
    ("bool-email", "PATCH", "/employees/1", {"email": True}, None, 422, {"email"}),
    ("list-role", "PATCH", "/employees/1", {"role": ["Engineer"]}, None, 422, {"role"}),
    ("cep-as-number", "POST", "/employees", {**ANA, "cep": 1001000}, None, 422, {"cep"}),
    ("object-complement", "PUT", "/employees/1", {**ANA, "complement": {"apto": 12}}, None, 422, {"complement"}),
    # 422: empty, whitespace-only, too long (each field's own limit)
    ("empty-name", "PATCH", "/employees/1", {"name": " "}, None, 422, {"name"}),
    ("unicode-spaces-name", "POST", "/employees", {**ANA, "name": "\u3000\u00a0"}, None, 422, {"name"}),
    ("empty-email", "POST", "/employees", {**ANA, "email": ""}, None, 422, {"email"}),
    ("empty-cep", "PUT", "/employees/1", {**ANA, "cep": ""}, None, 422, {"cep"}),
    ("name-too-long", "POST", "/employees", {**ANA, "name": "n" * 121}, None, 422, {"name"}),
    ("email-too-long", "POST", "/employees", {**ANA, "email": "a" * 243 + "@example.com"}, None, 422, {"email"}),
    ("role-too-long", "PATCH", "/employees/1", {"role": "r" * 81}, None, 422, {"role"}),
    ("number-too-long", "PATCH", "/employees/1", {"number": "1" * 21}, None, 422, {"number"}),
    ("complement-too-long", "PUT", "/employees/1", {**ANA, "complement": "c" * 121}, None, 422, {"complement"}),
    ("cep-too-long", "PATCH", "/employees/1", {"cep": "01001-0000"}, None, 422, {"cep"}),
    # 422: not plain text, in every text field (inside the text: trimming would remove it at the ends)
    ("control-char", "POST", "/employees", {**ANA, "name": "Ana\nSouza"}, None, 422, {"name"}),
    ("nul-in-email", "POST", "/employees", {**ANA, "email": "ana\x00@example.com"}, None, 422, {"email"}),
    ("tab-in-role", "PATCH", "/employees/1", {"role": "Eng\tineer"}, None, 422, {"role"}),
    ("escape-in-number", "PATCH", "/employees/1", {"number": "10\x1b[0m0"}, None, 422, {"number"}),
    ("del-in-complement", "PATCH", "/employees/1", {"complement": "apto\x7f12"}, None, 422, {"complement"}),
    ("newline-in-cep", "PATCH", "/employees/1", {"cep": "01001\n000"}, None, 422, {"cep"}),
    ("c1-nel-in-name", "PATCH", "/employees/1", {"name": "Ana\x85Souza"}, None, 422, {"name"}),
    ("c1-first-in-complement", "POST", "/employees", {**ANA, "email": "c1@example.com", "complement": "apto\x8012"},
     None, 422, {"complement"}),
    ("c1-last-in-role", "PATCH", "/employees/1", {"role": "Lead\x9fDev"}, None, 422, {"role"}),
    ("lone-surrogate", "PATCH", "/employees/1", '{"complement": "apto \\udc00"}', "application/json", 422,
     {"complement"}),
    # 422: query parameters
    ("per-page", "GET", "/employees?per_page=500", None, None, 422, {"per_page"}),
    ("per-page-zero", "GET", "/employees?per_page=0", None, None, 422, {"per_page"}),
    ("per-page-101", "GET", "/employees?per_page=101", None, None, 422, {"per_page"}),
    ("per-page-negative", "GET", "/employees?per_page=-1", None, None, 422, {"per_page"}),
    ("per-page-4301-digits", "GET", "/employees?per_page=" + "1" * 4301, None, None, 422, {"per_page"}),
    ("page-zero", "GET", "/employees?page=0", None, None, 422, {"page"}),
    ("page-float", "GET", "/employees?page=2.0", None, None, 422, {"page"}),
    ("page-hex", "GET", "/employees?page=0x2", None, None, 422, {"page"}),
    ("page-arabic-indic-digit", "GET", "/employees?page=" + quote("٢"), None, None, 422, {"page"}),
    ("page-4301-digits", "GET", "/employees?page=" + "1" * 4301, None, None, 422, {"page"}),
    ("cache-page-zero", "GET", "/cep-cache?page=0", None, None, 422, {"page"}),
    ("unknown-param", "GET", "/cep-cache?uf=SP", None, None, 422, {"uf"}),
    ("unknown-filter", "GET", "/employees?name=Ana", None, None, 422, {"name"}),
    ("filter-names-are-case-sensitive", "GET", "/employees?Q=ana", None, None, 422, {"Q"}),
    ("q-over-100-characters", "GET", "/employees?q=" + "a" * 101, None, None, 422, {"q"}),
    ("uf-over-100-characters", "GET", "/employees?uf=" + "S" * 101, None, None, 422, {"uf"}),
]


@pytest.mark.parametrize("method, path, body, content_type, status, fields", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_a_json_error_and_writes_nothing(staff, method, path, body, content_type, status, fields):
    staff.post_json("/employees", ANA)  # employee 1, and 01001000 cached
    before = table_dump(staff.app)
    assert_bad_request_answered(staff, method, path, body, content_type, status, fields)
    after = table_dump(staff.app)
    assert after["employee"] == before["employee"]
    if status != 422 or "cep" not in (fields or ()):
        assert after["cep_cache_entry"] == before["cep_cache_entry"]


def test_every_status_of_the_conventions_is_covered():
    """413 and 415, the body's size and type, are the chassis's: tests/chassis/test_web.py covers them."""
    assert {case[5] for case in BAD_REQUESTS} | {413, 415, 503} == {400, 404, 405, 409, 413, 415, 422, 503}


def table_dump(app):
    """Every committed row of both tables of the app's database, read over a separate connection.

    A cache entry's hit counter is left out: resolving a cached CEP before another check
    fails (a 409, say) is a use of the cache, not a change of data.
    """
    return {"employee": committed_rows(app.config, "staff_api", "SELECT * FROM employee ORDER BY id"),
            "cep_cache_entry": committed_rows(app.config, "staff_api", "SELECT cep, status, body, etag, fetched_at, "
                                              "expires_at FROM cep_cache_entry ORDER BY cep")}


def test_cep_api_down_without_cache_is_503_and_writes_nothing(staff, cep_server, staff_db_path):
    staff.post_json("/employees", ANA)
    cep_server.stop()
    resp = staff.post_json("/employees", {**ANA, "email": "new@example.com", "cep": "01310100"}, expect_errors=True)
    assert assert_error(resp, 503)["message"] == (
        "The CEP API could not be reached and CEP 01310-100 is not cached; nothing was saved, try again later.")
    patch = staff.patch_json("/employees/1", {"cep": "01310100"}, expect_errors=True)
    assert_error(patch, 503)
    assert count_rows(staff_db_path, "employee") == 1
    assert staff.get("/employees/1").json["cep"] == "01001-000"


def hits_in_table(staff_db_path, cep="01001000"):
    """The `hits` column of one cache row, read over a separate connection."""
    conn = sqlite3.connect(staff_db_path)
    try:
        return conn.execute("SELECT hits FROM cep_cache_entry WHERE cep = ?", (cep,)).fetchone()[0]
    finally:
        conn.close()


def test_no_request_writes_hits_the_listing_counts_them_and_closing_writes_them(
        cep_server, make_staff_app, staff_db_path, monkeypatch):
    from staff_api import cep_cache

    monkeypatch.setattr(cep_cache, "HOUSEKEEPING_INTERVAL", 3600)  # the writer waits an hour
    app = make_staff_app(cep_server.url)
    staff = TestApp(app)
    staff.get("/addresses/01001000")  # a miss
    staff.get("/addresses/01001000")  # two hits, counted in memory only
    staff.get("/addresses/01001000")
    listed = staff.get("/cep-cache").json
    assert listed["items"][0]["hits"] == 2 and listed["hits"] == 2 and listed["misses"] == 1
    assert hits_in_table(staff_db_path) == 0  # neither the hits nor the listing wrote
    app.config["staff_api.cep_cache"].close()  # as when the service stops
    assert hits_in_table(staff_db_path) == 2


def test_the_background_writer_adds_hits_to_the_table_with_no_request(staff, staff_db_path):
    staff.get("/addresses/01001000")  # a miss
    staff.get("/addresses/01001000")  # a hit
    deadline = time.monotonic() + 10  # the writer runs once a second; generous for a busy machine
    while hits_in_table(staff_db_path) != 1:
        assert time.monotonic() < deadline, "the hit never reached the table"
        time.sleep(0.05)
    assert staff.get("/cep-cache").json["items"][0]["hits"] == 1  # written once, counted once


def test_a_listing_counts_each_hit_once_while_the_writer_writes_them(cep_server, make_staff_app, monkeypatch):
    from staff_api import cep_cache
    from staff_api.models import db

    monkeypatch.setattr(cep_cache, "HOUSEKEEPING_INTERVAL", 0.001)  # the writer never rests: every gap shows
    cache = make_staff_app(cep_server.url).config["staff_api.cep_cache"]
    with db.connection_context():
        assert cache.lookup("01001000")[1] == "miss"
        listings = []
        for _ in range(300):
            assert cache.lookup("01001000")[1] == "hit"
            listings.append(cache.page(1, 20))
    # Without one lock over "take the hits, write them", a listing between the two saw the hits nowhere.
    assert [listing["items"][0]["hits"] for listing in listings] == [listing["hits"] for listing in listings]
    assert listings[-1]["hits"] == 300


def test_memory_keeps_at_most_the_newest_entries_and_the_table_the_rest(cep_server, make_staff_app, monkeypatch):
    from staff_api import cep_cache
    from staff_api.models import db

    monkeypatch.setattr(cep_cache, "HOUSEKEEPING_INTERVAL", 3600)  # its first round would empty the memory
    cache = make_staff_app(cep_server.url).config["staff_api.cep_cache"]
    monkeypatch.setattr(cep_cache, "MAX_ENTRIES_IN_MEMORY", 2)
    ceps = ["01001000", "01310100", "70150900"]
    with db.connection_context():
        assert [cache.lookup(cep)[1] for cep in ceps] == ["miss"] * 3
        assert [cache.lookup(cep)[1] for cep in ceps] == ["hit"] * 3
    assert list(cache._fresh) == ceps[1:]  # the oldest one was dropped from memory...
    assert len(cep_server.log.lookups()) == 3  # ...but still answered from the table
