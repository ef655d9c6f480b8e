"""Every benchmark of the project, one runner:  python bench/run.py [SCENARIO ...] [options]

    python bench/run.py --list       the scenarios, what each measures, how long it takes
    python bench/run.py --targets    the three ratios a refactor must keep, PASS or MISS

Most scenarios compare requests/s with wrk in one loop, compare(): rounds alternate between the
targets, and each is judged against a baseline measured in the same run. The others time what wrk
cannot (memory, searches over 1.1M rows, ...). Every answer is checked: one wrong answer stops the
run, because figures of wrong answers measure nothing. docs/performance.md explains it all.
"""
import argparse
import http.client
import importlib.util
import itertools
import os
import random
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import requests

from benchlib import (BENCH_DIR, DEFAULT_FULL_CSV, HAPROXY, PG_BIN, REPO_ROOT, SAMPLE_CSV, PostgresCluster, Server,
                      empty_staff_cache, fill_staff_cache, free_port, haproxy_config, medians, percentile,
                      print_machine, print_table, python_env, read_rows, run_wrk, settled_counters, staff_get,
                      staff_headers, write_wrk_script, wrk_command)

NUMBERS = itertools.count(1)  # numbers files and wrk runs: no two share a name, nor an e-mail address


class Run:
    """What the scenarios of one run share: options, a temporary directory, servers, seeded databases."""

    def __init__(self, args, workdir):
        """An empty run: no server, nothing seeded."""
        self.args, self.workdir = args, workdir
        self.servers, self.cleanups = [], []  # the current scenario's; stopped when it ends
        self.seeded, self.memo, self.verdicts, self.scenario = {}, {}, [], ""

    def path(self, name, suffix):
        """A new file name in the temporary directory."""
        return self.workdir / f"{next(NUMBERS)}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}{suffix}"

    def start(self, name, command, env, port, ready="/health"):
        """Start a server; it joins the list first, so that one which fails half-way is stopped too."""
        server = Server(name, command, env, port, self.path(name, ".log"))
        self.servers.append(server)
        return server.start(ready)

    def cep_api(self, name, db, **env):
        """`python -m cep_api` on the SQLite file db."""
        port = free_port()
        return self.start(name, [sys.executable, "-m", "cep_api"],
                          python_env(CEP_API_HOST="127.0.0.1", CEP_API_PORT=port, CEP_API_DB=db, **env), port)

    def staff_api(self, name, cep, db=None, **env):
        """`python -m staff_api` asking `cep`, on its own new SQLite file unless told otherwise."""
        port = free_port()
        return self.start(name, [sys.executable, "-m", "staff_api"], python_env(
            STAFF_API_HOST="127.0.0.1", STAFF_API_PORT=port, STAFF_API_DB=db or self.path(name, ".sqlite3"),
            CEP_API_URL=cep.base_url, STAFF_CEP_TIMEOUT=5,
            # A day: no entry may expire (and be fetched again) during a run.
            STAFF_CEP_CACHE_TTL=86400, STAFF_CEP_NEGATIVE_TTL=300, **env), port)

    def hello(self):
        """bench/hello_app.py: Bottle + waitress answering any GET path, the ceiling of the comparisons."""
        port = free_port()
        return self.start("hello-world", [sys.executable, str(BENCH_DIR / "hello_app.py"), str(port)],
                          python_env(), port)

    def seeded_db(self, csv_path, copy=False):
        """(database, rows) seeded from csv_path, or a copy of it for a scenario that writes to it."""
        # Seeding the 1.1M rows takes a minute: it is done once per run, and shared.
        if csv_path not in self.seeded:
            db, started = self.path(Path(csv_path).name, ".sqlite3"), time.monotonic()
            print(f"seeding {csv_path} ...", flush=True)
            result = subprocess.run([sys.executable, "-m", "cep_api", "seed", str(csv_path)], cwd=REPO_ROOT,
                                    env=python_env(CEP_API_DB=db), capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"seeding {csv_path} failed:\n{result.stdout}{result.stderr}")
            # The 1.1M rows leave ~150 MB of dirty pages: written now, not during a measured round.
            os.sync()
            with sqlite3.connect(db) as connection:
                rows = connection.execute("SELECT count(*) FROM cep").fetchone()[0]
            print(f"seeded {rows:,} rows in {time.monotonic() - started:.0f} s")
            self.seeded[csv_path] = db, rows
        db, rows = self.seeded[csv_path]
        if copy:
            db, original = self.path("copy", ".sqlite3"), db
            db.write_bytes(original.read_bytes())
        return db, rows

    def pick(self, csv_path, count):
        """`count` CEPs of csv_path in a random order, the same in every run (a seeded RNG)."""
        ceps = [cep for (cep,) in read_rows(csv_path, "cep")]
        return random.Random(self.args.seed).sample(ceps, min(count, len(ceps)))

    def cpu_seconds(self):
        """The CPU time the scenario's servers have used so far, or None (not Linux)."""
        used = [server.cpu_seconds() for server in self.servers]
        return None if None in used else sum(used)

    def stop_servers(self):
        """Stop the scenario's servers, the last started first (a proxy before what is behind it)."""
        for server in reversed(self.servers):
            server.stop()
        for cleanup in reversed(self.cleanups):
            cleanup()
        self.servers, self.cleanups = [], []

    def judge(self, figures, goals):
        """Print each goal's figure, what is wanted, and PASS or MISS (or "-": a figure to read only)."""
        lines = [("goal", "measured", "wanted", "result")]
        for label, a, b, metric, op, bound in goals:
            value = figures[a][metric] / figures[b][metric] if b else figures[a][metric]
            # A share of a baseline reads best in %, a multiple of it as 1.56x.
            unit = " ms" if not b else "%" if metric == "rps" and bound is not None and bound < 1 else "x"
            shown = f"{value:.0%}" if unit == "%" else f"{value:.2f}{unit}"
            if b:
                digits = 0 if metric == "rps" else 2
                shown += f" ({figures[a][metric]:,.{digits}f} / {figures[b][metric]:,.{digits}f})"
            wanted = "" if op is None else f"{op} {bound:.0%}" if unit == "%" else f"{op} {bound:g}{unit}"
            result = "-" if op is None else "PASS" if (value >= bound if op == ">=" else value <= bound) else "MISS"
            lines.append((label, shown, wanted, result))
            self.verdicts.append((self.scenario, *lines[-1]))
        print()
        print_table(lines)


