"""Markdown tables for Prefect artifacts and the CLI: the plan, a scenario, a run summary.

Pure functions of typed inputs; nothing here touches Prefect, files or sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; None/NaN shown as '-'."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plan_table(planned: Sequence[Any]) -> str:
    """Plan artifact: one row per scenario with TP, replicas, memory and the reason."""
    rows = []
    for item in planned:
        s, p = item.scenario, item.plan
        if p is None:
            rows.append([s.name, "-", "-", "-", "-", "-", f"NO FIT: {item.error.replace(s.name + ': ', '', 1)}"])
            continue
        rejected = "; ".join(f"TP{r.tp_degree}: {r.reason}" for r in p.rejected)
        rows.append([s.name, p.tp_degree, p.replicas, round(p.weights_gib_per_gpu, 1),
                     round(p.kv_gib_per_gpu, 1), p.max_concurrent_seqs,
                     p.reason + (f" (rejected {rejected})" if rejected else "")])
    headers = ["scenario", "TP", "replicas", "weights GiB/GPU", "KV GiB/GPU", "max seqs", "why"]
    return "# Tensor-parallel plan\n\n" + markdown_table(headers, rows)


def _overhead(result: Any) -> str:
    """The generator's own TTFT overhead against the simulated engine's timestamps, if joined."""
    if not getattr(result, "calibrated_requests", 0):
        return "-"
    return f"{_cell(result.overhead_ttft_p50_ms)} / {_cell(result.overhead_ttft_p99_ms)}"


def scenario_markdown(outcome: Any) -> str:
    """Scenario artifact: status, plan, load figures, replica shares and failed checks."""
    s = outcome.scenario
    parts = [f"# {s.name}", f"status: **{outcome.status}**"]
    if outcome.error_message:
        parts.append(f"error: `{outcome.error_message}`")
    if outcome.plan is not None:
        parts.append(f"plan: TP{outcome.plan.tp_degree} x {outcome.plan.replicas} replicas: {outcome.plan.reason}")
    if outcome.load_result is not None:
        r = outcome.load_result
        parts.append(markdown_table(
            ["requests ok", "errors", "duration s", "client CPU s", "dispatch lag p99 ms",
             "client TTFT overhead p50/p99 ms", "client-bound"],
            [[r.num_ok, r.num_errors, r.duration_s, r.client_cpu_s, r.dispatch_lag_p99_ms,
              _overhead(r), r.is_client_bound]],
        ))
    if getattr(outcome, "metrics", None) is not None:
        m = outcome.metrics
        parts.append("## Results\n\n" + markdown_table(
            ["req/s", "out tok/s", "goodput req/s", "TTFT p50 ms", "TTFT p99 ms", "TPOT p50 ms",
             "TPOT p99 ms", "E2E p99 ms", "error rate"],
            [[m.request_throughput_rps, m.output_token_throughput_tps, m.goodput_rps, m.ttft_ms_p50,
              m.ttft_ms_p99, m.tpot_ms_p50, m.tpot_ms_p99, m.e2e_ms_p99, m.error_rate]]))
    if outcome.replica_stats:
        parts.append("## Replica shares (NGINX)\n\n" + markdown_table(
            ["replica", "requests", "share", "upstream mean ms", "upstream p99 ms", "errors"],
            [[x.replica_id, x.requests, x.share, x.mean_upstream_response_time_ms,
              x.p99_upstream_response_time_ms, x.errors]
             for x in outcome.replica_stats]))
    if outcome.checks is not None:
        failed = outcome.checks.failed
        parts.append(f"checks: {outcome.checks.summary()}" if not failed else
                     "## Failed checks\n\n" + markdown_table(
                         ["check", "observed", "expected", "message"],
                         [[c.check_name, c.observed, c.expected, c.message] for c in failed]))
    return "\n\n".join(parts)


#: Columns of the ``scenario_summary`` query shown after a run, with their display names.
RESULT_COLUMNS = {
    "scenario_name": "scenario", "scenario_status": "status", "tp_degree": "TP",
    "replica_count": "replicas", "request_count": "requests", "error_share": "errors",
    "ttft_p50_ms": "TTFT p50 ms", "ttft_p99_ms": "TTFT p99 ms", "tpot_p50_ms": "TPOT p50 ms",
    "e2e_p99_ms": "E2E p99 ms", "output_throughput_tps_per_gpu": "out tok/s/GPU",
    "goodput_rps": "goodput req/s", "cost_per_million_output_tokens_usd": "USD/M out tok",
}


def results_rows(results: pd.DataFrame | None) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the run's comparison table (from the ``scenario_summary`` query)."""
    if results is None or results.empty:
        return [], []
    shown = [c for c in RESULT_COLUMNS if c in results.columns]
    return [RESULT_COLUMNS[c] for c in shown], results[shown].astype(object).values.tolist()


def failures_table(outcomes: Sequence[Any]) -> str | None:
    """Scenarios that did not pass, with why (None when every scenario passed)."""
    rows = [[o.scenario.name, o.status, _why(o)] for o in outcomes if o.status not in ("passed", "skipped")]
    return markdown_table(["scenario", "status", "why"], rows) if rows else None


def _why(outcome: Any) -> str:
    if outcome.error_message:
        return outcome.short_error()
    if outcome.checks is not None and outcome.checks.failed:
        return "failed checks: " + ", ".join(c.check_name for c in outcome.checks.failed)
    return "-"


#: Columns of the ``run_vs_previous`` query shown in the regression artifact.
REGRESSION_COLUMNS = {
    "scenario_name": "scenario", "previous_run_id": "previous run",
    "output_throughput_change_pct": "out tok/s change %", "ttft_p99_change_pct": "TTFT p99 change %",
    "tpot_p99_change_pct": "TPOT p99 change %", "is_regression": "regression",
}


def regression_markdown(table: pd.DataFrame | None, threshold_pct: float) -> str:
    """Regression artifact: each scenario against its previous comparable result."""
    head = f"# Regressions against the previous run\n\nthreshold: worse by more than {threshold_pct:g} %"
    if table is None or table.empty:
        return head + "\n\n(no comparable scenarios in this run)"
    shown = [c for c in REGRESSION_COLUMNS if c in table.columns]
    flagged = int(table["is_regression"].astype(bool).sum()) if "is_regression" in table else 0
    body = markdown_table([REGRESSION_COLUMNS[c] for c in shown], table[shown].astype(object).values.tolist())
    return f"{head}; **{flagged} regressed**\n\n{body}"


def run_markdown(summary: Any, report_path: Path | None = None) -> str:
    """Run artifact: status line, failures with why, the comparison table, where the files are."""
    headers, rows = results_rows(summary.results)
    table = markdown_table(headers, rows) if headers else "(no results)"
    failures = failures_table(summary.outcomes)
    report = f"[HTML report]({report_path.as_uri()}): `{report_path}`" if report_path else "HTML report: none"
    return "\n\n".join(part for part in [
        f"# Run {summary.run_id}: {summary.status}", summary.message,
        "## Failed scenarios\n\n" + failures if failures else None,
        "## Results\n\n" + table, report,
        f"warehouse: `{summary.warehouse_path}`  \nartifacts: `{summary.run_dir}`",
        f"compare: `benchmatrix query hardware_comparison --warehouse {summary.warehouse_path}`",
    ] if part)
