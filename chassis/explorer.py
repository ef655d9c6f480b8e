"""GET /openapi.json and /docs: a service's OpenAPI document, and Swagger UI served from here (no CDN)."""
import json
from html import escape
from importlib.resources import files

from bottle import request, response, static_file

from .web import ApiError

PAGE = (files(__package__) / "docs.html").read_text(encoding="utf-8")  # Swagger UI's page, pointed at the document
SWAGGER_ROOT = str(files("swagger_ui") / "static")
# Everything docs.html loads, and from where: Swagger UI's files, and ours that starts it.
STATIC_ROOTS = {"swagger-ui.css": SWAGGER_ROOT, "swagger-ui-bundle.js": SWAGGER_ROOT,
                "favicon-32x32.png": SWAGGER_ROOT, "docs.js": str(files(__package__))}
# The browser runs only scripts and styles served from here, and sends requests only here: if
# a text of the document ever carried a <script>, it would not run. Swagger UI sets inline
# styles and draws some icons as data: images, hence those two exceptions.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


def install(app, document_path):
    """Serve the OpenAPI document at `document_path` (a data file, sent as it is) and its explorer."""
    document = document_path.read_bytes()  # read once at start
    title = json.loads(document)["info"]["title"]
    app.config["chassis.docs"] = (document, PAGE.replace("{{title}}", escape(title)).encode("utf-8"))
    app.get("/openapi.json", callback=send_document)
    app.get("/docs", callback=send_page)
    # Swagger UI's own files: part of the page, not of the API, so not in the OpenAPI document.
    app.get("/docs/static/<name>", callback=send_static)


def send_document():
    """GET /openapi.json: the OpenAPI document, as JSON."""
    response.content_type = "application/json"
    return request.app.config["chassis.docs"][0]


def send_page():
    """GET /docs: the explorer's HTML page."""
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Content-Security-Policy", PAGE_POLICY)
    return request.app.config["chassis.docs"][1]


def send_static(name):
    """GET /docs/static/<name>: one of the files the page loads, or a 404 (a name with '..' or '/' is never one)."""
    if name not in STATIC_ROOTS:
        raise ApiError(404, f"There is no file '{name}' here.")
    return static_file(name, root=STATIC_ROOTS[name])
