"""The machinery under bench/run.py: servers as subprocesses, PostgreSQL and HAProxy, wrk, tables.

The services are only ever started as programs (`python -m cep_api`), configured through environment
variables, never imported: a benchmark measures the code as it runs, however it is organised inside.
"""
import csv
import gzip
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SAMPLE_CSV = REPO_ROOT / "cep_api" / "data" / "ceps_sample.csv"
# The 1.1M real CEPs are kept outside the repo (../shared/data): only the scale scenarios need them.
DEFAULT_FULL_CSV = REPO_ROOT.parent / "shared" / "data" / "ceps_full.csv.gz"
HAPROXY_CONFIG = REPO_ROOT / "deploy" / "haproxy" / "cep-staff.cfg"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
# Debian's newest PostgreSQL server programs (initdb, pg_ctl) are not on PATH.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"),
             key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0, default=None)


# --- Servers -------------------------------------------------------------------------------

def free_port():
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def python_env(**extra):
    """The environment of a server: ours, the request logs off unless it says otherwise, plus `extra`."""
    # The hello-world logs nothing: compared with it, the services log nothing either, unless
    # `CEP_API_LOG=on python bench/run.py ...` asks to measure them with it.
    env = dict(os.environ)
    for name in ("CEP_API_LOG", "STAFF_API_LOG"):
        env.setdefault(name, "off")
    env.update({name: str(value) for name, value in extra.items()})
    return env


