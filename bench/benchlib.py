"""What the bench/ scripts all need: servers as subprocesses, wrk, CEPs, medians.

The benchmarks measure different things (a CEP lookup; the staff API's CEP cache and its
targets), but they set up and drive their servers the same way. That shared machinery lives
here, once, so a fix (say, to how a server is stopped) reaches every script:

- paths: the repo root (servers run from there), the bundled sample CSV and the 1.1M-CEP file;
- servers: `free_port()`, the `Server` subprocess class (with its CPU time and memory from
  /proc), `python_env()`, `staff_headers()` (BENCH_STAFF_TOKEN), and helpers that seed and
  start `cep_api` and start the hello-world ceiling (`hello_app.py`);
- CEPs: `read_ceps()` and `get_every_cep()` (warm cep_api's memo, prove each answers 200);
- wrk: `check_wrk()`, `wrk_command()`, `run_wrk()` and `speed()` (requests/s, p50, p99);
- report: `median_speed()`, `print_table()`, `print_machine()`, `print_service_settings()`,
  `print_command_and_time()`.

What each benchmark measures stays in its own script: the scenarios, the wrk Lua script
(and the regular expression that reads its BENCH_RESULT line), the checks and the tables.

The scripts are run as `python bench/bench_cep.py`, so Python puts bench/ on sys.path and
a plain `import benchlib` finds this file.
"""
import csv
import gzip
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SAMPLE_CSV = REPO_ROOT / "cep_api" / "data" / "ceps_sample.csv"
# The 1.1M real CEPs, kept outside the repo (../shared/data): for the scale benchmarks.
DEFAULT_FULL_CSV = REPO_ROOT.parent / "shared" / "data" / "ceps_full.csv.gz"


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------

def free_port():
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One server subprocess; its output goes to a log file so a full pipe never blocks it."""

    def __init__(self, name, command, env, port, log_path, ready_path):
        self.name = name
        self.command = command
        self.env = env
        self.port = port
        self.log_path = log_path
        self.ready_path = ready_path  # a GET of this must answer 200 once the server is up
        self.process = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        """Start the process and wait (up to 20 s) until ready_path answers 200."""
        with open(self.log_path, "wb") as log:
            # A session of its own: a Ctrl-C in the terminal reaches only us (and wrk), and
            # the `finally` in the script's main() then stops the server cleanly.
            self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; its log:\n{self.log_text()}")
            try:
                if requests.get(self.base_url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within 20 s; its log:\n{self.log_text()}")

    def stop(self):
        """Ask the process to end; kill it if it has not within 5 s. Safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self):
        """User + system CPU time the server process has used so far (Linux /proc), or None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the ")" of the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self, field="VmRSS"):
        """A memory figure of the process from /proc/PID/status, in KiB (VmRSS: resident now,
        VmHWM: the peak resident so far), or None (not Linux, or the process is gone)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # "VmRSS:     37312 kB"
        except OSError:
            pass
        return None

    def log_text(self):
        return Path(self.log_path).read_text(encoding="utf-8", errors="replace")


# The services' request-latency logging (CEP_API_LOG / STAFF_API_LOG in the project's contract): off
# unless the caller's environment says otherwise, as the contract advises for benchmarks:
# the hello-world logs nothing, and a log line per request is not what is compared.
# (A service that does not know the variable simply ignores it.)
SERVICE_LOG_VARIABLES = ("CEP_API_LOG", "STAFF_API_LOG")


def python_env(**extra):
    """The environment for a child Python: ours, the services' logging off by default, plus `extra`."""
    env = dict(os.environ)
    for name in SERVICE_LOG_VARIABLES:
        env.setdefault(name, "off")
    env.update(extra)
    return env


def staff_headers():
    """Headers for the staff API: `Authorization: Bearer $BENCH_STAFF_TOKEN` when that is set.

    A staff API started with STAFF_API_TOKEN wants it on every route but /health. The
    benchmarks start theirs without one, so this matters only when STAFF_API_TOKEN is
    also exported (the servers inherit the environment). The wrk scripts read the same
    variable (os.getenv in Lua).
    """
    token = os.environ.get("BENCH_STAFF_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_hint(status):
    """What to add to the error about a staff API answer with this status (a 401 wants a token)."""
    if status != 401:
        return ""
    return (" (the staff API wants a token: set BENCH_STAFF_TOKEN to its STAFF_API_TOKEN)"
            if not staff_headers() else " (BENCH_STAFF_TOKEN is not the staff API's STAFF_API_TOKEN)")


def seed_cep_api(db_path, csv_path):
    """Run `python -m cep_api seed CSV` into the database db_path."""
    result = subprocess.run([sys.executable, "-m", "cep_api", "seed", str(csv_path)], cwd=REPO_ROOT,
                            env=python_env(CEP_API_DB=str(db_path)), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"seeding {csv_path} failed:\n{result.stdout}{result.stderr}")


def start_cep_api(name, db_path, log_path, servers):
    """Start `python -m cep_api` on db_path; it joins `servers` before starting, so it is always stopped."""
    port = free_port()
    env = python_env(CEP_API_HOST="127.0.0.1", CEP_API_PORT=str(port), CEP_API_DB=str(db_path))
    server = Server(name, [sys.executable, "-m", "cep_api"], env, port, log_path, "/health")
    servers.append(server)
    return server.start()


def start_hello(log_path, ready_path, servers):
    """Start bench/hello_app.py; it joins `servers` before starting, so it is always stopped.

    The hello app answers any GET path, so ready_path can be a path of the script's own
    wrk runs (the same script then drives both servers).
    """
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "hello_app.py"), str(port)]
    server = Server("hello-world", command, python_env(), port, log_path, ready_path)
    servers.append(server)
    return server.start()


