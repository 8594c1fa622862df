#!/usr/bin/env bash
# Builds the MCP Bundle (.mcpb) of bitatlas for this platform:
#   target/bitatlas-<version>-<os>-<arch>.mcpb
# a zip of packaging/mcpb/manifest.json and the binary as server/bitatlas, packed with the
# official MCP Bundle CLI (`mcpb validate`, `mcpb pack`).
#
# Usage: bash packaging/mcpb/build.sh
# Environment (all optional):
#   BITATLAS_BIN      binary to bundle; without it `cargo build --release --locked` builds one
#   BITATLAS_STRIP=1  strip debug info from the bundled copy (keeps bundles of debug builds small)
#   MCPB_OUT_DIR      where the .mcpb goes (default: the cargo target directory)
#   NODE, MCPB        node and the mcpb CLI script; default: what tests/tools/setup.sh installed
#                     (tests/.tools/paths.env), else `node` and `mcpb` on PATH
#
# The icon is assets/icon.svg rasterized to icon.png (the bundle format takes PNG only) when
# rsvg-convert or ImageMagick is installed; without one the bundle has no icon.
#
# stdout: `bundle=PATH` and `sha256=HEX` (the `fileSha256` of the server.json package entry,
# which release tooling fills in for the uploaded asset); progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT_DIR="${MCPB_OUT_DIR:-$TARGET}"
PYTHON="${PYTHON:-python3}"

log() { printf 'mcpb: %s\n' "$*" >&2; }
die() { printf 'mcpb: error: %s\n' "$*" >&2; exit 1; }

# KEY from tests/.tools/paths.env (written by tests/tools/setup.sh), if there.
tool_path() {
    local paths="${BITATLAS_TOOLS_DIR:-$ROOT/tests/.tools}/paths.env"
    [[ -f "$paths" ]] && sed -n "s/^$1=//p" "$paths" | head -n 1
}

NODE="${NODE:-$(tool_path NODE)}"
MCPB="${MCPB:-$(tool_path MCPB)}"
if [[ -n "$MCPB" ]]; then
    NODE="${NODE:-$(command -v node || true)}"
    [[ -x "$NODE" ]] || die "no node to run $MCPB (set NODE, or run tests/tools/setup.sh)"
    mcpb() { "$NODE" "$MCPB" "$@"; }
elif ! command -v mcpb >/dev/null; then
    die "mcpb not found: run tests/tools/setup.sh, set MCPB, or install @anthropic-ai/mcpb"
fi

version="$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' "$ROOT/Cargo.toml")"

case "$(uname -s)" in
    Linux) os=linux platform=linux exe="" ;;
    Darwin) os=macos platform=darwin exe="" ;;
    MINGW* | MSYS* | CYGWIN*) os=windows platform=win32 exe=".exe" ;;
    *) die "unsupported OS $(uname -s)" ;;
esac
arch="$(uname -m)"
case "$arch" in
    amd64) arch=x86_64 ;;
    arm64) arch=aarch64 ;;
esac

bin="${BITATLAS_BIN:-}"
if [[ -z "$bin" ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --bin bitatlas) >&2
    bin="$TARGET/release/bitatlas$exe"
fi
[[ -x "$bin" ]] || die "not an executable: $bin"
reported="$("$bin" --version)"
[[ "$reported" == "bitatlas $version" ]] \
    || die "$bin reports '$reported', Cargo.toml says $version"

stage="$OUT_DIR/mcpb-stage-$os-$arch"
bundle="$OUT_DIR/bitatlas-$version-$os-$arch.mcpb"
rm -rf "$stage"
mkdir -p "$stage/server"
cp "$bin" "$stage/server/bitatlas$exe"
chmod 0755 "$stage/server/bitatlas$exe"
if [[ "${BITATLAS_STRIP:-}" == 1 ]]; then
    strip -S "$stage/server/bitatlas$exe" || die "strip failed"
fi

icon=""
svg="$ROOT/assets/icon.svg"
png="$stage/icon.png"
if command -v rsvg-convert >/dev/null; then
    rsvg-convert -w 512 -h 512 -o "$png" "$svg" 2>/dev/null || true
elif command -v magick >/dev/null; then
    magick -background none -density 768 "$svg" -resize 512x512 "$png" 2>/dev/null || true
fi
# A PNG starts with \x89PNG; anything else (a failed or stand-in converter) is dropped.
if [[ -s "$png" && "$(head -c 4 "$png" | od -An -tx1 | tr -d ' \n')" == "89504e47" ]]; then
    icon="icon.png"
else
    rm -f "$png"
    log "no SVG rasterizer (rsvg-convert, ImageMagick): the bundle has no icon"
fi

# The staged manifest: packaging/mcpb/manifest.json for this one platform, with the icon when
# there is one. Its version must be Cargo.toml's.
"$PYTHON" - "$HERE/manifest.json" "$stage/manifest.json" "$version" "$platform" "$icon" <<'PY'
import json, sys
src, dst, version, platform, icon = sys.argv[1:]
with open(src) as f:
    manifest = json.load(f)
if manifest["version"] != version:
    sys.exit(f"mcpb: error: {src} has version {manifest['version']}, Cargo.toml {version}")
manifest.setdefault("compatibility", {})["platforms"] = [platform]
if icon:
    manifest["icon"] = icon
with open(dst, "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY

log "validating $stage/manifest.json"
mcpb validate "$stage/manifest.json" >&2 || die "mcpb validate failed"
rm -f "$bundle"
log "packing $bundle"
mcpb pack "$stage" "$bundle" >&2 || die "mcpb pack failed"
[[ -f "$bundle" ]] || die "mcpb pack wrote no $bundle"

sha="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$bundle")"
echo "bundle=$bundle"
echo "sha256=$sha"
