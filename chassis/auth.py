"""Bearer tokens: with a token set, a protected route needs `Authorization: Bearer <token>`.

Always open: /health, /openapi.json, /docs. Always protected: the request log. A service opens more.
"""
import hmac

from bottle import request

from .web import ApiError, header

OPEN_PATHS = ("/health", "/openapi.json", "/docs")
OPEN_PREFIXES = ("/docs/static/",)  # Swagger UI's files
READS = ("GET", "HEAD", "OPTIONS")


def install(app, token, realm, open_reads=False, open_paths=(), open_prefixes=()):
    """With `token` set, protect every route of `app` but the open ones: the chassis's own, reads if
    `open_reads`, `open_paths` and the paths starting with `open_prefixes`."""
    if not token:
        return
    open_paths, open_prefixes = OPEN_PATHS + open_paths, OPEN_PREFIXES + open_prefixes

    def require_token(callback):
        """Bottle plugin: a protected route called without the token answers 401 (an unknown path is still a 404)."""
        def wrapper(*args, **kwargs):
            path = request.path  # within the app: also when mounted under /staff
            if not (path in open_paths or path.startswith(open_prefixes)
                    or (open_reads and request.method in READS and not path.startswith("/logs"))):
                check_bearer_token(token, realm)
            return callback(*args, **kwargs)
        return wrapper

    app.install(require_token)


def check_bearer_token(token, realm):
    """Return if the request carries `Authorization: Bearer <token>`; otherwise raise 401."""
    scheme, _, given = header("Authorization").partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(401, "This request needs a token: send 'Authorization: Bearer <token>'.",
                       **{"WWW-Authenticate": f'Bearer realm="{realm}"'})
    # compare_digest takes as long whatever the first wrong character: the time of the answer
    # tells an attacker nothing about how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode("latin-1"), token.encode("utf-8")):  # the bytes as sent
        raise ApiError(401, "The token is not valid.",
                       **{"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'})
