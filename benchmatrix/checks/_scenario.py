"""Scenario-level checks computed with pandas/numpy: counts, shares, achieved load, lag.

Each function takes the full record frame (warmup included) and the context and returns
CheckResults; a check whose fact is missing from the context is reported as skipped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmatrix.checks._models import CheckContext, CheckResult, Observed



def scenario_checks(requests: pd.DataFrame, ctx: CheckContext) -> list[CheckResult]:
    """Every scenario-level check that pandas answers, in a stable order."""
    needed = {"is_warmup", "request_index", "status", "sent_s", "intended_send_s"}
    if not needed <= set(requests.columns):
        return [_result("scenario_checks", False, f"missing {sorted(needed - set(requests.columns))}",
                        sorted(needed), "cannot run scenario checks without these columns")]
    measured = requests[~requests["is_warmup"].astype(bool)]
    return [
        check_min_requests(measured, ctx),
        check_request_count(measured, ctx),
        check_warmup_excluded(requests, ctx),
        check_error_share(measured, ctx),
        check_achieved_load(requests, measured, ctx),
        check_dispatch_lag(measured, ctx),
        *check_replica_shares(measured, ctx),
    ]


def check_min_requests(measured: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """At least ``min_requests`` measured requests."""
    count = len(measured)
    return _result("min_requests", count >= ctx.min_requests, count, ctx.min_requests,
                   f"{count} measured requests (at least {ctx.min_requests} needed)")


def check_request_count(measured: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """Measured requests == planned."""
    if ctx.planned_request_count is None:
        return _skipped("request_count_matches_plan", "no planned request count given")
    count = len(measured)
    return _result("request_count_matches_plan", count == ctx.planned_request_count, count,
                   ctx.planned_request_count,
                   f"{count} measured requests recorded, {ctx.planned_request_count} planned")


def check_warmup_excluded(requests: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """Exactly ``warmup_count`` rows are warmup, and they are the first ones sent."""
    warmup = requests[requests["is_warmup"].astype(bool)]
    measured = requests[~requests["is_warmup"].astype(bool)]
    first_measured = measured["request_index"].min() if len(measured) else np.inf
    ordered = len(warmup) == 0 or warmup["request_index"].max() < first_measured
    passed = len(warmup) == ctx.warmup_count and bool(ordered)
    detail = "" if ordered else "; some warmup requests come after measured ones"
    return _result("warmup_excluded", passed, len(warmup), ctx.warmup_count,
                   f"{len(warmup)} warmup rows flagged, {ctx.warmup_count} expected{detail}")


def check_error_share(measured: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """Errors / measured requests <= max_error_share."""
    if len(measured) == 0:
        return _result("error_share", False, None, ctx.max_error_share, "no measured requests")
    errors = int((measured["status"] != "ok").sum())
    share = errors / len(measured)
    kinds = measured.loc[measured["status"] != "ok", "error_kind"].value_counts().to_dict() \
        if "error_kind" in measured.columns else {}
    return _result("error_share", share <= ctx.max_error_share, round(share, 6),
                   ctx.max_error_share,
                   f"{errors} of {len(measured)} requests failed ({share:.1%}; "
                   f"limit {ctx.max_error_share:.1%})" + (f" by kind {kinds}" if kinds else ""))


def check_achieved_load(requests: pd.DataFrame, measured: pd.DataFrame,
                        ctx: CheckContext) -> CheckResult:
    """Achieved concurrency (closed loop) or send rate (open loop) within its tolerance."""
    if len(measured) < 2:
        return _skipped("achieved_load", "fewer than two measured requests")
    target: float
    if ctx.target_concurrency is not None:
        achieved = achieved_concurrency(requests, measured)
        target, name, unit = ctx.target_concurrency, "achieved_concurrency", "in flight"
        tolerance = ctx.concurrency_tolerance
    elif ctx.target_rate_rps is not None:
        return check_achieved_rate(measured, ctx)
    else:
        return _skipped("achieved_load", "neither target concurrency nor rate given")
    deviation = abs(achieved / target - 1)
    return _result(name, deviation <= tolerance, round(achieved, 4), target,
                   f"achieved {achieved:.3g} {unit} against a target of {target:g} "
                   f"({deviation:.0%} off, tolerance {tolerance:.0%})")


def check_achieved_rate(measured: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """Open loop: the achieved send rate against the rate the schedule asked for.

    A seeded Poisson schedule of n requests averages the target only to within about 1/sqrt(n)
    (relative standard error), so the generator is judged against its own schedule (did it send
    on time?) and the schedule against the target only beyond max(tolerance, 3/sqrt(n)), which
    sampling noise almost never reaches but a wrong schedule does.
    """
    achieved = achieved_rate_rps(measured)
    scheduled = scheduled_rate_rps(measured)
    target = float(ctx.target_rate_rps or scheduled)
    lag = abs(achieved / scheduled - 1)
    drift = abs(scheduled / target - 1)
    drift_bound = max(ctx.rate_tolerance, 3 / np.sqrt(len(measured)))
    return _result(
        "achieved_rate_rps", lag <= ctx.rate_tolerance and drift <= drift_bound,
        round(achieved, 4), round(scheduled, 4),
        f"sent {achieved:.3g} requests/s against the {scheduled:.3g} requests/s its schedule asked "
        f"for ({lag:.0%} off, tolerance {ctx.rate_tolerance:.0%}); the seeded schedule of "
        f"{len(measured)} requests averages {scheduled / target - 1:+.0%} against the {target:g} "
        f"target (bound {drift_bound:.0%})")


def scheduled_rate_rps(measured: pd.DataFrame) -> float:
    """(n - 1) / (last intended send - first intended send) over measured requests."""
    intended = measured["intended_send_s"].to_numpy(float)
    span = intended.max() - intended.min()
    return float((len(intended) - 1) / span) if span > 0 else float("nan")


def achieved_concurrency(requests: pd.DataFrame, measured: pd.DataFrame) -> float:
    """Time-weighted mean requests in flight from the first to the last measured send.

    All rows count as in flight (warmup too, since they load the server); the window ends at
    the last send so the drain at the end does not pull the mean down.
    """
    start, end = float(measured["sent_s"].min()), float(measured["sent_s"].max())
    if end <= start:
        return float("nan")
    finished = _finished_s(requests)
    times = np.concatenate([requests["sent_s"].to_numpy(float), finished])
    steps = np.concatenate([np.ones(len(requests)), -np.ones(len(requests))])
    order = np.lexsort((steps, times))  # at equal times, finish (-1) before send (+1)
    times, in_flight = times[order], np.cumsum(steps[order])
    clipped = np.clip(times, start, end)
    durations = np.diff(np.append(clipped, end))
    return float((in_flight * durations).sum() / (end - start))


def achieved_rate_rps(measured: pd.DataFrame) -> float:
    """(n - 1) / (last send - first send) over measured requests."""
    sent = measured["sent_s"].to_numpy(float)
    span = sent.max() - sent.min()
    return float((len(sent) - 1) / span) if span > 0 else float("nan")


def check_dispatch_lag(measured: pd.DataFrame, ctx: CheckContext) -> CheckResult:
    """p99 of (sent - intended send) in ms, linear interpolation, under the bound."""
    if ctx.max_dispatch_lag_p99_ms is None:
        return _skipped("dispatch_lag_p99_ms", "no dispatch lag bound given")
    if len(measured) == 0:
        return _skipped("dispatch_lag_p99_ms", "no measured requests")
    lag_ms = (measured["sent_s"] - measured["intended_send_s"]).to_numpy(float) * 1000
    p99 = float(np.nanpercentile(lag_ms, 99))
    return _result("dispatch_lag_p99_ms", p99 <= ctx.max_dispatch_lag_p99_ms, round(p99, 3),
                   ctx.max_dispatch_lag_p99_ms,
                   f"p99 dispatch lag {p99:.1f} ms (bound {ctx.max_dispatch_lag_p99_ms:g} ms)")


def check_replica_shares(measured: pd.DataFrame, ctx: CheckContext) -> list[CheckResult]:
    """Each replica served R/n of the requests within replica_share_tolerance.

    Counts come from NGINX (``ctx.replica_served``) when given, else from the records'
    replica_id header. Replicas served that are not in ``ctx.replica_ids`` fail the check.
    """
    served, source = _served_counts(measured, ctx)
    replicas = list(ctx.replica_ids) or sorted(served)
    if not replicas:
        return [_skipped("replica_share", "no replica ids and no replica counts")]
    total = sum(served.values())
    results = [_replica_result(r, served.get(r, 0), len(replicas), total, source, ctx)
               for r in replicas]
    unknown = sorted(set(served) - set(replicas))
    if unknown:
        results.append(_result("replica_share:unknown", False, unknown, replicas,
                               f"{source} reports requests served by unknown replicas {unknown}"))
    return results


def _replica_result(replica: str, count: int, replica_count: int, total: int, source: str,
                    ctx: CheckContext) -> CheckResult:
    expected = total / replica_count
    deviation = abs(count / expected - 1) if expected else float("inf")
    return _result(f"replica_share:{replica}", deviation <= ctx.replica_share_tolerance,
                   round(count / total, 4) if total else None, round(1 / replica_count, 4),
                   f"{replica} served {count} of {total} requests per {source} "
                   f"(expected {expected:.1f}, {deviation:.0%} off, tolerance "
                   f"{ctx.replica_share_tolerance:.0%})")


def _served_counts(measured: pd.DataFrame, ctx: CheckContext) -> tuple[dict[str, int], str]:
    if ctx.replica_served:
        return dict(ctx.replica_served), "nginx"
    if "replica_id" not in measured.columns:
        return {}, "records"
    counts = measured["replica_id"].dropna().value_counts()
    return {str(k): int(v) for k, v in counts.items()}, "records"


def _finished_s(requests: pd.DataFrame) -> np.ndarray:
    """done_s where set, else last_event_s, else sent_s (a request that never answered)."""
    finished = requests["sent_s"].astype(float)
    for column in ("last_event_s", "done_s"):  # later columns win where set
        if column in requests.columns:
            finished = requests[column].astype(float).fillna(finished)
    return np.asarray(finished.to_numpy(float), dtype=float)


def _result(name: str, passed: bool, observed: Observed, expected: Observed,
            message: str) -> CheckResult:
    return CheckResult(check_name=name, level="scenario", passed=bool(passed),
                       observed=observed, expected=expected, message=message)


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(check_name=name, level="scenario", passed=True, skipped=True,
                       message=f"skipped: {why}")
