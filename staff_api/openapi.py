"""The staff API's OpenAPI 3.1 document: every route, parameter, body, answer and error, in one place.

GET /openapi.json serves it as it is and GET /docs shows it in Swagger UI. Two tests keep it true:
tests/test_openapi.py fails when a route of the app is missing here or a path here has no route,
and tests/test_schemathesis.py sends generated requests and checks every answer against it.
It is plain data, built once, in a fixed order: the same document, byte for byte, every time.
"""
from .validation import MAX_LENGTHS

# Real CEPs from the CEP API's bundled sample, used as examples throughout.
SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar",
      "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
TRES_PODERES = {"cep": "70150-900", "logradouro": "Praça dos Três Poderes", "complemento": "",
                "bairro": "Zona Cívico-Administrativa", "localidade": "Brasília", "uf": "DF", "ibge": "5300108"}
ANA_SENT = {"name": "Ana Souza", "email": "ana@example.com", "role": "Engineer", "cep": "01001000",
            "number": "100", "complement": "apto 12"}
ANA = {"id": 1, **ANA_SENT, "cep": "01001-000",
       "address": {name: SE[name] for name in ("logradouro", "bairro", "localidade", "uf", "ibge")},
       "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}


def ref(kind, name):
    """A pointer to a reusable part of this document: ref("schemas", "Employee")."""
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema, examples=None):
    """A JSON body with its schema and, optionally, named examples ({name: value})."""
    content = {"schema": schema}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"application/json": content}


def text(name, description, **rules):
    """A text field: at most MAX_LENGTHS[name] characters as sent; trimmed, no control characters."""
    return {"type": "string", "maxLength": MAX_LENGTHS[name], "description": description, **rules}


# The fields of an employee as a client sends them. `id`, `address`, `created_at` and
# `updated_at` are filled in by the service: sending one of them is a 422.
SENT_FIELDS = {
    "name": text("name", "must not be blank", pattern=r"\S", examples=["Ana Souza"]),
    "email": text("email", "unique, ignoring case (409 when taken)",
                  pattern=r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$", examples=["ana@example.com"]),
    "role": text("role", "job title; may be empty", examples=["Engineer"]),
    "cep": {"type": "string", "pattern": r"^\d{5}-?\d{3}$", "examples": ["01001000", "01001-000"],
            "description": "NNNNNNNN or NNNNN-NNN; must exist in the CEP API, which gives the address"},
    "number": text("number", "house number; may be empty", examples=["100"]),
    "complement": text("complement", "flat, block...; may be empty", examples=["apto 12"]),
}


def body_schema(description, required=()):
    """The schema of a request body with the employee's fields; unknown fields are a 422."""
    schema = {"type": "object", "description": description, "properties": SENT_FIELDS,
              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def page_of(item_schema, description, **more):
    """The schema of one page of a list, with any extra properties the list adds."""
    properties = {
        "items": {"type": "array", "items": ref("schemas", item_schema), "maxItems": 100},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
        "total": {"type": "integer", "minimum": 0, "description": "items on all pages"},
        **more,
    }
    return {"type": "object", "description": description, "properties": properties,
            "required": list(properties), "additionalProperties": False}


TIMESTAMP = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
             "description": "UTC, whole seconds"}
CEP_OUT = {"type": "string", "pattern": r"^\d{5}-\d{3}$", "description": "always written NNNNN-NNN"}

SCHEMAS = {
    "Employee": {
        "type": "object",
        "description": "An employee. `address` is read-only: the service fills it from the CEP API.",
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            **{name: {"type": "string"} for name in ("name", "email", "role")},
            "cep": CEP_OUT,
            **{name: {"type": "string"} for name in ("number", "complement")},
            "address": ref("schemas", "Address"),
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        "required": ["id", "name", "email", "role", "cep", "number", "complement", "address",
                     "created_at", "updated_at"],
        "additionalProperties": False,
        "examples": [ANA],
    },
    "Address": {
        "type": "object",
        "description": "The address of the employee's CEP, as the CEP API gave it.",
        "properties": {name: {"type": "string"} for name in ("logradouro", "bairro", "localidade", "uf", "ibge")},
        "required": ["logradouro", "bairro", "localidade", "uf", "ibge"],
        "additionalProperties": False,
    },
    "NewEmployee": body_schema("An employee: `name`, `email` and `cep` are required; the other fields "
                               "default to empty.", required=("name", "email", "cep")),
    "EmployeeChanges": body_schema("Only the fields to change. The address is looked up again only when "
                                   "`cep` changes."),
    "EmployeePage": page_of("Employee", "One page of employees, sorted by id."),
    "CepRecord": {
        "type": "object",
        "description": "The CEP API's record for a CEP (ViaCEP names).",
        "properties": {
            "cep": CEP_OUT,
            **{name: {"type": "string"} for name in ("logradouro", "complemento", "bairro", "localidade", "uf",
                                                      "ibge")},
        },
        "required": ["cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge"],
    },
    "CacheEntry": {
        "type": "object",
        "description": "One remembered answer of the CEP API.",
        "properties": {
            "cep": CEP_OUT,
            "status": {"type": "integer", "enum": [200, 404],
                       "description": "what the CEP API answered: 200 found, 404 no such CEP"},
            "fetched_at": TIMESTAMP,
            "expires_at": {**TIMESTAMP, "description": "fresh until then; afterwards revalidated before use"},
            "hits": {"type": "integer", "minimum": 0, "description": "answers given from this entry"},
        },
        "required": ["cep", "status", "fetched_at", "expires_at", "hits"],
        "additionalProperties": False,
    },
    "CachePage": page_of(
        "CacheEntry", "One page of the cache, sorted by CEP, with the counters since the service started.",
        hits={"type": "integer", "minimum": 0, "description": "CEPs answered from the cache"},
        misses={"type": "integer", "minimum": 0, "description": "CEPs that needed a full call to the CEP API"}),
    "Health": {
        "type": "object",
        "properties": {
            "status": {"const": "ok"},
            "service": {"const": "staff_api"},
            "cep_api": {"enum": ["up", "down"], "description": "whether the CEP API answered just now"},
        },
        "required": ["status", "service", "cep_api"],
        "additionalProperties": False,
    },
    "Error": {
        "type": "object",
        "description": "Every error of the service, whatever its status: JSON of this one shape.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer", "minimum": 400, "maximum": 599,
                               "description": "the HTTP status again"},
                    "message": {"type": "string", "minLength": 1, "description": "a sentence for a person"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "only when fields are at fault: field name -> what is wrong"},
                },
                "required": ["status", "message"],
                "additionalProperties": False,
            },
        },
        "required": ["error"],
        "additionalProperties": False,
    },
}


