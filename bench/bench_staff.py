"""Benchmark the staff API's CEP cache: a create on a cache hit versus on a miss, with wrk.

Three numbers answer "what does the cache buy us?":

- `POST /employees` when the employee's CEP is already in the cache table ("create-hit"):
  validate, read the cache row, count the hit, insert the employee. No HTTP call.
- `POST /employees` when it is not ("create-miss"): the same, plus a GET to the CEP API
  and storing its answer in the cache table.
- `GET /addresses/{cep}` on a hit ("addresses-hit"): the cache alone, compared with the
  ceiling of a bare Bottle + waitress hello-world (`bench/hello_app.py`) measured in the
  same run on the same machine.

Targets (from the issues, for a 2-core machine): create-hit >= 2x the requests/s of
create-miss, and addresses-hit >= 60% of the hello-world ceiling (issue #9 raised it from
40%; bench_staff_targets.py measures the rest of issue #9: p99s, wrk -c16, memory).

How it works:

1. Seeds a temporary CEP database with the bundled sample (2,711 real CEPs) and starts, as
   subprocesses on free 127.0.0.1 ports: `python -m cep_api`, `python -m staff_api` (its own
   temporary database, CEP_API_URL pointing at that cep_api) and `bench/hello_app.py`.
   All three use waitress's default thread count. They are stopped at the end, also on
   an error or Ctrl-C.
2. GETs every sample CEP once straight from cep_api, so its in-memory answer memo is warm
   in every round: a "miss" then costs what it costs in a long-running deployment.
3. Each round runs, one after the other (so drift of the machine touches all alike):
   hello, addresses-hit, create-hit (after GETting each of the --hit-ceps CEPs once, so they
   are cached), then `DELETE /cep-cache` and create-miss. In create-miss every request uses
   a CEP nobody asked for since the cache was emptied: wrk walks the 2,711 CEPs in a
   shuffled order and never repeats one, as long as the round is short enough (see below).
   Every POST carries a new e-mail address (a counter in the wrk Lua script), so it must be
   a 201.
4. Checks what happened: wrk's Lua script counts the status codes and the X-Cep-Cache
   header of every answer, and `GET /cep-cache` gives the service's own hit/miss counters
   before and after every wrk run. A hit scenario must show only hits, a miss scenario only
   misses, every POST a 201; otherwise the figures are reported as invalid (exit status 1).
5. Prints the median over rounds of each scenario: requests/s, p50 and p99 latency, and the
   CPU time the servers spent per request (read from /proc, Linux only).

A miss round must not run out of unused CEPs: the create-miss warm-up measures its rate,
and the miss rounds are shortened (if needed) to use at most ~70% of the 2,711 CEPs.

Usage (from the repo root):  .venv/bin/python bench/bench_staff.py [--help]
Defaults: 5 rounds of 5 s per scenario, wrk -t1 -c8; about 2 minutes in all.
Needs wrk:                   apt-get install wrk
"""
import argparse
import os
import random
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

# benchlib.py sits next to this script: the servers, wrk and report pieces both benchmarks share.
from benchlib import (SAMPLE_CSV, Server, check_wrk, free_port, get_every_cep, median_speed,
                      print_command_and_time, print_machine, print_service_settings, print_table, python_env,
                      read_ceps, run_benchmark, run_wrk, seed_cep_api, speed, staff_headers, start_cep_api, start_hello,
                      token_hint, wrk_command)

# The targets.
TARGET_HIT_OVER_MISS = 2.0  # create on a hit >= 2x create on a miss
TARGET_ADDRESS_OVER_HELLO = 0.60  # GET /addresses/{cep} on a hit >= 60% of hello-world (issue #9)
MISS_POOL_SHARE = 0.7  # a miss round may use at most this share of the distinct CEPs

SCENARIOS = ("hello", "addresses-hit", "create-hit", "create-miss")
LABELS = {
    "hello": "hello-world (ceiling)",
    "addresses-hit": "GET /addresses/{cep}, hit",
    "create-hit": "POST /employees, CEP hit",
    "create-miss": "POST /employees, CEP miss",
}

