#!/usr/bin/env bash
# Sluice's test command: installs what a fresh machine lacks (scripts/setup.sh), checks formatting
# and lints (warnings are errors), then runs every suite of the workspace against real servers
# started on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same cache as ./demo.sh, so that the Go components are built once for both.
export SLUICE_CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
