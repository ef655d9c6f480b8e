"""JSON over HTTP for Bottle: read a JSON object, answer JSON, every error as the contract's JSON, ETags."""
import hashlib
import json
import re
import time

from bottle import BaseRequest, HTTPError, request, response
from peewee import InterfaceError, OperationalError
from playhouse.pool import MaxConnectionsExceeded

MAX_BODY_BYTES = BaseRequest.MEMFILE_MAX  # 100 KiB, as the contract says
MAX_ERROR_FIELDS = 20  # an error names at most this many fields: 50,000 unknown names get no 1.7 MB answer
# Sent with every answer: the browser must not guess another type than the one we send (an
# upload of HTML answered as text must never run as a page), nor tell other sites our URLs.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# The database cannot be reached or written (PostgreSQL stopped, a file locked or on a full disk).
DATABASE_DOWN = (OperationalError, InterfaceError, MaxConnectionsExceeded)
# What a log line must not carry as it is: control characters but a line break (a path with CR or
# ESC would rewrite the terminal) and lone surrogates (they have no UTF-8).
UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class ApiError(HTTPError):
    """An error we raise on purpose; `render_error` turns it into the contract's JSON shape."""

    def __init__(self, status, message, fields=None, **headers):
        super().__init__(status, message, **headers)
        self.fields = fields


def install(app, settings, error_status, error_headers=None, extra_headers=None):
    """Answer in JSON, to the allowed hosts only; `error_status` maps the service's exceptions to statuses."""
    # error_headers(error): headers for such an error's answer; extra_headers: for every answer.
    app.config["chassis.headers"] = {**SECURITY_HEADERS, **(extra_headers or {})}
    app.config["chassis.allowed_hosts"] = settings["allowed_hosts"]
    app.add_hook("before_request", check_request)
    app.add_hook("after_request", add_headers)
    app.default_error_handler = render_error  # Bottle would answer errors with an HTML page
    app.install(DomainErrors(error_status, error_headers or (lambda error: {})))


def json_bytes(data):
    """Encode `data` the same way every time: compact, UTF-8, keys in the order we built them."""
    # A lone surrogate ("\udfff", from a client's JSON) has no UTF-8: written as its JSON escape.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def send_json(data, status=200, headers=None):
    """Set the status and headers of the answer, and give its JSON body."""
    response.status = status
    response.content_type = "application/json"
    for name, value in (headers or {}).items():
        response.set_header(name, value)
    return json_bytes(data)


def read_json_object():
    """Return the request body as a dict, or raise the error the contract asks for."""
    # Not Bottle's request.json, which ignores "application/json ; charset=utf-8" (a space before ";").
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "Send the body as JSON with 'Content-Type: application/json'.")
    # Length first: Bottle would copy a big body to a file; a chunked body declares none, hence the second check.
    body = b"" if request.content_length > MAX_BODY_BYTES else request.body.read(MAX_BODY_BYTES + 1)
    if request.content_length > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
    except ValueError:  # not UTF-8 (UnicodeDecodeError is a ValueError), or not JSON
        raise ApiError(400, "The body is not valid JSON in UTF-8.")
    except RecursionError:  # valid JSON, but nested deeper than Python's parser goes
        raise ApiError(400, "The JSON body is nested too deeply.")
    if not isinstance(data, dict):
        raise ApiError(400, "The JSON body must be an object, like {\"field\": \"value\"}.")
    return data


def refuse_constant(name):
    """Refuse NaN, Infinity and -Infinity, which json.loads would take but are not JSON."""
    raise ValueError(f"{name} is not JSON")


def check_request():
    """before_request hook: 400 for a host name not allowed, or a path whose bytes are not UTF-8."""
    request.environ["wsgi.errors"] = PlainErrors(request.environ["wsgi.errors"])  # Bottle writes tracebacks there
    # A page on an attacker's domain that resolves to 127.0.0.1 (DNS rebinding) sends its own Host.
    host = request.environ.get("HTTP_HOST", "").lower()
    name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]  # [::1]:8001, localhost:8001
    allowed = request.app.config["chassis.allowed_hosts"]
    if host and name not in allowed and "*" not in allowed:
        raise ApiError(400, "This service does not answer for that host name; add it to *_ALLOWED_HOSTS.")
    # Bottle decodes the path with errors="ignore": /ceps/0100%FF1000 would become /ceps/01001000.
    try:
        request.environ["bottle.raw_path"].encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ApiError(400, "The path is not valid UTF-8.")


