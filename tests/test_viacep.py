"""The ViaCEP-compatible routes of the CEP API: /ws/<cep>/json/ (and its JSONP), /ws/<cep>/xml/ and
/ws/<UF>/<cidade>/<logradouro>/json/, byte for byte as ViaCEP answers; CORS on public reads; and a real
ViaCEP client from PyPI (brazilcep) pointed at them."""
import asyncio
import json
import unicodedata
from urllib.parse import quote
from xml.etree import ElementTree

import brazilcep
import brazilcep.viacep
import pytest
from webtest import TestApp

from conftest import assert_error

SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar", "unidade": "",
      "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "estado": "São Paulo", "regiao": "Sudeste",
      "ibge": "3550308", "gia": "", "ddd": "11", "siafi": "7107"}
ERRO = b'{\n  "erro": true\n}'  # a boolean: clients test `erro === true`
VIACEP_KEYS = ["cep", "logradouro", "complemento", "unidade", "bairro", "localidade", "uf", "estado", "regiao",
               "ibge", "gia", "ddd", "siafi"]


@pytest.fixture
def client(cep_app):
    return TestApp(cep_app)


def viacep_bytes(data):
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


def search_path(uf, cidade, logradouro, slash="/"):
    return "/ws/" + "/".join(quote(part, safe="") for part in (uf, cidade, logradouro)) + "/json" + slash