def get_each(server, paths, want=None):
    """GET each path once: fills the memo of answers, and proves that each is a 200 (and pleases `want`)."""
    with requests.Session() as session:
        for path in paths:
            reply = session.get(server.base_url + path, timeout=30)
            if reply.status_code != 200 or (want and not want(path, reply)):
                raise RuntimeError(f"{server.name}: GET {path} answered {reply.status_code} {reply.text[:200]!r}; "
                                   f"the benchmark would be meaningless")


# --- The one comparison loop -----------------------------------------------------------------

@dataclass
class Target:
    """One thing wrk loads in a comparison: a server, what to ask it, and what every answer must be."""
    name: str
    server: Server
    items: list  # paths to GET, or (mode "create") the CEPs of new employees
    mode: str = "get"
    status: int = 200
    cache: str = ""  # the X-Cep-Cache every answer must carry ("hit", "miss"); "" checks none
    counters: list = field(default_factory=list)  # staff processes whose own hit/miss counters must agree
    baseline: str = ""  # the target its ratio is taken to: "" the comparison's first, None none
    before: object = None  # run before each wrk run, outside the timing (fills or empties the cache)
    unique: bool = False  # never asks twice for one item: its runs are shortened so it cannot run out


def measure(run, target, seconds, connections, options):
    """One wrk run of `target`, checked; its figures (req/s, p50, p99, CPU ms per request)."""
    if target.before:
        target.before()
    counters, cpu = [settled_counters(server) for server in target.counters], run.cpu_seconds()
    figures = run_wrk(wrk_command(target.script, target.server.base_url, seconds, connections, options,
                                  (target.mode, f"r{next(NUMBERS)}", target.status)))
    cpu_after = run.cpu_seconds()  # before reading the counters: that is not load
    after = [settled_counters(server) for server in target.counters]
    figures["cpu_ms"] = None if None in (cpu, cpu_after) else 1000 * (cpu_after - cpu) / max(figures["requests"], 1)
    figures["served"] = [sum(a) - sum(b) for a, b in zip(after, counters)]  # per process: hits + misses
    problems = []
    if figures["bad"]:
        problems.append(f"{figures['bad']} answers were not {target.status} (first: {figures['first_bad']})")
    if figures["socket_errors"]:
        problems.append(f"{figures['socket_errors']} socket errors")
    if target.cache:
        if figures["requests"] != figures[target.cache]:
            problems.append(f"{figures['requests'] - figures[target.cache]} answers had an X-Cep-Cache other than "
                            f"{target.cache!r}")
        other = 1 if target.cache == "hit" else 0  # counters are (hits, misses): a hit run must add no miss
        unwanted = sum(a[other] - b[other] for a, b in zip(after, counters))
        if unwanted:
            problems.append(f"the service counted {unwanted} {'misses' if target.cache == 'hit' else 'hits'}")
        idle = [server.name for server, served in zip(target.counters, figures["served"]) if not served]
        if idle:
            problems.append(f"{', '.join(idle)} served no request: HAProxy went around them")
    if problems:
        raise RuntimeError(f"{target.name}: {'; '.join(problems)}; its figures would be meaningless")
    return figures


def describe(target, figures):
    """One line of a wrk run's figures."""
    line = (f"{figures['rps']:8,.0f} req/s  p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:7.2f} ms  "
            f"({figures['requests']:,} requests")
    if figures["cpu_ms"] is not None:
        line += f", CPU {figures['cpu_ms']:.2f} ms/req"
    if target.cache:
        line += f", X-Cep-Cache {target.cache} {figures[target.cache]:,}"
    if len(figures["served"]) > 1:
        line += ", per process " + "/".join(f"{n / max(sum(figures['served']), 1):.0%}" for n in figures["served"])
    return line + ")"


