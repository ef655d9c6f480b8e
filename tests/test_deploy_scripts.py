"""The deployment files: shell scripts, the Vagrantfile, the systemd units.

These tests call external tools (shellcheck, vagrant, systemd-analyze) and skip, saying
which Debian package is missing, when a tool is not installed.
"""
import os
import re
import shutil
import stat
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
    assert {"run.sh", ".ci/run", "deploy/vagrant/provision.sh", "deploy/docker/test.sh"} <= names
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
        assert service["EnvironmentFile"] == [settings["TOKENS"]]  # the tokens provision.sh makes
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


@pytest.mark.parametrize("name", ["cep-api.service", "staff-api.service"])
def test_units_are_hardened(name):
    service = read_unit(name)["Service"]
    expected = {
        "NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"], "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "UMask": ["0077"],  # databases and WAL files for the service user only
        "PrivateDevices": ["yes"],
        "CapabilityBoundingSet": [""],  # empty: no capability at all
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
    }
    assert {key: service.get(key) for key in expected} == expected
    # Some limit, well above the ~40 MB a service uses.
    assert re.fullmatch(r"\d+M", service["MemoryMax"][0]) and 128 <= int(service["MemoryMax"][0][:-1]) <= 1024


def test_provision_makes_the_service_data_private():
    text = PROVISION.read_text(encoding="utf-8")
    assert 'install -d -m 0700 -o "$APP_USER" -g "$APP_USER" "$APP/var"' in text


def provision_tokens_step():
    """The functions of provision.sh and its step that makes the API tokens, as one shell script."""
    text = PROVISION.read_text(encoding="utf-8")
    functions = re.findall(r"^[a-z_]+\(\) \{(?: .*\}|\n(?:.*\n)*?\})$", text, re.M)
    step = re.search(r"^# \d+\. The API tokens.*?(?=^# \d+\. )", text, re.M | re.S)
    assert {f.split("(")[0] for f in functions} >= {"say", "create_tokens_file"} and step
    return "set -euo pipefail\n" + "\n".join(functions) + "\n" + step.group()


def test_provision_makes_the_tokens_once_and_restarts_when_they_change(tmp_path):
    """The token step of provision.sh, run with its paths in tmp_path instead of /etc, /var/lib and /run."""
    tokens_file = tmp_path / "etc/cep-staff/tokens.env"
    restart_pending = tmp_path / "restart-pending"
    env = dict(os.environ, TOKENS=str(tokens_file), RESTART_PENDING=str(restart_pending),
               TOKENS_SEEN=str(tmp_path / "var/lib/cep-staff/tokens.env.sha256"))
    script = provision_tokens_step()

    def provision():
        """Run the step; return its output, and whether it asked for the services to restart."""
        result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        restart = restart_pending.exists()
        restart_pending.unlink(missing_ok=True)  # what the restart step does
        return result.stdout + result.stderr, restart

    # The first run: two fresh tokens, for root only, and a restart so that the services read them.
    output, restart = provision()
    assert restart
    lines = tokens_file.read_text(encoding="utf-8").splitlines()
    tokens = dict(line.split("=", 1) for line in lines)
    assert list(tokens) == ["CEP_API_TOKEN", "STAFF_API_TOKEN"]
    for token in tokens.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # secrets.token_urlsafe(32)
        assert token not in output  # the provision log is shown on the host's terminal
    assert tokens["CEP_API_TOKEN"] != tokens["STAFF_API_TOKEN"]
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(tokens_file.parent.stat().st_mode) == 0o700

    # The second run keeps them (a token a user saved keeps working) and restarts nothing.
    assert provision()[1] is False
    assert tokens_file.read_text(encoding="utf-8").splitlines() == lines

    # A token changed by hand is kept, and the services restart to read it.
    tokens_file.write_text(f"CEP_API_TOKEN=changed-by-hand\n{lines[1]}\n", encoding="utf-8")
    assert provision()[1] is True
    assert tokens_file.read_text(encoding="utf-8") == f"CEP_API_TOKEN=changed-by-hand\n{lines[1]}\n"
    assert provision()[1] is False


def test_provision_says_where_the_tokens_are():
    text = PROVISION.read_text(encoding="utf-8")
    tokens = provision_settings()["TOKENS"]
    assert tokens == "/etc/cep-staff/tokens.env"
    assert "vagrant ssh -c 'sudo cat $TOKENS'" in text
    assert 'curl -H "Authorization: Bearer $STAFF_API_TOKEN" http://127.0.0.1:8002/employees' in text


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
