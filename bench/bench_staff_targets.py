"""Issue #9's targets for the staff API, measured in the same run as the hello-world ceiling.

Part 1, speed (wrk, alternating rounds, at each of --connections; default -c8 and -c16):

- `GET /addresses/{cep}` on a cache hit: p99 <= 3x the hello-world's p99, and requests/s
  >= 60% of the hello-world's, at the same wrk settings;
- `POST /employees` whose CEP is a cache hit ("create-hit"): p99 <= 40 ms at -c16.

Part 2, memory (skipped with --skip-memory): a fresh staff API looks up --memory-ceps
(200,000) distinct CEPs that exist, each once, through `GET /addresses/{cep}` over HTTP; the
report gives the staff process's RSS (VmRSS in /proc/PID/status) before and after, its peak
(VmHWM), the size of its database file (and WAL), and the number of cache rows
(`GET /cep-cache`). The issue sets no limit for these: they are reported.

How part 1 works: the same servers and wrk Lua script as bench_staff.py (imported from it):
cep_api seeded with the bundled sample, staff_api with its own temporary database, and
bench/hello_app.py, each a subprocess on a free 127.0.0.1 port with waitress's default
threads. The --hit-ceps CEPs are fetched through the staff API once (so they are cached),
then every round runs, for each connection count: hello, addresses-hit, create-hit. The
same GET script drives hello and addresses-hit. Every answer's status and X-Cep-Cache
header are counted, and the service's own hit/miss counters are read around every run: a
hit that was not a hit, or a POST that was not a 201, makes the figures invalid.

How part 2 works: picks --memory-ceps rows of ../shared/data/ceps_full.csv.gz (1.1M real
CEPs; --full-csv) with a seeded RNG, writes them to a temporary CSV, seeds a fresh cep_api
database with it (`python -m cep_api seed`), starts that cep_api and a fresh staff_api, and
sends the lookups from --memory-connections threads of this script, each with its own
keep-alive connection, every CEP once in a shuffled order. Every answer must be a 200 and a
cache miss. Progress (rate, ETA, RSS) is printed every 15 s; --memory-max-seconds stops it
early (the figures then say how many lookups were done). A first lookup stores the answer in
the table only; the staff API keeps an entry in memory once a later lookup reads it back as
a hit, so --memory-passes 2 asks for every CEP a second time (all hits) and reports the
memory again: the bounded in-memory map is then full.

Targets print as PASS or MISS; a missed target never changes the exit status (benchmarks
report, they do not judge). The exit status is 1 only when the figures are invalid (wrong
statuses, hits that were not hits, socket errors), 0 otherwise.

BENCH_STAFF_TOKEN, when set, is sent as `Authorization: Bearer ...` by wrk and by this
script (for a staff API started with STAFF_API_TOKEN in the environment).

Usage (from the repo root):  .venv/bin/python bench/bench_staff_targets.py [--help]
                             .venv/bin/python bench/bench_staff_targets.py --skip-memory
Needs wrk:                   apt-get install wrk
"""
import argparse
import csv
import gzip
import http.client
import os
import random
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# benchlib.py and bench_staff.py sit next to this script (Python puts bench/ on sys.path).
from benchlib import (DEFAULT_FULL_CSV, SAMPLE_CSV, check_wrk, get_every_cep, print_command_and_time,
                      print_machine, print_service_settings, print_table, read_ceps, run_benchmark, seed_cep_api,
                      staff_headers, start_cep_api, wrk_command)
from bench_staff import (Bench, cache_page, check, median_of, start_servers, start_staff_api,
                         warm_staff_cache, write_wrk_script)

