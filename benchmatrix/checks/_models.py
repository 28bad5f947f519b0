"""Typed inputs and outputs of the data checks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.errors import ValidationFailed

Observed = float | int | bool | str | list[Any] | dict[str, Any] | None
Level = Literal["request", "scenario"]


class CheckContext(BaseModel):
    """What a scenario's records are checked against: thresholds, then facts about the run.

    Thresholds default to the matrix defaults; facts left as None skip the checks that need them
    (the skipped result says so).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # thresholds
    max_error_share: float = Field(0.05, ge=0, le=1, description="Errors / measured requests.")
    replica_share_tolerance: float = Field(
        0.25, ge=0, description="Allowed |served / (R/n) - 1| per replica."
    )
    max_dispatch_lag_p99_ms: float | None = Field(
        100.0, ge=0, description="p99 of actual - intended send time, ms (None: not checked)."
    )
    concurrency_tolerance: float = Field(
        0.25, ge=0, description="Allowed |mean in flight / target concurrency - 1|."
    )
    rate_tolerance: float = Field(0.25, ge=0, description="Allowed |achieved / scheduled send rate - 1| (open loop).")
    min_requests: int = Field(1, ge=0, description="Fewest measured requests a scenario needs.")
    prompt_tokens_tolerance: float = Field(
        0.05, ge=0, description="Allowed |prompt_tokens / target - 1| when the tokenizer is exact."
    )
    # facts
    planned_request_count: int | None = Field(
        None, ge=0, description="Measured (non-warmup) requests the schedule planned."
    )
    warmup_count: int = Field(0, ge=0, description="Warmup requests sent before the measured ones.")
    ignore_eos: bool = Field(False, description="Requests asked for exactly max_tokens tokens.")
    tokenizer_exact: bool = Field(False, description="Prompts were built with the model tokenizer.")
    target_concurrency: int | None = Field(None, ge=1, description="Closed-loop in-flight target.")
    target_rate_rps: float | None = Field(None, gt=0, description="Open-loop arrival rate target.")
    replica_ids: list[str] = Field(default_factory=list, description="Replicas behind NGINX.")
    replica_served: dict[str, int] = Field(
        default_factory=dict,
        description="Requests each replica served per NGINX (warmup included); empty: use the "
        "records' replica_id (measured requests only).",
    )

    @classmethod
    def from_scenario(cls, scenario: Any, **facts: Any) -> CheckContext:
        """Thresholds from ``scenario.checks`` and load facts from ``scenario.load``.

        Read attribute by attribute so a spec without some field keeps the default; ``facts``
        (replica_ids, replica_served, tokenizer_exact, planned_request_count...) override.
        """
        values: dict[str, Any] = {}
        thresholds = getattr(scenario, "checks", None)
        for name in ("max_error_share", "replica_share_tolerance", "max_dispatch_lag_p99_ms",
                     "concurrency_tolerance", "rate_tolerance", "min_requests",
                     "prompt_tokens_tolerance"):
            if getattr(thresholds, name, None) is not None:
                values[name] = getattr(thresholds, name)
        load = getattr(scenario, "load", None)
        for field, attr in (("planned_request_count", "num_requests"),
                            ("warmup_count", "warmup_requests"), ("ignore_eos", "ignore_eos"),
                            ("target_concurrency", "concurrency"), ("target_rate_rps", "rate_rps")):
            if getattr(load, attr, None) is not None:
                values[field] = getattr(load, attr)
        return cls(**{**values, **facts})


class CheckResult(BaseModel):
    """One check's outcome. ``observed``/``expected`` are in the units the check name says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_name: str
    level: Level
    passed: bool
    observed: Observed = None
    expected: Observed = None
    message: str = ""
    skipped: bool = Field(default=False,
                          description="Not evaluated (a fact it needs was not given).")


class CheckReport(BaseModel):
    """Every check of one scenario; ``passed`` is True when none failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passed: bool
    results: list[CheckResult]

    @classmethod
    def of(cls, results: list[CheckResult]) -> CheckReport:
        return cls(passed=all(r.passed for r in results), results=results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line per failed check, or 'all N checks passed'."""
        if self.passed:
            return f"all {len(self.results)} checks passed"
        return "\n".join(f"{r.check_name}: {r.message}" for r in self.failed)

    def raise_if_failed(self, scenario_name: str) -> None:
        """Raise ValidationFailed naming the scenario and each failed check."""
        if not self.passed:
            raise ValidationFailed(
                f"scenario {scenario_name} failed {len(self.failed)} data check(s):\n"
                f"{self.summary()}",
                failed=self.failed,
            )
