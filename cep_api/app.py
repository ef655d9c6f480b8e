"""The CEP API over HTTP: the app factory, and one thin handler per route.

A handler reads the request, calls the function of ceps.py that does the work, and answers.
"""
import os
from pathlib import Path

from bottle import request, response

from . import ceps, cors, explorer, log_summary, request_log, viacep
from .answers import AnswerMemo, etag_for
from .auth import require_token_for_writes
from .migrations import migrate
from .jsonhttp import (ApiError, add_security_headers, answer_domain_errors, json_bytes, read_json_object,
                       MAX_FILTER_LENGTH, read_list_query, read_log_query, read_minutes, reject_undecodable_path,
                       render_error, send_json)
from .models import Cep, close_connection, data_version, init_db
from .validation import UF_RANGES, normalize_cep

REPO_ROOT = Path(__file__).resolve().parent.parent

# How long a client may keep an answer without asking again. A found record changes rarely
# and can be revalidated cheaply with its ETag (a "not found": see jsonhttp.ERROR_STATUS).
FOUND_CACHE_CONTROL = "public, max-age=3600"
# Lists change with any write: a client may keep one but must revalidate it (ETag) first.
LIST_CACHE_CONTROL = "no-cache"
VIACEP_CONTENT_TYPE = "application/json; charset=utf-8"  # ViaCEP names the charset; clients may expect it


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (README: Configuration)."""
    return {
        "cep_api.db_path": environ.get("CEP_API_DB", str(REPO_ROOT / "var" / "cep.sqlite3")),
        # When set (postgresql://user:password@host:5432/name), PostgreSQL instead of the file above.
        "cep_api.database_url": environ.get("CEP_API_DATABASE_URL", ""),
        "cep_api.host": environ.get("CEP_API_HOST", "127.0.0.1"),
        "cep_api.port": int(environ.get("CEP_API_PORT", "8001")),
        # Pages from these origins may read /logs (cors.py): by default the staff API's dashboard.
        "cep_api.cors_origins": tuple(environ.get(
            "CEP_API_CORS_ORIGINS", "http://127.0.0.1:8002,http://localhost:8002").split(",")),
        "cep_api.token": environ.get("CEP_API_TOKEN", ""),  # empty: writes are open (README: Security)
        "cep_api.allow_open": environ.get("CEP_API_ALLOW_OPEN", "") == "1",
        "cep_api.log": environ.get("CEP_API_LOG", "on").lower() != "off",  # the request log (request_log.py)
        "cep_api.log_retention_days": float(environ.get("CEP_API_LOG_RETENTION_DAYS", "7")),
        "cep_api.log_max_rows": int(environ.get("CEP_API_LOG_MAX_ROWS", "100000")),
    }


def create_app(config=None):
    """Build the Bottle app; `config` overrides the environment (tests pass a temp database)."""
    app = request_log.LoggedBottle()  # a Bottle app that logs each request it answers
    app.config.update({**config_from_env(), **(config or {})})
    init_db(app.config["cep_api.db_path"], app.config["cep_api.database_url"])
    migrate()  # today's tables, and what an older database lacks (migrations.py)
    # One memo per app, so two apps in one process (tests) never share answers.
    app.config["cep_api.answers"] = AnswerMemo(data_version)
    app.config["cep_api.request_log"] = request_log.start(app.config)  # app.close() stops it
    app.add_hook("before_request", reject_undecodable_path)
    app.add_hook("after_request", close_connection)
    app.add_hook("after_request", add_security_headers)
    app.add_hook("after_request", cors.allow_log_readers)
    # Bottle would answer errors with an HTML page; ours are JSON, whoever raised them.
    app.default_error_handler = render_error
    app.install(answer_domain_errors)
    app.install(require_token_for_writes)

    app.get("/health", callback=health)
    app.get("/openapi.json", callback=explorer.document)
    app.get("/docs", callback=explorer.page)
    # Swagger UI's own files: part of the page, not of the API, so not in the OpenAPI document.
    app.get("/docs/static/<name>", callback=explorer.static)
    app.get("/ceps", callback=list_ceps)
    app.post("/ceps", callback=create_cep)
    app.get("/ceps/<cep>", callback=get_cep)
    app.put("/ceps/<cep>", callback=replace_cep)
    app.patch("/ceps/<cep>", callback=update_cep)
    app.delete("/ceps/<cep>", callback=delete_cep)
    # ViaCEP's paths, with and without the final slash: its clients write both.
    app.get("/ws/<cep>/json/", callback=get_viacep)
    app.get("/ws/<cep>/json", callback=get_viacep)
    app.get("/ws/<uf>/<cidade>/<logradouro>/json/", callback=search_viacep)
    app.get("/ws/<uf>/<cidade>/<logradouro>/json", callback=search_viacep)
    app.get("/logs", callback=list_logs)
    app.get("/logs/summary", callback=summarize_logs)
    app.route("/logs", "OPTIONS", cors.preflight)
    app.route("/logs/summary", "OPTIONS", cors.preflight)
    return app


def health():
    """GET /health: the service answers, and so does its database."""
    Cep.select().limit(1).exists()  # proves the database answers
    return send_json({"status": "ok", "service": "cep_api"})


def list_ceps():
    """GET /ceps: one page of records, sorted by CEP, filtered by uf, localidade or q."""
    page, per_page, filters = read_list_query(ceps.LIST_FILTERS)
    body = json_bytes(ceps.find_page(page, per_page, filters))
    return answer_with_etag(body, etag_for(body), LIST_CACHE_CONTROL)


def create_cep():
    """POST /ceps: add a record; 201 with its address in Location."""
    digits, body, etag = ceps.create(read_json_object(), memo())
    # script_name is "/" when the service runs alone, "/cep/" when mounted under /cep.
    return send_record(body, etag, 201, {"Location": f"{request.script_name}ceps/{digits}"})


def get_cep(cep):
    """GET /ceps/<cep>: one record, or 304 when the client's ETag still matches."""
    body, etag = ceps.answer(path_cep(cep), memo())
    return answer_with_etag(body, etag, FOUND_CACHE_CONTROL)