def compare(run, targets, goals, connections=8, options=()):
    """The one alternating-rounds loop: warm up, measure every target each round, report, judge the goals."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    args, connections = run.args, run.args.connections or connections
    for target in targets:
        target.script = write_wrk_script(run.path(target.name, ".lua"), target.items)
        target.seconds = args.seconds
        if target.baseline == "":
            target.baseline = targets[0].name if target is not targets[0] else None
    print("wrk:", shlex.join(wrk_command("<target>.lua", "<url>", args.seconds, connections, options,
                                         ("get|create", "<tag>", "<status>"))))
    if args.warmup:
        print(f"warm-up: {args.warmup} s of wrk per target (not measured)")
        for target in targets:
            figures = measure(run, target, args.warmup, connections, options)
            if target.unique:
                # At the warm-up's rate, a run may use at most 70% of the items never asked for.
                target.seconds = max(1, min(args.seconds, int(0.7 * len(target.items) / max(figures["rps"], 1))))
                if target.seconds < args.seconds:
                    print(f"{target.name}: runs of {target.seconds} s, so as not to run out of new items")
    runs = {target.name: [] for target in targets}
    for number in range(1, args.rounds + 1):
        # Forward, then backward: a drift of the machine (other work, the CPU's clock) touches every
        # target alike, and no target always runs first.
        for target in targets if number % 2 else targets[::-1]:
            runs[target.name].append(measure(run, target, target.seconds, connections, options))
            print(f"round {number}/{args.rounds}  {target.name:38} {describe(target, runs[target.name][-1])}")
    figures = {name: medians(name_runs) for name, name_runs in runs.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.seconds} s, wrk -t1 -c{connections}; ratio: req/s of the "
          f"target / req/s of its baseline; round ratio: the median of each round's, two runs seconds apart\n")
    lines = [("target", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "ratio", "round ratio", "baseline")]
    for target in targets:
        mine, base = figures[target.name], figures.get(target.baseline)
        rounds = [a["rps"] / b["rps"] for a, b in zip(runs[target.name], runs.get(target.baseline, []))]
        lines.append((target.name, f"{mine['rps']:,.0f}", f"{mine['p50']:.2f}", f"{mine['p99']:.2f}",
                      "-" if mine["cpu_ms"] is None else f"{mine['cpu_ms']:.2f}",
                      f"{mine['rps'] / base['rps']:.0%}" if base else "-",
                      f"{statistics.median(rounds):.0%}" if rounds else "-", target.baseline or "-"))
    print_table(lines)
    print("CPU ms/req: the CPU time of all the scenario's servers during a run, per request answered")
    run.judge(figures, goals)


# --- Scenarios: wrk comparisons --------------------------------------------------------------

def cep_lookup(run, csv_path, wanted):
    """GET /ceps/{cep} against the hello-world, over 1,000 CEPs of csv_path."""
    db, rows = run.seeded_db(csv_path)
    paths = [f"/ceps/{cep}" for cep in run.pick(csv_path, 1000)]
    hello, cep = run.hello(), run.cep_api("cep_api", db)
    get_each(cep, paths)
    name = f"GET /ceps/{{cep}}, {rows:,} rows"
    compare(run, [Target("hello-world", hello, paths), Target(name, cep, paths)],
            [(f"{name}: req/s / hello-world's", name, "hello-world", "rps", ">=", wanted)])


def staff_speed(run, connections):
    """The staff API's cache: GET /addresses and POST /employees on a hit (at -c8 on a miss too)."""
    db, _ = run.seeded_db(SAMPLE_CSV)
    hello, cep = run.hello(), run.cep_api("cep_api", db)
    staff = run.staff_api("staff_api", cep)
    everything = run.pick(SAMPLE_CSV, 10 ** 9)  # all, shuffled
    hits, paths = everything[:200], [f"/addresses/{number}" for number in everything[:200]]
    # cep_api's memo is warm, so a miss costs what it costs in a long-running deployment.
    get_each(cep, [f"/ceps/{number}" for number in everything])
    fill = lambda: fill_staff_cache(staff, hits)  # noqa: E731 (a miss run empties the cache)
    targets = [Target("hello-world", hello, paths),
               Target("GET /addresses/{cep}, hit", staff, paths, cache="hit", counters=[staff], before=fill),
               Target("POST /employees, CEP hit", staff, hits, "create", 201, "hit", [staff], before=fill)]
    goals = [(f"GET /addresses/{{cep}} hit, -c{connections}: req/s / hello-world's", targets[1].name, "hello-world",
              "rps", ">=", 0.60),
             (f"GET /addresses/{{cep}} hit, -c{connections}: p99 / hello-world's", targets[1].name, "hello-world",
              "p99", "<=", 3)]
    if connections == 8:
        # Every create a CEP not asked for since the cache was emptied: each one a miss.
        targets.append(Target("POST /employees, CEP miss", staff, everything, "create", 201, "miss", [staff],
                              before=lambda: empty_staff_cache(staff), unique=True))
        goals.append(("POST /employees: req/s on a hit / on a miss", targets[2].name, targets[3].name, "rps", ">=", 2))
    else:
        goals.append((f"POST /employees, CEP hit, -c{connections}: p99", targets[2].name, None, "p99", "<=", 40))
    compare(run, targets, goals, connections)


def request_log(run, with_hello):
    """Each service's request log off and on; with the hello-world, the three ratios a refactor must keep."""
    ceps, hits = run.pick(SAMPLE_CSV, 1000), run.pick(SAMPLE_CSV, 200)
    cep_paths, paths = [f"/ceps/{cep}" for cep in ceps], [f"/addresses/{cep}" for cep in hits]
    # A log writes to its database: each CEP API has a copy of its own. Both staff APIs ask the
    # CEP API whose log is off.
    cep = {log: run.cep_api(f"cep_api, log {log}", run.seeded_db(SAMPLE_CSV, copy=True)[0], CEP_API_LOG=log)
           for log in ("off", "on")}
    staff = {log: run.staff_api(f"staff_api, log {log}", cep["off"], STAFF_API_LOG=log) for log in ("off", "on")}
    for log in ("off", "on"):
        get_each(cep[log], cep_paths)
        fill_staff_cache(staff[log], hits)
    first = "" if with_hello else None  # the log-off twins are compared with the hello-world, if it runs
    targets = [Target("hello-world", run.hello(), cep_paths)] if with_hello else []
    targets += [Target("GET /ceps/{cep}, log off", cep["off"], cep_paths, baseline=first),
                Target("GET /ceps/{cep}, log on", cep["on"], cep_paths, baseline="GET /ceps/{cep}, log off")]
    targets += [Target(f"GET /addresses/{{cep}} hit, log {log}", staff[log], paths, cache="hit",
                       counters=[staff[log]], before=lambda log=log: fill_staff_cache(staff[log], hits),
                       baseline=first if log == "off" else "GET /addresses/{cep} hit, log off")
                for log in ("off", "on")]
    goals = []
    if with_hello:
        goals += [(f"{name}, log off: req/s / hello-world's", f"{name}, log off", "hello-world", "rps", ">=", share)
                  for name, share in (("GET /ceps/{cep}", 0.70), ("GET /addresses/{cep} hit", 0.60))]
    for name in ("GET /ceps/{cep}", "GET /addresses/{cep} hit"):
        on, off = f"{name}, log on", f"{name}, log off"
        goals.append((f"{name}, log on / off: req/s (costs <= 8%)", on, off, "rps", ">=", 0.92))
        if not with_hello:
            goals.append((f"{name}, log on / off: p99", on, off, "p99", "<=", 1.2))
    compare(run, targets, goals)


