"""Issue #10's overhead targets for the request logs, in one run.

Part 1, speed (wrk, alternating rounds): each service twice, its request log on and off
(CEP_API_LOG / STAFF_API_LOG), otherwise the same:

- `GET /ceps/{cep}` (CEP API) and `GET /addresses/{cep}` on a cache hit (staff API) lose less
  than 15% of requests/s with logging on, and their p99 grows by less than 20%.

Part 2, `GET /logs/summary` over 100,000 rows (target: under 200 ms): a copy of each service's
database gets 100,000 log rows spread over the last hour (--summary-rows). A service with logging
off answers GET /logs/summary?minutes=60 a number of times from the rows alone (the baseline: no
minute is rolled up, as right after the rows were written). Then the service starts again with
logging on, its writer thread rolls up the minutes that are over (log_summary.py), and the same
calls are timed again: that is what a running service answers. Medians, the slowest rolled-up
call and the speed-up are reported.

How part 1 works: cep_api seeded with the bundled sample, twice (log on, log off); staff_api
twice, each over its own empty database, both calling the log-off CEP API; each a subprocess on
a free 127.0.0.1 port with waitress's default threads. --ceps CEPs are looked up once through
each server (so cep_api's memo and the staff API's cache hold them); then every round runs, for
each service, the log-on server and the log-off server, one after the other (which goes first
alternates from round to round), with the same wrk script cycling over the CEPs. Medians of the
rounds are compared. Any answer that is not a 200 makes the figures invalid.

Targets print as PASS or MISS; a missed target never changes the exit status (benchmarks
report, they do not judge). The exit status is 1 only when the figures are invalid.

Usage (from the repo root):  .venv/bin/python bench/bench_logging.py [--help]
Needs wrk:                   apt-get install wrk
"""
import argparse
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

# benchlib.py and bench_cep.py sit next to this script (Python puts bench/ on sys.path).
from bench_cep import RESULT_LINE, WRK_SCRIPT
from benchlib import (SAMPLE_CSV, Server, check_wrk, free_port, get_every_cep, median_speed, print_command_and_time,
                      print_machine, print_table, python_env, read_ceps, run_benchmark, run_wrk, seed_cep_api, speed,
                      wrk_command)

TARGET_RPS_LOSS = 0.15  # logging on loses less than 15% of requests/s ...
TARGET_P99_GROWTH = 0.20  # ... and p99 grows by less than 20%
TARGET_SUMMARY_MS = 200.0  # GET /logs/summary over 100k rows


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Request logs on vs off (wrk), and GET /logs/summary over 100k rows.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured wrk per server (default 2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--ceps", type=int, default=200, help="how many CEPs the wrk script cycles over (default 200)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the RNG that picks the CEPs (default 2024)")
    parser.add_argument("--summary-rows", type=int, default=100_000, help="log rows for part 2 (default 100,000)")
    parser.add_argument("--summary-calls", type=int, default=20, help="GET /logs/summary calls timed (default 20)")
    return parser.parse_args(argv)


def write_script(paths, path):
    """bench_cep.py's wrk script (counts every answer that is not a 200), over `paths`."""
    path.write_text(WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths)})
    return path


def start_staff_api(name, db_path, cep_url, log, log_path, servers):
    """Start `python -m staff_api` on db_path, its request log on or off; it joins `servers` first."""
    port = free_port()
    env = python_env(STAFF_API_HOST="127.0.0.1", STAFF_API_PORT=str(port), STAFF_API_DB=str(db_path),
                     CEP_API_URL=cep_url, STAFF_API_LOG=log)
    server = Server(name, [sys.executable, "-m", "staff_api"], env, port, log_path, "/health")
    servers.append(server)
    return server.start()


def start_cep(name, db_path, log, log_path, servers):
    """Start `python -m cep_api` on db_path with CEP_API_LOG=log (benchlib's start_cep_api, one setting more)."""
    port = free_port()
    env = python_env(CEP_API_HOST="127.0.0.1", CEP_API_PORT=str(port), CEP_API_DB=str(db_path), CEP_API_LOG=log)
    server = Server(name, [sys.executable, "-m", "cep_api"], env, port, log_path, "/health")
    servers.append(server)
    return server.start()


def run(args, server, script, seconds):
    """One wrk run against `server`: speed() figures plus the raw counts."""
    command = wrk_command(args, seconds, script, server.base_url)
    _, counts = run_wrk(command, RESULT_LINE, server.name)
    return {**speed(counts), "counts": counts}


