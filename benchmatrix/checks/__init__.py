"""Data checks of one scenario's request records, before they reach the warehouse.

    report = validate_scenario(requests, CheckContext.from_scenario(scenario, replica_ids=ids))
    report.raise_if_failed(scenario.name)     # or store report.results with the scenario

Row-wise checks run as a Great Expectations 1.x suite (imported lazily: it costs seconds);
aggregate checks (error share, achieved load, dispatch lag, replica shares, counts) run in
pandas. Both come back as :class:`CheckResult` rows of one :class:`CheckReport`.
"""

from __future__ import annotations

import pandas as pd

from benchmatrix.checks._models import CheckContext, CheckReport, CheckResult


def validate_scenario(requests: pd.DataFrame, ctx: CheckContext) -> CheckReport:
    """Run every request- and scenario-level check on one scenario's records (warmup included)."""
    from benchmatrix.checks._scenario import scenario_checks
    from benchmatrix.checks._suite import run_suite

    return CheckReport.of([*run_suite(requests, ctx), *scenario_checks(requests, ctx)])


__all__ = ["CheckContext", "CheckReport", "CheckResult", "validate_scenario"]
