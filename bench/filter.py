#!/usr/bin/env python3
"""Benchmark of ctlookup's local filter against jq (and jaq, when it is on PATH).

This script owns the `bench/` folder and the generated data under `target/bench/`; it changes
nothing else in the repository. It:

1. builds `gen-events` and `ctlookup` in release mode (unless --no-build);
2. generates, with the workspace's generator, a JSON Lines file and an aws-shaped
   (`aws cloudtrail lookup-events --output json`) document of --count events (seed 7), and from the
   JSON Lines a trail's S3 tree of gzip log files of 500 records each (400 files at the default count);
3. for each case, runs every tool once with its output collected, and checks that all tools print
   the same number of lines and the same eventIDs (a mismatch ends the script with exit 1);
4. times --runs runs of every tool with stdout sent to /dev/null, keeping the best wall time and the
   largest peak RSS (the command's own `ru_maxrss`, from `os.wait4` in a small launcher: see LAUNCHER);
5. prints a Markdown report on stdout (progress goes to stderr), ready to paste into docs/performance.md.

Exit status: 0 when the benchmark ran (missed performance targets are reported, not fatal),
1 when a command failed or the tools disagreed, 2 for a bad option, 130 when interrupted.
Python 3.11 standard library only; no network.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (cargo's own rule), else target/.
TARGET_DIR = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
DATA_DIR = ROOT / "target" / "bench"
GEN_EVENTS = TARGET_DIR / "release" / "gen-events"
DEFAULT_CTLOOKUP = TARGET_DIR / "release" / "ctlookup"
SEED = 7
# Records per gzip file of the trail tree: 200,000 records make 400 files, a few hours of a busy trail.
RECORDS_PER_TREE_FILE = 500

# input format (gen-events --format, or "trail-tree", made here from the JSON Lines) → file name suffix
INPUT_SUFFIX = {"jsonl": "jsonl", "aws-cli": "aws.json", "trail-tree": "trail-tree"}


@dataclass(frozen=True)
class Case:
    """One row of the table: an input file and the same filter written for each tool."""

    label: str
    input_format: str  # a key of INPUT_SUFFIX
    where: str  # ctlookup --where
    jq_filter: str  # jq and jaq program
    target_ratio: float  # jq time / ctlookup time must be at least this
    target_rate: float | None = None  # input events per second ctlookup must reach, if any
    memory_target_mib: int = 30  # ctlookup's peak RSS must stay below this


CASES = (
    Case(
        label="JSON Lines, selective",
        input_format="jsonl",
        where="errorCode = AccessDenied",
        jq_filter='select(.errorCode == "AccessDenied")',
        target_ratio=10,
        target_rate=1_000_000,
    ),
    Case(
        label="JSON Lines, broad",
        input_format="jsonl",
        where="errorCode exists",
        jq_filter="select(.errorCode != null)",
        target_ratio=3,
    ),
    Case(
        label="aws-shaped document, selective",
        input_format="aws-cli",
        where="errorCode = AccessDenied",
        jq_filter='.Events[].CloudTrailEvent|fromjson|select(.errorCode == "AccessDenied")',
        target_ratio=20,
    ),
    Case(
        label="trail tree (.json.gz), selective",
        input_format="trail-tree",
        where="errorCode = AccessDenied",
        jq_filter='.Records[] | select(.errorCode == "AccessDenied")',
        target_ratio=15,
        target_rate=1_000_000,
        memory_target_mib=64,
    ),
)


@dataclass(frozen=True)
class Tool:
    """A program under test; `argv` turns a case and an input file into its command line."""

    name: str
    path: str
    version: str

    def argv(self, case: Case, path: Path) -> list[str]:
        if self.name == "ctlookup":
            return [self.path, "--input", str(path), "--where", case.where, "-o", "jsonl"]
        if case.input_format == "trail-tree":
            # jq reads no gzip and no directories: `zcat -r` inflates the whole tree into its stdin.
            script = f"zcat -r {shlex.quote(str(path))} | {shlex.quote(self.path)} -c {shlex.quote(case.jq_filter)}"
            return ["sh", "-c", script]
        return [self.path, "-c", case.jq_filter, str(path)]

    def display(self, case: Case) -> str:
        """The command of a case as the report shows it, with FILE for the input."""
        argv = self.argv(case, Path("FILE"))
        if argv[0] == "sh":
            return argv[2].replace(shlex.quote(self.path), self.name, 1)
        return shlex.join([self.name] + argv[1:])


@dataclass
class Measurement:
    best_seconds: float
    peak_rss_kib: int


@dataclass
class Row:
    case: Case
    lines: int
    results: dict[str, Measurement]  # tool name → measurement


class CommandFailed(Exception):
    def __init__(self, argv: list[str], status: int, stderr: str):
        super().__init__(argv, status, stderr)
        self.argv, self.status, self.stderr = argv, status, stderr

    def __str__(self) -> str:
        how = f"was killed by signal {-self.status}" if self.status < 0 else f"exited with {self.status}"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        head = f"bench: command {how}: {shlex.join(self.argv)}"
        if len(lines) <= 1:
            return f"{head}: {lines[0] if lines else '(no stderr)'}"
        tail = lines[-20:]
        return head + "; its stderr ends with:\n" + "\n".join("  | " + line for line in tail)


class Mismatch(Exception):
    pass


def exit_status(run) -> int:
    """Runs a benchmark's `main`: its own status, 1 when a command failed or the tools disagreed, 130
    when interrupted; each said in one line on stderr."""
    try:
        return run()
    except CommandFailed as e:
        print(e, file=sys.stderr)
        return 1
    except Mismatch as e:
        print(f"bench: MISMATCH: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- running commands

# Timed runs go through this small launcher, started as `python3 -I -S -c LAUNCHER FD CMD…`: it
# fork()s, the child exec()s CMD, and the launcher os.wait4()s it and writes "status seconds maxrss"
# to FD. Why not os.wait4 on a child Popen'd by this script: Linux's exec() folds the *old* address
# space's peak RSS into the process's ru_maxrss, and Popen's vfork child execs from this script's
# address space, so every command would show at least this script's own peak RSS (17 MiB for a
# 4 MiB process in practice; 200 MiB after this script once touched 200 MiB). A fork() child of the
# bare launcher starts from the launcher's few anonymous pages instead: the floor (what `true`
# measures) is printed with the results. The launcher also takes the time, around fork and wait4
# only, so Python's start-up is not counted.
LAUNCHER = """
import os, sys, time
report, argv = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(report)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ("cannot run %s: %s\\n" % (argv[0], e.strerror)).encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
os.write(report, ("%d %.9f %d" % (os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss)).encode())
"""


def stderr_of(err_file) -> str:
    err_file.seek(0)
    return err_file.read().decode(errors="replace")


def run_quiet(argv: list[str], cwd: Path | None = None) -> str:
    """Run a helper command (build, generate, --version) and return its stdout."""
    try:
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as e:
        raise CommandFailed(argv, 127, f"cannot start {argv[0]}: {e.strerror}") from None
    if done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stderr.decode(errors="replace"))
    return done.stdout.decode(errors="replace")


def timed_run(argv: list[str]) -> tuple[float, int]:
    """One run with stdout to /dev/null: (wall seconds, peak RSS in KiB), both taken by LAUNCHER."""
    read_end, write_end = os.pipe()
    launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(write_end), *argv]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                launcher, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, pass_fds=(write_end,)
            )
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as measurements:
            fields = measurements.read().split()
        proc.wait()
        if len(fields) != 3:
            raise CommandFailed(launcher, proc.returncode, stderr_of(err))
        status, elapsed, maxrss = int(fields[0]), float(fields[1]), int(fields[2])
        if status != 0:
            raise CommandFailed(argv, status, stderr_of(err))
    return elapsed, maxrss


def collected_run(argv: list[str]) -> list[str]:
    """One untimed run whose output is read: the eventID of every line, in order."""
    ids = []
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except OSError as e:
            raise CommandFailed(argv, 127, f"cannot start {argv[0]}: {e.strerror}") from None
        try:
            for number, line in enumerate(proc.stdout, 1):
                ids.append(event_id(line, number, argv))
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            proc.wait()
        if proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, stderr_of(err))
    return ids


def event_id(line: bytes, number: int, argv: list[str]) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        raise Mismatch(f"line {number} printed by {shlex.join(argv)} is not JSON: {line[:200]!r}") from None
    if not isinstance(record, dict) or not isinstance(record.get("eventID"), str):
        raise Mismatch(f"line {number} printed by {shlex.join(argv)} has no eventID: {line[:200]!r}")
    return record["eventID"]


# ---------------------------------------------------------------- building and generating


def build(ctlookup_given: bool) -> None:
    progress("building gen-events (cargo build --release -p fake-cloudtrail --bin gen-events)")
    run_quiet(["cargo", "build", "--release", "-p", "fake-cloudtrail", "--bin", "gen-events"], cwd=ROOT)
    if not ctlookup_given:
        progress("building ctlookup (cargo build --release); the first build takes minutes")
        run_quiet(["cargo", "build", "--release"], cwd=ROOT)


def input_path(directory: Path, input_format: str, count: int) -> Path:
    return directory / f"events-{count}-seed{SEED}.{INPUT_SUFFIX[input_format]}"


def generate(path: Path, input_format: str, count: int) -> None:
    """Write the file through a temporary name, so an interrupted run never leaves half a file."""
    if not GEN_EVENTS.exists():
        raise CommandFailed([str(GEN_EVENTS)], 127, "gen-events is not built; run without --no-build")
    partial = path.with_name(path.name + ".partial")
    progress(f"generating {path.name} ({count:,} events, --format {input_format})")
    argv = [str(GEN_EVENTS), "--count", str(count), "--seed", str(SEED), "--format", input_format]
    run_quiet(argv + ["--out", str(partial)])
    partial.replace(path)


def write_trail_tree(path: Path, jsonl: Path) -> None:
    """A trail's S3 layout made from the JSON Lines file: consecutive runs of RECORDS_PER_TREE_FILE
    records, each a gzip `{"Records":[…]}` file (oldest record first, as CloudTrail writes them) under
    `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`, named after its first record. Written through a
    temporary directory, so an interrupted run never leaves half a tree."""
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    progress(f"writing {path.name} ({RECORDS_PER_TREE_FILE} records a .json.gz file, from {jsonl.name})")

    def flush(lines: list[bytes], number: int) -> None:
        first = json.loads(lines[0])
        account = first.get("recipientAccountId") or "123456789012"
        region = first.get("awsRegion") or "us-east-1"
        day, clock = first["eventTime"][:10], first["eventTime"][11:16]
        folder = partial.joinpath("AWSLogs", account, "CloudTrail", region, *day.split("-"))
        folder.mkdir(parents=True, exist_ok=True)
        stamp = day.replace("-", "") + "T" + clock.replace(":", "") + "Z"
        name = f"{account}_CloudTrail_{region}_{stamp}_{number:08d}.json.gz"
        body = b'{"Records":[' + b",".join(reversed(lines)) + b"]}"
        (folder / name).write_bytes(gzip.compress(body, compresslevel=6, mtime=0))

    lines, number = [], 0
    with jsonl.open("rb") as records:
        for line in records:
            lines.append(line.rstrip(b"\n"))
            if len(lines) == RECORDS_PER_TREE_FILE:
                flush(lines, number)
                lines, number = [], number + 1
    if lines:
        flush(lines, number)
    partial.replace(path)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def prepare_inputs(cases: tuple[Case, ...], directory: Path, count: int, keep: bool) -> dict[str, Path]:
    """One file (or tree) per input format; with --keep, reuse those of the same count, drop other counts."""
    inputs = {}
    formats = dict.fromkeys(case.input_format for case in cases)
    if "trail-tree" in formats:
        formats = {"jsonl": None, **formats}  # the tree is made from the JSON Lines
    for input_format in formats:
        path = input_path(directory, input_format, count)
        if keep:
            for stale in directory.glob(f"events-*-seed{SEED}.{INPUT_SUFFIX[input_format]}*"):
                if stale != path:
                    remove(stale)
        if not (keep and path.exists()):
            if input_format == "trail-tree":
                write_trail_tree(path, inputs["jsonl"])
            else:
                generate(path, input_format, count)
        else:
            progress(f"reusing {path.relative_to(ROOT)}")
        inputs[input_format] = path
    return inputs


def size_mib(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 / 1024
    return path.stat().st_size / 1024 / 1024


# ---------------------------------------------------------------- tools


def find_tools(ctlookup: str) -> list[Tool]:
    tools = [Tool("ctlookup", ctlookup, first_line(run_quiet([ctlookup, "--version"])))]
    jq = shutil.which("jq") or "/usr/bin/jq"
    tools.append(Tool("jq", jq, first_line(run_quiet([jq, "--version"]))))
    jaq = shutil.which("jaq")
    if jaq:
        tools.append(Tool("jaq", jaq, first_line(run_quiet([jaq, "--version"]))))
    return tools


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(unknown version)"


# ---------------------------------------------------------------- measuring


def check_outputs(case: Case, tools: list[Tool], path: Path) -> int:
    """Run every tool once with its output read; return the common line count or raise Mismatch."""
    outputs = {}
    for tool in tools:
        progress(f"[{case.label}] {tool.name}: correctness run")
        outputs[tool.name] = collected_run(tool.argv(case, path))
    reference_name, reference = next(iter(outputs.items()))
    for name, ids in outputs.items():
        if len(ids) != len(reference) or Counter(ids) != Counter(reference):
            raise Mismatch(describe_mismatch(case, reference_name, reference, name, ids))
    return len(reference)


def describe_mismatch(case: Case, name_a: str, ids_a: list[str], name_b: str, ids_b: list[str]) -> str:
    only_a = sorted(set(ids_a) - set(ids_b))
    only_b = sorted(set(ids_b) - set(ids_a))
    text = (
        f"[{case.label}] {name_a} printed {len(ids_a):,} lines, {name_b} printed {len(ids_b):,}; "
        f"{len(only_a):,} eventIDs only from {name_a}, {len(only_b):,} only from {name_b}"
    )
    if only_a:
        text += f"; e.g. {name_a} only: {', '.join(only_a[:3])}"
    if only_b:
        text += f"; e.g. {name_b} only: {', '.join(only_b[:3])}"
    if not only_a and not only_b:
        text += " (same eventIDs, different repeat counts)"
    return text


def time_case(case: Case, tools: list[Tool], path: Path, runs: int) -> dict[str, Measurement]:
    """Interleave the tools run by run so that drift on the machine hits all of them alike."""
    seconds = {tool.name: [] for tool in tools}
    rss = {tool.name: [] for tool in tools}
    for run in range(1, runs + 1):
        for tool in tools:
            elapsed, maxrss = timed_run(tool.argv(case, path))
            seconds[tool.name].append(elapsed)
            rss[tool.name].append(maxrss)
            progress(f"[{case.label}] {tool.name} run {run}/{runs}: {elapsed:.3f} s, {mib(maxrss)}")
    return {name: Measurement(min(seconds[name]), max(rss[name])) for name in seconds}


def rss_floor() -> int:
    """The smallest peak RSS the launcher can report: what it measures for `true`."""
    return timed_run([shutil.which("true") or "/bin/true"])[1]


def measure(cases, tools: list[Tool], inputs: dict[str, Path], runs: int) -> list[Row]:
    rows = []
    for case in cases:
        path = inputs[case.input_format]
        lines = check_outputs(case, tools, path)
        rows.append(Row(case, lines, time_case(case, tools, path, runs)))
    return rows


# ---------------------------------------------------------------- report


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def rss(kib: int, floor: int) -> str:
    """A reading close to the launcher's floor only says the true peak is at most that."""
    return f"≤ {mib(kib)}" if kib < floor * 1.1 else mib(kib)


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0))
    memory = ""
    try:
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    try:
        load = ", load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " at the end"
    except OSError:
        pass
    return f"nproc {nproc}, {cpu}{memory}, {platform.system()} {platform.release()} {platform.machine()}{load}"


