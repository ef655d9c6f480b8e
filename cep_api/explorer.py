"""GET /openapi.json and GET /docs: the OpenAPI document and Swagger UI, served from here (no CDN).

Swagger UI's files come from the swagger-ui-py package; the page (docs.html) loads them, docs.js
(which starts Swagger UI) and the document, by addresses relative to its own, so it also works under a prefix (/cep/docs).
The staff API owns a copy of this small module: the two services share no code.
"""
from importlib.resources import files

from bottle import response, static_file

from .jsonhttp import ApiError

# Both files (and docs.js) are data beside this module, read once at start and sent as they are.
DOCUMENT = (files(__package__) / "openapi.json").read_bytes()
PAGE = (files(__package__) / "docs.html").read_bytes()  # Swagger UI's page, pointed at the document
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


def document():
    """The OpenAPI document, as JSON."""
    response.content_type = "application/json"
    return DOCUMENT


def page():
    """The explorer's HTML page."""
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Content-Security-Policy", PAGE_POLICY)
    return PAGE


def static(name):
    """One of the files the page loads, or a 404 (a name with '..' or '/' is never one of them)."""
    if name not in STATIC_ROOTS:
        raise ApiError(404, f"There is no file '{name}' here.")
    return static_file(name, root=STATIC_ROOTS[name])
