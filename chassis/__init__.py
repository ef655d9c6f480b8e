"""The service chassis: what every service of cep-staff needs, written once (docs/architecture.md).

Each part is switched on by a few lines in a service's create_app: web (JSON and its errors),
database, migrations, request_log (and log_summary), auth, cors, explorer (/docs); outgoing calls
another service within a deadline, background runs a service's thread, serving runs `python -m`.
What stays in a service: its routes, tables, validation, use cases and OpenAPI document.
"""