def speed_part(args, workdir, servers):
    """Part 1: the rounds; return ({(service, log): [figures]}, problems)."""
    ceps = random.Random(args.seed).sample(read_ceps(SAMPLE_CSV), args.ceps)
    template = workdir / "cep-template.sqlite3"
    seed_cep_api(template, SAMPLE_CSV)
    targets = {}
    for log in ("on", "off"):
        db = workdir / f"cep-{log}.sqlite3"
        db.write_bytes(template.read_bytes())
        targets["cep", log] = start_cep(f"cep_api log {log}", db, log, workdir / f"cep-{log}.log", servers)
    for log in ("on", "off"):
        targets["staff", log] = start_staff_api(f"staff_api log {log}", workdir / f"staff-{log}.sqlite3",
                                                targets["cep", "off"].base_url, log, workdir / f"staff-{log}.log",
                                                servers)
    scripts = {"cep": write_script([f"/ceps/{cep}" for cep in ceps], workdir / "ceps.lua"),
               "staff": write_script([f"/addresses/{cep}" for cep in ceps], workdir / "addresses.lua")}
    for log in ("on", "off"):
        get_every_cep(targets["cep", log], ceps)  # cep_api's memo holds them
        with requests.Session() as session:  # the staff API's cache holds them: the runs are all hits
            for cep in ceps:
                session.get(f"{targets['staff', log].base_url}/addresses/{cep}", timeout=10).raise_for_status()
    print("wrk:", shlex.join(wrk_command(args, args.duration, "<script>.lua", "<url>")))
    if args.warmup:
        for key, server in targets.items():
            run(args, server, scripts[key[0]], args.warmup)
    runs, problems = {key: [] for key in targets}, []
    for number in range(1, args.rounds + 1):
        order = ("on", "off") if number % 2 else ("off", "on")  # neither always goes first
        for service in ("cep", "staff"):
            for log in order:
                figures = run(args, targets[service, log], scripts[service], args.duration)
                runs[service, log].append(figures)
                counts = figures["counts"]
                if counts["non200"] or counts["socket_errors"]:
                    problems.append(f"round {number} {service} log {log}: {counts['non200']} answers not 200, "
                                    f"{counts['socket_errors']} socket errors")
                print(f"round {number}/{args.rounds}  {service:5} log {log:3}  {figures['rps']:8,.0f} req/s  "
                      f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms")
    return runs, problems


def report_speed(runs):
    """Print the medians and the verdicts of part 1."""
    lines = [["scenario", "log", "req/s", "p50 ms", "p99 ms", "req/s lost", "p99 growth", "target"]]
    labels = {"cep": "GET /ceps/{cep}", "staff": "GET /addresses/{cep}, hit"}
    for service in ("cep", "staff"):
        on, off = median_speed(runs[service, "on"]), median_speed(runs[service, "off"])
        lost, growth = 1 - on["rps"] / off["rps"], on["p99"] / off["p99"] - 1
        met = lost < TARGET_RPS_LOSS and growth < TARGET_P99_GROWTH
        for log, figures in (("off", off), ("on", on)):
            extra = [f"{lost:.1%}", f"{growth:+.1%}", "PASS" if met else "MISS"] if log == "on" else ["", "", ""]
            lines.append([labels[service], log, f"{figures['rps']:,.0f}", f"{figures['p50']:.2f}",
                          f"{figures['p99']:.2f}", *extra])
    print(f"\nmedians; targets: req/s lost < {TARGET_RPS_LOSS:.0%}, p99 growth < {TARGET_P99_GROWTH:.0%}")
    print_table(lines)


def fill_log(db_path, rows, staff):
    """Add `rows` log rows over the last hour to a service's database (its table already exists)."""
    now, rng = time.time(), random.Random(7)
    routes = ["/addresses/<cep>", "/employees", "/employees/<employee_id>", "/health", "/logs"] if staff else \
             ["/ceps/<cep>", "/ceps", "/health", "/logs", "(none)"]
    values = []
    for i in range(rows):
        # Durations to the microsecond, as the services record them.
        row = [now - 3600 * i / rows, rng.choice(("GET", "GET", "GET", "POST")), rng.choice(routes),
               rng.choice((200, 200, 200, 201, 304, 404, 422, 500)), round(rng.lognormvariate(0, 1), 3),
               rng.randrange(0, 400)]
        if staff:
            outcome = rng.choice(("hit", "hit", "hit", "miss", ""))
            row += [outcome, round(rng.lognormvariate(1, 1), 3) if outcome == "miss" else None]
        values.append(row)
    columns = "time, method, route, status, ms, bytes" + (", cache, cep_ms" if staff else "")
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(f"INSERT INTO request_log ({columns}) VALUES ({', '.join('?' * len(values[0]))})", values)
    conn.close()


def summary_part(args, workdir, servers):
    """Part 2: time GET /logs/summary over --summary-rows rows, in each service, first from the rows
    alone, then with the settled minutes rolled up; return {service: {"rows": [ms], "rolled up": [ms]}}."""
    cep_db, staff_db = workdir / "summary-cep.sqlite3", workdir / "summary-staff.sqlite3"
    cep_db.write_bytes((workdir / "cep-template.sqlite3").read_bytes())
    cep = start_cep("cep_api summary", cep_db, "off", workdir / "summary-cep.log", servers)
    staff = start_staff_api("staff_api summary", staff_db, cep.base_url, "off", workdir / "summary-staff.log", servers)
    timings = {"cep": {}, "staff": {}}
    for name, server, db, staff_columns in (("cep", cep, cep_db, False), ("staff", staff, staff_db, True)):
        fill_log(db, args.summary_rows, staff_columns)
        timings[name]["rows"] = time_summary(args, name, server)
    staff.stop()
    cep.stop()
    # The same databases again, logging on: each writer thread rolls up the settled minutes at start.
    cep = start_cep("cep_api summary, log on", cep_db, "on", workdir / "summary-cep-on.log", servers)
    staff = start_staff_api("staff_api summary, log on", staff_db, cep.base_url, "on",
                            workdir / "summary-staff-on.log", servers)
    for name, server, db in (("cep", cep, cep_db), ("staff", staff, staff_db)):
        wait_for_roll_up(name, db)
        timings[name]["rolled up"] = time_summary(args, name, server)
    return timings


def time_summary(args, name, server):
    """Milliseconds of --summary-calls GET /logs/summary?minutes=60, after one call that checks the count."""
    with requests.Session() as session:
        url = f"{server.base_url}/logs/summary?minutes=60"
        counted = sum(route["count"] for route in session.get(url, timeout=30).json()["routes"])  # warms up too
        if counted < args.summary_rows * 0.99:
            raise RuntimeError(f"{name}: the summary counted {counted} rows, not {args.summary_rows}")
        timings = []
        for _ in range(args.summary_calls):
            started = time.perf_counter()
            session.get(url, timeout=30).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def wait_for_roll_up(name, db_path, timeout=120.0):
    """Wait until the writer thread has rolled up what it can: log_minute stops growing for 2 s."""
    deadline, last, steady_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db_path)
        try:
            count = conn.execute("SELECT count(*) FROM log_minute").fetchone()[0]
        finally:
            conn.close()
        if count != last:
            last, steady_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - steady_since >= 2:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name}: the request log's minutes were not rolled up within {timeout:.0f} s")


