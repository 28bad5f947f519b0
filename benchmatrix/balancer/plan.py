"""What NGINX is told: the upstream replicas, the plan's settings, and the rendered configuration.

The configuration comes from ``nginx/nginx.conf.j2`` at the repository root (StrictUndefined);
rendering is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import jinja2
from pydantic import BaseModel, ConfigDict, Field, model_validator

# benchmatrix/balancer/plan.py -> <repo>/nginx
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "nginx"
TEMPLATE_NAME = "nginx.conf.j2"

Method = Literal["least_conn", "round_robin", "random_two"]


class Upstream(BaseModel):
    """One replica behind the balancer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str = Field(min_length=1, description="Replica id, e.g. 'r0'.")
    host: str = Field(default="127.0.0.1", description="Address the replica answers on.")
    port: int = Field(ge=1, le=65535, description="Replica port.")

    @property
    def addr(self) -> str:
        """``host:port`` as NGINX writes it in ``$upstream_addr``."""
        return f"{self.host}:{self.port}"


class BalancerPlan(BaseModel):
    """Everything the NGINX template needs. Times are whole seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstreams: tuple[Upstream, ...] = Field(min_length=1, description="Replicas to balance over.")
    listen_host: Literal["127.0.0.1"] = Field(default="127.0.0.1", description="Loopback only.")
    listen_port: int = Field(default=0, ge=0, le=65535, description="0 = pick a free port at start.")
    method: Method = Field(default="least_conn", description="Load-balancing method.")
    keepalive: int = Field(
        default=64, ge=0,
        description="Idle upstream keep-alive connections per worker; 0 = a new connection per request.",
    )
    keepalive_timeout_s: int = Field(
        default=4, ge=1, description="Idle upstream keep-alive; below the replicas' (llama.cpp: 5 s)."
    )
    keepalive_requests: int = Field(default=10000, ge=1, description="Requests per upstream connection.")
    connect_timeout_s: int = Field(default=5, ge=1, description="Upstream connect timeout.")
    read_timeout_s: int = Field(default=900, ge=1, description="Upstream read/send timeout (long streams).")
    retry_non_idempotent: bool = Field(
        default=False,
        description="Retry a POST on the next replica after a connection error (may run it twice).",
    )
    max_fails: int = Field(default=1, ge=0, description="Failures within fail_timeout that mark a replica down.")
    fail_timeout_s: int = Field(default=10, ge=1, description="How long a failed replica stays down.")
    worker_processes: int = Field(default=1, ge=1, description="NGINX worker processes.")
    worker_connections: int = Field(default=4096, ge=16, description="Connections per worker.")
    client_body_buffer: str = Field(default="16m", description="In-memory request body buffer.")
    client_max_body: str = Field(default="64m", description="Largest accepted request body.")
    error_log_level: Literal["debug", "info", "notice", "warn", "error"] = "warn"

    @model_validator(mode="after")
    def _unique(self) -> BalancerPlan:
        ids = [u.replica_id for u in self.upstreams]
        addrs = [u.addr for u in self.upstreams]
        if len(set(ids)) != len(ids) or len(set(addrs)) != len(addrs):
            raise ValueError("upstream replica_ids and host:port pairs must be unique")
        return self


class _ReplicaLike(Protocol):
    replica_id: str
    host: str
    port: int


def plan_for_replicas(handles: Sequence[_ReplicaLike], **fields: Any) -> BalancerPlan:
    """A plan over running replicas (``ReplicaHandle``s); ``fields`` set any other plan field.

    Upstream keep-alive is turned off when any handle says its server closes connections after
    each response (``upstream_keepalive=False``, e.g. llama.cpp's server): reusing such a
    connection races with the close and turns into 502s.
    """
    upstreams = tuple(Upstream(replica_id=h.replica_id, host=h.host, port=h.port) for h in handles)
    if not all(getattr(h, "upstream_keepalive", True) for h in handles):
        fields.setdefault("keepalive", 0)
    return BalancerPlan(upstreams=upstreams, **fields)


def render_config(plan: BalancerPlan, prefix: str | Path, template_dir: Path = TEMPLATE_DIR) -> str:
    """Render ``nginx.conf.j2`` for ``plan`` with all paths under ``prefix`` (pure)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(TEMPLATE_NAME).render(plan=plan, prefix=str(prefix).rstrip("/"))
