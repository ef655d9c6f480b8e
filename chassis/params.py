"""Query parameters: each read, bounded and checked, and every one at fault named in one 422."""
import unicodedata
from datetime import datetime

from bottle import request

from .text import NOT_STORABLE
from .web import ApiError

MAX_FILTER_LENGTH = 100  # characters of a text filter such as ?q=: a long LIKE pattern costs the database dearly


def read_list_query(filter_names, choices=None):
    """(page, per_page, {filter: trimmed text}) of a list request, or 422; `choices`: a filter's values."""
    errors = unknown_parameters("page", "per_page", *filter_names)
    page, per_page = read_page(errors)
    filters = {name: read_text(name, errors) for name in filter_names if name in request.query}
    errors.update({name: "must be one of " + ", ".join(values)
                   for name, values in (choices or {}).items() if filters.get(name, values[0]) not in values})
    reject_query_errors(errors)
    return page, per_page, filters


def read_text(name, errors):
    """A text query parameter, trimmed and in NFC; too long or not plain text, it goes into `errors`."""
    text = unicodedata.normalize("NFC", request.query.getunicode(name, "").strip())
    if len(text) > MAX_FILTER_LENGTH:
        errors[name] = f"must be at most {MAX_FILTER_LENGTH} characters"
    elif NOT_STORABLE.search(text):  # no record holds one, and PostgreSQL refuses them outright
        errors[name] = "must be plain text (no control character)"
    return text


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


def read_time(name, errors):
    """An ISO 8601 time with its UTC offset, as Unix seconds; problems go into `errors`."""
    moment = parsed(datetime.fromisoformat, request.query.get(name))  # "2026-12-01T20:00:00Z", "...17:00:00.5-03:00"
    if moment is None or moment.tzinfo is None:  # without an offset the time would be ambiguous
        errors[name] = "must be an ISO 8601 time with its offset, like 2026-12-01T20:00:00Z"
        return 0
    return moment.timestamp()


def read_milliseconds(name, errors, highest=10**9):
    """A number of milliseconds from 0 to `highest` (1.5 and 1e3 too); problems go into `errors`."""
    value = parsed(float, request.query.get(name))
    if value is None or not 0 <= value <= highest:  # NaN fails every comparison; 1e999 is past the bound
        errors[name] = f"must be a number of milliseconds from 0 to {highest}"
    return value


def parsed(parse, text):
    """parse(text), or None when `text` is over 40 characters or not what parse() reads."""
    try:
        return parse(text) if len(text) <= 40 else None
    except ValueError:
        return None


def reject_query_errors(errors):
    """Raise the 422 naming every query parameter at fault, if one is."""
    if errors:
        raise ApiError(422, "Some query parameters are invalid.", errors)
