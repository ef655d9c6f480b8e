"""The ViaCEP-compatible routes of the CEP API: their two targets, in one run.

Part 1, speed (wrk, alternating rounds): `GET /ws/{cep}/json/` reaches at least 90% of the
requests/s of `GET /ceps/{cep}`. One cep_api, seeded with the bundled sample, serves both; the
same --ceps CEPs (seeded RNG) are cycled over by two wrk scripts that differ only in the path.
Every CEP is first asked once through each route (that fills the memo of each shape and proves
each answers 200 with its own record), then each route gets an unmeasured warm-up. Each round
runs both routes one after the other, and which goes first alternates from round to round, so
drift of the machine touches both alike. The target is judged on the medians of the rounds;
the median of the per-round ratios (two runs seconds apart) is printed too.

Part 2, the address search `GET /ws/{uf}/{cidade}/{logradouro}/json/` over the full 1.1M-row file
(target: p50 under 50 ms). The file is seeded into a fresh database, and one pass over it builds
the queries with a seeded RNG:

- "random rows": --queries rows drawn uniformly (reservoir sampling), each asked with its own UF
  and town and a 4-to-12-letter piece of one word of its street; its own row matches, so an
  empty answer means the search is wrong;
- "big towns": the towns with the most CEPs (São Paulo, Rio de Janeiro, Brasília, ...) with common
  words ("Rua", "Silva", ...), every other one with the town written without accents or capitals:
  these fill the 50-result cap;
- "no match": a nonsense street in the biggest towns (the whole town is scanned for nothing),
  a town that does not exist, and a big town under another UF.

Each query is asked over HTTP with requests, sequentially: a warm-up pass (unmeasured, and where
the answers are checked: each record must be of the UF and town asked, contain the piece asked,
and come in CEP order, 50 at most), then one timed pass. p50/p95/max per group and overall are
reported, with how many answers hit the 50 cap and how many were empty. Path segments are
URL-encoded (quote with safe="").

Targets print as PASS or MISS; a missed target never changes the exit status (benchmarks
report, they do not judge). The exit status is 1 only when the figures are invalid: an answer
that is not a 200, a record that does not answer as itself, or a search answer that is wrong.

Usage (from the repo root):  .venv/bin/python bench/bench_viacep.py [--help]
Needs wrk:                   apt-get install wrk
"""
import argparse
import csv
import gzip
import math
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import requests

# benchlib.py, bench_cep.py and bench_logging.py sit next to this script (Python puts bench/ on sys.path).
from bench_cep import RESULT_LINE, print_load, seed_database
from bench_logging import write_script
from benchlib import (DEFAULT_FULL_CSV, SAMPLE_CSV, check_wrk, get_every_cep, median_speed, print_command_and_time,
                      print_machine, print_service_settings, print_table, read_ceps, run_benchmark, run_wrk, speed,
                      start_cep_api, wrk_command)

