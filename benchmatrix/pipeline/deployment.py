"""Start and stop a scenario's replicas and its NGINX balancer.

Processes started here are registered in this module so that an interrupt (Ctrl-C) can tear
everything down from the main thread (:func:`emergency_teardown`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from benchmatrix.balancer import Balancer, ReplicaShare, plan_for_replicas
from benchmatrix.errors import BenchmatrixError, DeployError
from benchmatrix.pipeline.launch import replica_specs
from benchmatrix.pipeline.run import registry_dir, scenario_dir
from benchmatrix.planner import TpPlan
from benchmatrix.replicas import ReplicaHandle, get_backend
from benchmatrix.replicas.engine_metrics import EngineCounts, scrape
from benchmatrix.runs import RunContext
from benchmatrix.spec import Scenario

# Live resources, so an interrupt can stop them from the main thread.
_LIVE_LOCK = threading.Lock()
_LIVE: dict[int, Any] = {}


class Deployment(BaseModel):
    """Running replicas of one scenario and the backend that owns them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any
    handles: list[ReplicaHandle]
    workdir: Path


def deploy(ctx: RunContext, scenario: Scenario, tp_plan: TpPlan) -> Deployment:
    """Start every replica and wait until all are healthy (DeployError otherwise, none left)."""
    workdir = scenario_dir(ctx, scenario) / "replicas"
    options: dict[str, Any] = {}
    if scenario.hardware.backend in ("sim", "command"):
        options["registry_dir"] = registry_dir(ctx.data_dir)
    elif scenario.hardware.docker_host:
        options["docker_host"] = scenario.hardware.docker_host
    backend = get_backend(scenario.hardware.backend, **options)
    labels = {"benchmatrix.run": ctx.run_id, "benchmatrix.scenario": scenario.scenario_id}
    handles = backend.start(replica_specs(scenario, tp_plan), workdir, labels)
    deployment = Deployment(backend=backend, handles=handles, workdir=workdir)
    _register(deployment)
    return deployment


def teardown(deployment: Deployment) -> None:
    """Stop every replica of the deployment (idempotent)."""
    try:
        deployment.backend.stop(deployment.handles)
    finally:
        _unregister(deployment)


def start_balancer(ctx: RunContext, scenario: Scenario, deployment: Deployment) -> Balancer:
    """Start NGINX (least_conn) in front of the deployment's replicas."""
    # plan_for_replicas turns upstream keep-alive off for servers that close after each
    # response (llama.cpp): reusing those connections races with the close and gives 502s.
    balancer = Balancer(plan_for_replicas(deployment.handles), scenario_dir(ctx, scenario) / "nginx")
    balancer.start()
    _register(balancer)
    return balancer


def stop_balancer(balancer: Balancer) -> None:
    try:
        balancer.stop()
    finally:
        _unregister(balancer)


def deployment_line(deployment: Deployment) -> str:
    """Log line: which replicas answer where, and how long each took to become healthy."""
    parts = [f"{h.replica_id} {h.host}:{h.port} ({h.startup_s:.1f} s)" for h in deployment.handles]
    return f"{len(parts)} replica(s) healthy: " + ", ".join(parts)


def collect_replica_stats(balancer: Balancer, deployment: Deployment) -> list[ReplicaShare]:
    """Requests each replica served, from NGINX's access and error logs (truncated streams too)."""
    return balancer.replica_shares()


def collect_engine_counts(deployment: Deployment) -> list[EngineCounts]:
    """What each replica's engine says it served (its /metrics), where it exports a count."""
    counts = (scrape(handle) for handle in deployment.handles)
    return [c for c in counts if c is not None]


def _register(resource: Any) -> None:
    with _LIVE_LOCK:
        _LIVE[id(resource)] = resource


def _unregister(resource: Any) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(id(resource), None)


def emergency_teardown() -> int:
    """Stop every live balancer and deployment (called on Ctrl-C); returns how many."""
    with _LIVE_LOCK:
        resources = list(_LIVE.values())
        _LIVE.clear()
    for resource in resources:
        try:
            resource.stop() if isinstance(resource, Balancer) else teardown(resource)
        except (BenchmatrixError, OSError, DeployError):
            continue
    return len(resources)
