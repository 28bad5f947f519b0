#!/usr/bin/env bash
# Start a private Docker engine for the docker test tier and build the simulated-engine image.
#
#   bash .ci/docker-up.sh [ENV_FILE]      # then: source ENV_FILE  (or eval "$(bash .ci/docker-up.sh)")
#
# Prints `export DOCKER_HOST=unix://...` on stdout (and writes it to ENV_FILE when given).
# Idempotent: a running engine is reused. Bounded in time. When no engine can start it prints
# why on stderr and exits 0 without a DOCKER_HOST, so the docker tests skip with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."

state=${BENCHMATRIX_DOCKER_DIR:-/tmp/benchmatrix-docker}
sock="$state/docker.sock"
env_file=${1:-}
mkdir -p "$state"

say() { echo "[docker-up] $*" >&2; }
give_up() { say "docker tier unavailable: $*"; exit 0; }
engine_ok() { timeout 10 docker -H "unix://$sock" version >/dev/null 2>&1; }

publish() {
  echo "export DOCKER_HOST=unix://$sock"
  if [ -n "$env_file" ]; then echo "export DOCKER_HOST=unix://$sock" >"$env_file"; fi
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || give_up "dockerd is not installed and this user cannot install it (apt-get install docker.io)"
  command -v apt-get >/dev/null 2>&1 || give_up "dockerd is not installed and there is no apt-get"
  say "installing docker.io (apt)"
  timeout 300 apt-get install -y -q docker.io >"$state/apt.log" 2>&1 \
    || give_up "apt-get install docker.io failed: $(tail -n 3 "$state/apt.log" | tr '\n' ' ')"
}

start_engine() {
  [ "$(id -u)" = 0 ] || give_up "dockerd needs root here (uid $(id -u))"
  command -v docker >/dev/null 2>&1 || give_up "no docker client on PATH"
  iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}' >"$state/forward-policy" || true
  say "starting dockerd (data $state/root, socket $sock)"
  setsid dockerd --data-root "$state/root" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
    -H "unix://$sock" >"$state/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    engine_ok && return 0
    if [ -f "$state/dockerd.pid" ] && ! kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then break; fi
    sleep 1
  done
  give_up "dockerd did not answer within 60 s: $(tail -n 3 "$state/dockerd.log" | tr '\n' ' ')"
}

install_engine
if engine_ok; then
  say "reusing the engine at unix://$sock"
else
  start_engine
fi

export DOCKER_HOST="unix://$sock"
if ! timeout 300 bash docker/build-sim-image.sh >"$state/build.log" 2>&1; then
  say "the sim image did not build (docker tests will skip): $(tail -n 3 "$state/build.log" | tr '\n' ' ')"
fi
publish
say "ready; stop it with: bash .ci/docker-down.sh"
