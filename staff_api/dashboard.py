"""GET / and GET /static/<name>: the dashboard, a page with an employee form, a grid and charts of the logs.
Its files are plain data in static/: no build step, no CDN, no framework, so it works offline."""
# The page loads its files and calls the API by addresses relative to its own, so it works at / and
# under a prefix (/staff/ in the PythonAnywhere layout).
from importlib.resources import files

from bottle import HTTPResponse, request, response, static_file

from chassis.web import ApiError, answer_with_etag, etag_for

STATIC_ROOT = str(files(__package__) / "static")
PAGE = (files(__package__) / "static" / "index.html").read_bytes()
PAGE_ETAG = etag_for(PAGE)
FILES = ("dashboard.js", "dashboard.css")  # what the page loads; nothing else is served from static/
# As for /docs (chassis/explorer.py): only our own script and stylesheet run, and the page sends
# requests only here. No inline styles either: dashboard.js styles its charts with dashboard.css.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
REVALIDATE = "no-cache"  # a browser keeps the files, and asks with their ETag whether they changed


def page():
    """GET /: the dashboard's HTML page."""
    if not request.environ.get("PATH_INFO", "").endswith("/"):
        # /staff without its slash: the page's relative addresses would point outside /staff/. The
        # new address is relative too: one built from the request's Host would trust what the client sent.
        raise HTTPResponse(status=308, Location=request.script_name)
    response.set_header("Content-Security-Policy", PAGE_POLICY)
    return answer_with_etag(PAGE, PAGE_ETAG, REVALIDATE, "text/html; charset=utf-8")


def static(name):
    """GET /static/<name>: one of the files the page loads, or a 404 (a name with '..' or '/' is never one of them)."""
    if name not in FILES:
        raise ApiError(404, f"There is no file '{name}' here.")
    response.set_header("Cache-Control", REVALIDATE)
    return static_file(name, root=STATIC_ROOT)
