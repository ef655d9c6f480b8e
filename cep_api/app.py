"""The CEP API over HTTP: the app factory, and one thin handler per route, which reads the request, calls
ceps.py (or viacep.py) to do the work, and answers. What every service needs is the chassis's."""
import os
import re
from pathlib import Path

from bottle import Bottle, request, response

from chassis import auth, cors, explorer, request_log, web
from chassis.migrations import open_and_migrate
from chassis.serving import section, settings_from_env
from chassis.text import NOT_STORABLE, search_key
from chassis.params import MAX_FILTER_LENGTH, read_list_query
from chassis.web import ApiError, answer_with_etag, json_bytes, read_json_object

from . import ceps, viacep
from .memo import Memo
from .migrations import MIGRATIONS
from .models import Cep, LogMinute, RequestLog, TABLES, create_search_index, data_version, db
from .validation import UF_RANGES, normalize_cep

# How long a client may keep an answer without asking again. A found record changes rarely
# and can be revalidated cheaply with its ETag (a "not found": see error_headers).
FOUND_CACHE_CONTROL = "public, max-age=3600"
# Lists change with any write: a client may keep one but must revalidate it (ETag) first.
LIST_CACHE_CONTROL = "no-cache"
# ViaCEP names the charset; clients may expect it.
VIACEP_TYPES = {"json": "application/json; charset=utf-8", "xml": "application/xml; charset=utf-8",
                "jsonp": "application/javascript; charset=utf-8"}
CALLBACK = re.compile(r"[A-Za-z0-9_$.]{1,64}")  # a JSONP callback: a name, never a piece of script
# What each error of ceps.py answers: the use cases raise them and know nothing of HTTP.
ERROR_STATUS = {ceps.InvalidInput: 422, ceps.CepNotFound: 404, ceps.CepAlreadyExists: 409}


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (docs/configuration.md)."""
    return settings_from_env("cep_api", 8001, environ)


def create_app(config=None):
    """Build the Bottle app; `config` overrides the environment (tests pass a temp database)."""
    app = Bottle()
    app.config.update({**config_from_env(), **(config or {})})
    settings = section(app.config, "cep_api")
    open_and_migrate(db, settings, MIGRATIONS, TABLES, create_search_index)  # today's tables, from any older ones
    app.add_hook("after_request", db.close_connection)
    web.install(app, settings, ERROR_STATUS, error_headers)
    auth.install(app, settings["token"], "cep_api", open_reads=True)  # CEPs are public data
    request_log.install(app, (RequestLog, LogMinute), settings)
    explorer.install(app, Path(__file__).parent / "openapi.json")
    app.config["cep_api.memo"] = Memo(data_version)  # one per app: two apps in one process never share answers
    app.get("/health", callback=health)
    app.get("/ceps", callback=list_ceps)
    app.post("/ceps", callback=create_cep)
    app.get("/ceps/<cep>", callback=get_cep)
    app.put("/ceps/<cep>", callback=replace_cep)
    app.patch("/ceps/<cep>", callback=update_cep)
    app.delete("/ceps/<cep>", callback=delete_cep)
    # ViaCEP's paths, with and without the final slash: its clients write both.
    app.get(["/ws/<cep>/json/", "/ws/<cep>/json"], callback=get_viacep)
    app.get(["/ws/<cep>/xml/", "/ws/<cep>/xml"], callback=get_viacep_xml)
    app.get(["/ws/<uf>/<cidade>/<logradouro>/json/", "/ws/<uf>/<cidade>/<logradouro>/json"], callback=search_viacep)
    cors.install(app, ("/ceps", "/ws/"))  # any web page may read CEPs, as ViaCEP allows: not write them
    return app


def health():
    """GET /health: the service answers, and so does its database."""
    Cep.select().limit(1).exists()  # proves the database answers
    return web.send_json({"status": "ok", "service": "cep_api"})


def list_ceps():
    """GET /ceps: one page of records, sorted by CEP, filtered by uf, localidade or q."""
    page, per_page, filters = read_list_query(ceps.LIST_FILTERS)
    body = json_bytes(ceps.find_page(page, per_page, filters))
    return answer_with_etag(body, web.etag_for(body), LIST_CACHE_CONTROL)


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


def get_viacep(cep, shape="json"):
    """GET /ws/<cep>/json/: the record as ViaCEP answers it; a CEP with no record is 200 {"erro": true}."""
    body, etag = viacep.answer(path_cep(cep), memo(), shape)
    # "Not found" may change with the next write: a client must revalidate it.
    cache_control = LIST_CACHE_CONTROL if (body, etag) == viacep.NOT_FOUND[shape] else FOUND_CACHE_CONTROL
    return send_viacep(body, etag, cache_control, shape)


def get_viacep_xml(cep):
    """GET /ws/<cep>/xml/: the record in ViaCEP's XML; a CEP with no record is <xmlcep><erro>true</erro></xmlcep>."""
    return get_viacep(cep, "xml")


def search_viacep(uf, cidade, logradouro):
    """GET /ws/<uf>/<cidade>/<logradouro>/json/: ViaCEP's address search, 50 records at most, by CEP."""
    body, etag = viacep.search(*search_terms(uf, cidade, logradouro))
    return send_viacep(body, etag, LIST_CACHE_CONTROL)


def send_viacep(body, etag, cache_control, shape="json"):
    """A ViaCEP answer; with ?callback=name, JSONP: the JSON as a script calling name(...), as ViaCEP allows."""
    callback = request.query.getunicode("callback")
    if callback is not None and shape == "json":
        if not CALLBACK.fullmatch(callback):
            raise ApiError(400, "The callback is not a JavaScript name.",
                           {"callback": "must be 1 to 64 letters, digits, _, $ or ."})
        body, shape = f"{callback}(".encode() + body + b");", "jsonp"
        etag = web.etag_for(body)
    return answer_with_etag(body, etag, cache_control, VIACEP_TYPES[shape])


def search_terms(uf, cidade, logradouro):
    """The UF, town and street of an address search, or 400 naming each one at fault."""
    errors = {}
    uf = uf.strip().upper()
    if uf not in UF_RANGES:
        errors["uf"] = "must be one of the 27 UFs"
    for name, text in (("cidade", cidade), ("logradouro", logradouro)):
        # ViaCEP asks for 3 characters at least: counted as compared, so "%CC%81" x 3 (accents alone) is none.
        if len(search_key(text)) < 3 or len(text) > MAX_FILTER_LENGTH:
            errors[name] = f"must have 3 to {MAX_FILTER_LENGTH} characters"
        elif NOT_STORABLE.search(text.strip()):  # no record holds one, and PostgreSQL refuses them outright
            errors[name] = "must be plain text (no control character)"
    if errors:
        raise ApiError(400, "Not an address search; write /ws/UF/town/street/json/.", errors)
    return uf, cidade, logradouro


def error_headers(error):
    """Headers for the answer to a use case's error: a 404 may be kept for a minute only."""
    # A CEP missing now may be added any minute.
    return {"Cache-Control": "public, max-age=60"} if isinstance(error, ceps.CepNotFound) else {}


def memo():
    """This app's memo of answers (create_app keeps it in the app's config)."""
    return request.app.config["cep_api.memo"]


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
    for name, value in {**(headers or {}), "ETag": etag}.items():
        response.set_header(name, value)
    return body