def folded(text):
    """Case- and accent-insensitive form, as the search compares (an oracle built from /ceps)."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


# --- /ws/<cep>/json/ ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/ws/01001000/json/", "/ws/01001-000/json/", "/ws/01001000/json"])
def test_a_found_cep_answers_viacep_bytes_with_its_keys_in_viacep_order(client, path):
    resp = client.get(path)
    assert resp.status_int == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.body == viacep_bytes(SE)
    assert list(json.loads(resp.body)) == VIACEP_KEYS
    assert resp.headers["Cache-Control"] == "public, max-age=3600"


@pytest.mark.parametrize("cep, estado, regiao", [
    ("01001000", "São Paulo", "Sudeste"), ("01310100", "São Paulo", "Sudeste"),
    ("70150900", "Distrito Federal", "Centro-Oeste")])
def test_the_shared_fields_equal_the_ceps_record_and_estado_regiao_come_from_the_uf(client, cep, estado, regiao):
    record = client.get(f"/ceps/{cep}").json
    viacep = client.get(f"/ws/{cep}/json/").json
    assert {name: viacep[name] for name in record} == record
    assert (viacep["estado"], viacep["regiao"], viacep["unidade"], viacep["gia"]) == (estado, regiao, "", "")


@pytest.mark.parametrize("ibge", ["", "3599999"], ids=["no-ibge", "ibge-not-in-municipios"])
def test_ddd_and_siafi_are_empty_when_the_ibge_code_is_unknown(client, ibge):
    client.post_json("/ceps", {"cep": "01001-999", "localidade": "São Paulo", "uf": "SP", "ibge": ibge})
    answer = client.get("/ws/01001999/json/").json
    assert (answer["ibge"], answer["ddd"], answer["siafi"]) == (ibge, "", "")
    assert (answer["estado"], answer["regiao"]) == ("São Paulo", "Sudeste")


def test_same_query_same_bytes_and_a_strong_etag_that_revalidates_to_an_empty_304(client):
    answers = [client.get(path) for path in ("/ws/01001000/json/", "/ws/01001-000/json", "/ws/01001000/json/")]
    assert len({answer.body for answer in answers}) == 1
    assert len({answer.headers["ETag"] for answer in answers}) == 1
    etag = answers[0].headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    revalidated = client.get("/ws/01001000/json/", headers={"If-None-Match": etag})
    assert revalidated.status_int == 304 and revalidated.body == b""
    assert client.get("/ws/01001000/json/", headers={"If-None-Match": '"other"'}).status_int == 200
    assert client.get("/ws/01310100/json/").headers["ETag"] != etag


@pytest.mark.parametrize("cep", ["99999999", "01001-998", "70150901"])
def test_an_unknown_cep_answers_erro_true_with_200_as_viacep_does(client, cep):
    for path in (f"/ws/{cep}/json/", f"/ws/{cep}/json"):
        resp = client.get(path)
        assert resp.status_int == 200 and resp.body == ERRO
        assert resp.content_type == "application/json"
        assert resp.headers["ETag"] and resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("cep", ["0100100", "010010000", "abcde-fgh", "01.001-000", "01001%20000", "01001000%0A",
                                 quote("０１００１０００"), "0100%FF1000"])
def test_a_malformed_cep_is_a_400_in_the_projects_error_shape(client, cep):
    assert_error(client.get(f"/ws/{cep}/json/", expect_errors=True), 400)
    assert_error(client.get(f"/ws/{cep}/json", expect_errors=True), 400)


def test_every_write_through_ceps_shows_in_the_very_next_viacep_answer(client):
    first = client.get("/ws/01001000/json/")  # fills the memo
    client.patch_json("/ceps/01001000", {"logradouro": "Praça Nova"})
    patched = client.get("/ws/01001000/json/")
    assert patched.json["logradouro"] == "Praça Nova" and patched.headers["ETag"] != first.headers["ETag"]
    client.put_json("/ceps/01001-000", {"localidade": "São Paulo", "uf": "SP", "bairro": "Centro",
                                        "ibge": "3550308"})
    assert client.get("/ws/01001000/json/").body == viacep_bytes(
        {**SE, "logradouro": "", "complemento": "", "bairro": "Centro"})
    client.delete("/ceps/01001000")
    assert client.get("/ws/01001000/json/").body == ERRO


def test_viacep_routes_are_reads_open_even_with_a_token(cep_db_path):
    from cep_api.app import create_app

    app = create_app({"cep_api.db_path": str(cep_db_path), "cep_api.token": "secret"})
    try:
        client = TestApp(app)
        assert client.patch_json("/ceps/01001000", {"bairro": "X"}, expect_errors=True).status_int == 401
        assert client.get("/ws/01001000/json/").body == viacep_bytes(SE)
        assert client.get(search_path("SP", "São Paulo", "Paulista")).status_int == 200
    finally:
        app.close()


# --- /ws/<UF>/<cidade>/<logradouro>/json/ ---------------------------------------------------

@pytest.mark.parametrize("uf, cidade, logradouro", [
    ("sp", "sao paulo", "PAULISTA"), ("SP", "SÃO  PAULO ", "avenida paulista"), ("Sp", "São Paulo", "Paulísta")])
def test_search_ignores_case_accents_and_extra_spaces(client, uf, cidade, logradouro):
    for slash in ("/", ""):
        resp = client.get(search_path(uf, cidade, logradouro, slash))
        assert resp.content_type == "application/json"
        assert resp.json == [client.get("/ws/01310100/json/").json]
        assert resp.body == viacep_bytes(resp.json)


def test_search_finds_a_dotless_town_and_words_inside_the_street(client):
    found = client.get(search_path("df", "BRASILIA", "tres poderes")).json
    assert [item["cep"] for item in found] == ["70150-900"]
    assert found[0]["estado"] == "Distrito Federal"


def test_search_gives_at_most_50_records_ordered_by_cep(client):
    rio_branco = client.get("/ceps", {"localidade": "Rio Branco", "uf": "AC", "per_page": 100}).json["items"]
    expected = sorted(item["cep"] for item in rio_branco if "rua" in folded(item["logradouro"]))
    assert len(expected) > 50  # the sample has more than a page of them
    resp = client.get(search_path("ac", "rio branco", "RUA"))
    assert [item["cep"] for item in resp.json] == expected[:50]
    assert all(list(item) == VIACEP_KEYS for item in resp.json)
    assert resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("uf, cidade, logradouro", [
    ("SP", "Paulo", "Paulista"),  # the town must match whole
    ("PE", "São Paulo", "Paulista"),  # in the town of another UF
    ("SP", "São Paulo", "Rua que não existe"),
    ("AC", "x" * 100, "   abc   "),  # the limits, counted after trimming
])
def test_search_without_a_match_answers_an_empty_array(client, uf, cidade, logradouro):
    resp = client.get(search_path(uf, cidade, logradouro))
    assert resp.status_int == 200 and resp.body == b"[]"
    assert resp.headers["ETag"] and resp.headers["Cache-Control"] == "no-cache"


def test_search_sees_every_write_at_once(client):
    path = search_path("SP", "sao paulo", "rua nova")
    client.post_json("/ceps", {"cep": "01001-999", "logradouro": "Rua Nova", "localidade": "São Paulo", "uf": "SP"})
    assert [item["cep"] for item in client.get(path).json] == ["01001-999"]
    client.patch_json("/ceps/01001999", {"logradouro": "Rua Velha"})
    assert client.get(path).body == b"[]"
    assert [item["logradouro"] for item in client.get(search_path("SP", "sao paulo", "velha")).json] == ["Rua Velha"]
    client.put_json("/ceps/01001999", {"logradouro": "Rua Nova", "localidade": "Osasco", "uf": "SP"})
    assert client.get(path).body == b"[]"
    assert [item["cep"] for item in client.get(search_path("SP", "OSASCO", "nova")).json] == ["01001-999"]


def test_search_answers_are_deterministic_and_revalidatable(client):
    path = search_path("AC", "Rio Branco", "rua")
    first = client.get(path)
    assert first.body == client.get(path).body and first.headers["ETag"] == client.get(path).headers["ETag"]
    resp = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert resp.status_int == 304 and resp.body == b""


@pytest.mark.parametrize("uf, cidade, logradouro, fields", [
    ("XX", "São Paulo", "Paulista", {"uf"}),
    ("S", "São Paulo", "Paulista", {"uf"}),
    ("SPX", "São Paulo", "Paulista", {"uf"}),
    ("35", "São Paulo", "Paulista", {"uf"}),
    ("SP", "ab", "Paulista", {"cidade"}),
    ("SP", "  ab  ", "Paulista", {"cidade"}),
    ("SP", "x" * 101, "Paulista", {"cidade"}),
    ("SP", "São Paulo", "Sé", {"logradouro"}),
    ("SP", "São Paulo", "   ", {"logradouro"}),
    ("SP", "São Paulo", "y" * 101, {"logradouro"}),
    ("XX", "ab", "cd", {"uf", "cidade", "logradouro"}),
])
def test_a_bad_search_is_a_400_naming_every_field_at_fault(client, uf, cidade, logradouro, fields):
    for slash in ("/", ""):
        error = assert_error(client.get(search_path(uf, cidade, logradouro, slash), expect_errors=True), 400)
        assert set(error.get("fields", {})) == fields


# --- /ws/<cep>/xml/ -------------------------------------------------------------------------

XML_TYPE = "application/xml; charset=utf-8"
XML_ERRO = b'<?xml version="1.0" encoding="UTF-8"?>\n<xmlcep>\n  <erro>true</erro>\n</xmlcep>\n'


def xml_bytes(fields):
    """ViaCEP's XML for `fields`: an <xmlcep> with one element per field, two spaces in, UTF-8."""
    lines = "".join(f"  <{name}>{value}</{name}>\n" for name, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<xmlcep>\n{lines}</xmlcep>\n'.encode()


def xml_fields(body):
    """(root tag, [(field, text)]) of an XML answer, read by a real XML parser."""
    root = ElementTree.fromstring(body)
    return root.tag, [(child.tag, child.text or "") for child in root]


@pytest.mark.parametrize("path", ["/ws/01001000/xml/", "/ws/01001-000/xml/", "/ws/01001000/xml"])
def test_a_found_cep_answers_viacep_xml_with_the_json_fields_in_their_order(client, path):
    resp = client.get(path)
    assert resp.status_int == 200
    assert resp.headers["Content-Type"] == XML_TYPE
    assert resp.body == xml_bytes(SE)
    assert xml_fields(resp.body) == ("xmlcep", list(SE.items()))
    assert resp.headers["Cache-Control"] == "public, max-age=3600"


@pytest.mark.parametrize("cep", ["99999999", "01001-998"])
def test_an_unknown_cep_answers_xmlcep_erro_true_with_200(client, cep):
    for path in (f"/ws/{cep}/xml/", f"/ws/{cep}/xml"):
        resp = client.get(path)
        assert resp.status_int == 200 and resp.body == XML_ERRO
        assert resp.headers["Content-Type"] == XML_TYPE
        assert xml_fields(resp.body) == ("xmlcep", [("erro", "true")])
        assert resp.headers["ETag"] and resp.headers["Cache-Control"] == "no-cache"


def test_xml_has_its_own_strong_etag_that_revalidates_to_an_empty_304(client):
    answers = [client.get(path) for path in ("/ws/01001000/xml/", "/ws/01001-000/xml", "/ws/01001000/xml/")]
    assert len({answer.body for answer in answers}) == 1 and len({answer.headers["ETag"] for answer in answers}) == 1
    etag = answers[0].headers["ETag"]
    assert etag.startswith('"') and etag != client.get("/ws/01001000/json/").headers["ETag"]
    revalidated = client.get("/ws/01001000/xml/", headers={"If-None-Match": etag})
    assert revalidated.status_int == 304 and revalidated.body == b""
    json_etag = client.get("/ws/01001000/json/").headers["ETag"]  # the JSON's tag is not the XML's
    assert client.get("/ws/01001000/xml/", headers={"If-None-Match": json_etag}).status_int == 200
    unknown = client.get("/ws/99999999/xml/")
    assert client.get("/ws/99999999/xml/", headers={"If-None-Match": unknown.headers["ETag"]}).status_int == 304


def test_xml_escapes_what_xml_reserves_and_follows_every_write(client):
    client.get("/ws/01001999/xml/")  # a "no such CEP" in the memo, which the write must replace
    client.post_json("/ceps", {"cep": "01001-999", "logradouro": "Rua <A> & \"B\" 'C'", "localidade": "São Paulo",
                               "uf": "SP"})
    resp = client.get("/ws/01001999/xml/")
    assert b"<logradouro>Rua &lt;A&gt; &amp; \"B\" 'C'</logradouro>" in resp.body
    assert dict(xml_fields(resp.body)[1])["logradouro"] == "Rua <A> & \"B\" 'C'"
    client.patch_json("/ceps/01001999", {"bairro": "Sé"})
    assert dict(xml_fields(client.get("/ws/01001999/xml").body)[1])["bairro"] == "Sé"
    client.delete("/ceps/01001999")
    assert client.get("/ws/01001999/xml/").body == XML_ERRO


@pytest.mark.parametrize("cep", ["0100100", "abcde-fgh", "01001%20000", "0100%FF1000"])
def test_a_malformed_cep_in_xml_is_a_400_in_json(client, cep):
    for path in (f"/ws/{cep}/xml/", f"/ws/{cep}/xml"):
        assert_error(client.get(path, expect_errors=True), 400)


# --- JSONP: ?callback=name ------------------------------------------------------------------

JSONP_TYPE = "application/javascript; charset=utf-8"


def jsonp_bytes(callback, body):
    return callback.encode() + b"(" + body + b");"


@pytest.mark.parametrize("callback", ["got", "a", "$", "_", "jQuery371021_1700000000000", "ns.handlers.cep",
                                      "$jsonp.cb_2", "x" * 64])
def test_a_callback_wraps_the_viacep_json_in_a_call_served_as_javascript(client, callback):
    for path in ("/ws/01001000/json/", "/ws/01001-000/json"):
        resp = client.get(path, {"callback": callback})
        assert resp.status_int == 200
        assert resp.headers["Content-Type"] == JSONP_TYPE
        assert resp.body == jsonp_bytes(callback, viacep_bytes(SE))
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_jsonp_of_an_unknown_cep_and_of_a_search(client):
    assert client.get("/ws/99999999/json/", {"callback": "cb"}).body == jsonp_bytes("cb", ERRO)
    search = client.get(search_path("SP", "São Paulo", "Paulista"), {"callback": "cb"})
    assert search.headers["Content-Type"] == JSONP_TYPE
    assert search.body == jsonp_bytes("cb", client.get(search_path("SP", "São Paulo", "Paulista")).body)


def test_jquery_getjson_with_callback_question_mark_works(client):
    """$.getJSON(url + "?callback=?") replaces ? with a name of its own and adds a cache buster `_`."""
    resp = client.get("/ws/01001000/json/?callback=jQuery37105_1733320000000&_=1733320000001")
    assert resp.body == jsonp_bytes("jQuery37105_1733320000000", viacep_bytes(SE))


def test_jsonp_has_its_own_etag_and_revalidates(client):
    first = client.get("/ws/01001000/json/", {"callback": "got"})
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag != client.get("/ws/01001000/json/").headers["ETag"]
    assert etag != client.get("/ws/01001000/json/", {"callback": "other"}).headers["ETag"]
    again = client.get("/ws/01001000/json/", {"callback": "got"}, headers={"If-None-Match": etag})
    assert again.status_int == 304 and again.body == b""
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    unknown = client.get("/ws/99999999/json/", {"callback": "got"})
    assert unknown.headers["Cache-Control"] == "no-cache"
    assert client.get("/ws/99999999/json/", {"callback": "got"},
                      headers={"If-None-Match": unknown.headers["ETag"]}).status_int == 304


@pytest.mark.parametrize("callback", ["", "a b", "a-b", "alert(1)", "a;b", "x" * 65, "é", "<script>", "a\nb",
                                      "a\u2028b", "cb//", "a[0]", "１"])
def test_a_callback_that_is_not_a_name_is_a_400_in_json(client, callback):
    for path in ("/ws/01001000/json/", "/ws/99999999/json", search_path("SP", "São Paulo", "Paulista")):
        error = assert_error(client.get(path, {"callback": callback}, expect_errors=True), 400)
        assert set(error["fields"]) == {"callback"}


def test_a_malformed_cep_with_a_callback_is_still_a_400_in_json(client):
    resp = client.get("/ws/0100100/json/", {"callback": "got"}, expect_errors=True)
    assert_error(resp, 400)
    assert resp.content_type == "application/json"


# --- CORS: public reads for any web page, and nothing else ------------------------------------

PUBLIC_READS = ["/ceps", "/ceps?uf=SP&q=paulista", "/ceps/01001000", "/ceps/99999999", "/ws/01001000/json/",
                "/ws/01001000/json?callback=got", "/ws/99999999/json/", "/ws/01001000/xml/", "/ws/0100100/json/",
                "/ws/01001000/xml", "/ws/SP/Sao%20Paulo/Paulista/json/", "/ws/SP/Sao%20Paulo/Paulista/json"]
ORIGIN = {"Origin": "http://page.example"}


@pytest.mark.parametrize("path", PUBLIC_READS)
def test_a_public_read_lets_a_page_on_any_origin_read_it_and_its_etag(client, path):
    for method in ("GET", "HEAD"):
        resp = client.request(path, method=method, headers=ORIGIN, expect_errors=True)
        assert resp.status_int in (200, 400, 404), (method, path)  # errors too: a page can tell why
        assert resp.headers["Access-Control-Allow-Origin"] == "*", (method, path)
        assert resp.headers["Access-Control-Expose-Headers"] == "ETag", (method, path)
        assert "Access-Control-Allow-Credentials" not in resp.headers


def test_the_304_of_a_public_read_carries_cors_too(client):
    etag = client.get("/ws/01001000/json/").headers["ETag"]
    resp = client.get("/ws/01001000/json/", headers={**ORIGIN, "If-None-Match": etag})
    assert resp.status_int == 304 and resp.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/ceps", {"cep": "01001-999", "localidade": "São Paulo", "uf": "SP"}),
    ("PUT", "/ceps/01001000", {"localidade": "São Paulo", "uf": "SP"}),
    ("PATCH", "/ceps/01001000", {"bairro": "Centro"}),
    ("DELETE", "/ceps/01310100", None),
    ("POST", "/ceps", {"cep": "bad"}),  # a refused write neither
    ("GET", "/logs", None),
    ("GET", "/logs/summary", None),
    ("HEAD", "/logs", None),
])
def test_writes_and_the_request_log_never_send_cors_headers(client, method, path, body):
    params = json.dumps(body).encode() if body is not None else b""
    resp = client.request(path, method=method, body=params, headers=ORIGIN, expect_errors=True,
                          content_type="application/json" if body is not None else None)
    assert resp.status_int < 500
    assert not {"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"} & set(resp.headers), (method, path)


