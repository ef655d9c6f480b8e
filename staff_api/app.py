"""The staff API's routes: each parses the request, calls employees.py or cep_cache.py, answers."""
import os
from pathlib import Path

from bottle import Bottle, request, response

from chassis import auth, explorer, request_log, web
from chassis.log_summary import read_minutes
from chassis.migrations import open_and_migrate
from chassis.params import read_list_query
from chassis.serving import section, settings_from_env
from chassis.web import ApiError, read_json_object, send_json

from . import dashboard, employees
from .cep_cache import CepCache
from .cep_client import CepApiClient, CepServiceUnavailable
from .migrations import MIGRATIONS
from .models import Employee, LogMinute, RequestLog, TABLES, db
from .validation import cep_digits, clean_employee, format_cep

# What each error of employees.py and cep_cache.py answers: they raise them and know nothing of HTTP.
ERROR_STATUS = {employees.EmployeeNotFound: 404, employees.EmailTaken: 409, employees.CepUnknown: 422,
                CepServiceUnavailable: 503}
CACHE_HEADER = "X-Cep-Cache"  # how the CEP cache answered: hit, miss, revalidated or stale


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (docs/configuration.md)."""
    return {**settings_from_env("staff_api", 8002, environ),
            "staff_api.cep_api_url": environ.get("CEP_API_URL", "http://127.0.0.1:8001"),
            # The CEP API's token, when it has one: the dashboard's charts of its log come through here.
            "staff_api.cep_api_token": environ.get("CEP_API_TOKEN", ""),
            "staff_api.cep_timeout": float(environ.get("STAFF_CEP_TIMEOUT", "2.0")),
            "staff_api.cep_cache_ttl": float(environ.get("STAFF_CEP_CACHE_TTL", "86400")),
            "staff_api.cep_negative_ttl": float(environ.get("STAFF_CEP_NEGATIVE_TTL", "300"))}


def create_app(config=None, cep_session=None):
    """Build the app from the environment and `config`; deploy/pythonanywhere passes a `cep_session`."""
    app = Bottle()
    app.config.update({**config_from_env(), **(config or {})})
    settings = section(app.config, "staff_api")
    open_and_migrate(db, settings, MIGRATIONS, TABLES)  # today's tables, and what an older database lacks
    app.add_hook("after_request", db.close_connection)
    # Employee data is personal: no cache, the browser's or a proxy's, may keep a copy.
    web.install(app, settings, ERROR_STATUS, error_headers, {"Cache-Control": "no-store"})
    auth.install(app, settings["token"], "staff_api", open_paths=("/",), open_prefixes=("/static/",))
    request_log.install(app, (RequestLog, LogMinute), settings, CACHE_HEADER)
    explorer.install(app, Path(__file__).parent / "openapi.json")
    client = CepApiClient(settings["cep_api_url"], settings["cep_timeout"], settings["cep_api_token"], cep_session)
    app.install(CepCache(client, settings["cep_cache_ttl"], settings["cep_negative_ttl"]))  # app.close() stops it
    app.get("/", callback=dashboard.page)
    app.get("/static/<name>", callback=dashboard.static)  # the dashboard's own files, like /docs/static
    app.get("/health", callback=health)
    app.get("/employees", callback=list_employees)
    app.post("/employees", callback=create_employee)
    app.get("/employees/<employee_id>", callback=get_employee)
    app.route("/employees/<employee_id>", ["PUT", "PATCH"], callback=change_employee)
    app.delete("/employees/<employee_id>", callback=delete_employee)
    app.get("/addresses/<cep>", callback=get_address)
    app.get("/cep-cache", callback=list_cache)
    app.delete(["/cep-cache", "/cep-cache/<cep>"], callback=evict)
    app.get("/cep-api/logs/summary", callback=summarize_cep_logs)
    return app


def cep_cache():
    """The CEP cache of the app answering this request (create_app made it)."""
    return request.app.config["staff_api.cep_cache"]  # CepCache.setup() put it there


def health():
    """Say the service works, and whether the CEP API answers."""
    Employee.select().limit(1).exists()  # proves the database answers
    up = cep_cache().client.is_up()
    return send_json({"status": "ok", "service": "staff_api", "cep_api": "up" if up else "down"})


def list_employees():
    """A page of employees, sorted by id unless `sort` names another field (-name: descending); filters `uf` and `q`."""
    sorts = [sign + name for name in employees.SORT_KEYS for sign in ("", "-")]
    page, per_page, filters = read_list_query(("uf", "q", "sort"), {"sort": sorts})
    sort = filters.pop("sort", "id")
    return send_json(employees.find_page(page, per_page, filters, sort))


def create_employee():
    """Create an employee; the address comes from the CEP API, through the cache."""
    fields = valid_employee(read_json_object(), partial=False)
    employee, outcome = employees.create(fields, cep_cache())
    # script_name is "/" when the service runs alone, "/staff/" when mounted under /staff.
    location = f"{request.script_name}employees/{employee.id}"
    return send_json(employee.to_dict(), 201, {CACHE_HEADER: outcome, "Location": location})


def get_employee(employee_id):
    """One employee."""
    return send_json(employees.find(employee_id).to_dict())


def change_employee(employee_id):
    """Change an employee: PUT replaces every field (those not sent become empty), PATCH some."""
    fields = valid_employee(read_json_object(), partial=request.method == "PATCH")
    employee, outcome = employees.change(employee_id, fields, cep_cache())
    return send_json(employee.to_dict(), headers={CACHE_HEADER: outcome} if outcome else None)


def delete_employee(employee_id):
    """Delete an employee."""
    employees.delete(employee_id)
    response.status = 204
    return b""


def get_address(cep):
    """The CEP API's record for a CEP, through the cache (what a form uses to fill in an address)."""
    digits = path_cep(cep)
    record, outcome = cep_cache().lookup(digits)
    if record is None:
        raise ApiError(404, f"CEP {format_cep(digits)} does not exist.", **{CACHE_HEADER: outcome})
    return send_json(record, headers={CACHE_HEADER: outcome})


def list_cache():
    """A page of the cache's entries, with its hit and miss totals."""
    page, per_page, _ = read_list_query(())
    return send_json(cep_cache().page(page, per_page))


def evict(cep=None):
    """Forget one CEP's entry, or every entry when no CEP is given."""
    cep_cache().evict(path_cep(cep) if cep else None)
    response.status = 204
    return b""


def summarize_cep_logs():
    """GET /cep-api/logs/summary: the CEP API's, read here, so that no browser holds the CEP API's token."""
    return send_json(cep_cache().client.log_summary(read_minutes()))


def error_headers(error):
    """Headers for the answer to a use case's error: how the cache resolved the CEP, if it did."""
    outcome = getattr(error, "cache_outcome", None)
    return {CACHE_HEADER: outcome} if outcome else {}


def valid_employee(data, partial):
    """The cleaned fields of an employee body, or 422 with every field at fault."""
    fields, errors = clean_employee(data, partial)
    if errors:
        raise ApiError(422, "The employee is not valid.", errors)
    return fields


def path_cep(text):
    """The 8 digits of the CEP in the path, or 400: the path itself is malformed."""
    digits = cep_digits(text)
    if digits is None:
        raise ApiError(400, f"'{text}' is not a CEP; write it as NNNNNNNN or NNNNN-NNN.")
    return digits
