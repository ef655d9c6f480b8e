"""The CEP API: routes over the CEP table, built by an app factory."""
import os
from pathlib import Path

from bottle import Bottle, request, response
from peewee import IntegrityError

from . import explorer
from .answers import AnswerMemo, etag_for
from .jsonhttp import ApiError, json_bytes, read_json_object, read_list_query, render_error, send_json
from .models import Cep, db, init_db
from .openapi import OPENAPI
from .validation import UF_RANGES, check_uf_range, clean_record, format_cep, normalize_cep

REPO_ROOT = Path(__file__).resolve().parent.parent

# How long a client may keep an answer without asking again. A found record changes rarely
# and can be revalidated cheaply with its ETag; a "not found" may be created any minute.
FOUND_CACHE_CONTROL = "public, max-age=3600"
NOT_FOUND_CACHE_CONTROL = "public, max-age=60"
# Lists change with any write: a client may keep one but must revalidate it (ETag) first.
LIST_CACHE_CONTROL = "no-cache"


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (README: Configuration)."""
    return {
        "cep_api.db_path": environ.get("CEP_API_DB", str(REPO_ROOT / "var" / "cep.sqlite3")),
        "cep_api.host": environ.get("CEP_API_HOST", "127.0.0.1"),
        "cep_api.port": int(environ.get("CEP_API_PORT", "8001")),
    }


def create_app(config=None):
    """Build the Bottle app; `config` overrides the environment (tests pass a temp database)."""
    settings = {**config_from_env(), **(config or {})}
    app = Bottle()
    app.config.update(settings)
    init_db(settings["cep_api.db_path"])
    answers = AnswerMemo()
    # Bottle would answer errors with an HTML page; ours are JSON, whoever raised them.
    app.default_error_handler = render_error

    @app.hook("before_request")
    def take_connection():
        db.connect(reuse_if_open=True)

    @app.hook("after_request")
    def give_connection_back():
        # With the pool, close() returns the connection to it instead of closing the file.
        if not db.is_closed():
            db.close()

    @app.get("/health")
    def health():
        Cep.select().limit(1).exists()  # proves the database answers
        return send_json({"status": "ok", "service": "cep_api"})

    @app.get("/openapi.json")
    def openapi_document():
        return send_json(OPENAPI)

    @app.get("/docs")
    def docs_page():
        return explorer.page("CEP API")

    # Swagger UI's own files: part of the page, not of the API, so not in the OpenAPI document.
    @app.get("/docs/static/<name>")
    def docs_file(name):
        return explorer.static(name)

    @app.get("/ceps")
    def list_ceps():
        page, per_page, filters = read_list_query(("uf", "localidade", "q"))
        query = Cep.select().order_by(Cep.cep)
        if "uf" in filters:
            uf = filters["uf"].upper()
            if uf not in UF_RANGES:
                raise ApiError(422, "Some query parameters are invalid.", {"uf": "must be one of the 27 UFs"})
            query = query.where(Cep.uf == uf)
        if "localidade" in filters:
            query = query.where(Cep.localidade == filters["localidade"])
        if "q" in filters:
            query = query.where(Cep.logradouro.contains(filters["q"]) | Cep.bairro.contains(filters["q"]))
        body = json_bytes({
            "items": [record.to_dict() for record in query.paginate(page, per_page)],
            "page": page,
            "per_page": per_page,
            "total": query.count(),
        })
        return answer_with_etag(body, etag_for(body), LIST_CACHE_CONTROL)

    @app.post("/ceps")
    def create_cep():
        data = read_json_object()
        digits = normalize_cep(data.get("cep"))
        fields, errors = clean_record(data, partial=False)
        if digits is None:
            errors["cep"] = "is required, written as NNNNNNNN or NNNNN-NNN"
        reject_if_invalid(errors, digits, fields.get("uf"))
        try:
            with db.atomic("IMMEDIATE"):
                record = Cep.create(cep=digits, **fields)
        except IntegrityError:
            raise ApiError(409, f"CEP {format_cep(digits)} already exists; use PUT or PATCH to change it.")
        answers.forget(digits)
        # script_name is "/" when the service runs alone, "/cep/" when mounted under /cep.
        return send_record(record, 201, {"Location": f"{request.script_name}ceps/{digits}"})

    @app.get("/ceps/<cep>")
    def get_cep(cep):
        digits = path_cep(cep)
        answer = answers.get(digits)
        if answer is None:
            writes_seen = answers.writes_so_far()
            record = Cep.get_or_none(Cep.cep == digits)
            if record is None:
                raise not_found(digits)
            body = json_bytes(record.to_dict())
            answer = (body, etag_for(body))
            answers.remember(digits, answer, writes_seen)
        body, etag = answer
        return answer_with_etag(body, etag, FOUND_CACHE_CONTROL)

    @app.put("/ceps/<cep>")
    def replace_cep(cep):
        digits = path_cep(cep)
        data = read_json_object()
        fields, errors = clean_record(data, partial=False)
        check_body_cep(data, digits, errors)
        reject_if_invalid(errors, digits, fields.get("uf"))
        with db.atomic("IMMEDIATE"):
            record = Cep.get_or_none(Cep.cep == digits)
            if record is None:
                raise not_found(digits)
            for name, value in fields.items():
                setattr(record, name, value)
            record.save()
        answers.forget(digits)
        return send_record(record)

    @app.patch("/ceps/<cep>")
    def update_cep(cep):
        digits = path_cep(cep)
        data = read_json_object()
        fields, errors = clean_record(data, partial=True)
        check_body_cep(data, digits, errors)
        with db.atomic("IMMEDIATE"):
            record = Cep.get_or_none(Cep.cep == digits)
            if record is None:
                raise not_found(digits)
            # The range check needs the final UF: the new one, or the one already stored.
            reject_if_invalid(errors, digits, fields.get("uf", record.uf))
            for name, value in fields.items():
                setattr(record, name, value)
            record.save()
        answers.forget(digits)
        return send_record(record)

    @app.delete("/ceps/<cep>")
    def delete_cep(cep):
        digits = path_cep(cep)
        with db.atomic("IMMEDIATE"):
            deleted = Cep.delete().where(Cep.cep == digits).execute()
        if not deleted:
            raise not_found(digits)
        answers.forget(digits)
        response.status = 204
        return b""

    return app


def path_cep(text):
    """The 8 digits of the CEP in the path, or 400: the path itself is malformed."""
    digits = normalize_cep(text)
    if digits is None:
        raise ApiError(400, f"'{text}' is not a CEP; write it as NNNNNNNN or NNNNN-NNN.")
    return digits


def check_body_cep(data, digits, errors):
    """In PUT and PATCH the body may repeat the CEP, but cannot change it."""
    if "cep" in data and normalize_cep(data["cep"]) != digits:
        errors["cep"] = f"cannot change; this record is {format_cep(digits)}"


def reject_if_invalid(errors, digits, uf):
    """Answer 422 with every field at fault; the UF range is checked once the rest is valid."""
    check_uf_range(errors, digits, uf)
    if errors:
        raise ApiError(422, "The record is not valid.", errors)


def not_found(digits):
    """The 404 for an unknown CEP, with a short Cache-Control: it may be created soon."""
    return ApiError(404, f"CEP {format_cep(digits)} is not in the database.",
                    **{"Cache-Control": NOT_FOUND_CACHE_CONTROL})


def send_record(record, status=200, headers=None):
    """Answer a record with the same bytes and ETag that a GET of it would give."""
    body = send_json(record.to_dict(), status, headers)
    response.set_header("ETag", etag_for(body))
    return body


def answer_with_etag(body, etag, cache_control):
    """Send `body`, or an empty 304 when the client already holds this ETag."""
    response.set_header("ETag", etag)
    response.set_header("Cache-Control", cache_control)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        response.status = 304
        return b""
    response.content_type = "application/json"
    return body


def etag_matches(if_none_match, etag):
    """True when If-None-Match names `etag` (weakly, as RFC 9110 says for GET) or is '*'."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
