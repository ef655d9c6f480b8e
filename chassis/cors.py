"""Which web pages on other origins may read which answers (CORS).

A browser lets a page read an answer from another origin only when the answer says so
(`Access-Control-Allow-Origin`), and before it sends a token there it asks first (a "preflight"
OPTIONS request). install() lets the pages of `origins` read `paths`; everything else stays
readable by curl and servers, not by pages.
"""
from bottle import request, response


def install(app, origins, paths):
    """Let pages from `origins` read GET `paths` of `app`, with a token (preflight answered)."""
    app.config["chassis.cors"] = (tuple(origins), tuple(paths))
    app.add_hook("after_request", allow_origin)
    for path in paths:
        app.route(path, "OPTIONS", preflight)


def allow_origin():
    """after_request hook: an answer under the shared paths names the page's origin if it is allowed."""
    origins, paths = request.app.config["chassis.cors"]
    if request.path in paths:
        if request.headers.get("Origin") in origins:
            response.set_header("Access-Control-Allow-Origin", request.headers["Origin"])
        response.set_header("Vary", "Origin")  # the answer differs by origin: caches must know


def preflight(**path):
    """OPTIONS on a shared path: a browser asking whether it may send GET with a token."""
    response.set_header("Access-Control-Allow-Methods", "GET")
    response.set_header("Access-Control-Allow-Headers", "Authorization")
    response.set_header("Access-Control-Max-Age", "600")  # ask again at most every 10 minutes
    response.status = 204
    return b""
