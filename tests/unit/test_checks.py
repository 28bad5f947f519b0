"""Data checks: the GE suite catches each violated expectation; scenario checks catch bad runs."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from benchmatrix.checks import CheckContext, CheckReport, validate_scenario
from benchmatrix.errors import ValidationFailed
from tests.support.data_records import FakeLoad, fabricate_requests

REPLICAS = ["replica-0", "replica-1"]


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return fabricate_requests(FakeLoad(num_requests=200, warmup_requests=8, concurrency=8))


@pytest.fixture(scope="module")
def ctx() -> CheckContext:
    return CheckContext(planned_request_count=200, warmup_count=8, ignore_eos=True,
                        tokenizer_exact=True, target_concurrency=8, replica_ids=REPLICAS)


def _failed(report: CheckReport) -> set[str]:
    return {r.check_name for r in report.failed}


def test_clean_records_pass_every_check(clean, ctx):
    report = validate_scenario(clean, ctx)
    assert report.passed, report.summary()
    assert not [r for r in report.results if r.skipped]
    levels = {r.level for r in report.results}
    assert levels == {"request", "scenario"}


MEASURED = 20  # a measured, ok row of the clean frame

# (row, values written there, the check that must catch it); one row per violation, so one
# validation run proves each expectation fires and points at the right request.
VIOLATIONS = [
    (20, {"sent_s": None}, "not_null:sent_s"),
    (21, {"status": None}, "not_null:status"),
    (22, {"first_token_s": None}, "ok_has:first_token_s"),
    (23, {"completion_tokens": None}, "ok_has:completion_tokens"),
    (24, {"first_token_s": -1.0}, "sent_before_first_token"),
    (25, {"last_event_s": 0.0}, "first_token_before_last_event"),
    (25, {}, "ttft_within_e2e"),
    (26, {"completion_tokens": 0}, "positive_completion_tokens"),
    (27, {"prompt_tokens": 0}, "positive_prompt_tokens"),
    (28, {"status": "partial"}, "status_in_set"),
    (29, {"error_kind": "gremlins"}, "error_kind_in_set"),
    (30, {"request_index": 31}, "request_index_unique"),
    (32, {"completion_tokens": 31}, "completion_tokens_equal_max_tokens"),
    (33, {"prompt_tokens": 300}, "prompt_tokens_within_tolerance"),
]


def test_suite_catches_each_violation(clean, ctx):
    frame = clean.copy()
    for row, values, _ in VIOLATIONS:
        frame = _set(frame, row, **values)
    report = validate_scenario(frame, ctx)
    failed = {r.check_name: r for r in report.failed}
    for row, _, check in VIOLATIONS:
        assert check in failed, f"{check} missed:\n{report.summary()}"
        index = 31 if check == "request_index_unique" else row
        assert index in _named_indexes(failed[check].message), failed[check].message
    assert failed["status_in_set"].observed == 1


def _named_indexes(message: str) -> set[int]:
    """The request_index values a failure message names: '... (request_index 4, 9)'."""
    _, _, tail = message.partition("(request_index ")
    return {int(part) for part in tail.rstrip(")").split(", ") if part.isdigit()}


def test_missing_column_is_reported_by_name(clean, ctx):
    report = validate_scenario(clean.drop(columns=["completion_tokens"]), ctx)
    result = next(r for r in report.failed if r.check_name == "required_columns_present")
    assert result.observed == ["completion_tokens"]
    assert "completion_tokens" in result.message


def _set(frame: pd.DataFrame, index: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for column, value in values.items():
        if value is None or frame[column].dtype.kind in "iub":
            frame[column] = frame[column].astype(object)
        frame.loc[index, column] = value
    return frame


def test_ignore_eos_and_tokenizer_checks_only_when_asked(clean):
    lax = CheckContext(warmup_count=8)
    report = validate_scenario(_set(clean, MEASURED, completion_tokens=3, prompt_tokens=999), lax)
    names = {r.check_name for r in report.results}
    assert "completion_tokens_equal_max_tokens" not in names
    assert "prompt_tokens_within_tolerance" not in names


def test_error_share_over_threshold_fails(ctx):
    frame = fabricate_requests(FakeLoad(error_every=10))  # 10 % errors
    report = validate_scenario(frame, ctx)
    assert _failed(report) == {"error_share"}
    result = next(r for r in report.failed)
    assert result.observed == pytest.approx(0.1) and "by kind {'http': 20}" in result.message
    assert validate_scenario(frame, ctx.model_copy(update={"max_error_share": 0.1})).passed


def test_too_few_requests_fail(clean, ctx):
    report = validate_scenario(clean, ctx.model_copy(update={"min_requests": 500}))
    assert "min_requests" in _failed(report)


def test_context_from_the_real_spec_thresholds():
    from benchmatrix.spec import CheckThresholds

    thresholds = CheckThresholds()
    ctx = CheckContext.from_scenario(SimpleNamespace(checks=thresholds, load=None))
    for name in ("max_error_share", "replica_share_tolerance", "max_dispatch_lag_p99_ms",
                 "rate_tolerance", "concurrency_tolerance", "min_requests"):
        assert getattr(ctx, name) == getattr(thresholds, name)


def test_request_count_and_warmup(clean, ctx):
    assert "request_count_matches_plan" in _failed(validate_scenario(clean.iloc[:-1], ctx))
    unflagged = clean.assign(is_warmup=False)
    assert "warmup_excluded" in _failed(validate_scenario(unflagged, ctx.model_copy(
        update={"planned_request_count": 208})))
    late_warmup = _set(clean, 100, is_warmup=True)
    assert "warmup_excluded" in _failed(validate_scenario(late_warmup, ctx))


def test_achieved_concurrency_far_from_target_fails(clean, ctx):
    report = validate_scenario(clean, ctx.model_copy(update={"target_concurrency": 16}))
    result = next(r for r in report.failed if r.check_name == "achieved_concurrency")
    assert result.observed == pytest.approx(8, rel=0.05) and result.expected == 16


def test_achieved_rate_against_open_loop_target():
    frame = fabricate_requests(FakeLoad(concurrency=1, num_requests=50, warmup_requests=0))
    rate = 49 / (frame.sent_s.max() - frame.sent_s.min())
    base = CheckContext(target_rate_rps=rate)
    assert validate_scenario(frame, base).passed
    report = validate_scenario(frame, base.model_copy(update={"target_rate_rps": rate * 2}))
    assert "achieved_rate_rps" in _failed(report)


def test_dispatch_lag_p99_over_bound_fails(clean, ctx):
    lagged = clean.assign(sent_s=clean.sent_s + 0.2)  # 200 ms late everywhere
    assert "dispatch_lag_p99_ms" in _failed(validate_scenario(lagged, ctx))


def test_replica_shares_from_nginx_counts(clean, ctx):
    even = ctx.model_copy(update={"replica_served": {"replica-0": 104, "replica-1": 104}})
    assert validate_scenario(clean, even).passed
    skewed = ctx.model_copy(update={"replica_served": {"replica-0": 180, "replica-1": 28}})
    assert _failed(validate_scenario(clean, skewed)) == {"replica_share:replica-0",
                                                         "replica_share:replica-1"}
    stranger = ctx.model_copy(update={"replica_served": {"replica-0": 104, "replica-1": 100,
                                                         "replica-9": 4}})
    assert "replica_share:unknown" in _failed(validate_scenario(clean, stranger))


def test_replica_that_served_nothing_fails(clean, ctx):
    three = ctx.model_copy(update={"replica_ids": [*REPLICAS, "replica-2"]})
    assert "replica_share:replica-2" in _failed(validate_scenario(clean, three))


def test_missing_facts_skip_their_checks(clean):
    report = validate_scenario(clean, CheckContext(warmup_count=8))
    skipped = {r.check_name for r in report.results if r.skipped}
    assert {"request_count_matches_plan", "achieved_load"} <= skipped
    assert report.passed


def test_raise_if_failed_carries_the_failures(ctx):
    report = validate_scenario(fabricate_requests(FakeLoad(error_every=5)), ctx)
    with pytest.raises(ValidationFailed, match="h100x2/m/chat@c8 failed 1 data check") as info:
        report.raise_if_failed("h100x2/m/chat@c8")
    assert [r.check_name for r in info.value.failed] == ["error_share"]


def test_context_from_scenario_reads_thresholds_and_load():
    scenario = SimpleNamespace(
        checks=SimpleNamespace(max_error_share=0.01, replica_share_tolerance=None,
                               rate_tolerance=0.1, min_requests=10),
        load=SimpleNamespace(num_requests=64, warmup_requests=4, ignore_eos=True,
                             concurrency=None, rate_rps=2.5))
    ctx = CheckContext.from_scenario(scenario, replica_ids=["a"])
    assert (ctx.max_error_share, ctx.replica_share_tolerance) == (0.01, 0.25)
    assert (ctx.rate_tolerance, ctx.concurrency_tolerance, ctx.min_requests) == (0.1, 0.25, 10)
    assert (ctx.planned_request_count, ctx.warmup_count, ctx.target_rate_rps) == (64, 4, 2.5)
    assert ctx.ignore_eos and ctx.replica_ids == ["a"] and ctx.target_concurrency is None


def test_validation_from_several_threads(clean, ctx):
    from concurrent.futures import ThreadPoolExecutor

    frames = [clean, fabricate_requests(FakeLoad(error_every=10)), clean]
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(lambda f: validate_scenario(f, ctx), frames))
    assert [r.passed for r in reports] == [True, False, True]
    assert _failed(reports[1]) == {"error_share"}
