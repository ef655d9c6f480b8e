"""Issue #12, point 5: the staff API on 1, 2 and 4 processes over PostgreSQL, against one
process over SQLite, in the same run.

Two loads, both on a CEP cache hit, as bench_staff.py and bench_staff_targets.py drive them
(the same wrk Lua script, imported from bench_staff.py, at wrk -c16 by default; it reads the
X-Cep-Cache header in either case here, because HAProxy 2.x passes header names on in lower case):

- creates: `POST /employees` whose CEP is cached; every request has an e-mail address of its
  own (a counter in the Lua script plus a tag per wrk run), so each must be a 201;
- hits: `GET /addresses/{cep}` on a cached CEP.

The set-ups, all started at the beginning and kept running side by side:

- "SQLite, 1 process": one staff API over a SQLite file, reached directly. The baseline.
- "PostgreSQL, 1 process": one staff API over a PostgreSQL database, reached directly.
- "PostgreSQL, 1 process, HAProxy": the very same process, reached through HAProxy: the
  difference from the line above is the proxy's own cost (same process, same database).
- "PostgreSQL, 2 processes, HAProxy": deploy/haproxy/cep-staff.cfg, the shipped file, with its
  127.0.0.1:PORT addresses replaced by free ports (as tests/test_scale_out.py does): its
  staff1/staff2 lines point at the two processes, cep1 and cep2 both at the one CEP API.
- "PostgreSQL, 4 processes, HAProxy": the same rendering, plus `server staff3` and `staff4`
  lines copied from the shipped staff2 line (same options: `check inter 2s`, round robin),
  each with its process's port. For the 1-process proxy set-up the staff2 line is removed.

Each PostgreSQL set-up has a fresh database of its own (CREATE DATABASE) in a throwaway cluster
(initdb + pg_ctl in a temporary directory, on a free loopback port, trust auth; as root it
runs as the postgres user), dropped, stopped and deleted at the end, also on an error or
Ctrl-C. The cluster keeps PostgreSQL's durable defaults: fsync on and synchronous_commit on,
so a create waits for its WAL flush to the disk, as it would in a deployment. SQLite (the
service's own settings: WAL, synchronous=normal) does not flush the disk at each commit, so
the creates compare a little in SQLite's favour; --synchronous-commit off makes PostgreSQL's
commits as lax (the last commits may be lost on a crash; the database stays consistent).
fsync is never turned off: a figure measured so would flatter PostgreSQL.

One CEP API process (SQLite, seeded with the bundled sample) serves every set-up; the staff
processes call it directly (CEP_API_URL), because on a hit they never call it. Every staff
process has waitress's default threads, the request log off (STAFF_API_LOG=off, as in every
benchmark) and a one-day cache TTL, so no entry expires during the run.

How a run goes:

1. Start the CEP API, the PostgreSQL cluster, the staff processes (they migrate their
   databases at start; the processes of one set-up share its database) and one HAProxy per
   proxied set-up (`haproxy -f <rendered cfg> -db`).
2. Pick --hit-ceps CEPs of the sample (seeded RNG); GET /addresses for each of them from
   every staff process directly, so each process holds them in memory (the first process of
   a set-up fetches them from the CEP API, the others find them in the shared table). Then
   GET through each HAProxy until every process behind it has answered (X-Served-By).
3. An unmeasured warm-up of --warmup seconds per set-up and load, then --rounds rounds: each
   round runs, for every set-up, creates then hits for --duration seconds each. The order of
   the set-ups flips from round to round (forward, backward), so drift of the machine
   touches all alike; the idle set-ups meanwhile cost next to nothing (a housekeeping query
   a second per process, HAProxy's health checks every 2 s).
4. Checks every wrk run (wrk --timeout 10s: an answer slower than wrk's own 2 s counts in the
   p99 rather than as a socket error): wrk's Lua script counts the status codes and the X-Cep-Cache header
   of every answer, and the hit/miss counters of every process of the set-up (GET /cep-cache
   straight on each process) are read before and after. The figures are invalid (exit status
   1) on an answer that is not a 201 (creates) or 200 (hits), a wrk socket error, an answer or
   a counter that was not a hit, or a process behind HAProxy that served no request.
   Deadlocks that PostgreSQL logged (per database) are printed as a note: they concern the
   service, not the figures' validity.
5. Prints the medians over the rounds of each set-up: requests/s and p99 of each load, and
   their ratios to the SQLite one-process baseline; then the speed-up of 2 and 4 processes
   over 1 (all through HAProxy), next to the number of CPUs, which bounds it.

A slow result never fails the run: this benchmark reports figures, it judges nothing. wrk,
HAProxy, PostgreSQL and the staff processes all share the machine's CPUs (2 here), so the
absolute figures are a floor and more processes cannot go past the CPUs; where scaling stops
on such a machine, and why, is for the README to say from these figures.

Usage (from the repo root):  .venv/bin/python bench/bench_scale_out.py [--help]
Defaults: 5 rounds of 5 s per set-up and load, wrk -t1 -c16; about 7 minutes in all.
Needs:                       apt-get install wrk haproxy postgresql; psycopg2 (requirements-postgres.txt)
"""
import argparse
import importlib.util
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

