"""Let the staff API's dashboard, served from another origin (port 8002), read this service's logs.

A browser lets a page read an answer from another origin only when the answer says so
(`Access-Control-Allow-Origin`), and before it sends a token there it asks first (a "preflight"
OPTIONS request). Only GET /logs and /logs/summary allow this, and only for the origins in
CEP_API_CORS_ORIGINS: the CEP API's other answers stay readable by curl and servers, not by pages.
"""
from bottle import request, response

LOG_ROUTES = ("/logs", "/logs/summary")


def allow_log_readers():
    """after_request hook: an answer under /logs names the page's origin if it is allowed."""
    origin = request.headers.get("Origin")
    if request.path in LOG_ROUTES and origin in request.app.config["cep_api.cors_origins"]:
        response.set_header("Access-Control-Allow-Origin", origin)
    if request.path in LOG_ROUTES:
        response.set_header("Vary", "Origin")  # the answer differs by origin: caches must know


def preflight():
    """OPTIONS /logs, /logs/summary: a browser asking whether it may send GET with a token."""
    response.set_header("Access-Control-Allow-Methods", "GET")
    response.set_header("Access-Control-Allow-Headers", "Authorization")
    response.set_header("Access-Control-Max-Age", "600")  # ask again at most every 10 minutes
    response.status = 204
    return b""
