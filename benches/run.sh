#!/usr/bin/env bash
# The one command that runs every benchmark of BitAtlas:
#   bash benches/run.sh              # all benchmarks
#   bash benches/run.sh --bench aead # one of them (arguments go to `cargo bench`)
#
# 1. installs what the baselines need: Garage, Node and the MCP filesystem server
#    (tests/tools/setup.sh), and rclone, openssl and GNU time from Debian's packages when
#    missing and this user may install them;
# 2. runs `cargo bench`: every benchmark prints one line per figure with its ratio to a baseline
#    measured in the same run (above 1 = better than the baseline), and merges its figures into
#    <target>/bench-results.json together with a description of the machine.
# A baseline tool that is still missing makes its figures print as "skipped", with the reason.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/tools/setup.sh

missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v openssl >/dev/null || missing+=(openssl)
[[ -x /usr/bin/time ]] || missing+=(time)
if (( ${#missing[@]} )); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "bench: installing ${missing[*]} from Debian's packages" >&2
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    else
        echo "bench: not installed (their figures will be skipped): ${missing[*]}" >&2
    fi
fi

cargo bench "$@"
echo "results: ${CARGO_TARGET_DIR:-target}/bench-results.json"
