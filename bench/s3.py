#!/usr/bin/env python3
"""Benchmark of trails read in place in S3 (`ctlookup --input s3://…`) against downloading them first.

It writes only under `target/bench/` (the generated tree, the downloads, an empty HOME) and changes
nothing else in the repository. It:

1. builds `gen-events` and `ctlookup` in release mode (unless --no-build), and the Python environment
   of the tests (`scripts/python-env.sh`: moto's S3 server and boto3, in target/venv);
2. generates --count records (`gen-events --seed 7`) and from them the trail tree of bench/filter.py:
   gzip files of 500 records each (400 files at the default count) under `AWSLogs/…/YYYY/MM/DD/`;
3. starts moto's S3 server on 127.0.0.1 and uploads the tree into a bucket;
4. runs, --runs times each and interleaved, with one filter (`errorCode = AccessDenied`):
   a. `ctlookup --input s3://BUCKET` (read in place, 16 objects at a time);
   b. the download an `aws s3 sync` does (the aws CLI when it is on PATH, else boto3 with 10 requests
      at a time, as the CLI's default), then `ctlookup --input DIR` on it, and `zcat -r DIR | jq -c …`;
   and checks, once, that all three print the same events;
5. prints a Markdown report on stdout (progress on stderr): best times, events/s, the ratios of
   download + read to the read in place, and peak RSS (ctlookup's target: 64 MiB).

Exit status: 0 when the benchmark ran (a missed target is reported, not fatal), 1 when a command
failed or the outputs differ, 2 for a bad option, 130 when interrupted. Python 3.11 standard library
(moto and boto3 run in target/venv); loopback network only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from filter import (  # noqa: E402
    build,
    exit_status,
    DATA_DIR,
    DEFAULT_CTLOOKUP,
    ROOT,
    CommandFailed,
    Mismatch,
    collected_run,
    generate,
    git_revision,
    input_path,
    machine,
    mib,
    positive,
    progress,
    rss,
    rss_floor,
    run_quiet,
    seconds,
    timed_run,
    verdict,
    write_trail_tree,
)

BUCKET = "bench-trail"
WHERE = "errorCode = AccessDenied"
JQ_FILTER = '.Records[] | select(.errorCode == "AccessDenied")'
RSS_TARGET_MIB = 64
SYNC_CONCURRENCY = 10  # the aws CLI's default max_concurrent_requests

# Uploads a tree (argv: endpoint, bucket, root) and downloads a bucket (argv: endpoint, bucket, dir, "get"),
# run with target/venv's python.
BOTO = r"""
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
url, bucket, root = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
if sys.argv[4:] == ["get"]:
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    def get(key):
        path = os.path.join(root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)
else:
    s3.create_bucket(Bucket=bucket)
    keys = [os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names]
    def get(key):
        s3.upload_file(os.path.join(root, key), bucket, key)
with ThreadPoolExecutor(int(os.environ.get("CONCURRENCY", "10"))) as pool:
    list(pool.map(get, keys))
