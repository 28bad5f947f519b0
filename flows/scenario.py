"""One scenario as a flow: in the matrix flow's process, or on a GPU host's worker.

``scenario_flow`` runs next to the matrix flow and stores its outcome in the warehouse itself.
``host_scenario_flow`` is what a hardware entry's work pool runs (deployment
``benchmatrix-host-scenario/<work_pool>``): the same stages on the host that owns the GPUs, but it
stores nothing; it returns the outcome as JSON through Prefect result storage and leaves the
request records (Parquet) in the shared data dir, and the matrix flow (the one warehouse writer)
loads them. Both always tear down: ``finally`` blocks for errors, hooks for cancel and crash.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.states import Completed, Failed, State

from benchmatrix import pipeline
from benchmatrix.errors import BenchmatrixError
from flows import artifacts, hooks, limits
from tasks import scenario as t


@flow(name="benchmatrix-scenario", flow_run_name="{scenario.name}", validate_parameters=False,
      on_cancellation=[hooks.scenario_teardown_hook], on_crashed=[hooks.scenario_teardown_hook])
def scenario_flow(ctx: pipeline.RunContext, scenario: Any) -> State:
    """Plan, deploy, load, tear down, validate and store one scenario; always tears down."""
    outcome = run_stages(ctx, scenario)
    t.load_warehouse(ctx, outcome)
    artifacts.scenario_artifact(outcome)
    return final_state(outcome, outcome)


@flow(name="benchmatrix-host-scenario", validate_parameters=False, persist_result=True,
      result_serializer="json",
      on_cancellation=[hooks.scenario_teardown_hook], on_crashed=[hooks.scenario_teardown_hook])
def host_scenario_flow(ctx: dict[str, Any], scenario: dict[str, Any]) -> State:
    """Run one scenario on this host's worker; return its outcome as JSON (nothing stored).

    Args:
        ctx: the matrix run's ``RunContext`` as JSON (its ``data_dir`` must be shared).
        scenario: the ``Scenario`` as JSON.
    """
    outcome = run_stages(pipeline.context_from_json(ctx), pipeline.scenario_from_json(scenario))
    artifacts.scenario_artifact(outcome)
    return final_state(outcome, pipeline.outcome_to_json(outcome))


def final_state(outcome: pipeline.ScenarioOutcome, data: Any) -> State:
    """Completed when the scenario passed, Failed (with the reason) otherwise; ``data`` is the result."""
    if outcome.status == "passed":
        return Completed(message=outcome.summary_line(), data=data)
    return Failed(message=outcome.summary_line(), data=data)


def run_stages(ctx: pipeline.RunContext, scenario: Any) -> pipeline.ScenarioOutcome:
    """Every stage under the hardware entry's strict limit; a failure becomes the outcome."""
    logger = get_run_logger()
    outcome = pipeline.begin_outcome(scenario)
    with concurrency(limits.hardware_limit_name(ctx, scenario), occupy=1, strict=True):
        try:
            outcome = pipeline.with_planned(outcome, t.plan_tp(scenario))
            if outcome.plan is not None:
                outcome = _deploy_load_validate(ctx, scenario, outcome)
        except BenchmatrixError as exc:
            outcome = pipeline.with_error(outcome, exc)
        except Exception as exc:  # a bug must still leave the scenario recorded as failed
            logger.exception("scenario %s crashed", scenario.name)
            outcome = pipeline.with_error(outcome, exc)
    _log_outcome(outcome)
    return outcome


def _deploy_load_validate(ctx: Any, scenario: Any, outcome: Any) -> Any:
    plan = outcome.plan
    get_run_logger().info("plan: TP%d x %d replica(s): %s", plan.tp_degree, plan.replicas, plan.reason)
    outcome = _deploy_and_load(ctx, scenario, plan, outcome)
    outcome = pipeline.with_metrics(outcome, t.summarize_load(scenario, outcome.load_result))
    report = t.validate(scenario, plan, outcome.load_result, outcome.replica_stats)
    return pipeline.with_checks(outcome, report)


def _deploy_and_load(ctx: Any, scenario: Any, plan: Any, outcome: Any) -> Any:
    """Deploy replicas and NGINX, run the load; teardown runs whatever happens."""
    logger = get_run_logger()
    deployment = t.deploy_replicas(ctx, scenario, plan)
    try:
        logger.info(pipeline.deployment_line(deployment))
        balancer = t.start_balancer(ctx, scenario, deployment)
        try:
            outcome = pipeline.with_load(outcome, t.run_load(ctx, scenario, balancer, deployment))
            logger.info(pipeline.load_line(outcome.load_result, balancer.url))
        finally:
            t.stop_balancer(balancer)
        outcome = pipeline.with_replica_stats(outcome, t.collect_replica_stats(balancer, deployment))
        return pipeline.with_engine_counts(outcome, t.collect_engine_counts(deployment))
    finally:
        t.teardown(deployment)


def _log_outcome(outcome: pipeline.ScenarioOutcome) -> None:
    logger = get_run_logger()
    if outcome.status == "passed":
        logger.info(outcome.summary_line())
    else:
        logger.warning(outcome.summary_line())
