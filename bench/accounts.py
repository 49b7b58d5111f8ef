#!/usr/bin/env python3
"""Benchmark of many accounts at once: 10 accounts × 2 regions (20 lookups) against one lookup alone.

It writes only under `target/bench/accounts/` (generated events, request logs, an empty HOME) and
changes nothing else. It:

1. builds `fake-cloudtrail`, `gen-events` and `ctlookup` in release mode (unless --no-build);
2. generates --per-stream events (default 400, 8 pages) for each of --accounts accounts (default 10) in
   each of two regions, every account and region with its own events (`recipientAccountId`,
   `awsRegion`), as `aws cloudtrail lookup-events --output json` saves them;
3. serves them with `fake-cloudtrail --partition-by-account --partition-by-region --rate-limit 2`:
   each account and region its own Event history and its own 2 requests/s, as the service;
4. times, best of --runs, at ctlookup's default 2 requests/s: one account in one region (one lookup),
   then every account in both regions (`--accounts … --role-name bench --region us-east-1,us-west-2`,
   roles assumed through the fake's STS), checking that the second printed exactly the union, each
   event once, newest first, and counting throttled requests;
5. prints a Markdown report on stdout (progress on stderr), ready to paste into docs/performance.md.

Goal: the 20 lookups take at most 1.2x the time of one, with 0 throttled requests. Exit status: 0
when every case ran (a missed goal is reported, not fatal), 1 when a command failed or printed the
wrong events, 2 for a bad option, 130 when interrupted. Python 3.11 standard library only; loopback
network only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from filter import DATA_DIR, GEN_EVENTS, exit_status, git_revision, machine, progress, run_quiet  # noqa: E402
from fake import NEWEST, Fake, build, ctlookup, environment, fresh, ids  # noqa: E402

REGIONS = ("us-east-1", "us-west-2")
RATIO_GOAL = 1.2
WORK = DATA_DIR / "accounts"


def account_id(n: int) -> str:
    return f"{100000000000 + n * 1111:012d}"


def generate(path: Path, accounts: int, per_stream: int) -> list[dict]:
    """Every account's events in both regions, each (account, region) its own seed; newest first."""
    events: list[dict] = []
    for a in range(accounts):
        for r, region in enumerate(REGIONS):
            seed = 1000 + a * len(REGIONS) + r
            text = run_quiet([str(GEN_EVENTS), "--count", str(per_stream), "--seed", str(seed), "--newest", NEWEST,
                              "--max-gap-secs", "10", "--format", "aws-cli"])
            for event in json.loads(text)["Events"]:
                record = json.loads(event["CloudTrailEvent"])
                record["recipientAccountId"] = account_id(a)
                record["awsRegion"] = region
                event["CloudTrailEvent"] = json.dumps(record)
                events.append(event)
    events.sort(key=lambda e: e["EventTime"], reverse=True)
    path.write_text(json.dumps({"Events": events}))
    return events


def throttled(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if json.loads(line).get("error") == "ThrottlingException")


def best(args: list[str], env: dict[str, str], events: Path, runs: int, name: str) -> tuple[float, bytes, int]:
    """Best wall time of `runs` runs, each against a fresh fake; the last run's stdout and throttled count."""
    walls = []
    out = b""
    refused = 0
    for run in range(runs):
        log = WORK / f"{name}-{run}.log"
        log.unlink(missing_ok=True)
        fake = Fake(events, log, rate_limit=True, extra=("--partition-by-account", "--partition-by-region"))
        try:
            wall, _, out = ctlookup(["--endpoint-url", fake.url, "--no-store", *args], env)
        finally:
            fake.stop()
        refused += throttled(log)
        walls.append(wall)
        progress(f"{name}: {wall:.2f} s")
    return min(walls), out, refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10, help="accounts (default 10)")
    parser.add_argument("--per-stream", type=int, default=400, help="events per account and region (default 400)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case, best kept (default 3)")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    options = parser.parse_args(argv)
    if options.accounts < 1 or options.per_stream < 1 or options.runs < 1:
        parser.error("--accounts, --per-stream and --runs must be at least 1")
    if not options.no_build:
        build()
    fresh(WORK)
    events_path = WORK / "events.json"
    progress(f"generating {options.accounts} accounts × {len(REGIONS)} regions × {options.per_stream} events")
    events = generate(events_path, options.accounts, options.per_stream)
    env = environment(WORK / "home", WORK / "store")
    accounts = [account_id(a) for a in range(options.accounts)]
    role = ["--role-name", "bench"]
    one, one_out, one_refused = best(["--accounts", accounts[0], *role, "--region", REGIONS[0]], env,
                                     events_path, options.runs, "one lookup")
    many_args = ["--accounts", ",".join(accounts), *role, "--region", ",".join(REGIONS)]
    many, many_out, many_refused = best(many_args, env, events_path, options.runs, "all lookups")
    expected_one = {json.loads(e["CloudTrailEvent"])["eventID"] for e in events
                    if json.loads(e["CloudTrailEvent"])["recipientAccountId"] == accounts[0]
                    and json.loads(e["CloudTrailEvent"])["awsRegion"] == REGIONS[0]}
    printed = ids(many_out)
    times = [json.loads(line)["eventTime"] for line in many_out.splitlines() if line.strip()]
    expected_all = {json.loads(e["CloudTrailEvent"])["eventID"] for e in events}
    if set(ids(one_out)) != expected_one or len(printed) != len(set(printed)) or set(printed) != expected_all \
            or times != sorted(times, reverse=True):
        print("bench: the merged lookups did not print exactly the union, each event once, newest first",
              file=sys.stderr)
        return 1
    streams = options.accounts * len(REGIONS)
    ratio = many / one
    met = ratio <= RATIO_GOAL and many_refused == 0
    date = datetime.date.today().isoformat()
    print(f"### Many accounts ({date}, {machine()}, {git_revision()})\n")
    print(f"{streams} lookups ({options.accounts} accounts × {len(REGIONS)} regions) of {options.per_stream} events "
          f"each, every account and region at its own 2 requests/s (the fake's limit and ctlookup's default); "
          f"best of {options.runs}.\n")
    print("| case | events | wall | ratio | throttled |")
    print("|---|---:|---:|---:|---:|")
    print(f"| one account, one region | {len(expected_one):,} | {one:.2f} s | 1.00x | {one_refused} |")
    print(f"| {options.accounts} accounts × {len(REGIONS)} regions | {len(printed):,} | {many:.2f} s | {ratio:.2f}x "
          f"| {many_refused} |")
    print(f"\nGoal: at most {RATIO_GOAL}x with 0 throttled: {'met' if met else 'missed'}.")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
