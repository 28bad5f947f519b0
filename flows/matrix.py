"""The matrix flow: expand a matrix, run one sub-flow per scenario, record everything.

Scenarios on the same hardware entry never overlap (a strict global concurrency limit per entry,
created on demand); scenarios on different hardware run in parallel threads. A hardware entry
that names a ``work_pool`` is dispatched, with ``use_work_pools``, as deployment runs on that pool
(see :mod:`flows.dispatch`); this process stays the one warehouse writer. One failed scenario
never stops the others: each sub-flow is called with ``return_state=True``.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.states import Completed, Failed, State

from benchmatrix import pipeline
from benchmatrix.errors import BenchmatrixError
from flows import artifacts, dispatch, hooks, limits
from flows.scenario import scenario_flow
from tasks import scenario as t


@flow(name="benchmatrix-matrix", flow_run_name="{matrix_path}", validate_parameters=False,
      on_cancellation=[hooks.teardown_hook], on_crashed=[hooks.teardown_hook])
def matrix_flow(
    matrix_path: str,
    data_dir: str | None = None,
    run_id: str | None = None,
    only: list[str] | None = None,
    max_parallel: int | None = None,
    use_work_pools: bool = False,
    dispatch_timeout_s: float | None = None,
) -> State:
    """Run every scenario of ``matrix_path``; ``run_id`` of an earlier run resumes it.

    Args:
        matrix_path: matrix YAML file.
        data_dir: artifacts and warehouse root (default ``$BENCHMATRIX_DATA_DIR`` or ``.data``);
            shared between hosts when scenarios go to work pools.
        run_id: resume this run: scenarios already loaded and valid are skipped.
        only: run only scenarios whose name or id contains one of these strings.
        max_parallel: scenario threads at once (default: one per hardware entry).
        use_work_pools: send each hardware entry that names a ``work_pool`` to that pool.
        dispatch_timeout_s: longest wait for one dispatched scenario (default: no limit).
    """
    logger = get_run_logger()
    matrix = t.load_matrix(matrix_path)
    ctx = pipeline.new_run_context(matrix, matrix_path, data_dir=data_dir, run_id=run_id)
    logger.info("run %s: matrix %s, warehouse %s", ctx.run_id, matrix_path, ctx.warehouse_path)
    expanded = t.expand_matrix(matrix)
    for line in t.clean_orphans(ctx, expanded):
        logger.warning("left by an earlier run: %s", line)
    scenarios = pipeline.select(expanded, only=only, skip_ids=t.open_run(ctx))
    logger.info(pipeline.selection_line(expanded, scenarios))
    artifacts.plan_artifact(t.plan_matrix(scenarios))
    limits.ensure_hardware_limits(ctx, scenarios)
    outcomes = _run_all(ctx, scenarios, max_parallel or pipeline.lanes(scenarios),
                        use_work_pools, dispatch_timeout_s)
    summary = t.close_run(ctx, outcomes)
    return _report(ctx, pipeline.regression_policy(matrix), summary)


def _report(ctx: Any, policy: pipeline.RegressionPolicy, summary: pipeline.RunSummary) -> State:
    """HTML report, regression table, run summary; mark and notify on regressions."""
    report_path = t.write_report(ctx)
    table = t.find_regressions(ctx, policy)
    regressed = pipeline.regressed_scenarios(table)
    artifacts.regression_artifact(table, policy)
    artifacts.run_artifact(summary, report_path)
    message = pipeline.final_message(summary, regressed, report_path)
    get_run_logger().info(message)
    if regressed:
        hooks.mark_regressed(regressed)
        hooks.notify(policy, f"benchmatrix run {summary.run_id}: regressions", message)
    if summary.status == "completed":
        return Completed(message=message, data=summary)
    return Failed(message=message, data=summary,
                  name="PartiallyFailed" if summary.status == "partial" else "Failed")


def _run_all(ctx: Any, scenarios: list[Any], workers: int, use_work_pools: bool,
             timeout_s: float | None) -> list[Any]:
    """Run scenarios on ``workers`` threads; each failure is data, not an exception.

    On an interrupt (cancel, SIGTERM) the live replicas and balancers are stopped at once
    instead of waiting for the scenario threads to finish.
    """
    def one(scenario: Any) -> Any:
        if use_work_pools and scenario.hardware.work_pool:
            return _store(ctx, dispatch.run_on_pool(ctx, scenario, timeout_s))
        with tags(*pipeline.scenario_tags(scenario)):
            state = scenario_flow(ctx, scenario, return_state=True)
        return _outcome_from_state(scenario, state)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="scenario")
    try:
        futures = [pool.submit(contextvars.copy_context().run, one, s) for s in scenarios]
        return [f.result() for f in futures]
    except BaseException:
        stopped = pipeline.emergency_teardown()
        pipeline.mark_interrupted(ctx)
        get_run_logger().warning(
            "interrupted: stopped %d replica set(s)/balancer(s); run %s is recorded as partial; "
            "resume it with: benchmatrix run %s --run-id %s",
            stopped, ctx.run_id, ctx.matrix_path, ctx.run_id)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _store(ctx: Any, outcome: pipeline.ScenarioOutcome) -> pipeline.ScenarioOutcome:
    """Load a dispatched scenario's outcome (records from the shared data dir) into the warehouse."""
    outcome = pipeline.received_outcome(outcome)
    state = t.load_warehouse(ctx, outcome, return_state=True)
    if state.is_completed():
        return outcome
    return pipeline.with_error(outcome, _exception_of(state))


def _outcome_from_state(scenario: Any, state: State) -> pipeline.ScenarioOutcome:
    """The sub-flow's outcome, or a failed one when the sub-flow itself crashed."""
    data = state.result(raise_on_failure=False)
    if isinstance(data, pipeline.ScenarioOutcome):
        return data
    return pipeline.with_error(pipeline.begin_outcome(scenario), _exception_of(state))


def _exception_of(state: State) -> BaseException:
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException):
        return data
    return (BenchmatrixError if state.is_failed() else RuntimeError)(f"{state.name}: {state.message}")
