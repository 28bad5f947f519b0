"""Prefect artifacts the UI shows; the markdown itself is rendered by the core library."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact

from benchmatrix import report_md


def _key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:100]


def plan_artifact(plans: list[Any]) -> None:
    create_markdown_artifact(
        report_md.plan_table(plans), key="benchmatrix-plan",
        description="Tensor-parallel plan per scenario, with the reasons",
    )


def scenario_artifact(outcome: Any) -> None:
    create_markdown_artifact(
        report_md.scenario_markdown(outcome),
        key=_key(f"scenario-{outcome.scenario.scenario_id}"),
        description=f"Results and checks of {outcome.scenario.name}",
    )


def run_artifact(summary: Any) -> None:
    create_markdown_artifact(
        report_md.run_markdown(summary), key="benchmatrix-run-summary",
        description=f"Run {summary.run_id}: results table and where the files are",
    )
