"""retry_condition_fn really decides retries in Prefect 3.9: transient errors are retried, a
failed data check or a crashed replica is not (tasks.scenario.retry_if_transient)."""

from __future__ import annotations

import pytest
from prefect import flow, task

from benchmatrix.errors import DeployError, ValidationFailed
from tasks import scenario as t
from tasks.scenario import retry_if_transient

pytestmark = pytest.mark.integration


def _run_failing_once(exc: BaseException) -> tuple[list[int], object]:
    """A task that raises ``exc`` on its first call; returns (calls, final task state)."""
    calls: list[int] = []

    @task(name="flaky", retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_transient)
    def flaky() -> str:
        calls.append(len(calls))
        if len(calls) == 1:
            raise exc
        return "ok"

    states: list[object] = []

    @flow(name="retry-probe")
    def probe() -> None:
        states.append(flaky(return_state=True))

    probe()
    return calls, states[0]


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    DeployError("replica r0 did not answer http://127.0.0.1:9/health with 200 within 30 s", transient=True),
], ids=["refused-connection", "replica-slow-to-come-up"])
def test_a_transient_error_is_retried(prefect_server: None, exc: BaseException) -> None:
    calls, state = _run_failing_once(exc)
    assert calls == [0, 1]
    assert state.is_completed() and state.result() == "ok"


@pytest.mark.parametrize("exc", [
    ValidationFailed("error share 0.4 > 0.05", failed=[]),
    DeployError("replica r0 exited with code 3 before becoming healthy"),
], ids=["failed-data-check", "replica-exited"])
def test_a_data_check_or_a_crashed_replica_is_not_retried(prefect_server: None, exc: BaseException) -> None:
    calls, state = _run_failing_once(exc)
    assert calls == [0]
    assert state.is_failed()


def test_only_stages_that_can_fail_transiently_declare_retries() -> None:
    retried = {t.deploy_replicas, t.start_balancer, t.run_load, t.load_warehouse}
    for stage in retried:
        assert stage.retries >= 1 and stage.retry_condition_fn is retry_if_transient, stage.name
    for stage in (t.validate, t.plan_tp, t.teardown, t.stop_balancer, t.collect_replica_stats):
        assert not stage.retries, stage.name
