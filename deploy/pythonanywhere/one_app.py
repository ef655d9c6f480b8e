"""Both services in one WSGI app, for a host that gives you one web app with one worker.

    /cep/...     the CEP API       (GET /cep/ceps/01001000)
    /staff/...   the staff API     (POST /staff/employees)
    anything else: a JSON 404

Why not simply let the staff API call /cep/... over HTTP? On a free PythonAnywhere account the
one worker that would have to answer that call is the one busy waiting for it: the call queues
behind the request that made it, until STAFF_CEP_TIMEOUT gives up and the staff API answers 503.
So here the staff API's requests.Session hands its calls to the CEP API's WSGI app directly, in
the same process and thread (WSGIAdapter below). Nothing else changes: the staff API still sends
an HTTP request and reads an HTTP response, cache headers and all; it just never crosses a socket.

Settings come from the environment, as for the services themselves (CEP_API_DB, STAFF_API_DB, ...);
CEP_API_URL and STAFF_CEP_TIMEOUT do not apply here (see the guide, README.md beside this file).
"""
import io
import json
import sys
from contextlib import contextmanager
from urllib.parse import unquote_to_bytes, urlsplit

import bottle
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from cep_api.app import config_from_env as cep_config_from_env
from cep_api.app import create_app as create_cep_app
from staff_api.app import create_app as create_staff_app

# The CEP API's address as the staff API sees it in this layout. It is no real host (.internal
# is reserved for private names and never resolves on the internet): the Session routes it to
# the in-process adapter.
IN_PROCESS_CEP_URL = "http://cep-api.internal"


def create_app():
    """The combined WSGI app: the CEP API under /cep, the staff API under /staff."""
    # The CEP API answers the staff API's in-process calls, sent to its made-up host name, too.
    cep_settings = cep_config_from_env()
    cep_app = create_cep_app({"cep_api.allowed_hosts": (*cep_settings["cep_api.allowed_hosts"],
                                                        urlsplit(IN_PROCESS_CEP_URL).hostname)})
    session = requests.Session()
    session.mount(IN_PROCESS_CEP_URL + "/", WSGIAdapter(cep_app))
    staff_app = create_staff_app({"staff_api.cep_api_url": IN_PROCESS_CEP_URL}, cep_session=session)
    return PrefixDispatcher({"/cep": cep_app, "/staff": staff_app})


class PrefixDispatcher:
    """Pass /PREFIX/... to the app mounted at PREFIX, as a front web server would; else a JSON 404.

    Why not Bottle's own app.mount()? In Bottle 0.13 mounting a Bottle app copies its routes into
    the parent, so the mounted app's hooks (which open and close its database connection) and its
    JSON error handler would not run. A WSGI dispatcher keeps each app whole.
    """

    def __init__(self, mounts):
        self.mounts = mounts  # {"/cep": app, ...}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                # WSGI's way of saying "you are mounted at PREFIX": the prefix moves from
                # PATH_INFO to SCRIPT_NAME, and the app routes /ceps/... as if it ran alone.
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):]
                return app(environ, start_response)
        places = " and ".join(f"{prefix}/" for prefix in self.mounts)
        error = {"status": 404, "message": f"There is nothing at this path; the services are under {places}."}
        body = json.dumps({"error": error}).encode("utf-8")
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class WSGIAdapter(BaseAdapter):
    """A requests transport adapter that answers by calling a WSGI app instead of opening a socket.

    Mount it on a Session for a base URL; every request to that URL runs through the app. The
    `timeout` requests passes in cannot apply: a call in the same thread cannot be interrupted.
    """

    def __init__(self, app):
        super().__init__()
        self.app = app

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        """Turn a requests.PreparedRequest into a WSGI call, and the app's answer into a Response."""
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        environ = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            # WSGI passes the path percent-decoded, its bytes as latin-1 characters (PEP 3333).
            "PATH_INFO": unquote_to_bytes(url.path).decode("latin-1"),
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname,
            "SERVER_PORT": str(url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": url.netloc,  # a real client would send Host; requests leaves that to urllib3
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                environ["HTTP_" + name.upper().replace("-", "_")] = value

        answer = {}
        written = []  # what the app passes to the legacy write() callable, if it uses it

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return written.append

        with bottle_request_kept():
            chunks = self.app(environ, start_response)
            try:
                content = b"".join(written) + b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):  # PEP 3333: the server must close what the app returned
                    chunks.close()

        status_code, reason = answer["status"].split(" ", 1)
        headers = CaseInsensitiveDict()
        for name, value in answer["headers"]:  # a repeated header becomes one, comma-separated
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        response = requests.Response()
        response.status_code = int(status_code)
        response.reason = reason
        response.headers = headers
        response.encoding = requests.utils.get_encoding_from_headers(headers)
        response.raw = io.BytesIO(content)  # .content, .text and .json() read the body from here
        response.url = request.url
        response.request = request
        response.connection = self
        return response

    def close(self):
        """Nothing to close: there are no connections."""


@contextmanager
def bottle_request_kept():
    """Give the calling Bottle app back its current request and response after the call inside.

    Bottle keeps "the current request" and "the current response" in thread-local globals. The
    CEP API, called in the staff API's thread, rebinds them to its own request; left that way,
    the staff API would read the CEP API's request and answer with the CEP API's status and
    headers (its ETag, its Cache-Control) mixed into its own.
    """
    try:
        kept = bottle.request.environ, bottle.response.copy(cls=bottle.HTTPResponse)
    except RuntimeError:  # no Bottle app is handling a request in this thread: nothing to keep
        kept = None
    try:
        yield
    finally:
        if kept is not None:
            environ, response = kept
            bottle.request.environ = environ
            response.apply(bottle.response)
