#!/usr/bin/env python3
"""Reading the local event store back: events/s against jq over the same records.

It writes only under `target/bench/store-read/` (generated events, the store, an empty HOME). It:

1. generates --events events (default 200,000, seed 7) as `aws cloudtrail lookup-events --output json`
   saves them, and fills a store with them (`ctlookup sync` from the fake server, no rate limit);
2. exports every stored record (`ctlookup --offline -o jsonl`, the broad case's own output) to a
   JSON Lines file, the peer's input;
3. times, best of --runs, interleaved, stdout to /dev/null, with peak RSS from filter.py's launcher:
   * selective: `ctlookup --offline --where 'errorCode = AccessDenied' -o jsonl` against
     `jq -c 'select(.errorCode == "AccessDenied")' EXPORT`;
   * broad, every event printed: `ctlookup --offline -o jsonl` against `jq -c . EXPORT`;
4. checks that ctlookup and jq print the same eventIDs, and prints a Markdown report on stdout.

Exit status: 0 when it ran (a missed target is reported, not fatal), 1 when a command failed or the
outputs differ, 130 when interrupted. Python 3.11 standard library only; loopback network only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake import CTLOOKUP, build, environment, fresh, generate, ids, sync_store, window_of  # noqa: E402
from filter import DATA_DIR, exit_status, git_revision, machine, progress, timed_run  # noqa: E402

SELECTIVE_RATE = 1_000_000
BROAD_RATE = 400_000
MEMORY_MIB = 64
# The store keeps events by endpoint: the sync's server listens where the queries later say it is.
PORT = 47613
ENDPOINT = f"http://127.0.0.1:{PORT}"


def stored_events(env: dict[str, str]) -> int:
    """How many events the store holds (`ctlookup store -o jsonl`: a line per scope)."""
    listing = subprocess.run([str(CTLOOKUP), "store", "-o", "jsonl"], env=env, capture_output=True)
    if listing.returncode != 0:
        return 0
    return sum(json.loads(line)["events"] for line in listing.stdout.splitlines() if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    options = parser.parse_args()
    if not options.no_build:
        build()
    work = DATA_DIR / "store-read"
    work.mkdir(parents=True, exist_ok=True)
    events = work / f"events-{options.events}.json"
    generate(events, options.events)
    window = window_of(events)
    store_dir = work / f"store-{options.events}"
    env = environment(work / "home", store_dir)
    os.environ.update(env)
    # A store kept from an earlier run is used again when it holds every event; one of another store
    # format is rebuilt empty by `ctlookup store`, and filled again here.
    if stored_events(env) != options.events:
        progress(f"syncing {options.events:,} events into the store (no rate limit)")
        fresh(store_dir)
        sync_store(events, env, fresh(work / "log") / "requests.jsonl", port=PORT, store_max="4G")
    # --offline never asks the endpoint; it is given because the store's scope is named after it.
    base = [str(CTLOOKUP), "--endpoint-url", ENDPOINT, "--region", "us-east-1", *window, "--offline",
            "-o", "jsonl", "--no-progress"]
    export = work / f"export-{options.events}.jsonl"
    progress("exporting the stored records for jq")
    with open(export, "wb") as out:
        subprocess.run(base, stdout=out, check=True, env=env)
    stored = sum(1 for _ in open(export, "rb"))
    cases = [
        ("selective", "errorCode = AccessDenied", base + ["--where", "errorCode = AccessDenied"],
         ["jq", "-c", 'select(.errorCode == "AccessDenied")', str(export)], SELECTIVE_RATE),
        ("broad (every event printed)", None, base, ["jq", "-c", ".", str(export)], BROAD_RATE),
    ]
    rows = []
    for name, _, ours, peer, rate_goal in cases:
        progress(f"{name}: checking outputs")
        mine = ids(subprocess.run(ours, capture_output=True, check=True, env=env).stdout)
        theirs = ids(subprocess.run(peer, capture_output=True, check=True).stdout)
        if sorted(mine) != sorted(theirs):
            print(f"bench: MISMATCH in {name}: ctlookup {len(mine)} lines, jq {len(theirs)}", file=sys.stderr)
            return 1
        best = {"ctlookup": (float("inf"), 0), "jq": (float("inf"), 0)}
        for run in range(options.runs):
            progress(f"{name}: run {run + 1} of {options.runs}")
            for tool, argv in (("ctlookup", ours), ("jq", peer)):
                wall, rss = timed_run(argv)
                best[tool] = (min(best[tool][0], wall), max(best[tool][1], rss))
        (ct, ct_rss), (jq, jq_rss) = best["ctlookup"], best["jq"]
        rate = stored / ct
        rows.append((name, len(mine), ct, rate, rate_goal, jq, jq / ct, ct_rss / 1024, jq_rss / 1024))
    print("| case | output lines | ctlookup | events/s | target | jq | jq ÷ ctlookup | ctlookup peak RSS | jq peak RSS |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for name, lines, ct, rate, goal, jq, ratio, ct_mib, jq_mib in rows:
        met = "met" if rate >= goal else "**missed**"
        mem = "met" if ct_mib <= MEMORY_MIB else "**missed**"
        print(f"| {name} | {lines:,} | {ct:.3f} s | {rate:,.0f} | ≥ {goal:,}: {met} | {jq:.3f} s | {ratio:.1f}x "
              f"| {ct_mib:.1f} MiB (≤ {MEMORY_MIB}: {mem}) | {jq_mib:.1f} MiB |")
    print()
    print(f"* {stored:,} stored events; machine: {machine()}; ctlookup from {git_revision()}")
    print(f"* Date: {datetime.date.today().isoformat()}; `python3 bench/store_read.py --events {options.events} "
          f"--runs {options.runs}`")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
