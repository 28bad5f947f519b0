"""The matrix flow on a matrix where half the scenarios fail (matrices/tests/flows-mixed.yaml):
a model that cannot be planned, a command backend whose command exits at once, and two passing
scenarios sharing one hardware entry. Real Prefect API (test harness), NGINX, sim replicas, DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT
from tests.support.flow_helpers import flow_runs_named, latest_artifact, read_flow_run, task_runs_of

pytestmark = pytest.mark.integration

MATRIX = REPO_ROOT / "matrices" / "tests" / "flows-mixed.yaml"
PASSING = ("simhost/llama-3.1-8b/chat@c2", "simhost/llama-3.1-8b/chat@c4")
NO_FIT = "simhost/llama-3.1-405b/chat@c2"
EXITS = "badcmd/llama-3.1-8b/chat@c2"


@pytest.fixture(scope="module")
def mixed_run(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    from flows.matrix import matrix_flow

    data_dir = tmp_path_factory.mktemp("flows-data")
    # four threads: only the per-hardware limit can keep the two simhost scenarios apart
    state = matrix_flow(str(MATRIX), data_dir=str(data_dir), max_parallel=4, return_state=True)
    return state, data_dir


def test_one_failure_never_stops_the_matrix_and_the_run_shows_partial_failure(mixed_run: tuple) -> None:
    state, data_dir = mixed_run
    summary = state.result(raise_on_failure=False)
    assert state.is_failed() and state.name == "PartiallyFailed", state
    assert summary.status == "partial"
    assert {o.scenario.name: o.status for o in summary.outcomes} == {
        PASSING[0]: "passed", PASSING[1]: "passed", NO_FIT: "failed", EXITS: "failed"}
    assert state.message.startswith("2/4 scenarios passed")
    assert f"{NO_FIT}: failed: PlanError: no TP degree fits" in state.message
    assert f"{EXITS}: failed: DeployError" in state.message and "exited with code 3" in state.message
    with duckdb.connect(str(data_dir / "benchmatrix.duckdb"), read_only=True) as con:
        rows = dict(con.execute("select scenario_name, status from scenarios").fetchall())
        run_status = con.execute("select status from runs").fetchone()[0]
    assert rows == {PASSING[0]: "passed", PASSING[1]: "passed", NO_FIT: "failed", EXITS: "failed"}
    assert run_status == "partial"


def test_scenarios_sharing_hardware_never_overlap(mixed_run: tuple) -> None:
    state, _ = mixed_run
    outcomes = {o.scenario.name: o for o in state.result(raise_on_failure=False).outcomes}
    windows = sorted((o.load_result.started_at, o.ended_at) for name, o in outcomes.items() if name in PASSING)
    (_, first_end), (second_start, _) = windows
    assert first_end <= second_start, windows


def test_scenario_sub_flows_are_named_and_tagged_and_fail_with_the_reason(mixed_run: tuple) -> None:
    (run,) = flow_runs_named(EXITS)
    assert {"hw:badcmd", "model:llama-3.1-8b", "engine:sim", "load:chat@c2"} <= set(run.tags)
    assert run.state.is_failed() and "exited with code 3" in run.state.message


def test_a_replica_that_exits_is_not_retried(mixed_run: tuple) -> None:
    (run,) = flow_runs_named(EXITS)
    deploys = [tr for tr in task_runs_of(run.id) if tr.name.startswith("deploy-replicas")]
    assert len(deploys) == 1 and deploys[0].run_count == 1, deploys
    assert deploys[0].state.is_failed()


def test_teardown_left_nothing_running(mixed_run: tuple) -> None:
    from benchmatrix import pipeline

    _, data_dir = mixed_run
    assert pipeline.stop_orphan_nginx(data_dir / "runs") == 0
    registry = pipeline.registry_dir(data_dir)
    assert not list(registry.glob("*.json")) if registry.exists() else True


def test_artifacts_show_plan_scenarios_failures_report_and_regressions(mixed_run: tuple) -> None:
    from flows import artifacts

    state, _ = mixed_run
    summary = state.result(raise_on_failure=False)
    plan = latest_artifact(artifacts.PLAN_KEY).data
    assert "| scenario | TP | replicas |" in plan and f"| {NO_FIT} |" in plan and "NO FIT" in plan
    for outcome in summary.outcomes:
        text = latest_artifact(artifacts.scenario_key(outcome.scenario)).data
        assert text.startswith(f"# {outcome.scenario.name}") and f"status: **{outcome.status}**" in text
    passed = latest_artifact(artifacts.scenario_key(summary.outcomes[0].scenario)).data
    assert "## Replica shares (NGINX)" in passed and "| requests ok | errors |" in passed
    assert "## Results" in passed and "| req/s | out tok/s | goodput req/s | TTFT p50 ms |" in passed
    run = latest_artifact(artifacts.RUN_SUMMARY_KEY).data
    assert run.startswith(f"# Run {summary.run_id}: partial")
    assert "## Failed scenarios" in run and f"| {EXITS} | failed | DeployError" in run
    assert "| scenario | status | TP |" in run
    report = summary.run_dir / "report.html"
    assert report.is_file() and f"({report.resolve().as_uri()})" in run
    regressions = latest_artifact(artifacts.REGRESSIONS_KEY).data
    assert regressions.startswith("# Regressions against the previous run")
    flow_run = read_flow_run(state.state_details.flow_run_id)
    assert "regression" not in flow_run.tags  # first run: nothing to compare with


def test_a_slower_rerun_is_marked_as_regressed_and_notifies(
        mixed_run: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs last: the same scenario on a 4x slower simulated engine, against the first run."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows import artifacts
    from flows.matrix import matrix_flow
    from tests.support.flow_helpers import WebhookSink

    _, data_dir = mixed_run
    sink = WebhookSink()
    try:
        CustomWebhookNotificationBlock(
            name="bench", url=sink.url, json_data={"subject": "{{subject}}", "text": "{{body}}"},
            allow_private_urls=True).save("bench-alerts", overwrite=True)
        monkeypatch.setenv("BENCHMATRIX_NOTIFY_BLOCK", "custom-webhook/bench-alerts")
        monkeypatch.setenv("BENCHMATRIX_REGRESSION_THRESHOLD_PCT", "20")
        state = matrix_flow(str(MATRIX.with_name("flows-mixed-slow.yaml")), data_dir=str(data_dir),
                            return_state=True)
    finally:
        sink.close()
    assert state.is_completed(), state
    assert f"regressions vs the previous run: {PASSING[0]}" in state.message
    assert "regression" in read_flow_run(state.state_details.flow_run_id).tags
    table = latest_artifact(artifacts.REGRESSIONS_KEY).data
    assert "threshold: worse by more than 20 %; **1 regressed**" in table
    assert f"| {PASSING[0]} |" in table
    (posted,) = sink.received
    assert PASSING[0].encode() in posted and b"regressions" in posted
