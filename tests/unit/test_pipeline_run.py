"""Run-level pipeline helpers: selection, tags, regression policy and flags, messages, JSON
round trip of an outcome (what a remote scenario flow returns)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmatrix import pipeline
from benchmatrix.errors import PlanError
from benchmatrix.spec import load_matrix
from tests.conftest import REPO_ROOT

MIXED = REPO_ROOT / "matrices" / "tests" / "flows-mixed.yaml"


@pytest.fixture(scope="module")
def scenarios() -> list:
    return pipeline.expand(load_matrix(MIXED))


def test_select_filters_by_name_or_id_and_skips_done(scenarios: list) -> None:
    first = scenarios[0]
    assert pipeline.select(scenarios, only=["badcmd"]) == [s for s in scenarios if "badcmd" in s.name]
    assert pipeline.select(scenarios, only=[first.scenario_id]) == [first]
    assert first not in pipeline.select(scenarios, skip_ids={first.scenario_id})
    assert pipeline.lanes(scenarios) == 2 and pipeline.lanes([]) == 1


def test_tags_read_like_the_matrix(scenarios: list) -> None:
    assert pipeline.scenario_tags(scenarios[0]) == [
        "hw:simhost", "model:llama-3.1-8b", "engine:sim", "load:chat@c2"]


def test_regression_policy_defaults_off_and_reads_the_environment() -> None:
    matrix = load_matrix(MIXED)
    assert pipeline.regression_policy(matrix, {}) == pipeline.RegressionPolicy(threshold_pct=10.0, notify_block=None)
    policy = pipeline.regression_policy(matrix, {"BENCHMATRIX_REGRESSION_THRESHOLD_PCT": "5",
                                                 "BENCHMATRIX_NOTIFY_BLOCK": "custom-webhook/x"})
    assert policy == pipeline.RegressionPolicy(threshold_pct=5.0, notify_block="custom-webhook/x")


def test_regressed_scenarios_are_the_flagged_rows() -> None:
    table = pd.DataFrame({"scenario_name": ["b", "a", "c"], "is_regression": [True, True, False]})
    assert pipeline.regressed_scenarios(table) == ["a", "b"]
    assert pipeline.regressed_scenarios(table.iloc[0:0]) == []


def test_failed_outcome_lines_are_short_and_do_not_repeat_the_name(scenarios: list) -> None:
    s = scenarios[0]
    error = PlanError(f"{s.name}: no TP degree fits\nsecond line")
    outcome = pipeline.with_error(pipeline.begin_outcome(s), error)
    assert outcome.summary_line() == f"{s.name}: failed: PlanError: no TP degree fits"


def test_final_message_names_failures_regressions_and_the_report(scenarios: list) -> None:
    summary = pipeline.RunSummary(run_id="r", status="partial", message="1/2 scenarios passed: x: failed",
                                  warehouse_path=Path("w.duckdb"), run_dir=Path("runs/r"), outcomes=())
    assert pipeline.final_message(summary, ["a/b/c@c2"], Path("/d/report.html")) == (
        "1/2 scenarios passed: x: failed | regressions vs the previous run: a/b/c@c2 | report: /d/report.html")
    assert pipeline.final_message(summary, [], None) == "1/2 scenarios passed: x: failed"


def test_planned_outcome_fails_with_the_planner_reason(scenarios: list) -> None:
    no_fit = next(s for s in scenarios if "405b" in s.name)
    outcome = pipeline.with_planned(pipeline.begin_outcome(no_fit), pipeline.plan_one(no_fit))
    assert outcome.status == "failed" and outcome.plan is None
    assert outcome.error_message.startswith("PlanError: ")
    fits = pipeline.with_planned(pipeline.begin_outcome(scenarios[0]), pipeline.plan_one(scenarios[0]))
    assert fits.status == "running" and fits.plan.tp_degree == 1


def test_outcome_json_round_trip_is_exact(scenarios: list) -> None:
    outcome = pipeline.with_plan(pipeline.begin_outcome(scenarios[0]), pipeline.plan(scenarios[0]))
    assert pipeline.outcome_from_json(pipeline.outcome_to_json(outcome)) == outcome


def test_received_outcome_fails_when_records_are_not_shared(scenarios: list, tmp_path: Path) -> None:
    from benchmatrix.loadgen import LoadResult

    result = LoadResult(records_path=tmp_path / "elsewhere.parquet", run_id="r", num_records=1, num_ok=1,
                        num_errors=0, num_warmup=0, started_at="2026-01-01T00:00:00Z", t0_monotonic=0.0,
                        duration_s=1.0, client_cpu_s=0.1, client_cpu_share=0.1, dispatch_lag_p99_ms=1.0,
                        is_client_bound=False, workers=1, connections_opened=1)
    outcome = pipeline.with_load(pipeline.begin_outcome(scenarios[0]), result)
    received = pipeline.received_outcome(outcome)
    assert received.status == "failed" and "share the data dir" in received.error_message
    result.records_path.write_bytes(b"")
    assert pipeline.received_outcome(outcome) is outcome