def error(description, example, headers=None):
    """An error response: the Error shape, with an example answer and any headers named."""
    answer = {"description": description,
              "content": json_content(ref("schemas", "Error"), {"example": {"error": example}})}
    if headers:
        answer["headers"] = {name: ref("headers", header) for name, header in headers.items()}
    return answer


RESPONSES = {
    "BadRequest": error("The body is not JSON or not a JSON object.", {
        "status": 400, "message": "The JSON body must be an object, like {\"field\": \"value\"}."}),
    "BadCep": error("The CEP in the path is not a CEP.", {
        "status": 400, "message": "'0100100' is not a CEP; write it as NNNNNNNN or NNNNN-NNN."}),
    "NoSuchEmployee": error("There is no employee with this id (also for an id that is not a positive "
                            "whole number).", {"status": 404, "message": "There is no employee 999."}),
    "EmailTaken": error("Another employee already has this e-mail address, in any case.", {
        "status": 409, "message": "Another employee already has the e-mail ANA@example.com.",
        "fields": {"email": "already taken"}}, {"X-Cep-Cache": "OptionalCepCache"}),
    "TooLarge": error("The body is larger than 100 KiB.", {"status": 413, "message": "Request entity too large"}),
    "UnsupportedMediaType": error("The body was not sent as `Content-Type: application/json`.", {
        "status": 415, "message": "Send the body as JSON with 'Content-Type: application/json'."}),
    "InvalidEmployee": error(
        "Some fields are missing, unknown, read-only or invalid, or the CEP does not exist; `fields` says "
        "which and why.", {"status": 422, "message": "The employee is not valid.",
                           "fields": {"email": "must be an e-mail address like ana@example.com"}},
        {"X-Cep-Cache": "OptionalCepCache"}),
    "InvalidQuery": error("A query parameter is unknown or out of range; `fields` says which.", {
        "status": 422, "message": "Some query parameters are invalid.",
        "fields": {"per_page": "must be a whole number from 1 to 100"}}),
    "CepApiUnavailable": error(
        "The CEP API is down, failing or slower than STAFF_CEP_TIMEOUT and this CEP is not cached: nothing "
        "was saved.", {"status": 503, "message": "The CEP API could not be reached and CEP 01310-100 is not "
                                                 "cached; nothing was saved, try again later."}),
}

HEADERS = {
    "CepCache": {"description": "How the CEP was resolved: from a fresh cache entry (`hit`), by calling "
                                "the CEP API (`miss`), by revalidating a stale entry (`revalidated`), or "
                                "from a stale entry because the CEP API could not answer (`stale`).",
                 "required": True, "schema": {"enum": ["hit", "miss", "revalidated", "stale"]}},
    "OptionalCepCache": {"description": "Present when the CEP was looked up (see `X-Cep-Cache` of a 200).",
                         "schema": {"enum": ["hit", "miss", "revalidated", "stale"]}},
    "Location": {"description": "Where the new employee is.", "required": True,
                 "schema": {"type": "string", "pattern": r"^/employees/[1-9][0-9]*$"}, "example": "/employees/1"},
}