# Issue #9's targets.
TARGET_ADDRESS_RPS_RATIO = 0.60  # GET /addresses/{cep} hit: req/s >= 60% of hello-world's
TARGET_ADDRESS_P99_RATIO = 3.0  # ... and p99 <= 3x hello-world's, at the same wrk settings
TARGET_CREATE_HIT_P99_MS = 40.0  # POST /employees, CEP hit: p99 <= 40 ms ...
TARGET_CREATE_HIT_CONNECTIONS = 16  # ... at wrk -c16
MEMORY_CEPS = 200_000  # distinct CEPs looked up in the memory part
PROGRESS_SECONDS = 15  # how often the memory part says how far it is

SCENARIOS = ("hello", "addresses-hit", "create-hit")
LABELS = {
    "hello": "hello-world (ceiling)",
    "addresses-hit": "GET /addresses/{cep}, hit",
    "create-hit": "POST /employees, CEP hit",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Issue #9's targets for the staff API: GET /addresses on a hit against a Bottle+waitress "
                    "hello-world, POST /employees on a hit at -c16 (wrk), and the memory after 200k lookups.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of unmeasured wrk per scenario and connection count (default 2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", default="8,16",
                        help="wrk -c values, comma-separated; every round runs each (default 8,16)")
    parser.add_argument("--hit-ceps", type=int, default=200,
                        help="how many CEPs the hit scenarios cycle over (default 200)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the RNG that picks the CEPs (default 2024)")
    parser.add_argument("--sample-csv", type=Path, default=SAMPLE_CSV, help="the CEPs seeded into cep_api (part 1)")
    parser.add_argument("--skip-memory", action="store_true", help="skip part 2 (the memory after many lookups)")
    parser.add_argument("--memory-ceps", type=int, default=MEMORY_CEPS,
                        help=f"distinct CEPs looked up in part 2 (default {MEMORY_CEPS:,})")
    parser.add_argument("--memory-connections", type=int, default=16,
                        help="concurrent keep-alive connections sending part 2's lookups (default 16)")
    parser.add_argument("--memory-passes", type=int, default=1,
                        help="passes over the CEPs in part 2: the first is all misses, a second all hits "
                             "(which fills the in-memory map); default 1")
    parser.add_argument("--memory-max-seconds", type=float, default=0,
                        help="stop each pass of part 2 after this many seconds (default 0: never, do them all)")
    parser.add_argument("--full-csv", type=Path,
                        default=Path(os.environ.get("CEP_BENCH_FULL_CSV", DEFAULT_FULL_CSV)),
                        help="the real CEPs part 2 picks from (env CEP_BENCH_FULL_CSV; "
                             "default ../shared/data/ceps_full.csv.gz)")
    args = parser.parse_args(argv)
    try:
        args.connection_counts = sorted({int(value) for value in args.connections.split(",") if value.strip()})
    except ValueError:
        parser.error("--connections takes numbers separated by commas, e.g. 8,16")
    if not args.connection_counts:
        parser.error("--connections needs at least one number")
    args.connections = args.connection_counts[0]  # what Bench falls back to; every run names its own
    if min(args.rounds, args.duration, args.wrk_threads, args.hit_ceps, args.memory_ceps,
           args.memory_connections, args.memory_passes, *args.connection_counts) < 1 or min(args.warmup, args.memory_max_seconds) < 0:
        parser.error("counts and durations must be positive")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    return args


def verdict(met):
    return "PASS" if met else "MISS"


# ---------------------------------------------------------------------------------------
# Part 1: speed against the hello-world
# ---------------------------------------------------------------------------------------

