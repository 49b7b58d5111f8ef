#!/usr/bin/env bash
# Builds the release binary of ctlookup for Linux, checks it, and packs it.
#
#   scripts/build-release.sh [TARGET]
#
# TARGET (default x86_64-unknown-linux-gnu.2.26) is a cargo-zigbuild target:
#   x86_64-unknown-linux-gnu.2.26, aarch64-unknown-linux-gnu.2.26  glibc, linked against glibc 2.26
#                                                                  (Amazon Linux 2; CloudShell runs AL2023)
#   x86_64-unknown-linux-musl, aarch64-unknown-linux-musl          static
# The target's Rust standard library must be installed (`rustup target add x86_64-unknown-linux-musl`).
#
# What it does:
#   1. installs its tools if missing, into a cache directory (CTLOOKUP_TOOLS, default
#      ~/.cache/ctlookup-build): cargo-zigbuild from crates.io (`cargo install --locked`) and zig from
#      PyPI (`pip install ziglang`, in a venv there). Nothing else is downloaded.
#   2. `cargo zigbuild --profile dist --target TARGET` (the dist profile of Cargo.toml: fat LTO, one
#      codegen unit, stripped). zig cc also compiles aws-lc-sys's C for that glibc.
#   3. checks the binary: `objdump -T` names no GLIBC symbol version newer than the floor (no GLIBC at
#      all for musl); it runs `--version`; lookups on examples/lookup-events.json print exactly what the
#      everyday `cargo build --release` binary prints for the same commands. Step 3's runs are skipped
#      (with a warning) when the target's CPU is not this machine's.
#   4. renders the man pages with examples/man.rs (`cargo run --release --example man`, a build for this
#      machine: the pages are the same for every target), then packs
#      target/assets/ctlookup-ARCH-linux[-musl].tar.gz (the binary, LICENSE*, README.md at the top level,
#      so that `tar xz -C ~/.local/bin ctlookup` takes the binary alone, and the pages in man/) and its
#      .sha256 (sha256sum format), and prints the figures: size, glibc floor, start-up time of
#      `ctlookup --version` (median of 20).
#
# Everyday `cargo build --release` is not affected: the dist profile and the target directory
# target/TRIPLE/dist/ are used by this script only. The first run takes long (the AWS SDK, with fat LTO,
# on 2 cores: see docs/performance.md); later runs reuse target/ and the tool cache.
# CARGO_PROFILE_DIST_LTO=thin (or any CARGO_PROFILE_DIST_* variable) overrides the profile for a trial.
set -euo pipefail
# One block, read whole before it runs, so that editing this file during a long build cannot derail it.
{

TARGET=${1:-x86_64-unknown-linux-gnu.2.26}
TOOLS=${CTLOOKUP_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ctlookup-build}
CARGO_ZIGBUILD_VERSION=${CARGO_ZIGBUILD_VERSION:-0.24.1}
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.15.2}
RUNS=${STARTUP_RUNS:-20}

cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-release: %s\n' "$*" >&2; exit 1; }

# --- the target -------------------------------------------------------------------------------------
case "$TARGET" in
    *-unknown-linux-gnu.*) TRIPLE=${TARGET%.*.*}; FLOOR=${TARGET#"$TRIPLE".}; SUFFIX= ;;
    *-unknown-linux-musl) TRIPLE=$TARGET; FLOOR=; SUFFIX=-musl ;;
    *) die "unsupported target $TARGET (x86_64|aarch64-unknown-linux-gnu.2.NN or -musl)" ;;
esac
ARCH=${TRIPLE%%-*}
ASSET=ctlookup-$ARCH-linux$SUFFIX
for tool in cargo rustup python3 objdump tar gzip sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
# The Rust standard library of the target comes with the toolchain (the workflow's rust-toolchain step
# installs it); this script downloads nothing but its two tools.
rustup target list --installed | grep -qx "$TRIPLE" ||
    die "no Rust standard library for $TRIPLE: run \`rustup target add $TRIPLE\` first"