"""


class Moto:
    """moto's S3 server on a free port, stopped at the end."""

    def __init__(self, venv: Path, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(venv / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise CommandFailed([str(venv / "moto_server")], 1, f"moto_server did not answer (see {log})")
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def isolate(home: Path) -> None:
    """Dummy credentials and an empty HOME for every command run: no real AWS configuration is read."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "CONCURRENCY": str(SYNC_CONCURRENCY),
        }
    )
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "CTLOOKUP_THREADS"):
        os.environ.pop(name, None)


def prepare_tree(count: int) -> Path:
    tree = DATA_DIR / f"s3-tree-{count}"
    if not tree.exists():
        jsonl = input_path(DATA_DIR, "jsonl", count)
        if not jsonl.exists():
            generate(jsonl, "jsonl", count)
        write_trail_tree(tree, jsonl)
    return tree


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=positive, default=200_000, help="records in the tree (default 200000)")
    parser.add_argument("--runs", type=positive, default=3, help="timed runs of each; the best is kept (default 3)")
    parser.add_argument("--ctlookup", help="the ctlookup binary (default target/release/ctlookup, built first)")
    parser.add_argument("--no-build", action="store_true", help="run no cargo build")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ctlookup = args.ctlookup or str(DEFAULT_CTLOOKUP)
    moto = None
    work = None
    try:
        if not args.no_build:
            build(args.ctlookup is not None)
        venv_python = Path(run_quiet(["bash", str(ROOT / "scripts" / "python-env.sh")]).strip())
        venv = venv_python.parent
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tree = prepare_tree(args.count)
        objects = sum(1 for p in tree.rglob("*.json.gz"))
        size = sum(p.stat().st_size for p in tree.rglob("*.json.gz"))
        work = Path(tempfile.mkdtemp(prefix="s3-", dir=DATA_DIR))
        isolate(work / "home")
        moto = Moto(venv, work / "moto.log")
        progress(f"uploading {objects} objects ({size / 2**20:.1f} MiB) to moto at {moto.url}")
        run_quiet([str(venv_python), "-c", BOTO, moto.url, BUCKET, str(tree)])

        aws = shutil.which("aws")
        in_place = [ctlookup, "--input", f"s3://{BUCKET}", "--endpoint-url", moto.url, "--where", WHERE, "-o", "jsonl"]

        def download(target: Path) -> list[str]:
            if aws:
                return [aws, "s3", "sync", f"s3://{BUCKET}", str(target), "--endpoint-url", moto.url, "--only-show-errors"]
            return [str(venv_python), "-c", BOTO, moto.url, BUCKET, str(target), "get"]

        def on_disk(target: Path) -> list[str]:
            return [ctlookup, "--input", str(target), "--where", WHERE, "-o", "jsonl"]

        def zcat_jq(target: Path) -> list[str]:
            return ["sh", "-c", f"zcat -r {target} | jq -c '{JQ_FILTER}'"]

        # Once, with the output read: the same events three ways.
        first = work / "check"
        run_quiet(download(first))
        ids = {
            "in place": sorted(collected_run(in_place)),
            "on disk": sorted(collected_run(on_disk(first))),
            "zcat | jq": sorted(collected_run(zcat_jq(first))),
        }
        if len({tuple(v) for v in ids.values()}) != 1:
            counts = ", ".join(f"{k}: {len(v)}" for k, v in ids.items())
            raise Mismatch(f"the three reads printed different events ({counts})")
        matched = len(ids["in place"])
        shutil.rmtree(first)

        best: dict[str, tuple[float, int]] = {}

        def keep(name: str, measured: tuple[float, int], run: int) -> None:
            progress(f"{name} run {run}/{args.runs}: {measured[0]:.3f} s, {mib(measured[1])}")
            old = best.get(name)
            best[name] = measured if old is None else (min(old[0], measured[0]), max(old[1], measured[1]))

        for run in range(1, args.runs + 1):
            keep("in place", timed_run(in_place), run)
            target = work / f"sync-{run}"
            keep("download", timed_run(download(target)), run)
            keep("on disk", timed_run(on_disk(target)), run)
            keep("zcat | jq", timed_run(zcat_jq(target)), run)
            shutil.rmtree(target)

        floor = rss_floor()
        (t_s3, rss_s3), (t_dl, _), (t_disk, rss_disk), (t_jq, _) = (
            best["in place"],
            best["download"],
            best["on disk"],
            best["zcat | jq"],
        )
        rate = lambda t: f"{args.count / t:,.0f}"  # noqa: E731
        sync = "`aws s3 sync`" if aws else f"a boto3 download, {SYNC_CONCURRENCY} requests at a time (the aws CLI's default)"
        lines = [
            f"### Trails in S3 (bench/s3.py, {git_revision()})",
            "",
            f"{args.count:,} records in {objects} `.json.gz` objects ({size / 2**20:.1f} MiB) in moto's S3 server on "
            f"loopback; filter `{WHERE}` ({matched:,} events match, the same three ways); best of {args.runs}; "
            f"{machine()}. Download: {sync}.",
            "",
            "| how | time | events/s | ÷ read in place | peak RSS |",
            "| --- | --- | --- | --- | --- |",
            f"| `ctlookup --input s3://…` (read in place) | {seconds(t_s3)} | {rate(t_s3)} | 1.00 | {rss(rss_s3, floor)} |",
            f"| download, then `ctlookup --input DIR` | {seconds(t_dl)} + {seconds(t_disk)} | {rate(t_dl + t_disk)} | "
            f"{(t_dl + t_disk) / t_s3:.2f} | {rss(rss_disk, floor)} (ctlookup) |",
            f"| download, then `zcat -r DIR \\| jq -c` | {seconds(t_dl)} + {seconds(t_jq)} | {rate(t_dl + t_jq)} | "
            f"{(t_dl + t_jq) / t_s3:.2f} | |",
            "",
            f"Peak RSS of the read in place: {mib(rss_s3)} for {objects} objects, target ≤ {RSS_TARGET_MIB} MiB: "
            f"{verdict(rss_s3 <= RSS_TARGET_MIB * 1024)} (launcher floor {mib(floor)}).",
        ]
        print("\n".join(lines))
        return 0
    finally:
        if moto is not None:
            moto.stop()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(exit_status(main))
