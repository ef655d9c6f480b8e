"""ViaCEP from a web page on another origin, in a real headless Chromium: fetch() (CORS) and JSONP.

A page served by a second server, on another loopback port (so another origin), reads an address
from the CEP API three ways, as pages written for ViaCEP do: fetch() of the JSON, revalidated with
its ETag; fetch() of the XML; and a <script> tag with ?callback= (JSONP). The same page's fetch()
POST to /ceps is refused by the browser itself, after its preflight: no page can write a record.

Chromium is Debian's package, driven by Playwright through `executable_path` (test_docs_browser.py);
without it the tests are skipped, saying why.
"""
import json

import pytest

from conftest import LoopbackServer
from test_docs_browser import CHROMIUM, open_page  # noqa: F401  (open_page: a fixture)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="install Debian's chromium to run the browser test "
                                                         "(apt-get install chromium)")

SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar", "unidade": "",
      "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "estado": "São Paulo", "regiao": "Sudeste",
      "ibge": "3550308", "gia": "", "ddd": "11", "siafi": "7107"}

# The page: its script first (it defines got()), then ViaCEP's JSONP as a page writes it.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A page on another site</title></head>
<body data-api="{api}">
<script src="/page.js"></script>
<script src="{api}/ws/01001000/json/?callback=got"></script>
</body></html>
"""

PAGE_JS = """
const api = document.body.dataset.api;
const results = window.results = {};
const failed = (name) => (error) => { results[name] = {error: `${error.name}: ${error.message}`}; };

window.got = (address) => { results.jsonp = address; };  // JSONP: the CEP API's script calls it

fetch(`${api}/ws/01001000/json/`)
  .then(async (answer) => {
    const etag = answer.headers.get("ETag");  // readable: Access-Control-Expose-Headers
    results.json = {status: answer.status, etag, body: await answer.json()};
    // If-None-Match is no "simple" header: the browser asks first (a preflight), then revalidates.
    const again = await fetch(`${api}/ws/01001000/json/`, {headers: {"If-None-Match": etag}});
    results.revalidated = {status: again.status};
  })
  .catch(failed("json"));

fetch(`${api}/ws/01001000/xml/`)
  .then((answer) => answer.text())
  .then((text) => {
    const xml = new DOMParser().parseFromString(text, "application/xml");
    results.xml = {root: xml.documentElement.nodeName, logradouro: xml.querySelector("logradouro").textContent};
  })
  .catch(failed("xml"));

fetch(`${api}/ceps`, {method: "POST", headers: {"Content-Type": "application/json"},
                      body: JSON.stringify({cep: "01001-999", localidade: "São Paulo", uf: "SP"})})
  .then((answer) => { results.post = {status: answer.status}; })
  .catch(failed("post"));
"""


@pytest.fixture
def engine():
    """The page's tests run on SQLite only: what they test is the browser's side, and the API's own
    tests run on both engines (conftest's `engine`)."""
    return "sqlite"


@pytest.fixture
def other_origin(cep_server):
    """A second server, on another loopback port: the page and its script, which call the CEP API."""
    files = {"/": (PAGE.replace("{api}", cep_server.url), "text/html; charset=utf-8"),
             "/page.js": (PAGE_JS, "text/javascript; charset=utf-8")}

    def site(environ, start_response):
        body, content_type = files.get(environ["PATH_INFO"], ("not here", "text/plain; charset=utf-8"))
        status = "200 OK" if environ["PATH_INFO"] in files else "404 Not Found"
        start_response(status, [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body.encode()]

    server = LoopbackServer(site)
    yield server
    server.stop()


@pytest.fixture
def page_on_other_origin(other_origin, open_page):
    """The page, open in a fresh headless Chromium, once its five calls have answered."""
    page = open_page(other_origin.url + "/")
    page.wait_for_function("['jsonp', 'json', 'revalidated', 'xml', 'post'].every(k => k in window.results)",
                           timeout=15000)
    page.results = page.evaluate("window.results")
    return page


def test_a_page_on_another_origin_reads_an_address_with_fetch_and_with_jsonp(page_on_other_origin, cep_server):
    page, results = page_on_other_origin, page_on_other_origin.results
    assert not cep_server.url.startswith(page.url.rstrip("/"))  # truly another origin
    assert results["jsonp"] == SE, json.dumps(results)
    assert results["json"]["status"] == 200 and results["json"]["body"] == SE, json.dumps(results)
    assert results["json"]["etag"].startswith('"')
    assert results["revalidated"] == {"status": 304}
    assert results["xml"] == {"root": "xmlcep", "logradouro": "Praça da Sé"}
    assert page.script_errors == []
    calls = cep_server.log.calls
    assert ("GET", "/ws/01001000/json/", None, 200) in calls
    assert ("GET", "/ws/01001000/json/", results["json"]["etag"], 304) in calls
    assert ("OPTIONS", "/ws/01001000/json/", None, 204) in calls  # the preflight of that revalidation


def test_a_page_cannot_read_the_answer_to_its_post_to_ceps(page_on_other_origin, cep_server):
    page, results = page_on_other_origin, page_on_other_origin.results
    assert results["post"]["error"].startswith("TypeError"), json.dumps(results)  # fetch() got no answer
    assert any("CORS policy" in message and "/ceps" in message for message in page.console_messages), \
        page.console_messages
    assert [call for call in cep_server.log.calls if call[:2] == ("OPTIONS", "/ceps")]  # the browser asked first


def test_the_browser_never_sends_a_pages_post_to_ceps(page_on_other_origin, cep_server):
    calls = cep_server.log.calls
    assert [call for call in calls if call[:2] == ("OPTIONS", "/ceps")]  # the browser asked first
    assert not [call for call in calls if call[0] == "POST"], calls  # refused after the preflight: never sent
