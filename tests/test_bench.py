"""The benchmark runner and its page cannot drift apart: every scenario docs/performance.md names
exists in `python bench/run.py --list`, and every scenario of the runner is on the page.

Listing needs no wrk and starts no server, so this runs anywhere the tests do.
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed_scenarios():
    """The scenario names `bench/run.py --list` prints, one per line, first word."""
    result = subprocess.run([sys.executable, "bench/run.py", "--list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return {line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith("(")}


def documented_scenarios():
    """The names in the first column of docs/performance.md's scenario table: | `name` | ... |."""
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    section = page.split("## The scenarios\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE))


def test_every_documented_scenario_exists_and_every_scenario_is_documented():
    """Both lists are the same set, and neither is empty."""
    listed, documented = listed_scenarios(), documented_scenarios()
    assert "targets" in listed
    assert documented == listed, f"only on the page: {documented - listed}; only in the runner: {listed - documented}"


def test_every_scenario_the_page_runs_by_name_exists():
    """Scenario names in the page's commands (`bench/run.py cep staff`) are the runner's."""
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    named = {word for command in re.findall(r"bench/run\.py ([^\n#`]*)", page)
             for word in command.split() if not word.startswith("-") and not word[0].isdigit()}
    assert named and named <= listed_scenarios()
