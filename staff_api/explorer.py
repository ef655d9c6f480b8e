"""GET /openapi.json and GET /docs: the OpenAPI document and Swagger UI, served from here (no CDN).

Swagger UI's files come from the swagger-ui-py package; the page (docs.html) loads them, and the
document, by addresses relative to its own, so it also works under a prefix (/staff/docs).
The CEP API owns a copy of this small module: the two services share no code.
"""
from importlib.resources import files

from bottle import response, static_file

from .jsonhttp import ApiError

# Both files are data beside this module, read once at start and sent as they are.
DOCUMENT = (files(__package__) / "openapi.json").read_bytes()
PAGE = (files(__package__) / "docs.html").read_bytes()  # Swagger UI's page, pointed at the document
STATIC_ROOT = str(files("swagger_ui") / "static")
# Everything docs.html loads, and nothing else of the package.
STATIC_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")


def document():
    """The OpenAPI document, as JSON."""
    response.content_type = "application/json"
    return DOCUMENT


def page():
    """The explorer's HTML page."""
    response.content_type = "text/html; charset=utf-8"
    return PAGE


def static(name):
    """One of Swagger UI's files, or a 404 (a name with '..' or '/' is never one of them)."""
    if name not in STATIC_FILES:
        raise ApiError(404, f"There is no file '{name}' here.")
    return static_file(name, root=STATIC_ROOT)
