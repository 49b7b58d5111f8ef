#!/usr/bin/env python3
"""Benchmark of ctlookup's API source against the fake CloudTrail server (and of the aws CLI beside it).

It writes only under `target/bench/` (generated events, request logs, an empty HOME) and changes
nothing else in the repository. It:

1. builds `fake-cloudtrail`, `gen-events` and `ctlookup` in release mode (unless --no-build);
2. generates, with the workspace's generator, an aws-shaped document of --events events (seed 7),
   and one of twice as many events whose records are rewritten to lie half in us-east-1, half in
   us-west-2 (only `awsRegion` changes);
3. runs each case against a fresh `fake-cloudtrail --rate-limit 2 --log-requests LOG` (2 requests/s,
   per region when `--partition-by-region`), reads the command's stdout as it comes, checks that every
   expected event was printed exactly once, and counts requests and ThrottlingExceptions in the log:
   a. a full scan of one region: pages per second as a fraction of the 2 requests/s limit;
   b. the same number of pages in each of two regions (`--region us-east-1,us-west-2`) against one
      region alone, with the server partitioned by region: the wall-time ratio;
   c. `--max-items 1` against a server with 50 ms of latency: time to the first byte on stdout,
      less that one round trip;
   d. when the `aws` CLI is on PATH, the scan of (a) with `aws cloudtrail lookup-events`, for comparison;
4. prints a Markdown report on stdout (progress goes to stderr), ready to paste into docs/performance.md.

Cases are independent: one that fails shows "failed: <reason>" in its row, the others still run.
Exit status: 0 when every case ran (missed targets, and an aws CLI run that failed, are reported, not
fatal), 1 when a case failed (a command failed or printed the wrong events), 2 for a bad option,
130 when interrupted. Python 3.11 standard library only; loopback network only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Shared helpers (machine facts, git revision, helper commands) come from the filter benchmark.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from filter import (  # noqa: E402
    exit_status,
    DATA_DIR,
    GEN_EVENTS,
    ROOT,
    SEED,
    CommandFailed,
    first_line,
    git_revision,
    machine,
    positive,
    progress,
    run_quiet,
    verdict,
)

FAKE = ROOT / "target" / "release" / "fake-cloudtrail"
DEFAULT_CTLOOKUP = ROOT / "target" / "release" / "ctlookup"
RATE_LIMIT = 2  # requests per second (per region), the service's limit
PAGE_SIZE = 50
REGION = "us-east-1"
OTHER_REGION = "us-west-2"
LATENCY_MS = 50  # case c
MIN_PAGES = 40  # fewer pages make the rate figure inconclusive

RATE_TARGET = 0.95  # case a: pages/s ÷ limit, with no throttling
TWO_REGION_TARGET = 1.2  # case b: wall(two regions) ÷ wall(one region)
FIRST_EVENT_TARGET_MS = 30  # case c: time to the first byte, over one round trip


class CaseFailed(Exception):
    """A case could not be measured: the reason is one line, shown in the row and on stderr."""


# ---------------------------------------------------------------- running commands


@dataclass
class Run:
    argv: list[str]
    status: int
    wall: float  # seconds from start to exit
    first_byte: float | None  # seconds from start to the first byte on stdout
    stdout: bytes
    stderr: str
    timed_out: bool = False

    def last_stderr_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else "(no stderr)"

    def describe_failure(self, name: str) -> str:
        """One line: how the command ended and the last line it wrote on stderr."""
        if self.timed_out:
            how = f"timed out after {self.wall:.0f} s"
        elif self.status < 0:
            how = f"was killed by signal {-self.status}"
        else:
            how = f"exited with {self.status}"
        return f"{name} {how}: {self.last_stderr_line()}"


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Run:
    """Run a command with its stdout read here, unbuffered (os.read), as it comes.

    The clock starts just before the process is created; the first-byte time is taken when the first
    read returns data. A command still running after `timeout` seconds is killed.
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd)
        except OSError as e:
            raise CommandFailed(argv, 127, f"cannot start {argv[0]}: {e.strerror}") from None
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        chunks, first_byte = [], None
        try:
            fd = proc.stdout.fileno()
            while chunk := os.read(fd, 1 << 16):
                if first_byte is None:
                    first_byte = time.perf_counter() - start
                chunks.append(chunk)
            status = proc.wait()
            wall = time.perf_counter() - start
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            watchdog.cancel()
            proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Run(argv, status, wall, first_byte, b"".join(chunks), stderr, expired.is_set())