def header(name):
    """A request header as sent, or "" (Bottle's request.headers fails on bytes that are not UTF-8: a 500)."""
    return request.environ.get("HTTP_" + name.upper().replace("-", "_"), "")  # WSGI gives them as latin-1 text


def etag_for(body):
    """A strong ETag derived from the bytes of the answer: same content, same tag."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def answer_with_etag(body, etag, cache_control, content_type="application/json"):
    """Send `body`, or an empty 304 when If-None-Match names its ETag (weakly, as RFC 9110 says for GET)."""
    response.set_header("ETag", etag)
    response.set_header("Cache-Control", cache_control)
    tags = [tag.strip().removeprefix("W/") for tag in header("If-None-Match").split(",")]
    if "*" in tags or etag in tags:
        response.status = 304
        return b""
    response.content_type = content_type
    return body


def iso_utc(timestamp=None, milliseconds=False):
    """A Unix time (default: now) as the APIs write it: 2026-12-01T20:00:00Z, or ...00.123Z."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return text + (f".{int(timestamp % 1 * 1000):03d}Z" if milliseconds else "Z")


class DomainErrors:
    """Bottle plugin: an exception of the service's own (`statuses`' keys) becomes its ApiError."""

    api = 2

    def __init__(self, statuses, headers):
        self.statuses, self.headers = statuses, headers

    def apply(self, callback, route):
        """Wrap a route's handler."""
        def wrapper(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except tuple(self.statuses) as error:
                raise ApiError(self.statuses[type(error)], str(error), getattr(error, "fields", None),
                               **self.headers(error))
        return wrapper


def render_error(error):
    """Bottle's error handler: every error, ours or Bottle's own, becomes JSON, never HTML."""
    if isinstance(error.exception, DATABASE_DOWN):  # 503 (or 507), never 500: it is no bug of ours
        full = any(words in text for text in messages(error.exception) for words in ("full", "No space left"))
        error = ApiError(507, "The database's disk is full; nothing was saved.") if full else \
            ApiError(503, "The database cannot be reached; nothing was saved, try again later.", Retry_After="5")
        error.apply(response)
    if error.status_code >= 500:  # a bug's traceback went to the server's log (PlainErrors), never to the client
        message = "Internal server error." if error.status_code == 500 else str(error.body)
    else:
        message = error.body if isinstance(error.body, str) and error.body else error.status_line.split(" ", 1)[1]
    body = {"status": error.status_code, "message": message[:500]}  # it may quote the request: never all of it
    fields = getattr(error, "fields", None) or {}
    if len(fields) > MAX_ERROR_FIELDS:
        body["message"] += f" ({len(fields)} fields at fault; the first {MAX_ERROR_FIELDS} are named.)"
    if fields:  # only where fields are at fault
        body["fields"] = dict(list(fields.items())[:MAX_ERROR_FIELDS])
    response.content_type = "application/json"
    request.app.trigger_hook("after_request")  # Bottle has replaced the headers with the error's own
    # Bottle would pass the exception to start_response, as if the answer had begun: uWSGI then fails.
    request.environ.pop("bottle.exc_info", None)
    return json_bytes({"error": body})


def messages(exception):
    """The messages of `exception` and of those it happened while handling (a failed COMMIT behind a ROLLBACK)."""
    while exception is not None:
        yield str(exception)
        exception = exception.__context__


def add_headers():
    """after_request hook: the headers every answer carries, unless it has its own (a static file's Cache-Control)."""
    for name, value in request.app.config["chassis.headers"].items():
        if name not in response.headers:
            response.set_header(name, value)


class PlainErrors:
    """A WSGI error stream whose text is made plain_lines(): a path in a traceback may hold CR, LF or ESC."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        """Write `text`, made plain."""
        self.stream.write(plain_lines(text))

    def flush(self):
        """Flush the stream underneath."""
        self.stream.flush()


def plain_lines(text):
    """`text` safe for a log: UNPRINTABLE escaped, and lines after the first indented (none can pass for a record)."""
    return re.sub("\n(?=.)", "\n    ", UNPRINTABLE.sub(lambda found: ascii(found.group())[1:-1], text))