# benchlib.py and bench_staff.py sit next to this script (Python puts bench/ on sys.path).
from bench_staff import RESULT_LINE, check, settled_counters, warm_staff_cache, write_wrk_script
from benchlib import (REPO_ROOT, SAMPLE_CSV, Server, check_wrk, free_port, get_every_cep, median_speed,
                      print_command_and_time, print_machine, print_service_settings, print_table, python_env,
                      read_ceps, run_benchmark, run_wrk, seed_cep_api, speed, staff_headers, start_cep_api, wrk_command)

SHIPPED_CONFIG = REPO_ROOT / "deploy" / "haproxy" / "cep-staff.cfg"
CEP_PORTS = (8001, 8011, 8012)  # the shipped file's CEP front and its two processes
STAFF_FRONT, STAFF_PROCESS_PORTS = 8002, (8021, 8022)  # its staff front and processes
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
# Debian's newest PostgreSQL server binaries (initdb, pg_ctl).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"),
             key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0, default=None)

LOADS = ("create-hit", "addresses-hit")  # the scenario names bench_staff.check() knows
LOAD_LABELS = {"create-hit": "creates", "addresses-hit": "hits"}
BASELINE = "SQLite, 1 process"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The staff API's creates and /addresses hits on 1, 2 and 4 processes over PostgreSQL "
                    "(2 and 4 behind HAProxy) against 1 process over SQLite, with wrk.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of unmeasured wrk per set-up and load before the rounds (default 2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument("--wrk-timeout", type=int, default=10,
                        help="wrk --timeout in seconds (default 10; wrk's own 2 would drop slow answers as errors "
                             "instead of counting them in the p99)")
    parser.add_argument("--hit-ceps", type=int, default=200, help="how many cached CEPs the loads cycle over (default 200)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the RNG that picks the CEPs (default 2024)")
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="on",
                        help="PostgreSQL's synchronous_commit (default on, PostgreSQL's own; fsync stays on either way)")
    parser.add_argument("--sample-csv", type=Path, default=SAMPLE_CSV, help="the CEPs seeded into cep_api")
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.wrk_threads, args.connections, args.hit_ceps, args.wrk_timeout) < 1 or args.warmup < 0:
        parser.error("counts and durations must be positive")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    return args


