"""Who may write: with CEP_API_TOKEN set, a write needs `Authorization: Bearer <token>`, and so
does reading the request log (GET /logs, /logs/summary: operational data, who called what when).

Reading CEPs stays open: they are public data, and the staff API reads them without a token.
The staff API owns a copy of check_bearer_token: the two services share no code.
"""
import hmac

from bottle import request

from .jsonhttp import ApiError

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PRIVATE_ROUTES = ("/logs", "/logs/summary")  # read with the token only


def require_token_for_writes(callback):
    """Bottle plugin (a plain decorator): a write or a log read without the configured token gets 401."""
    # A plugin runs once a route is found: an unknown path is still 404, a wrong method 405.
    def wrapper(*args, **kwargs):
        token = request.app.config["cep_api.token"]
        private = request.route.rule in PRIVATE_ROUTES and request.method != "OPTIONS"  # cors.preflight
        if token and (request.method in WRITE_METHODS or private):
            check_bearer_token(token, "cep_api")
        return callback(*args, **kwargs)
    return wrapper


def check_bearer_token(token, realm):
    """Return if the request carries `Authorization: Bearer <token>`; otherwise raise 401."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(401, "This request needs a token: send 'Authorization: Bearer <token>'.",
                       **{"WWW-Authenticate": f'Bearer realm="{realm}"'})
    # compare_digest takes as long whatever the first wrong character: the time of the answer
    # tells an attacker nothing about how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise ApiError(401, "The token is not valid.",
                       **{"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'})
