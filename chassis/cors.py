"""Which answers a web page on another origin may read: public reads only, as ViaCEP allows (CORS)."""
from bottle import request, response

from .web import header

READS = ("GET", "HEAD")


def install(app, public_rules):
    """Let pages on any origin read the routes of `app` whose rules start with `public_rules`."""
    app.config["chassis.public_rules"] = public_rules
    app.add_hook("after_request", allow_any_origin)
    for rule in dict.fromkeys(route.rule for route in app.routes if route.rule.startswith(public_rules)):
        app.route(rule, "OPTIONS", preflight)


def allow_any_origin():
    """after_request hook: a public read tells the browser any page may read it."""
    route = request.environ.get("bottle.route")
    if request.method in READS and route and route.rule.startswith(request.app.config["chassis.public_rules"]):
        response.set_header("Access-Control-Allow-Origin", "*")
        response.set_header("Access-Control-Expose-Headers", "ETag")  # so that a page can revalidate


def preflight(**path):
    """OPTIONS on a public read: a browser asking whether a page may read it, with the headers it names."""
    # Only for a GET or HEAD: POST needs no place in Allow-Methods (CORS lets it through whatever that says),
    # so a preflight for anything else grants nothing, and the browser never sends it.
    if header("Access-Control-Request-Method") in READS:
        response.set_header("Access-Control-Allow-Origin", "*")
        response.set_header("Access-Control-Allow-Methods", ", ".join(READS))
        if header("Access-Control-Request-Headers"):  # harmless on a read with no credentials
            response.set_header("Access-Control-Allow-Headers", header("Access-Control-Request-Headers"))
        response.set_header("Access-Control-Max-Age", "86400")  # ask again at most once a day
    response.status = 204
    return b""
