#!/usr/bin/env bash
# Stop the private Docker engine started by .ci/docker-up.sh and undo what dockerd leaves behind:
# benchmatrix containers, the docker0 bridge, DOCKER iptables chains, the DROP forward policy.
# Idempotent and bounded in time; always exits 0.
set -uo pipefail

state=${BENCHMATRIX_DOCKER_DIR:-/tmp/benchmatrix-docker}
sock="$state/docker.sock"
say() { echo "[docker-down] $*" >&2; }

if [ -S "$sock" ] && timeout 10 docker -H "unix://$sock" version >/dev/null 2>&1; then
  ids=$(timeout 20 docker -H "unix://$sock" ps -aq --filter label=benchmatrix.managed=true)
  if [ -n "$ids" ]; then
    say "removing benchmatrix containers: $(echo $ids)"
    timeout 60 docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
  fi
fi

if [ -f "$state/dockerd.pid" ]; then
  pid=$(cat "$state/dockerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$state/dockerd.pid"
fi
# containerd started by dockerd runs as its child; make sure it is gone too.
if [ -f "$state/exec/containerd/containerd.pid" ]; then
  cpid=$(cat "$state/exec/containerd/containerd.pid")
  kill -0 "$cpid" 2>/dev/null && kill -TERM "$cpid"
fi

if command -v ip >/dev/null 2>&1 && ip link show docker0 >/dev/null 2>&1; then
  say "deleting the docker0 bridge"
  ip link delete docker0 2>/dev/null || true
fi

if command -v iptables >/dev/null 2>&1; then
  for table in filter nat; do
    # Drop every rule that jumps to or mentions a DOCKER chain, then the chains themselves.
    iptables -t "$table" -S 2>/dev/null | grep -E '^-A .*(DOCKER|docker0)' | grep -vE '^-A DOCKER' \
      | sed 's/^-A /-D /' | while read -r rule; do
        # shellcheck disable=SC2086
        iptables -t "$table" $rule 2>/dev/null || true
      done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  policy=$(cat "$state/forward-policy" 2>/dev/null || echo ACCEPT)
  iptables -P FORWARD "${policy:-ACCEPT}" 2>/dev/null || true
  say "iptables: DOCKER chains removed, FORWARD policy ${policy:-ACCEPT}"
fi

rm -rf "$state/exec" "$sock"
say "done (data root kept in $state/root for a faster next start; rm -rf $state to drop it)"
exit 0
