"""What the CEP API does, one plain function per use case, with no HTTP in it: each checks its input
(validation.py), writes in one short transaction, or raises an error below (app.ERROR_STATUS: its status)."""
from peewee import IntegrityError

from chassis.text import search_key
from chassis.web import etag_for, json_bytes

from .models import Cep, db, search_index, writing
from .validation import UF_RANGES, check_uf_range, clean_record, format_cep, normalize_cep

LIST_FILTERS = ("uf", "localidade", "q")
# A ?q= search counts this many matches at most: counting all 800,000 streets holding "rua" would
# cost a second, for anyone, with no token.
MAX_MATCHES = 1000


class CepError(Exception):
    """An error a client can fix: a sentence, and `fields` saying why, field by field, if fields are at fault."""

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.fields = fields


class InvalidInput(CepError):
    """The body or the query is not valid."""


class CepNotFound(CepError):
    """No record has this CEP."""


class CepAlreadyExists(CepError):
    """A create named a CEP that is already there."""


def answer_for(record):
    """The (body, etag) of a record: a GET and a write answer it with the same bytes and tag."""
    body = json_bytes(record.to_dict())
    return body, etag_for(body)


def find_page(page, per_page, filters):
    """One page of records sorted by CEP, with the total that match `filters` (with q: MAX_MATCHES at most)."""
    query, uf = Cep.select(), filters.get("uf", "").upper()
    if "uf" in filters:
        if uf not in UF_RANGES:
            raise InvalidInput("Some query parameters are invalid.", {"uf": "must be one of the 27 UFs"})
        query = query.where(Cep.uf == uf)
    if "localidade" in filters:
        query = query.where(Cep.localidade == filters["localidade"])
    if "q" in filters:
        # Folded keys, not LIKE on the columns: SQLite's LIKE ignores case in ASCII only, PostgreSQL's ILIKE
        # in every alphabet. On the keys, "sao" finds "São" on both.
        key = search_key(filters["q"])
        if len(key) < 3:  # the trigram indexes find nothing shorter; ViaCEP asks for 3 as well
            raise InvalidInput("Some query parameters are invalid.", {"q": "must have 3 characters at least"})
        if db.is_postgres() or "localidade" in filters:  # a trigram index, or one town's rows: LIKE is quick
            query = query.where(Cep.street_key.contains(key) | Cep.district_key.contains(key))
        else:
            query = query.where(Cep.cep.in_(search_index(key, UF_RANGES.get(uf), MAX_MATCHES)))
    first, shown = (page - 1) * per_page, per_page
    if "q" in filters:  # the first MAX_MATCHES matches only, listed and counted alike on either engine
        query, shown = query.limit(MAX_MATCHES), max(0, min(per_page, MAX_MATCHES - first))
    items = [record.to_dict() for record in query.order_by(Cep.cep).offset(first).limit(shown)] if shown else []
    return {"items": items, "page": page, "per_page": per_page, "total": query.count()}


def create(data, memo):
    """Add the record `data` describes; return (its 8 digits, body, etag)."""
    digits = normalize_cep(data.get("cep"))
    fields, errors = clean_record(data, partial=False)
    if digits is None:
        errors["cep"] = "is required, written as NNNNNNNN or NNNNN-NNN"
    reject_if_invalid(errors, digits, fields.get("uf"))
    try:
        with writing():
            record = Cep.create(cep=digits, **fields)
    except IntegrityError:  # the CEP is the primary key: it was already taken, so the insert failed
        raise CepAlreadyExists(f"CEP {format_cep(digits)} already exists; use PUT or PATCH to change it.")
    memo.forget(digits)  # once committed (as after every write), so that the very next read sees it
    return (digits, *answer_for(record))


def answer(digits, memo):
    """The (body, etag) of a record, or CepNotFound; a memo hit costs no query and no encoding."""
    return memo.answer(digits, "cep", lambda: answer_for(get_record(digits)))


def replace(digits, data, memo):
    """Replace every field of a record (PUT); return its new (body, etag)."""
    fields, errors = clean_record(data, partial=False)
    check_body_cep(data, digits, errors)
    reject_if_invalid(errors, digits, fields.get("uf"))
    with writing():
        record = get_record(digits)
        save(record, fields)
    memo.forget(digits)
    return answer_for(record)


def update(digits, data, memo):
    """Change the fields `data` names (PATCH); return the record's new (body, etag)."""
    fields, errors = clean_record(data, partial=True)
    check_body_cep(data, digits, errors)
    with writing():
        record = get_record(digits)
        # The range check needs the final UF: the new one, or the one already stored.
        reject_if_invalid(errors, digits, fields.get("uf", record.uf))
        save(record, fields)
    memo.forget(digits)
    return answer_for(record)


def delete(digits, memo):
    """Delete a record."""
    with writing():
        deleted = Cep.delete().where(Cep.cep == digits).execute()  # one statement; no read first
    if not deleted:
        raise not_found(digits)
    memo.forget(digits)


def get_record(digits):
    """The record of a CEP, or CepNotFound."""
    record = Cep.get_or_none(Cep.cep == digits)
    if record is None:
        raise not_found(digits)
    return record


def not_found(digits):
    """The error for a CEP that has no record."""
    # fields.cep tells a client (the staff API) that the CEP is unknown, and not the route: a
    # wrong address such as /wrong-prefix/ceps/01001000 answers a 404 without fields.
    return CepNotFound(f"CEP {format_cep(digits)} is not in the database.", {"cep": "no such CEP"})


def save(record, fields):
    """Write the clean `fields` into `record` (inside the caller's transaction)."""
    for name, value in fields.items():
        setattr(record, name, value)
    record.save()


def check_body_cep(data, digits, errors):
    """In PUT and PATCH the body may repeat the CEP, but cannot change it."""
    if "cep" in data and normalize_cep(data["cep"]) != digits:
        errors["cep"] = f"cannot change; this record is {format_cep(digits)}"


def reject_if_invalid(errors, digits, uf):
    """Raise InvalidInput with every field at fault; the UF range is checked once the rest is valid."""
    check_uf_range(errors, digits, uf)
    if errors:
        raise InvalidInput("The record is not valid.", errors)
