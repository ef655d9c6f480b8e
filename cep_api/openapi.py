"""The CEP API's OpenAPI 3.1 document: every route, parameter, body, answer and error, in one place.

GET /openapi.json serves it as it is and GET /docs shows it in Swagger UI. Two tests keep it true:
tests/test_openapi.py fails when a route of the app is missing here or a path here has no route,
and tests/test_schemathesis.py sends generated requests and checks every answer against it.
It is plain data, built once, in a fixed order: the same document, byte for byte, every time.
"""
from .validation import MAX_TEXT_LENGTH, UF_RANGES

UFS = sorted(UF_RANGES)

# Real CEPs, used as examples throughout; the first three are in the bundled sample.
SE = {"cep": "01001-000", "logradouro": "Praça da Sé", "complemento": "lado ímpar",
      "bairro": "Sé", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
PAULISTA = {"cep": "01310-100", "logradouro": "Avenida Paulista", "complemento": "de 612 a 1510 - lado par",
            "bairro": "Bela Vista", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}
TRES_PODERES = {"cep": "70150-900", "logradouro": "Praça dos Três Poderes", "complemento": "",
                "bairro": "Zona Cívico-Administrativa", "localidade": "Brasília", "uf": "DF", "ibge": "5300108"}
# A real CEP that is not in the sample: adding it succeeds on a freshly seeded database.
PAULISTA_2 = {"cep": "01310-200", "logradouro": "Avenida Paulista", "complemento": "de 1512 a 2132 - lado par",
              "bairro": "Bela Vista", "localidade": "São Paulo", "uf": "SP", "ibge": "3550308"}


def ref(kind, name):
    """A pointer to a reusable part of this document: ref("schemas", "Cep")."""
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema, examples=None):
    """A JSON body with its schema and, optionally, named examples ({name: value})."""
    content = {"schema": schema}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"application/json": content}


def text(description, **rules):
    """A text field: at most MAX_TEXT_LENGTH characters as sent; the service trims it before storing."""
    return {"type": "string", "maxLength": MAX_TEXT_LENGTH, "description": description, **rules}


# The fields of a record as a client sends them. `cep` and `uf` are checked together: the CEP
# must fall inside one of the UF's Correios ranges (a rule JSON Schema cannot state; a 422 says so).
SENT_FIELDS = {
    "cep": {"type": "string", "pattern": r"^\d{5}-?\d{3}$", "description": "NNNNNNNN or NNNNN-NNN",
            "examples": ["01001000", "01001-000"]},
    "logradouro": text("street, square, avenue...; empty for a whole-town CEP", examples=["Praça da Sé"]),
    "complemento": text("which part of the street, if any", examples=["lado ímpar"]),
    "bairro": text("neighbourhood; may be empty", examples=["Sé"]),
    "localidade": text("town; must not be blank", pattern=r"\S", examples=["São Paulo"]),
    "uf": {"type": "string", "enum": UFS, "description": "one of the 27 UFs (any case is accepted)"},
    "ibge": {"type": "string", "pattern": r"^(\d{7})?$", "description": "7-digit IBGE town code, or empty",
             "examples": ["3550308"]},
}


