"""Typed inputs of :meth:`Warehouse.load_run`: one run, its scenarios, their side tables.

These models are the warehouse's contract with the pipeline. Times are UTC-aware datetimes
(``_at``) or seconds (``_s``); JSON-ish fields are plain dicts stored as DuckDB ``JSON``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RunStatus = Literal["running", "completed", "partial", "failed"]
ScenarioStatus = Literal["passed", "failed_validation", "failed", "skipped"]


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # naive times are taken as UTC, never as local time
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class RunRecord(_Record):
    """One execution of a matrix (``benchmatrix run FILE``)."""

    run_id: str = Field(min_length=1, description="Unique id of this run.")
    matrix_name: str = Field(min_length=1, description="Matrix name from the YAML file.")
    matrix_path: str | None = Field(None, description="Path of the matrix file.")
    git_revision: str | None = Field(None, description="git describe/sha of the checkout.")
    host: str | None = Field(None, description="Host that ran the pipeline.")
    versions: dict[str, Any] = Field(default_factory=dict, description="Package/engine versions.")
    started_at: datetime = Field(description="UTC wall-clock start of the run.")
    ended_at: datetime | None = Field(None, description="UTC wall-clock end, None while running.")
    status: RunStatus = Field(description="running, completed, partial or failed.")

    _utc = field_validator("started_at", "ended_at")(_as_utc)


class ReplicaStat(_Record):
    """Requests one replica served in one scenario, as NGINX or the engine counted them."""

    replica_id: str = Field(min_length=1)
    requests: int = Field(ge=0, description="Requests this replica served.")
    share: float | None = Field(None, ge=0, le=1, description="requests / all requests.")
    upstream_mean_ms: float | None = Field(None, ge=0)
    upstream_p99_ms: float | None = Field(None, ge=0)
    errors: int = Field(0, ge=0, description="Requests that ended in an error on this replica.")
    source: Literal["nginx", "engine"] = "nginx"


class CheckRow(_Record):
    """One data-check outcome (mirrors ``benchmatrix.checks.CheckResult``)."""

    check_name: str
    level: Literal["request", "scenario"]
    passed: bool
    observed: Any = None
    expected: Any = None
    message: str = ""
    skipped: bool = False


class ScenarioLoad(_Record):
    """One scenario's outcome and data, ready to load.

    Request records come either from ``requests_path`` (the generator's Parquet file: the fast
    path, DuckDB reads it directly) or from ``requests`` (a DataFrame with the same columns).
    Scenarios that never produced data (status ``failed``/``skipped``) carry neither.
    """

    scenario_id: str = Field(min_length=1)
    name: str = Field(min_length=1, description='e.g. "h100x2/llama-3.1-8b/chat@c16".')
    hardware_name: str
    gpu_name: str
    gpu_count: int = Field(ge=1)
    price_per_gpu_hour: float | None = Field(None, ge=0, description="USD per GPU hour.")
    model_name: str
    dtype: str | None = None
    engine: str | None = None
    load_profile: str
    modality: str = "text"
    concurrency: int | None = Field(None, ge=1)
    rate_rps: float | None = Field(None, gt=0)
    tp_degree: int | None = Field(None, ge=1)
    replicas: int | None = Field(None, ge=1)
    plan: dict[str, Any] = Field(default_factory=dict, description="TpPlan dump, with reasons.")
    spec: dict[str, Any] = Field(default_factory=dict, description="Every resolved field.")
    status: ScenarioStatus
    error_message: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    t0: datetime | None = Field(None, description="UTC wall clock of the records' time zero.")
    duration_s: float | None = Field(None, ge=0)
    requests_path: Path | None = None
    requests: pd.DataFrame | None = None
    replica_stats: list[ReplicaStat] = Field(default_factory=list)
    checks: list[CheckRow] = Field(default_factory=list)

    _utc = field_validator("started_at", "ended_at", "t0")(_as_utc)

    @field_validator("checks", mode="before")
    @classmethod
    def _accept_check_results(cls, value: Any) -> Any:
        """Accept ``CheckResult`` objects (or a ``CheckReport``) as they come from the checks."""
        if hasattr(value, "results"):
            value = value.results
        return [v.model_dump() if hasattr(v, "model_dump") else v for v in value]

    @model_validator(mode="after")
    def _one_source(self) -> ScenarioLoad:
        if self.requests_path is not None and self.requests is not None:
            raise ValueError("give requests_path or requests, not both")
        return self

    @property
    def gpus_used(self) -> int:
        """GPUs the deployment occupied: tp_degree x replicas, else the hardware's count."""
        if self.tp_degree and self.replicas:
            return self.tp_degree * self.replicas
        return self.gpu_count