def viacep(run):
    """GET /ws/{cep}/json/ (ViaCEP's shape) against GET /ceps/{cep}, one server, the same 1,000 CEPs."""
    cep = run.cep_api("cep_api", run.seeded_db(SAMPLE_CSV)[0])
    ceps = run.pick(SAMPLE_CSV, 1000)
    get_each(cep, [f"/ceps/{number}" for number in ceps])
    # A {"erro": "true"} is a 200 too: each answer must be the record asked for.
    get_each(cep, [f"/ws/{number}/json/" for number in ceps],
             lambda path, reply: reply.json().get("cep", "").replace("-", "") in path)
    targets = [Target("GET /ceps/{cep}", cep, [f"/ceps/{number}" for number in ceps]),
               Target("GET /ws/{cep}/json/", cep, [f"/ws/{number}/json/" for number in ceps])]
    compare(run, targets, [("GET /ws/{cep}/json/: req/s / GET /ceps/{cep}'s", targets[1].name, targets[0].name,
                            "rps", ">=", 0.90)])


def scale_out(run):
    """The staff API on 1, 2 and 4 processes over PostgreSQL (through HAProxy) against 1 over SQLite."""
    if HAPROXY is None or PG_BIN is None or importlib.util.find_spec("psycopg2") is None:
        raise RuntimeError("scale-out needs HAProxy, PostgreSQL and psycopg2: apt-get install haproxy postgresql; "
                           ".venv/bin/pip install -r requirements-postgres.txt")
    cep = run.cep_api("cep_api", run.seeded_db(SAMPLE_CSV)[0])
    hits = run.pick(SAMPLE_CSV, 200)
    get_each(cep, [f"/ceps/{number}" for number in hits])
    cluster = PostgresCluster()
    run.cleanups.append(cluster.stop)
    cluster.start()
    sqlite = run.staff_api("staff sqlite", cep)
    setups = [("SQLite, 1 process", [sqlite], sqlite)]
    for count in (1, 2, 4):  # the processes of one set-up share a database
        cluster.sql(f"CREATE DATABASE staff{count}")
        url = cluster.url(f"staff{count}")
        processes = [run.staff_api(f"staff pg{count}-{number}", cep, STAFF_API_DATABASE_URL=url)
                     for number in range(1, count + 1)]
        port, config = free_port(), run.path(f"haproxy-{count}", ".cfg")
        config.write_text(haproxy_config(cep.port, [process.port for process in processes], port), encoding="utf-8")
        proxy = run.start(f"haproxy-{count}", [HAPROXY, "-f", str(config), "-db"], python_env(), port)
        if count == 1:  # the same process directly, then through the proxy: the difference is the proxy's
            setups.append(("PostgreSQL, 1 process", processes, processes[0]))
        setups.append((f"PostgreSQL, {count} process{'es' * (count > 1)}, HAProxy", processes, proxy))
    for process in [sqlite] + [p for _, processes, _ in setups[1:] for p in processes]:
        fill_staff_cache(process, hits)  # each process holds them in memory
    for label, processes, front in setups:  # and each answers through its proxy
        seen, deadline = set(), time.monotonic() + 10
        while front not in processes and len(seen) < len(processes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: not every process answered through HAProxy ({sorted(seen)})")
            seen.add(staff_get(front, f"/addresses/{hits[0]}").headers.get("X-Served-By"))
    targets, base = [], setups[0][0]
    for label, processes, front in setups:
        for load, mode, items, status in (("creates", "create", hits, 201),
                                          ("hits", "get", [f"/addresses/{number}" for number in hits], 200)):
            targets.append(Target(f"{label}: {load}", front, items, mode, status, "hit", processes,
                                  baseline=None if label == base else f"{base}: {load}"))
    one = "PostgreSQL, 1 process, HAProxy"
    goals = [(f"HAProxy's cost, {load}: req/s through it / directly", f"{one}: {load}",
              f"PostgreSQL, 1 process: {load}", "rps", None, None) for load in ("creates", "hits")]
    goals += [(f"{count} processes / 1, {load}, through HAProxy", f"PostgreSQL, {count} processes, HAProxy: {load}",
               f"{one}: {load}", "rps", None, None) for count in (2, 4) for load in ("creates", "hits")]
    # wrk's own 2 s timeout would drop slow answers as errors instead of counting them in the p99.
    compare(run, targets, goals, connections=16, options=("--timeout", "10s"))
    deadlocks = cluster.deadlocks()
    if deadlocks:  # every answer was still right: a finding about the service, not the figures
        print("NOTE: PostgreSQL logged deadlocks: " + ", ".join(f"{db} {n}" for db, n in sorted(deadlocks.items())))


# --- Scenarios: what wrk cannot measure --------------------------------------------------------

def look_up(staff, ceps, expected):
    """GET /addresses/{cep} once per CEP over 16 keep-alive connections; (seconds, latencies in ms)."""
    todo, lock, latencies, wrong = iter(ceps), threading.Lock(), [], []

    def worker():
        """Send lookups until none is left, or one answer was wrong."""
        connection = http.client.HTTPConnection("127.0.0.1", staff.port, timeout=60)
        try:
            while not wrong:
                with lock:
                    cep = next(todo, None)
                if cep is None:
                    return
                began = time.perf_counter()
                connection.request("GET", f"/addresses/{cep}", headers=headers)
                answer = connection.getresponse()
                body = answer.read()
                with lock:
                    latencies.append(1000 * (time.perf_counter() - began))
                    if (answer.status, answer.getheader("X-Cep-Cache")) != (200, expected):
                        wrong.append(f"GET /addresses/{cep}: {answer.status}, X-Cep-Cache "
                                     f"{answer.getheader('X-Cep-Cache')}, {body[:200]!r}")
        except (OSError, http.client.HTTPException) as error:
            wrong.append(f"GET /addresses/{cep}: {error!r}")
        finally:
            connection.close()

    headers, threads = staff_headers(), [threading.Thread(target=worker, daemon=True) for _ in range(16)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.25)
        elapsed = time.monotonic() - started
        if int(elapsed / 15) != int((elapsed - 0.25) / 15):  # a sign of life every 15 s
            rate = len(latencies) / elapsed
            print(f"  {len(latencies):9,} / {len(ceps):,} lookups in {elapsed:4.0f} s, {rate:,.0f}/s, about "
                  f"{(len(ceps) - len(latencies)) / max(rate, 1) / 60:.1f} min left; staff VmRSS "
                  f"{staff.memory_mib():.1f} MiB", flush=True)
    if wrong:
        raise RuntimeError(f"{wrong[0]} (expected a 200 and a {expected}); the figures would be meaningless")
    return time.monotonic() - started, latencies


def memory(run, count, passes):
    """The staff process's memory and database after `count` distinct lookups, asked `passes` times."""
    # A first lookup is a miss, stored in the table only; a second reads it back as a hit, and only
    # then is the entry kept in memory: a second pass fills the in-memory layer to its bound.
    db, _ = run.seeded_db(run.args.full_csv)
    ceps = run.pick(run.args.full_csv, run.args.lookups or count)
    cep = run.cep_api("cep_api", db)
    staff_db = run.path("staff", ".sqlite3")
    staff = run.staff_api("staff_api", cep, staff_db)
    before, cep_before = staff.memory_mib(), cep.memory_mib()
    lines = [("figure", "value"), ("staff_api VmRSS before", f"{before:.1f} MiB")]
    for number in range(1, passes + 1):
        expected = "miss" if number == 1 else "hit"
        print(f"pass {number}: {len(ceps):,} lookups over 16 keep-alive connections, every one a {expected}",
              flush=True)
        seconds, latencies = look_up(staff, ceps, expected)
        data = staff_get(staff, "/cep-cache?per_page=1").json()
        if data["total"] != len(ceps):
            raise RuntimeError(f"{data['total']:,} cache rows after {len(ceps):,} distinct CEPs")
        rss, wal = staff.memory_mib(), Path(f"{staff_db}-wal")
        size, wal_size = staff_db.stat().st_size, wal.stat().st_size if wal.exists() else 0
        what = f"after pass {number} ({len(ceps):,} {'misses' if number == 1 else 'hits'})"
        lines += [(f"staff_api VmRSS {what}", f"{rss:.1f} MiB (+{rss - before:.1f} MiB since before, "
                                               f"{(rss - before) * 2 ** 20 / len(ceps):,.0f} bytes per CEP); "
                                               f"peak (VmHWM) {staff.memory_mib('VmHWM'):.1f} MiB"),
                  (f"staff database file {what}", f"{size / 2 ** 20:.1f} MiB + WAL {wal_size / 2 ** 20:.1f} MiB "
                                                  f"({(size + wal_size) / data['total']:,.0f} bytes per cache row)"),
                  (f"cache rows {what}", f"{data['total']:,} (GET /cep-cache total, as expected); counters since "
                                         f"start: misses {data['misses']:,}, hits {data['hits']:,}"),
                  (f"speed of pass {number}", f"{len(ceps) / seconds:,.0f} lookups/s over {seconds:.0f} s, "
                                              f"p50 {percentile(latencies, 0.5):.1f} ms, "
                                              f"p99 {percentile(latencies, 0.99):.1f} ms")]
    lines.append(("cep_api VmRSS before / after (for reference)", f"{cep_before:.1f} / {cep.memory_mib():.1f} MiB"))
    print()
    print_table(lines, left=(1,))


def fill_log(db, rows, staff):
    """Add `rows` request-log rows over the last hour to a service's database, straight with sqlite3."""
    # The service made the table at its start. The columns are named: the table may gain more.
    now, rng = time.time(), random.Random(7)
    routes = (["/addresses/<cep>", "/employees", "/employees/<employee_id>", "/health", "/logs"] if staff
              else ["/ceps/<cep>", "/ceps", "/health", "/logs", "(none)"])
    with sqlite3.connect(db) as connection:
        # The CEP API's table may have the cache's columns too (one log for both services), empty.
        has_cache = {"cache", "cep_ms"} <= {row[1] for row in connection.execute("PRAGMA table_info(request_log)")}
        values = []
        for i in range(rows):
            # Durations to the microsecond, as the services write them.
            row = [now - 3600 * i / rows, rng.choice(("GET", "GET", "GET", "POST")), rng.choice(routes),
                   rng.choice((200, 200, 200, 201, 304, 404, 422, 500)), round(rng.lognormvariate(0, 1), 3),
                   rng.randrange(0, 400)]
            if staff:
                outcome = rng.choice(("hit", "hit", "hit", "miss", ""))
                row += [outcome, round(rng.lognormvariate(1, 1), 3) if outcome == "miss" else None]
            values.append(row + ["", None] * (has_cache and not staff))
        columns = "time, method, route, status, ms, bytes" + (", cache, cep_ms" if has_cache else "")
        connection.executemany(f"INSERT INTO request_log ({columns}) VALUES ({', '.join('?' * len(values[0]))})",
                               values)
    connection.close()


def wait_for_roll_up(name, db, timeout=120):
    """Wait until the log's writer thread has rolled up what it can: log_minute stops growing for 2 s."""
    deadline, last, steady_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as connection:
            count = connection.execute("SELECT count(*) FROM log_minute").fetchone()[0]
        connection.close()
        if count != last:
            last, steady_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - steady_since >= 2:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name}: the request log's minutes were not rolled up within {timeout} s")


