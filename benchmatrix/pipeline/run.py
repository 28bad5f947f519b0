"""The run's identity and paths, which scenarios run (selection, lanes, tags), and their plans."""

from __future__ import annotations

import socket
from pathlib import Path

from benchmatrix import planner
from benchmatrix.errors import BenchmatrixError
from benchmatrix.pipeline.outcome import PlannedScenario
from benchmatrix.planner import TpPlan
from benchmatrix.runs import RunContext, new_run_context as _new_run_context
from benchmatrix.spec import Matrix, Scenario


def new_run_context(matrix: Matrix, matrix_path: str | Path, data_dir: str | Path | None = None,
                    run_id: str | None = None) -> RunContext:
    """The run's identity and paths (``run_id`` given: resume that run)."""
    root = Path(data_dir).resolve() if data_dir else None  # absolute: other hosts get it too
    return _new_run_context(matrix.name, matrix_path, root, run_id)


def registry_dir(data_dir: Path) -> Path:
    """This host's replica pid registry (per host: a data dir may be shared between hosts)."""
    return Path(data_dir) / "registry" / socket.gethostname()


def scenario_dir(ctx: RunContext, scenario: Scenario) -> Path:
    path = ctx.scenario_dir(scenario.name, scenario.scenario_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def select(scenarios: list[Scenario], only: list[str] | None = None,
           skip_ids: set[str] | None = None) -> list[Scenario]:
    """Scenarios to run: those matching ``only`` (substring of name or id), minus ``skip_ids``."""
    keep = [s for s in scenarios if not only or any(o in s.name or o == s.scenario_id for o in only)]
    return [s for s in keep if s.scenario_id not in (skip_ids or set())]


def lanes(scenarios: list[Scenario]) -> int:
    """Parallel lanes: one per hardware entry (same-hardware scenarios never overlap)."""
    return max(1, len({s.hardware.name for s in scenarios}))


def scenario_tags(scenario: Scenario) -> list[str]:
    """Tags that make the Prefect UI's run list read like the matrix."""
    load = scenario.load
    point = f"c{load.concurrency}" if load.concurrency else f"r{load.rate_rps:g}"
    return [f"hw:{scenario.hardware.name}", f"model:{scenario.model.name}",
            f"engine:{scenario.model.engine}", f"load:{load.profile}@{point}"]


def selection_line(expanded: list[Scenario], selected: list[Scenario]) -> str:
    """Log line: how many scenarios run now and how many were left out (resumed or filtered)."""
    return (f"{len(selected)} of {len(expanded)} scenario(s) to run on "
            f"{lanes(selected) if selected else 0} hardware lane(s); "
            f"{len(expanded) - len(selected)} already passed or not selected")


def plan(scenario: Scenario) -> TpPlan:
    """The scenario's TP plan (raises PlanError when nothing fits)."""
    return planner.plan_tp(scenario)


def plan_one(scenario: Scenario) -> PlannedScenario:
    """The scenario's plan, or why nothing fits (reported, not raised)."""
    try:
        return PlannedScenario(scenario=scenario, plan=planner.plan_tp(scenario))
    except BenchmatrixError as exc:
        return PlannedScenario(scenario=scenario, error=f"{type(exc).__name__}: {exc}")


def plan_all(scenarios: list[Scenario]) -> list[PlannedScenario]:
    """Plan every scenario; one that cannot be planned is reported, not raised."""
    return [plan_one(scenario) for scenario in scenarios]
