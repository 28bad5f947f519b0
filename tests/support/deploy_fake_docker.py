"""An in-memory stand-in for the Docker SDK client (the parts the docker backend uses)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import docker.errors

_ids = itertools.count(1)


@dataclass
class FakeContainer:
    client: FakeDockerClient
    name: str
    labels: dict[str, str]
    kwargs: dict[str, Any]
    status: str = "running"
    exit_code: int = 0
    output: bytes = b"listening on http://0.0.0.0:8000\n"
    id: str = field(default_factory=lambda: f"c{next(_ids):04d}")
    stopped: bool = False

    @property
    def attrs(self) -> dict[str, Any]:
        (container_port, (host_ip, host_port)), = self.kwargs["ports"].items()
        return {"State": {"ExitCode": self.exit_code},
                "NetworkSettings": {"Ports": {container_port: [{"HostIp": host_ip,
                                                                "HostPort": str(host_port or 40000)}]}}}

    def reload(self) -> None:
        return

    def logs(self, stdout: bool = True, stderr: bool = True, stream: bool = False,
             follow: bool = False) -> Any:
        return iter([self.output]) if stream else self.output

    def stop(self, timeout: int = 10) -> None:
        self.status, self.stopped = "exited", True

    def remove(self, force: bool = False) -> None:
        if self.id not in self.client.containers.by_id:
            raise docker.errors.NotFound("gone")
        del self.client.containers.by_id[self.id]


class FakeContainers:
    def __init__(self, client: FakeDockerClient) -> None:
        self.client = client
        self.by_id: dict[str, FakeContainer] = {}
        self.behaviour: dict[str, dict[str, Any]] = {}  # replica id -> container field overrides
        self.run_error: dict[str, Exception] = {}      # replica id -> error raised by run()

    def run(self, **kwargs: Any) -> FakeContainer:
        replica = kwargs["labels"]["benchmatrix.replica"]
        container = FakeContainer(self.client, kwargs["name"], kwargs["labels"], kwargs,
                                  **self.behaviour.get(replica, {}))
        self.by_id[container.id] = container
        if replica in self.run_error:
            container.status = "created"
            raise self.run_error[replica]
        return container

    def get(self, key: str) -> FakeContainer:
        for container in self.by_id.values():
            if key in (container.id, container.name):
                return container
        raise docker.errors.NotFound(key)

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[FakeContainer]:  # noqa: A002
        include_stopped = all
        wanted = [f.split("=", 1) for f in (filters or {}).get("label", [])]
        return [c for c in self.by_id.values()
                if (include_stopped or c.status == "running")
                and not any(c.labels.get(k) != v for k, v in wanted)]


class FakeDockerClient:
    def __init__(self) -> None:
        self.containers = FakeContainers(self)
