#!/usr/bin/env python3
"""Benchmark of the local event store against the fake CloudTrail server.

It writes only under `target/bench/` (generated events, request logs, store directories, an empty
HOME) and changes nothing else. It:

1. builds `fake-cloudtrail`, `gen-events` and `ctlookup` in release mode (unless --no-build);
2. generates a window of --events events (default 5,000, seed 7) and one of --large events (default
   50,000), as `aws cloudtrail lookup-events --output json` saves them;
3. measures, each against a fresh `fake-cloudtrail --log-requests LOG`:
   a. the window asked twice with different filters (`--errors`, then `--event-name ConsoleLogin`) at
      2 requests/s: the second run's wall time against the first's, and its LookupEvents requests;
   b. the first run's cost with the store against `--no-store`, both at 2 requests/s;
   c. the bytes the store keeps per event: compressed pages, and the whole file;
   d. peak memory (max RSS) of `ctlookup sync` filling the store with the large window (no rate limit:
      this case is about memory) and of a query answered from it;
4. checks that every run printed exactly the events a run without the store prints, and prints a
   Markdown report on stdout (progress on stderr), ready to paste into docs/performance.md.

Exit status: 0 when every case ran (a missed goal is reported, not fatal), 1 when a command failed or
printed the wrong events, 2 for a bad option, 130 when interrupted. Python 3.11 standard library only;
loopback network only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake import (  # noqa: E402
    build,
    CTLOOKUP,
    RATE_LIMIT,
    Fake,
    ctlookup,
    environment,
    fresh,
    generate,
    ids,
    sync_store,
    window_of,
)
from filter import DATA_DIR, exit_status, git_revision, machine, progress, timed_run  # noqa: E402

SPEEDUP_GOAL = 1000  # a: first ÷ second
OVERHEAD_GOAL = 1.05  # b: with the store ÷ --no-store
BYTES_GOAL = 200  # c: per event
MEMORY_GOAL_MIB = 40  # d


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--no-build", action="store_true")
    options = parser.parse_args()
    if not options.no_build:
        build()
    work = DATA_DIR / "store"
    work.mkdir(parents=True, exist_ok=True)
    small, large = work / f"events-{options.events}.json", work / f"events-{options.large}.json"
    generate(small, options.events)
    generate(large, options.large)
    window = window_of(small)
    rows = []

    # a and b: the same window, first with the store, then a second question; then --no-store.
    progress(f"a: {options.events:,} events at {RATE_LIMIT} requests/s, twice (about {options.events / 100:.0f} s)")
    env = environment(work / "home", fresh(work / "store-a"))
    fake = Fake(small, fresh(work / "log-a") / "requests.jsonl", rate_limit=True)
    try:
        base = ["--endpoint-url", fake.url, "--region", "us-east-1", "-o", "jsonl", *window]
        first_wall, _, first_out = ctlookup(base + ["--errors"], env)
        first_requests = fake.lookups()
        second_wall, _, second_out = ctlookup(base + ["--event-name", "ConsoleLogin"], env)
        second_requests = fake.lookups() - first_requests
        progress("b: the first run again with --no-store")
        direct_wall, _, direct_errors = ctlookup(base + ["--errors", "--no-store"], env)
        _, _, direct_logins = ctlookup(base + ["--event-name", "ConsoleLogin", "--no-store"], env)
    finally:
        fake.stop()
    if ids(first_out) != ids(direct_errors) or ids(second_out) != ids(direct_logins):
        print("ctlookup with the store printed other events than without it", file=sys.stderr)
        return 1
    speedup = first_wall / second_wall
    overhead = first_wall / direct_wall
    rows.append(("a. second question over the stored window", f"{first_wall:.1f} s, then {second_wall * 1000:.0f} ms "
                 f"({second_requests} requests)", f"{speedup:,.0f}x", f"≥ {SPEEDUP_GOAL}x, 0 requests",
                 speedup >= SPEEDUP_GOAL and second_requests == 0))
    rows.append(("b. first run, store against --no-store", f"{first_wall:.1f} s against {direct_wall:.1f} s "
                 f"({first_requests} requests)", f"{overhead:.3f}x", f"≤ {OVERHEAD_GOAL}x", overhead <= OVERHEAD_GOAL))

    # c: what the store keeps.
    listing = json.loads(subprocess.run([str(CTLOOKUP), "store", "-o", "jsonl"], env=env, capture_output=True,
                                        check=True).stdout.splitlines()[0])
    file_bytes = sum(p.stat().st_size for p in (work / "store-a").iterdir())
    per_event = listing["bytes"] / listing["events"]
    rows.append(("c. bytes stored per event", f"pages {listing['bytes']:,} B, file {file_bytes:,} B for "
                 f"{listing['events']:,} events", f"{per_event:.0f} B (file {file_bytes / listing['events']:.0f} B)",
                 f"≤ {BYTES_GOAL} B", per_event <= BYTES_GOAL))

    # d: memory with the large window.
    progress(f"d: {options.large:,} events synced and queried (no rate limit)")
    env = environment(work / "home", fresh(work / "store-d"))
    port = 47614  # the query names the sync's endpoint: the store keeps events by endpoint
    sync_rss = sync_store(large, env, fresh(work / "log-d") / "requests.jsonl", port=port)
    # --offline never asks the endpoint.
    source = ["--endpoint-url", f"http://127.0.0.1:{port}", "--region", "us-east-1"]
    query = [str(CTLOOKUP), *source, *window_of(large), "-o", "jsonl", "--offline"]
    query_wall, query_rss = timed_run(query)
    _, _, out = ctlookup(query[1:], env)
    if len(ids(out)) != options.large:
        print(f"the query from the store printed {len(ids(out))} events, not {options.large}", file=sys.stderr)
        return 1
    peak = max(sync_rss, query_rss) / 1024
    rows.append(("d. peak memory, 50,000 events", f"sync {sync_rss / 1024:.1f} MiB, query {query_rss / 1024:.1f} MiB "
                 f"({query_wall:.2f} s from the store)", f"{peak:.1f} MiB", f"≤ {MEMORY_GOAL_MIB} MiB",
                 peak <= MEMORY_GOAL_MIB))

    print("| case | measured | figure | goal | met |")
    print("| --- | --- | --- | --- | --- |")
    for name, measured, figure, goal, met in rows:
        print(f"| {name} | {measured} | {figure} | {goal} | {'yes' if met else 'NO'} |")
    print()
    print(f"* Machine: {machine()}; ctlookup and fake-cloudtrail from {git_revision()}")
    print(f"* Date: {datetime.date.today().isoformat()}; `python3 bench/store.py --events {options.events} "
          f"--large {options.large}`")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
