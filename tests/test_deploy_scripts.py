"""The deployment files: shell scripts, the Vagrantfile, the systemd units.

These tests call external tools (shellcheck, vagrant, systemd-analyze) and skip, saying
which Debian package is missing, when a tool is not installed.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROVISION = ROOT / "deploy" / "vagrant" / "provision.sh"
UNIT_DIR = ROOT / "deploy" / "systemd"
# Directories that are not the project's own files.
NOT_OURS = {".git", ".venv", ".vagrant", "var", "__pycache__", ".pytest_cache", "htmlcov", "node_modules"}
SHEBANG = re.compile(rb"^#!\s*(/usr)?/bin/(env\s+)?(ba|da)?sh\b")


def shell_scripts():
    """Every shell script of the project: *.sh files and files with a sh/bash shebang."""
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = sorted(d for d in subdirs if d not in NOT_OURS)
        for name in sorted(files):
            path = Path(directory) / name
            if name.endswith(".sh"):
                found.append(path)
                continue
            with open(path, "rb") as f:
                if SHEBANG.match(f.read(64)):
                    found.append(path)
    return found


def require(tool, package):
    """The tool's path, or skip the test naming the Debian package that provides it."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed: install Debian's {package} package to run this check")
    return path


def test_shell_scripts_are_shellcheck_clean():
    shellcheck = require("shellcheck", "shellcheck")
    scripts = shell_scripts()
    names = {str(p.relative_to(ROOT)) for p in scripts}
    assert {"run.sh", ".ci/run", "deploy/vagrant/provision.sh"} <= names
    result = subprocess.run([shellcheck, "--format=gcc", *map(str, scripts)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vagrantfile_validates(tmp_path):
    vagrant = shutil.which("vagrant")
    if vagrant is None:
        pytest.skip("vagrant is not installed: install Debian's vagrant package to validate the Vagrantfile")
    # Vagrant writes ~/.vagrant.d and ./.vagrant/: send both to a temporary directory.
    env = dict(os.environ, VAGRANT_HOME=str(tmp_path / "vagrant.d"),
               VAGRANT_DOTFILE_PATH=str(tmp_path / "dotfile"), VAGRANT_CHECKPOINT_DISABLE="1")
    result = subprocess.run([vagrant, "validate", "--ignore-provider"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vagrantfile validated successfully" in result.stdout


def provision_settings():
    """The NAME=value settings at the top level of provision.sh."""
    text = PROVISION.read_text(encoding="utf-8")
    settings = dict(re.findall(r'^([A-Z_]+)=("[^"]*"|\S+)', text, re.M))
    settings = {name: value.strip('"') for name, value in settings.items()}
    app = settings["APP"]
    return {name: value.replace("$APP", app) for name, value in settings.items()}


def read_unit(name):
    """A unit file as {section: {key: [values]}} (keys such as Environment repeat)."""
    sections, section = {}, None
    for line in (UNIT_DIR / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        section.setdefault(key.strip(), []).append(value.strip())
    return sections


def environment(unit):
    return dict(item.split("=", 1) for item in unit["Service"].get("Environment", []))


def test_units_run_what_provision_installs():
    settings = provision_settings()
    app, user, units = settings["APP"], settings["APP_USER"], settings["UNITS"].split()
    assert sorted(units) == sorted(p.name for p in UNIT_DIR.glob("*.service"))
    ports = {}
    for name, module in (("cep-api.service", "cep_api"), ("staff-api.service", "staff_api")):
        assert name in units
        unit = read_unit(name)
        service = unit["Service"]
        assert (ROOT / module / "__main__.py").is_file()
        # run.sh install, run in $APP by provision.sh, creates $APP/.venv.
        assert service["ExecStart"] == [f"{app}/.venv/bin/python -m {module}"]
        assert service["WorkingDirectory"] == [app]
        assert service["User"] == [user]
        assert service["Restart"] == ["on-failure"]
        assert service["ReadWritePaths"] == [f"{app}/var"]
        assert "network-online.target" in " ".join(unit["Unit"]["After"])
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]
        env = environment(unit)
        prefix = module.upper()
        assert env[f"{prefix}_HOST"] == "0.0.0.0", "the forwarded port must reach the service"
        assert Path(env[f"{prefix}_DB"]).parent == Path(app, "var"), "only var/ is writable"
        ports[module] = int(env[f"{prefix}_PORT"])
    cep_unit, staff_unit = read_unit("cep-api.service"), read_unit("staff-api.service")
    # provision.sh seeds the database the CEP API then serves.
    assert environment(cep_unit)["CEP_API_DB"] == settings["CEP_DB"]
    assert "cep-api.service" in " ".join(staff_unit["Unit"]["After"])
    assert "cep-api.service" in " ".join(staff_unit["Unit"]["Wants"])
    assert environment(staff_unit)["CEP_API_URL"] == f"http://127.0.0.1:{ports['cep_api']}"
    # The Vagrantfile forwards exactly the ports the units listen on, to the same host ports.
    forwards = re.findall(r'forwarded_port",\s*guest:\s*(\d+),\s*host:\s*(\d+),\s*host_ip:\s*"127\.0\.0\.1"',
                          (ROOT / "Vagrantfile").read_text(encoding="utf-8"))
    assert sorted(forwards) == sorted((str(p), str(p)) for p in ports.values())


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = require("systemd-analyze", "systemd")
    system_units = Path("/usr/lib/systemd/system")
    if not (system_units / "sysinit.target").is_file():
        pytest.skip(f"{system_units} has no systemd units to verify against")
    # A throwaway root: the distribution's units, ours in /etc, and the venv's python
    # where provision.sh creates it, because verify checks that ExecStart exists.
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNIT_DIR.glob("*.service"):
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    python = root / provision_settings()["APP"].lstrip("/") / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    units = [f"/etc/systemd/system/{unit.name}" for unit in sorted(UNIT_DIR.glob("*.service"))]
    result = subprocess.run([analyze, "verify", f"--root={root}", *units],
                            capture_output=True, text=True, timeout=60)
    # An unknown or misspelt key is only a warning with exit status 0: any output fails.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