# The Lua script given to wrk; `ceps` and `threads` are filled in by write_wrk_script().
# wrk passes what follows `--` on its command line to init(args):
#   args[1] = "get"    -> GET /addresses/{cep}, cycling over the CEPs
#   args[1] = "create" -> POST /employees with a new e-mail each time and the next CEP
#   args[2] = a tag that makes this run's e-mails differ from every other run's
# Each wrk thread runs its own copy of the script; `setup` and `done` run in the main one.
WRK_SCRIPT = """
local ceps = {%(ceps)s}
local nthreads = %(threads)d
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  tag = args[2] or "x"
  expected = (mode == "create") and 201 or 200
  -- BENCH_STAFF_TOKEN set: every request carries it (a staff API with STAFF_API_TOKEN
  -- wants it). The hello app ignores it, and the same bytes reach both servers.
  local token = os.getenv("BENCH_STAFF_TOKEN")
  local get_headers = {}
  json_headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then
    get_headers["Authorization"] = "Bearer " .. token
    json_headers["Authorization"] = "Bearer " .. token
  end
  if mode == "get" then
    -- Build every GET once: formatting it again on each call would cost wrk CPU,
    -- and wrk shares the machine with the servers.
    prepared = {}
    for i, cep in ipairs(ceps) do
      prepared[i] = wrk.format("GET", "/addresses/" .. cep, get_headers)
    end
  end
  -- Thread `id` takes CEPs id+1, id+1+nthreads, ...: two threads never send the same CEP.
  position = id + 1 - nthreads
  counter = 0
  bad_status = 0
  first_bad = ""
  first_other = ""
  hit, miss, other, none = 0, 0, 0, 0
end

-- Note: wrk calls request() of the first thread once more, to check the script, and never
-- sends that request; so the first CEP of the list (and e-mail number 1) go unused.
function request()
  position = position + nthreads
  if position > #ceps then
    -- Out of CEPs: start over. Fine for the hit scenarios; in create-miss it would turn
    -- requests into hits, which the X-Cep-Cache counts below would show.
    position = id + 1
  end
  if mode == "get" then
    return prepared[position]
  end
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench %%d","email":"bench-%%s-%%d-%%d@example.com","cep":"%%s"}',
    counter, tag, id, counter, ceps[position])
  return wrk.format("POST", "/employees", json_headers, body)
end

function response(status, headers, body)
  if status ~= expected then
    bad_status = bad_status + 1
    if first_bad == "" then first_bad = status .. " " .. body end
  end
  local how = headers["X-Cep-Cache"]
  if how == "hit" then hit = hit + 1
  elseif how == "miss" then miss = miss + 1
  elseif how == nil then none = none + 1
  else
    other = other + 1
    if first_other == "" then first_other = how end
  end
end

function done(summary, latency, requests)
  local total = {bad_status = 0, hit = 0, miss = 0, other = 0, none = 0}
  local first_bad, first_other = "", ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + thread:get(name)
    end
    if first_bad == "" then first_bad = thread:get("first_bad") end
    if first_other == "" then first_other = thread:get("first_other") end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d bad_status=%%d " ..
    "socket_errors=%%d hit=%%d miss=%%d other=%%d none=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total.bad_status, e.connect + e.read + e.write + e.timeout,
    total.hit, total.miss, total.other, total.none))
  if first_bad ~= "" then io.write("FIRST_BAD " .. first_bad .. "\\n") end
  if first_other ~= "" then io.write("FIRST_OTHER " .. first_other .. "\\n") end
end
"""

