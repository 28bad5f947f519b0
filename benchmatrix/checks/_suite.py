"""Great Expectations suites as code: row-wise checks of the request records.

Great Expectations costs seconds to import, so it is imported inside :func:`run_suite` and the
ephemeral context is built once per process. Each expectation carries its check name and level
in ``meta``; results are mapped back by that name (GE does not keep suite order).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from benchmatrix.checks._models import CheckContext, CheckResult, Level

REQUIRED_COLUMNS = (
    "request_index", "is_warmup", "worker_id", "intended_send_s", "sent_s", "first_token_s",
    "last_event_s", "done_s", "event_count", "prompt_tokens_target", "output_tokens_target",
    "prompt_tokens", "completion_tokens", "token_source", "status", "error_kind", "modality",
)
ALWAYS_SET = (
    "request_index", "is_warmup", "intended_send_s", "sent_s", "event_count",
    "prompt_tokens_target", "output_tokens_target", "status", "modality",
)
SET_WHEN_OK = ("first_token_s", "last_event_s", "completion_tokens")
STATUSES = ("ok", "error")
ERROR_KINDS = ("http", "connect", "timeout", "truncated", "bad_json", "no_choices",
               "max_tokens_ignored", "cancelled")
# One GE context per process, shared by every validation; GE does not promise thread safety
# and the pipeline may validate scenarios from several threads.
_GX_LOCK = threading.Lock()
_OK = 'status == "ok"'
_OK_MEASURED = 'status == "ok" and is_warmup == False'


@dataclass(frozen=True)
class Expect:
    """One expectation to build: GE class name, its arguments, and how to report it."""

    check_name: str
    level: Level
    kind: str
    kwargs: dict[str, Any]
    columns: tuple[str, ...]
    describe: str


def build_expectations(ctx: CheckContext) -> list[Expect]:
    """The suite for a context: request-level checks, plus row-wise scenario checks."""
    specs = [Expect("required_columns_present", "request", "ExpectTableColumnsToMatchSet",
                    {"column_set": list(REQUIRED_COLUMNS), "exact_match": False}, (),
                    "the record has every required column")]
    specs += [Expect(f"not_null:{c}", "request", "ExpectColumnValuesToNotBeNull", {"column": c},
                     (c,), f"{c} is set") for c in ALWAYS_SET]
    specs += [Expect(f"ok_has:{c}", "request", "ExpectColumnValuesToNotBeNull",
                     {"column": c, **_where(_OK)}, (c, "status"), f"ok requests have {c}")
              for c in SET_WHEN_OK]
    specs += [
        _pair("sent_before_first_token", "first_token_s", "sent_s", "sent_s <= first_token_s"),
        _pair("first_token_before_last_event", "last_event_s", "first_token_s",
              "first_token_s <= last_event_s"),
        _pair("ttft_within_e2e", "_e2e_ms", "_ttft_ms", "ttft_ms <= e2e_ms"),
        Expect("positive_completion_tokens", "request", "ExpectColumnValuesToBeBetween",
               {"column": "completion_tokens", "min_value": 1, **_where(_OK)},
               ("completion_tokens", "status"), "ok requests have completion_tokens >= 1"),
        Expect("positive_prompt_tokens", "request", "ExpectColumnValuesToBeBetween",
               {"column": "prompt_tokens", "min_value": 1, **_where(_OK)},
               ("prompt_tokens", "status"), "ok requests have prompt_tokens >= 1"),
        Expect("status_in_set", "request", "ExpectColumnValuesToBeInSet",
               {"column": "status", "value_set": list(STATUSES)}, ("status",),
               f"status is one of {', '.join(STATUSES)}"),
        Expect("error_kind_in_set", "request", "ExpectColumnValuesToBeInSet",
               {"column": "error_kind", "value_set": list(ERROR_KINDS)}, ("error_kind",),
               "error_kind is a known kind"),
        Expect("request_index_unique", "request", "ExpectColumnValuesToBeUnique",
               {"column": "request_index"}, ("request_index",), "request_index is unique"),
    ]
    return specs + _scenario_expectations(ctx)


def _scenario_expectations(ctx: CheckContext) -> list[Expect]:
    specs = []
    if ctx.ignore_eos:
        specs.append(Expect(
            "completion_tokens_equal_max_tokens", "scenario", "ExpectColumnPairValuesToBeEqual",
            {"column_A": "completion_tokens", "column_B": "output_tokens_target",
             "ignore_row_if": "either_value_is_missing", **_where(_OK_MEASURED)},
            ("completion_tokens", "output_tokens_target", "status", "is_warmup"),
            "with ignore_eos every ok request returns exactly max_tokens tokens"))
    if ctx.tokenizer_exact:
        specs.append(Expect(
            "prompt_tokens_within_tolerance", "scenario", "ExpectColumnValuesToBeBetween",
            {"column": "_prompt_tokens_deviation", "max_value": ctx.prompt_tokens_tolerance,
             **_where(_OK_MEASURED)},
            ("prompt_tokens", "prompt_tokens_target", "status", "is_warmup"),
            f"|prompt_tokens / target - 1| <= {ctx.prompt_tokens_tolerance}"))
    return specs


def _pair(name: str, later: str, earlier: str, describe: str) -> Expect:
    return Expect(name, "request", "ExpectColumnPairValuesAToBeGreaterThanB",
                  {"column_A": later, "column_B": earlier, "or_equal": True,
                   "ignore_row_if": "either_value_is_missing"},
                  (later.lstrip("_"), earlier.lstrip("_")), describe)


def _where(condition: str) -> dict[str, str]:
    return {"row_condition": condition, "condition_parser": "pandas"}


def run_suite(requests: pd.DataFrame, ctx: CheckContext) -> list[CheckResult]:
    """Validate ``requests`` with the suite for ``ctx``; one CheckResult per expectation."""
    frame = _with_derived_columns(requests)
    present = set(frame.columns)
    specs = build_expectations(ctx)
    runnable = [s for s in specs if set(_source_columns(s)) <= present]
    results = _validate(frame, runnable) if runnable else {}
    results["required_columns_present"] = _columns_result(results, present)
    return [results.get(s.check_name) or _not_run(s, present) for s in specs]


def _columns_result(results: dict[str, CheckResult], present: set[str]) -> CheckResult:
    """Report the missing columns rather than GE's list of every column present."""
    missing = sorted(set(REQUIRED_COLUMNS) - present)
    ge_passed = results["required_columns_present"].passed if results else not missing
    message = "all required columns present" if not missing else (
        f"record lacks required column(s) {', '.join(missing)}")
    return CheckResult(check_name="required_columns_present", level="request",
                       passed=ge_passed and not missing, observed=missing, expected=[],
                       message=message)


