"""Benchmark GET /ceps/{cep} against a hello-world ceiling, on loopback, with wrk.

What it does:

1. Starts two servers as subprocesses on 127.0.0.1 (each on a free port, same waitress
   thread count): the CEP API (`python -m cep_api`, on a temporary database seeded with the
   bundled sample) and `bench/hello_app.py`, a bare Bottle + waitress hello-world.
2. Picks ~1,000 random real CEPs (seeded RNG) and writes a wrk Lua script that cycles over
   them. The same script drives both servers (the hello app answers any path).
3. Warms up: GETs every picked CEP once with `requests` (this fills the app's memo and proves
   every one answers 200), then runs wrk briefly against each server.
4. Measures in alternating rounds (hello, cep, hello, cep, ...) so that any drift of the
   machine (other load, CPU clock) touches both alike, and reports the median over rounds.
5. Part 2: seeds the full file (1.1M CEPs) into a fresh temporary database and runs the same
   lookup benchmark against it, to show the cost of a lookup does not grow with the table.

Usage (from the repo root):  .venv/bin/python bench/bench_cep.py [--help]
Needs wrk:                   apt-get install wrk
"""
import argparse
import os
import random
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

# benchlib.py sits next to this script: the servers, wrk and report pieces both benchmarks share.
from benchlib import (DEFAULT_FULL_CSV, SAMPLE_CSV, check_wrk, get_every_cep, median_speed,
                      print_command_and_time, print_machine, print_service_settings, print_table, read_ceps,
                      run_benchmark, run_wrk, seed_cep_api, speed, start_cep_api, start_hello, wrk_command)

TARGET_RATIO = 0.50  # the goal: the lookup at >= 50% of the hello-world ceiling

# The Lua script given to wrk. `paths` is filled in by write_wrk_script().
# Each wrk thread runs its own copy of the script; `setup` and `done` run in the main one.
WRK_SCRIPT = """
local paths = {%(paths)s}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- Build every request once: formatting it again on each call would cost wrk CPU,
  -- and wrk shares the machine with the servers.
  prepared = {}
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format("GET", path)
  end
  -- Threads start at different places in the list so they do not ask in lockstep.
  next_index = (id * 97) %% #prepared
  non200 = 0
end

function request()
  next_index = next_index %% #prepared + 1
  return prepared[next_index]
end

function response(status, headers, body)
  -- A benchmark of 404s (or 304s) would measure the wrong thing: count anything not 200.
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local non200 = 0
  for _, thread in ipairs(threads) do
    non200 = non200 + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d non200=%%d socket_errors=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    non200, e.connect + e.read + e.write + e.timeout))
end
"""