@pytest.mark.parametrize("path", ["/ws/01001000/json/", "/ws/01001000/xml", "/ceps/01001000", "/ceps",
                                  "/ws/SP/Sao%20Paulo/Paulista/json/"])
def test_the_preflight_of_a_public_read_is_a_204_that_allows_get_and_head_only(client, path):
    asked = {**ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"}
    resp = client.options(path, headers=asked)
    assert resp.status_int == 204 and resp.body == b""
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert [method.strip() for method in resp.headers["Access-Control-Allow-Methods"].split(",")] == ["GET", "HEAD"]
    assert resp.headers["Access-Control-Allow-Headers"].lower() == "if-none-match"
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_preflight_never_lists_a_write_method(client, method):
    asked = {**ORIGIN, "Access-Control-Request-Method": method}
    for path in ("/ceps", "/ceps/01001000"):
        resp = client.options(path, headers=asked, expect_errors=True)
        allowed = [name.strip() for name in resp.headers.get("Access-Control-Allow-Methods", "").split(",")]
        assert method not in allowed, (method, path)


def test_a_preflight_for_a_json_post_grants_nothing(client):
    """POST needs no place in Allow-Methods (CORS lets it through whatever that says): a browser sends
    a JSON POST once the preflight allows any origin and the Content-Type header."""
    asked = {**ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    resp = client.options("/ceps", headers=asked, expect_errors=True)
    allowed_headers = resp.headers.get("Access-Control-Allow-Headers", "").lower()
    assert not ("Access-Control-Allow-Origin" in resp.headers and "content-type" in allowed_headers), \
        dict(resp.headers)


def test_no_preflight_opens_the_request_log(client):
    asked = {**ORIGIN, "Access-Control-Request-Method": "GET"}
    for path in ("/logs", "/logs/summary"):
        resp = client.options(path, headers=asked, expect_errors=True)
        assert resp.status_int != 204 and "Access-Control-Allow-Origin" not in resp.headers


def test_a_preflight_needs_no_token_and_cors_never_opens_writes_with_one(cep_db_path):
    from cep_api.app import create_app

    app = create_app({"cep_api.db_path": str(cep_db_path), "cep_api.token": "secret"})
    try:
        client = TestApp(app)
        asked = {**ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"}
        for path in ("/ceps", "/ws/01001000/json/"):  # a browser sends no token with a preflight
            assert client.options(path, headers=asked).status_int == 204
        refused = client.post_json("/ceps", {"cep": "01001-999", "localidade": "São Paulo", "uf": "SP"},
                                   headers=ORIGIN, expect_errors=True)
        assert refused.status_int == 401 and "Access-Control-Allow-Origin" not in refused.headers
    finally:
        app.close()


def test_the_staff_api_sends_no_cors_headers(cep_server, make_staff_app):
    client = TestApp(make_staff_app(cep_server.url))
    for path in ("/employees", "/addresses/01001000", "/cep-cache", "/health"):
        resp = client.get(path, headers=ORIGIN)
        assert "Access-Control-Allow-Origin" not in resp.headers, path


# --- text no database holds: a NUL in a search ------------------------------------------------

@pytest.mark.parametrize("path, params", [
    ("/ceps", {"q": "pau\x00lista"}),
    ("/ceps", {"q": "\x00\x00\x00"}),
    ("/ws/SP/S%C3%A3o%20Paulo/Pau%00lista/json/", {}),
    ("/ws/SP/S%C3%A3o%00Paulo/Paulista/json/", {}),
])
def test_a_nul_character_in_a_search_is_refused_or_finds_nothing_never_an_outage(client, engine, request, path,
                                                                                  params):
    """No record holds a control character (NOT_STORABLE), so such a search can find nothing; it is
    the client's text, not a database down."""
    resp = client.get(path, params, expect_errors=True)
    assert resp.status_int < 500, resp.text
    assert resp.status_int in (200, 400, 422)
    if resp.status_int == 200:
        assert resp.json in ([], {"items": [], "page": 1, "per_page": 20, "total": 0})


# --- a real ViaCEP client from PyPI, unmodified, over real HTTP ------------------------------

@pytest.fixture
def viacep_client(cep_app, serve, monkeypatch):
    """brazilcep's ViaCEP adapter, pointed at the CEP API on a loopback port."""
    server = serve(cep_app)
    monkeypatch.setattr(brazilcep.viacep, "URL", server.url + "/ws/{}/json")
    return server


BRAZILCEP_SE = {"district": "Sé", "cep": "01001-000", "city": "São Paulo", "street": "Praça da Sé", "uf": "SP",
                "complement": "lado ímpar"}


def test_brazilcep_reads_an_address_from_the_cep_api(viacep_client):
    for cep in ("01001000", "01001-000"):
        assert brazilcep.get_address_from_cep(cep, webservice=brazilcep.WebService.VIACEP) == BRAZILCEP_SE


def test_brazilcep_async_reads_the_same_address(viacep_client):
    address = asyncio.run(brazilcep.async_get_address_from_cep("01001000", webservice=brazilcep.WebService.VIACEP))
    assert address == BRAZILCEP_SE


def test_brazilcep_raises_cep_not_found_for_an_unknown_cep_and_invalid_cep_for_a_malformed_one(viacep_client):
    with pytest.raises(brazilcep.exceptions.CEPNotFound):
        brazilcep.get_address_from_cep("99999999", webservice=brazilcep.WebService.VIACEP)
    with pytest.raises(brazilcep.exceptions.CEPNotFound):
        asyncio.run(brazilcep.async_get_address_from_cep("01001998", webservice=brazilcep.WebService.VIACEP))
    with pytest.raises(brazilcep.exceptions.InvalidCEP):  # our 400, as ViaCEP's
        brazilcep.get_address_from_cep("0100100", webservice=brazilcep.WebService.VIACEP)