def summary(run, rows=100_000, calls=20):
    """GET /logs/summary?minutes=60 over 100,000 rows: from the rows alone, then from rolled-up minutes."""
    # Logging off, nothing is rolled up yet; restarted with logging on, its writer thread rolls up the
    # minutes that are over, as a running service keeps them.
    cep_db, staff_db = run.seeded_db(SAMPLE_CSV, copy=True)[0], run.path("staff", ".sqlite3")
    timings = {}
    for log in ("off", "on"):
        cep = run.cep_api(f"cep_api, log {log}", cep_db, CEP_API_LOG=log)
        staff = run.staff_api(f"staff_api, log {log}", cep, staff_db, STAFF_API_LOG=log)
        for name, server, db in (("CEP API", cep, cep_db), ("staff API", staff, staff_db)):
            if log == "off":
                fill_log(db, rows, name == "staff API")
            else:
                wait_for_roll_up(name, db)
            with requests.Session() as session:
                counted = sum(route["count"] for route in
                              staff_get(server, "/logs/summary?minutes=60", session).json()["routes"])
                if counted < rows * 0.99:  # the first call is a check, and a warm-up
                    raise RuntimeError(f"{name}: the summary counted {counted} rows, not {rows}")
                timings[name, log] = []
                for _ in range(calls):
                    started = time.perf_counter()
                    staff_get(server, "/logs/summary?minutes=60", session)
                    timings[name, log].append(1000 * (time.perf_counter() - started))
        run.stop_servers()
    print(f"\nGET /logs/summary?minutes=60 over {rows:,} rows, {calls} calls each, medians:\n")
    lines, figures = [("service", "from rows ms", "rolled up ms", "slowest ms", "speed-up")], {}
    for name in ("CEP API", "staff API"):
        raw, rolled = statistics.median(timings[name, "off"]), statistics.median(timings[name, "on"])
        figures[name] = {"ms": rolled}
        lines.append((name, f"{raw:.0f}", f"{rolled:.0f}", f"{max(timings[name, 'on']):.0f}", f"{raw / rolled:.1f}x"))
    print_table(lines)
    run.judge(figures, [(f"{name}: summary, minutes rolled up, median", name, None, "ms", "<=", 200)
                        for name in ("CEP API", "staff API")])