def clean_env(home: Path) -> dict[str, str]:
    """Only what the tools need: no profile, no real credentials, no instance metadata lookups."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "benchmark-secret",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class FakeServer:
    """A fresh `fake-cloudtrail` for one run: started on enter, stopped on exit; its request log is read."""

    def __init__(self, events: Path, log: Path, partition: bool = False, latency_ms: int = 0):
        self.argv = [str(FAKE), "--events", str(events), "--rate-limit", str(RATE_LIMIT), "--log-requests", str(log)]
        if partition:
            self.argv.append("--partition-by-region")
        if latency_ms:
            self.argv += ["--latency-ms", str(latency_ms)]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> FakeServer:
        if not FAKE.exists():
            raise CommandFailed([str(FAKE)], 127, "fake-cloudtrail is not built; run without --no-build")
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err)
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.err.seek(0)
            stderr = self.err.read().decode(errors="replace")
            self.err.close()
            raise CommandFailed(self.argv, self.proc.returncode, stderr)
        return self

    def __exit__(self, *_) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
        self.err.close()

    def requests(self) -> list[dict]:
        """The log: one object per request, in the order the server decided on them."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@dataclass
class Traffic:
    """What the server saw during one run."""

    requests: int
    pages: int  # successful answers
    throttled: int
    other_errors: Counter = field(default_factory=Counter)
    per_region: Counter = field(default_factory=Counter)  # successful answers by region

    @staticmethod
    def of(log: list[dict]) -> Traffic:
        errors = Counter(entry["error"] or f"status {entry['status']}" for entry in log if entry["status"] != 200)
        throttled = errors.pop("ThrottlingException", 0)
        per_region = Counter(entry["region"] for entry in log if entry["status"] == 200)
        return Traffic(len(log), sum(per_region.values()), throttled, errors, per_region)

    def describe(self) -> str:
        text = f"{self.requests:,} requests, {self.throttled:,} throttled"
        if self.other_errors:
            text += ", " + ", ".join(f"{n:,} {kind}" for kind, n in sorted(self.other_errors.items()))
        return text


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Events:
    path: Path
    ids: dict[str, str]  # eventID → region of its record
    newest: frozenset[str]  # the eventIDs with the newest EventTime

    def in_region(self, region: str) -> Counter:
        return Counter(event_id for event_id, r in self.ids.items() if r == region)

    def all(self) -> Counter:
        return Counter(self.ids.keys())


def load_events(path: Path) -> Events:
    document = json.loads(path.read_text())
    ids, times = {}, {}
    for event in document["Events"]:
        record = json.loads(event["CloudTrailEvent"])
        ids[event["EventId"]] = record.get("awsRegion")
        times[event["EventId"]] = datetime.datetime.fromisoformat(event["EventTime"])
    newest = max(times.values())
    return Events(path, ids, frozenset(i for i, t in times.items() if t == newest))


def generate(path: Path, count: int) -> None:
    if not GEN_EVENTS.exists():
        raise CommandFailed([str(GEN_EVENTS)], 127, "gen-events is not built; run without --no-build")
    progress(f"generating {path.name} ({count:,} events)")
    argv = [str(GEN_EVENTS), "--count", str(count), "--seed", str(SEED), "--format", "aws-cli"]
    run_quiet(argv + ["--out", str(path)])


