"""GET / and GET /static/<name>: the dashboard, a page with an employee form, a grid and charts of the logs.

Its files are plain data in static/ (index.html, dashboard.js, dashboard.css): no build step, no
CDN, no framework, so it works offline. The page loads its files and calls the API by addresses
relative to its own, so it works at / and under a prefix (/staff/ in the PythonAnywhere layout).
"""
from html import escape
from importlib.resources import files
from urllib.parse import urlsplit

from bottle import redirect, request, response, static_file

from chassis.web import ApiError

STATIC_ROOT = str(files(__package__) / "static")
PAGE = (files(__package__) / "static" / "index.html").read_text(encoding="utf-8")
FILES = ("dashboard.js", "dashboard.css")  # what the page loads; nothing else is served from static/
# As for /docs (chassis/explorer.py): only our own script and stylesheet run, and the page sends requests
# only here, plus to the CEP API when its logs are on another origin (the two-port layout). No
# inline styles either: dashboard.js styles its SVG charts with classes from dashboard.css.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'{}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def page():
    """The dashboard's HTML page, told where the CEP API's request logs are."""
    if not request.environ.get("PATH_INFO", "").endswith("/"):
        # /staff without its slash: the page's relative addresses would point outside /staff/.
        redirect(request.script_name, 308)
    logs_url = cep_api_logs_url()
    parts = urlsplit(logs_url)
    other_origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Content-Security-Policy", PAGE_POLICY.format(other_origin))
    return PAGE.replace("{{cep_api_logs}}", escape(logs_url, quote=True))


def cep_api_logs_url():
    """Where the browser reads the CEP API's log summary: set, or beside the URL the staff API calls."""
    settings = request.app.config
    # The staff API's own address for the CEP API is not always one a browser can reach (the
    # PythonAnywhere layout calls it in-process), so the page's address can be set on its own.
    return (settings.get("staff_api.cep_api_logs_url")
            or settings["staff_api.cep_api_url"].rstrip("/") + "/logs/summary")


def static(name):
    """One of the files the page loads, or a 404 (a name with '..' or '/' is never one of them)."""
    if name not in FILES:
        raise ApiError(404, f"There is no file '{name}' here.")
    return static_file(name, root=STATIC_ROOT)
