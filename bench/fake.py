"""The fake CloudTrail server and the store, as the benchmarks use them (`store.py`, `store_read.py`,
`accounts.py`).

One place for: the generated events and their window, the server started on a port and stopped, the clean
environment every ctlookup run gets, and a store filled by `ctlookup sync` from the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from filter import GEN_EVENTS, ROOT, SEED, CommandFailed, progress, run_quiet, timed_run

FAKE = ROOT / "target" / "release" / "fake-cloudtrail"
CTLOOKUP = ROOT / "target" / "release" / "ctlookup"
RATE_LIMIT = 2
NEWEST = "2024-07-22T09:00:00Z"  # a fixed past window: the newest 15 minutes rule plays no part


def build() -> None:
    """The release binaries these benchmarks run: ctlookup, fake-cloudtrail and gen-events."""
    progress("building (cargo build --release); the first build takes minutes")
    run_quiet(["cargo", "build", "--release", "-p", "fake-cloudtrail", "-p", "ctlookup"], cwd=ROOT)


class Fake:
    """A fake-cloudtrail process on a free port, its request log read back afterwards."""

    def __init__(self, events: Path, log: Path, rate_limit: bool, port: int = 0, extra: tuple[str, ...] = ()) -> None:
        argv = [str(FAKE), "--events", str(events), "--port", str(port), "--log-requests", str(log), *extra]
        if rate_limit:
            argv += ["--rate-limit", str(RATE_LIMIT)]
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.url = next((w for w in line.split() if w.startswith("http://")), None)
        if not self.url:
            self.proc.kill()
            raise CommandFailed(argv, 1, f"fake-cloudtrail did not say its address: {line!r}")

    def lookups(self) -> int:
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if "LookupEvents" in line)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def ctlookup(args: list[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    """Runs ctlookup; returns wall seconds, its own peak memory (max RSS, KiB, by wait4), and stdout."""
    argv = [str(CTLOOKUP), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, err.decode(errors="replace"))
    return wall, usage.ru_maxrss, out


def ids(stdout: bytes) -> list[str]:
    return [json.loads(line)["eventID"] for line in stdout.splitlines() if line.strip()]


def environment(home: Path, store: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE0000",
        "AWS_SECRET_ACCESS_KEY": "bench/secret",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "CTLOOKUP_STORE_DIR": str(store),
        "TZ": "UTC",
    }


def generate(path: Path, count: int) -> None:
    if path.exists():
        return
    progress(f"generating {path.name} ({count:,} events)")
    run_quiet([str(GEN_EVENTS), "--count", str(count), "--seed", str(SEED), "--newest", NEWEST,
               "--max-gap-secs", "10", "--format", "aws-cli", "--out", str(path)])


def window_of(path: Path) -> list[str]:
    """The window from the oldest to the newest event (EventTime is RFC 3339 in UTC, as the aws CLI saves it)."""
    times = sorted(e["EventTime"] for e in json.loads(path.read_text())["Events"])
    return ["--start-time", times[0], "--end-time", times[-1]]


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def sync_store(events: Path, env: dict[str, str], log: Path, port: int = 0, store_max: str = "1G") -> int:
    """Fills the store of `env` (its CTLOOKUP_STORE_DIR) with every event of the file: `ctlookup sync` of
    their window from a fake server without rate limit on `port` (0: any free one; the store keeps events
    by endpoint, so a later query must name the same one). Returns the sync's peak RSS in KiB, taken by
    filter.py's launcher: a child forked from a script that has read the events would count their pages
    as its own."""
    fake = Fake(events, log, rate_limit=False, port=port)
    try:
        source = ["--endpoint-url", fake.url, "--region", "us-east-1", "--tps", "1000"]
        os.environ.update(env)
        _, rss = timed_run([str(CTLOOKUP), "sync", *source, *window_of(events), "--store-max", store_max,
                            "--no-progress"])
    finally:
        fake.stop()
    return rss
