"""After a run: regressions against the previous run, the HTML report, the final message."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.pipeline.outcome import RunSummary
from benchmatrix.pipeline.store import WAREHOUSE_LOCK
from benchmatrix.runs import RunContext
from benchmatrix.spec import Matrix
from benchmatrix.warehouse import Warehouse


class RegressionPolicy(BaseModel):
    """When a run counts as regressed and whom to tell (notification off unless named)."""

    model_config = ConfigDict(frozen=True)

    threshold_pct: float = Field(default=10.0, gt=0, description="Worse than the previous run by more than this.")
    notify_block: str | None = Field(default=None, description="Prefect notification block to call, if any.")


REGRESSION_THRESHOLD_ENV = "BENCHMATRIX_REGRESSION_THRESHOLD_PCT"
NOTIFY_BLOCK_ENV = "BENCHMATRIX_NOTIFY_BLOCK"


def regression_policy(matrix: Matrix, environ: dict[str, str] | None = None) -> RegressionPolicy:
    """The matrix's ``regressions`` settings when the spec has them, else the environment
    (``BENCHMATRIX_REGRESSION_THRESHOLD_PCT``, ``BENCHMATRIX_NOTIFY_BLOCK``), else defaults."""
    env = os.environ if environ is None else environ
    from_matrix = getattr(matrix, "regressions", None)
    if from_matrix is not None:
        return RegressionPolicy.model_validate(from_matrix, from_attributes=True)
    values: dict[str, Any] = {}
    if env.get(REGRESSION_THRESHOLD_ENV):
        values["threshold_pct"] = float(env[REGRESSION_THRESHOLD_ENV])
    if env.get(NOTIFY_BLOCK_ENV):
        values["notify_block"] = env[NOTIFY_BLOCK_ENV]
    return RegressionPolicy(**values)


def regressions(ctx: RunContext, policy: RegressionPolicy) -> pd.DataFrame:
    """This run against each scenario's previous comparable result (``run_vs_previous``)."""
    with WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        return wh.run_query("run_vs_previous", {"run_id": ctx.run_id,
                                                 "threshold_pct": policy.threshold_pct})


def regressed_scenarios(table: pd.DataFrame) -> list[str]:
    """Names of the scenarios flagged ``is_regression`` in a ``run_vs_previous`` table."""
    if table.empty:
        return []
    return sorted(table.loc[table["is_regression"].astype(bool), "scenario_name"].tolist())


def write_html_report(ctx: RunContext) -> Path:
    """The self-contained HTML report of this run, written to ``<run_dir>/report.html``."""
    from benchmatrix.report import write_report

    with WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        return write_report(wh, ctx.run_id, ctx.run_dir / "report.html").resolve()


def final_message(summary: RunSummary, regressed: list[str], report_path: Path | None) -> str:
    """The matrix run's state message: pass count, failures with reasons, regressions, report."""
    parts = [summary.message]
    if regressed:
        parts.append(f"regressions vs the previous run: {', '.join(regressed)}")
    if report_path is not None:
        parts.append(f"report: {report_path}")
    return " | ".join(parts)
