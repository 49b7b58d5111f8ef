#!/usr/bin/env python3
"""Benchmark of ctlookup's answers (--count-by, --timeline) against its plain filter and jq.

It reuses the machinery of bench/filter.py (the launcher that measures each command's own peak RSS,
the generator, the report helpers) and:

1. builds `gen-events` and `ctlookup` in release mode (unless --no-build);
2. generates, with the workspace's generator, a JSON Lines file of --count events (seed 7), or reuses
   the one bench/filter.py keeps (--keep);
3. for each case, runs ctlookup and jq once with their output read, and checks that they count the
   same groups (a mismatch ends the script with exit 1);
4. times --runs runs of: the plain filter (`ctlookup --input FILE -o jsonl`, every event printed),
   each case's ctlookup answer and its jq program, interleaved, stdout to /dev/null, keeping the best
   wall time and the largest peak RSS of each;
5. prints a Markdown report on stdout (progress goes to stderr), ready to paste into docs/performance.md.

Binaries and data live under $CARGO_TARGET_DIR (default: target/ of the repository).
Exit status: 0 when the benchmark ran (a missed target is reported, not fatal), 1 when a command
failed or the tools disagreed, 2 for a bad option, 130 when interrupted.
Python 3.11 standard library only; no network.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import filter as filterbench  # bench/filter.py, beside this script
from filter import Mismatch, exit_status, mib, progress, rss, run_quiet, seconds, timed_run, verdict

ROOT = filterbench.ROOT
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
DATA_DIR = TARGET / "bench"
filterbench.GEN_EVENTS = TARGET / "release" / "gen-events"
DEFAULT_CTLOOKUP = TARGET / "release" / "ctlookup"
SEED = filterbench.SEED


@dataclass(frozen=True)
class Case:
    """One row: a ctlookup answer, and (when there is one) the jq program that computes the same."""

    label: str
    args: tuple[str, ...]  # ctlookup options after --input FILE
    key: tuple[str, ...]  # the fields of ctlookup's jsonl rows that name a group
    jq_program: str | None  # prints [{k, n}]: the group's key and its count
    target_ratio: float | None  # ctlookup answer ÷ plain filter, at most


CASES = (
    Case(
        label="count by event name",
        args=("--count-by", "eventName"),
        key=("eventName",),
        jq_program="group_by(.eventName) | map({k: .[0].eventName, n: length})",
        target_ratio=1.3,
    ),
    Case(
        label="count by user and error (derived column)",
        args=("--count-by", "user,errorCode"),
        key=("user", "errorCode"),
        jq_program=None,
        target_ratio=None,
    ),
    Case(
        label="timeline, hourly",
        args=("--timeline", "1h", "--tz", "UTC"),
        key=("time",),
        jq_program="group_by(.eventTime[:13]) | map({k: .[0].eventTime[:13], n: length})",
        target_ratio=None,
    ),
)


@dataclass
class Measurement:
    best_seconds: float
    peak_rss_kib: int


def plain_argv(ctlookup: str, path: Path) -> list[str]:
    return [ctlookup, "--input", str(path), "-o", "jsonl"]


def answer_argv(ctlookup: str, case: Case, path: Path) -> list[str]:
    return [ctlookup, "--input", str(path), *case.args, "-o", "jsonl"]


def jq_argv(jq: str, case: Case, path: Path) -> list[str]:
    return [jq, "-s", "-c", case.jq_program, str(path)]


# ---------------------------------------------------------------- correctness


def ctlookup_counts(case: Case, argv: list[str]) -> Counter:
    """The answer's groups: key → count (a timeline's key cut to the hour, as the jq program cuts it)."""
    counts = Counter()
    for number, line in enumerate(run_quiet(argv).splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise Mismatch(f"line {number} printed by {shlex.join(argv)} is not JSON: {line[:200]!r}") from None
        key = tuple(row.get(field) for field in case.key)
        if case.key == ("time",):
            if row["count"] == 0:
                continue  # the empty hours, which jq does not print
            key = (key[0][:13],)  # to the hour, as the jq program cuts eventTime
        counts[key] += row["count"]
    return counts


def jq_counts(argv: list[str]) -> Counter:
    groups = json.loads(run_quiet(argv))
    return Counter({(group["k"],): group["n"] for group in groups})


def check(case: Case, ctlookup: str, jq: str, path: Path, events: int) -> int:
    """Returns the number of groups; raises Mismatch when jq counts otherwise or counts do not add up."""
    progress(f"[{case.label}] correctness run")
    ours = ctlookup_counts(case, answer_argv(ctlookup, case, path))
    if sum(ours.values()) != events:
        raise Mismatch(f"[{case.label}] ctlookup's counts add up to {sum(ours.values()):,}, not {events:,}")
    if case.jq_program is not None:
        theirs = jq_counts(jq_argv(jq, case, path))
        if ours != theirs:
            differ = sorted(str(k) for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            raise Mismatch(f"[{case.label}] ctlookup and jq count {len(differ)} groups differently, e.g. {differ[:3]}")
    return len(ours)


# ---------------------------------------------------------------- measuring


def measure(cases, ctlookup: str, jq: str, path: Path, runs: int) -> dict[str, Measurement]:
    """Every command once per round, rounds interleaved so that drift hits all of them alike."""
    commands = {"plain": plain_argv(ctlookup, path)}
    for case in cases:
        commands[f"ctlookup:{case.label}"] = answer_argv(ctlookup, case, path)
        if case.jq_program is not None:
            commands[f"jq:{case.label}"] = jq_argv(jq, case, path)
    times = {name: [] for name in commands}
    peaks = {name: [] for name in commands}
    for run in range(1, runs + 1):
        for name, argv in commands.items():
            elapsed, maxrss = timed_run(argv)
            times[name].append(elapsed)
            peaks[name].append(maxrss)
            progress(f"{name} run {run}/{runs}: {elapsed:.3f} s, {mib(maxrss)}")
    return {name: Measurement(min(times[name]), max(peaks[name])) for name in commands}


# ---------------------------------------------------------------- report


def report(cases, groups: dict[str, int], results, ctlookup: str, jq: str, path: Path, count: int, runs: int, floor: int) -> str:
    plain = results["plain"]
    header = [
        "case",
        "ctlookup options",
        "groups",
        "ctlookup",
        "÷ plain filter",
        "target",
        "jq -s",
        "jq ÷ ctlookup",
        "ctlookup peak RSS",
        "jq peak RSS",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    missed = []
    for case in cases:
        ours = results[f"ctlookup:{case.label}"]
        ratio = ours.best_seconds / plain.best_seconds
        if case.target_ratio is None:
            target = "none"
        else:
            met = ratio <= case.target_ratio
            target = f"≤{case.target_ratio:g}x: {verdict(met)}"
            if not met:
                missed.append(f"{case.label}: {ratio:.2f}x the plain filter > {case.target_ratio:g}x")
        theirs = results.get(f"jq:{case.label}")
        cells = [
            case.label,
            "`" + " ".join(case.args) + "`",
            f"{groups[case.label]:,}",
            seconds(ours.best_seconds),
            f"{ratio:.2f}x",
            target,
            seconds(theirs.best_seconds) if theirs else "–",
            f"{theirs.best_seconds / ours.best_seconds:.1f}x" if theirs else "–",
            rss(ours.peak_rss_kib, floor),
            rss(theirs.peak_rss_kib, floor) if theirs else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    jq_version = filterbench.first_line(run_quiet([jq, "--version"]))
    ct_version = filterbench.first_line(run_quiet([ctlookup, "--version"]))
    out = [
        f"Answers over {count:,} events from `gen-events --seed {SEED}` (JSON Lines, "
        f"{path.stat().st_size / 1024 / 1024:,.1f} MiB), best of {runs} run(s) with stdout to /dev/null; "
        "peak RSS is the command's own `ru_maxrss` (see bench/README.md).",
        "",
        *lines,
        "",
        f"* Plain filter (`ctlookup --input FILE -o jsonl`, every event parsed and printed): "
        f"{seconds(plain.best_seconds)}, peak RSS {rss(plain.peak_rss_kib, floor)}",
        f"* Machine: {filterbench.machine()}",
        f"* Tools: {ct_version} (`{ctlookup}`) from {filterbench.git_revision()}; {jq_version} (`{jq}`)",
        f"* Date: {now}",
        f"* Peak RSS floor of the method (what `true` measures): {mib(floor)}; "
        "≤ marks readings within 10% of it, where the true peak can be lower",
        "* Commands (FILE is the input):",
        f"  * `{shlex.join(['ctlookup'] + plain_argv(ctlookup, Path('FILE'))[1:])}`",
    ]
    for case in cases:
        out.append(f"  * `{shlex.join(['ctlookup'] + answer_argv(ctlookup, case, Path('FILE'))[1:])}`")
        if case.jq_program is not None:
            out.append(f"  * `{shlex.join(['jq'] + jq_argv(jq, case, Path('FILE'))[1:])}`")
    out += ["", "All targets met." if not missed else "Targets missed: " + "; ".join(missed) + "."]
    return "\n".join(out)


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark ctlookup's --count-by and --timeline against its plain filter and jq -s; "
        "prints a Markdown report on stdout.",
    )
    parser.add_argument("--count", type=filterbench.positive, default=200_000, help="events in the input (default 200000)")
    parser.add_argument("--runs", type=filterbench.positive, default=3, help="timed runs per command; the best is kept (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the input in $CARGO_TARGET_DIR/bench/ and reuse it")
    parser.add_argument("--ctlookup", metavar="PATH", help="ctlookup binary to measure (default: the release build, built first)")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = None
    try:
        if not args.no_build:
            filterbench.build(ctlookup_given=args.ctlookup is not None)
        ctlookup = args.ctlookup or str(DEFAULT_CTLOOKUP)
        jq = shutil.which("jq") or "/usr/bin/jq"
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        directory = DATA_DIR if args.keep else Path(tempfile.mkdtemp(prefix="count-", dir=DATA_DIR))
        workdir = None if args.keep else directory
        path = filterbench.input_path(directory, "jsonl", args.count)
        if not (args.keep and path.exists()):
            filterbench.generate(path, "jsonl", args.count)
        else:
            progress(f"reusing {path}")
        groups = {case.label: check(case, ctlookup, jq, path, args.count) for case in CASES}
        results = measure(CASES, ctlookup, jq, path, args.runs)
        print(report(CASES, groups, results, ctlookup, jq, path, args.count, args.runs, filterbench.rss_floor()))
        return 0
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(exit_status(main))
