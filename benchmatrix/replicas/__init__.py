"""Replica backends: start N serving replicas, wait until healthy, stop them (always).

    backend = get_backend("sim")                      # or "command", "docker"
    with deployed(backend, specs, workdir, labels) as handles:
        ...                                           # handles[i].url answers requests

Backends are chosen only here (``get_backend``). Every backend starts a list of specs as one
unit: all healthy, or :class:`~benchmatrix.errors.DeployError` naming the replica with the tail
of its log, after the partial set has been torn down.
"""

from __future__ import annotations

from typing import Any

from benchmatrix.replicas.base import (
    LABEL_MANAGED,
    LABEL_REPLICA,
    LABEL_RUN,
    LABEL_SCENARIO,
    CommandLaunch,
    DockerLaunch,
    ReplicaBackend,
    ReplicaHandle,
    ReplicaSpec,
    SimLaunch,
    deployed,
    labels_match,
    log_tail,
)
from benchmatrix.replicas.profiles import (
    PROFILES,
    CommandProfile,
    command_replica_spec,
    get_profile,
    resolve_command,
)

BACKENDS = ("sim", "command", "docker")


def get_backend(name: str, **options: Any) -> ReplicaBackend:
    """The one place a backend is chosen.

    ``sim``/``command``: options ``registry_dir``, ``python``, ``stop_grace_s``.
    ``docker``: options ``docker_host`` (e.g. ``ssh://user@gpu-box``), ``connect_host``,
    ``publish_host``, ``stop_grace_s``, ``request_gpus``.
    """
    if name in ("sim", "command"):
        from benchmatrix.replicas.process import ProcessBackend

        return ProcessBackend(name, **options)
    if name == "docker":
        from benchmatrix.replicas.docker_backend import DockerBackend

        return DockerBackend(**options)
    raise ValueError(f"unknown replica backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "LABEL_MANAGED",
    "LABEL_REPLICA",
    "LABEL_RUN",
    "LABEL_SCENARIO",
    "PROFILES",
    "CommandLaunch",
    "CommandProfile",
    "DockerLaunch",
    "ReplicaBackend",
    "ReplicaHandle",
    "ReplicaSpec",
    "SimLaunch",
    "command_replica_spec",
    "deployed",
    "get_backend",
    "get_profile",
    "labels_match",
    "log_tail",
    "resolve_command",
]
