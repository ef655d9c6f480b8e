"""The service chassis: what every service of cep-staff needs, written once (docs/architecture.md).

A service switches each part on in its create_app; what stays in a service: its routes, tables,
validation, use cases and OpenAPI document.
"""