COMMON_WORDS = ("Rua", "Silva", "Santos", "Jose", "Avenida")  # "Jose" finds "José": accents are ignored
NONSENSE = ("qxzj", "wkyqv", "zzxv")  # letters no Brazilian street name holds


def plain(text):
    """`text` without accents or capitals, spaces single: how the searches compare (for the checks)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def words(street):
    """The words of a street name a query can come from: letters only, 4 at least."""
    return [word for word in street.split() if len(word) >= 4 and word.isalpha()]


def sampled_rows(run):
    """--queries random rows (uf, town, street, district) of the full file, and the CEPs per town."""
    # One pass, once per run; reservoir sampling (Algorithm R) makes every row with a usable street
    # as likely as any other, without holding the 1.1M rows in memory.
    if "rows" not in run.memo:
        rng, chosen, towns, eligible, count = random.Random(run.args.seed), [], Counter(), 0, run.args.queries
        for row in read_rows(run.args.full_csv, "uf", "cidade", "logradouro", "bairro"):
            towns[row[:2]] += 1
            if words(row[2]):
                eligible += 1
                slot = len(chosen) if len(chosen) < count else rng.randrange(eligible)
                if slot < count:
                    chosen[slot:slot + 1] = [row]
        run.memo["rows"] = chosen, towns
    return run.memo["rows"]


def viacep_queries(run):
    """The address searches: random rows' streets, common words in big towns, searches matching nothing."""
    rows, towns = sampled_rows(run)
    rng, queries = random.Random(run.args.seed + 1), []
    for uf, town, street, _ in rows:
        word = rng.choice(words(street))
        length = rng.randint(4, min(12, len(word)))
        start = rng.randint(0, len(word) - length)
        queries.append(("random rows", uf, town, word[start:start + length]))
    biggest = [key for key, _ in towns.most_common(6)]
    for index, (uf, town) in enumerate(biggest):
        for number, word in enumerate(COMMON_WORDS):  # every other one as a user might type it: "sao paulo"
            queries.append(("big towns", uf, plain(town) if (index + number) % 2 else town, word))
    queries += [("no match", uf, town, word) for uf, town in biggest[:3] for word in NONSENSE]
    ufs = sorted({uf for uf, _ in towns})
    queries += [("no match", uf, "Cidade Inexistente", "Rua") for uf in rng.sample(ufs, 5)]
    queries += [("no match", rng.choice([other for other in ufs if other != uf]), town, "Rua")  # another UF's town
                for uf, town in biggest[:4]]
    return [(query[0], "/ws/" + "/".join(quote(part, safe="") for part in query[1:]) + "/json/", query)
            for query in queries]