PARAMETERS = {
    "employee_id": {"name": "employee_id", "in": "path", "required": True, "description": "The employee's id.",
                    "schema": {"type": "integer", "minimum": 1}, "example": 1},
    "cep": {"name": "cep", "in": "path", "required": True, "description": "The CEP, with or without the hyphen.",
            "schema": {"type": "string", "pattern": r"^\d{5}-?\d{3}$"},
            "examples": {"Praça da Sé": {"value": "01001000"}, "Praça dos Três Poderes": {"value": "70150-900"}}},
    "page": {"name": "page", "in": "query", "description": "Which page, from 1.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 10**9, "default": 1}},
    "per_page": {"name": "per_page", "in": "query", "description": "Items per page.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
    "uf": {"name": "uf", "in": "query", "description": "Only employees whose address is in this UF (any case).",
           "schema": {"type": "string"}, "example": "SP"},
    "q": {"name": "q", "in": "query", "description": "Only employees whose name or e-mail contains this text.",
          "schema": {"type": "string"}, "example": "ana"},
}

# What every request with a body can get wrong besides its fields.
BODY_ERRORS = {"400": ref("responses", "BadRequest"), "413": ref("responses", "TooLarge"),
               "415": ref("responses", "UnsupportedMediaType")}


def employee_answer(description, headers):
    """A response carrying one employee, with the headers named ({header: component})."""
    return {"description": description, "content": json_content(ref("schemas", "Employee"), {"Ana": ANA}),
            "headers": {name: ref("headers", header) for name, header in headers.items()}}


def sent_employee(schema_name, examples):
    """A required JSON request body."""
    return {"required": True, "content": json_content(ref("schemas", schema_name), examples)}


def no_content(description):
    """A 204: done, no body."""
    return {"description": description}


# PUT and PATCH answer the same way; they differ only in what a missing field means.
CHANGE_RESPONSES = {
    "200": employee_answer("Changed: the employee as stored. `X-Cep-Cache` only when the CEP changed.",
                           {"X-Cep-Cache": "OptionalCepCache"}),
    **BODY_ERRORS,
    "404": ref("responses", "NoSuchEmployee"),
    "409": ref("responses", "EmailTaken"),
    "422": ref("responses", "InvalidEmployee"),
    "503": ref("responses", "CepApiUnavailable"),
}

PATHS = {
    "/health": {
        "get": {
            "operationId": "health",
            "tags": ["service"],
            "summary": "Whether the service works, and whether the CEP API answers",
            "responses": {"200": {"description": "The service works (even when the CEP API is down).",
                                  "content": json_content(ref("schemas", "Health"), {
                                      "ok": {"status": "ok", "service": "staff_api", "cep_api": "up"}})}},
        },
    },
    "/employees": {
        "get": {
            "operationId": "listEmployees",
            "tags": ["employees"],
            "summary": "List employees, sorted by id, a page at a time",
            "parameters": [ref("parameters", name) for name in ("page", "per_page", "uf", "q")],
            "responses": {
                "200": {"description": "One page of employees.", "content": json_content(
                    ref("schemas", "EmployeePage"), {"one employee": {"items": [ANA], "page": 1, "per_page": 20,
                                                                      "total": 1}})},
                "422": ref("responses", "InvalidQuery"),
            },
        },
        "post": {
            "operationId": "createEmployee",
            "tags": ["employees"],
            "summary": "Add an employee; the address comes from the CEP API",
            "requestBody": sent_employee("NewEmployee", {"Ana": ANA_SENT}),
            "responses": {
                "201": employee_answer("Created: the employee as stored, address included.",
                                       {"Location": "Location", "X-Cep-Cache": "CepCache"}),
                **BODY_ERRORS,
                "409": ref("responses", "EmailTaken"),
                "422": ref("responses", "InvalidEmployee"),
                "503": ref("responses", "CepApiUnavailable"),
            },
        },
    },
    "/employees/{employee_id}": {
        "get": {
            "operationId": "getEmployee",
            "tags": ["employees"],
            "summary": "One employee",
            "parameters": [ref("parameters", "employee_id")],
            "responses": {
                "200": employee_answer("The employee.", {}),
                "404": ref("responses", "NoSuchEmployee"),
            },
        },
        "put": {
            "operationId": "replaceEmployee",
            "tags": ["employees"],
            "summary": "Replace an employee: optional fields left out become empty",
            "parameters": [ref("parameters", "employee_id")],
            "requestBody": sent_employee("NewEmployee", {"Ana moves to Brasília": {
                **ANA_SENT, "cep": "70150-900", "number": "", "complement": ""}}),
            "responses": CHANGE_RESPONSES,
        },
        "patch": {
            "operationId": "updateEmployee",
            "tags": ["employees"],
            "summary": "Change some fields of an employee",
            "parameters": [ref("parameters", "employee_id")],
            "requestBody": sent_employee("EmployeeChanges", {"new role": {"role": "Lead"}}),
            "responses": CHANGE_RESPONSES,
        },
        "delete": {
            "operationId": "deleteEmployee",
            "tags": ["employees"],
            "summary": "Delete an employee",
            "parameters": [ref("parameters", "employee_id")],
            "responses": {
                "204": no_content("Deleted: no body."),
                "404": ref("responses", "NoSuchEmployee"),
            },
        },
    },
    "/addresses/{cep}": {
        "get": {
            "operationId": "getAddress",
            "tags": ["addresses"],
            "summary": "The address of a CEP, through the cache (what a form fills in as you type)",
            "parameters": [ref("parameters", "cep")],
            "responses": {
                "200": {"description": "The CEP API's record for this CEP.",
                        "headers": {"X-Cep-Cache": ref("headers", "CepCache")},
                        "content": json_content(ref("schemas", "CepRecord"), {
                            "Praça da Sé": SE, "Praça dos Três Poderes": TRES_PODERES})},
                "400": ref("responses", "BadCep"),
                "404": error("The CEP API does not know this CEP.", {
                    "status": 404, "message": "CEP 99999-999 does not exist."}, {"X-Cep-Cache": "CepCache"}),
                "503": ref("responses", "CepApiUnavailable"),
            },
        },
    },
    "/cep-cache": {
        "get": {
            "operationId": "listCache",
            "tags": ["cache"],
            "summary": "What the cache holds, and how often it answered",
            "parameters": [ref("parameters", "page"), ref("parameters", "per_page")],
            "responses": {
                "200": {"description": "One page of cache entries.", "content": json_content(
                    ref("schemas", "CachePage"), {"one entry": {
                        "items": [{"cep": "01001-000", "status": 200, "fetched_at": "2026-11-22T10:00:00Z",
                                   "expires_at": "2026-11-23T10:00:00Z", "hits": 3}],
                        "page": 1, "per_page": 20, "total": 1, "hits": 3, "misses": 1}})},
                "422": ref("responses", "InvalidQuery"),
            },
        },
        "delete": {
            "operationId": "clearCache",
            "tags": ["cache"],
            "summary": "Empty the cache",
            "responses": {"204": no_content("Emptied: no body.")},
        },
    },
    "/cep-cache/{cep}": {
        "delete": {
            "operationId": "evictCep",
            "tags": ["cache"],
            "summary": "Forget one CEP: the next lookup asks the CEP API",
            "parameters": [ref("parameters", "cep")],
            "responses": {
                "204": no_content("Forgotten (or it was not cached): no body."),
                "400": ref("responses", "BadCep"),
            },
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "tags": ["documentation"],
            "summary": "This document",
            "responses": {"200": {"description": "The OpenAPI 3.1 document of this service.",
                                  "content": json_content({"type": "object"})}},
        },
    },
    "/docs": {
        "get": {
            "operationId": "docs",
            "tags": ["documentation"],
            "summary": "This page: Swagger UI over this document",
            "responses": {"200": {"description": "An HTML page.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}},
        },
    },
}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {
        "title": "Staff API",
        "version": "1.0",
        "summary": "An employee registry whose addresses come from the CEP API, through a cache.",
        "description": (
            "A CEP is accepted as `01001000` or `01001-000` and always answered as `01001-000`.\n\n"
            "Every body in and out is JSON. Every error, whatever its status, has the shape of `Error`: "
            '`{"error": {"status": 422, "message": "...", "fields": {"email": "why"}}}` (`fields` only '
            "when fields are at fault). A method a path does not have answers 405 with an `Allow` header.\n\n"
            "When the CEP API cannot answer and the CEP is not cached, a request that needs the address "
            "answers 503 and saves nothing."),
    },
    # Relative to this document: the API is where the document is, also under a path prefix.
    "servers": [{"url": ".", "description": "this server"}],
    "tags": [
        {"name": "employees", "description": "The employees"},
        {"name": "addresses", "description": "Addresses by CEP, through the cache"},
        {"name": "cache", "description": "The cache of the CEP API's answers"},
        {"name": "service", "description": "The service itself"},
        {"name": "documentation", "description": "This document and its explorer"},
    ],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "headers": HEADERS,
        "responses": RESPONSES,
    },
}
