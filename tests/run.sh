#!/usr/bin/env bash
# The one command that runs every test of BitAtlas:
#   1. installs the real MCP clients the tests drive (tests/tools/setup.sh: Python SDK, pytest,
#      Node from PyPI, MCP Inspector, MCP conformance suite; a no-op once installed);
#   2. runs the doc tests, then the whole Rust test suite, which includes tests/it/mcp_clients.rs
#      (the client suites in tests/clients/). The doc tests go first so that the run closes on
#      the summary of the real suites rather than on an empty doc-test run.
# Needs Rust, Python 3.11+ with pip, and access to crates.io, PyPI and the npm registry.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/tools/setup.sh
cargo test --doc --workspace
cargo test --workspace --all-targets
