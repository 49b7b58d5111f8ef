#!/usr/bin/env bash
# Makes the Python virtual environment of the Athena SQL check, target/venv, with the pinned packages of
# tests/python-requirements.txt, unless it already has exactly those; then prints its python's path.
# Idempotent: a second run installs nothing. Progress goes to stderr, only the path to stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/venv"
requirements="$root/tests/python-requirements.txt"
stamp="$venv/.requirements"
python="$venv/bin/python"
if [ ! -x "$python" ] || ! cmp -s "$requirements" "$stamp"; then
    mkdir -p "$root/target"
    python3 -m venv "$venv" >&2
    "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "$python"