def speed_part(args, workdir, servers):
    """Run the rounds; return (runs by (connections, scenario), problems)."""
    all_ceps = read_ceps(args.sample_csv)
    hit_ceps = random.Random(args.seed).sample(all_ceps, min(args.hit_ceps, len(all_ceps)))
    runs = {(c, scenario): [] for c in args.connection_counts for scenario in SCENARIOS}
    problems = []

    cep, staff, hello = start_servers(workdir, args.sample_csv, servers)
    get_every_cep(cep, hit_ceps)  # cep_api's memo: the first fetch of each through the staff API is quick
    script = write_wrk_script(hit_ceps, args.wrk_threads, workdir / "hit.lua")
    bench = Bench(args, cep, staff, hello, script, script)  # no miss scenario here
    cached = len(hit_ceps) - warm_staff_cache(staff, hit_ceps)
    print(f"{len(hit_ceps)} CEPs fetched through the staff API, so cached ({cached} were already)")
    for connections in args.connection_counts:
        print("wrk:", shlex.join(wrk_command(argparse.Namespace(**{**vars(args), "connections": connections}),
                                             args.duration, "hit.lua", "<url>", "get|create", "<tag>")))

    if args.warmup:
        print(f"\nwarm-up: {args.warmup} s of wrk per scenario and -c (not measured)")
        for connections in args.connection_counts:
            for scenario in SCENARIOS:
                figures = bench.run(scenario, args.warmup, connections)
                problems += [f"warm-up -c{connections} {scenario}: {p}" for p in check(scenario, figures)]
                print(f"  -c{connections:<3} {scenario:13}  {figures['rps']:8,.0f} req/s")

    print(f"\n{args.rounds} rounds of {args.duration} s: for each -c, hello, addresses-hit, create-hit")
    for number in range(1, args.rounds + 1):
        refetched = warm_staff_cache(staff, hit_ceps)  # 0, unless an entry was lost (fetching caches it again)
        if refetched:
            problems.append(f"round {number}: {refetched} hit CEPs were no longer cached")
        for connections in args.connection_counts:
            for scenario in SCENARIOS:
                figures = bench.run(scenario, args.duration, connections)
                runs[(connections, scenario)].append(figures)
                problems += [f"round {number} -c{connections} {scenario}: {p}" for p in check(scenario, figures)]
                c = figures["counts"]
                cache = "" if scenario == "hello" else f"  X-Cep-Cache hit {c['hit']:,}"
                cpu = "" if figures["cpu_ms"] is None else f"  CPU {figures['cpu_ms']:.2f} ms/req"
                print(f"round {number}/{args.rounds}  -c{connections:<3} {scenario:13}  {figures['rps']:8,.0f} req/s  "
                      f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms{cpu}  "
                      f"({c['requests']:,} requests){cache}")
            base, address = runs[(connections, "hello")][-1], runs[(connections, "addresses-hit")][-1]
            print(f"               -c{connections:<3} addresses-hit / hello: req/s {address['rps'] / base['rps']:.0%}, "
                  f"p99 {address['p99'] / base['p99']:.2f}x")
    return runs, problems


