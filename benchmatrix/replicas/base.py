"""Typed replica specs and handles, the backend Protocol, and the ``deployed`` context manager.

A :class:`ReplicaSpec` says what to start (its ``launch`` is one of three kinds: the simulated
engine, a command template, or a Docker engine) and a :class:`ReplicaHandle` says where the
running replica answers. Every backend starts a list of specs as one unit: all healthy, or a
:class:`~benchmatrix.errors.DeployError` after the partial set has been torn down.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, computed_field

REPLICA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"

#: Label keys every backend attaches (container labels, pid-file registry entries).
LABEL_RUN = "benchmatrix.run"
LABEL_SCENARIO = "benchmatrix.scenario"
LABEL_REPLICA = "benchmatrix.replica"
LABEL_MANAGED = "benchmatrix.managed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimLaunch(_Strict):
    """Start ``python -m benchmatrix.sim --config FILE`` with this engine config."""

    kind: Literal["sim"] = "sim"
    config: dict[str, Any] = Field(
        description="SimEngineConfig as JSON-ready data (model_dump(mode='json')); written to a file."
    )


class CommandLaunch(_Strict):
    """Start any OpenAI-compatible server from a command template.

    Placeholders: ``{host} {port} {model} {tp} {gpu_ids} {replica} {python}``.
    """

    kind: Literal["command"] = "command"
    template: str = Field(min_length=1, description="Command line with {placeholders}; split like a shell.")
    model: str = Field(default="", description="Model name or path substituted for {model}.")
    tp: int = Field(default=1, ge=1, description="Tensor-parallel degree substituted for {tp}.")


DockerEngine = Literal["vllm", "sglang", "tgi", "sim"]


class DockerLaunch(_Strict):
    """Start a serving engine in a Docker container (see ``docker_args.docker_run_args``)."""

    kind: Literal["docker"] = "docker"
    engine: DockerEngine = Field(description="Which engine's command line to build.")
    image: str | None = Field(default=None, description="Image; None = the engine's default image.")
    model: str = Field(default="", description="Model id (Hugging Face repo) or path in the container.")
    served_name: str | None = Field(default=None, description="Model name clients send.")
    tp: int = Field(default=1, ge=1, description="Tensor-parallel degree (GPUs per replica).")
    gpu_memory_utilization: float = Field(default=0.90, gt=0, le=1, description="Fraction of GPU memory.")
    max_model_len: int | None = Field(default=None, ge=2, description="Max prompt + output tokens.")
    max_num_seqs: int | None = Field(default=None, ge=1, description="Running-batch cap, sequences.")
    extra_args: tuple[str, ...] = Field(default=(), description="Appended to the engine command line.")
    model_cache_dir: str | None = Field(
        default=None, description="Host directory mounted as the engine's model cache."
    )
    sim_config: dict[str, Any] | None = Field(
        default=None, description="SimEngineConfig JSON for engine 'sim' (passed in an env var)."
    )
    shm_size: str = Field(default="16g", description="/dev/shm size (NCCL needs a large one).")


Launch = Annotated[Union[SimLaunch, CommandLaunch, DockerLaunch], Field(discriminator="kind")]


class ReplicaSpec(_Strict):
    """One replica to start. ``port=None`` lets the backend pick a free loopback port."""

    replica_id: str = Field(pattern=REPLICA_ID_PATTERN, description="Unique within a deployment, e.g. 'r0'.")
    launch: Launch
    gpu_ids: tuple[int, ...] = Field(default=(), description="GPUs pinned to this replica.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Host port; None = pick a free one.")
    host: str = Field(default="127.0.0.1", description="Address the replica listens on (loopback).")
    health_path: str = Field(default="/health", description="GET path that answers 200 once ready.")
    ready_timeout_s: float = Field(default=60.0, gt=0, description="Seconds to wait for health.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")


class ReplicaHandle(_Strict):
    """A running replica: where it answers and how to find it again."""

    replica_id: str
    backend: str = Field(description="'sim', 'command' or 'docker'.")
    host: str
    port: int
    pid: int | None = Field(default=None, description="Process (and process-group) id, process backends.")
    container_id: str | None = Field(default=None, description="Container id, docker backend.")
    log_path: Path = Field(description="Captured stdout+stderr of the replica.")
    startup_s: float = Field(default=0.0, ge=0, description="Seconds from launch to first healthy answer.")
    labels: dict[str, str] = Field(default_factory=dict)
    upstream_keepalive: bool = Field(
        default=True, description="False when the server closes its connection after each response."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8001``."""
        return f"http://{self.host}:{self.port}"


@runtime_checkable
class ReplicaBackend(Protocol):
    """Starts, watches and stops a set of replicas. Chosen only by ``get_backend``."""

    name: str

    def start(self, specs: list[ReplicaSpec], workdir: Path, labels: Mapping[str, str]) -> list[ReplicaHandle]:
        """Start all ``specs``; return handles once every one is healthy, else raise DeployError."""
        ...

    def stop(self, handles: list[ReplicaHandle]) -> None:
        """Stop the replicas (graceful, then forced); never raises for already-gone replicas."""
        ...

    def cleanup_orphans(self, labels: Mapping[str, str]) -> int:
        """Remove replicas a killed run left behind whose labels include ``labels``; return the count."""
        ...

    def alive(self, handle: ReplicaHandle) -> bool:
        """True while the replica's process or container is running."""
        ...


def labels_match(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    """True when every key/value of ``want`` is in ``have`` (an empty ``want`` matches all)."""
    return all(have.get(key) == value for key, value in want.items())


def check_unique_ids(specs: list[ReplicaSpec]) -> None:
    """Raise ValueError when two specs share a replica_id (their logs and labels would collide)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.replica_id in seen:
            raise ValueError(f"duplicate replica_id {spec.replica_id!r}")
        seen.add(spec.replica_id)


def log_tail(path: Path, lines: int = 20, max_chars: int = 4000) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return tail[-max_chars:]


@contextlib.contextmanager
def deployed(
    backend: ReplicaBackend, specs: list[ReplicaSpec], workdir: Path, labels: Mapping[str, str]
) -> Iterator[list[ReplicaHandle]]:
    """Start ``specs`` on ``backend``, yield the handles, and always stop them on exit.

    Teardown runs on normal exit, on any exception and on KeyboardInterrupt.
    """
    handles = backend.start(specs, workdir, labels)
    try:
        yield handles
    finally:
        backend.stop(handles)
