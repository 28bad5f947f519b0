"""A scenario's outcome, accumulated stage by stage in an immutable :class:`ScenarioOutcome`, so
a failure at any stage still leaves a record of everything before it (stored as ``failed``,
never as good); and how a matrix run ended (:class:`RunSummary`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.balancer import ReplicaShare
from benchmatrix.checks import CheckReport
from benchmatrix.loadgen import LoadResult
from benchmatrix.metrics import ScenarioSummary
from benchmatrix.planner import TpPlan
from benchmatrix.replicas.engine_metrics import EngineCounts
from benchmatrix.spec import Scenario


Status = Literal["running", "passed", "failed_validation", "failed", "skipped"]
RunStatus = Literal["running", "completed", "partial", "failed"]


class PlannedScenario(BaseModel):
    """A scenario and its plan, or the reason it cannot be planned."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    scenario: Scenario
    plan: TpPlan | None = None
    error: str | None = None


class ScenarioOutcome(BaseModel):
    """Everything known about one scenario so far; each stage returns an updated copy."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    scenario: Scenario
    status: Status = "running"
    plan: TpPlan | None = None
    load_result: LoadResult | None = None
    replica_stats: tuple[ReplicaShare, ...] = ()
    engine_counts: tuple[EngineCounts, ...] = ()
    checks: CheckReport | None = None
    metrics: ScenarioSummary | None = None
    error_message: str | None = None
    started_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    ended_at: datetime | None = None

    def summary_line(self) -> str:
        """One line for logs and flow-run state messages."""
        if self.status == "passed" and self.checks is not None:
            return f"{self.scenario.name}: passed ({self.checks.summary()})"
        if self.status == "failed_validation" and self.checks is not None:
            failed = ", ".join(r.check_name for r in self.checks.failed)
            return f"{self.scenario.name}: failed validation ({failed})"
        return f"{self.scenario.name}: {self.status}: {self.short_error()}".rstrip(": ")

    def short_error(self, max_chars: int = 300) -> str:
        """The error's first line, without a leading repeat of the scenario name."""
        first = (self.error_message or "").splitlines()[0] if self.error_message else ""
        first = first.replace(f"{self.scenario.name}: ", "", 1)
        return first if len(first) <= max_chars else first[: max_chars - 3] + "..."


class RunSummary(BaseModel):
    """How a matrix run ended."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    status: Literal["completed", "partial", "failed"]
    message: str
    warehouse_path: Path
    run_dir: Path
    outcomes: tuple[ScenarioOutcome, ...]
    results: pd.DataFrame | None = None


def begin_outcome(scenario: Scenario) -> ScenarioOutcome:
    return ScenarioOutcome(scenario=scenario)


def with_plan(outcome: ScenarioOutcome, tp_plan: TpPlan) -> ScenarioOutcome:
    return outcome.model_copy(update={"plan": tp_plan})


def with_load(outcome: ScenarioOutcome, result: LoadResult) -> ScenarioOutcome:
    return outcome.model_copy(update={"load_result": result})


def with_metrics(outcome: ScenarioOutcome, metrics: ScenarioSummary) -> ScenarioOutcome:
    return outcome.model_copy(update={"metrics": metrics})


def with_replica_stats(outcome: ScenarioOutcome, shares: list[ReplicaShare]) -> ScenarioOutcome:
    return outcome.model_copy(update={"replica_stats": tuple(shares)})


def with_engine_counts(outcome: ScenarioOutcome, counts: list[EngineCounts]) -> ScenarioOutcome:
    return outcome.model_copy(update={"engine_counts": tuple(counts)})


def with_checks(outcome: ScenarioOutcome, report: CheckReport) -> ScenarioOutcome:
    status: Status = "passed" if report.passed else "failed_validation"
    if outcome.load_result is not None and outcome.load_result.partial:
        status, report_msg = "failed", "load run interrupted: records are partial"
        return outcome.model_copy(update={"checks": report, "status": status,
                                          "error_message": report_msg, "ended_at": utc_now()})
    return outcome.model_copy(update={"checks": report, "status": status, "ended_at": utc_now()})


def with_error(outcome: ScenarioOutcome, exc: BaseException) -> ScenarioOutcome:
    message = f"{type(exc).__name__}: {exc}"
    return outcome.model_copy(update={"status": "failed", "error_message": message, "ended_at": utc_now()})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def with_planned(outcome: ScenarioOutcome, planned: PlannedScenario) -> ScenarioOutcome:
    """The outcome with its plan, or failed (ended) when nothing fits."""
    if planned.plan is None:
        return outcome.model_copy(update={"status": "failed", "error_message": planned.error,
                                          "ended_at": utc_now()})
    return with_plan(outcome, planned.plan)
