"""Each service reads in one sitting: small files, a factory that only wires, documented handlers.

These are the shape targets of the restructure (README: "How it fits together"); a change that
breaks one should say why, or move code where it belongs.
"""
import ast
import re

import pytest

from conftest import REPO_ROOT

SERVICES = ("cep_api", "staff_api")
# Non-blank, non-comment lines of Python per service (docstrings count). The restructure (#8) set
# 600; security and fault handling (#9: tokens, one deadline per outgoing call, checked upstream
# answers, the cache's housekeeping) added about 250, and the request logs with GET /logs and
# /logs/summary plus the dashboard's routes (#10) about 300 more, and the summary's per-minute
# roll-ups (log_summary.py, what makes /logs/summary fast over 100k rows) about 90 more, and in the
# CEP API ViaCEP's routes (#11: viacep.py, the search keys) about 120, and schema migrations (#12:
# migrations.py, `migrate` commands) about 50 per service. Each file
# stays under 250 lines and holds one concern, so a reader can still take the service one file at
# a time. A new feature that pushes past this should first look for what it can share or leave out.
MAX_CODE_LINES = 1400
MAX_FILE_LINES = 250
MAX_FACTORY_LINES = 40


def python_files(service):
    return sorted((REPO_ROOT / service).glob("*.py"))


def code_lines(path):
    """Lines that are neither blank nor only a comment."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()
               if not re.fullmatch(r"\s*(#.*)?", line))


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_is_small_enough_to_read_in_one_sitting(service):
    lines = {path.name: code_lines(path) for path in python_files(service)}
    assert sum(lines.values()) <= MAX_CODE_LINES, lines
    too_long = {path.name: n for path in python_files(service)
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES}
    assert too_long == {}


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_has_a_docstring_and_create_app_only_wires(service):
    undocumented = []
    for path in python_files(service):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not ast.get_docstring(node):
                    undocumented.append(f"{path.name}:{node.lineno} {node.name}")
                if node.name == "create_app":
                    assert node.end_lineno - node.lineno + 1 <= MAX_FACTORY_LINES
                    nested = [inner.name for inner in ast.walk(node)
                              if isinstance(inner, (ast.FunctionDef, ast.Lambda)) and inner is not node]
                    assert nested == [], "handlers belong at module level, not inside the factory"
    # The class documents its __init__; a plugin's wrapper is documented by the function returning it.
    assert [name for name in undocumented if not name.endswith((" __init__", " wrapper"))] == []


def test_every_route_handler_is_a_documented_module_level_function(cep_app, make_staff_app):
    for app in (cep_app, make_staff_app("http://127.0.0.1:9")):
        assert len(app.routes) >= 8
        for route in app.routes:
            handler = route.callback
            assert "<locals>" not in handler.__qualname__, route.rule
            assert handler.__doc__ and handler.__doc__.strip(), f"{route.method} {route.rule}"


@pytest.mark.parametrize("service, other", [("cep_api", "staff_api"), ("staff_api", "cep_api")])
def test_the_services_share_no_code(service, other):
    for path in python_files(service):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not any(name == other or name.startswith(other + ".") for name in imported), path.name


def test_the_openapi_documents_are_data_served_as_they_are(cep_app, make_staff_app):
    from webtest import TestApp

    for service, app in (("cep_api", cep_app), ("staff_api", make_staff_app("http://127.0.0.1:9"))):
        assert not (REPO_ROOT / service / "openapi.py").exists()
        served = TestApp(app).get("/openapi.json")
        assert served.body == (REPO_ROOT / service / "openapi.json").read_bytes()
