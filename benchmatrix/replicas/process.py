"""Process backends: the simulated engine (``sim``) and any command template (``command``).

Each replica runs in its own session (``start_new_session=True``), so its pid is also its
process-group id and teardown signals the whole group. Every process is recorded in a pid-file
registry until it is stopped, so ``cleanup_orphans`` can find what a killed run left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmatrix.errors import DeployError
from benchmatrix.ports import free_port, port_is_free
from benchmatrix.replicas.base import (
    CommandLaunch,
    ReplicaHandle,
    ReplicaSpec,
    SimLaunch,
    check_unique_ids,
    labels_match,
    log_tail,
)
from benchmatrix.replicas.commands import command_values, expand_command
from benchmatrix.replicas.health import is_healthy, new_probe_client
from benchmatrix.replicas.profiles import missing_modules, profile_for_template
from benchmatrix.replicas.registry import (
    PidEntry,
    PidRegistry,
    default_registry_dir,
    kill_group,
    process_start_ticks,
    process_state,
    signal_group,
    wait_group_gone,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Pending:
    """A launched replica that has not answered its health check yet."""

    spec: ReplicaSpec
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    labels: dict[str, str]
    workdir: Path
    attempt: int = 1
    started_at: float = field(default_factory=time.monotonic)


AUTO_PORT_ATTEMPTS = 3
PORT_TAKEN_MARKERS = ("address already in use", "already in use", "couldn't bind", "eaddrinuse")


class _PortRace(Exception):
    """A replica on an automatically chosen port lost it to another process before binding."""


def _port_taken(log_text: str) -> bool:
    """True when the last lines of a replica's log say its port was taken."""
    last = "\n".join(log_text.lower().splitlines()[-5:])
    return any(marker in last for marker in PORT_TAKEN_MARKERS)


def _keepalive_ok(spec: ReplicaSpec) -> bool:
    """What the spec's profile says about connection reuse (custom commands: assume it works)."""
    launch = spec.launch
    profile = profile_for_template(launch.template) if isinstance(launch, CommandLaunch) else None
    return profile.upstream_keepalive if profile else True


