"""Pure construction of ``docker run`` arguments for each serving engine.

``docker_run_args(engine, ...)`` returns a :class:`DockerRunArgs` that converts to Docker SDK
keyword arguments (``to_sdk_kwargs``) or to a ``docker run`` command line (``to_cli``), so the
exact engine command lines are unit-tested without a Docker engine.

Engine flags for the planned tensor-parallel degree and memory budget:

=======  ===========================  ===========================  ======================
engine   TP                           memory fraction              context length
=======  ===========================  ===========================  ======================
vllm     ``--tensor-parallel-size``   ``--gpu-memory-utilization`` ``--max-model-len``
sglang   ``--tp``                     ``--mem-fraction-static``    ``--context-length``
tgi      ``--num-shard``              ``--cuda-memory-fraction``   ``--max-total-tokens``
=======  ===========================  ===========================  ======================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.replicas.base import (
    LABEL_MANAGED,
    LABEL_REPLICA,
    DockerEngine,
    DockerLaunch,
    ReplicaSpec,
)

SIM_CONFIG_ENV = "BENCHMATRIX_SIM_CONFIG"


class EngineDefaults(BaseModel):
    """Where an engine image listens and keeps its model cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str
    container_port: int
    health_path: str = "/health"
    cache_mount: str | None = Field(description="Container path of the model cache volume.")
    uses_gpus: bool = True


ENGINES: dict[str, EngineDefaults] = {
    "vllm": EngineDefaults(image="vllm/vllm-openai:latest", container_port=8000,
                           cache_mount="/root/.cache/huggingface"),
    "sglang": EngineDefaults(image="lmsysorg/sglang:latest", container_port=30000,
                             cache_mount="/root/.cache/huggingface"),
    "tgi": EngineDefaults(image="ghcr.io/huggingface/text-generation-inference:latest",
                          container_port=80, cache_mount="/data"),
    "sim": EngineDefaults(image="benchmatrix-sim:local", container_port=8000, cache_mount=None,
                          uses_gpus=False),
}


class DockerRunArgs(BaseModel):
    """Everything needed to start one replica container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    image: str
    command: tuple[str, ...]
    environment: dict[str, str]
    labels: dict[str, str]
    container_port: int
    host_ip: str
    host_port: int | None = Field(description="None = Docker picks a free host port.")
    gpu_ids: tuple[int, ...] = Field(description="GPUs requested with device_requests (empty = none).")
    volumes: dict[str, str] = Field(description="host path -> container path (read-write).")
    shm_size: str
    init: bool = True
    health_path: str = "/health"

    def to_sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.containers.run(**kwargs)`` (detached)."""
        from docker.types import DeviceRequest

        kwargs: dict[str, Any] = {
            "image": self.image, "command": list(self.command), "name": self.name, "detach": True,
            "environment": dict(self.environment), "labels": dict(self.labels), "init": self.init,
            "ports": {f"{self.container_port}/tcp": (self.host_ip, self.host_port)},
            "shm_size": self.shm_size,
            "volumes": {host: {"bind": cont, "mode": "rw"} for host, cont in self.volumes.items()},
        }
        if self.gpu_ids:
            kwargs["device_requests"] = [
                DeviceRequest(device_ids=[str(g) for g in self.gpu_ids], capabilities=[["gpu"]])
            ]
        return kwargs

    def to_cli(self) -> list[str]:
        """The equivalent ``docker run`` command line (for docs, logs and dry runs)."""
        argv = ["docker", "run", "--detach", "--init", "--name", self.name, "--shm-size", self.shm_size]
        port = f"{self.host_ip}:{self.host_port or ''}:{self.container_port}"
        argv += ["--publish", port]
        if self.gpu_ids:
            argv += ["--gpus", f'"device={",".join(str(g) for g in self.gpu_ids)}"']
        for key, value in sorted(self.labels.items()):
            argv += ["--label", f"{key}={value}"]
        for key in sorted(self.environment):
            argv += ["--env", key]  # values stay out of command lines and logs
        for host, cont in sorted(self.volumes.items()):
            argv += ["--volume", f"{host}:{cont}"]
        return [*argv, self.image, *self.command]


def _vllm(model: str, tp: int, port: int, mem: float, max_len: int | None, seqs: int | None,
          served: str | None) -> list[str]:
    argv = ["--model", model, "--tensor-parallel-size", str(tp), "--gpu-memory-utilization", f"{mem:g}",
            "--host", "0.0.0.0", "--port", str(port)]
    argv += ["--max-model-len", str(max_len)] if max_len else []
    argv += ["--max-num-seqs", str(seqs)] if seqs else []
    return argv + (["--served-model-name", served] if served else [])


def _sglang(model: str, tp: int, port: int, mem: float, max_len: int | None, seqs: int | None,
            served: str | None) -> list[str]:
    argv = ["python3", "-m", "sglang.launch_server", "--model-path", model, "--tp", str(tp),
            "--mem-fraction-static", f"{mem:g}", "--host", "0.0.0.0", "--port", str(port)]
    argv += ["--context-length", str(max_len)] if max_len else []
    argv += ["--max-running-requests", str(seqs)] if seqs else []
    return argv + (["--served-model-name", served] if served else [])


