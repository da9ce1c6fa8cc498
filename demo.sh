#!/usr/bin/env bash
# The main job in one command: installs what is missing (scripts/setup.sh: Debian packages, the
# Go-built control plane and Gitea, cached in $SLUICE_CACHE), builds Sluice, and runs the whole
# promotion demo on local servers (`sluice demo`), leaving it running for inspection.
# Stop it with `./demo.sh down`. Any other arguments go to `sluice demo` (e.g. --state-dir DIR).
set -euo pipefail
cd "$(dirname "$0")"
export SLUICE_CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
scripts/setup.sh
exec cargo run --release -p sluice -- demo "$@"