def report_speed(args, runs):
    """The medians table, the per-round ratios and the targets of part 1."""
    medians = {key: median_of(key_runs) for key, key_runs in runs.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.duration} s, wrk -t{args.wrk_threads}; "
          f"hit scenarios cycle over {args.hit_ceps} cached CEPs\n")
    lines = [("scenario", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "vs hello-world at the same -c")]
    for connections in args.connection_counts:
        hello = medians[(connections, "hello")]
        for scenario in SCENARIOS:
            m = medians[(connections, scenario)]
            versus = "-" if scenario != "addresses-hit" else (f"req/s {m['rps'] / hello['rps']:.0%}, "
                                                               f"p99 {m['p99'] / hello['p99']:.2f}x")
            lines.append((f"{LABELS[scenario]}, -c{connections}", f"{m['rps']:,.0f}", f"{m['p50']:.2f}",
                          f"{m['p99']:.2f}", "-" if m["cpu_ms"] is None else f"{m['cpu_ms']:.2f}", versus))
    print_table(lines, pad_last=False)
    print("server CPU ms/req: CPU time of cep_api + staff_api + hello during the run, per completed request")

    print("\nper round, GET /addresses/{cep} hit / hello-world (each pair seconds apart):")
    for connections in args.connection_counts:
        pairs = list(zip(runs[(connections, "addresses-hit")], runs[(connections, "hello")]))
        print(f"  -c{connections:<3} req/s " + ", ".join(f"{a['rps'] / h['rps']:.0%}" for a, h in pairs)
              + ";  p99 " + ", ".join(f"{a['p99'] / h['p99']:.2f}x" for a, h in pairs))

    targets = []  # (what, measured, target, met)
    for connections in args.connection_counts:
        hello, address = medians[(connections, "hello")], medians[(connections, "addresses-hit")]
        rps_ratio, p99_ratio = address["rps"] / hello["rps"], address["p99"] / hello["p99"]
        targets.append((f"GET /addresses/{{cep}} hit, -c{connections}: req/s / hello-world's",
                        f"{rps_ratio:.0%} ({address['rps']:,.0f} / {hello['rps']:,.0f})",
                        f">= {TARGET_ADDRESS_RPS_RATIO:.0%}", rps_ratio >= TARGET_ADDRESS_RPS_RATIO))
        targets.append((f"GET /addresses/{{cep}} hit, -c{connections}: p99 / hello-world's",
                        f"{p99_ratio:.2f}x ({address['p99']:.2f} / {hello['p99']:.2f} ms)",
                        f"<= {TARGET_ADDRESS_P99_RATIO:.0f}x", p99_ratio <= TARGET_ADDRESS_P99_RATIO))
    create = medians.get((TARGET_CREATE_HIT_CONNECTIONS, "create-hit"))
    if create is not None:
        targets.append((f"POST /employees, CEP hit, -c{TARGET_CREATE_HIT_CONNECTIONS}: p99", f"{create['p99']:.2f} ms",
                        f"<= {TARGET_CREATE_HIT_P99_MS:.0f} ms", create["p99"] <= TARGET_CREATE_HIT_P99_MS))
    return targets, create is not None


# ---------------------------------------------------------------------------------------
# Part 2: memory after many distinct lookups
# ---------------------------------------------------------------------------------------

def pick_rows(full_csv, count, seed, out_path):
    """Write `count` rows of full_csv, picked with a seeded RNG, to out_path; return their CEPs, shuffled."""
    every = read_ceps(full_csv)
    picked = random.Random(seed).sample(every, min(count, len(every)))  # a random order too
    wanted = set(picked)
    opener = gzip.open if str(full_csv).endswith(".gz") else open
    with opener(full_csv, "rt", newline="", encoding="utf-8") as source, \
            open(out_path, "w", newline="", encoding="utf-8") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader)
        column = header.index("cep")
        writer.writerow(header)  # the header `python -m cep_api seed` reads the columns by
        writer.writerows(row for row in reader if row[column] in wanted)
    return picked


