"""The ``docker`` backend: one container per replica, pinned GPUs, labelled, removed by label.

Containers carry ``benchmatrix.run``, ``benchmatrix.scenario``, ``benchmatrix.replica`` and
``benchmatrix.managed=true`` labels. ``start`` first removes leftovers with the same labels (a
killed run's orphans), then runs every container, then waits for each health URL. A container
that exits, or does not answer within its ``ready_timeout_s``, fails the whole start: its log is
saved to the workdir, quoted in the DeployError, and every container of the set is removed.

The engine is the one ``DOCKER_HOST`` names (``unix://...``, ``tcp://...``, ``ssh://user@host``)
or the ``docker_host`` option. For a remote engine, published ports live on the remote host:
pass ``publish_host`` (the address to publish on there) and ``connect_host`` (how this machine
reaches it), or tunnel the ports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmatrix.errors import DeployError
from benchmatrix.replicas.base import (
    LABEL_MANAGED,
    LABEL_RUN,
    LABEL_SCENARIO,
    ReplicaHandle,
    ReplicaSpec,
    check_unique_ids,
    log_tail,
)
from benchmatrix.replicas.docker_args import DockerRunArgs, docker_run_args_for_spec
from benchmatrix.replicas.health import is_healthy, new_probe_client

PORT_TAKEN_MARKERS = ("port is already allocated", "address already in use")


def _label_filters(labels: Mapping[str, str]) -> list[str]:
    return [f"{LABEL_MANAGED}=true", *(f"{k}={v}" for k, v in sorted(labels.items()))]


class DockerBackend:
    """Replicas as Docker containers on a local or remote engine."""

    name = "docker"

    def __init__(
        self,
        *,
        docker_host: str | None = None,
        connect_host: str = "127.0.0.1",
        publish_host: str = "127.0.0.1",
        request_gpus: bool = True,
        stop_grace_s: int = 10,
        api_timeout_s: int = 120,
        poll_interval_s: float = 0.25,
        client: Any = None,
    ) -> None:
        self.docker_host = docker_host
        self.connect_host = connect_host
        self.publish_host = publish_host
        self.request_gpus = request_gpus
        self.stop_grace_s = stop_grace_s
        self.api_timeout_s = api_timeout_s
        self.poll_interval_s = poll_interval_s
        self._client = client

    # -- engine connection ----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The Docker SDK client (connected on first use; DeployError when no engine answers)."""
        if self._client is None:
            self._client = connect(self.docker_host, self.api_timeout_s)
        return self._client

    # -- public protocol ------------------------------------------------------------------------

    def start(self, specs: list[ReplicaSpec], workdir: Path, labels: Mapping[str, str]) -> list[ReplicaHandle]:
        """Remove same-label leftovers, run every container, wait until all are healthy."""
        check_unique_ids(specs)
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        if labels:
            self.cleanup_orphans(labels)
        started: list[tuple[ReplicaSpec, DockerRunArgs, Any, float]] = []
        try:
            for spec in specs:
                args = docker_run_args_for_spec(spec, labels, host_ip=self.publish_host,
                                                request_gpus=self.request_gpus)
                container = self._run(spec, args)
                started.append((spec, args, container, time.monotonic()))
                _follow_logs(container, workdir / "logs" / f"{spec.replica_id}.log")
            return [self._wait_healthy(spec, args, container, t0, workdir, labels)
                    for spec, args, container, t0 in started]
        except BaseException:
            for spec, _, container, _ in started:
                self._save_logs(container, workdir / "logs" / f"{spec.replica_id}.log")
                self._remove(container)
            raise

    def stop(self, handles: list[ReplicaHandle]) -> None:
        """Stop each container (SIGTERM through tini, then SIGKILL), save its log, remove it;
        then remove anything else that still carries the deployment's run and scenario labels."""
        for handle in handles:
            container = self._get(handle.container_id)
            if container is None:
                continue
            try:
                container.stop(timeout=self.stop_grace_s)
            except Exception:  # noqa: BLE001 - already stopped or gone: removal below decides
                pass
            self._save_logs(container, handle.log_path)
            self._remove(container)
        for labels in {_deployment_labels(h) for h in handles}:
            if labels:
                self.cleanup_orphans(dict(labels))

    def alive(self, handle: ReplicaHandle) -> bool:
        """True while the replica's container is running."""
        container = self._get(handle.container_id)
        return container is not None and container.status == "running"

    def cleanup_orphans(self, labels: Mapping[str, str]) -> int:
        """Force-remove every benchmatrix container whose labels include ``labels``; return how many."""
        containers = self.client.containers.list(all=True, filters={"label": _label_filters(labels)})
        for container in containers:
            self._remove(container)
        return len(containers)

    def containers_with(self, labels: Mapping[str, str]) -> list[Any]:
        """Benchmatrix containers (any state) whose labels include ``labels``."""
        return list(self.client.containers.list(all=True, filters={"label": _label_filters(labels)}))

    # -- internals ------------------------------------------------------------------------------

    def _run(self, spec: ReplicaSpec, args: DockerRunArgs) -> Any:
        import docker.errors

        try:
            return self.client.containers.run(**args.to_sdk_kwargs())
        except docker.errors.ImageNotFound as exc:
            raise DeployError(
                f"replica {spec.replica_id}: image {args.image!r} is not on the Docker engine; "
                "build or pull it first (the sim image: docker/build-sim-image.sh)"
            ) from exc
        except docker.errors.APIError as exc:
            self._remove_named(args.name)
            message = str(exc)
            if any(marker in message.lower() for marker in PORT_TAKEN_MARKERS):
                raise DeployError(
                    f"replica {spec.replica_id}: port {args.host_port} on {args.host_ip} is already in use "
                    f"({message})", transient=True,
                ) from exc
            raise DeployError(f"replica {spec.replica_id}: docker could not start {args.image}: {message}") from exc

    def _wait_healthy(
        self, spec: ReplicaSpec, args: DockerRunArgs, container: Any, t0: float, workdir: Path,
        labels: Mapping[str, str],
    ) -> ReplicaHandle:
        log_path = workdir / "logs" / f"{spec.replica_id}.log"
        with new_probe_client() as probe:
            while True:
                container.reload()
                if container.status in ("exited", "dead"):
                    code = container.attrs.get("State", {}).get("ExitCode")
                    raise self._failure(spec, container, log_path, f"container exited with code {code}")
                port = _published_port(container, args.container_port)
                url = f"http://{self.connect_host}:{port}{spec.health_path}"
                if port is not None and is_healthy(probe, url):
                    return ReplicaHandle(
                        replica_id=spec.replica_id, backend=self.name, host=self.connect_host, port=port,
                        container_id=container.id, log_path=log_path, labels=dict(args.labels),
                        startup_s=round(time.monotonic() - t0, 3),
                    )
                if time.monotonic() - t0 > spec.ready_timeout_s:
                    raise self._failure(spec, container, log_path,
                                        f"no 200 from {url} within {spec.ready_timeout_s:g} s")
                time.sleep(self.poll_interval_s)

    def _failure(self, spec: ReplicaSpec, container: Any, log_path: Path, why: str) -> DeployError:
        self._save_logs(container, log_path)
        return DeployError(
            f"replica {spec.replica_id} ({container.name}): {why}; last log lines from {log_path}:\n"
            f"{log_tail(log_path)}"
        )

    def _get(self, container_id: str | None) -> Any:
        import docker.errors

        if container_id is None:
            return None
        try:
            return self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return None

    @staticmethod
    def _save_logs(container: Any, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(container.logs(stdout=True, stderr=True))
        except Exception:  # noqa: BLE001 - logs are best effort; the container may be gone
            pass

    @staticmethod
    def _remove(container: Any) -> None:
        import docker.errors

        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise DeployError(f"could not remove container {container.name}: {exc}") from exc

    def _remove_named(self, name: str) -> None:
        """A failed ``run`` can leave a Created container (e.g. GPU requests): remove it by name."""
        container = self._get(name)
        if container is not None:
            self._remove(container)


def _follow_logs(container: Any, path: Path) -> threading.Thread:
    """Copy the container's output into ``path`` while it runs (a daemon thread), so a slow
    engine start can be watched with ``tail -f``; stop and failure rewrite the file in full."""

    def copy() -> None:
        try:
            with open(path, "ab") as sink:
                for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
                    sink.write(chunk)
                    sink.flush()
        except Exception:  # noqa: BLE001 - the container went away or the stream timed out
            return

    thread = threading.Thread(target=copy, name=f"logs-{container.name}", daemon=True)
    thread.start()
    return thread


def _deployment_labels(handle: ReplicaHandle) -> tuple[tuple[str, str], ...]:
    """The run and scenario labels of a handle (what a whole deployment shares)."""
    keys = (LABEL_RUN, LABEL_SCENARIO)
    return tuple(sorted((k, v) for k, v in handle.labels.items() if k in keys))


def _published_port(container: Any, container_port: int) -> int | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{container_port}/tcp")
    if not bindings:
        return None
    return int(bindings[0]["HostPort"])


def connect(docker_host: str | None, timeout_s: int = 120) -> Any:
    """A Docker SDK client for ``docker_host`` (else ``DOCKER_HOST``); DeployError when unreachable."""
    import docker
    import docker.errors

    try:
        if docker_host:
            ssh = docker_host.startswith("ssh://")
            client = docker.DockerClient(  # type: ignore[attr-defined]
                base_url=docker_host, timeout=timeout_s, use_ssh_client=ssh)
        else:
            client = docker.from_env(timeout=timeout_s)  # type: ignore[attr-defined]
        client.ping()
    except docker.errors.DockerException as exc:
        where = docker_host or "DOCKER_HOST / the default socket"
        raise DeployError(
            f"no Docker engine reachable at {where}: {exc}; start one (.ci/docker-up.sh) and export DOCKER_HOST"
        ) from exc
    return client


def engine_reachable(docker_host: str | None = None, timeout_s: int = 5) -> str | None:
    """None when an engine answers, else the reason it does not (for ``pytest.skip``)."""
    try:
        connect(docker_host, timeout_s).close()
    except DeployError as exc:
        return str(exc)
    return None
