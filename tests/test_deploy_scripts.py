"""The deployment files: shell scripts, the Vagrantfile, the systemd units.

These tests call external tools (shellcheck, vagrant, systemd-analyze) and skip, saying
which Debian package is missing, when a tool is not installed.
"""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port

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
        # The kernel, the clock, the host name, other processes, namespaces, W^X memory: see the
        # exposure score test below for the rest.
        "ProtectKernelTunables": ["yes"], "ProtectKernelModules": ["yes"], "ProtectKernelLogs": ["yes"],
        "ProtectClock": ["yes"], "ProtectControlGroups": ["yes"], "ProtectHostname": ["yes"],
        "RestrictNamespaces": ["yes"], "LockPersonality": ["yes"], "MemoryDenyWriteExecute": ["yes"],
        "SystemCallArchitectures": ["native"],
        "SystemCallFilter": ["@system-service", "~@privileged @resources"],
        "SystemCallErrorNumber": ["EPERM"],  # a call outside the list fails, it does not kill the service
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


MAX_EXPOSURE = 2.5  # systemd-analyze's "OK" ends at 3.9; these services need little, so ask for less


@pytest.mark.parametrize("name", ["cep-api.service", "staff-api.service"])
def test_units_score_low_in_systemd_analyze_security(name):
    analyze = require("systemd-analyze", "systemd")
    usage = subprocess.run([analyze, "security", "--help"], capture_output=True, text=True, timeout=60)
    if "--offline" not in usage.stdout:
        pytest.skip("this systemd-analyze has no `security --offline` (systemd 250 and later have it)")
    result = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(UNIT_DIR / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", result.stdout)
    assert score, result.stdout + result.stderr
    # What is still open, for the message: the ✗ lines (a Python web service must keep the network).
    assert float(score.group(1)) <= MAX_EXPOSURE, "\n".join(
        line for line in result.stdout.splitlines() if line.startswith("✗") or "Overall" in line)


def expand_syscall_filter(analyze, names, expanded):
    """The system calls that systemd's filter `names` (@groups and single calls) stands for."""
    calls = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name not in expanded:
            listing = subprocess.run([analyze, "syscall-filter", name], capture_output=True, text=True, timeout=60)
            assert listing.returncode == 0, listing.stderr
            lines = [line.strip() for line in listing.stdout.splitlines()[1:]]  # the first names the group
            expanded[name] = expand_syscall_filter(
                analyze, [line for line in lines if line and not line.startswith("#")], expanded)
        calls |= expanded[name]
    return calls


def allowed_syscalls(analyze, service):
    """The system calls a unit's SystemCallFilter= lines leave allowed: the first list, less every ~list."""
    filters = [value.split() for value in service["SystemCallFilter"]]
    assert not filters[0][0].startswith("~"), "the first SystemCallFilter= is the allow list"
    expanded = {}
    allowed = expand_syscall_filter(analyze, filters[0], expanded)
    for denied in filters[1:]:
        assert denied[0].startswith("~")
        allowed -= expand_syscall_filter(analyze, [denied[0][1:], *denied[1:]], expanded)
    return allowed


class TracedService:
    """`python -m <module>` under strace -f, as an unprivileged user like the units' User=."""

    def __init__(self, module, env, directory, as_user):
        self.trace = directory / f"{module}.trace"
        self.log_path = directory / f"{module}.log"
        with open(self.log_path, "wb") as log:
            self.strace = subprocess.Popen(
                ["strace", "-f", "-qq", "-o", str(self.trace), *as_user, sys.executable, "-m", module],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_up(self, url, deadline):
        while True:
            assert self.strace.poll() is None, self.log_path.read_text(errors="replace")
            try:
                return requests.get(f"{url}/health", timeout=10)
            except requests.RequestException:
                assert time.monotonic() < deadline, self.log_path.read_text(errors="replace")
                time.sleep(0.2)

    def stop(self):
        """SIGTERM to the service itself (strace's child), as systemd stops it: its last rounds
        run too. Then whatever is left of the session is killed."""
        try:
            children = Path(f"/proc/{self.strace.pid}/task/{self.strace.pid}/children").read_text().split()
            for pid in children:
                os.kill(int(pid), signal.SIGTERM)
            self.strace.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.strace.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.strace.wait()

    def calls(self):
        """[(name, arguments)] of every system call the service made after its python started (less
        SQLite's fchown of its files to their owner, which it makes only as root: never as User=)."""
        lines = self.trace.read_text(errors="replace").splitlines()
        started = next(number for number, line in enumerate(lines)
                       if f'execve("{sys.executable}",' in line and line.endswith("= 0"))
        calls = []
        for line in lines[started + 1:]:
            found = re.match(r"^\d+\s+([a-z0-9_]+)\((.*)", line)
            if found and not (found.group(1) == "fchown" and os.geteuid() == 0):
                calls.append((found.group(1), found.group(2)))
        return calls


@pytest.fixture
def traced_services(seeded_cep_db):
    """Both services under strace, as user nobody when run as root (SQLite's calls differ for root),
    with their databases in a directory that user owns; the services are stopped after the test."""
    require("strace", "strace")
    if subprocess.run(["strace", "-f", "-o", os.devnull, "true"], capture_output=True, timeout=60).returncode:
        pytest.skip("strace cannot trace here (ptrace is not permitted)")
    directory = Path(tempfile.mkdtemp(prefix="cep-staff-strace-"))
    as_user = []
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() == 0 and subprocess.run([*nobody, sys.executable, "-c", "import cep_api.app, staff_api.app"],
                                            cwd=ROOT, capture_output=True, timeout=60).returncode == 0:
        as_user = nobody  # else the venv is where only root may go: the services run as root, see calls()
        os.chown(directory, 65534, 65534)
    shutil.copy(seeded_cep_db, directory / "cep.sqlite3")
    if as_user:
        os.chown(directory / "cep.sqlite3", 65534, 65534)
    cep_port, staff_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CEP_API_", "STAFF_API_", "STAFF_CEP_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", CEP_API_PORT=str(cep_port),
               CEP_API_DB=str(directory / "cep.sqlite3"), STAFF_API_PORT=str(staff_port),
               STAFF_API_DB=str(directory / "staff.sqlite3"), CEP_API_URL=f"http://127.0.0.1:{cep_port}")
    services = {}
    try:
        deadline = time.monotonic() + 90
        for module, port in (("cep_api", cep_port), ("staff_api", staff_port)):
            services[module] = TracedService(module, env, directory, as_user)
            services[module].url = f"http://127.0.0.1:{port}"
        for service in services.values():
            assert service.wait_until_up(service.url, deadline).status_code == 200
        yield services
    finally:
        for service in services.values():
            service.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_units_sandbox_allows_what_the_services_do(traced_services):
    """No systemd runs the units here: the services run under strace instead, through every kind of
    request and a SIGTERM, and each system call they make must be one the units' filter allows
    (SystemCallFilter=), each socket one of RestrictAddressFamilies=, and no memory both writable
    and executable (MemoryDenyWriteExecute=). Else the VM's services would fail on a call or a
    request that the unit forbids."""
    analyze = require("systemd-analyze", "systemd")
    cep, staff = traced_services["cep_api"].url, traced_services["staff_api"].url
    json_headers = {"Content-Type": "application/json"}
    for method, url, body, status in [
        ("GET", f"{cep}/ceps/01001000", None, 200),
        ("GET", f"{cep}/ceps?q=paulista", None, 200),
        ("POST", f"{staff}/employees", '{"name": "Ana", "email": "ana@example.com", "cep": "01001-000"}', 201),
        ("POST", f"{staff}/employees", '{"name": "Bia", "email": "bia@example.com", "cep": "01310-100"}', 201),
        ("GET", f"{staff}/employees?q=ana", None, 200),
        ("PATCH", f"{staff}/employees/1", '{"role": "engineer"}', 200),
        ("DELETE", f"{staff}/employees/2", None, 204),
        ("GET", f"{staff}/addresses/01001000", None, 200),
        ("GET", f"{staff}/cep-cache", None, 200),
        ("DELETE", f"{staff}/cep-cache/01001000", None, 204),
        ("GET", f"{staff}/", None, 200),
        ("GET", f"{staff}/docs", None, 200),
        ("GET", f"{staff}/cep-api/logs/summary", None, 200),
    ]:
        resp = requests.request(method, url, data=body, headers=json_headers if body else {}, timeout=30)
        assert resp.status_code == status, (method, url, resp.status_code, resp.text)
    # The background rounds write the request logs and the cache's hits meanwhile.
    deadline = time.monotonic() + 30
    while requests.get(f"{staff}/logs", timeout=30).json()["total"] < 13:
        assert time.monotonic() < deadline, "the staff API's request log was not written"
        time.sleep(0.2)
    assert requests.get(f"{cep}/logs/summary", timeout=30).status_code == 200
    for service in traced_services.values():
        service.stop()  # the last rounds, on SIGTERM, are traced too

    unit = read_unit("staff-api.service")["Service"]
    assert unit["SystemCallFilter"] == read_unit("cep-api.service")["Service"]["SystemCallFilter"]
    allowed = allowed_syscalls(analyze, unit)
    families = set(unit["RestrictAddressFamilies"][0].split())
    for module, service in traced_services.items():
        calls = service.calls()
        assert len(calls) > 1000, f"{module}: the trace is too short to be the whole run"
        assert {name for name, _ in calls} <= allowed, (
            f"{module} makes system calls the units forbid: {sorted({name for name, _ in calls} - allowed)}")
        opened = {arguments.split(",")[0] for name, arguments in calls if name == "socket"}
        assert opened <= families, f"{module} opens sockets the units forbid: {opened - families}"
        write_and_execute = [arguments for name, arguments in calls
                             if name in ("mmap", "mprotect", "pkey_mprotect")
                             and "PROT_WRITE" in arguments and "PROT_EXEC" in arguments]
        assert not write_and_execute, f"{module} maps memory both writable and executable: {write_and_execute}"
        # ProcSubset=pid and ProtectProc=invisible leave a process only its own part of /proc. (The
        # libselinux in psycopg2's wheel looks for selinuxfs in /proc/filesystems: hidden, SELinux is off.)
        proc = {path for name, arguments in calls if name in ("open", "openat", "stat", "newfstatat", "access")
                for path in re.findall(r'"(/proc[^"]*)"', arguments)} - {"/proc/filesystems"}
        assert all(re.match(r"/proc/(self|thread-self|\d+)(/|$)", path) for path in proc), (
            f"{module} reads /proc beyond its own process: {sorted(proc)}")
