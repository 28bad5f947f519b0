"""The matrix flow: expand a matrix, run one sub-flow per scenario, record everything.

Scenarios on the same hardware entry never overlap (a strict global concurrency limit per entry,
created on demand); scenarios on different hardware run in parallel threads. One failed scenario
never stops the others: each sub-flow is called with ``return_state=True``.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.concurrency.sync import concurrency
from prefect.states import Completed, Failed, State

from benchmatrix import pipeline
from benchmatrix.errors import BenchmatrixError
from flows import artifacts, limits
from tasks import scenario as t


@flow(name="benchmatrix-scenario", flow_run_name="{scenario.name}", validate_parameters=False)
def scenario_flow(ctx: pipeline.RunContext, scenario: Any) -> State:
    """Plan, deploy, load, tear down, validate and store one scenario; always tears down."""
    logger = get_run_logger()
    outcome = pipeline.begin_outcome(scenario)
    with concurrency(limits.hardware_limit_name(ctx, scenario), occupy=1, strict=True):
        try:
            plan = t.plan_tp(scenario)
            outcome = pipeline.with_plan(outcome, plan)
            logger.info("plan: %s", plan.reason)
            outcome = _deploy_and_load(ctx, scenario, plan, outcome)
            report = t.validate(scenario, plan, outcome.load_result, outcome.replica_stats)
            outcome = pipeline.with_checks(outcome, report)
        except BenchmatrixError as exc:
            logger.error("scenario %s failed: %s", scenario.name, exc)
            outcome = pipeline.with_error(outcome, exc)
        except Exception as exc:  # a bug must still leave the scenario recorded as failed
            logger.exception("scenario %s crashed", scenario.name)
            outcome = pipeline.with_error(outcome, exc)
        t.load_warehouse(ctx, outcome)
    artifacts.scenario_artifact(outcome)
    if outcome.status == "passed":
        return Completed(message=outcome.summary_line(), data=outcome)
    return Failed(message=outcome.summary_line(), data=outcome)


def _deploy_and_load(ctx: Any, scenario: Any, plan: Any, outcome: Any) -> Any:
    """Deploy replicas and NGINX, run the load; teardown runs whatever happens."""
    deployment = t.deploy_replicas(ctx, scenario, plan)
    try:
        balancer = t.start_balancer(ctx, scenario, deployment)
        try:
            outcome = pipeline.with_load(outcome, t.run_load(ctx, scenario, balancer))
        finally:
            t.stop_balancer(balancer)
        return pipeline.with_replica_stats(outcome, t.collect_replica_stats(balancer, deployment))
    finally:
        t.teardown(deployment)


@flow(name="benchmatrix-matrix", flow_run_name="{matrix_path}", validate_parameters=False)
def matrix_flow(
    matrix_path: str,
    data_dir: str | None = None,
    run_id: str | None = None,
    only: list[str] | None = None,
    max_parallel: int | None = None,
) -> State:
    """Run every scenario of ``matrix_path``; ``run_id`` of an earlier run resumes it.

    Args:
        matrix_path: matrix YAML file.
        data_dir: artifacts and warehouse root (default ``$BENCHMATRIX_DATA_DIR`` or ``.data``).
        run_id: resume this run: scenarios already loaded and valid are skipped.
        only: run only scenarios whose name or id contains one of these strings.
        max_parallel: scenario threads at once (default: one per hardware entry).
    """
    logger = get_run_logger()
    matrix = t.load_matrix(matrix_path)
    ctx = pipeline.new_run_context(matrix, matrix_path, data_dir=data_dir, run_id=run_id)
    logger.info("run %s: matrix %s, warehouse %s", ctx.run_id, matrix_path, ctx.warehouse_path)
    t.clean_orphans(ctx)
    done = t.open_run(ctx)
    scenarios = pipeline.select(t.expand_matrix(matrix), only=only, skip_ids=done)
    artifacts.plan_artifact(t.plan_matrix(scenarios))
    limits.ensure_hardware_limits(ctx, scenarios)
    outcomes = _run_all(ctx, scenarios, max_parallel or pipeline.lanes(scenarios))
    summary = t.close_run(ctx, outcomes)
    artifacts.run_artifact(summary)
    if summary.status == "completed":
        return Completed(message=summary.message, data=summary)
    return Failed(message=summary.message, data=summary)


def _run_all(ctx: Any, scenarios: list[Any], workers: int) -> list[Any]:
    """Run scenario sub-flows on ``workers`` threads; each failure is data, not an exception."""
    def one(scenario: Any) -> Any:
        with tags(*pipeline.scenario_tags(scenario)):
            state = scenario_flow(ctx, scenario, return_state=True)
        return _outcome_from_state(scenario, state)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="scenario") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, s) for s in scenarios]
        return [f.result() for f in futures]


def _outcome_from_state(scenario: Any, state: State) -> pipeline.ScenarioOutcome:
    """The sub-flow's outcome, or a failed one when the sub-flow itself crashed."""
    data = state.result(raise_on_failure=False)
    if isinstance(data, pipeline.ScenarioOutcome):
        return data
    error = data if isinstance(data, BaseException) else RuntimeError(str(state.message))
    return pipeline.with_error(pipeline.begin_outcome(scenario), error)