def check_viacep(query, data):
    """(the records, what is wrong with them) for an address search."""
    group, uf, town, street = query
    if not isinstance(data, list):
        return [], f"not a list: {str(data)[:100]}"
    wrong = [f"record {r.get('cep')} is not of {uf}, {town}, *{street}*" for r in data
             if r.get("uf") != uf.upper() or plain(r.get("localidade", "")) != plain(town)
             or plain(street) not in plain(r.get("logradouro", ""))]
    if len(data) > 50 or [r["cep"] for r in data] != sorted(r["cep"] for r in data):
        wrong.append("more than 50 records, or not in CEP order")
    if group == "random rows" and not data:
        wrong.append("no record, though the row the query was made from matches")
    return data, "; ".join(wrong[:2])


def ceps_q_queries(run):
    """GET /ceps?q= as a user types it: street words, districts, words within a UF, common words, nonsense."""
    rows, _ = sampled_rows(run)
    rng, third, queries = random.Random(run.args.seed + 2), len(rows) // 3, []
    queries += [("street word", {"q": rng.choice(words(street))}) for _, _, street, _ in rows[:third]]
    queries += [("district", {"q": district}) for _, _, _, district in rows[third:third + third // 2] if district]
    queries += [("word + UF", {"uf": uf, "q": rng.choice(words(street))})
                for uf, _, street, _ in rows[third + third // 2:2 * third]]
    queries += [("common word", {"q": word}) for word in COMMON_WORDS + ("Centro",)]
    queries += [("no match", {"q": word}) for word in NONSENSE]
    return [(group, "/ceps?" + urlencode(params), params) for group, params in queries]


def check_ceps_q(query, data):
    """(the records, what is wrong with them) for a GET /ceps?q= answer."""
    records, key = data.get("items", []), plain(query["q"])
    wrong = [f"record {r.get('cep')} has no *{query['q']}*" for r in records
             if key not in plain(r.get("logradouro") or "") and key not in plain(r.get("bairro") or "")
             or r.get("uf") != query.get("uf", r.get("uf"))]
    if len(records) > 20 or [r["cep"] for r in records] != sorted(r["cep"] for r in records):
        wrong.append("more than a page, or not in CEP order")
    if data.get("total", 0) < len(records) or (query.get("q") not in COMMON_WORDS + NONSENSE + ("Centro",)
                                               and not data.get("total")):
        wrong.append(f"total {data.get('total')}, though the row the query was made from matches")
    return records, "; ".join(wrong[:2])


def search(run, name, build, check, cap, goal):
    """Time searches over the 1.1M rows one at a time, after a pass that checks every answer."""
    # The checking pass also warms SQLite's and the system's caches, as a running service has them.
    db, rows = run.seeded_db(run.args.full_csv)
    queries = build(run)
    cep = run.cep_api("cep_api", db)
    with requests.Session() as session:
        for checking in (True, False):
            timed = []  # (ms, records answered) per query
            for _, path, query in queries:
                started = time.perf_counter()
                reply = session.get(cep.base_url + path, timeout=60)
                body = reply.content  # the whole answer is read inside the timing
                ms = 1000 * (time.perf_counter() - started)
                records, wrong = check(query, reply.json()) if reply.status_code == 200 else ([], body[:200])
                if reply.status_code != 200 or wrong and checking:
                    raise RuntimeError(f"GET {path} answered {reply.status_code}: {wrong}")
                timed.append((ms, len(records)))
    print(f"\n{name} over {rows:,} rows, {len(queries)} queries one at a time, after a pass that checked them:\n")
    lines, figures = [("queries", "count", "p50 ms", "p95 ms", "max ms", f"at cap ({cap})", "empty")], {}
    for group in list(dict.fromkeys(query[0] for query in queries)) + ["all"]:
        picked = [t for query, t in zip(queries, timed) if group in ("all", query[0])]
        ms = [t[0] for t in picked]
        figures[group] = {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95)}
        lines.append((group, str(len(ms)), f"{figures[group]['p50']:.1f}", f"{figures[group]['p95']:.1f}",
                      f"{max(ms):.1f}", str(sum(n >= cap for _, n in picked)), str(sum(n == 0 for _, n in picked))))
    print_table(lines)
    slowest = sorted(zip(timed, queries), key=lambda pair: -pair[0][0])[:3]
    print("slowest: " + "; ".join(f"{query[1]} {ms:.1f} ms" for (ms, _), query in slowest))
    run.judge(figures, [goal])


# --- The table of scenarios, and the command line --------------------------------------------

# name: (what it measures, wrk targets, other seconds, needs the 1.1M-row file, function)
SCENARIOS = {
    "targets": ("the three ratios a refactor must keep, in one loop: GET /ceps/{cep} and /addresses hits vs "
                "hello-world, and each request log on vs off", 5, 10, False, lambda run: request_log(run, True)),
    "cep": ("GET /ceps/{cep} vs hello-world, 2,711 rows", 2, 5, False, lambda run: cep_lookup(run, SAMPLE_CSV, 0.70)),
    "cep-full": ("GET /ceps/{cep} vs hello-world, 1,113,914 rows", 2, 20, True,
                 lambda run: cep_lookup(run, run.args.full_csv, 0.50)),
    "staff": ("staff API, -c8: GET /addresses hit vs hello-world; POST /employees on a cache hit vs a miss", 4, 20,
              False, lambda run: staff_speed(run, 8)),
    "staff-c16": ("staff API, -c16: GET /addresses hit vs hello-world; POST /employees on a hit, its p99", 3, 10,
                  False, lambda run: staff_speed(run, 16)),
    "log": ("request log on vs off: GET /ceps/{cep} and GET /addresses hits", 4, 10, False,
            lambda run: request_log(run, False)),
    "viacep": ("GET /ws/{cep}/json/ vs GET /ceps/{cep}", 2, 5, False, viacep),
    "scale-out": ("staff API on 1, 2, 4 processes over PostgreSQL behind HAProxy vs 1 over SQLite", 10, 30, False,
                  scale_out),
    "summary": ("GET /logs/summary?minutes=60 over 100,000 log rows, from the rows vs rolled up", 0, 60, False,
                summary),
    "viacep-search": ("ViaCEP address search /ws/UF/town/street/json/ over 1,113,914 rows, 348 queries", 0, 30,
                      True, lambda run: search(run, "GET /ws/{uf}/{town}/{street}/json/", viacep_queries,
                                               check_viacep, 50, ("address search, all: p50", "all", None, "p50",
                                                                  "<=", 50))),
    "ceps-q": ("GET /ceps?q=<text> latency over 1,113,914 rows, about 200 queries", 0, 300, True,
               lambda run: search(run, "GET /ceps?q=", ceps_q_queries, check_ceps_q, 20,
                                  ("GET /ceps?q=, all: p95", "all", None, "p95", "<=", 20))),
    "memory": ("staff RSS and database after 200,000 distinct lookups (misses at ~150/s)", 0, 1400, True,
               lambda run: memory(run, 200_000, 1)),
    "memory-full": ("staff RSS with the in-memory layer full: 40,000 CEPs looked up twice", 0, 600, True,
                    lambda run: memory(run, 40_000, 2)),
}


def parse_args(argv):
    """The options; the scenarios named (--targets adds `targets`)."""
    parser = argparse.ArgumentParser(description="The project's benchmarks: python bench/run.py [SCENARIO ...]",
                                     epilog="docs/performance.md explains every scenario and its figures.")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenarios to run, in this order (--list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and how long each takes")
    parser.add_argument("--targets", action="store_true", help="run the `targets` scenario: PASS/MISS per ratio")
    parser.add_argument("--rounds", type=int, metavar="N", default=5, help="rounds of a comparison (default 5)")
    parser.add_argument("--seconds", type=int, metavar="S", default=5, help="seconds of each wrk run (default 5)")
    parser.add_argument("--warmup", type=int, metavar="S", default=2, help="seconds of unmeasured wrk per target (2)")
    parser.add_argument("--connections", type=int, metavar="C", help="wrk -c (default: the scenario's, 8 or 16)")
    parser.add_argument("--lookups", type=int, metavar="N", help="CEPs of the memory scenarios (200,000 / 40,000)")
    parser.add_argument("--queries", type=int, metavar="N", default=300, help="rows the searches start from (300)")
    parser.add_argument("--seed", type=int, metavar="N", default=2024, help="seed of the RNG picking CEPs and queries")
    parser.add_argument("--full-csv", type=Path, metavar="PATH",
                        default=Path(os.environ.get("CEP_BENCH_FULL_CSV", DEFAULT_FULL_CSV)),
                        help="the 1.1M-row file (env CEP_BENCH_FULL_CSV; default ../shared/data/ceps_full.csv.gz)")
    args = parser.parse_args(argv)
    args.scenarios += ["targets"] * (args.targets and "targets" not in args.scenarios)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}; --list lists them")
    if min(args.rounds, args.seconds, args.queries, args.connections or 1, args.lookups or 1) < 1 or args.warmup < 0:
        parser.error("counts and durations must be positive")
    return args


def print_list(args):
    """Each scenario, about how long it takes with these options, and what it measures."""
    for name, (what, targets, other, needs_full, _) in SCENARIOS.items():
        seconds = targets * (args.warmup + args.rounds * (args.seconds + 1)) + other + 60 * needs_full
        print(f"{name:14} ~{max(1, round(seconds / 60)):>3} min  {what}")
    print("(each scenario over the 1.1M rows counts 1 min to seed them, 4 on a busy machine; a run seeds them once)")


def main(argv=None):
    """Run the scenarios named; 0 if every answer was right, 1 if not (or a server failed), 130 on Ctrl-C."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list or not args.scenarios:
        print_list(args)
        return 0
    started = time.monotonic()
    print_machine()
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as tmp:
        run = Run(args, Path(tmp))
        try:
            for name in args.scenarios:
                what, _, _, needs_full, function = SCENARIOS[name]
                print(f"\n=== {name}: {what}", flush=True)
                if needs_full and not args.full_csv.is_file():
                    print(f"skipped: {args.full_csv} not found (give it with --full-csv or CEP_BENCH_FULL_CSV)")
                    continue
                run.scenario = name
                function(run)
                run.stop_servers()
        except KeyboardInterrupt:
            print("\ninterrupted; what the benchmark started is stopped", file=sys.stderr)
            return 130
        except (RuntimeError, OSError, ValueError) as error:
            print(f"\nbenchmark failed: {error}", file=sys.stderr)
            return 1
        finally:
            run.stop_servers()
    if run.verdicts:
        print("\n=== goals (a MISS does not change the exit status)\n")
        print_table([("scenario", "goal", "measured", "wanted", "result"), *run.verdicts])
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}\nwall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