class Lookups:
    """GET /addresses/{cep} once for each CEP, from several threads with a keep-alive connection each."""

    def __init__(self, staff, ceps, connections, max_seconds, expected):
        self.staff, self.ceps, self.connections, self.max_seconds = staff, ceps, connections, max_seconds
        self.expected = expected  # the X-Cep-Cache every answer must carry: "miss", or "hit"
        self._next = iter(ceps)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.done = 0
        self.answered = []  # the CEPs that answered 200, in no particular order
        self.statuses, self.cache = Counter(), Counter()  # status codes; X-Cep-Cache values
        self.errors, self.first_problem = 0, ""
        self.latencies = []  # seconds, one per answered lookup

    def run(self, report):
        """Send them all (or until max_seconds); call report(self, elapsed) every PROGRESS_SECONDS."""
        started = time.monotonic()
        threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.connections)]
        for thread in threads:
            thread.start()
        next_report = started + PROGRESS_SECONDS
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.25)
            now = time.monotonic()
            if self.max_seconds and now - started >= self.max_seconds:
                self._stop.set()
            if now >= next_report:
                report(self, now - started)
                next_report += PROGRESS_SECONDS
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def _worker(self):
        headers = staff_headers()
        connection = http.client.HTTPConnection("127.0.0.1", self.staff.port, timeout=30)
        latencies, answered, statuses, cache = [], [], Counter(), Counter()
        try:
            while not self._stop.is_set():
                with self._lock:
                    cep = next(self._next, None)
                if cep is None:
                    break
                began = time.perf_counter()
                try:
                    connection.request("GET", f"/addresses/{cep}", headers=headers)
                    answer = connection.getresponse()
                    body = answer.read()
                except (OSError, http.client.HTTPException) as error:
                    connection.close()  # http.client reconnects on the next request
                    with self._lock:
                        self.errors += 1
                        self.first_problem = self.first_problem or f"GET /addresses/{cep}: {error!r}"
                    continue
                latencies.append(time.perf_counter() - began)
                statuses[answer.status] += 1
                outcome = answer.getheader("X-Cep-Cache") or "none"
                cache[outcome] += 1
                if answer.status == 200:
                    answered.append(cep)
                with self._lock:
                    self.done += 1
                    if (answer.status != 200 or outcome != self.expected) and not self.first_problem:
                        self.first_problem = (f"GET /addresses/{cep}: {answer.status}, X-Cep-Cache {outcome}, "
                                              f"{body[:200]!r}")
        finally:
            connection.close()
            with self._lock:
                self.latencies += latencies
                self.answered += answered
                self.statuses.update(statuses)
                self.cache.update(cache)


def file_size(path):
    return path.stat().st_size if path.exists() else 0


def mib(kib):
    return kib / 1024


