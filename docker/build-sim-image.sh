#!/usr/bin/env bash
# Build the simulated-engine image without a registry:
#   1. docker/make_rootfs.py packs this machine's Python + the sim's dependencies into a tarball,
#   2. `docker import` makes it the base image benchmatrix-python:local,
#   3. `docker build` (docker/Dockerfile.sim) adds the benchmatrix source -> benchmatrix-sim:local.
# Usage: docker/build-sim-image.sh [TAG]   (uses DOCKER_HOST; PYTHON overrides the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-benchmatrix-sim:local}
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" docker/make_rootfs.py "$work/rootfs.tar"
docker import --message "benchmatrix python runtime" "$work/rootfs.tar" benchmatrix-python:local >/dev/null
mkdir "$work/ctx"
cp docker/Dockerfile.sim "$work/ctx/Dockerfile"
tar -C . --exclude=__pycache__ -cf - benchmatrix | tar -C "$work/ctx" -xf -
DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" "$work/ctx" >/dev/null
echo "built $tag" >&2
