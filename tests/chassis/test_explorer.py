"""GET /openapi.json and /docs (chassis/explorer.py) in both services: the document served as it is,
Swagger UI served from here by relative addresses, nothing else under /docs/static, and a page
that also works when a host mounts the service under a path."""
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from bottle import Bottle
from webtest import TestApp

from conftest import REPO_ROOT

# A read of each service that needs no other service, under its mount's prefix, and what it answers.
TRY_IT_OUT = {"cep_api": ("/cep", "ceps/01001000", {"logradouro": "Praça da Sé"}),
              "staff_api": ("/staff", "employees", {"total": 0})}


def document_file(service):
    """Where a service's OpenAPI document is: data in its package."""
    return REPO_ROOT / service / "openapi.json"


def test_openapi_json_serves_the_file_as_it_is(service_name, make_app):
    answer = TestApp(make_app()).get("/openapi.json")
    assert answer.content_type == "application/json"
    assert answer.body == document_file(service_name).read_bytes()


def test_docs_page_loads_swagger_ui_from_this_server_by_relative_addresses(service_name, make_app):
    from chassis.explorer import STATIC_ROOTS

    client = TestApp(make_app())
    page = client.get("/docs")
    assert page.content_type == "text/html"
    title = json.loads(document_file(service_name).read_text(encoding="utf-8"))["info"]["title"]
    assert title in ("CEP API", "Staff API") and f"<title>{title}</title>" in page.text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded and all(not urlsplit(url).scheme and not url.startswith("/") for url in loaded), loaded
    for url in loaded:  # the files themselves, byte for byte: Swagger UI's and the one that starts it
        name = url.split("/")[-1]
        assert client.get(urljoin("/docs", url)).body == (Path(STATIC_ROOTS[name]) / name).read_bytes()
    assert "docs/static/swagger-ui.css" in loaded
    starter = client.get("/docs/static/docs.js").text
    assert 'url: "openapi.json"' in starter


@pytest.mark.parametrize("path", [
    "/docs/static/no-such-file.js",
    "/docs/static/swagger-initializer.js",  # in the package, but not a file the page loads
    "/docs/static/app.py",
    "/docs/static/..",
    "/docs/static/%2e%2e",
    "/docs/static/..%2f..%2fapp.py",
    "/docs/static/..%2F..%2F..%2Fcep_api%2Fapp.py",
    "/docs/static/../../cep_api/app.py",
    "/docs/static/%2Fetc%2Fpasswd",
])
def test_docs_static_serves_nothing_but_swagger_ui(make_app, path):
    resp = TestApp(make_app()).get(path, expect_errors=True)
    assert resp.status_int == 404
    assert resp.content_type == "application/json" and resp.json["error"]["status"] == 404


def test_docs_pages_carry_a_content_security_policy(make_app):
    page = TestApp(make_app()).get("/docs")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "<script>" not in page.text  # no inline script: the policy would block it


def test_the_pages_title_is_the_documents_written_as_text(tmp_path):
    """A title is the document's, as text: one with markup in it shows the markup, it never runs."""
    from chassis import explorer

    document = tmp_path / "openapi.json"
    document.write_text(json.dumps({"openapi": "3.1.0", "info": {"title": "<script>alert(1)</script> & Co",
                                                                 "version": "1"}, "paths": {}}))
    app = Bottle()
    explorer.install(app, document)
    page = TestApp(app).get("/docs")
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</title>" in page.text
    assert "alert(1)</script>" not in page.text
    assert TestApp(app).get("/openapi.json").body == document.read_bytes()


class PrefixMount:
    """WSGI: serve `app` under `prefix`, as a host that mounts each service under its own path does."""

    def __init__(self, prefix, app):
        self.prefix, self.app = prefix, app

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if not path.startswith(self.prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"outside the mount"]
        environ["SCRIPT_NAME"] += self.prefix
        environ["PATH_INFO"] = path[len(self.prefix):]
        return self.app(environ, start_response)


def test_docs_and_try_it_out_work_under_a_path_prefix(service_name, make_app):
    prefix, read, answered = TRY_IT_OUT[service_name]
    client = TestApp(PrefixMount(prefix, make_app()))
    page = client.get(f"{prefix}/docs")
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert client.get(urljoin(f"{prefix}/docs", url)).status_int == 200
    document_url = urljoin(f"{prefix}/docs", "openapi.json")
    document = client.get(document_url).json
    assert document == json.loads(document_file(service_name).read_text(encoding="utf-8"))
    # Swagger UI resolves a relative server against the document's address, then adds the path.
    server = urljoin(document_url, document["servers"][0]["url"])
    assert server == f"{prefix}/"
    assert client.get(server + read).json.items() >= answered.items()
