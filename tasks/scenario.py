"""Thin Prefect tasks over :mod:`benchmatrix.pipeline`.

Each task is one verb. Retries are declared here and only for transient errors (a replica slow to
come up, a refused connection, a port race, a warehouse locked by another process), never for a
failed data check or a plan that does not fit: :func:`benchmatrix.pipeline.is_transient` decides.
Inputs that are live objects (process handles, DataFrames) use ``NO_CACHE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from prefect import task
from prefect.cache_policies import NO_CACHE

from benchmatrix import pipeline
from benchmatrix.balancer import Balancer
from benchmatrix.checks import CheckReport
from benchmatrix.loadgen import LoadResult
from benchmatrix.metrics import ScenarioSummary
from benchmatrix.planner import TpPlan
from benchmatrix.runs import RunContext
from benchmatrix.spec import Matrix, Scenario


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn``: retry only when the failed state holds a transient exception."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - the state's own exception, classified below
        return pipeline.is_transient(exc)
    return False


def _retrying(name: str, retries: int = 2, delay_s: float = 2.0) -> Any:
    """Task decorator for a stage that may fail transiently."""
    return task(name=name, cache_policy=NO_CACHE, retries=retries, retry_delay_seconds=delay_s,
                retry_condition_fn=retry_if_transient)


@task(name="load-matrix", cache_policy=NO_CACHE)
def load_matrix(matrix_path: str) -> Matrix:
    return pipeline.load_matrix(matrix_path)


@task(name="expand-matrix", cache_policy=NO_CACHE)
def expand_matrix(matrix: Matrix) -> list[Scenario]:
    return pipeline.expand(matrix)


@task(name="plan-tp", cache_policy=NO_CACHE)
def plan_tp(scenario: Scenario) -> pipeline.PlannedScenario:
    """The scenario's plan or why nothing fits (a PlannedScenario; never raises for no fit)."""
    return pipeline.plan_one(scenario)


@task(name="plan-matrix", cache_policy=NO_CACHE)
def plan_matrix(scenarios: list[Scenario]) -> list[pipeline.PlannedScenario]:
    return pipeline.plan_all(scenarios)


@_retrying("deploy-replicas", retries=1)
def deploy_replicas(ctx: RunContext, scenario: Scenario, plan: TpPlan) -> pipeline.Deployment:
    return pipeline.deploy(ctx, scenario, plan)


@_retrying("start-balancer", retries=1)
def start_balancer(ctx: RunContext, scenario: Scenario, deployment: pipeline.Deployment) -> Balancer:
    return pipeline.start_balancer(ctx, scenario, deployment)


@_retrying("run-load", retries=1)
def run_load(ctx: RunContext, scenario: Scenario, balancer: Balancer,
             deployment: pipeline.Deployment | None = None) -> LoadResult:
    return pipeline.run_load(ctx, scenario, balancer, deployment)


@task(name="summarize-load", cache_policy=NO_CACHE)
def summarize_load(scenario: Scenario, load_result: LoadResult) -> ScenarioSummary:
    return pipeline.summarize_load(scenario, load_result)


@task(name="collect-replica-stats", cache_policy=NO_CACHE)
def collect_replica_stats(balancer: Any, deployment: Any) -> list[Any]:
    return pipeline.collect_replica_stats(balancer, deployment)


@task(name="collect-engine-counts", cache_policy=NO_CACHE)
def collect_engine_counts(deployment: Any) -> list[Any]:
    return pipeline.collect_engine_counts(deployment)


@task(name="stop-balancer", cache_policy=NO_CACHE)
def stop_balancer(balancer: Any) -> None:
    pipeline.stop_balancer(balancer)


@task(name="teardown-replicas", cache_policy=NO_CACHE)
def teardown(deployment: Any) -> None:
    pipeline.teardown(deployment)


@task(name="validate", cache_policy=NO_CACHE)
def validate(scenario: Scenario, plan: TpPlan, load_result: LoadResult, replica_stats: list[Any]) -> CheckReport:
    return pipeline.validate(scenario, plan, load_result, replica_stats)


@_retrying("load-warehouse", retries=3, delay_s=3.0)
def load_warehouse(ctx: Any, outcome: Any) -> None:
    pipeline.store_scenario(ctx, outcome)


@task(name="clean-orphans", cache_policy=NO_CACHE)
def clean_orphans(ctx: Any, scenarios: list[Any]) -> list[str]:
    return pipeline.clean_orphans(ctx, pipeline.docker_hosts(scenarios))


@_retrying("open-run")
def open_run(ctx: Any) -> set[str]:
    return pipeline.open_run(ctx)


@_retrying("close-run")
def close_run(ctx: RunContext, outcomes: list[Any]) -> pipeline.RunSummary:
    return pipeline.close_run(ctx, outcomes)


@_retrying("find-regressions")
def find_regressions(ctx: RunContext, policy: pipeline.RegressionPolicy) -> pd.DataFrame:
    return pipeline.regressions(ctx, policy)


@_retrying("write-report")
def write_report(ctx: RunContext) -> Path:
    return pipeline.write_html_report(ctx)