TARGET_RATIO = 0.90  # GET /ws/{cep}/json/ at >= 90% of GET /ceps/{cep}'s requests/s
TARGET_SEARCH_P50_MS = 50.0  # the address search over 1.1M rows
MAX_RESULTS = 50  # ViaCEP's cap on an address search
BIG_TOWNS = 6  # how many of the towns with the most CEPs get the common-word queries
COMMON_WORDS = ("Rua", "Silva", "Santos", "Jose", "Avenida")  # "Jose" finds "José": accents are ignored
NONSENSE_STREETS = ("qxzj", "wkyqv", "zzxv")  # letters no Brazilian street name holds
MISSING_TOWN = "Cidade Inexistente"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="ViaCEP routes: GET /ws/{cep}/json/ vs GET /ceps/{cep} (wrk), and the address search over 1.1M rows.")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured wrk per route (default 2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--ceps", type=int, default=1000, help="how many CEPs the wrk scripts cycle over (default 1000)")
    parser.add_argument("--queries", type=int, default=300,
                        help="address searches built from random rows of the full file (default 300)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the RNG that picks CEPs and queries (default 2024)")
    parser.add_argument("--sample-csv", type=Path, default=SAMPLE_CSV, help="CSV seeded for part 1")
    parser.add_argument("--full-csv", type=Path,
                        default=Path(os.environ.get("CEP_BENCH_FULL_CSV", DEFAULT_FULL_CSV)),
                        help="the 1.1M-row file for part 2 (env CEP_BENCH_FULL_CSV; "
                             "default <repo>/../shared/data/ceps_full.csv.gz)")
    parser.add_argument("--skip-full", action="store_true", help="skip part 2 (it seeds 1.1M rows: about 3 min here)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.wrk_threads, args.connections, args.ceps, args.queries) < 1 \
            or args.warmup < 0:
        parser.error("counts and durations must be positive")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    return args


# ---------------------------------------------------------------------------------------
# Part 1: GET /ws/{cep}/json/ against GET /ceps/{cep}
# ---------------------------------------------------------------------------------------

def get_every_viacep(server, ceps):
    """GET /ws/{cep}/json/ once per CEP: fills the ViaCEP memo, proves each is a 200 with its own record."""
    with requests.Session() as session:
        for cep in ceps:
            reply = session.get(f"{server.base_url}/ws/{cep}/json/", timeout=10)
            # A {"erro": "true"} is a 200 too: check the record is the one asked for.
            found = reply.json().get("cep", "") if reply.status_code == 200 else ""
            if found.replace("-", "") != cep:
                raise RuntimeError(f"GET /ws/{cep}/json/ answered {reply.status_code} {reply.text[:200]!r}, "
                                   f"not the record of {cep}; the benchmark would be meaningless.")


def run(args, server, script, seconds):
    """One wrk run against `server`: speed() figures plus the raw counts."""
    _, counts = run_wrk(wrk_command(args, seconds, script, server.base_url), RESULT_LINE, server.name)
    return {**speed(counts), "counts": counts}


def speed_part(args, workdir, servers):
    """Part 1: seed, warm up, the rounds; return ({route: [figures]}, problems)."""
    seconds, rows = seed_database(workdir / "sample.sqlite3", args.sample_csv)
    print(f"seeded {rows:,} rows from {args.sample_csv.name} in {seconds:.1f} s")
    all_ceps = read_ceps(args.sample_csv)
    ceps = random.Random(args.seed).sample(all_ceps, min(args.ceps, len(all_ceps)))
    server = start_cep_api("cep_api (sample)", workdir / "sample.sqlite3", workdir / "cep_api-sample.log", servers)
    get_every_cep(server, ceps)
    get_every_viacep(server, ceps)
    print(f"{len(ceps):,} random CEPs (seed {args.seed}) answer 200 through both routes")
    # Same CEPs in the same order: the two scripts differ only in the path.
    scripts = {"ceps": write_script([f"/ceps/{cep}" for cep in ceps], workdir / "ceps.lua"),
               "ws": write_script([f"/ws/{cep}/json/" for cep in ceps], workdir / "ws.lua")}
    print("wrk:", shlex.join(wrk_command(args, args.duration, "<script>.lua", "<url>")))
    if args.warmup:
        print(f"warm-up: {args.warmup} s of wrk per route (not measured)")
        for script in scripts.values():
            run(args, server, script, args.warmup)
    runs, problems = {"ceps": [], "ws": []}, []
    for number in range(1, args.rounds + 1):
        order = ("ceps", "ws") if number % 2 else ("ws", "ceps")  # neither always goes first
        for route in order:
            figures = run(args, server, scripts[route], args.duration)
            runs[route].append(figures)
            counts = figures["counts"]
            if counts["non200"] or counts["socket_errors"]:
                problems.append(f"round {number} {route}: {counts['non200']} answers not 200, "
                                f"{counts['socket_errors']} socket errors")
            print(f"round {number}/{args.rounds}  {route:4}  {figures['rps']:8,.0f} req/s  "
                  f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms  ({counts['requests']:,} requests)")
    server.stop()  # part 2 should have the machine to itself
    return runs, problems


def report_speed(args, runs):
    """Print part 1's medians and verdict."""
    ceps, ws = median_speed(runs["ceps"]), median_speed(runs["ws"])
    ratio = ws["rps"] / ceps["rps"]
    round_ratios = [w["rps"] / c["rps"] for c, w in zip(runs["ceps"], runs["ws"])]
    print(f"\npart 1: medians over {args.rounds} rounds of {args.duration} s, wrk -t{args.wrk_threads} "
          f"-c{args.connections}, {args.ceps:,} CEPs cycled; target: ws >= {TARGET_RATIO:.0%} of ceps")
    lines = [["route", "req/s", "p50 ms", "p99 ms", "ratio", "median round ratio", "target"]]
    lines.append(["GET /ceps/{cep}", f"{ceps['rps']:,.0f}", f"{ceps['p50']:.2f}", f"{ceps['p99']:.2f}", "-", "-", ""])
    lines.append(["GET /ws/{cep}/json/", f"{ws['rps']:,.0f}", f"{ws['p50']:.2f}", f"{ws['p99']:.2f}",
                  f"{ratio:.1%}", f"{statistics.median(round_ratios):.1%}",
                  "PASS" if ratio >= TARGET_RATIO else "MISS"])
    print_table(lines)


# ---------------------------------------------------------------------------------------
# Part 2: the address search over the full file
# ---------------------------------------------------------------------------------------

def plain(text):
    """`text` without accents or capitals, spaces single: how the search compares (for the checks)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def street_words(street):
    """The words of a street name a query piece can come from: letters only, 4 at least."""
    return [word for word in street.split() if len(word) >= 4 and word.isalpha()]


def sample_rows(path, count, seed):
    """One pass over the CSV: `count` rows with a usable street (reservoir sampling, seeded RNG)
    as (uf, cidade, logradouro), and a Counter of CEPs per (uf, cidade)."""
    rng, chosen, towns, eligible = random.Random(seed), [], Counter(), 0
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as csv_file:
        reader = csv.reader(csv_file)
        header = next(reader)
        # A plain reader, columns found by name: a DictReader would be slow over 1.1M rows.
        uf_at, town_at, street_at = header.index("uf"), header.index("cidade"), header.index("logradouro")
        for row in reader:
            towns[row[uf_at], row[town_at]] += 1
            if not street_words(row[street_at]):
                continue
            eligible += 1
            if len(chosen) < count:
                chosen.append((row[uf_at], row[town_at], row[street_at]))
            else:
                slot = rng.randrange(eligible)  # Algorithm R: every eligible row equally likely
                if slot < count:
                    chosen[slot] = (row[uf_at], row[town_at], row[street_at])
    return chosen, towns


def build_queries(path, count, seed):
    """The query set: a list of (group, uf, town, street), the same for the same file and seed."""
    rows, towns = sample_rows(path, count, seed)
    rng = random.Random(seed + 1)
    queries = []
    for uf, town, street in rows:
        word = rng.choice(street_words(street))
        length = rng.randint(4, min(12, len(word)))
        start = rng.randint(0, len(word) - length)
        queries.append(("random rows", uf, town, word[start:start + length]))
    biggest = [key for key, _ in towns.most_common(BIG_TOWNS)]
    for index, (uf, town) in enumerate(biggest):
        for number, word in enumerate(COMMON_WORDS):
            # Every other query spells the town as a user might type it: "sao paulo", "brasilia".
            queries.append(("big towns", uf, plain(town) if (index + number) % 2 else town, word))
    for uf, town in biggest[:3]:
        for word in NONSENSE_STREETS:
            queries.append(("no match", uf, town, word))
    ufs = sorted({uf for uf, _ in towns})
    for uf in rng.sample(ufs, 5):
        queries.append(("no match", uf, MISSING_TOWN, "Rua"))
    for uf, town in biggest[:4]:
        other = rng.choice([name for name in ufs if name != uf])
        queries.append(("no match", other, town, "Rua"))  # a real town, asked under another UF
    return queries, biggest


def search_path(uf, town, street):
    """The URL path of an address search, each segment URL-encoded."""
    return "/ws/" + "/".join(quote(part, safe="") for part in (uf, town, street)) + "/json/"


def check_answer(query, records):
    """What is wrong with the answer to `query` (a list of sentences; empty when it is right)."""
    group, uf, town, street = query
    wrong = []
    if not isinstance(records, list):
        return [f"not a list: {str(records)[:100]}"]
    if len(records) > MAX_RESULTS:
        wrong.append(f"{len(records)} records, more than {MAX_RESULTS}")
    if group == "random rows" and not records:
        wrong.append("no record, though the row the query was built from matches")
    ceps = [record.get("cep", "") for record in records]
    if ceps != sorted(ceps):
        wrong.append("records not in CEP order")
    for record in records:
        if (record.get("uf") != uf.upper() or plain(record.get("localidade", "")) != plain(town)
                or plain(street) not in plain(record.get("logradouro", ""))):
            wrong.append(f"record {record.get('cep')} does not match: {record.get('uf')}, "
                         f"{record.get('localidade')}, {record.get('logradouro')}")
            break
    return wrong


def time_queries(server, queries, check):
    """Ask every query once, sequentially; return [(ms, result count)], and the problems found if `check`."""
    timings, problems = [], []
    with requests.Session() as session:
        for query in queries:
            path = search_path(*query[1:])
            started = time.perf_counter()
            reply = session.get(server.base_url + path, timeout=30)
            body = reply.content  # the whole answer is read inside the timing
            ms = (time.perf_counter() - started) * 1000
            if reply.status_code != 200:
                problems.append(f"GET {path} answered {reply.status_code}: {body[:200]!r}")
                timings.append((ms, 0))
                continue
            records = reply.json()
            timings.append((ms, len(records) if isinstance(records, list) else 0))
            if check:
                problems += [f"GET {path}: {sentence}" for sentence in check_answer(query, records)]
    return timings, problems


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (fraction 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def search_part(args, workdir, servers):
    """Part 2: seed the full file, build and time the queries; return (report, problems)."""
    print(f"\nseeding {args.full_csv} into a fresh database ...", flush=True)
    seconds, rows = seed_database(workdir / "full.sqlite3", args.full_csv)
    print(f"seeded {rows:,} rows in {seconds:.1f} s")
    started = time.monotonic()
    queries, biggest = build_queries(args.full_csv, args.queries, args.seed)
    print(f"{len(queries)} queries built in {time.monotonic() - started:.1f} s (seed {args.seed}); "
          f"big towns: {', '.join(f'{town} ({uf})' for uf, town in biggest)}")
    server = start_cep_api("cep_api (full)", workdir / "full.sqlite3", workdir / "cep_api-full.log", servers)
    warm, problems = time_queries(server, queries, check=True)  # warms SQLite's and the OS's caches too
    timed, more_problems = time_queries(server, queries, check=False)
    server.stop()
    return {"rows": rows, "seed_seconds": seconds, "queries": queries, "warm": warm, "timed": timed}, \
        problems + more_problems


def report_search(report):
    """Print part 2's figures and verdict."""
    queries, timed = report["queries"], report["timed"]
    print(f"\npart 2: GET /ws/{{uf}}/{{cidade}}/{{logradouro}}/json/ over {report['rows']:,} rows, "
          f"{len(queries)} queries, sequential, after one warm-up pass; target: p50 < {TARGET_SEARCH_P50_MS:.0f} ms")
    lines = [["queries", "count", "p50 ms", "p95 ms", "max ms", f"at cap ({MAX_RESULTS})", "empty", "target"]]
    groups = list(dict.fromkeys(query[0] for query in queries))
    for group in groups + ["all"]:
        picked = [t for query, t in zip(queries, timed) if group in ("all", query[0])]
        ms, counts = [t[0] for t in picked], [t[1] for t in picked]
        verdict = ("PASS" if statistics.median(ms) < TARGET_SEARCH_P50_MS else "MISS") if group == "all" else ""
        lines.append([group, str(len(picked)), f"{statistics.median(ms):.1f}", f"{percentile(ms, 0.95):.1f}",
                      f"{max(ms):.1f}", str(sum(c >= MAX_RESULTS for c in counts)), str(sum(c == 0 for c in counts)),
                      verdict])
    print_table(lines)
    print(f"warm-up pass (first asking): p50 {statistics.median(t[0] for t in report['warm']):.1f} ms, "
          f"max {max(t[0] for t in report['warm']):.1f} ms")
    slowest = sorted(zip(timed, queries), key=lambda pair: -pair[0][0])[:3]
    print("slowest: " + "; ".join(f"{search_path(*query[1:])} {ms:.1f} ms ({count} results)"
                                  for (ms, count), query in slowest))
    print(f"seeding the {report['rows']:,} rows took {report['seed_seconds']:.0f} s")


def main(argv=sys.argv[1:]):
    args = parse_args(argv)
    if not check_wrk():
        return 1
    started = time.monotonic()
    print_machine()
    print_service_settings()
    print_load("load average before")
    servers, search = [], None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-viacep-") as tmp:
            workdir = Path(tmp)
            runs, problems = speed_part(args, workdir, servers)
            if args.skip_full:
                print("\npart 2 skipped (--skip-full)")
            elif not args.full_csv.is_file():
                print(f"\npart 2 skipped: {args.full_csv} not found (give it with --full-csv or CEP_BENCH_FULL_CSV)")
            else:
                search, search_problems = search_part(args, workdir, servers)
                problems += search_problems
    finally:
        for server in servers:
            server.stop()
    report_speed(args, runs)
    if search:
        report_search(search)
    for problem in problems[:20]:
        print("INVALID:", problem)
    if len(problems) > 20:
        print(f"INVALID: ... and {len(problems) - 20} more")
    print_command_and_time(started)
    return 1 if problems else 0


if __name__ == "__main__":
    run_benchmark(main)
