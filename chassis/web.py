"""JSON over HTTP for Bottle: read a JSON object, answer JSON, render every error as JSON, ETags."""
import hashlib
import json
import time
import unicodedata

from bottle import BaseRequest, HTTPError, request, response

MAX_BODY_BYTES = BaseRequest.MEMFILE_MAX  # 100 KiB, as the contract says
MAX_FILTER_LENGTH = 100  # characters of a text filter such as ?q=: a long LIKE pattern costs the database dearly
# Sent with every answer: the browser must not guess another type than the one we send (an
# upload of HTML answered as text must never run as a page), nor tell other sites our URLs.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class ApiError(HTTPError):
    """An error we raise on purpose; `render_error` turns it into the contract's JSON shape."""

    def __init__(self, status, message, fields=None, **headers):
        super().__init__(status, message, **headers)
        self.fields = fields


def install(app, error_status, error_headers=None, extra_headers=None):
    """Answer in JSON: `error_status` maps the service's own exceptions to HTTP statuses,
    `error_headers(error)` adds headers to such an answer, `extra_headers` go on every answer."""
    app.config["chassis.headers"] = {**SECURITY_HEADERS, **(extra_headers or {})}
    app.add_hook("before_request", reject_undecodable_path)
    app.add_hook("after_request", add_headers)
    app.default_error_handler = render_error  # Bottle would answer errors with an HTML page
    app.install(DomainErrors(error_status, error_headers))


def json_bytes(data):
    """Encode `data` the same way every time: compact, UTF-8, keys in the order we built them."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def send_json(data, status=200, headers=None):
    """Set status and headers on the response and return the encoded body."""
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
    # Length first, before reading: Bottle would copy a big body to a temporary file; a chunked
    # body declares no length, hence the second check.
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
    """json.loads would accept NaN, Infinity and -Infinity, which are not JSON: refuse them."""
    raise ValueError(f"{name} is not JSON")


def reject_undecodable_path():
    """before_request hook: 400 for a path whose bytes are not UTF-8."""
    # Bottle decodes the path with errors="ignore": /ceps/0100%FF1000 would become /ceps/01001000.
    try:
        request.environ["bottle.raw_path"].encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ApiError(400, "The path is not valid UTF-8.")


def read_list_query(filter_names):
    """(page, per_page, {filter: trimmed text, for those sent}) of a list request, or 422."""
    errors = unknown_parameters("page", "per_page", *filter_names)
    page, per_page = read_page(errors)
    filters = {name: unicodedata.normalize("NFC", request.query.getunicode(name, "").strip())
               for name in filter_names if name in request.query}
    errors.update({name: f"must be at most {MAX_FILTER_LENGTH} characters"
                   for name, text in filters.items() if len(text) > MAX_FILTER_LENGTH})
    reject_query_errors(errors)
    return page, per_page, filters


def unknown_parameters(*known):
    """{name: "unknown query parameter"} for each query parameter not in `known`."""
    return {name: "unknown query parameter" for name in request.query if name not in known}


def read_page(errors):
    """(page, per_page) of a list request; problems go into `errors`."""
    # Bounded so that page * per_page always fits in SQLite's 64-bit OFFSET.
    return read_whole_number("page", 1, 1, 10**9, errors), read_whole_number("per_page", 20, 1, 100, errors)


def read_whole_number(name, default, lowest, highest, errors):
    """A whole-number query parameter within [lowest, highest]; problems go into `errors`."""
    text = request.query.get(name, str(default))
    # Length first: int() refuses more than 4,300 digits, and no bound here needs more than 19.
    if text.isascii() and text.isdigit() and len(text) < 20 and lowest <= int(text) <= highest:
        return int(text)
    errors[name] = f"must be a whole number from {lowest} to {highest}"
    return default


def reject_query_errors(errors):
    """Raise the 422 naming every query parameter at fault, if one is."""
    if errors:
        raise ApiError(422, "Some query parameters are invalid.", errors)


def etag_for(body):
    """A strong ETag derived from the bytes of the answer: same content, same tag."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def answer_with_etag(body, etag, cache_control, content_type="application/json"):
    """Send `body`, or an empty 304 when If-None-Match names its ETag (weakly, as RFC 9110 says for GET)."""
    response.set_header("ETag", etag)
    response.set_header("Cache-Control", cache_control)
    tags = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
    if "*" in tags or etag in tags:
        response.status = 304
        return b""
    response.content_type = content_type
    return body


def iso_utc(timestamp=None, milliseconds=False):
    """A Unix time (default: now) as the APIs write times: ISO 8601, UTC, 'Z' (...T20:00:00Z or ...T20:00:00.123Z)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return text + (f".{int(timestamp % 1 * 1000):03d}Z" if milliseconds else "Z")


class DomainErrors:
    """Bottle plugin: an exception of the service's own (`statuses`' keys) becomes its ApiError."""

    api = 2

    def __init__(self, statuses, headers=None):
        self.statuses, self.headers = statuses, headers

    def apply(self, callback, route):
        """Wrap a route's handler."""
        def wrapper(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except tuple(self.statuses) as error:
                headers = self.headers(error) if self.headers else {}
                raise ApiError(self.statuses[type(error)], str(error), getattr(error, "fields", None), **headers)
        return wrapper


def render_error(error):
    """Bottle's error handler: every error, ours or Bottle's own, becomes JSON, never HTML."""
    if error.status_code >= 500:
        # The traceback goes to the server log (Bottle writes it there), never to the client.
        message = "Internal server error." if error.status_code == 500 else str(error.body)
    else:
        message = error.body if isinstance(error.body, str) and error.body else error.status_line.split(" ", 1)[1]
    body = {"status": error.status_code, "message": message}
    if getattr(error, "fields", None):  # only where fields are at fault
        body["fields"] = error.fields
    response.content_type = "application/json"
    add_headers()  # Bottle has replaced the headers with the error's own
    return json_bytes({"error": body})


def add_headers():
    """after_request hook (and render_error): the headers every answer of this app carries."""
    for name, value in request.app.config["chassis.headers"].items():
        response.set_header(name, value)