def replace_cep(cep):
    """PUT /ceps/<cep>: replace the whole record."""
    body, etag = ceps.replace(path_cep(cep), read_json_object(), memo())
    return send_record(body, etag)


def update_cep(cep):
    """PATCH /ceps/<cep>: change only the fields sent."""
    body, etag = ceps.update(path_cep(cep), read_json_object(), memo())
    return send_record(body, etag)


def delete_cep(cep):
    """DELETE /ceps/<cep>: 204 and no body."""
    ceps.delete(path_cep(cep), memo())
    response.status = 204
    return b""


def get_viacep(cep):
    """GET /ws/<cep>/json/: the record as ViaCEP answers it; a CEP with no record is 200 {"erro": "true"}."""
    body, etag = viacep.answer(path_cep(cep), memo())
    # "Not found" may change with the next write: a client must revalidate it.
    cache_control = LIST_CACHE_CONTROL if (body, etag) == viacep.NOT_FOUND else FOUND_CACHE_CONTROL
    return answer_with_etag(body, etag, cache_control, VIACEP_CONTENT_TYPE)


def search_viacep(uf, cidade, logradouro):
    """GET /ws/<uf>/<cidade>/<logradouro>/json/: ViaCEP's address search, 50 records at most, by CEP."""
    body, etag = viacep.search(*search_terms(uf, cidade, logradouro))
    return answer_with_etag(body, etag, LIST_CACHE_CONTROL, VIACEP_CONTENT_TYPE)


def search_terms(uf, cidade, logradouro):
    """The UF, town and street of an address search, or 400 naming each one at fault."""
    errors = {}
    uf = uf.strip().upper()
    if uf not in UF_RANGES:
        errors["uf"] = "must be one of the 27 UFs"
    for name, text in (("cidade", cidade), ("logradouro", logradouro)):
        if len(text.strip()) < 3 or len(text) > MAX_FILTER_LENGTH:  # ViaCEP asks for 3 at least
            errors[name] = f"must have 3 to {MAX_FILTER_LENGTH} characters"
    if errors:
        raise ApiError(400, "Not an address search; write /ws/UF/town/street/json/.", errors)
    return uf, cidade, logradouro


def list_logs():
    """GET /logs: one page of the request log, newest first, filtered by route, method, status, time, ms."""
    page, per_page, filters = read_log_query()
    return send_json(request_log.find_page(page, per_page, filters))


def summarize_logs():
    """GET /logs/summary: per route and per minute figures of the last `minutes` minutes."""
    return send_json(log_summary.summarize(read_minutes()))


def memo():
    """This app's memo of answers (create_app keeps it in the app's config)."""
    return request.app.config["cep_api.answers"]


def path_cep(text):
    """The 8 digits of the CEP in the path, or 400: the path itself is malformed."""
    digits = normalize_cep(text)
    if digits is None:
        raise ApiError(400, f"'{text}' is not a CEP; write it as NNNNNNNN or NNNNN-NNN.")
    return digits


def send_record(body, etag, status=200, headers=None):
    """Answer a written record with the same bytes and ETag that a GET of it gives."""
    response.status = status
    response.content_type = "application/json"
    for name, value in (headers or {}).items():
        response.set_header(name, value)
    response.set_header("ETag", etag)
    return body


def answer_with_etag(body, etag, cache_control, content_type="application/json"):
    """Send `body`, or an empty 304 when the client already holds this ETag."""
    response.set_header("ETag", etag)
    response.set_header("Cache-Control", cache_control)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        response.status = 304
        return b""
    response.content_type = content_type
    return body


def etag_matches(if_none_match, etag):
    """True when If-None-Match names `etag` (weakly, as RFC 9110 says for GET) or is '*'."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