def spread_over_two_regions(source: Path, target: Path) -> None:
    """Every other event goes to us-west-2, the rest to us-east-1: only each record's awsRegion changes
    (key order kept); the envelope has no region, so it stays as generated and consistent."""
    document = json.loads(source.read_text())
    for index, event in enumerate(document["Events"]):
        record = json.loads(event["CloudTrailEvent"])
        record["awsRegion"] = OTHER_REGION if index % 2 else REGION
        event["CloudTrailEvent"] = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    target.write_text(json.dumps(document, ensure_ascii=False, indent=4) + "\n")


def prepare_inputs(directory: Path, count: int, keep: bool) -> tuple[Path, Path]:
    """The one-region file (count events) and the two-region file (count events per region).
    With --keep, files of the same count are reused and those of other counts removed."""
    one = directory / f"source-events-{count}-seed{SEED}.aws.json"
    two = directory / f"source-2regions-{count}x2-seed{SEED}.aws.json"
    if keep:
        for stale in [*directory.glob(f"source-events-*-seed{SEED}.aws.json*"),
                      *directory.glob(f"source-2regions-*-seed{SEED}.aws.json*")]:
            if stale not in (one, two):
                stale.unlink()
    if keep and one.exists():
        progress(f"reusing {one.relative_to(ROOT)}")
    else:
        partial = one.with_name(one.name + ".partial")
        generate(partial, count)
        partial.replace(one)
    if keep and two.exists():
        progress(f"reusing {two.relative_to(ROOT)}")
    else:
        partial = two.with_name(two.name + ".partial")
        generate(partial, 2 * count)
        progress(f"spreading {two.name} over {REGION} and {OTHER_REGION}")
        spread_over_two_regions(partial, partial)
        partial.replace(two)
    return one, two


# ---------------------------------------------------------------- checking output


