"""The staff API: employees whose addresses come from the CEP API, built by an app factory."""
import os
from pathlib import Path

from bottle import Bottle, request, response
from peewee import IntegrityError

from . import explorer
from .cep_client import CepClient, CepServiceUnavailable
from .jsonhttp import ApiError, read_json_object, read_list_query, render_error, send_json
from .models import CepCacheEntry, Employee, db, init_db, utc_now
from .openapi import OPENAPI
from .validation import clean_employee, format_cep, normalize_cep

REPO_ROOT = Path(__file__).resolve().parent.parent
LARGEST_ID = 2**63 - 1  # SQLite's largest integer: a bigger id cannot exist


def config_from_env(environ=os.environ):
    """The settings of the service, read from environment variables (README: Configuration)."""
    return {
        "staff_api.db_path": environ.get("STAFF_API_DB", str(REPO_ROOT / "var" / "staff.sqlite3")),
        "staff_api.host": environ.get("STAFF_API_HOST", "127.0.0.1"),
        "staff_api.port": int(environ.get("STAFF_API_PORT", "8002")),
        "staff_api.cep_api_url": environ.get("CEP_API_URL", "http://127.0.0.1:8001"),
        "staff_api.cep_timeout": float(environ.get("STAFF_CEP_TIMEOUT", "2.0")),
        "staff_api.cep_cache_ttl": float(environ.get("STAFF_CEP_CACHE_TTL", "86400")),
        "staff_api.cep_negative_ttl": float(environ.get("STAFF_CEP_NEGATIVE_TTL", "300")),
    }