def _source_columns(spec: Expect) -> tuple[str, ...]:
    derived = {"ttft_ms": ("first_token_s", "sent_s"), "e2e_ms": ("last_event_s", "sent_s")}
    return tuple(c for col in spec.columns for c in derived.get(col, (col,)))


def _with_derived_columns(requests: pd.DataFrame) -> pd.DataFrame:
    frame = requests.copy()
    if {"first_token_s", "sent_s", "last_event_s"} <= set(frame.columns):
        frame["_ttft_ms"] = (frame["first_token_s"] - frame["sent_s"]) * 1000
        frame["_e2e_ms"] = (frame["last_event_s"] - frame["sent_s"]) * 1000
    if {"prompt_tokens", "prompt_tokens_target"} <= set(frame.columns):
        target = frame["prompt_tokens_target"].astype("float64")
        frame["_prompt_tokens_deviation"] = (frame["prompt_tokens"] / target - 1).abs()
    return frame


def _not_run(spec: Expect, present: set[str]) -> CheckResult:
    missing = sorted(set(_source_columns(spec)) - present)
    return CheckResult(check_name=spec.check_name, level=spec.level, passed=False,
                       observed=f"missing columns {missing}", expected=spec.describe,
                       message=f"cannot check that {spec.describe}: column(s) {missing} missing")


def _validate(frame: pd.DataFrame, specs: list[Expect]) -> dict[str, CheckResult]:
    gx, gxe = _gx()
    expectations = [getattr(gxe, s.kind)(**s.kwargs, meta={"check_name": s.check_name})
                    for s in specs]
    suite = gx.ExpectationSuite(name="benchmatrix_requests", expectations=expectations)
    result_format = {"result_format": "SUMMARY", "unexpected_index_column_names":
                     ["request_index"] if "request_index" in frame.columns else []}
    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(suite, result_format=result_format)
    by_name = {s.check_name: s for s in specs}
    results = {}
    for result in outcome.results:
        spec = by_name[result.expectation_config.meta["check_name"]]
        results[spec.check_name] = _to_check_result(spec, result.success, result.result,
                                                    result.exception_info)
    return results


def _to_check_result(
    spec: Expect, success: bool, detail: dict[str, Any], exception: Any
) -> CheckResult:
    if "observed_value" in detail:  # table-level expectation
        observed: Any = detail["observed_value"]
        message = "ok" if success else f"expected {spec.describe}; observed {observed}"
        return CheckResult(check_name=spec.check_name, level=spec.level, passed=bool(success),
                           observed=_plain(observed), expected=spec.describe, message=message)
    count = int(detail.get("unexpected_count") or 0)
    checked = int(detail.get("element_count") or 0)
    if success:
        message = f"all {checked} rows: {spec.describe}"
    elif not detail and exception:
        message = f"could not check that {spec.describe}: {_exception_text(exception)}"
    else:
        examples = _example_indexes(detail)
        message = f"{count} of {checked} rows break '{spec.describe}'" + (
            f" (request_index {examples})" if examples else "")
    return CheckResult(check_name=spec.check_name, level=spec.level, passed=bool(success),
                       observed=count, expected=0, message=message)


def _example_indexes(detail: dict[str, Any]) -> str:
    rows = detail.get("partial_unexpected_index_list") or []
    indexes = [int(r["request_index"]) for r in rows if isinstance(r, dict) and "request_index" in r]
    return ", ".join(str(i) for i in indexes[:5])


def _exception_text(exception: Any) -> str:
    if isinstance(exception, dict):
        messages = [v.get("exception_message") for v in exception.values() if isinstance(v, dict)]
        return "; ".join(m for m in messages if m) or str(exception.get("exception_message"))
    return str(exception)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return value if isinstance(value, (int, float, bool, str)) or value is None else str(value)


@lru_cache(maxsize=1)
def _gx() -> tuple[Any, Any]:
    import great_expectations as gx  # seconds to import: only when a scenario is validated
    import great_expectations.expectations as gxe

    # its ephemeral context logs one INFO line per validation ("Created temporary directory"):
    # noise in a run's story; warnings and errors still show
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx, gxe


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """An ephemeral context with progress bars off and one whole-DataFrame batch definition."""
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("benchmatrix").add_dataframe_asset("requests")
    return asset.add_batch_definition_whole_dataframe("whole_frame")
