#!/usr/bin/env bash
# Installs the tools of the CI gates that the toolchain does not bring, each at a pinned version,
# and skips each one that is already installed at that version:
#   cargo-deny       (crates.io)  licences, bans and sources of the dependency tree (deny.toml)
#   cargo-cyclonedx  (crates.io)  the CycloneDX SBOM of each workspace crate
#   detect-secrets   (PyPI)       the secret scan of the tracked tree (.secrets.baseline), in a
#                                 venv at tests/.tools/ci-venv (gitignored with /tests/.tools)
#   cargo-fuzz       (crates.io)  the bounded fuzz run (fuzz/run.sh), only where a nightly
#                                 toolchain is installed; named explicitly, never by default
#
# Usage: bash .ci/tools.sh [cargo-deny|cargo-cyclonedx|detect-secrets|cargo-fuzz]...
#        (none: the first three)
# Prints the time each install took. Needs cargo, python3 with venv, crates.io and PyPI.
# Bumping a pin: change it here, run the gate once, and review what the new version reports.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Both build on the machine's stable rustc (1.95); cargo-deny 0.20.2 needs 1.88, cargo-cyclonedx
# 0.5.9 needs 1.85. Neither crate has cargo features to trim the build.
CARGO_DENY_VERSION=0.20.2
CARGO_CYCLONEDX_VERSION=0.5.9
# Builds on stable; runs targets on nightly only.
CARGO_FUZZ_VERSION=0.13.2
CI_VENV=tests/.tools/ci-venv
# detect-secrets and everything it pulls in, exact (pip freeze of a fresh install).
DETECT_SECRETS_PINS=(
    detect-secrets==1.5.0
    PyYAML==6.0.4
    requests==2.34.2
    certifi==2026.10.19.post1
    charset-normalizer==3.5.3
    idna==3.20
    urllib3==2.8.0
)

# install NAME VERSION CHECK_CMD INSTALL_FN: runs INSTALL_FN unless the last word that CHECK_CMD
# prints is VERSION.
install() {
    local name="$1" version="$2" check="$3" fn="$4" start=$SECONDS
    local have
    have="$(eval "$check" 2>/dev/null || true)"
    if [[ "${have##* }" == "$version" ]]; then
        echo "== install $name: $version already there, took $((SECONDS - start))s"
        return
    fi
    echo "== install $name $version (found: ${have:-none})"
    "$fn"
    have="$(eval "$check" 2>/dev/null || true)"
    if [[ "${have##* }" != "$version" ]]; then
        echo "tools.sh: $name $version did not install (found: ${have:-none})" >&2
        exit 1
    fi
    echo "== install $name took $((SECONDS - start))s"
}

install_cargo_deny() { cargo install cargo-deny --version "=$CARGO_DENY_VERSION" --locked; }
install_cargo_cyclonedx() {
    cargo install cargo-cyclonedx --version "=$CARGO_CYCLONEDX_VERSION" --locked
}
install_cargo_fuzz() { cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked; }
install_detect_secrets() {
    rm -rf "$CI_VENV"
    python3 -m venv "$CI_VENV"
    "$CI_VENV/bin/pip" install --quiet "${DETECT_SECRETS_PINS[@]}"
}

[[ $# -gt 0 ]] || set -- cargo-deny cargo-cyclonedx detect-secrets
for tool in "$@"; do
    case "$tool" in
        cargo-deny)
            install cargo-deny "$CARGO_DENY_VERSION" "cargo deny --version" install_cargo_deny ;;
        cargo-cyclonedx)
            # It prints its version as "cargo-cyclonedx-cyclonedx 0.5.9".
            install cargo-cyclonedx "$CARGO_CYCLONEDX_VERSION" "cargo cyclonedx --version" \
                install_cargo_cyclonedx ;;
        cargo-fuzz)
            install cargo-fuzz "$CARGO_FUZZ_VERSION" "cargo fuzz --version" install_cargo_fuzz ;;
        detect-secrets)
            install detect-secrets "${DETECT_SECRETS_PINS[0]#detect-secrets==}" \
                "$CI_VENV/bin/detect-secrets --version" install_detect_secrets ;;
        *)
            echo "tools.sh: unknown tool '$tool'" >&2
            exit 2 ;;
    esac
done