def git_revision() -> str:
    try:
        commit = run_quiet(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip()
        dirty = run_quiet(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT).strip()
    except CommandFailed:
        return "unknown commit"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def rate_cell(case: Case, count: int, ours: Measurement) -> str:
    rate = count / ours.best_seconds
    if case.target_rate is None:
        return f"{rate:,.0f}"
    return f"{rate:,.0f} (≥ {case.target_rate:,.0f}: {verdict(rate >= case.target_rate)})"


def table(rows: list[Row], tools: list[Tool], floor: int, count: int) -> list[str]:
    others = [tool.name for tool in tools if tool.name != "ctlookup"]
    header = ["case", "ctlookup filter", "output lines", "ctlookup", "ctlookup events/s"]
    align = ["---", "---", "---:", "---:", "---:"]
    for name in others:
        header += [name, f"{name} ÷ ctlookup"]
        align += ["---:", "---:"]
    header += ["target (jq ÷ ctlookup)", "ctlookup peak RSS"] + [f"{name} peak RSS" for name in others]
    align += ["---", "---:"] + ["---:"] * len(others)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        ours = row.results["ctlookup"]
        cells = [row.case.label, f"`{row.case.where}`", f"{row.lines:,}", seconds(ours.best_seconds)]
        cells.append(rate_cell(row.case, count, ours))
        for name in others:
            theirs = row.results[name]
            cells += [seconds(theirs.best_seconds), f"{theirs.best_seconds / ours.best_seconds:.1f}x"]
        ratio = row.results["jq"].best_seconds / ours.best_seconds
        cells.append(f"≥{row.case.target_ratio:g}x: {verdict(ratio >= row.case.target_ratio)}")
        limit = row.case.memory_target_mib
        rss_met = ours.peak_rss_kib < limit * 1024
        cells.append(f"{rss(ours.peak_rss_kib, floor)} (< {limit} MiB: {verdict(rss_met)})")
        cells += [rss(row.results[name].peak_rss_kib, floor) for name in others]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def missed_targets(rows: list[Row], count: int) -> list[str]:
    missed = []
    for row in rows:
        ours = row.results["ctlookup"]
        ratio = row.results["jq"].best_seconds / ours.best_seconds
        if ratio < row.case.target_ratio:
            missed.append(f"{row.case.label}: jq ÷ ctlookup {ratio:.1f}x < {row.case.target_ratio:g}x")
        rate = count / ours.best_seconds
        if row.case.target_rate is not None and rate < row.case.target_rate:
            missed.append(f"{row.case.label}: {rate:,.0f} events/s < {row.case.target_rate:,.0f}")
        limit = row.case.memory_target_mib
        if ours.peak_rss_kib >= limit * 1024:
            missed.append(f"{row.case.label}: ctlookup peak RSS {mib(ours.peak_rss_kib)} ≥ {limit} MiB")
    return missed


def report(rows: list[Row], tools: list[Tool], inputs: dict[str, Path], count: int, runs: int, floor: int) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    files = "; ".join(f"{fmt}: {size_mib(path):,.1f} MiB" for fmt, path in inputs.items())
    if "trail-tree" in inputs:
        tree_files = sum(1 for _ in inputs["trail-tree"].rglob("*.json.gz"))
        files += f" in {tree_files:,} .json.gz files of {RECORDS_PER_TREE_FILE} records"
    versions = "; ".join(f"{tool.version} (`{tool.path}`)" for tool in tools)
    missed = missed_targets(rows, count)
    out = [
        f"Local filter, {count:,} events from `gen-events --seed {SEED}`, best of {runs} run(s) "
        "with stdout to /dev/null; peak RSS is the command's own `ru_maxrss` (see bench/README.md).",
        "",
        *table(rows, tools, floor, count),
        "",
        f"* Machine: {machine()}",
        f"* Tools: {versions}; ctlookup from {git_revision()}",
        f"* Date: {now}",
        f"* Input files: {files}",
        f"* Peak RSS floor of the method (what `true` measures): {mib(floor)}; "
        "≤ marks readings within 10% of it, where the true peak can be lower",
        "* Commands (FILE is the input of the case):",
    ]
    for row in rows:
        for tool in tools:
            out.append(f"  * `{tool.display(row.case)}`")
    out += ["", "All targets met." if not missed else "Targets missed: " + "; ".join(missed) + "."]
    return "\n".join(out)


# ---------------------------------------------------------------- command line


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark ctlookup's local filter against jq (and jaq when on PATH); "
        "prints a Markdown report on stdout.",
    )
    parser.add_argument("--count", type=positive, default=200_000, help="events per input file (default 200000)")
    parser.add_argument("--runs", type=positive, default=3, help="timed runs per tool and case; the best is kept (default 3)")
    parser.add_argument("--keep", action="store_true", help=f"keep input files in {DATA_DIR.relative_to(ROOT)}/ and reuse them")
    parser.add_argument("--ctlookup", metavar="PATH", help="ctlookup binary to measure (default target/release/ctlookup, built first)")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    parser.add_argument(
        "--case", action="append", metavar="TEXT", help="run only the cases whose label contains TEXT (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.case and not selected_cases(args.case):
        parser.error(f"--case matches no case; the cases are: {', '.join(case.label for case in CASES)}")
    return args


def selected_cases(texts: list[str] | None) -> tuple[Case, ...]:
    return tuple(case for case in CASES if not texts or any(text in case.label for text in texts))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = None
    try:
        if not args.no_build:
            build(ctlookup_given=args.ctlookup is not None)
        tools = find_tools(args.ctlookup or str(DEFAULT_CTLOOKUP))
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        if args.keep:
            directory = DATA_DIR
        else:
            directory = workdir = Path(tempfile.mkdtemp(prefix="run-", dir=DATA_DIR))
        cases = selected_cases(args.case)
        inputs = prepare_inputs(cases, directory, args.count, args.keep)
        rows = measure(cases, tools, inputs, args.runs)
        print(report(rows, tools, inputs, args.count, args.runs, rss_floor()))
        return 0
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(exit_status(main))
