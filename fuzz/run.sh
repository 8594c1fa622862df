#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, one after the other, when nightly
# and cargo-fuzz are installed; otherwise says so and exits 0 (fuzzing is optional in CI; the
# corpora are replayed on stable by `cargo test --test it fuzz_replay::`).
#
# Usage: bash fuzz/run.sh [SECONDS]
# New corpus entries go to fuzz/target/corpus/<target>/ (gitignored); the checked-in seeds in
# fuzz/corpus/<target>/ are read only. A crash, timeout or OOM stops the run with a non-zero
# status and leaves the input in fuzz/artifacts/<target>/ (see fuzz/README.md).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash fuzz/run.sh [SECONDS]" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: skipped (no nightly toolchain: rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: skipped (no cargo-fuzz: cargo install cargo-fuzz --locked)"
    exit 0
fi

start=$SECONDS
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
    work="target/corpus/$target"
    mkdir -p "$work" "artifacts/$target"
    echo "== fuzz $target for ${seconds}s"
    # -jobs/-workers 1: one process (libFuzzer writes its log to fuzz-0.log in the current
    # directory, so run from fuzz/target).
    (cd target && cargo +nightly fuzz run --fuzz-dir .. "$target" "corpus/$target" \
        "../corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
        -timeout=10 -jobs=1 -workers=1 -artifact_prefix="../artifacts/$target/" \
        -print_final_stats=1) || {
        rc=$?
        echo "fuzz: $target failed (exit $rc); see fuzz/target/fuzz-0.log and fuzz/artifacts/$target/" >&2
        tail -n 40 target/fuzz-0.log >&2 || true
        exit "$rc"
    }
    grep -E '^stat::number_of_executed_units|DONE' target/fuzz-0.log | tail -n 2 || true
done
echo "== fuzz took $((SECONDS - start))s"
