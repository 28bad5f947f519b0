#!/usr/bin/env bash
# Build the simulated-engine image without a registry:
#   1. docker/make_rootfs.py packs this machine's Python + the sim's dependencies into a tarball,
#   2. `docker import` makes it the base image benchmatrix-python:local,
#   3. `docker build` (docker/Dockerfile.sim) adds the benchmatrix source -> benchmatrix-sim:local.
# Usage: docker/build-sim-image.sh [TAG]   (uses DOCKER_HOST; PYTHON overrides the interpreter;
#        FORCE=1 rebuilds even when the image already holds this source)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-benchmatrix-sim:local}
python=${PYTHON:-.venv/bin/python}

# Skip the build when the image already holds this exact source (label benchmatrix.source).
source_hash=$(find benchmatrix docker -type f \( -name '*.py' -o -name 'Dockerfile*' \) -not -path '*/__pycache__/*' \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
have=$(docker image inspect --format '{{ index .Config.Labels "benchmatrix.source" }}' "$tag" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$source_hash" ]; then
  echo "$tag is up to date (source $source_hash)" >&2
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" docker/make_rootfs.py "$work/rootfs.tar"
docker import --message "benchmatrix python runtime" "$work/rootfs.tar" benchmatrix-python:local >/dev/null
mkdir "$work/ctx"
cp docker/Dockerfile.sim "$work/ctx/Dockerfile"
tar -C . --exclude=__pycache__ -cf - benchmatrix | tar -C "$work/ctx" -xf -
DOCKER_BUILDKIT=0 docker build --quiet --label "benchmatrix.source=$source_hash" --tag "$tag" "$work/ctx" >/dev/null
docker image prune --force --filter "label=benchmatrix.source" >/dev/null  # superseded builds
echo "built $tag (source $source_hash)" >&2