def printed_ids(stdout: bytes, name: str) -> Counter:
    """The eventID of every JSON line a command printed."""
    ids = Counter()
    for number, line in enumerate(stdout.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise CaseFailed(f"line {number} printed by {name} is not JSON: {line[:120]!r}") from None
        if not isinstance(record, dict) or not isinstance(record.get("eventID"), str):
            raise CaseFailed(f"line {number} printed by {name} has no eventID: {line[:120]!r}")
        ids[record["eventID"]] += 1
    return ids


def compare(got: Counter, want: Counter, name: str) -> None:
    """Every wanted event exactly once, nothing else."""
    if got == want:
        return
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    repeated = sum(n - 1 for n in got.values() if n > 1)
    raise CaseFailed(
        f"{name} printed {sum(got.values()):,} events, expected {sum(want.values()):,}: "
        f"{missing:,} missing, {extra:,} unexpected or repeated ({repeated:,} repeats)"
    )


# ---------------------------------------------------------------- cases


@dataclass
class Context:
    ctlookup: str
    aws: str | None
    one_region: Events
    two_regions: Events
    count: int
    runs: int
    home: Path
    logs: Path
    versions: str

    @property
    def pages(self) -> int:
        return math.ceil(self.count / PAGE_SIZE)

    def ctlookup_argv(self, url: str, *extra: str, region: str = REGION) -> list[str]:
        return [self.ctlookup, "--endpoint-url", url, "--region", region, "-o", "jsonl", *extra]

    def aws_argv(self, url: str) -> list[str]:
        return [self.aws, "cloudtrail", "lookup-events", "--endpoint-url", url, "--region", REGION, "--output", "json"]

    def timeout(self, pages: int) -> float:
        return 60 + 5 * pages

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.jsonl"


@dataclass
class Row:
    """One row of the table; a case fills in `result` and appends its verdict to `target`."""

    label: str
    command: str  # what distinguishes the case, as Markdown
    target: str
    result: str = ""
    failure: str | None = None  # one line when the case could not be measured
    missed: str | None = None  # one line when a target was missed


def case_rate(ctx: Context, row: Row) -> None:
    """a. A full scan of one region: pages per second as a fraction of the limit, and throttling."""
    want = ctx.one_region.all()
    best: tuple[Run, Traffic] | None = None
    for number in range(1, ctx.runs + 1):
        with FakeServer(ctx.one_region.path, ctx.log(f"a-{number}")) as server:
            result = run(ctx.ctlookup_argv(server.url), clean_env(ctx.home), ctx.home, ctx.timeout(ctx.pages))
        traffic = Traffic.of(server.requests())
        if result.status != 0:
            raise CaseFailed(f"{result.describe_failure('ctlookup')} (server: {traffic.describe()})")
        compare(printed_ids(result.stdout, "ctlookup"), want, "ctlookup")
        progress(f"[a] run {number}/{ctx.runs}: {traffic.pages} pages in {result.wall:.2f} s, {traffic.describe()}")
        if best is None or result.wall < best[0].wall:
            best = (result, traffic)
    result, traffic = best
    fraction = traffic.pages / result.wall / RATE_LIMIT
    row.result = (
        f"**{fraction:.2f}** of the limit: {traffic.pages} pages in {result.wall:.1f} s "
        f"({traffic.pages / result.wall:.2f} pages/s); {traffic.describe()}; every event once"
    )
    met = fraction >= RATE_TARGET and traffic.throttled == 0
    row.target += ": " + verdict(met)
    if traffic.pages < MIN_PAGES:
        row.target += f" (only {traffic.pages} pages: not conclusive)"
    if not met:
        row.missed = f"a: {fraction:.2f} of the limit with {traffic.throttled} throttled"


def case_two_regions(ctx: Context, row: Row) -> None:
    """b. The same pages in each of two regions against one region alone, partitioned by region."""
    both = f"{REGION},{OTHER_REGION}"
    want_one, want_both = ctx.two_regions.in_region(REGION), ctx.two_regions.all()
    pages = math.ceil(sum(want_one.values()) / PAGE_SIZE)
    singles: list[tuple[Run, Traffic]] = []
    doubles: list[tuple[Run, Traffic]] = []
    failure = None
    for number in range(1, ctx.runs + 1):
        # One region alone, then both, each against a fresh partitioned server.
        with FakeServer(ctx.two_regions.path, ctx.log(f"b1-{number}"), partition=True) as server:
            result = run(ctx.ctlookup_argv(server.url), clean_env(ctx.home), ctx.home, ctx.timeout(pages))
        traffic = Traffic.of(server.requests())
        if result.status != 0:
            raise CaseFailed(f"{result.describe_failure('ctlookup --region ' + REGION)} (server: {traffic.describe()})")
        compare(printed_ids(result.stdout, "ctlookup"), want_one, f"ctlookup --region {REGION}")
        singles.append((result, traffic))
        progress(f"[b] run {number}/{ctx.runs}, one region: {result.wall:.2f} s, {traffic.describe()}")

        with FakeServer(ctx.two_regions.path, ctx.log(f"b2-{number}"), partition=True) as server:
            argv = ctx.ctlookup_argv(server.url, region=both)
            result = run(argv, clean_env(ctx.home), ctx.home, ctx.timeout(2 * pages))
        traffic = Traffic.of(server.requests())
        if result.status != 0:
            failure = f"{result.describe_failure(f'ctlookup --region {both}')} (server: {traffic.describe()})"
            break
        try:
            compare(printed_ids(result.stdout, "ctlookup"), want_both, f"ctlookup --region {both}")
        except CaseFailed as e:
            failure = str(e)
            break
        doubles.append((result, traffic))
        progress(f"[b] run {number}/{ctx.runs}, two regions: {result.wall:.2f} s, {traffic.describe()}")

    single, single_traffic = min(singles, key=lambda pair: pair[0].wall)
    alone = f"one region: {single.wall:.1f} s for {single_traffic.pages} pages, {single_traffic.describe()}"
    if failure is not None:
        row.failure = failure
        row.result = f"failed: {failure}; {alone}"
        row.target += ": not measured"
        return
    double, double_traffic = min(doubles, key=lambda pair: pair[0].wall)
    ratio = double.wall / single.wall
    per_region = ", ".join(f"{n} in {region}" for region, n in sorted(double_traffic.per_region.items()))
    row.result = (
        f"**{ratio:.2f}x**: two regions {double.wall:.1f} s ({double_traffic.pages} pages: {per_region}; "
        f"{double_traffic.describe()}), {alone}; every event once"
    )
    met = ratio <= TWO_REGION_TARGET and double_traffic.throttled == 0
    row.target += ", 0 throttled: " + verdict(met)
    if not met:
        row.missed = f"b: {ratio:.2f}x with {double_traffic.throttled} throttled"


def case_first_event(ctx: Context, row: Row) -> None:
    """c. Time to the first printed event of a one-event lookup, over one round trip."""
    runs: list[Run] = []
    # The first run is not timed: it checks the output and warms the page cache.
    for number in range(0, ctx.runs + 1):
        with FakeServer(ctx.one_region.path, ctx.log(f"c-{number}"), latency_ms=LATENCY_MS) as server:
            result = run(ctx.ctlookup_argv(server.url, "--max-items", "1"), clean_env(ctx.home), ctx.home, 60)
        traffic = Traffic.of(server.requests())
        if result.status != 0:
            raise CaseFailed(result.describe_failure("ctlookup --max-items 1"))
        ids = printed_ids(result.stdout, "ctlookup --max-items 1")
        if sum(ids.values()) != 1 or not set(ids) <= ctx.one_region.newest:
            raise CaseFailed(f"ctlookup --max-items 1 printed {sum(ids.values())} events, not the newest one")
        if traffic.requests != 1:
            raise CaseFailed(f"ctlookup --max-items 1 sent {traffic.describe()}, expected 1 request")
        if number == 0:
            continue
        runs.append(result)
        progress(f"[c] run {number}/{ctx.runs}: first byte at {result.first_byte * 1000:.1f} ms, exit at "
                 f"{result.wall * 1000:.1f} ms")
    best = min(runs, key=lambda r: r.first_byte)
    first_ms, wall_ms = best.first_byte * 1000, best.wall * 1000
    over = first_ms - LATENCY_MS
    row.result = (
        f"**{LATENCY_MS} ms + {over:.1f} ms**: first byte on stdout {first_ms:.1f} ms after start, "
        f"process ended at {wall_ms:.1f} ms; 1 request"
    )
    met = over < FIRST_EVENT_TARGET_MS
    row.target += ": " + verdict(met)
    if not met:
        row.missed = f"c: {over:.1f} ms over the round trip"


def case_aws_cli(ctx: Context, row: Row) -> None:
    """d. The scan of (a) with the aws CLI, for comparison (its failures are results, not errors)."""
    if ctx.aws is None:
        row.result = "not run: `aws` is not on PATH"
        return
    want = ctx.one_region.all()
    outcomes: list[tuple[Run, Traffic, str, bool]] = []
    for number in range(1, ctx.runs + 1):
        with FakeServer(ctx.one_region.path, ctx.log(f"d-{number}")) as server:
            result = run(ctx.aws_argv(server.url), clean_env(ctx.home), ctx.home, ctx.timeout(ctx.pages))
        traffic = Traffic.of(server.requests())
        printed = aws_events(result.stdout)
        complete = result.status == 0 and printed == want
        how = f"killed after {result.wall:.0f} s" if result.timed_out else f"exit {result.status}"
        if result.status != 0:
            how += f" after {result.wall:.1f} s ({result.last_stderr_line()})"
        got = sum((printed & want).values())
        summary = (
            f"{how}; {got:,} of {len(want):,} events"
            + (f" ({sum((printed - want).values()):,} repeated or unexpected)" if printed - want else "")
            + f"; {traffic.pages} pages, {traffic.describe()}"
        )
        outcomes.append((result, traffic, summary, complete))
        progress(f"[d] run {number}/{ctx.runs}: {summary}")
    completed = [o for o in outcomes if o[3]]
    result, traffic, summary, complete = min(completed, key=lambda o: o[0].wall) if completed else outcomes[-1]
    if complete:
        summary = f"**{result.wall:.1f} s**, {traffic.pages / result.wall / RATE_LIMIT:.2f} of the limit; " + summary
    row.result = summary


def aws_events(stdout: bytes) -> Counter:
    """The EventIds in the aws CLI's document; empty when it printed none (it prints at the end)."""
    try:
        document = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        return Counter()
    return Counter(event.get("EventId") for event in document.get("Events", []))


def rows_for(ctx: Context) -> list[tuple[Row, object]]:
    """Each case's row, as it reads before measuring, and the function that measures it."""
    both = f"{REGION},{OTHER_REGION}"
    return [
        (
            Row(f"a. Full scan, {ctx.count:,} events", f"`ctlookup --region {REGION}`",
                f"≥ {RATE_TARGET:g} of {RATE_LIMIT} requests/s, 0 throttled"),
            case_rate,
        ),
        (
            Row(f"b. Two regions, {ctx.count:,} events each", f"`ctlookup --region {both}` ÷ `--region {REGION}`",
                f"≤ {TWO_REGION_TARGET:g}x"),
            case_two_regions,
        ),
        (
            Row("c. First event", f"`ctlookup --region {REGION} --max-items 1`, server latency {LATENCY_MS} ms",
                f"one round trip + < {FIRST_EVENT_TARGET_MS} ms"),
            case_first_event,
        ),
        (
            Row("d. aws CLI, same scan as a", "`aws cloudtrail lookup-events --output json`", "comparison"),
            case_aws_cli,
        ),
    ]


def measure(ctx: Context) -> list[Row]:
    """Every case, each on its own: a failure is written into its row and the next case runs."""
    rows = []
    for row, case in rows_for(ctx):
        progress(f"{row.label}")
        try:
            case(ctx, row)
        except (CaseFailed, CommandFailed) as e:
            row.failure = str(e) if isinstance(e, CaseFailed) else one_line(e)
            row.result = f"failed: {row.failure}"
            row.target += ": not measured"
        if row.failure:
            print(f"bench: {row.label}: failed: {row.failure}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def one_line(e: CommandFailed) -> str:
    lines = [line.strip() for line in e.stderr.splitlines() if line.strip()]
    how = f"was killed by signal {-e.status}" if e.status < 0 else f"exited with {e.status}"
    return f"{shlex.join(e.argv[:1])} {how}: {lines[-1] if lines else '(no stderr)'}"


# ---------------------------------------------------------------- report


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def versions(ctlookup: str, aws: str | None) -> str:
    """The tools' versions; this is also where a ctlookup that cannot run is found, before any case."""
    parts = [f"{first_line(run_quiet([ctlookup, '--version']))} (`{ctlookup}`)"]
    if aws:
        done = subprocess.run([aws, "--version"], stdin=subprocess.DEVNULL, capture_output=True)
        parts.append(f"{first_line((done.stdout + done.stderr).decode(errors='replace'))} (`{aws}`)")
    return "; ".join(parts)


def report(rows: list[Row], ctx: Context) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    one_mib = ctx.one_region.path.stat().st_size / 1024 / 1024
    two_mib = ctx.two_regions.path.stat().st_size / 1024 / 1024
    out = [
        f"API source against the fake CloudTrail server ({RATE_LIMIT} requests/s per region, {PAGE_SIZE} events "
        f"per page), events from `gen-events --seed {SEED}`, best of {ctx.runs} run(s); requests and throttling "
        "as logged by the server (see bench/README.md).",
        "",
        "| case | command | result | target |",
        "|---|---|---|---|",
    ]
    for row in rows:
        out.append(f"| {cell(row.label)} | {cell(row.command)} | {cell(row.result)} | {cell(row.target)} |")
    fake = f"`fake-cloudtrail --events FILE --rate-limit {RATE_LIMIT} --log-requests LOG`"
    ctl = f"`ctlookup --endpoint-url URL --region {REGION} -o jsonl`"
    out += [
        "",
        f"* Machine: {machine()}",
        f"* Tools: {ctx.versions}; ctlookup and fake-cloudtrail from {git_revision()}",
        f"* Date: {now}",
        f"* Events: a, c, d: {ctx.count:,} events ({one_mib:,.1f} MiB); b: {2 * ctx.count:,} events "
        f"({two_mib:,.1f} MiB), every other record's `awsRegion` set to {OTHER_REGION} and the rest to {REGION}",
        f"* Server, fresh for every run: {fake}; b adds `--partition-by-region`, c `--latency-ms {LATENCY_MS}`",
        f"* Commands: a {ctl}; b the same, and with `--region {REGION},{OTHER_REGION}`; c the same with "
        f"`--max-items 1`; d `aws cloudtrail lookup-events --endpoint-url URL --region {REGION} --output json`",
        "* Environment of every command: only PATH, HOME (an empty directory), dummy AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, AWS_EC2_METADATA_DISABLED=true",
        "* Times are wall times from process start to exit (c: to the first byte on stdout), "
        "read by the script as the output arrives",
        "",
    ]
    failed = [f"{row.label}: {row.failure}" for row in rows if row.failure]
    missed = [row.missed for row in rows if row.missed]
    if failed:
        out.append("Cases failed: " + "; ".join(failed) + ".")
    if missed:
        out.append("Targets missed: " + "; ".join(missed) + ".")
    if not failed and not missed:
        out.append("All targets met.")
    elif not missed:
        out.append("Targets of the cases measured: all met.")
    return "\n".join(out)


# ---------------------------------------------------------------- command line


def build(ctlookup_given: bool) -> None:
    packages = ["-p", "fake-cloudtrail"] + ([] if ctlookup_given else ["-p", "ctlookup"])
    argv = ["cargo", "build", "--release", *packages]
    progress(f"building ({shlex.join(argv)}); the first build takes minutes")
    run_quiet(argv, cwd=ROOT)


def find_aws() -> str | None:
    """The aws CLI on PATH; a pyenv shim is resolved to the real script, so its start-up is not counted."""
    aws = shutil.which("aws")
    if aws and "/shims/" in aws and shutil.which("pyenv"):
        try:
            real = run_quiet(["pyenv", "which", "aws"]).strip()
            if real and Path(real).exists():
                return real
        except CommandFailed:
            pass
    return aws


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark ctlookup's API source against the fake CloudTrail server (and the aws CLI "
        "when on PATH); prints a Markdown report on stdout.",
    )
    parser.add_argument("--events", type=positive, default=2500,
                        help="events in the scanned region (default 2500: 50 pages, about 25 s per scan)")
    parser.add_argument("--runs", type=positive, default=1, help="runs per case; the best is kept (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help=f"keep the event files in {DATA_DIR.relative_to(ROOT)}/ and reuse them")
    parser.add_argument("--ctlookup", metavar="PATH",
                        help="ctlookup binary to measure (default target/release/ctlookup, built first)")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = None
    try:
        if not args.no_build:
            build(ctlookup_given=args.ctlookup is not None)
        ctlookup = args.ctlookup or str(DEFAULT_CTLOOKUP)
        ctlookup = shutil.which(ctlookup) or ctlookup
        ctlookup = str(Path(ctlookup).resolve())
        aws = find_aws()
        tool_versions = versions(ctlookup, aws)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="source-", dir=DATA_DIR))
        directory = DATA_DIR if args.keep else workdir
        one, two = prepare_inputs(directory, args.events, args.keep)
        (workdir / "home").mkdir()
        (workdir / "logs").mkdir()
        ctx = Context(
            ctlookup=ctlookup,
            aws=aws,
            one_region=load_events(one),
            two_regions=load_events(two),
            count=args.events,
            runs=args.runs,
            home=workdir / "home",
            logs=workdir / "logs",
            versions=tool_versions,
        )
        rows = measure(ctx)
        print(report(rows, ctx))
        return 1 if any(row.failure for row in rows) else 0
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(exit_status(main))
