"""The CEP API: CRUD, validation, errors, determinism, over WebTest and over real waitress."""
import hashlib
import sqlite3
import threading
from urllib.parse import quote

import pytest
import requests
from webtest import TestApp

from cep_api import ceps
from cep_api.app import ERROR_STATUS
from cep_api.memo import Memo
from cep_api.models import Cep, data_version, db
from conftest import assert_bad_request_answered, assert_error, committed_rows

SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar",
      "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
NEW_CEP = {"cep": "01001-999", "logradouro": "Rua Nova", "complemento": "",
           "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}


@pytest.fixture
def client(cep_app):
    return TestApp(cep_app)


def table_digest(app):
    """A fingerprint of every committed row of the app's database, read over a separate connection."""
    rows = committed_rows(app.config, "cep_api", "SELECT * FROM cep ORDER BY cep")
    return hashlib.sha256(repr(rows).encode()).hexdigest()


# --- reading ---------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["01001000", "01001-000"])
def test_get_accepts_cep_with_or_without_hyphen(client, written):
    resp = client.get(f"/ceps/{written}")
    assert resp.status_int == 200
    assert resp.json == SE
    assert resp.headers["Cache-Control"] == "public, max-age=3600"


def test_same_get_gives_identical_bytes_and_etag_and_patch_changes_it(client):
    first = client.get("/ceps/01001000")
    second = client.get("/ceps/01001-000")
    assert first.body == second.body
    assert first.headers["ETag"] == second.headers["ETag"]

    client.patch_json("/ceps/01001000", {"complemento": "lado par"})
    third = client.get("/ceps/01001000")
    assert third.json["complemento"] == "lado par"
    assert third.headers["ETag"] != first.headers["ETag"]


def test_etag_survives_a_restart_because_it_comes_from_content(cep_db_path):
    from cep_api.app import create_app

    before = TestApp(create_app({"cep_api.db_path": str(cep_db_path)})).get("/ceps/01001000")
    after = TestApp(create_app({"cep_api.db_path": str(cep_db_path)})).get("/ceps/01001000")
    assert before.body == after.body and before.headers["ETag"] == after.headers["ETag"]


def test_unknown_cep_is_404_with_a_short_cache_control(client):
    resp = client.get("/ceps/99999-999", expect_errors=True)
    assert_error(resp, 404)
    assert resp.headers["Cache-Control"] == "public, max-age=60"


def test_list_is_sorted_paginated_and_filtered(client):
    first = client.get("/ceps?per_page=5").json
    assert first["page"] == 1 and first["per_page"] == 5 and first["total"] == 2711
    ceps = [item["cep"] for item in first["items"]]
    assert ceps == sorted(ceps) and ceps[0] == "01001-000"
    second = client.get("/ceps?page=2&per_page=5").json
    assert second["items"][0]["cep"] > ceps[-1]

    ac = client.get("/ceps?uf=ac&per_page=100").json
    assert ac["total"] > 0 and {item["uf"] for item in ac["items"]} == {"AC"}
    town = client.get("/ceps", {"localidade": "São Paulo", "per_page": 100}).json
    assert town["total"] > 0 and {item["localidade"] for item in town["items"]} == {"São Paulo"}
    paulista = client.get("/ceps", {"q": "Paulista"}).json
    assert any(item["cep"] == "01310-100" for item in paulista["items"])
    assert all("Paulista" in item["logradouro"] + item["bairro"] for item in paulista["items"])
    assert client.get("/ceps", {"q": "100%_no_such"}).json["total"] == 0
    # Case and accents do not matter, in any alphabet and on either engine (folded keys).
    folded = [item["cep"] for item in client.get("/ceps", {"q": "PRAÇA DA SÉ", "per_page": 100}).json["items"]]
    assert "01001-000" in folded and folded == [item["cep"] for item in client.get(
        "/ceps", {"q": "praca da se", "per_page": 100}).json["items"]]


def test_list_answers_are_deterministic_and_revalidatable(client):
    first = client.get("/ceps?uf=RR")
    assert first.body == client.get("/ceps?uf=RR").body
    assert client.get("/ceps?uf=RR", headers={"If-None-Match": first.headers["ETag"]}).status_int == 304


def test_health(client):
    assert client.get("/health").json["status"] == "ok"


# --- writing ---------------------------------------------------------------------------

def test_create_read_replace_patch_delete(client):
    created = client.post_json("/ceps", {**NEW_CEP, "cep": "01001999"})
    assert created.status_int == 201
    assert created.headers["Location"].endswith("/ceps/01001999")
    assert created.json == NEW_CEP
    assert client.get("/ceps/01001999").json == NEW_CEP

    replaced = client.put_json("/ceps/01001-999", {"localidade": "  São Paulo ", "uf": "sp"})
    assert replaced.json == {**NEW_CEP, "logradouro": "", "bairro": "", "ibge": ""}
    assert client.get("/ceps/01001999").json == replaced.json

    patched = client.patch_json("/ceps/01001999", {"bairro": "Centro", "cep": "01001-999"})
    assert patched.json["bairro"] == "Centro" and patched.json["localidade"] == "São Paulo"
    assert client.get("/ceps/01001999").headers["ETag"] == patched.headers["ETag"]

    deleted = client.delete("/ceps/01001-999")
    assert deleted.status_int == 204 and deleted.body == b""
    assert client.get("/ceps/01001999", expect_errors=True).status_int == 404


def test_a_write_is_visible_to_the_next_read(client):
    """The memo of encoded answers must never hide a write."""
    for round_number in range(3):
        client.get("/ceps/01001000")  # fills the memo
        client.patch_json("/ceps/01001000", {"logradouro": f"Praça {round_number}"})
        assert client.get("/ceps/01001000").json["logradouro"] == f"Praça {round_number}"
    client.delete("/ceps/01001000")
    assert client.get("/ceps/01001000", expect_errors=True).status_int == 404
    client.post_json("/ceps", SE)
    assert client.get("/ceps/01001000").json == SE


def test_patch_can_move_a_cep_to_another_uf_only_within_its_range(client):
    resp = client.patch_json("/ceps/01001000", {"uf": "RJ"}, expect_errors=True)
    assert "uf" in assert_error(resp, 422)["fields"]
    # DF has two ranges; 73000-000.. belongs to its second one.
    client.post_json("/ceps", {"cep": "73000-001", "localidade": "Brasília", "uf": "DF"})
    assert client.get("/ceps/73000001").json["uf"] == "DF"


def test_a_record_written_in_nfd_is_answered_in_nfc(client):
    """"São" typed with a combining tilde (NFD) is stored and answered as "São" typed with one key (NFC)."""
    created = client.post_json("/ceps", {**NEW_CEP, "localidade": "Sa\u0303o Paulo", "bairro": "Se\u0301"})
    assert created.json["localidade"] == "S\u00e3o Paulo" and created.json["bairro"] == "S\u00e9"
    assert client.get("/ceps/01001999").json == created.json
    patched = client.patch_json("/ceps/01001999", {"logradouro": "Rua Sa\u0303o Bento"})
    assert patched.json["logradouro"] == "Rua S\u00e3o Bento"
    # Stored in NFC, so a filter typed with one key finds it.
    found = client.get("/ceps", {"localidade": "S\u00e3o Paulo", "q": "S\u00e3o Bento"}).json
    assert [item["cep"] for item in found["items"]] == ["01001-999"]


# --- bad input: every status of the conventions, and the table is unchanged --------------

FULLWIDTH_CEP = "０１００１０００"  # U+FF10..: digits to str.isdigit() and \d, not to [0-9]
ARABIC_INDIC_CEP = "٠١٠٠١٠٠٠"  # U+0660..

BAD_REQUESTS = [
    # (id, method, path, body (dict/list = JSON, str = raw text, bytes = raw bytes), content type, status, fields)
    # A body that is no JSON object, too large or of another type, and a path that is not UTF-8, are the
    # chassis's, refused alike by both services: tests/chassis/test_web.py.
    # 400: the CEP in the path is not a CEP
    ("bad-cep-in-path", "GET", "/ceps/0100100", None, None, 400, None),
    ("9-digits-in-path", "GET", "/ceps/010010000", None, None, 400, None),
    ("letters-in-path", "DELETE", "/ceps/abcde-fgh", None, None, 400, None),
    ("newline-after-cep-in-path", "GET", "/ceps/01001000%0A", None, None, 400, None),
    ("space-inside-cep-in-path", "PATCH", "/ceps/01001%20000", {"bairro": "X"}, None, 400, None),
    ("dotted-cep-in-path", "GET", "/ceps/01.001-000", None, None, 400, None),
    ("arabic-digits-in-path", "GET", "/ceps/%D9%A0%D9%A1%D9%A0%D9%A0%D9%A1%D9%A0%D9%A0%D9%A0", None, None, 400, None),
    ("fullwidth-digits-in-path", "DELETE", "/ceps/" + quote(FULLWIDTH_CEP), None, None, 400, None),
    # 404: an unknown CEP says so in fields.cep; an unknown route has no fields
    ("unknown-cep-get", "GET", "/ceps/99999999", None, None, 404, {"cep"}),
    ("unknown-cep-put", "PUT", "/ceps/01001998", {"localidade": "X", "uf": "SP"}, None, 404, {"cep"}),
    ("unknown-cep-patch", "PATCH", "/ceps/01001998", {"bairro": "X"}, None, 404, {"cep"}),
    ("unknown-cep-delete", "DELETE", "/ceps/01001998", None, None, 404, {"cep"}),
    ("unknown-path", "GET", "/cepz", None, None, 404, None),
    ("trailing-slash", "GET", "/ceps/01001000/", None, None, 404, None),
    # 405
    ("method-on-list", "DELETE", "/ceps", None, None, 405, None),
    ("put-on-list", "PUT", "/ceps", SE, None, 405, None),
    ("method-on-item", "POST", "/ceps/01001000", {"uf": "SP"}, None, 405, None),
    # OPTIONS on a public read (/ceps, /ceps/<cep>) is a CORS preflight, 204 (tests/chassis/test_cors.py).
    ("options-on-health", "OPTIONS", "/health", None, None, 405, None),
    ("post-on-health", "POST", "/health", {}, None, 405, None),
    # 409
    ("duplicate", "POST", "/ceps", SE, None, 409, None),
    ("duplicate-without-hyphen", "POST", "/ceps", {**SE, "cep": "01001000"}, None, 409, None),
    # 422: fields that do not exist or are missing
    ("unknown-field", "POST", "/ceps", {**NEW_CEP, "pais": "BR"}, None, 422, {"pais"}),
    ("viacep-only-field", "PATCH", "/ceps/01001000", {"ddd": "11"}, None, 422, {"ddd"}),
    ("empty-field-name", "POST", "/ceps", {**NEW_CEP, "": "x"}, None, 422, {""}),
    ("missing-required", "POST", "/ceps", {"cep": "01001998"}, None, 422, {"localidade", "uf"}),
    ("missing-cep", "POST", "/ceps", {"localidade": "X", "uf": "SP"}, None, 422, {"cep"}),
    ("put-is-a-full-replace", "PUT", "/ceps/01001000", {"localidade": "São Paulo"}, None, 422, {"uf"}),
    # 422: the CEP in the body
    ("bad-cep-in-body", "POST", "/ceps", {**NEW_CEP, "cep": "1001-000"}, None, 422, {"cep"}),
    ("9-digits-in-body", "POST", "/ceps", {**NEW_CEP, "cep": "010019990"}, None, 422, {"cep"}),
    ("letter-in-body-cep", "POST", "/ceps", {**NEW_CEP, "cep": "0100A-999"}, None, 422, {"cep"}),
    ("space-inside-body-cep", "POST", "/ceps", {**NEW_CEP, "cep": "01001 999"}, None, 422, {"cep"}),
    ("dotted-body-cep", "POST", "/ceps", {**NEW_CEP, "cep": "01.001-999"}, None, 422, {"cep"}),
    ("fullwidth-body-cep", "POST", "/ceps", {**NEW_CEP, "cep": FULLWIDTH_CEP}, None, 422, {"cep"}),
    ("arabic-indic-body-cep", "POST", "/ceps", {**NEW_CEP, "cep": ARABIC_INDIC_CEP}, None, 422, {"cep"}),
    ("newline-after-cep-in-body", "POST", "/ceps", {**NEW_CEP, "cep": "01001-999\n"}, None, 422, {"cep"}),
    ("cep-as-number", "POST", "/ceps", {**NEW_CEP, "cep": 1001999}, None, 422, {"cep"}),
    ("cep-cannot-change", "PATCH", "/ceps/01001000", {"cep": "01001-001"}, None, 422, {"cep"}),
    ("put-body-cep-differs", "PUT", "/ceps/01001000", {**SE, "cep": "01310-100"}, None, 422, {"cep"}),
    ("patch-body-cep-malformed", "PATCH", "/ceps/01001000", {"cep": "abc"}, None, 422, {"cep"}),
    # 422: UF and IBGE rules
    ("unknown-uf", "POST", "/ceps", {**NEW_CEP, "uf": "XX"}, None, 422, {"uf"}),
    ("uf-by-name", "POST", "/ceps", {**NEW_CEP, "uf": "São Paulo"}, None, 422, {"uf"}),
    ("empty-uf", "POST", "/ceps", {**NEW_CEP, "uf": ""}, None, 422, {"uf"}),
    ("out-of-uf-range", "POST", "/ceps", {**NEW_CEP, "uf": "RS"}, None, 422, {"uf"}),
    # DF has two ranges; 72800-000..72999-999 between them belongs to GO.
    ("between-the-two-df-ranges", "POST", "/ceps", {"cep": "72900-000", "localidade": "Brasília", "uf": "DF"},
     None, 422, {"uf"}),
    ("patch-uf-out-of-stored-cep-range", "PATCH", "/ceps/01001000", {"uf": "RJ"}, None, 422, {"uf"}),
    ("ibge-6-digits", "POST", "/ceps", {**NEW_CEP, "ibge": "355030"}, None, 422, {"ibge"}),
    ("ibge-8-digits", "PUT", "/ceps/01001000", {**SE, "ibge": "35503080"}, None, 422, {"ibge"}),
    ("ibge-unicode-digits", "POST", "/ceps", {**NEW_CEP, "ibge": "３５５０３０８"}, None, 422, {"ibge"}),
    # 422: a field of the wrong JSON type, one type per field
    ("number-not-string", "POST", "/ceps", {**NEW_CEP, "bairro": 12}, None, 422, {"bairro"}),
    ("null-not-string", "PUT", "/ceps/01001000", {**SE, "logradouro": None}, None, 422, {"logradouro"}),
    ("object-not-string", "PATCH", "/ceps/01001000", {"complemento": {}}, None, 422, {"complemento"}),
    ("bool-not-string", "POST", "/ceps", {**NEW_CEP, "localidade": True}, None, 422, {"localidade"}),
    ("list-not-string", "PUT", "/ceps/01001000", {**SE, "uf": ["SP"]}, None, 422, {"uf"}),
    ("ibge-as-number", "PATCH", "/ceps/01001000", {"ibge": 3550308}, None, 422, {"ibge"}),
    # 422: empty, whitespace-only, too long
    ("empty-localidade", "PATCH", "/ceps/01001000", {"localidade": "  "}, None, 422, {"localidade"}),
    ("empty-string-localidade", "PUT", "/ceps/01001000", {"localidade": "", "uf": "SP"}, None, 422, {"localidade"}),
    ("unicode-spaces-localidade", "POST", "/ceps", {**NEW_CEP, "localidade": "\u00a0\u3000"}, None, 422,
     {"localidade"}),
    ("too-long", "PATCH", "/ceps/01001000", {"bairro": "x" * 201}, None, 422, {"bairro"}),
    ("logradouro-too-long", "POST", "/ceps", {**NEW_CEP, "logradouro": "x" * 201}, None, 422, {"logradouro"}),
    ("localidade-too-long", "PUT", "/ceps/01001000", {**SE, "localidade": "x" * 201}, None, 422, {"localidade"}),
    # The length is counted as sent, before trimming (as the OpenAPI document's maxLength).
    ("too-long-as-sent", "PATCH", "/ceps/01001000", {"complemento": "x" * 200 + " "}, None, 422, {"complemento"}),
    # 422: not plain text, in every text field (inside the text: trimming would remove it at the ends)
    ("nul-in-logradouro", "POST", "/ceps", {**NEW_CEP, "logradouro": "Rua\x00Nova"}, None, 422, {"logradouro"}),
    ("tab-in-complemento", "PATCH", "/ceps/01001000", {"complemento": "lado\tímpar"}, None, 422, {"complemento"}),
    ("newline-in-bairro", "PUT", "/ceps/01001000", {**SE, "bairro": "Sé\nCentro"}, None, 422, {"bairro"}),
    ("escape-in-localidade", "POST", "/ceps", {**NEW_CEP, "localidade": "São \x1b[31mPaulo"}, None, 422,
     {"localidade"}),
    ("del-in-logradouro", "PATCH", "/ceps/01001000", {"logradouro": "Praça\x7fda Sé"}, None, 422, {"logradouro"}),
    ("c1-nel-in-bairro", "PATCH", "/ceps/01001000", {"bairro": "Sé\x85Centro"}, None, 422, {"bairro"}),
    ("c1-first-in-complemento", "POST", "/ceps", {**NEW_CEP, "complemento": "fun\x80dos"}, None, 422,
     {"complemento"}),
    ("c1-last-in-localidade", "PATCH", "/ceps/01001000", {"localidade": "São\x9fPaulo"}, None, 422, {"localidade"}),
    ("control-char-in-uf", "PATCH", "/ceps/01001000", {"uf": "S\x1bP"}, None, 422, {"uf"}),
    ("control-char-in-ibge", "PATCH", "/ceps/01001000", {"ibge": "3550\n308"}, None, 422, {"ibge"}),
    ("lone-surrogate", "PATCH", "/ceps/01001000", '{"bairro": "\\ud800"}', "application/json", 422, {"bairro"}),
    ("lone-low-surrogate", "POST", "/ceps", '{"cep": "01001999", "uf": "SP", "localidade": "S\\udfffo Paulo"}',
     "application/json", 422, {"localidade"}),
    # 422: query parameters
    ("per-page-zero", "GET", "/ceps?per_page=0", None, None, 422, {"per_page"}),
    ("per-page-101", "GET", "/ceps?per_page=101", None, None, 422, {"per_page"}),
    ("per-page-negative", "GET", "/ceps?per_page=-5", None, None, 422, {"per_page"}),
    ("per-page-hex", "GET", "/ceps?per_page=0x10", None, None, 422, {"per_page"}),
    ("page-zero", "GET", "/ceps?page=0", None, None, 422, {"page"}),
    ("page-negative", "GET", "/ceps?page=-1", None, None, 422, {"page"}),
    ("page-float", "GET", "/ceps?page=1.5", None, None, 422, {"page"}),
    ("page-empty", "GET", "/ceps?page=", None, None, 422, {"page"}),
    ("page-not-number", "GET", "/ceps?page=x", None, None, 422, {"page"}),
    ("page-arabic-indic-digit", "GET", "/ceps?page=" + quote("١"), None, None, 422, {"page"}),
    ("page-beyond-sqlite", "GET", "/ceps?page=10000000000", None, None, 422, {"page"}),
    # Python's int() refuses more than 4,300 digits (a ValueError, once a 500).
    ("page-4301-digits", "GET", "/ceps?page=" + "1" * 4301, None, None, 422, {"page"}),
    ("per-page-4301-digits", "GET", "/ceps?per_page=" + "1" * 4301, None, None, 422, {"per_page"}),
    ("unknown-filter", "GET", "/ceps?cidade=X", None, None, 422, {"cidade"}),
    ("filter-names-are-case-sensitive", "GET", "/ceps?UF=SP", None, None, 422, {"UF"}),
    ("bad-uf-filter", "GET", "/ceps?uf=XX", None, None, 422, {"uf"}),
    ("q-over-100-characters", "GET", "/ceps?q=" + "a" * 101, None, None, 422, {"q"}),
    ("localidade-over-100-characters", "GET", "/ceps?localidade=" + "a" * 101, None, None, 422, {"localidade"}),
]


@pytest.mark.parametrize("method, path, body, content_type, status, fields", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_a_json_error_and_changes_nothing(client, method, path, body, content_type, status,
                                                        fields):
    before = table_digest(client.app)
    assert_bad_request_answered(client, method, path, body, content_type, status, fields)
    assert table_digest(client.app) == before


def test_every_status_of_the_conventions_is_covered():
    """413 and 415, the body's size and type, are the chassis's: tests/chassis/test_web.py covers them."""
    assert {case[5] for case in BAD_REQUESTS} | {413, 415} == {400, 404, 405, 409, 413, 415, 422}


# --- the memo of answers ---------------------------------------------------------------

def test_memo_does_not_keep_an_answer_read_before_a_concurrent_write():
    memo = Memo(lambda: 0)

    def read_while_a_write_lands():
        memo.forget("01001000")  # a write commits while the reader is reading
        return b"old", '"old"'

    assert memo.answer("01001000", "cep", read_while_a_write_lands) == (b"old", '"old"')
    assert memo.answer("01001000", "cep", lambda: (b"new", '"new"')) == (b"new", '"new"')  # "old" was not kept
    assert memo.answer("01001000", "cep", lambda: None) == (b"new", '"new"')  # "new" was


def test_memo_forgets_everything_once_the_database_counts_a_write_from_elsewhere(monkeypatch):
    from cep_api import memo as memo_module

    monkeypatch.setattr(memo_module, "RECHECK_INTERVAL", 60)  # no look at the version until the test says
    versions = [7]
    memo = Memo(lambda: versions[0])
    assert memo.answer("01001000", "cep", lambda: (b"old", '"old"')) == (b"old", '"old"')  # read version 7
    versions[0] = 8  # another process wrote
    assert memo.answer("01001000", "cep", lambda: None) == (b"old", '"old"')  # not looked again yet
    memo._recheck_at = 0.0  # the interval has passed
    assert memo.answer("01001000", "cep", lambda: None) is None  # forgotten: read again, and not found


def test_memo_stays_bounded():
    memo = Memo(lambda: 0, max_entries=2)
    for cep in "123":
        memo.answer(cep, "cep", lambda: (b"", ""))
    assert memo.answer("1", "cep", lambda: None) is None  # the oldest went
    assert memo.answer("2", "cep", lambda: None) and memo.answer("3", "cep", lambda: None)


@pytest.fixture
def memo(cep_app):
    """An empty memo, and a connection to this test's database, for calling ceps.py directly."""
    with db.connection_context():
        yield Memo(data_version)


def test_every_domain_error_has_a_status():
    """A new error in ceps.py without a line in ERROR_STATUS would be a 500."""
    domain_errors = {value for value in vars(ceps).values()
                     if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == ceps.__name__
                     and value is not ceps.CepError}  # the base of the others, never raised itself
    assert domain_errors == set(ERROR_STATUS)


def test_invalid_input_names_every_field_at_fault(memo):
    with pytest.raises(ceps.InvalidInput) as raised:
        ceps.create({"cep": "1001-000", "uf": "XX", "pais": "BR"}, memo)
    assert set(raised.value.fields) == {"cep", "uf", "localidade", "pais"}
    with pytest.raises(ceps.InvalidInput) as raised:
        ceps.find_page(1, 20, {"uf": "XX"})
    assert set(raised.value.fields) == {"uf"}


def test_creating_an_existing_cep_raises(memo):
    with pytest.raises(ceps.CepAlreadyExists, match="01001-000"):
        ceps.create(SE, memo)


@pytest.mark.parametrize("use_case", [
    lambda memo: ceps.answer("01001998", memo),
    lambda memo: ceps.replace("01001998", {"localidade": "X", "uf": "SP"}, memo),
    lambda memo: ceps.update("01001998", {"bairro": "X"}, memo),
    lambda memo: ceps.delete("01001998", memo),
], ids=["answer", "replace", "update", "delete"])
def test_an_unknown_cep_raises_cep_not_found(memo, use_case):
    with pytest.raises(ceps.CepNotFound, match="01001-998"):
        use_case(memo)


@pytest.mark.parametrize("cep, write", [
    ("01001999", lambda memo: ceps.create(NEW_CEP, memo)),
    ("01001000", lambda memo: ceps.replace("01001000", SE, memo)),
    ("01001000", lambda memo: ceps.update("01001000", {"bairro": "Centro"}, memo)),
    ("01001000", lambda memo: ceps.delete("01001000", memo)),
], ids=["create", "replace", "update", "delete"])
def test_a_committed_write_makes_the_memo_forget_that_cep(memo, cep, write):
    memo.answer(cep, "cep", lambda: (b"stale", '"stale"'))
    write(memo)
    assert memo.answer(cep, "cep", lambda: None) is None


def test_a_memo_hit_needs_no_query_and_no_encoding(memo):
    first = ceps.answer("01001000", memo)
    Cep.drop_table()  # from here on, any query would fail
    assert ceps.answer("01001000", memo) is first


# --- over real waitress ----------------------------------------------------------------

def test_served_by_waitress_over_loopback(cep_app, serve):
    server = serve(cep_app)
    with requests.Session() as http:
        resp = http.get(f"{server.url}/ceps/01001000", timeout=5)
        assert resp.status_code == 200 and resp.json() == SE
        assert resp.headers["Content-Type"] == "application/json"
        created = http.post(f"{server.url}/ceps", json=NEW_CEP, timeout=5)
        assert created.status_code == 201
        assert http.get(f"{server.url}{created.headers['Location'].removeprefix(server.url)}",
                        timeout=5).json() == NEW_CEP
        wrong = http.post(f"{server.url}/ceps", data="x", headers={"Content-Type": "text/plain"}, timeout=5)
        assert wrong.status_code == 415 and wrong.json()["error"]["status"] == 415


def test_concurrent_writes_under_waitress_threads_all_succeed(cep_app, serve, cep_db_path):
    """Many threads writing at once: every request answered, none 'database is locked'."""
    server = serve(cep_app, threads=8)
    statuses = []

    def writer(worker):
        with requests.Session() as http:
            for n in range(10):
                cep = f"0100{worker}{n:03d}"
                statuses.append(http.post(f"{server.url}/ceps", json={**NEW_CEP, "cep": cep}, timeout=10).status_code)
                statuses.append(http.patch(f"{server.url}/ceps/01001000", json={"bairro": f"Sé {worker}"},
                                           timeout=10).status_code)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(2, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(201) == 60 and statuses.count(200) == 60
    with sqlite3.connect(cep_db_path) as conn:
        assert conn.execute("SELECT count(*) FROM cep").fetchone()[0] == 2711 + 60
    conn.close()