RESULT_LINE = re.compile(
    r"BENCH_RESULT requests=(?P<requests>\d+) duration_us=(?P<duration_us>\d+) p50_us=(?P<p50_us>\d+) "
    r"p99_us=(?P<p99_us>\d+) bad_status=(?P<bad_status>\d+) socket_errors=(?P<socket_errors>\d+) "
    r"hit=(?P<hit>\d+) miss=(?P<miss>\d+) other=(?P<other>\d+) none=(?P<none>\d+)")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Benchmark the staff API (create on a CEP cache hit vs miss, address on a hit) "
                    "against a Bottle+waitress hello-world, with wrk.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per scenario (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per scenario and round (default 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of unmeasured wrk per scenario before the rounds (default 2; "
                             "the create-miss warm-up also sizes the miss rounds)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--hit-ceps", type=int, default=200,
                        help="how many CEPs the hit scenarios cycle over (default 200)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the RNG that orders the CEPs (default 2024)")
    parser.add_argument("--sample-csv", type=Path, default=SAMPLE_CSV, help="the CEPs seeded into cep_api")
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.wrk_threads, args.connections, args.hit_ceps) < 1 or args.warmup < 0:
        parser.error("counts and durations must be positive")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    return args


# ---------------------------------------------------------------------------------------
# CEPs and the wrk script
# ---------------------------------------------------------------------------------------

