#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): install everything incl. test tools, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
source scripts/env.sh
exec .venv/bin/python -m pytest "$@"
