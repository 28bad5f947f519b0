"""Helpers for the replica/balancer integration tests: specs, concurrent streaming, process checks."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmatrix.balancer import BalancerPlan, plan_for_replicas
from benchmatrix.replicas import CommandLaunch, ReplicaHandle, ReplicaSpec, SimLaunch
from benchmatrix.replicas.registry import group_members
from tests.support.deploy_standin import STANDIN_PATH

STANDIN_TEMPLATE = f"{{python}} {STANDIN_PATH} --host {{host}} --port {{port}} --replica {{replica}}"


def sim_config(time_scale: float = 1.0) -> dict[str, object]:
    """A small simulated H100 replica config as JSON data (the real benchmatrix.sim)."""
    from benchmatrix.sim.presets import preset_config

    return preset_config("h100-llama8b", time_scale=time_scale).model_dump(mode="json")


def sim_specs(count: int, time_scale: float = 1.0) -> list[ReplicaSpec]:
    config = sim_config(time_scale)
    return [ReplicaSpec(replica_id=f"r{i}", launch=SimLaunch(config=config), ready_timeout_s=20)
            for i in range(count)]


def standin_specs(count: int, template: str = STANDIN_TEMPLATE, **spec_fields: object) -> list[ReplicaSpec]:
    return [ReplicaSpec(replica_id=f"r{i}", launch=CommandLaunch(template=template), **spec_fields)  # type: ignore[arg-type]
            for i in range(count)]


def plan_for(handles: list[ReplicaHandle], **fields: object) -> BalancerPlan:
    return plan_for_replicas(handles, **fields)


@dataclass(frozen=True)
class StreamResult:
    index: int
    status: int | None
    replica_id: str | None
    request_id: str | None
    complete: bool
    error: str | None


def stream_one(client: httpx.Client, url: str, index: int, max_tokens: int) -> StreamResult:
    """POST one streaming completion; complete means the stream ended with ``data: [DONE]``."""
    body = {"model": "meta-llama/Llama-3.1-8B-Instruct", "prompt": f"req {index} hello",
            "max_tokens": max_tokens, "stream": True, "ignore_eos": True}
    headers = {"X-Request-ID": f"test-{index}"}
    try:
        with client.stream("POST", f"{url}/v1/completions", json=body, headers=headers) as resp:
            text = "".join(resp.iter_text())
            return StreamResult(index, resp.status_code, resp.headers.get("x-benchmatrix-replica"),
                                resp.headers.get("x-request-id"), "data: [DONE]" in text, None)
    except httpx.HTTPError as exc:
        return StreamResult(index, None, None, None, False, type(exc).__name__)


def stream_many(url: str, count: int, concurrency: int, max_tokens: int = 32) -> list[StreamResult]:
    """``count`` streaming requests with ``concurrency`` in flight (threads, 30 s timeout each)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=30.0, limits=limits, trust_env=False) as client, \
            ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda i: stream_one(client, url, i, max_tokens), range(count)))


def leftover_processes(handles: list[ReplicaHandle]) -> list[int]:
    """Live processes still in any replica's process group (should be none after teardown)."""
    return [pid for h in handles if h.pid for pid in group_members(h.pid)]


def python() -> str:
    return sys.executable


def workdir(tmp_path: Path) -> Path:
    return tmp_path / "deploy"