def staff_headers():
    """`Authorization: Bearer $BENCH_STAFF_TOKEN` when that is set (a staff API with STAFF_API_TOKEN wants it)."""
    token = os.environ.get("BENCH_STAFF_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


class Server:
    """One server subprocess; its output goes to a log file, so a full pipe can never block it."""

    def __init__(self, name, command, env, port, log_path):
        """Remember how to start it; start() does."""
        self.name, self.command, self.env, self.port, self.log_path = name, command, env, port, log_path
        self.process = None
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self, ready_path="/health"):
        """Start the process and wait (up to 30 s) until ready_path answers 200."""
        with open(self.log_path, "wb") as log:
            # A session of its own: a Ctrl-C in the terminal reaches only us (and wrk), and our
            # `finally` then stops the server cleanly.
            self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; its log:\n{self.log_text()}")
            try:
                if requests.get(self.base_url + ready_path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within 30 s; its log:\n{self.log_text()}")

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
        """User + system CPU time the process has used so far (Linux /proc), or None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime, fields 14 and 15 of /proc/PID/stat, counted after the ")" of the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self, field="VmRSS"):
        """VmRSS (resident now) or VmHWM (the peak so far) of the process, in MiB, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # "VmRSS:     37312 kB"
        raise RuntimeError(f"no {field} in /proc for {self.name}")

    def log_text(self):
        """What the server wrote so far."""
        return Path(self.log_path).read_text(encoding="utf-8", errors="replace")


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) in a temporary directory, on loopback."""

    def __init__(self):
        """Nothing runs until start()."""
        self.directory, self.running = None, False
        # PostgreSQL refuses to run as root: then it runs as the postgres user (trust auth, loopback only).
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self):
        """Create and start the cluster, with PostgreSQL's durable defaults (fsync and synchronous commits on)."""
        self.directory = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if self.as_owner:
            shutil.chown(self.directory, "postgres", "postgres")
        self.port = free_port()
        # --no-sync only makes initdb itself quicker; the cluster still flushes every commit.
        self._run("initdb", "-D", self.directory / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._run("pg_ctl", "-D", self.directory / "data", "-o", settings, "-l", self.directory / "log", "-w", "start")
        self.running = True
        # The database's name in every log line, so that a deadlock can be told to its set-up.
        self.sql("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d '")
        self.sql("SELECT pg_reload_conf()")
        return self

    def _run(self, program, *arguments):
        """Run one of PostgreSQL's programs as the cluster's owner; fail loudly."""
        result = subprocess.run(self.as_owner + [str(PG_BIN / program), *map(str, arguments)],
                                capture_output=True, text=True, start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{result.stdout}{result.stderr}")

    def url(self, database):
        """The URL the services take in STAFF_API_DATABASE_URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement):
        """Run one statement on the `postgres` database, outside any transaction."""
        import psycopg2  # only this scenario needs it (requirements-postgres.txt)

        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def deadlocks(self):
        """How many "deadlock detected" errors the server logged so far, per database."""
        return Counter(re.findall(r" db=(\S*) ERROR:  deadlock detected",
                                  (self.directory / "log").read_text(encoding="utf-8", errors="replace")))

    def stop(self):
        """Stop the cluster and delete its directory (its databases go with it). Safe to call twice."""
        if self.running:
            subprocess.run(self.as_owner + [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m",
                                            "fast", "stop"], capture_output=True, start_new_session=True)
            self.running = False
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def haproxy_config(cep_port, staff_ports, front_port):
    """deploy/haproxy/cep-staff.cfg with free ports, its staff backend on `staff_ports`."""
    # The shipped file, not a copy: the benchmark measures what is deployed. Both CEP processes
    # become our one CEP API; staff1 and staff2 the first two staff processes; a third and on get a
    # copy of the staff2 line (its options kept); with one process, the staff2 line goes.
    text = HAPROXY_CONFIG.read_text(encoding="utf-8")
    shipped = {8001: free_port(), 8011: cep_port, 8012: cep_port, 8002: front_port,
               8021: staff_ports[0], 8022: staff_ports[min(1, len(staff_ports) - 1)]}
    for old, new in shipped.items():
        if f"127.0.0.1:{old}" not in text:
            raise RuntimeError(f"{HAPROXY_CONFIG} no longer has 127.0.0.1:{old}: update bench/benchlib.py")
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    lines = text.splitlines(keepends=True)
    at = [index for index, line in enumerate(lines) if re.match(r"\s*server staff2 ", line)]
    if len(at) != 1:
        raise RuntimeError(f"{HAPROXY_CONFIG} no longer has one `server staff2` line: update bench/benchlib.py")
    staff2 = lines[at[0]]
    extra = [re.sub(r"staff2 127\.0\.0\.1:\d+", f"staff{number} 127.0.0.1:{port}", staff2)
             for number, port in enumerate(staff_ports[2:], start=3)]
    lines[at[0]:at[0] + 1] = [staff2, *extra] if len(staff_ports) > 1 else []
    return "".join(lines)


# --- The staff API, outside the measured windows ---------------------------------------------

def staff_get(server, path, session=None):
    """GET a staff API path (with the token, if any); fail loudly on anything but a 200."""
    reply = (session or requests).get(server.base_url + path, headers=staff_headers(), timeout=30)
    if reply.status_code != 200:
        hint = " (set BENCH_STAFF_TOKEN to its STAFF_API_TOKEN)" if reply.status_code == 401 else ""
        raise RuntimeError(f"{server.name}: GET {path} answered {reply.status_code}{hint}: {reply.text[:200]}")
    return reply


def cache_counters(server):
    """The staff API's own (hits, misses) since it started, from GET /cep-cache."""
    data = staff_get(server, "/cep-cache?per_page=1").json()
    return data["hits"], data["misses"]


def settled_counters(server):
    """The counters once the requests wrk left in flight are done (they stop changing)."""
    # wrk stops with up to -c requests on their way: counting them in the next run would blur the checks.
    counters = cache_counters(server)
    for _ in range(50):
        time.sleep(0.1)
        counters, previous = cache_counters(server), counters
        if counters == previous:
            return counters
    raise RuntimeError(f"{server.name} is still busy 5 s after wrk stopped")


def fill_staff_cache(server, ceps):
    """GET /addresses once for each CEP, so each is a fresh entry of the cache; return how many were misses."""
    with requests.Session() as session:
        return sum(staff_get(server, f"/addresses/{cep}", session).headers.get("X-Cep-Cache") == "miss"
                   for cep in ceps)


def empty_staff_cache(server):
    """DELETE /cep-cache: from now on every CEP is a miss the first time it is asked for."""
    reply = requests.delete(server.base_url + "/cep-cache", headers=staff_headers(), timeout=10)
    if reply.status_code != 204:
        raise RuntimeError(f"{server.name}: DELETE /cep-cache answered {reply.status_code}")


# --- wrk ---------------------------------------------------------------------------------

# One Lua script for every wrk run, over `items` (paths to GET, or CEPs of new employees). Each wrk
# thread runs its own copy; `setup` and `done` run in the main one; what follows `--` goes to init().
WRK_SCRIPT = """
local items = {%s}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- args: "get" or "create", a tag that makes this run's e-mails unlike any other run's,
  -- the status every answer must have.
  mode, tag, expected = args[1], args[2], tonumber(args[3])
  local token = os.getenv("BENCH_STAFF_TOKEN")
  get_headers, json_headers = {}, {["Content-Type"] = "application/json"}
  if token and token ~= "" then
    get_headers["Authorization"] = "Bearer " .. token
    json_headers["Authorization"] = "Bearer " .. token
  end
  -- Each GET is built once: building it again at each call would cost wrk CPU, and wrk
  -- shares the machine with the servers.
  prepared = {}
  for i, item in ipairs(items) do prepared[i] = wrk.format("GET", item, get_headers) end
  position, counter = 0, 0
  bad, hit, miss, other, first = 0, 0, 0, 0, ""
end

-- wrk calls request() of the first thread once more, to check the script, and never sends
-- that request: so the first item of the list is skipped once.
function request()
  position = position %% #items + 1
  if mode == "get" then return prepared[position] end
  counter = counter + 1  -- a new e-mail every time: each create must be a 201
  local body = string.format('{"name":"Bench %%d","email":"bench-%%s-%%d-%%d@example.com","cep":"%%s"}',
                             counter, tag, id, counter, items[position])
  return wrk.format("POST", "/employees", json_headers, body)
end

function response(status, headers, body)
  if status ~= expected then
    bad = bad + 1
    if first == "" then first = status .. " " .. body:sub(1, 200) end
  end
  -- HAProxy passes header names on in lower case (HTTP names ignore case; Lua's keys do not).
  local how = headers["X-Cep-Cache"] or headers["x-cep-cache"]
  if how == "hit" then hit = hit + 1 elseif how == "miss" then miss = miss + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total, first = {bad = 0, hit = 0, miss = 0, other = 0}, ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do total[name] = total[name] + thread:get(name) end
    if first == "" then first = thread:get("first") end
  end
  local e = summary.errors
  io.write(string.format("BENCH_RESULT requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d bad=%%d " ..
                         "socket_errors=%%d hit=%%d miss=%%d other=%%d\\n", summary.requests, summary.duration,
                         latency:percentile(50), latency:percentile(99), total.bad,
                         e.connect + e.read + e.write + e.timeout, total.hit, total.miss, total.other))
  io.write("FIRST_BAD " .. first .. "\\n")
end
"""


def write_wrk_script(path, items):
    """Write the Lua script that makes wrk cycle over `items`, in this order."""
    path.write_text(WRK_SCRIPT % ", ".join(f'"{item}"' for item in items), encoding="utf-8")
    return path


def wrk_command(script, url, seconds, connections, options=(), args=("get", "-", 200)):
    """The wrk command line: always one wrk thread, and `--latency` for the percentiles."""
    return ["wrk", *options, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url,
            "--", *map(str, args)]


def run_wrk(command):
    """Run wrk; return its BENCH_RESULT counts, plus rps, p50 and p99 (ms), and the first bad answer."""
    result = subprocess.run(command, capture_output=True, text=True)
    line = re.search(r"^BENCH_RESULT (.*)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not line:
        raise RuntimeError(f"wrk failed:\n{result.stdout}{result.stderr}")
    counts = {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", line.group(1))}
    first = re.search(r"^FIRST_BAD (.*)$", result.stdout, re.MULTILINE)
    return {**counts, "rps": counts["requests"] / (counts["duration_us"] / 1e6), "p50": counts["p50_us"] / 1000,
            "p99": counts["p99_us"] / 1000, "first_bad": first.group(1) if first else ""}


# --- CEPs and figures ------------------------------------------------------------------------

def read_rows(path, *columns):
    """Yield a tuple of these columns for each row of a CSV (plain or .gz), one row at a time."""
    # A plain reader: a DictReader would be slow over the 1.1M rows, and a list of them would be ~300 MB.
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as csv_file:
        reader = csv.reader(csv_file)
        header = next(reader)
        at = [header.index(name) for name in columns]  # by name, as `cep_api seed` reads them
        yield from (tuple(row[index] for index in at) for row in reader)


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (fraction 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def medians(runs):
    """The median of each figure over several wrk runs (None if any run lacks it)."""
    return {name: None if None in [run[name] for run in runs] else statistics.median(run[name] for run in runs)
            for name in ("rps", "p50", "p99", "cpu_ms")}


def print_table(lines, left=()):
    """Print rows of strings as aligned columns, lines[0] the header; words (and `left`) left, numbers right."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    left = [i in (0, *left) or any(line[i][:1].isalpha() for line in lines[1:]) for i in range(len(widths))]
    for index, line in enumerate(lines):
        print(" | ".join(cell.ljust(w) if at_left else cell.rjust(w)
                         for cell, w, at_left in zip(line, widths, left)).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def print_machine():
    """Figures mean little without the machine and the settings they came from."""
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    env = python_env()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {wrk}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"services: CEP_API_LOG={env['CEP_API_LOG']}, STAFF_API_LOG={env['STAFF_API_LOG']}; "
          f"BENCH_STAFF_TOKEN {'set: requests carry it' if staff_headers() else 'unset'}")