def report_summary(args, timings):
    """Print part 2's figures and verdicts."""
    print(f"\nGET /logs/summary?minutes=60 over {args.summary_rows:,} rows, {args.summary_calls} calls over HTTP "
          f"(target < {TARGET_SUMMARY_MS:.0f} ms, with the minutes rolled up as a running service keeps them)")
    lines = [["service", "from rows ms", "rolled up ms", "slowest ms", "speed-up", "target"]]
    for name, label in (("cep", "CEP API"), ("staff", "staff API")):
        rows, rolled_up = statistics.median(timings[name]["rows"]), statistics.median(timings[name]["rolled up"])
        lines.append([label, f"{rows:.0f}", f"{rolled_up:.0f}", f"{max(timings[name]['rolled up']):.0f}",
                      f"{rows / rolled_up:.1f}x", "PASS" if rolled_up < TARGET_SUMMARY_MS else "MISS"])
    print_table(lines)


def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk():
        return 1
    started = time.monotonic()
    print_machine()
    servers = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-logging-") as tmp:
            workdir = Path(tmp)
            runs, problems = speed_part(args, workdir, servers)
            report_speed(runs)
            report_summary(args, summary_part(args, workdir, servers))
    finally:
        for server in servers:
            server.stop()
    for problem in problems:
        print("INVALID:", problem)
    print_command_and_time(started)
    return 1 if problems else 0


if __name__ == "__main__":
    run_benchmark(main)
