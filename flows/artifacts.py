"""Prefect artifacts the UI shows; the markdown itself is rendered by the core library.

Keys (stable, so the UI keeps a history per key): ``benchmatrix-plan``,
``scenario-<scenario_id>``, ``benchmatrix-regressions``, ``benchmatrix-run-summary``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from prefect.artifacts import create_markdown_artifact

from benchmatrix import report_md

PLAN_KEY = "benchmatrix-plan"
REGRESSIONS_KEY = "benchmatrix-regressions"
RUN_SUMMARY_KEY = "benchmatrix-run-summary"


def _key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:100]


def scenario_key(scenario: Any) -> str:
    return _key(f"scenario-{scenario.scenario_id}")


def plan_artifact(plans: list[Any]) -> None:
    create_markdown_artifact(
        report_md.plan_table(plans), key=PLAN_KEY,
        description="Tensor-parallel plan per scenario, with the reasons",
    )


def scenario_artifact(outcome: Any) -> None:
    create_markdown_artifact(
        report_md.scenario_markdown(outcome), key=scenario_key(outcome.scenario),
        description=f"Results and checks of {outcome.scenario.name}",
    )


def regression_artifact(table: pd.DataFrame, policy: Any) -> None:
    create_markdown_artifact(
        report_md.regression_markdown(table, policy.threshold_pct), key=REGRESSIONS_KEY,
        description="This run against each scenario's previous comparable result",
    )


def run_artifact(summary: Any, report_path: Path | None) -> None:
    create_markdown_artifact(
        report_md.run_markdown(summary, report_path), key=RUN_SUMMARY_KEY,
        description=f"Run {summary.run_id}: results table, failures and where the files are",
    )
