"""Thin Prefect tasks over :mod:`benchmatrix.pipeline`.

Each task is one verb. Retries are declared here and only for transient errors (a replica slow to
come up, a refused connection), never for a failed data check. Inputs that are live objects
(process handles, DataFrames) use ``NO_CACHE``.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from benchmatrix import pipeline
from benchmatrix.errors import DeployError, LoadGenError


def _transient(exc_types: tuple[type[BaseException], ...]):
    """Retry condition: retry only when the task raised one of ``exc_types``."""

    def condition(task: Any, task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except exc_types:
            return True
        except BaseException:
            return False
        return False

    return condition


@task(name="load-matrix", cache_policy=NO_CACHE)
def load_matrix(matrix_path: str) -> Any:
    return pipeline.load_matrix(matrix_path)


@task(name="expand-matrix", cache_policy=NO_CACHE)
def expand_matrix(matrix: Any) -> list[Any]:
    return pipeline.expand(matrix)


@task(name="plan-tp", cache_policy=NO_CACHE)
def plan_tp(scenario: Any) -> Any:
    return pipeline.plan(scenario)


@task(name="plan-matrix", cache_policy=NO_CACHE)
def plan_matrix(scenarios: list[Any]) -> list[Any]:
    return pipeline.plan_all(scenarios)


@task(
    name="deploy-replicas", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2,
    retry_condition_fn=_transient((DeployError,)),
)
def deploy_replicas(ctx: Any, scenario: Any, plan: Any) -> Any:
    return pipeline.deploy(ctx, scenario, plan)


@task(name="start-balancer", cache_policy=NO_CACHE)
def start_balancer(ctx: Any, scenario: Any, deployment: Any) -> Any:
    return pipeline.start_balancer(ctx, scenario, deployment)


@task(name="run-load", cache_policy=NO_CACHE)
def run_load(ctx: Any, scenario: Any, balancer: Any) -> Any:
    return pipeline.run_load(ctx, scenario, balancer)


@task(name="collect-replica-stats", cache_policy=NO_CACHE)
def collect_replica_stats(balancer: Any, deployment: Any) -> list[Any]:
    return pipeline.collect_replica_stats(balancer, deployment)


@task(name="stop-balancer", cache_policy=NO_CACHE)
def stop_balancer(balancer: Any) -> None:
    pipeline.stop_balancer(balancer)


@task(name="teardown-replicas", cache_policy=NO_CACHE)
def teardown(deployment: Any) -> None:
    pipeline.teardown(deployment)


@task(name="validate", cache_policy=NO_CACHE)
def validate(scenario: Any, plan: Any, load_result: Any, replica_stats: list[Any]) -> Any:
    return pipeline.validate(scenario, plan, load_result, replica_stats)


@task(name="load-warehouse", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3,
      retry_condition_fn=_transient((OSError,)))
def load_warehouse(ctx: Any, outcome: Any) -> None:
    pipeline.store_scenario(ctx, outcome)


@task(name="clean-orphans", cache_policy=NO_CACHE)
def clean_orphans(ctx: Any) -> list[str]:
    return pipeline.clean_orphans(ctx)


@task(name="open-run", cache_policy=NO_CACHE)
def open_run(ctx: Any) -> set[str]:
    return pipeline.open_run(ctx)


@task(name="close-run", cache_policy=NO_CACHE)
def close_run(ctx: Any, outcomes: list[Any]) -> Any:
    return pipeline.close_run(ctx, outcomes)