RESULT_LINE = re.compile(
    r"BENCH_RESULT requests=(?P<requests>\d+) duration_us=(?P<duration_us>\d+) p50_us=(?P<p50_us>\d+) "
    r"p99_us=(?P<p99_us>\d+) non200=(?P<non200>\d+) socket_errors=(?P<socket_errors>\d+)")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Benchmark GET /ceps/{cep} against a Bottle+waitress hello-world, with wrk.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per target (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per round (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk warm-up per target (default 2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--ceps", type=int, default=1000,
                        help="how many random CEPs to cycle over (default 1000)")
    parser.add_argument("--seed", type=int, default=2024,
                        help="seed of the RNG that picks the CEPs (default 2024)")
    parser.add_argument("--sample-csv", type=Path, default=SAMPLE_CSV, help="CSV seeded for part 1")
    parser.add_argument("--full-csv", type=Path,
                        default=Path(os.environ.get("CEP_BENCH_FULL_CSV", DEFAULT_FULL_CSV)),
                        help="the 1.1M-row file for part 2 (env CEP_BENCH_FULL_CSV; "
                             "default <repo>/../shared/data/ceps_full.csv.gz)")
    parser.add_argument("--skip-full", action="store_true", help="skip part 2 (the 1.1M-row table)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.wrk_threads, args.connections, args.ceps) < 1 or args.warmup < 0:
        parser.error("counts and durations must be positive")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    return args


# ---------------------------------------------------------------------------------------
# Picking the CEPs and writing the wrk script
# ---------------------------------------------------------------------------------------

def pick_ceps(path, count, seed):
    """`count` distinct CEPs of the file, chosen by a seeded RNG: the same run, the same CEPs."""
    ceps = read_ceps(path)
    if not ceps:
        raise RuntimeError(f"{path} holds no CEPs")
    return random.Random(seed).sample(ceps, min(count, len(ceps)))


def write_wrk_script(ceps, path):
    """Write the Lua script that makes wrk cycle over GET /ceps/{cep} for these CEPs."""
    paths = ", ".join(f'"/ceps/{cep}"' for cep in ceps)
    path.write_text(WRK_SCRIPT % {"paths": paths}, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# The database
# ---------------------------------------------------------------------------------------

def seed_database(db_path, csv_path):
    """Run `python -m cep_api seed CSV` into db_path; return (seconds taken, rows in the table)."""
    started = time.monotonic()
    seed_cep_api(db_path, csv_path)
    seconds = time.monotonic() - started
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT count(*) FROM cep").fetchone()[0]
    # The 1.1M seed leaves ~150 MB of dirty pages; flush them now, so the kernel does not
    # write them back in the middle of a measured round.
    os.sync()
    return seconds, rows


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------

def measure(args, seconds, script, server):
    """One wrk run; returns a dict of requests/s, p50 and p99 (ms)."""
    command = wrk_command(args, seconds, script, server.base_url)
    _, counts = run_wrk(command, RESULT_LINE, server.name)
    if counts["non200"] or counts["socket_errors"]:
        raise RuntimeError(f"{server.name}: {counts['non200']} answers were not 200 and "
                           f"{counts['socket_errors']} socket errors occurred; the figures would be meaningless.")
    return {**speed(counts), "requests": counts["requests"]}


def compare(args, script, hello, cep, title):
    """Warm both servers up, then alternate measured rounds.

    Returns the medians of each target and the median of the per-round ratios cep/hello.
    """
    print(f"\n== {title}")
    if args.warmup:
        print(f"warm-up: {args.warmup} s of wrk on each server (not measured)")
        measure(args, args.warmup, script, hello)
        measure(args, args.warmup, script, cep)
    rounds = {"hello": [], "cep": []}
    for number in range(1, args.rounds + 1):
        # Alternate the two, so slow drift of the machine affects both alike.
        for key, server in (("hello", hello), ("cep", cep)):
            figures = measure(args, args.duration, script, server)
            rounds[key].append(figures)
            print(f"round {number}/{args.rounds}  {key:5}  {figures['rps']:8,.0f} req/s  "
                  f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms  "
                  f"({figures['requests']:,} requests)")
    medians = {key: median_speed(runs) for key, runs in rounds.items()}
    ratios = [c["rps"] / h["rps"] for h, c in zip(rounds["hello"], rounds["cep"])]
    # Each round's ratio pairs two runs seconds apart: less sensitive to drift than the medians.
    print(f"ratio cep/hello per round: {', '.join(f'{r:.0%}' for r in ratios)} "
          f"(median {statistics.median(ratios):.0%})")
    return medians, statistics.median(ratios)


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def print_results(rows):
    """rows: (label, medians, ratio, round ratio); ratios None for hello. Columns aligned."""
    lines = [("target", "req/s", "p50 ms", "p99 ms", "ratio vs hello", "median round ratio")]
    for label, figures, ratio, round_ratio in rows:
        lines.append((label, f"{figures['rps']:,.0f}", f"{figures['p50']:.2f}", f"{figures['p99']:.2f}",
                      "-" if ratio is None else f"{ratio:.0%}",
                      "-" if round_ratio is None else f"{round_ratio:.0%}"))
    print_table(lines)


def print_load(label):
    """Other programs busy on the machine make every figure noisy: say so up front.

    Only meaningful before we start: during the run, our own servers and wrk load the machine.
    """
    one_minute = os.getloadavg()[0]
    note = "  (the machine is busy: expect noisy figures)" if one_minute > 0.5 * os.cpu_count() else ""
    print(f"{label}: {one_minute:.2f}{note}")


def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk():
        return 1
    started = time.monotonic()
    print_machine()
    print_service_settings()
    print("servers: both on 127.0.0.1, both with waitress's default thread count")
    print_load("load average before")
    table = []
    servers = []
    full_seed = None
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as tmp:
        workdir = Path(tmp)
        try:
            # --- Part 1: the bundled sample ---------------------------------------------
            seconds, rows = seed_database(workdir / "sample.sqlite3", args.sample_csv)
            print(f"seeded {rows:,} rows from {args.sample_csv.name} in {seconds:.1f} s")
            ceps = pick_ceps(args.sample_csv, args.ceps, args.seed)
            script = write_wrk_script(ceps, workdir / "sample.lua")
            hello = start_hello(workdir / "hello.log", "/ceps/01001000", servers)
            cep = start_cep_api("cep_api (sample)", workdir / "sample.sqlite3",
                                workdir / "cep_api-sample.log", servers)
            get_every_cep(cep, ceps)  # fills the memo and proves none answers 404
            print(f"{len(ceps):,} random CEPs (seed {args.seed}) all answer 200")
            print("wrk:", shlex.join(wrk_command(args, args.duration, "<script>.lua", "<url>")))
            title = f"part 1: {rows:,} CEPs in the table"
            medians, round_ratio = compare(args, script, hello, cep, title)
            table.append(("hello-world (part 1)", medians["hello"], None, None))
            table.append((f"GET /ceps/{{cep}}, {rows:,} rows", medians["cep"],
                          medians["cep"]["rps"] / medians["hello"]["rps"], round_ratio))
            cep.stop()  # an idle server costs little, but part 2 should run alone with hello

            # --- Part 2: all 1.1M real CEPs ---------------------------------------------
            if args.skip_full:
                print("\npart 2 skipped (--skip-full)")
            elif not args.full_csv.is_file():
                print(f"\npart 2 skipped: {args.full_csv} not found "
                      f"(give it with --full-csv or CEP_BENCH_FULL_CSV)")
            else:
                print(f"\nseeding {args.full_csv} into a fresh database ...", flush=True)
                seconds, rows = seed_database(workdir / "full.sqlite3", args.full_csv)
                print(f"seeded {rows:,} rows in {seconds:.1f} s")
                full_seed = f"seeding the {rows:,} rows took {seconds:.0f} s"
                ceps = pick_ceps(args.full_csv, args.ceps, args.seed)
                script = write_wrk_script(ceps, workdir / "full.lua")
                cep = start_cep_api("cep_api (full)", workdir / "full.sqlite3",
                                    workdir / "cep_api-full.log", servers)
                get_every_cep(cep, ceps)
                print(f"{len(ceps):,} random CEPs of the full file (seed {args.seed}) all answer 200")
                title = f"part 2: {rows:,} CEPs in the table"
                medians, round_ratio = compare(args, script, hello, cep, title)
                table.append(("hello-world (part 2)", medians["hello"], None, None))
                table.append((f"GET /ceps/{{cep}}, {rows:,} rows", medians["cep"],
                              medians["cep"]["rps"] / medians["hello"]["rps"], round_ratio))
        finally:
            for server in servers:
                server.stop()
    print(f"\nmedians over {args.rounds} rounds of {args.duration} s, "
          f"wrk -t{args.wrk_threads} -c{args.connections}, {len(ceps):,} CEPs cycled:\n")
    print_results(table)
    worst = min(ratio for _, _, ratio, _ in table if ratio is not None)
    verdict = "met" if worst >= TARGET_RATIO else "NOT met"
    print(f"\ntarget: lookup >= {TARGET_RATIO:.0%} of hello-world -> {verdict} (lowest ratio {worst:.0%})")
    if full_seed:
        print(full_seed)
    print_command_and_time(started)
    return 0


if __name__ == "__main__":
    run_benchmark(main)
