"""The staff API's routes: each parses the request, calls employees.py or cep_cache.py, answers."""
import os
from pathlib import Path

from bottle import request, response

from . import dashboard, employees, explorer, log_summary, request_log
from .auth import require_token
from .cep_cache import CepCache
from .cep_client import CepApiClient
from .jsonhttp import (ApiError, add_security_headers, answer_domain_errors, read_json_object, read_list_query,
                       read_log_query, read_minutes, reject_undecodable_path, render_error, send_json)
from .migrations import migrate
from .models import Employee, close_connection, init_db
from .validation import clean_employee, format_cep, normalize_cep

REPO_ROOT = Path(__file__).resolve().parent.parent


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (README: Configuration)."""
    return {
        "staff_api.db_path": environ.get("STAFF_API_DB", str(REPO_ROOT / "var" / "staff.sqlite3")),
        # When set (postgresql://user:password@host:5432/name), PostgreSQL instead of the file above.
        "staff_api.database_url": environ.get("STAFF_API_DATABASE_URL", ""),
        "staff_api.host": environ.get("STAFF_API_HOST", "127.0.0.1"),
        "staff_api.port": int(environ.get("STAFF_API_PORT", "8002")),
        "staff_api.cep_api_url": environ.get("CEP_API_URL", "http://127.0.0.1:8001"),
        # Where the dashboard, in a browser, reads the CEP API's log summary; empty: CEP_API_URL +
        # /logs/summary. Set it when that is a name only the staff API resolves (compose's cep_api).
        "staff_api.cep_api_logs_url": environ.get("STAFF_CEP_LOGS_URL", ""),
        "staff_api.cep_timeout": float(environ.get("STAFF_CEP_TIMEOUT", "2.0")),
        "staff_api.cep_cache_ttl": float(environ.get("STAFF_CEP_CACHE_TTL", "86400")),
        "staff_api.cep_negative_ttl": float(environ.get("STAFF_CEP_NEGATIVE_TTL", "300")),
        "staff_api.token": environ.get("STAFF_API_TOKEN", ""),  # empty: all open (README: Security)
        "staff_api.allow_open": environ.get("STAFF_API_ALLOW_OPEN", "") == "1",
        "staff_api.log": environ.get("STAFF_API_LOG", "on").lower() != "off",  # the request log (request_log.py)
        "staff_api.log_retention_days": float(environ.get("STAFF_API_LOG_RETENTION_DAYS", "7")),
        "staff_api.log_max_rows": int(environ.get("STAFF_API_LOG_MAX_ROWS", "100000")),
    }


def create_app(config=None, cep_session=None):
    """Build the app from the environment and `config`; deploy/pythonanywhere passes a `cep_session`."""
    app = request_log.LoggedBottle()  # a Bottle app that logs each request it answers
    settings = app.config
    settings.update({**config_from_env(), **(config or {})})
    init_db(settings["staff_api.db_path"], settings["staff_api.database_url"])
    migrate()  # today's tables, and what an older database lacks (migrations.py)
    client = CepApiClient(settings["staff_api.cep_api_url"], settings["staff_api.cep_timeout"], cep_session)
    settings["staff_api.cep_cache"] = CepCache(client, settings["staff_api.cep_cache_ttl"],
                                               settings["staff_api.cep_negative_ttl"])
    settings["staff_api.request_log"] = request_log.start(settings)  # app.close() stops it
    app.add_hook("before_request", reject_undecodable_path)
    app.add_hook("after_request", close_connection)
    app.add_hook("after_request", add_security_headers)
    app.install(answer_domain_errors)
    app.install(require_token)
    app.default_error_handler = render_error  # JSON errors, never Bottle's HTML page
    app.get("/", callback=dashboard.page)
    app.get("/static/<name>", callback=dashboard.static)  # the dashboard's own files, like /docs/static
    app.get("/health", callback=health)
    app.get("/openapi.json", callback=explorer.document)
    app.get("/docs", callback=explorer.page)
    # Swagger UI's own files: part of the page, not of the API, so not in the OpenAPI document.
    app.get("/docs/static/<name>", callback=explorer.static)
    app.get("/employees", callback=list_employees)
    app.post("/employees", callback=create_employee)
    app.get("/employees/<employee_id>", callback=get_employee)
    app.put("/employees/<employee_id>", callback=change_employee)
    app.patch("/employees/<employee_id>", callback=change_employee)
    app.delete("/employees/<employee_id>", callback=delete_employee)
    app.get("/addresses/<cep>", callback=get_address)
    app.get("/cep-cache", callback=list_cache)
    app.delete("/cep-cache", callback=evict)
    app.delete("/cep-cache/<cep>", callback=evict)
    app.get("/logs", callback=list_logs)
    app.get("/logs/summary", callback=summarize_logs)
    return app


def cep_cache():
    """The CEP cache of the app answering this request (create_app made it)."""
    return request.app.config["staff_api.cep_cache"]


def health():
    """Say the service works, and whether the CEP API answers."""
    Employee.select().limit(1).exists()  # proves the database answers
    up = cep_cache().client.is_up()
    return send_json({"status": "ok", "service": "staff_api", "cep_api": "up" if up else "down"})


def list_employees():
    """A page of employees, sorted by id; filters `uf` and `q`."""
    page, per_page, filters = read_list_query(("uf", "q"))
    return send_json(employees.find_page(page, per_page, filters))


def create_employee():
    """Create an employee; the address comes from the CEP API, through the cache."""
    fields = valid_employee(read_json_object(), partial=False)
    employee, outcome = employees.create(fields, cep_cache())
    # script_name is "/" when the service runs alone, "/staff/" when mounted under /staff.
    location = f"{request.script_name}employees/{employee.id}"
    return send_json(employee.to_dict(), 201, {"X-Cep-Cache": outcome, "Location": location})


def get_employee(employee_id):
    """One employee."""
    return send_json(employees.find(employee_id).to_dict())


def change_employee(employee_id):
    """Change an employee: PUT replaces every field (those not sent become empty), PATCH some."""
    fields = valid_employee(read_json_object(), partial=request.method == "PATCH")
    employee, outcome = employees.change(employee_id, fields, cep_cache())
    return send_json(employee.to_dict(), headers={"X-Cep-Cache": outcome} if outcome else None)


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
        raise ApiError(404, f"CEP {format_cep(digits)} does not exist.", **{"X-Cep-Cache": outcome})
    return send_json(record, headers={"X-Cep-Cache": outcome})


def list_cache():
    """A page of the cache's entries, with its hit and miss totals."""
    page, per_page, _ = read_list_query(())
    return send_json(cep_cache().page(page, per_page))


def evict(cep=None):
    """Forget one CEP's entry, or every entry when no CEP is given."""
    cep_cache().evict(path_cep(cep) if cep else None)
    response.status = 204
    return b""


def list_logs():
    """A page of the request log, newest first, filtered by route, method, status, time, ms."""
    page, per_page, filters = read_log_query()
    return send_json(request_log.find_page(page, per_page, filters))


def summarize_logs():
    """Per route and per minute figures of the request log's last `minutes` minutes, cache and CEP API wait."""
    return send_json(log_summary.summarize(read_minutes()))


def valid_employee(data, partial):
    """The cleaned fields of an employee body, or 422 with every field at fault."""
    fields, errors = clean_employee(data, partial)
    if errors:
        raise ApiError(422, "The employee is not valid.", errors)
    return fields


def path_cep(text):
    """The 8 digits of the CEP in the path, or 400: the path itself is malformed."""
    digits = normalize_cep(text)
    if digits is None:
        raise ApiError(400, f"'{text}' is not a CEP; write it as NNNNNNNN or NNNNN-NNN.")
    return digits
