"""Markdown of the Prefect artifacts: plan, scenario, regressions, run summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmatrix import pipeline, report_md
from benchmatrix.errors import DeployError
from benchmatrix.spec import load_matrix
from tests.conftest import REPO_ROOT

MIXED = REPO_ROOT / "matrices" / "tests" / "flows-mixed.yaml"


def _scenarios() -> list:
    return pipeline.expand(load_matrix(MIXED))


def test_markdown_table_escapes_pipes_and_shows_missing_as_dash() -> None:
    table = report_md.markdown_table(["a", "b"], [["x|y", None], [1234.5, 0.01234]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | - |", "| 1,234.5 | 0.0123 |"]


def test_plan_table_has_a_no_fit_row_with_the_reason() -> None:
    text = report_md.plan_table(pipeline.plan_all(_scenarios()))
    no_fit = next(line for line in text.splitlines() if "405b" in line)
    assert "NO FIT: PlanError: no TP degree fits" in no_fit
    assert "| simhost/llama-3.1-8b/chat@c2 | 1 | 2 |" in text


def test_regression_markdown_counts_flagged_rows() -> None:
    table = pd.DataFrame({"scenario_name": ["a"], "previous_run_id": ["r0"], "output_throughput_change_pct": [-30.0],
                          "ttft_p99_change_pct": [50.0], "tpot_p99_change_pct": [40.0], "is_regression": [True]})
    text = report_md.regression_markdown(table, 10)
    assert "worse by more than 10 %; **1 regressed**" in text
    assert "| a | r0 | -30 | 50 | 40 | True |" in text
    assert "(no comparable scenarios in this run)" in report_md.regression_markdown(table.iloc[0:0], 10)


def test_run_markdown_lists_failures_and_links_the_report(tmp_path: Path) -> None:
    s = _scenarios()[-1]
    failed = pipeline.with_error(pipeline.begin_outcome(s), DeployError("replica r0 exited with code 3\nlog"))
    summary = pipeline.RunSummary(run_id="r1", status="failed", message="0/1 scenarios passed",
                                  warehouse_path=tmp_path / "w.duckdb", run_dir=tmp_path, outcomes=(failed,))
    report = tmp_path / "report.html"
    text = report_md.run_markdown(summary, report)
    assert text.startswith("# Run r1: failed\n\n0/1 scenarios passed\n\n## Failed scenarios")
    assert f"| {s.name} | failed | DeployError: replica r0 exited with code 3 |" in text
    assert f"[HTML report]({report.as_uri()})" in text
    assert "HTML report: none" in report_md.run_markdown(summary, None)