def write_wrk_script(ceps, threads, path):
    """Write the Lua script that makes wrk walk over these CEPs, in this order."""
    listed = ", ".join(f'"{cep}"' for cep in ceps)
    path.write_text(WRK_SCRIPT % {"ceps": listed, "threads": threads}, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------

def start_servers(workdir, sample_csv, servers):
    """Seed cep_api's database, start cep_api, staff_api and hello; each joins `servers` first."""
    cep_db = workdir / "cep.sqlite3"
    seed_cep_api(cep_db, sample_csv)
    cep = start_cep_api("cep_api", cep_db, workdir / "cep_api.log", servers)
    staff = start_staff_api("staff_api", cep, workdir / "staff.sqlite3", workdir / "staff_api.log", servers)
    # bench/hello_app.py answers any GET path, so the GET /addresses/... script drives it too.
    hello = start_hello(workdir / "hello.log", "/addresses/01001000", servers)
    return cep, staff, hello


def start_staff_api(name, cep, db_path, log_path, servers):
    """Start `python -m staff_api` on db_path, asking `cep`; it joins `servers` before starting."""
    port = free_port()
    staff = Server(name, [sys.executable, "-m", "staff_api"],
                   python_env(STAFF_API_HOST="127.0.0.1", STAFF_API_PORT=str(port),
                              STAFF_API_DB=str(db_path), CEP_API_URL=cep.base_url,
                              # A day: no entry may expire (and be revalidated) during the benchmark.
                              STAFF_CEP_CACHE_TTL="86400", STAFF_CEP_NEGATIVE_TTL="300",
                              STAFF_CEP_TIMEOUT="5"),
                   port, log_path, "/health")
    servers.append(staff)
    return staff.start()


# ---------------------------------------------------------------------------------------
# Talking to the staff API outside the measured windows
# ---------------------------------------------------------------------------------------

def warm_staff_cache(staff, ceps):
    """GET /addresses for each CEP, so each is a fresh entry of the cache; returns the misses."""
    misses = 0
    with requests.Session() as session:
        session.headers.update(staff_headers())
        for number in ceps:
            reply = session.get(f"{staff.base_url}/addresses/{number}", timeout=10)
            if reply.status_code != 200:
                raise RuntimeError(f"staff_api: GET /addresses/{number} answered {reply.status_code}"
                                   f"{token_hint(reply.status_code)}")
            misses += reply.headers.get("X-Cep-Cache") == "miss"
    return misses


def clear_staff_cache(staff):
    """DELETE /cep-cache: from now on every CEP is a miss the first time it is asked for."""
    reply = requests.delete(f"{staff.base_url}/cep-cache", headers=staff_headers(), timeout=10)
    if reply.status_code != 204:
        raise RuntimeError(f"DELETE /cep-cache answered {reply.status_code}{token_hint(reply.status_code)}")


def cache_counters(staff):
    """The service's own counters since it started: (hits, misses)."""
    data = cache_page(staff)
    return data["hits"], data["misses"]


def cache_page(staff):
    """GET /cep-cache?per_page=1: the counters, and the number of entries (`total`)."""
    reply = requests.get(f"{staff.base_url}/cep-cache?per_page=1", headers=staff_headers(), timeout=10)
    if reply.status_code != 200:
        raise RuntimeError(f"GET /cep-cache answered {reply.status_code}{token_hint(reply.status_code)}: "
                           f"{reply.text[:200]}")
    return reply.json()


def settled_counters(staff):
    """The counters once the requests wrk left in flight are done (they no longer change).

    wrk stops with up to -c requests still on their way; the server finishes them after
    wrk has exited. Counting them in the next run (or emptying the cache under them)
    would blur the checks.
    """
    counters = cache_counters(staff)
    for _ in range(50):
        time.sleep(0.1)
        again = cache_counters(staff)
        if again == counters:
            return counters
        counters = again
    raise RuntimeError("the staff API is still busy 5 s after wrk stopped")


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------

class Bench:
    """The servers, the two scripts and the way each scenario is run."""

    def __init__(self, args, cep, staff, hello, hit_script, miss_script):
        self.args = args
        self.cep, self.staff, self.hello = cep, staff, hello
        self.hit_script, self.miss_script = hit_script, miss_script
        self.runs = 0  # numbers the e-mail tags: no two wrk runs share an address

    def run(self, scenario, seconds, connections=None):
        """One wrk run of `scenario` (at wrk -c`connections`, default --connections);
        returns its figures and the checks' raw counts."""
        self.runs += 1
        target = self.hello if scenario == "hello" else self.staff
        script = self.miss_script if scenario == "create-miss" else self.hit_script
        mode = "create" if scenario.startswith("create") else "get"
        args = self.args if connections is None else argparse.Namespace(**{**vars(self.args),
                                                                            "connections": connections})
        command = wrk_command(args, seconds, script, target.base_url, mode, f"r{self.runs}")

        counters_before = settled_counters(self.staff)
        cpu_before = [server.cpu_seconds() for server in (self.cep, self.staff, self.hello)]
        output, counts = run_wrk(command, RESULT_LINE, scenario)
        cpu_after = [server.cpu_seconds() for server in (self.cep, self.staff, self.hello)]
        counters_after = settled_counters(self.staff)  # after the CPU reading: it is not load

        first_bad = re.search(r"^FIRST_BAD (.*)$", output, re.MULTILINE)
        first_other = re.search(r"^FIRST_OTHER (.*)$", output, re.MULTILINE)
        if None in cpu_before or None in cpu_after:
            cpu_ms = None
        else:  # all three servers: the idle ones add next to nothing
            cpu_ms = 1000 * sum(after - before for before, after in zip(cpu_before, cpu_after)) / counts["requests"]
        return {
            **speed(counts),  # rps, p50, p99
            "cpu_ms": cpu_ms,
            "counts": counts,
            # The server's counters also include requests still in flight when wrk stopped.
            "server_hits": counters_after[0] - counters_before[0],
            "server_misses": counters_after[1] - counters_before[1],
            "first_bad": first_bad.group(1) if first_bad else "",
            "first_other": first_other.group(1) if first_other else "",
        }


def check(scenario, figures):
    """What is wrong with this run (a list of sentences; empty when all is as it must be)."""
    counts = figures["counts"]
    problems = []
    if counts["bad_status"]:
        expected = 201 if scenario.startswith("create") else 200
        problems.append(f"{counts['bad_status']} answers were not {expected} (first: {figures['first_bad'][:200]})")
    if counts["socket_errors"]:
        problems.append(f"{counts['socket_errors']} socket errors")
    if scenario == "hello":
        return problems
    wanted = "miss" if scenario.endswith("miss") else "hit"
    unwanted = counts["requests"] - counts[wanted]
    if unwanted:
        problems.append(f"{unwanted} answers had X-Cep-Cache other than '{wanted}' "
                        f"({counts['none']} had none; first other value: {figures['first_other'] or '-'})")
    if wanted == "hit" and figures["server_misses"]:
        problems.append(f"the service counted {figures['server_misses']} misses")
    if wanted == "miss" and figures["server_hits"]:
        problems.append(f"the service counted {figures['server_hits']} hits")
    return problems


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def print_results(medians, ratios):
    lines = [("scenario", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "ratio")]
    for scenario in SCENARIOS:
        m = medians[scenario]
        lines.append((LABELS[scenario], f"{m['rps']:,.0f}", f"{m['p50']:.2f}", f"{m['p99']:.2f}",
                      "-" if m["cpu_ms"] is None else f"{m['cpu_ms']:.2f}", ratios.get(scenario, "-")))
    print_table(lines, pad_last=False)  # the ratio column is text: left as it is


def median_of(runs):
    medians = median_speed(runs)
    cpu = [run["cpu_ms"] for run in runs]
    medians["cpu_ms"] = None if None in cpu else statistics.median(cpu)
    return medians


def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk():
        return 1
    started = time.monotonic()
    print_machine()
    print_service_settings()
    print("servers: cep_api, staff_api and hello-world on 127.0.0.1, each with waitress's default thread count")
    # Other work on the machine takes CPU from the servers: worth knowing when reading the figures.
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    all_ceps = read_ceps(args.sample_csv)
    # The miss scenario walks all CEPs in a shuffled (seeded) order; the hit scenarios
    # cycle over the first --hit-ceps of that order.
    order = random.Random(args.seed).sample(all_ceps, len(all_ceps))
    hit_ceps = order[:min(args.hit_ceps, len(order))]

    runs = {scenario: [] for scenario in SCENARIOS}
    problems = []
    servers = []
    with tempfile.TemporaryDirectory(prefix="staff-bench-") as tmp:
        workdir = Path(tmp)
        try:
            cep, staff, hello = start_servers(workdir, args.sample_csv, servers)
            get_every_cep(cep, all_ceps)
            print(f"{len(all_ceps):,} CEPs seeded into cep_api; each answered 200 once (its memo is warm)")
            bench = Bench(args, cep, staff, hello,
                          write_wrk_script(hit_ceps, args.wrk_threads, workdir / "hit.lua"),
                          write_wrk_script(order, args.wrk_threads, workdir / "miss.lua"))
            print("wrk:", shlex.join(wrk_command(args, args.duration, "<script>.lua", "<url>",
                                                 "get|create", "<tag>")))

            miss_seconds = args.duration
            if args.warmup:
                print(f"\nwarm-up: {args.warmup} s of wrk per scenario (not measured)")
                warm_staff_cache(staff, hit_ceps)
                for scenario in SCENARIOS:
                    if scenario == "create-miss":
                        clear_staff_cache(staff)
                    figures = bench.run(scenario, args.warmup)
                    problems += [f"warm-up {scenario}: {p}" for p in check(scenario, figures)]
                    print(f"  {scenario:13}  {figures['rps']:8,.0f} req/s")
                # A miss round must not run out of CEPs never asked for since the last clear.
                budget = MISS_POOL_SHARE * len(order) / max(figures["rps"], 1.0)
                miss_seconds = max(1, min(args.duration, int(budget)))
            if miss_seconds < args.duration:
                print(f"create-miss rounds last {miss_seconds} s: at the warm-up's rate, "
                      f"{args.duration} s would need more than {MISS_POOL_SHARE:.0%} of the {len(order):,} CEPs")

            print(f"\n{args.rounds} rounds: hello, addresses-hit, create-hit, then DELETE /cep-cache and create-miss")
            for number in range(1, args.rounds + 1):
                # Entries may have been dropped by the last round's DELETE /cep-cache.
                warmed = warm_staff_cache(staff, hit_ceps)
                for scenario in SCENARIOS:
                    if scenario == "create-miss":
                        clear_staff_cache(staff)  # from here on, every CEP is a miss once
                    figures = bench.run(scenario, miss_seconds if scenario == "create-miss" else args.duration)
                    runs[scenario].append(figures)
                    problems += [f"round {number} {scenario}: {p}" for p in check(scenario, figures)]
                    c = figures["counts"]
                    cache = "" if scenario == "hello" else f"  X-Cep-Cache hit {c['hit']:,} miss {c['miss']:,}"
                    cpu = "" if figures["cpu_ms"] is None else f"  CPU {figures['cpu_ms']:.2f} ms/req"
                    print(f"round {number}/{args.rounds}  {scenario:13}  {figures['rps']:8,.0f} req/s  "
                          f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms{cpu}  "
                          f"({c['requests']:,} requests){cache}")
                # Usually 1: the miss rounds cache the hit CEPs too, except the list's first
                # (see the note on request() in WRK_SCRIPT).
                print(f"  (hit CEPs fetched before the round to cache them: {warmed} of {len(hit_ceps)})")
        finally:
            for server in reversed(servers):
                server.stop()

    medians = {scenario: median_of(scenario_runs) for scenario, scenario_runs in runs.items()}
    address_ratio = medians["addresses-hit"]["rps"] / medians["hello"]["rps"]
    create_ratio = medians["create-hit"]["rps"] / medians["create-miss"]["rps"]
    per_round_address = [a["rps"] / h["rps"] for a, h in zip(runs["addresses-hit"], runs["hello"])]
    per_round_create = [h["rps"] / m["rps"] for h, m in zip(runs["create-hit"], runs["create-miss"])]

    print(f"\nmedians over {args.rounds} rounds of {args.duration} s (create-miss: {miss_seconds} s), "
          f"wrk -t{args.wrk_threads} -c{args.connections}; "
          f"hit scenarios cycle over {len(hit_ceps)} CEPs, create-miss never repeats one of {len(order):,}\n")
    print_results(medians, {"addresses-hit": f"{address_ratio:.0%} of hello-world",
                            "create-hit": f"{create_ratio:.2f}x create-miss"})
    print("\nper round: addresses-hit/hello " + ", ".join(f"{r:.0%}" for r in per_round_address)
          + ";  create-hit/create-miss " + ", ".join(f"{r:.2f}x" for r in per_round_create))
    print("server CPU ms/req: CPU time of cep_api + staff_api + hello during the run, per completed request")

    print("\nchecks (measured rounds):")
    for scenario in SCENARIOS[1:]:
        totals = {name: sum(run["counts"][name] for run in runs[scenario])
                  for name in ("requests", "hit", "miss", "other", "none", "bad_status")}
        server_hits = sum(run["server_hits"] for run in runs[scenario])
        server_misses = sum(run["server_misses"] for run in runs[scenario])
        print(f"  {scenario:13}  {totals['requests']:7,} answers: X-Cep-Cache hit {totals['hit']:,}, "
              f"miss {totals['miss']:,}, other {totals['other'] + totals['none']:,};  "
              f"non-{201 if scenario.startswith('create') else 200}: {totals['bad_status']:,};  "
              f"GET /cep-cache counters: +{server_hits:,} hits, +{server_misses:,} misses")
    hello_bad = sum(run["counts"]["bad_status"] for run in runs["hello"])
    print(f"  hello          non-200: {hello_bad:,}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if not problems:
        print("  all as expected: hits were hits, misses were misses, every POST a 201")

    print("\ntargets:")
    print(f"  create on a hit >= {TARGET_HIT_OVER_MISS:.0f}x create on a miss: {create_ratio:.2f}x -> "
          f"{'met' if create_ratio >= TARGET_HIT_OVER_MISS else 'NOT met'}")
    print(f"  GET /addresses/{{cep}} on a hit >= {TARGET_ADDRESS_OVER_HELLO:.0%} of hello-world: "
          f"{address_ratio:.0%} -> {'met' if address_ratio >= TARGET_ADDRESS_OVER_HELLO else 'NOT met'}")
    print("\nload average after (this benchmark's own load included): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print_command_and_time(started)
    return 1 if problems else 0


if __name__ == "__main__":
    run_benchmark(main)