def body_schema(description, required=()):
    """The schema of a request body with the record's fields; unknown fields are a 422."""
    schema = {"type": "object", "description": description, "properties": SENT_FIELDS,
              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


SCHEMAS = {
    "Cep": {
        "type": "object",
        "description": "A CEP record. Field names follow ViaCEP, so clients written for ViaCEP read it unchanged.",
        "properties": {
            "cep": {"type": "string", "pattern": r"^\d{5}-\d{3}$", "description": "always written NNNNN-NNN"},
            "logradouro": {"type": "string"},
            "complemento": {"type": "string"},
            "bairro": {"type": "string"},
            "localidade": {"type": "string", "minLength": 1},
            "uf": {"type": "string", "enum": UFS},
            "ibge": {"type": "string", "pattern": r"^(\d{7})?$"},
        },
        "required": list(SENT_FIELDS),
        "additionalProperties": False,
        "examples": [SE],
    },
    "NewCep": body_schema("A new record: `cep`, `localidade` and `uf` are required; the other fields "
                          "default to empty.", required=("cep", "localidade", "uf")),
    "CepReplacement": body_schema("The whole record: fields left out become empty. `cep` may be repeated, "
                                  "but must be the one in the path.", required=("localidade", "uf")),
    "CepChanges": body_schema("Only the fields to change. `cep` may be repeated, but must be the one in "
                              "the path."),
    "CepPage": {
        "type": "object",
        "description": "One page of records, sorted by CEP.",
        "properties": {
            "items": {"type": "array", "items": ref("schemas", "Cep"), "maxItems": 100},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": {"type": "integer", "minimum": 0, "description": "records that match, on all pages"},
        },
        "required": ["items", "page", "per_page", "total"],
        "additionalProperties": False,
    },
    "Health": {
        "type": "object",
        "properties": {"status": {"const": "ok"}, "service": {"const": "cep_api"}},
        "required": ["status", "service"],
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


# The headers of an answer that a client may keep, and revalidate with its ETag.
CACHE_HEADERS = {"ETag": ref("headers", "ETag"), "Cache-Control": ref("headers", "CacheControl")}

RESPONSES = {
    "BadRequest": error("The body is not JSON or not a JSON object, or the CEP in the path is not a CEP.", {
        "status": 400, "message": "'0100100' is not a CEP; write it as NNNNNNNN or NNNNN-NNN."}),
    "NotFound": error("No record has this CEP.", {"status": 404, "message": "CEP 99999-999 is not in the database."},
                      {"Cache-Control": "NotFoundCacheControl"}),
    "Conflict": error("A record with this CEP already exists.", {
        "status": 409, "message": "CEP 01001-000 already exists; use PUT or PATCH to change it."}),
    "TooLarge": error("The body is larger than 100 KiB.", {"status": 413, "message": "Request entity too large"}),
    "UnsupportedMediaType": error("The body was not sent as `Content-Type: application/json`.", {
        "status": 415, "message": "Send the body as JSON with 'Content-Type: application/json'."}),
    "InvalidRecord": error("Some fields are missing, unknown or invalid; `fields` says which and why.", {
        "status": 422, "message": "The record is not valid.",
        "fields": {"uf": "CEP 01001-000 is not in the Correios range of RJ (20000-000..28999-999)"}}),
    "InvalidQuery": error("A query parameter is unknown or out of range; `fields` says which.", {
        "status": 422, "message": "Some query parameters are invalid.",
        "fields": {"per_page": "must be a whole number from 1 to 100"}}),
    "NotModified": {
        "description": "The client's copy (`If-None-Match`) is still current: no body.",
        "headers": CACHE_HEADERS,
    },
}

HEADERS = {
    "ETag": {"description": "Derived from the bytes of the answer: same content, same tag. Send it back "
                            "as `If-None-Match` to get a 304 while it is current.",
             "required": True, "schema": {"type": "string", "pattern": '^"[0-9a-f]{32}"$'}},
    "CacheControl": {"description": "How long a client may keep the answer.", "required": True,
                     "schema": {"type": "string"}, "examples": {"record": {"value": "public, max-age=3600"},
                                                                "list": {"value": "no-cache"}}},
    "NotFoundCacheControl": {"description": "A missing CEP may be created soon: keep the answer briefly.",
                             "required": True, "schema": {"type": "string", "const": "public, max-age=60"}},
    "Location": {"description": "Where the new record is.", "required": True,
                 "schema": {"type": "string", "pattern": r"^/ceps/\d{8}$"}, "example": "/ceps/01001000"},
}

PARAMETERS = {
    "cep": {"name": "cep", "in": "path", "required": True, "description": "The CEP, with or without the hyphen.",
            "schema": {"type": "string", "pattern": r"^\d{5}-?\d{3}$"},
            "examples": {"Praça da Sé": {"value": "01001000"}, "Avenida Paulista": {"value": "01310-100"},
                         "Praça dos Três Poderes": {"value": "70150900"}}},
    "page": {"name": "page", "in": "query", "description": "Which page, from 1.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 10**9, "default": 1}},
    "per_page": {"name": "per_page", "in": "query", "description": "Records per page.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
    "uf": {"name": "uf", "in": "query", "description": "Only this UF (any case).",
           "schema": {"type": "string", "enum": UFS}},
    "localidade": {"name": "localidade", "in": "query", "description": "Only this town, written exactly.",
                   "schema": {"type": "string"}, "example": "Brasília"},
    "q": {"name": "q", "in": "query", "description": "Only records whose logradouro or bairro contains this text.",
          "schema": {"type": "string"}, "example": "Paulista"},
    "If-None-Match": {"name": "If-None-Match", "in": "header",
                      "description": "The ETag of the copy you hold: a 304 without body if it is still current.",
                      "schema": {"type": "string"}},
}

# What every request with a body can get wrong besides its fields.
BODY_ERRORS = {"400": ref("responses", "BadRequest"), "413": ref("responses", "TooLarge"),
               "415": ref("responses", "UnsupportedMediaType")}


def record_answer(description, status_headers=()):
    """A response carrying one record, with its ETag and any other headers named."""
    headers = {name: ref("headers", name) for name in ("ETag", *status_headers)}
    return {"description": description, "headers": headers, "content": json_content(ref("schemas", "Cep"))}


def sent_body(schema_name, examples):
    """A required JSON request body."""
    return {"required": True, "content": json_content(ref("schemas", schema_name), examples)}


PATHS = {
    "/health": {
        "get": {
            "operationId": "health",
            "tags": ["service"],
            "summary": "Whether the service and its database work",
            "responses": {"200": {"description": "The service works.", "content": json_content(
                ref("schemas", "Health"), {"ok": {"status": "ok", "service": "cep_api"}})}},
        },
    },
    "/ceps": {
        "get": {
            "operationId": "listCeps",
            "tags": ["ceps"],
            "summary": "List records, sorted by CEP, a page at a time",
            "parameters": [ref("parameters", name)
                           for name in ("page", "per_page", "uf", "localidade", "q", "If-None-Match")],
            "responses": {
                "200": {"description": "One page of records.",
                        "headers": CACHE_HEADERS,
                        "content": json_content(ref("schemas", "CepPage"), {"?q=Três Poderes": {
                            "items": [TRES_PODERES], "page": 1, "per_page": 20, "total": 1}})},
                "304": ref("responses", "NotModified"),
                "422": ref("responses", "InvalidQuery"),
            },
        },
        "post": {
            "operationId": "createCep",
            "tags": ["ceps"],
            "summary": "Add a record",
            "requestBody": sent_body("NewCep", {"Avenida Paulista, 1512 to 2132": PAULISTA_2}),
            "responses": {
                "201": record_answer("Created: the record as stored.", ("Location",)),
                **BODY_ERRORS,
                "409": ref("responses", "Conflict"),
                "422": ref("responses", "InvalidRecord"),
            },
        },
    },
    "/ceps/{cep}": {
        "get": {
            "operationId": "getCep",
            "tags": ["ceps"],
            "summary": "Look a CEP up",
            "parameters": [ref("parameters", "cep"), ref("parameters", "If-None-Match")],
            "responses": {
                "200": {"description": "The record. The same record always gives the same bytes and ETag.",
                        "headers": CACHE_HEADERS,
                        "content": json_content(ref("schemas", "Cep"), {
                            "Praça da Sé": SE, "Avenida Paulista": PAULISTA,
                            "Praça dos Três Poderes": TRES_PODERES})},
                "304": ref("responses", "NotModified"),
                "400": ref("responses", "BadRequest"),
                "404": ref("responses", "NotFound"),
            },
        },
        "put": {
            "operationId": "replaceCep",
            "tags": ["ceps"],
            "summary": "Replace a record: fields left out become empty",
            "parameters": [ref("parameters", "cep")],
            "requestBody": sent_body("CepReplacement", {"Avenida Paulista": {
                key: value for key, value in PAULISTA.items() if key != "cep"}}),
            "responses": {
                "200": record_answer("Replaced: the record as stored."),
                **BODY_ERRORS,
                "404": ref("responses", "NotFound"),
                "422": ref("responses", "InvalidRecord"),
            },
        },
        "patch": {
            "operationId": "updateCep",
            "tags": ["ceps"],
            "summary": "Change some fields of a record",
            "parameters": [ref("parameters", "cep")],
            "requestBody": sent_body("CepChanges", {"new complemento": {"complemento": "lado par"}}),
            "responses": {
                "200": record_answer("Changed: the record as stored."),
                **BODY_ERRORS,
                "404": ref("responses", "NotFound"),
                "422": ref("responses", "InvalidRecord"),
            },
        },
        "delete": {
            "operationId": "deleteCep",
            "tags": ["ceps"],
            "summary": "Delete a record",
            "parameters": [ref("parameters", "cep")],
            "responses": {
                "204": {"description": "Deleted: no body."},
                "400": ref("responses", "BadRequest"),
                "404": ref("responses", "NotFound"),
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
        "title": "CEP API",
        "version": "1.0",
        "summary": "Look up, add and change Brazilian postal codes (CEPs).",
        "description": (
            "A CEP is accepted as `01001000` or `01001-000` and always answered as `01001-000`.\n\n"
            "Every body in and out is JSON. Every error, whatever its status, has the shape of `Error`: "
            '`{"error": {"status": 422, "message": "...", "fields": {"uf": "why"}}}` (`fields` only '
            "when fields are at fault). A method a path does not have answers 405 with an `Allow` header."),
    },
    # Relative to this document: the API is where the document is, also under a path prefix.
    "servers": [{"url": ".", "description": "this server"}],
    "tags": [
        {"name": "ceps", "description": "The CEP records"},
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
