"""Find and stop what a killed run left running on this host: replica processes (pid
registry), containers (``benchmatrix.managed`` label) and NGINX masters (pid files)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from benchmatrix.pipeline.run import registry_dir
from benchmatrix.replicas import get_backend
from benchmatrix.replicas.registry import process_state
from benchmatrix.runs import RunContext
from benchmatrix.spec import Scenario


def clean_orphans(ctx: RunContext, docker_hosts: list[str | None] | None = None) -> list[str]:
    """:func:`clean_data_dir` of the run's data dir (call before a run starts anything)."""
    return clean_data_dir(ctx.data_dir, docker_hosts)


def clean_data_dir(data_dir: str | Path, docker_hosts: list[str | None] | None = None) -> list[str]:
    """Stop what a killed run left on this host: replica processes, containers, NGINX masters.

    Replica processes are found by the pid registry, containers by the ``benchmatrix.managed``
    label on each Docker engine in ``docker_hosts`` (None = the local engine; empty list = no
    Docker in this matrix), NGINX masters by the pid files under ``<data_dir>/runs/``.
    Returns one line per kind of leftover found.
    """
    found: list[str] = []
    data_dir = Path(data_dir)
    removed = get_backend("sim", registry_dir=registry_dir(data_dir)).cleanup_orphans({})
    if removed:
        found.append(f"{removed} orphan replica process(es) stopped")
    for host in docker_hosts or []:
        containers = get_backend("docker", docker_host=host).cleanup_orphans({})
        if containers:
            found.append(f"{containers} orphan container(s) removed from {host or 'the local engine'}")
    stopped = stop_orphan_nginx(data_dir / "runs")
    if stopped:
        found.append(f"{stopped} orphan NGINX master(s) stopped")
    return found


def docker_hosts(scenarios: list[Scenario]) -> list[str | None]:
    """The Docker engines the matrix's docker-backend entries use (None = local engine)."""
    hosts = {s.hardware.docker_host for s in scenarios if s.hardware.backend == "docker"}
    return sorted(hosts, key=lambda h: h or "")


def stop_orphan_nginx(runs_dir: Path, grace_s: float = 5.0, pattern: str = "*/*/nginx/logs/nginx.pid") -> int:
    """Stop every NGINX master whose pid file (``pattern`` under ``runs_dir``) still runs.

    A pid is signalled only when its command line names nginx and the pid file's prefix, so a
    reused pid is never hit. The files are left in place (they are the run's artifacts).
    """
    stopped = 0
    for pid_file in sorted(Path(runs_dir).glob(pattern)):
        pid = _nginx_pid(pid_file)
        if pid is None:
            continue
        _stop_pid(pid, grace_s)
        stopped += 1
    return stopped


def clean_scenario(ctx: RunContext, scenario: Scenario) -> list[str]:
    """Stop what one scenario of this run still has running on this host (and nothing else):
    its replica processes or containers (by their run/scenario labels) and its NGINX."""
    labels = {"benchmatrix.run": ctx.run_id, "benchmatrix.scenario": scenario.scenario_id}
    found: list[str] = []
    if scenario.hardware.backend == "docker":
        removed = get_backend("docker", docker_host=scenario.hardware.docker_host).cleanup_orphans(labels)
    else:
        removed = get_backend("sim", registry_dir=registry_dir(ctx.data_dir)).cleanup_orphans(labels)
    if removed:
        found.append(f"{removed} replica(s) of {scenario.name} stopped")
    directory = ctx.scenario_dir(scenario.name, scenario.scenario_id)
    if stop_orphan_nginx(directory, pattern="nginx/logs/nginx.pid"):
        found.append(f"NGINX of {scenario.name} stopped")
    return found


def _nginx_pid(pid_file: Path) -> int | None:
    """The live NGINX master pid of a prefix, or None (stale file, reused pid, unreadable)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    prefix = str(pid_file.parent.parent)
    return pid if "nginx" in cmdline and prefix in cmdline else None


def _stop_pid(pid: int, grace_s: float) -> None:
    """SIGQUIT (graceful NGINX stop), then SIGKILL after ``grace_s``."""
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and process_state(pid) not in (None, "Z"):
            time.sleep(0.05)
        if process_state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
