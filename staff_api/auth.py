"""Who may call: with STAFF_API_TOKEN set, every route but the open ones needs
`Authorization: Bearer <token>`, reads included (employee data is personal, the cache is shared).

The CEP API owns a copy of check_bearer_token: the two services share no code.
"""
import hmac

from bottle import request

from .jsonhttp import ApiError

# What anyone may read: whether the service is up, and how to use it.
# The dashboard's page and files are open too: the page asks for the token, then sends it.
OPEN_PATHS = ("/health", "/docs", "/openapi.json", "/")
OPEN_PREFIXES = ("/docs/static/", "/static/")  # Swagger UI's files, the dashboard's


def require_token(callback):
    """Bottle plugin (a plain decorator): a protected route called without the token answers 401."""
    # A plugin runs once a route is found: an unknown path is still 404, a wrong method 405.
    def wrapper(*args, **kwargs):
        token = request.app.config["staff_api.token"]
        path = request.path  # within the app: "/health" also when mounted under /staff
        if token and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            check_bearer_token(token, "staff_api")
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