# --- 1. tools ---------------------------------------------------------------------------------------
mkdir -p "$TOOLS"
export PATH="$TOOLS/cargo/bin:$PATH"
if [ "$(cargo-zigbuild --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
    say "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION into $TOOLS/cargo"
    cargo install cargo-zigbuild --version "$CARGO_ZIGBUILD_VERSION" --locked --force --root "$TOOLS/cargo"
fi
PYTHON=$TOOLS/venv/bin/python
if [ "$("$PYTHON" -m ziglang version 2>/dev/null)" != "$ZIGLANG_VERSION" ]; then
    say "installing zig $ZIGLANG_VERSION (PyPI ziglang) into $TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
fi
# cargo-zigbuild runs `$CARGO_ZIGBUILD_PYTHON_PATH -m ziglang` as its zig.
export CARGO_ZIGBUILD_PYTHON_PATH=$PYTHON
say "$(cargo-zigbuild --version), zig $("$PYTHON" -m ziglang version), $(rustc --version)"

# --- 2. build ---------------------------------------------------------------------------------------
say "cargo zigbuild --locked --profile dist --target $TARGET"
start=$(date +%s)
cargo zigbuild --locked --profile dist --target "$TARGET" --bin ctlookup
build_seconds=$(($(date +%s) - start))
BIN=$ROOT/target/$TRIPLE/dist/ctlookup
[ -x "$BIN" ] || die "no binary at $BIN"

# --- 3. checks --------------------------------------------------------------------------------------
fail=0
check() { printf '  %-58s %s\n' "$1" "$2" >&2; }

# Highest GLIBC_x.y symbol version the binary asks for (dynamic symbols and version references).
glibc_versions=$(objdump -T "$BIN" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV || true)
needed=$(objdump -p "$BIN" | awk '$1 == "NEEDED" {print $2}' | paste -sd' ' -)
if [ -n "$FLOOR" ]; then
    newest=$(printf '%s\n' "$glibc_versions" | tail -n1)
    [ -n "$newest" ] || die "objdump -T found no GLIBC symbol versions in $BIN"
    too_new=$(printf '%s\n' "$glibc_versions" | while read -r v; do
        [ "$(printf '%s\n%s\n' "$v" "$FLOOR" | sort -V | tail -n1)" = "$FLOOR" ] || echo "$v"
    done)
    if [ -n "$too_new" ]; then
        check "objdump -T: GLIBC versions <= $FLOOR" "FAIL: needs $(paste -sd' ' - <<<"$too_new")"
        objdump -T "$BIN" | grep -E "GLIBC_($(paste -sd'|' - <<<"$too_new" | sed 's/\./\\./g'))[^0-9.]" >&2 || true
        fail=1
    else
        check "objdump -T: GLIBC versions <= $FLOOR" "ok (newest GLIBC_$newest)"
    fi
    GLIBC_FLOOR="glibc $newest"
else
    if [ -n "$glibc_versions" ] || [ -n "$needed" ]; then
        check "static: no GLIBC symbol, no shared library" "FAIL: ${needed:-GLIBC symbols}"
        fail=1
    else
        check "static: no GLIBC symbol, no shared library" "ok"
    fi
    GLIBC_FLOOR="none (static)"
fi
check "shared libraries (NEEDED)" "${needed:-none}"

host_arch=$(uname -m)
[ "$host_arch" = arm64 ] && host_arch=aarch64
STARTUP=
if [ "$host_arch" != "$ARCH" ]; then
    say "warning: $ARCH binary on a $host_arch machine: not run (build it on $ARCH to check it)"
else
    # The everyday release binary is the reference for what the dist binary must print.
    say "cargo build --release --locked --bin ctlookup (the reference binary)"
    cargo build --release --locked --bin ctlookup
    REF=$ROOT/target/release/ctlookup
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # A clean environment: no AWS settings, no terminal, a fixed zone, an empty cache.
    run() { env -i PATH=/usr/bin:/bin HOME="$work/home" XDG_CACHE_HOME="$work/cache" TZ=UTC LANG=C.UTF-8 "$@"; }

    version=$(run "$BIN" --version) || { check "ctlookup --version" "FAIL"; fail=1; }
    expected_version="ctlookup $(cargo metadata --no-deps --format-version 1 |
        python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ctlookup"))')"
    if [ "$version" = "$expected_version" ]; then
        check "ctlookup --version" "ok ($version)"
    else
        check "ctlookup --version" "FAIL: '$version', expected '$expected_version'"
        fail=1
    fi

    EX=$ROOT/examples/lookup-events.json
    commands=(
        "--input $EX --event-name ConsoleLogin"
        "--input $EX --errors -o json --tz UTC"
        "--input $EX --where errorCode=~AccessDenied|UnauthorizedOperation -o csv --tz Asia/Tokyo"
        "--input $EX --username bob --event-source s3.amazonaws.com -o tsv"
        "--input $EX --source-ip 203.0.113.0/24 --jq {t:.eventTime,n:.eventName}"
        "--input $EX --max-items 5 -o table --color never"
        "--input $EX --where errorcode=AccessDenied"
        "completions bash"
    )
    # Commands that rightly print nothing on stdout (a typo'd field: only the warning on stderr).
    quiet="--input $EX --where errorcode=AccessDenied"
    for command in "${commands[@]}"; do
        read -r -a args <<<"$command"
        set +e
        run "$BIN" "${args[@]}" >"$work/dist.out" 2>"$work/dist.err"; dist_status=$?
        run "$REF" "${args[@]}" >"$work/ref.out" 2>"$work/ref.err"; ref_status=$?
        set -e
        label="ctlookup ${command//$EX/examples/lookup-events.json}"
        lines=$(wc -l <"$work/dist.out")
        if [ "$dist_status" != 0 ] || { [ "$lines" = 0 ] && [ "$command" != "$quiet" ]; }; then
            check "${label:0:58}" "FAIL: exit $dist_status, $lines lines"; sed 's/^/    /' "$work/dist.err" >&2; fail=1
        elif ! cmp -s "$work/dist.out" "$work/ref.out" || ! cmp -s "$work/dist.err" "$work/ref.err" ||
            [ "$dist_status" != "$ref_status" ]; then
            check "${label:0:58}" "FAIL: differs from the release binary"
            diff "$work/ref.out" "$work/dist.out" | head -n 20 >&2 || true
            diff "$work/ref.err" "$work/dist.err" | head -n 20 >&2 || true
            fail=1
        else
            check "${label:0:58}" "ok ($lines lines, same as --release)"
        fi
    done

    # Start-up: wall time of `ctlookup --version`, median of $RUNS runs (after one warm-up run).
    startup() {
        python3 - "$1" "$RUNS" <<'EOF'
import statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
subprocess.run([binary, "--version"], stdout=subprocess.DEVNULL, check=True)
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([binary, "--version"], stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - start)
print(f"{statistics.median(times) * 1000:.1f} ms")
EOF
    }
    STARTUP=$(startup "$BIN")
    REF_STARTUP=$(startup "$REF")
fi
[ "$fail" = 0 ] || die "checks failed: nothing packed"

# --- 4. pack ----------------------------------------------------------------------------------------
OUT=$ROOT/target/assets
stage=$OUT/$ASSET
rm -rf "$stage" && mkdir -p "$stage"
cp "$BIN" "$stage/ctlookup"
cp LICENSE LICENSE-MIT LICENSE-APACHE README.md "$stage/"
# The man pages (ctlookup.1, ctlookup-sync.1, ...), rendered from the clap definitions of src/cli.rs.
say "cargo run --release --locked --example man (the man pages)"
cargo run --release --locked --quiet --example man -- "$stage/man" >/dev/null
[ -s "$stage/man/ctlookup.1" ] || die "no man page at $stage/man/ctlookup.1"
# Same inputs, same bytes: sorted names, no owners, the time of the last commit.
mtime=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -cf - \
    ctlookup LICENSE LICENSE-MIT LICENSE-APACHE README.md man | gzip -9n >"$OUT/$ASSET.tar.gz"
(cd "$OUT" && sha256sum "$ASSET.tar.gz" >"$ASSET.tar.gz.sha256")
rm -rf "$stage"

size=$(stat -c %s "$BIN")
archive=$(stat -c %s "$OUT/$ASSET.tar.gz")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat <<EOF

target          $TARGET
binary          $(mib "$size") ($size bytes), stripped; dist profile built in ${build_seconds} s
archive         $OUT/$ASSET.tar.gz, $(mib "$archive") ($archive bytes)
sha256          $(cut -d' ' -f1 "$OUT/$ASSET.tar.gz.sha256")
glibc floor     $GLIBC_FLOOR
shared libs     ${needed:-none}
start-up        ${STARTUP:-not measured (foreign CPU)}$([ -n "$STARTUP" ] && echo " (ctlookup --version, median of $RUNS runs; the --release binary: $REF_STARTUP)")
EOF
exit 0
}