def create_app(config=None, cep_session=None):
    """Build the Bottle app; `config` overrides the environment (tests pass a temp database).

    `cep_session` is the requests.Session used to reach the CEP API; a deployment that runs
    both services in one process (see deploy/pythonanywhere) passes one that calls it in-process.
    """
    settings = {**config_from_env(), **(config or {})}
    app = Bottle()
    app.config.update(settings)
    init_db(settings["staff_api.db_path"])
    ceps = CepClient(
        settings["staff_api.cep_api_url"],
        timeout=settings["staff_api.cep_timeout"],
        ttl=settings["staff_api.cep_cache_ttl"],
        negative_ttl=settings["staff_api.cep_negative_ttl"],
        session=cep_session,
    )
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

    def resolve_address(cep, not_found_status, headers):
        """The CEP API's record for `cep`, through the cache; adds X-Cep-Cache to `headers`."""
        try:
            resolution = ceps.resolve(cep)
        except CepServiceUnavailable as error:
            raise ApiError(503, f"{error} and CEP {format_cep(cep)} is not cached; "
                                "nothing was saved, try again later.")
        headers["X-Cep-Cache"] = resolution.cache
        if resolution.record is None:
            message = f"CEP {format_cep(cep)} does not exist."
            fields = {"cep": "no such CEP"} if not_found_status == 422 else None
            raise ApiError(not_found_status, message, fields, **headers)
        return resolution.record

    @app.get("/health")
    def health():
        Employee.select().limit(1).exists()  # proves the database answers
        return send_json({"status": "ok", "service": "staff_api",
                          "cep_api": "up" if ceps.api_is_up() else "down"})

    @app.get("/openapi.json")
    def openapi_document():
        return send_json(OPENAPI)

    @app.get("/docs")
    def docs_page():
        return explorer.page("Staff API")

    # Swagger UI's own files: part of the page, not of the API, so not in the OpenAPI document.
    @app.get("/docs/static/<name>")
    def docs_file(name):
        return explorer.static(name)

    @app.get("/employees")
    def list_employees():
        page, per_page, filters = read_list_query(("uf", "q"))
        query = Employee.select().order_by(Employee.id)
        if "uf" in filters:
            query = query.where(Employee.uf == filters["uf"].upper())
        if "q" in filters:
            query = query.where(Employee.name.contains(filters["q"]) | Employee.email.contains(filters["q"]))
        return send_json({
            "items": [employee.to_dict() for employee in query.paginate(page, per_page)],
            "page": page,
            "per_page": per_page,
            "total": query.count(),
        })

    @app.post("/employees")
    def create_employee():
        fields = valid_employee(read_json_object(), partial=False)
        headers = {}
        record = resolve_address(fields["cep"], 422, headers)
        now = utc_now()
        try:
            with db.atomic("IMMEDIATE"):
                employee = Employee.create(**fields, **address_columns(record), email_key=fields["email"].casefold(),
                                           created_at=now, updated_at=now)
        except IntegrityError:
            raise email_taken(fields["email"], headers)
        # script_name is "/" when the service runs alone, "/staff/" when mounted under /staff.
        headers["Location"] = f"{request.script_name}employees/{employee.id}"
        return send_json(employee.to_dict(), 201, headers)

    @app.get("/employees/<employee_id>")
    def get_employee(employee_id):
        return send_json(find_employee(employee_id).to_dict())

    @app.put("/employees/<employee_id>")
    def replace_employee(employee_id):
        return change_employee(employee_id, partial=False)

    @app.patch("/employees/<employee_id>")
    def update_employee(employee_id):
        return change_employee(employee_id, partial=True)

    def change_employee(employee_id, partial):
        """PUT and PATCH: the address is looked up again only when the CEP changes."""
        fields = valid_employee(read_json_object(), partial)
        employee = find_employee(employee_id)
        headers = {}
        if "cep" in fields and fields["cep"] != employee.cep:
            fields.update(address_columns(resolve_address(fields["cep"], 422, headers)))
        if "email" in fields:
            fields["email_key"] = fields["email"].casefold()
        fields["updated_at"] = utc_now()
        try:
            with db.atomic("IMMEDIATE"):
                changed = Employee.update(**fields).where(Employee.id == employee.id).execute()
        except IntegrityError:
            raise email_taken(fields["email"], headers)
        if not changed:  # deleted by another request while we were looking up the CEP
            raise ApiError(404, f"There is no employee {employee.id}.")
        return send_json(find_employee(employee_id).to_dict(), headers=headers)

    @app.delete("/employees/<employee_id>")
    def delete_employee(employee_id):
        employee = find_employee(employee_id)
        with db.atomic("IMMEDIATE"):
            Employee.delete().where(Employee.id == employee.id).execute()
        response.status = 204
        return b""

    @app.get("/addresses/<cep>")
    def get_address(cep):
        headers = {}
        record = resolve_address(path_cep(cep), 404, headers)
        return send_json(record, headers=headers)

    @app.get("/cep-cache")
    def list_cache():
        page, per_page, _ = read_list_query(())
        ceps.write_hits()  # so that each entry's `hits` includes the last second's
        query = CepCacheEntry.select().order_by(CepCacheEntry.cep)
        return send_json({
            "items": [entry.to_dict() for entry in query.paginate(page, per_page)],
            "page": page,
            "per_page": per_page,
            "total": query.count(),
            "hits": ceps.hits,
            "misses": ceps.misses,
        })

    @app.delete("/cep-cache")
    def clear_cache():
        ceps.evict()
        response.status = 204
        return b""

    @app.delete("/cep-cache/<cep>")
    def evict_cep(cep):
        ceps.evict(path_cep(cep))
        response.status = 204
        return b""

    return app


def valid_employee(data, partial):
    """The cleaned fields of an employee body, or 422 with every field at fault."""
    fields, errors = clean_employee(data, partial)
    if errors:
        raise ApiError(422, "The employee is not valid.", errors)
    return fields


def find_employee(employee_id):
    """The employee with this id, or 404 (also for ids that are not positive integers)."""
    if employee_id.isascii() and employee_id.isdigit() and 0 < int(employee_id) <= LARGEST_ID:
        employee = Employee.get_or_none(Employee.id == int(employee_id))
        if employee is not None:
            return employee
    raise ApiError(404, f"There is no employee {employee_id}.")


def address_columns(record):
    """The address fields an employee copies from a CEP record."""
    return {name: record[name] for name in ("logradouro", "bairro", "localidade", "uf", "ibge")}


def email_taken(email, headers):
    """The 409 for an e-mail address another employee already has (in any case)."""
    return ApiError(409, f"Another employee already has the e-mail {email}.", {"email": "already taken"}, **headers)


def path_cep(text):
    """The 8 digits of the CEP in the path, or 400: the path itself is malformed."""
    digits = normalize_cep(text)
    if digits is None:
        raise ApiError(400, f"'{text}' is not a CEP; write it as NNNNNNNN or NNNNN-NNN.")
    return digits