class ProcessBackend:
    """Local processes on loopback ports. ``name`` is 'sim' or 'command' (which launch kind it takes)."""

    def __init__(
        self,
        name: str = "sim",
        *,
        registry_dir: Path | None = None,
        python: str | None = None,
        stop_grace_s: float = 5.0,
        poll_interval_s: float = 0.1,
    ) -> None:
        if name not in ("sim", "command"):
            raise ValueError(f"ProcessBackend name must be 'sim' or 'command', not {name!r}")
        self.name = name
        self.registry = PidRegistry(registry_dir or default_registry_dir())
        self.python = python or sys.executable
        self.stop_grace_s = stop_grace_s
        self.poll_interval_s = poll_interval_s
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    # -- public protocol ------------------------------------------------------------------------

    def start(self, specs: list[ReplicaSpec], workdir: Path, labels: Mapping[str, str]) -> list[ReplicaHandle]:
        """Launch every spec, then wait until all are healthy; tear all down on any failure."""
        check_unique_ids(specs)
        workdir.mkdir(parents=True, exist_ok=True)
        launched: list[_Pending] = []
        try:
            for spec in specs:
                launched.append(self._launch(spec, workdir, dict(labels)))
            return self._wait_healthy(launched)
        except BaseException:
            self._terminate([p.proc.pid for p in launched])
            raise

    def stop(self, handles: list[ReplicaHandle]) -> None:
        """SIGTERM every replica's group, wait, SIGKILL what is left, forget the pid files."""
        self._terminate([h.pid for h in handles if h.pid is not None])

    def alive(self, handle: ReplicaHandle) -> bool:
        """True while the replica's main process runs (zombies count as dead)."""
        if handle.pid is None:
            return False
        proc = self._procs.get(handle.pid)
        if proc is not None:
            return proc.poll() is None
        state = process_state(handle.pid)
        return state is not None and state != "Z"

    def cleanup_orphans(self, labels: Mapping[str, str]) -> int:
        """Kill registered process groups whose labels include ``labels``; return how many were live."""
        killed = 0
        for entry in self.registry.entries():
            if not labels_match(entry.labels, labels):
                continue
            if self.registry.is_running(entry):
                kill_group(entry.pid, self.stop_grace_s)
                killed += 1
            self.registry.remove(entry.pid)
        return killed

    # -- launching ------------------------------------------------------------------------------

    def _launch(self, spec: ReplicaSpec, workdir: Path, labels: dict[str, str]) -> _Pending:
        port = self._choose_port(spec)
        argv = self._argv(spec, port, workdir)
        log_path = workdir / "logs" / f"{spec.replica_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(spec),
                cwd=workdir,
                start_new_session=True,
            )
        self._procs[proc.pid] = proc
        replica_labels = {**labels, "benchmatrix.replica": spec.replica_id}
        self.registry.add(
            PidEntry(
                replica_id=spec.replica_id,
                pid=proc.pid,
                start_ticks=process_start_ticks(proc.pid),
                labels=replica_labels,
                log_path=str(log_path),
            )
        )
        return _Pending(spec=spec, proc=proc, port=port, log_path=log_path, labels=replica_labels,
                        workdir=workdir)

    def _choose_port(self, spec: ReplicaSpec) -> int:
        if spec.port is None:
            return free_port(spec.host)
        if not port_is_free(spec.port, spec.host):
            raise DeployError(
                f"replica {spec.replica_id}: port {spec.port} on {spec.host} is already in use; "
                "stop what listens there or leave the port unset to pick a free one",
                transient=True,
            )
        return spec.port

    def _argv(self, spec: ReplicaSpec, port: int, workdir: Path) -> list[str]:
        launch = spec.launch
        if isinstance(launch, SimLaunch) and self.name == "sim":
            config_path = workdir / f"{spec.replica_id}.sim.json"
            config_path.write_text(json.dumps({**launch.config, "replica_id": spec.replica_id}, indent=2))
            return [self.python, "-m", "benchmatrix.sim", "--config", str(config_path),
                    "--host", spec.host, "--port", str(port)]
        if isinstance(launch, CommandLaunch) and self.name == "command":
            return self._command_argv(spec, launch, port)
        raise DeployError(
            f"replica {spec.replica_id}: backend {self.name!r} cannot start a {launch.kind!r} launch"
        )

    def _command_argv(self, spec: ReplicaSpec, launch: CommandLaunch, port: int) -> list[str]:
        template = launch.template
        profile = profile_for_template(template)
        if profile is not None:
            missing = missing_modules(profile)
            if missing:
                raise DeployError(
                    f"replica {spec.replica_id}: profile {profile.name!r} needs {', '.join(missing)}; "
                    f"install with: {profile.install_hint}"
                )
            template = profile.template
        values = command_values(
            host=spec.host, port=port, model=launch.model, tp=launch.tp, gpu_ids=spec.gpu_ids,
            replica=spec.replica_id, python=self.python,
        )
        try:
            return expand_command(template, values)
        except ValueError as exc:
            raise DeployError(f"replica {spec.replica_id}: {exc}") from exc

    def _env(self, spec: ReplicaSpec) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCHMATRIX_REPLICA_ID": spec.replica_id}
        # The child must import this same benchmatrix, installed or not (a source checkout).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        if spec.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpu_ids)
        env.update(spec.env)
        return env

    # -- readiness ------------------------------------------------------------------------------

    def _wait_healthy(self, launched: list[_Pending]) -> list[ReplicaHandle]:
        """Poll every pending replica until all answer; ``launched`` is updated on relaunch."""
        ready: dict[str, ReplicaHandle] = {}
        with new_probe_client() as client:
            while len(ready) < len(launched):
                for index, pending in enumerate(launched):
                    if pending.spec.replica_id in ready:
                        continue
                    try:
                        handle = self._check_one(client, pending)
                    except _PortRace:
                        launched[index] = self._relaunch(pending)
                        continue
                    if handle is not None:
                        ready[pending.spec.replica_id] = handle
                if len(ready) < len(launched):
                    time.sleep(self.poll_interval_s)
        return [ready[p.spec.replica_id] for p in launched]

    def _relaunch(self, pending: _Pending) -> _Pending:
        """Start a replica again on a fresh port (its first choice was taken meanwhile)."""
        self._reap(pending.proc.pid, 1.0)
        self.registry.remove(pending.proc.pid)
        fresh = self._launch(pending.spec, pending.workdir, pending.labels)
        fresh.attempt = pending.attempt + 1
        return fresh

    def _check_one(self, client: httpx.Client, pending: _Pending) -> ReplicaHandle | None:
        spec = pending.spec
        code = pending.proc.poll()
        if code is not None:
            tail = log_tail(pending.log_path)
            if spec.port is None and pending.attempt < AUTO_PORT_ATTEMPTS and _port_taken(tail):
                raise _PortRace(spec.replica_id)
            raise DeployError(
                f"replica {spec.replica_id} exited with code {code} before becoming healthy "
                f"(port {pending.port}); last log lines from {pending.log_path}:\n{tail}"
            )
        url = f"http://{spec.host}:{pending.port}{spec.health_path}"
        if is_healthy(client, url):
            return ReplicaHandle(
                replica_id=spec.replica_id, backend=self.name, host=spec.host, port=pending.port,
                pid=pending.proc.pid, log_path=pending.log_path, labels=pending.labels,
                startup_s=round(time.monotonic() - pending.started_at, 3),
                upstream_keepalive=_keepalive_ok(spec),
            )
        if time.monotonic() - pending.started_at > spec.ready_timeout_s:
            raise DeployError(
                f"replica {spec.replica_id} did not answer {url} with 200 within "
                f"{spec.ready_timeout_s:g} s; last log lines from {pending.log_path}:\n{log_tail(pending.log_path)}",
                transient=True,
            )
        return None

    # -- teardown -------------------------------------------------------------------------------

    def _terminate(self, pids: list[int]) -> None:
        """Signal all groups first, then wait for each, so stopping N replicas takes one grace period.

        Only groups this backend started or the registry still vouches for (same start time) are
        signalled: a second stop of the same handles, after the pid was reused, touches nothing.
        """
        pids = [pid for pid in pids if self._owns(pid)]
        for pid in pids:
            signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        for pid in pids:
            self._reap(pid, max(0.0, deadline - time.monotonic()))
            if not wait_group_gone(pid, max(0.0, deadline - time.monotonic())):
                kill_group(pid, 0.0)
            self._reap(pid, 2.0)
            self.registry.remove(pid)

    def _owns(self, pid: int) -> bool:
        if pid in self._procs:
            return True
        entry = next((e for e in self.registry.entries() if e.pid == pid), None)
        return entry is not None and self.registry.is_running(entry)

    def _reap(self, pid: int, timeout_s: float) -> None:
        proc = self._procs.get(pid)
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return
        self._procs.pop(pid, None)