# ---------------------------------------------------------------------------------------
# CEPs
# ---------------------------------------------------------------------------------------

def read_ceps(path):
    """Every CEP (the `cep` column) of a CSV, plain or .gz."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as csv_file:
        reader = csv.reader(csv_file)
        # Find the column by its name, as `cep_api seed` does; a plain reader rather than a
        # DictReader, because the full file has 1.1M rows.
        column = next(reader).index("cep")
        return [row[column] for row in reader]


def get_every_cep(server, ceps):
    """GET /ceps/{cep} once for each CEP, sequentially: fills cep_api's memo, proves each is a 200."""
    with requests.Session() as session:
        for cep in ceps:
            reply = session.get(f"{server.base_url}/ceps/{cep}", timeout=10)
            if reply.status_code != 200:
                raise RuntimeError(f"{server.name}: GET /ceps/{cep} answered {reply.status_code}, "
                                   f"not 200; the benchmark would be meaningless.")


# ---------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------

def check_wrk():
    """True if wrk is installed; if not, say how to install it (on stderr) and return False."""
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install wrk", file=sys.stderr)
        return False
    return True


def wrk_command(args, seconds, script, url, *script_args):
    """The wrk command line; `script_args` (if any) go after `--`, to the Lua init(args)."""
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s",
               "--latency", "-s", str(script), url]
    return command + ["--", *script_args] if script_args else command


def run_wrk(command, result_line, what):
    """Run wrk; return (its stdout, the numbers of its BENCH_RESULT line as a dict of ints).

    Each script's Lua `done()` writes one BENCH_RESULT line; `result_line` is the script's
    regular expression for it, with a named group per number. `what` names the run in errors.
    """
    result = subprocess.run(command, capture_output=True, text=True)
    match = result_line.search(result.stdout)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed on {what}:\n{result.stdout}{result.stderr}")
    counts = {name: int(value) for name, value in match.groupdict().items()}
    return result.stdout, counts


def speed(counts):
    """requests/s, p50 and p99 (ms) from the counts of a BENCH_RESULT line (times in µs)."""
    return {"rps": counts["requests"] / (counts["duration_us"] / 1e6),
            "p50": counts["p50_us"] / 1000,
            "p99": counts["p99_us"] / 1000}


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def median_speed(runs):
    """The median requests/s, p50 and p99 over several runs (dicts as made by speed())."""
    return {name: statistics.median(run[name] for run in runs) for name in ("rps", "p50", "p99")}


def print_table(lines, pad_last=True):
    """Print rows of strings as aligned columns; lines[0] is the header, underlined.

    The first column (labels) is aligned left, the others (numbers) right. With
    pad_last=False the last column is printed as it is: free text, no trailing blanks.
    """
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for index, line in enumerate(lines):
        numbers = line[1:] if pad_last else line[1:-1]
        cells = [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(numbers, widths[1:])]
        if not pad_last:
            cells.append(line[-1])
        print(" | ".join(cells))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def print_machine():
    """The first line of a report: figures mean little without the machine they came from."""
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {wrk_version.strip()}")


def print_service_settings():
    """Say how the services log and whether a token is sent: both change the figures."""
    env = python_env()
    logs = ", ".join(f"{name}={env[name]}" for name in SERVICE_LOG_VARIABLES)
    token = "set: requests carry it" if staff_headers() else "unset"
    print(f"services: {logs}; BENCH_STAFF_TOKEN {token}")


def print_command_and_time(started):
    """The last lines of a report: how to run it again, and how long it took."""
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"wall time: {time.monotonic() - started:.0f} s")


def run_benchmark(main):
    """Exit with `main()`'s status. Ctrl-C, or one of our own checks failing (a server, wrk,
    PostgreSQL, HAProxy or the seed: RuntimeError), ends the run with one line instead of a
    traceback; the scripts stop what they started in their own `finally` blocks."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; what the benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as error:
        print(f"\nbenchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
