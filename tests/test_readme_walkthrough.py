"""The walkthroughs, executed: every marked command runs and must print what the page shows.

Three pages have one: the README's short walk, its Brazilian Portuguese translation
(README.pt-BR.md, the same steps), and docs/walkthrough.md's full one. Each runs against services of
its own, freshly started by ./run.sh (each creates employees 1, 2, ... and stops the CEP API on the
way).

A command block follows a `<!-- walkthrough -->` line (invisible on a rendered page); the fenced
block right after it is the output a reader should see. Only what cannot repeat is let go: the
`Date` header, the times inside employee, cache and log records, and durations in milliseconds
(fields named `..._ms`). Everything else, status lines, headers, bodies, must be exactly as printed;
an `xml` block is compared as text.
An `http` block may show only some header lines (and no body) when its command keeps only those,
e.g. with `grep`: the lines shown must then be exactly the lines printed.
"""
import json
import re
import subprocess

import pytest

from conftest import REPO_ROOT

STEP = re.compile(r"<!-- walkthrough -->\n```sh\n(?P<command>.*?)```\n```(?P<kind>\w+)\n(?P<output>.*?)```", re.S)
TIME_FIELDS = {"created_at", "updated_at", "fetched_at", "expires_at", "time", "minute"}
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

# Each page with a walkthrough, and what its steps must at least do.
README_STEPS = (5, ("/ceps/01001000", "/ws/01001000/json/", "-X POST http://127.0.0.1:8002/employees",
                    "cep_api.pid", "/cep-cache"))
WALKTHROUGHS = {
    "README.md": README_STEPS,
    "README.pt-BR.md": README_STEPS,
    "docs/walkthrough.md": (11, ("/ceps/01001000", "/ceps/01001-000", "-X POST http://127.0.0.1:8001/ceps",
                                 "/ws/01001000/json/", "/ws/01001000/xml/", "/employees", "cep_api.pid", "/cep-cache",
                                 "-X PATCH", "-X DELETE", "/logs/summary")),
}
# A page and its translation: the same steps, and each links to the other.
TRANSLATIONS = {"README.md": "README.pt-BR.md"}


def walkthrough_steps(readme_text):
    """(command, kind of output, expected output) for each marked block, in order."""
    return [(m["command"], m["kind"], m["output"]) for m in STEP.finditer(readme_text)]


def without_times(data):
    """The JSON value with every timestamp replaced by a placeholder (after checking its form)."""
    if isinstance(data, dict):
        for name in TIME_FIELDS & set(data):
            assert ISO_TIME.match(data[name]), f"{name} is not an ISO time: {data[name]!r}"
        for name in data:
            if name.endswith("_ms") and data[name] is not None:
                assert isinstance(data[name], (int, float)) and data[name] >= 0, f"{name}: {data[name]!r}"
        return {name: "<time>" if name in TIME_FIELDS else "<ms>" if name.endswith("_ms") and data[name] is not None
                else without_times(value) for name, value in data.items()}
    if isinstance(data, list):
        return [without_times(item) for item in data]
    return data


def assert_same_body(actual, expected):
    if expected.strip():
        assert without_times(json.loads(actual)) == without_times(json.loads(expected))
    else:
        assert actual.strip() == ""


def assert_same_http(actual, expected):
    """Status line and every header as shown (Date only present); then the body."""
    actual_head, _, actual_body = actual.replace("\r\n", "\n").partition("\n\n")
    expected_head, _, expected_body = expected.partition("\n\n")
    # rstrip: a block of header lines only (a grep of them) ends in a newline, not a blank line.
    actual_lines, expected_lines = actual_head.rstrip("\n").split("\n"), expected_head.rstrip("\n").split("\n")
    assert actual_lines[0] == expected_lines[0]
    actual_headers = dict(line.split(": ", 1) for line in actual_lines[1:])
    expected_headers = dict(line.split(": ", 1) for line in expected_lines[1:])
    assert sorted(actual_headers) == sorted(expected_headers)
    for name, value in expected_headers.items():
        if name != "Date":
            assert actual_headers[name] == value, name
    assert_same_body(actual_body, expected_body)


@pytest.mark.parametrize("page", WALKTHROUGHS)
def test_the_page_has_a_walkthrough(page):
    steps = walkthrough_steps((REPO_ROOT / page).read_text(encoding="utf-8"))
    commands = " ".join(command for command, _, _ in steps)
    at_least, expected_commands = WALKTHROUGHS[page]
    assert len(steps) >= at_least
    for expected in expected_commands:
        assert expected in commands
    # A marker whose blocks do not parse would be skipped silently: every marker must be a step.
    assert len(steps) == (REPO_ROOT / page).read_text(encoding="utf-8").count("<!-- walkthrough -->")


@pytest.mark.parametrize("page, translation", TRANSLATIONS.items())
def test_a_translation_walks_the_same_steps_and_the_pages_link_each_other(page, translation):
    original, translated = ((REPO_ROOT / name).read_text(encoding="utf-8") for name in (page, translation))
    assert walkthrough_steps(translated) == walkthrough_steps(original)
    assert f"]({translation})" in original and f"]({page})" in translated


@pytest.mark.skipif(subprocess.run(["which", "curl"], capture_output=True).returncode != 0,
                    reason="the walkthroughs use curl: install it to run this test")
@pytest.mark.parametrize("page", WALKTHROUGHS)
def test_the_walkthrough_prints_what_it_shows(run_sh, page):
    runner = run_sh()  # fresh services over fresh databases for each page
    runner.wait_until_up()
    steps = walkthrough_steps((runner.repo / page).read_text(encoding="utf-8"))
    for command, kind, expected in steps:
        command = (command.replace("127.0.0.1:8001", f"127.0.0.1:{runner.cep_port}")
                          .replace("127.0.0.1:8002", f"127.0.0.1:{runner.staff_port}"))
        result = subprocess.run(["bash", "-c", command], cwd=runner.repo, capture_output=True, text=True,
                                timeout=30, env=runner.env)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        try:
            if kind == "http":
                assert_same_http(result.stdout, expected)
            elif kind == "json":
                assert_same_body(result.stdout, expected)
            else:  # xml: the very text shown
                assert result.stdout.rstrip("\n") == expected.rstrip("\n")
        except AssertionError as error:
            raise AssertionError(f"{page} step:\n{command}\nprinted:\n{result.stdout}\n") from error
    assert runner.terminate() == 0