def memory_part(args, workdir, servers):
    """Seed the picked CEPs, look each up through a fresh staff API; returns (figures, problems, timings)."""
    timings = {}
    part_began = began = time.monotonic()
    csv_path = workdir / "memory_ceps.csv"
    print(f"\npart 2: picking {args.memory_ceps:,} CEPs of {args.full_csv} ...", flush=True)
    ceps = pick_rows(args.full_csv, args.memory_ceps, args.seed, csv_path)
    timings["pick"] = time.monotonic() - began

    began = time.monotonic()
    cep_db = workdir / "memory_cep.sqlite3"
    seed_cep_api(cep_db, csv_path)
    timings["seed"] = time.monotonic() - began
    print(f"seeded {len(ceps):,} CEPs into a fresh cep_api database in {timings['seed']:.0f} s "
          f"(picking them took {timings['pick']:.0f} s)")

    cep = start_cep_api("cep_api (memory)", cep_db, workdir / "memory_cep_api.log", servers)
    staff_db = workdir / "memory_staff.sqlite3"
    staff = start_staff_api("staff_api (memory)", cep, staff_db, workdir / "memory_staff_api.log", servers)
    figures = {"asked": len(ceps), "rss_before": staff.memory_kib("VmRSS"),
               "cep_rss_before": cep.memory_kib("VmRSS"), "passes": []}
    print(f"fresh staff_api up: VmRSS {mib(figures['rss_before']):.1f} MiB; {args.memory_passes} pass(es) over "
          f"{len(ceps):,} CEPs, each CEP once per pass, over {args.memory_connections} keep-alive connections"
          + (f" (at most {args.memory_max_seconds:.0f} s a pass)" if args.memory_max_seconds else ""), flush=True)

    problems = []
    for number in range(1, args.memory_passes + 1):
        expected = "miss" if number == 1 else "hit"
        print(f"pass {number}: every lookup must be a {expected}", flush=True)

        def progress(lookups, elapsed):
            rate = lookups.done / elapsed if elapsed else 0
            left = (len(lookups.ceps) - lookups.done) / rate if rate else float("inf")
            print(f"  {lookups.done:9,} / {len(lookups.ceps):,} lookups in {elapsed:4.0f} s, {rate:,.0f}/s, "
                  f"about {left / 60:.1f} min left; staff VmRSS {mib(staff.memory_kib('VmRSS') or 0):.1f} MiB",
                  flush=True)

        lookups = Lookups(staff, ceps, args.memory_connections, args.memory_max_seconds, expected)
        seconds = lookups.run(progress)
        timings[f"pass {number}"] = seconds
        cache = cache_page(staff)
        latencies = sorted(lookups.latencies)
        figures["passes"].append({
            "expected": expected, "asked": len(ceps), "done": lookups.done, "seconds": seconds,
            "rss_after": staff.memory_kib("VmRSS"), "hwm_after": staff.memory_kib("VmHWM"),
            "cep_rss_after": cep.memory_kib("VmRSS"),
            "db": file_size(staff_db), "wal": file_size(Path(f"{staff_db}-wal")),
            "rows": cache["total"], "misses": cache["misses"], "hits": cache["hits"],
            "statuses": dict(lookups.statuses), "cache": dict(lookups.cache), "errors": lookups.errors,
            "p50": 1000 * latencies[len(latencies) // 2] if latencies else None,
            "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
        })
        print(f"  pass {number}: {lookups.done:,} lookups in {seconds:.0f} s; staff VmRSS "
              f"{mib(figures['passes'][-1]['rss_after']):.1f} MiB; {cache['total']:,} cache rows", flush=True)
        if lookups.errors:
            problems.append(f"memory pass {number}: {lookups.errors} lookups failed (first: {lookups.first_problem})")
        if lookups.statuses[200] != lookups.done or lookups.cache[expected] != lookups.done:
            problems.append(f"memory pass {number}: not every lookup was a 200 and a {expected}: statuses "
                            f"{dict(lookups.statuses)}, X-Cep-Cache {dict(lookups.cache)} "
                            f"(first: {lookups.first_problem})")
        distinct = len(lookups.answered) if number == 1 else len(ceps)
        if cache["total"] != distinct:
            problems.append(f"memory pass {number}: {cache['total']:,} cache rows after {distinct:,} distinct CEPs")
        ceps = lookups.answered if number == 1 else ceps  # a later pass asks only for what the first cached

    for server in (staff, cep):  # their memory is read: the machine is free for what follows
        server.stop()
    timings["total"] = time.monotonic() - part_began
    return figures, problems, timings


def report_memory(figures):
    first = figures["passes"][0]
    print(f"\nmemory after {first['done']:,} distinct CEP lookups through the staff API"
          + ("" if first["done"] == figures["asked"] else f" (stopped early: {figures['asked']:,} asked)")
          + "; the issue sets no limit for these, they are reported\n")
    before = figures["rss_before"]
    lines = [("figure", "value")]
    lines.append(("staff_api VmRSS before", f"{mib(before):.1f} MiB"))
    for number, one in enumerate(figures["passes"], start=1):
        what = f"after pass {number} ({one['done']:,} {'misses' if one['expected'] == 'miss' else 'hits'})"
        grown = one["rss_after"] - before
        lines.append((f"staff_api VmRSS {what}", f"{mib(one['rss_after']):.1f} MiB (+{mib(grown):.1f} MiB since "
                                                 f"before, {1024 * grown / max(first['done'], 1):,.0f} bytes per CEP); "
                                                 f"peak (VmHWM) {mib(one['hwm_after']):.1f} MiB"))
        lines.append((f"staff database file {what}",
                      f"{one['db'] / 2**20:.1f} MiB + WAL {one['wal'] / 2**20:.1f} MiB "
                      f"({(one['db'] + one['wal']) / max(one['rows'], 1):,.0f} bytes per cache row)"))
        lines.append((f"cache rows {what}", f"{one['rows']:,} (GET /cep-cache total; expected {first['done']:,}: "
                                            f"{'as expected' if one['rows'] == first['done'] else 'NOT as expected'})"))
        lines.append((f"answers of pass {number}", f"status {one['statuses']}, X-Cep-Cache {one['cache']}, "
                                                   f"errors {one['errors']}; GET /cep-cache counters since start: "
                                                   f"misses {one['misses']:,}, hits {one['hits']:,}"))
        if one["p50"] is not None:
            lines.append((f"speed of pass {number}", f"{one['done'] / one['seconds']:,.0f} lookups/s over "
                                                     f"{one['seconds']:.0f} s, p50 {one['p50']:.1f} ms, "
                                                     f"p99 {one['p99']:.1f} ms"))
    last = figures["passes"][-1]
    lines.append(("cep_api VmRSS before / after (for reference)",
                  f"{mib(figures['cep_rss_before']):.1f} / {mib(last['cep_rss_after']):.1f} MiB"))
    print_table(lines, pad_last=False)
    if len(figures["passes"]) == 1:
        print("A first lookup is a miss: its answer goes to the table, and only a later lookup (a hit read from the\n"
              "table) puts the entry in the in-memory map. --memory-passes 2 asks for every CEP again, as hits.")


# ---------------------------------------------------------------------------------------

def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk():
        return 1
    started = time.monotonic()
    print_machine()
    print_service_settings()
    print("servers: cep_api, staff_api and hello-world on 127.0.0.1, each with waitress's default thread count")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    problems = []
    memory = None
    timings = {}
    servers = []
    with tempfile.TemporaryDirectory(prefix="staff-targets-") as tmp:
        workdir = Path(tmp)
        try:
            began = time.monotonic()
            runs, speed_problems = speed_part(args, workdir, servers)
            problems += speed_problems
            for server in servers:  # part 2 wants the machine to itself
                server.stop()
            timings["speed"] = time.monotonic() - began
            if args.skip_memory:
                print("\npart 2 (memory) skipped: --skip-memory")
            elif not args.full_csv.is_file():
                print(f"\npart 2 (memory) skipped: {args.full_csv} not found (give it with --full-csv "
                      f"or CEP_BENCH_FULL_CSV)")
            else:
                memory, memory_problems, memory_timings = memory_part(args, workdir, servers)
                problems += memory_problems
                timings.update({f"memory {name}": seconds for name, seconds in memory_timings.items()})
        finally:
            for server in reversed(servers):
                server.stop()

    targets, create_measured = report_speed(args, runs)
    if memory is not None:
        report_memory(memory)

    print("\nchecks:")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if not problems:
        print("  all as expected: hits were hits, every POST a 201"
              + ("; every memory lookup a 200 (a miss in pass 1, a hit after), one cache row per CEP"
                 if memory else ""))

    print(f"\ntargets (issue #9; medians of {args.rounds} rounds; a MISS does not change the exit status):")
    lines = [("target", "measured", "wanted", "result")]
    lines += [(what, measured, wanted, verdict(met)) for what, measured, wanted, met in targets]
    print_table(lines, pad_last=False)
    if not create_measured:
        print(f"  POST /employees, CEP hit: not measured at -c{TARGET_CREATE_HIT_CONNECTIONS} "
              f"(add {TARGET_CREATE_HIT_CONNECTIONS} to --connections)")
    if problems:
        print("  (the figures are invalid: see PROBLEM above)")

    print("\ntime: part 1 (speed) {:.0f} s".format(timings.get("speed", 0)), end="")
    if "memory total" in timings:
        passes = [f"pass {n} {timings[f'memory pass {n}']:.0f} s" for n in range(1, args.memory_passes + 1)]
        print("; part 2 (memory) {:.0f} s: picking the CEPs {:.0f} s, seeding {:.0f} s, lookups {}".format(
            timings["memory total"], timings["memory pick"], timings["memory seed"], ", ".join(passes)), end="")
    print()
    print("load average after (this benchmark's own load included): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print_command_and_time(started)
    return 1 if problems else 0


if __name__ == "__main__":
    run_benchmark(main)
