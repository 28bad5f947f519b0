"""Past one machine: run a scenario as a deployment run on its hardware entry's work pool.

Convention: the scenario flow of the pool ``P`` is deployed as ``benchmatrix-host-scenario/P``
(see prefect.yaml). The run is a sub-flow of the matrix run (cancelling the matrix cancels it),
named after the scenario and tagged like a local one. Its outcome comes back as JSON through
Prefect result storage; the request records stay where the host wrote them, in the shared data dir.
"""

from __future__ import annotations

from typing import Any

from prefect.deployments import run_deployment

from benchmatrix import pipeline

HOST_SCENARIO_FLOW = "benchmatrix-host-scenario"


def deployment_name(work_pool: str) -> str:
    """``<flow>/<deployment>`` of the scenario deployment that serves ``work_pool``."""
    return f"{HOST_SCENARIO_FLOW}/{work_pool}"


def run_on_pool(ctx: pipeline.RunContext, scenario: Any, timeout_s: float | None) -> pipeline.ScenarioOutcome:
    """Run ``scenario`` on its pool's worker and wait (at most ``timeout_s``) for its outcome."""
    try:
        flow_run = run_deployment(
            deployment_name(scenario.hardware.work_pool),
            parameters={"ctx": ctx.model_dump(mode="json"), "scenario": scenario.model_dump(mode="json")},
            flow_run_name=scenario.name, tags=pipeline.scenario_tags(scenario), timeout=timeout_s,
            poll_interval=2,
        )
    except Exception as exc:  # noqa: BLE001 - no such deployment, API down: the scenario failed
        return pipeline.with_error(pipeline.begin_outcome(scenario), exc)
    return outcome_of(scenario, flow_run)


def outcome_of(scenario: Any, flow_run: Any) -> pipeline.ScenarioOutcome:
    """The remote outcome, or a failed one saying why there is none (not finished, crashed)."""
    state = flow_run.state
    if state is None or not state.is_final():
        why = (f"{flow_run.name} on pool {scenario.hardware.work_pool} is still "
               f"{state.name if state else 'unscheduled'}: is a worker polling that pool?")
        return pipeline.with_error(pipeline.begin_outcome(scenario), TimeoutError(why))
    try:
        data = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - result storage not shared or the run crashed early
        return pipeline.with_error(pipeline.begin_outcome(scenario), exc)
    if isinstance(data, dict):
        return pipeline.outcome_from_json(data)
    error = data if isinstance(data, BaseException) else RuntimeError(f"{state.name}: {state.message}")
    return pipeline.with_error(pipeline.begin_outcome(scenario), error)
