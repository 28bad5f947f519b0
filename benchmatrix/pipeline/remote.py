"""Between hosts: outcomes, run contexts and scenarios as plain JSON (what a work-pool scenario
flow receives and returns), and an outcome as the warehouse writer receives it."""

from __future__ import annotations

from typing import Any

from benchmatrix.errors import BenchmatrixError
from benchmatrix.pipeline.outcome import ScenarioOutcome, with_error
from benchmatrix.runs import RunContext
from benchmatrix.spec import Scenario


def outcome_to_json(outcome: ScenarioOutcome) -> dict[str, Any]:
    """A scenario outcome as plain JSON (what a remote scenario flow returns)."""
    return outcome.model_dump(mode="json")


def outcome_from_json(data: dict[str, Any]) -> ScenarioOutcome:
    """The inverse of :func:`outcome_to_json` (validated)."""
    return ScenarioOutcome.model_validate(data)


def context_from_json(data: dict[str, Any]) -> RunContext:
    return RunContext.model_validate(data)


def scenario_from_json(data: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(data)


def received_outcome(outcome: ScenarioOutcome) -> ScenarioOutcome:
    """A dispatched scenario's outcome as the warehouse writer sees it: failed when its request
    records are not reachable here (the data dir is not shared at the same path)."""
    result = outcome.load_result
    if result is None or result.records_path.exists():
        return outcome
    return with_error(outcome, BenchmatrixError(
        f"request records {result.records_path} written by the scenario's host are not visible to "
        "the warehouse writer: share the data dir at the same path on every host"))