def _tgi(model: str, tp: int, port: int, mem: float, max_len: int | None, seqs: int | None,
         served: str | None) -> list[str]:
    argv = ["--model-id", model, "--num-shard", str(tp), "--cuda-memory-fraction", f"{mem:g}",
            "--hostname", "0.0.0.0", "--port", str(port)]
    if max_len:
        argv += ["--max-total-tokens", str(max_len), "--max-input-tokens", str(max_len - 1)]
    return argv + (["--max-concurrent-requests", str(seqs)] if seqs else [])


def _sim(port: int) -> list[str]:
    return ["python3", "-m", "benchmatrix.replicas.sim_entry", "--host", "0.0.0.0", "--port", str(port)]


_BUILDERS = {"vllm": _vllm, "sglang": _sglang, "tgi": _tgi}


def container_name(labels: Mapping[str, str], replica_id: str) -> str:
    """``bm-<run>-<scenario>-<replica>``, limited to Docker's name alphabet."""
    parts = [labels.get("benchmatrix.run", "run"), labels.get("benchmatrix.scenario", ""), replica_id]
    raw = "-".join(p for p in parts if p)
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in raw)
    return f"bm-{safe}"[:120]


def docker_run_args(
    engine: DockerEngine,
    *,
    replica_id: str,
    model: str = "",
    tp: int = 1,
    gpu_ids: Sequence[int] = (),
    image: str | None = None,
    served_name: str | None = None,
    gpu_memory_utilization: float = 0.90,
    max_model_len: int | None = None,
    max_num_seqs: int | None = None,
    extra_args: Sequence[str] = (),
    model_cache_dir: str | None = None,
    sim_config: Mapping[str, Any] | None = None,
    host_ip: str = "127.0.0.1",
    host_port: int | None = None,
    labels: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    shm_size: str = "16g",
    request_gpus: bool = True,
) -> DockerRunArgs:
    """Arguments to run one replica of ``engine`` with TP ``tp`` pinned to ``gpu_ids`` (pure).

    Raises ValueError when ``gpu_ids`` is given and its length differs from ``tp`` (a GPU engine
    shards over exactly the GPUs it sees), or when a GPU engine gets no model.
    """
    defaults = ENGINES[engine]
    if defaults.uses_gpus and gpu_ids and len(gpu_ids) != tp:
        raise ValueError(f"replica {replica_id}: tp={tp} needs {tp} GPU ids, got {list(gpu_ids)}")
    environment = dict(env or {})
    if engine == "sim":
        command = _sim(defaults.container_port)
        environment[SIM_CONFIG_ENV] = json.dumps({**(sim_config or {}), "replica_id": replica_id})
    elif not model:
        raise ValueError(f"replica {replica_id}: engine {engine} needs a model")
    else:
        command = _BUILDERS[engine](model, tp, defaults.container_port, gpu_memory_utilization,
                                    max_model_len, max_num_seqs, served_name)
    all_labels = {**(labels or {}), LABEL_REPLICA: replica_id, LABEL_MANAGED: "true"}
    volumes = {model_cache_dir: defaults.cache_mount} if model_cache_dir and defaults.cache_mount else {}
    pinned = tuple(gpu_ids) if (defaults.uses_gpus and request_gpus) else ()
    return DockerRunArgs(
        name=container_name(all_labels, replica_id), image=image or defaults.image,
        command=(*command, *extra_args), environment=environment, labels=all_labels,
        container_port=defaults.container_port, host_ip=host_ip, host_port=host_port, gpu_ids=pinned,
        volumes=volumes, shm_size=shm_size, health_path=defaults.health_path,
    )


def docker_run_args_for_spec(
    spec: ReplicaSpec, labels: Mapping[str, str], *, host_ip: str = "127.0.0.1", request_gpus: bool = True
) -> DockerRunArgs:
    """``docker_run_args`` for a spec whose launch is a :class:`DockerLaunch`."""
    launch = spec.launch
    if not isinstance(launch, DockerLaunch):
        raise ValueError(f"replica {spec.replica_id}: the docker backend needs a docker launch, not {launch.kind!r}")
    return docker_run_args(
        launch.engine, replica_id=spec.replica_id, model=launch.model, tp=launch.tp, gpu_ids=spec.gpu_ids,
        image=launch.image, served_name=launch.served_name,
        gpu_memory_utilization=launch.gpu_memory_utilization, max_model_len=launch.max_model_len,
        max_num_seqs=launch.max_num_seqs, extra_args=launch.extra_args,
        model_cache_dir=launch.model_cache_dir, sim_config=launch.sim_config, host_ip=host_ip,
        host_port=spec.port, labels=labels, env=spec.env, shm_size=launch.shm_size,
        request_gpus=request_gpus,
    )