def check_tools():
    """True if HAProxy, PostgreSQL and psycopg2 are there; if not, say what is missing (stderr)."""
    missing = []
    if HAPROXY is None:
        missing.append("HAProxy (apt-get install haproxy)")
    if PG_BIN is None:
        missing.append("PostgreSQL's server (apt-get install postgresql)")
    if importlib.util.find_spec("psycopg2") is None:  # the services need it for PostgreSQL; so does this script
        missing.append("psycopg2 (pip install -r requirements-postgres.txt)")
    for what in missing:
        print(f"missing: {what}", file=sys.stderr)
    return not missing


# ---------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster
# ---------------------------------------------------------------------------------------

class PostgresCluster:
    """A PostgreSQL cluster of its own (initdb + pg_ctl) in a temporary directory, on a free
    loopback port, trust auth. As root it runs as the postgres user (PostgreSQL refuses root)."""

    def __init__(self, synchronous_commit):
        self.synchronous_commit = synchronous_commit
        self.directory = None
        self.port = None
        self.as_owner = []
        self.running = False
        self.databases = []

    @property
    def data(self):
        return self.directory / "data"

    def start(self):
        self.directory = Path(tempfile.mkdtemp(prefix="bench-scale-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        # --no-sync makes initdb itself quicker; it does not change the cluster's settings.
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                    f"-c synchronous_commit={self.synchronous_commit}")  # fsync: on, the default
        self._run("pg_ctl", "-D", self.data, "-o", settings, "-l", self.directory / "log", "-w", "start")
        self.running = True
        # The database in every log line, so a deadlock can be told to its set-up.
        self.sql("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d '")
        self.sql("SELECT pg_reload_conf()")
        return self

    def deadlocks(self):
        """{database: how many "deadlock detected" errors the server logged so far}."""
        found = {}
        for line in (self.directory / "log").read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.search(r" db=(\S*) ERROR:  deadlock detected", line)
            if match:
                found[match.group(1)] = found.get(match.group(1), 0) + 1
        return found

    def _run(self, program, *arguments):
        # A session of its own: a Ctrl-C in the terminal does not reach the server; stop() ends it.
        result = subprocess.run(self.as_owner + [str(PG_BIN / program), *map(str, arguments)],
                                capture_output=True, text=True, start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{result.stdout}{result.stderr}")

    def url(self, database):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement):
        """Run one statement on the `postgres` database, outside any transaction."""
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True  # CREATE and DROP DATABASE refuse to run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self, name):
        """A new, empty database; its URL."""
        self.sql(f"CREATE DATABASE {name}")
        self.databases.append(name)
        return self.url(name)

    def stop(self):
        """Drop the databases, stop the cluster, delete its directory. Safe to call twice."""
        if self.running:
            for name in self.databases:
                try:
                    self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                except Exception as error:  # the cluster goes anyway
                    print(f"dropping {name} failed: {error}", file=sys.stderr)
            self.databases = []
            subprocess.run(self.as_owner + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                           capture_output=True, start_new_session=True)
            self.running = False
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


# ---------------------------------------------------------------------------------------
# Staff processes and HAProxy
# ---------------------------------------------------------------------------------------

def start_staff(name, cep, database_url, db_path, log_path, servers):
    """Start `python -m staff_api` over PostgreSQL (database_url) or SQLite (db_path, when the URL
    is empty), asking `cep`; it joins `servers` before starting, so it is always stopped."""
    port = free_port()
    env = python_env(STAFF_API_HOST="127.0.0.1", STAFF_API_PORT=str(port), CEP_API_URL=cep.base_url,
                     STAFF_API_DB=str(db_path), STAFF_API_DATABASE_URL=database_url,
                     # A day: no entry may expire (and be revalidated) during the benchmark.
                     STAFF_CEP_CACHE_TTL="86400", STAFF_CEP_NEGATIVE_TTL="300", STAFF_CEP_TIMEOUT="5")
    server = Server(name, [sys.executable, "-m", "staff_api"], env, port, log_path, "/health")
    servers.append(server)
    return server.start()


def haproxy_config(cep_port, staff_ports, front_port):
    """deploy/haproxy/cep-staff.cfg with free ports, its staff backend on `staff_ports`.

    The shipped addresses are replaced as strings (as tests/test_scale_out.py does): both CEP
    processes become the one CEP API, the staff front `front_port`, staff1 and staff2 the first
    two processes. A third process and on get a copy of the staff2 line (its options kept)
    with their own name and port; with one process, the staff2 line goes."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    ports = {CEP_PORTS[0]: free_port(), CEP_PORTS[1]: cep_port, CEP_PORTS[2]: cep_port, STAFF_FRONT: front_port,
             STAFF_PROCESS_PORTS[0]: staff_ports[0], STAFF_PROCESS_PORTS[1]: staff_ports[min(1, len(staff_ports) - 1)]}
    for shipped, port in ports.items():
        if f"127.0.0.1:{shipped}" not in text:
            raise RuntimeError(f"{SHIPPED_CONFIG} no longer has 127.0.0.1:{shipped}: update {Path(__file__).name}")
        text = text.replace(f"127.0.0.1:{shipped}", f"127.0.0.1:{port}")
    lines = text.splitlines(keepends=True)
    staff2 = [index for index, line in enumerate(lines) if re.match(r"\s*server staff2 ", line)]
    if len(staff2) != 1:
        raise RuntimeError(f"{SHIPPED_CONFIG} no longer has one `server staff2` line: update {Path(__file__).name}")
    template = lines[staff2[0]]
    extra = [re.sub(r"server staff2 127\.0\.0\.1:\d+", f"server staff{number} 127.0.0.1:{port}", template)
             for number, port in enumerate(staff_ports[2:], start=3)]
    lines[staff2[0]:staff2[0] + 1] = [template] + extra if len(staff_ports) > 1 else []
    return "".join(lines)


def start_haproxy(name, config, workdir, servers):
    """Run `haproxy -f <config> -db` on the rendered config; ready once its staff front's /health answers."""
    front_port = free_port()
    path = workdir / f"{name}.cfg"
    path.write_text(config(front_port), encoding="utf-8")
    proxy = Server(name, [HAPROXY, "-f", str(path), "-db"], python_env(), front_port,
                   workdir / f"{name}.log", "/health")
    servers.append(proxy)
    return proxy.start()


class SetUp:
    """One way of serving the staff API: its processes, and the server wrk talks to (`front`)."""

    def __init__(self, label, processes, front):
        self.label, self.processes, self.front = label, processes, front
        self.proxied = front not in processes


def start_setups(args, workdir, cep, cluster, servers):
    """Start every set-up's staff processes (then the proxies); return the SetUps, baseline first."""
    sqlite = start_staff("staff sqlite", cep, "", workdir / "staff.sqlite3", workdir / "staff-sqlite.log", servers)
    groups = {}
    for count in (1, 2, 4):
        url = cluster.create_database(f"bench_staff_pg{count}")
        groups[count] = [start_staff(f"staff pg{count}-{number}", cep, url, workdir / "unused.sqlite3",
                                     workdir / f"staff-pg{count}-{number}.log", servers)
                         for number in range(1, count + 1)]
    setups = [SetUp(BASELINE, [sqlite], sqlite), SetUp("PostgreSQL, 1 process", groups[1], groups[1][0])]
    for count in (1, 2, 4):
        staff_ports = [process.port for process in groups[count]]
        proxy = start_haproxy(f"haproxy-{count}", lambda front, ports=staff_ports: haproxy_config(cep.port, ports, front),
                              workdir, servers)
        noun = "process" if count == 1 else "processes"
        setups.append(SetUp(f"PostgreSQL, {count} {noun}, HAProxy", groups[count], proxy))
    return setups


def warm(setups, hit_ceps):
    """Cache the hit CEPs in every process (each GETs them once), then make sure every process
    behind each proxy answers through it; returns the misses (fetches from the CEP API)."""
    misses = 0
    for process in {id(p): p for setup in setups for p in setup.processes}.values():
        misses += warm_staff_cache(process, hit_ceps)
    for setup in setups:
        if not setup.proxied:
            continue
        wanted = {f"staff{number}" for number in range(1, len(setup.processes) + 1)}
        seen = set()
        with requests.Session() as session:
            session.headers.update(staff_headers())
            for attempt in range(20 * len(wanted)):
                reply = session.get(f"{setup.front.base_url}/addresses/{hit_ceps[attempt % len(hit_ceps)]}", timeout=10)
                if reply.status_code != 200 or reply.headers.get("X-Cep-Cache") != "hit":
                    raise RuntimeError(f"{setup.label}: GET /addresses answered {reply.status_code} "
                                       f"{reply.headers.get('X-Cep-Cache')}: {reply.text[:200]}")
                seen.add(reply.headers.get("X-Served-By"))
                if wanted <= seen:
                    break
                time.sleep(0.05)
        if not wanted <= seen:
            raise RuntimeError(f"{setup.label}: {sorted(wanted - seen)} never answered through HAProxy")
    return misses


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------

HEADER_LOOKUP = 'local how = headers["X-Cep-Cache"]'


def write_script(ceps, threads, path):
    """bench_staff.py's wrk script, reading the X-Cep-Cache header in either case: HAProxy 2.x
    passes header names on in lower case (HTTP/1.1 names are case-insensitive), and a Lua table's
    keys are not."""
    text = write_wrk_script(ceps, threads, path).read_text(encoding="utf-8")
    if HEADER_LOOKUP not in text:
        raise RuntimeError(f"bench_staff.py's wrk script no longer has {HEADER_LOOKUP!r}: update {Path(__file__).name}")
    path.write_text(text.replace(HEADER_LOOKUP, HEADER_LOOKUP + ' or headers["x-cep-cache"]'), encoding="utf-8")
    return path


class Runner:
    """Runs one load against one set-up with wrk, and checks it."""

    def __init__(self, args, script):
        self.args, self.script = args, script
        self.runs = 0  # numbers the e-mail tags: no two wrk runs share an address

    def run(self, setup, load, seconds):
        """(figures, problems) of one wrk run of `load` against `setup`."""
        self.runs += 1
        mode = "create" if load == "create-hit" else "get"
        command = wrk_command(self.args, seconds, self.script, setup.front.base_url, mode, f"r{self.runs}")
        command[1:1] = ["--timeout", f"{self.args.wrk_timeout}s"]
        before = [settled_counters(process) for process in setup.processes]
        output, counts = run_wrk(command, RESULT_LINE, f"{setup.label} {LOAD_LABELS[load]}")
        after = [settled_counters(process) for process in setup.processes]
        served = [a[0] + a[1] - b[0] - b[1] for a, b in zip(after, before)]  # per process: hits + misses
        first_bad = re.search(r"^FIRST_BAD (.*)$", output, re.MULTILINE)
        first_other = re.search(r"^FIRST_OTHER (.*)$", output, re.MULTILINE)
        figures = {
            **speed(counts),  # rps, p50, p99
            "counts": counts,
            "server_hits": sum(a[0] - b[0] for a, b in zip(after, before)),
            "server_misses": sum(a[1] - b[1] for a, b in zip(after, before)),
            "first_bad": first_bad.group(1) if first_bad else "",
            "first_other": first_other.group(1) if first_other else "",
            "served": served,
        }
        problems = check(load, figures)
        idle = [process.name for process, count in zip(setup.processes, served) if count == 0]
        if idle:
            problems.append(f"{', '.join(idle)} served no request: HAProxy went around them")
        return figures, problems


def describe(figures):
    """One line of a run's figures."""
    c = figures["counts"]
    spread = ""
    if len(figures["served"]) > 1:
        total = max(sum(figures["served"]), 1)
        spread = "  per process " + "/".join(f"{count / total:.0%}" for count in figures["served"])
    return (f"{figures['rps']:8,.0f} req/s  p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:7.2f} ms  "
            f"({c['requests']:,} requests, X-Cep-Cache hit {c['hit']:,}){spread}")


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def print_results(args, setups, runs):
    """The medians table, the ratios to the baseline, and the scaling hint."""
    medians = {(setup.label, load): median_speed(runs[(setup.label, load)]) for setup in setups for load in LOADS}
    print(f"\nmedians over {args.rounds} rounds of {args.duration} s, wrk -t{args.wrk_threads} -c{args.connections}, "
          f"{args.hit_ceps} cached CEPs; ratios: req/s of the set-up / req/s of {BASELINE}\n")
    lines = [("set-up", "creates req/s", "creates p99 ms", "hits req/s", "hits p99 ms",
              "creates vs SQLite 1", "hits vs SQLite 1")]
    for setup in setups:
        create, hit = medians[(setup.label, "create-hit")], medians[(setup.label, "addresses-hit")]
        base_create, base_hit = medians[(BASELINE, "create-hit")], medians[(BASELINE, "addresses-hit")]
        lines.append((setup.label, f"{create['rps']:,.0f}", f"{create['p99']:.2f}", f"{hit['rps']:,.0f}",
                      f"{hit['p99']:.2f}", f"{create['rps'] / base_create['rps']:.2f}x",
                      f"{hit['rps'] / base_hit['rps']:.2f}x"))
    print_table(lines)

    # Per round, each set-up against the baseline run of the same round (a minute apart at most).
    print("\nper round, req/s / the same round's SQLite 1 process (creates; hits):")
    for setup in setups[1:]:
        cells = []
        for load in LOADS:
            pairs = zip(runs[(setup.label, load)], runs[(BASELINE, load)])
            cells.append(", ".join(f"{run['rps'] / base['rps']:.2f}" for run, base in pairs))
        print(f"  {setup.label:33} {cells[0]};  {cells[1]}")

    one = "PostgreSQL, 1 process, HAProxy"
    through = [medians[(one, load)]["rps"] / medians[("PostgreSQL, 1 process", load)]["rps"] for load in LOADS]
    scaling = []
    for count in (2, 4):
        label = f"PostgreSQL, {count} processes, HAProxy"
        scaling.append(f"{count} processes: creates {medians[(label, 'create-hit')]['rps'] / medians[(one, 'create-hit')]['rps']:.2f}, "
                       f"hits {medians[(label, 'addresses-hit')]['rps'] / medians[(one, 'addresses-hit')]['rps']:.2f}")
    cpus = os.cpu_count()
    print(f"\nHAProxy's own cost, 1 PostgreSQL process, req/s through it / directly: creates {through[0]:.2f}, "
          f"hits {through[1]:.2f}")
    print(f"scaling over 1 PostgreSQL process through HAProxy: {'; '.join(scaling)} -- of at most {cpus} "
          f"on {cpus} CPUs, which wrk, HAProxy and PostgreSQL share with the staff processes")
    print(f"where scaling stops on a {cpus}-CPU machine, and why, is for the README (issue #12)")


def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk() or not check_tools():
        return 1
    started = time.monotonic()
    print_machine()
    print_service_settings()
    haproxy_version = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"HAProxy: {haproxy_version.split(' - ')[0]}; PostgreSQL: {PG_BIN.parent.name}, a throwaway cluster, "
          f"fsync on, synchronous_commit {args.synchronous_commit}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    all_ceps = read_ceps(args.sample_csv)
    hit_ceps = random.Random(args.seed).sample(all_ceps, min(args.hit_ceps, len(all_ceps)))
    servers, problems, deadlocks = [], [], {}
    cluster = PostgresCluster(args.synchronous_commit)
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        workdir = Path(tmp)
        try:
            seed_cep_api(workdir / "cep.sqlite3", args.sample_csv)
            cep = start_cep_api("cep_api", workdir / "cep.sqlite3", workdir / "cep_api.log", servers)
            get_every_cep(cep, hit_ceps)
            cluster.start()
            setups = start_setups(args, workdir, cep, cluster, servers)
            fetched = warm(setups, hit_ceps)
            print(f"set-ups: {' | '.join(setup.label for setup in setups)}; {len(servers)} servers up "
                  f"(1 cep_api, {sum(s.name.startswith('staff') for s in servers)} staff_api, "
                  f"{sum(s.name.startswith('haproxy') for s in servers)} HAProxy)")
            print(f"{len(hit_ceps)} CEPs cached in every staff process ({fetched} fetches from cep_api, "
                  f"one per CEP and database)")
            script = write_script(hit_ceps, args.wrk_threads, workdir / "hit.lua")
            runner = Runner(args, script)
            shown = wrk_command(args, args.duration, "hit.lua", "<url>", "create|get", "<tag>")
            print("wrk:", shlex.join(shown[:1] + ["--timeout", f"{args.wrk_timeout}s"] + shown[1:]))

            if args.warmup:
                print(f"\nwarm-up: {args.warmup} s of wrk per set-up and load (not measured)")
                for setup in setups:
                    for load in LOADS:
                        figures, found = runner.run(setup, load, args.warmup)
                        problems += [f"warm-up {setup.label} {LOAD_LABELS[load]}: {p}" for p in found]
                        print(f"  {setup.label:33} {LOAD_LABELS[load]:7}  {figures['rps']:8,.0f} req/s")

            runs = {(setup.label, load): [] for setup in setups for load in LOADS}
            print(f"\n{args.rounds} rounds of {args.duration} s: every set-up, creates then hits; "
                  f"the set-ups' order flips every round")
            for number in range(1, args.rounds + 1):
                for setup in (setups if number % 2 else setups[::-1]):
                    for load in LOADS:
                        figures, found = runner.run(setup, load, args.duration)
                        runs[(setup.label, load)].append(figures)
                        problems += [f"round {number} {setup.label} {LOAD_LABELS[load]}: {p}" for p in found]
                        print(f"round {number}/{args.rounds}  {setup.label:33} {LOAD_LABELS[load]:7}  {describe(figures)}")
            deadlocks = cluster.deadlocks()
        finally:
            for server in reversed(servers):  # the proxies first, then the staff processes, cep_api last
                server.stop()
            cluster.stop()

    print_results(args, setups, runs)
    print("\nchecks (measured rounds):")
    for load in LOADS:
        totals = {name: sum(run["counts"][name] for setup in setups for run in runs[(setup.label, load)])
                  for name in ("requests", "hit", "bad_status", "socket_errors")}
        print(f"  {LOAD_LABELS[load]:7}  {totals['requests']:,} answers, X-Cep-Cache hit {totals['hit']:,}; "
              f"non-{201 if load == 'create-hit' else 200}: {totals['bad_status']:,}; "
              f"socket errors: {totals['socket_errors']:,}")
    if deadlocks:
        # Not the benchmark's fault, and every answer was still right: a finding about the service.
        print("  NOTE: PostgreSQL logged deadlocks (between the staff processes' cache housekeeping writes, "
              "staff_api/cep_cache.py): " + ", ".join(f"{name} {count}" for name, count in sorted(deadlocks.items())))
    for problem in problems[:20]:
        print(f"  INVALID: {problem}")
    if len(problems) > 20:
        print(f"  INVALID: ... and {len(problems) - 20} more")
    if not problems:
        print("  all as expected: every answer a hit, every POST a 201, every process behind HAProxy served")
    print("\nload average after (this benchmark's own load included): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print_command_and_time(started)
    return 1 if problems else 0


if __name__ == "__main__":
    run_benchmark(main)
