#!/usr/bin/env bash
# README command 1: install everything, then run the embedded default matrix
# (simulated replicas behind a real NGINX, results in a DuckDB file under .data/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec .venv/bin/benchmatrix run matrices/smoke.yaml "$@"
