"""JSON over HTTP for Bottle: read a JSON object, answer JSON, render every error as JSON.

The staff API owns a copy of this small module: the two services share no code.
"""
import json
import math
import unicodedata
from datetime import datetime

from bottle import BaseRequest, HTTPError, request, response

from .ceps import CepAlreadyExists, CepNotFound, InvalidInput


MAX_BODY_BYTES = BaseRequest.MEMFILE_MAX  # 100 KiB, as the contract says
MAX_FILTER_LENGTH = 100  # characters of a text filter such as ?q=
# Sent with every answer: the browser must not guess another type than the one we send (an
# upload of HTML answered as text must never run as a page), nor tell other sites our URLs.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class ApiError(HTTPError):
    """An error we raise on purpose; `render_error` turns it into the contract's JSON shape."""

    def __init__(self, status, message, fields=None, **headers):
        super().__init__(status, message, **headers)
        self.fields = fields


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
    media_type = request.content_type.split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "Send the body as JSON with 'Content-Type: application/json'.")
    # Read here rather than with Bottle's request.json, which ignores a body whose type is
    # written "application/json ; charset=utf-8" (a space before the ";").
    too_large = ApiError(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    if request.content_length > MAX_BODY_BYTES:  # before reading: Bottle would copy it to a temporary file
        raise too_large
    body = request.body.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:  # a chunked body declares no length
        raise too_large
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
    """before_request hook: 400 for a path whose bytes are not UTF-8 (Bottle would drop them)."""
    # Bottle decodes the path with errors="ignore": /ceps/0100%FF1000 would become /ceps/01001000.
    try:
        request.environ["bottle.raw_path"].encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ApiError(400, "The path is not valid UTF-8.")


def read_list_query(filter_names):
    """(page, per_page, {filter: trimmed text, for those sent}) of a list request, or 422."""
    errors = unknown_parameters("page", "per_page", *filter_names)
    # Bounded so that page * per_page always fits in SQLite's 64-bit OFFSET.
    page = read_whole_number("page", 1, 1, 10**9, errors)
    per_page = read_whole_number("per_page", 20, 1, 100, errors)
    filters = {}
    for name in filter_names:
        if name in request.query:
            text = unicodedata.normalize("NFC", request.query.getunicode(name, "").strip())
            if len(text) > MAX_FILTER_LENGTH:  # a long LIKE pattern costs the database dearly
                errors[name] = f"must be at most {MAX_FILTER_LENGTH} characters"
            filters[name] = text
    if errors:
        raise ApiError(422, "Some query parameters are invalid.", errors)
    return page, per_page, filters


LOG_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_MS = 10**9  # a bound for min_ms, so that no text reads as infinity (1e999)


def read_log_query():
    """(page, per_page, filters) of GET /logs, each filter checked and converted, or 422."""
    errors = unknown_parameters("page", "per_page", "route", "method", "status", "since", "until", "min_ms")
    page = read_whole_number("page", 1, 1, 10**9, errors)
    per_page = read_whole_number("per_page", 20, 1, 100, errors)
    query, filters = request.query, {}
    if "route" in query:  # compared whole (route = ?), so any text is harmless
        filters["route"] = query.getunicode("route", "").strip()
    if "method" in query:
        filters["method"] = query.getunicode("method", "").strip()
        if filters["method"] not in LOG_METHODS:
            errors["method"] = "must be one of " + ", ".join(LOG_METHODS)
    if "status" in query:
        filters["status"] = read_whole_number("status", 0, 100, 599, errors)
    for name in ("since", "until"):
        if name in query:
            filters[name] = read_time(name, errors)
    if "min_ms" in query:
        filters["min_ms"] = read_milliseconds("min_ms", errors)
    if errors:
        raise ApiError(422, "Some query parameters are invalid.", errors)
    return page, per_page, filters


def read_minutes():
    """The `minutes` of GET /logs/summary: 1 to 1440 (a day), 60 when not sent; or 422."""
    errors = unknown_parameters("minutes")
    minutes = read_whole_number("minutes", 60, 1, 1440, errors)
    if errors:
        raise ApiError(422, "Some query parameters are invalid.", errors)
    return minutes


def unknown_parameters(*known):
    """{name: "unknown query parameter"} for each query parameter not in `known`."""
    return {name: "unknown query parameter" for name in request.query if name not in known}


def read_time(name, errors):
    """An ISO 8601 time with its UTC offset, as Unix seconds; problems go into `errors`."""
    text = request.query.get(name)
    try:  # Python 3.11 reads "2026-12-01T20:00:00Z" and "2026-12-01T17:00:00.5-03:00" alike
        moment = datetime.fromisoformat(text) if len(text) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:  # without an offset the time would be ambiguous
        errors[name] = "must be an ISO 8601 time with its offset, like 2026-12-01T20:00:00Z"
        return None
    return moment.timestamp()


def read_milliseconds(name, errors):
    """A number of milliseconds from 0 to MAX_MS (1.5 and 1e3 too); problems go into `errors`."""
    text = request.query.get(name)
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_MS:  # NaN fails every comparison
        errors[name] = f"must be a number of milliseconds from 0 to {MAX_MS}"
        return None
    return value


def read_whole_number(name, default, lowest, highest, errors):
    """A whole-number query parameter within [lowest, highest]; problems go into `errors`."""
    text = request.query.get(name, str(default))
    # Length first: int() refuses more than 4,300 digits, and no bound here needs more than 19.
    if text.isascii() and text.isdigit() and len(text) < 20 and lowest <= int(text) <= highest:
        return int(text)
    errors[name] = f"must be a whole number from {lowest} to {highest}"
    return default


# What each domain error answers. ceps.py raises them and knows nothing of HTTP.
ERROR_STATUS = {InvalidInput: 422, CepNotFound: 404, CepAlreadyExists: 409}
# A CEP missing now may be added any minute, so a client may keep that 404 for a minute only.
ERROR_HEADERS = {CepNotFound: {"Cache-Control": "public, max-age=60"}}


def answer_domain_errors(callback):
    """Bottle plugin (a plain decorator): a domain error raised by a handler becomes its ApiError."""
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except tuple(ERROR_STATUS) as error:
            headers = ERROR_HEADERS.get(type(error), {})
            raise ApiError(ERROR_STATUS[type(error)], str(error), getattr(error, "fields", None), **headers)
    return wrapper


def render_error(error):
    """Bottle's error handler: every error, ours or Bottle's own, becomes JSON, never HTML."""
    if error.status_code >= 500:
        # The traceback goes to the server log (Bottle writes it there), never to the client.
        message = "Internal server error." if error.status_code == 500 else str(error.body)
    elif isinstance(error.body, str) and error.body:
        message = error.body
    else:
        message = error.status_line.split(" ", 1)[1]
    body = {"status": error.status_code, "message": message}
    if getattr(error, "fields", None):  # only where fields are at fault
        body["fields"] = error.fields
    response.content_type = "application/json"
    add_security_headers()  # Bottle has replaced the headers with the error's own
    return json_bytes({"error": body})


def add_security_headers():
    """after_request hook (and render_error): the headers every answer carries."""
    for name, value in SECURITY_HEADERS.items():
        response.set_header(name, value)
