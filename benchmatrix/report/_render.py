"""Gather a run's data through the named queries and render the HTML report."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from benchmatrix.errors import WarehouseError
from benchmatrix.report._svg import Series, box_chart, line_chart, share_chart
from benchmatrix.report._template import TEMPLATE
from benchmatrix.warehouse import Warehouse

SUMMARY_COLUMNS = (
    "scenario_name", "scenario_status", "request_count", "error_share", "ttft_p50_ms",
    "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "e2e_p99_ms", "output_throughput_tps",
    "output_throughput_tps_per_gpu", "goodput_rps", "cost_per_million_output_tokens_usd",
)
PLAN_COLUMNS = ("scenario_name", "gpu_name", "gpu_count", "tp_degree", "replica_count",
                "gpus_used", "scenario_status", "plan_reason")
CHECK_COLUMNS = ("scenario_name", "check_name", "check_level", "observed_value",
                 "expected_value", "check_message")
REGRESSION_COLUMNS = ("scenario_name", "previous_run_id", "output_throughput_change_pct",
                      "ttft_p99_change_pct", "tpot_p99_change_pct", "is_regression")


def write_report(warehouse: Warehouse, run_id: str | None, path: str | Path) -> Path:
    """Render the report of ``run_id`` (None: the latest run) to ``path``; returns the path."""
    import jinja2

    run_id = run_id or warehouse.latest_run_id()
    if run_id is None:
        raise WarehouseError(f"{warehouse.path} holds no runs yet: nothing to report")
    run = warehouse.run_query("runs", {"limit": 1_000_000})
    run = run[run["run_id"] == run_id]
    if run.empty:
        raise WarehouseError(f"run {run_id!r} is not in {warehouse.path} (see `benchmatrix runs`)")
    params = {"run_id": run_id}
    context = {
        "run": run.iloc[0].to_dict(),
        "counts": _counts(run.iloc[0]),
        "throughput_plots": _throughput_plots(warehouse.run_query("sweep_points", params)),
        **_latency_plots(warehouse.run_query("latency_samples", params)),
        "replica_plot": _replica_plot(warehouse.run_query("replica_load", params)),
        "summary_table": _table(warehouse.run_query("scenario_summary", params), SUMMARY_COLUMNS),
        "plan_table": _table(warehouse.run_query("plan", params), PLAN_COLUMNS),
        "checks_table": _table(warehouse.run_query("failed_checks", params), CHECK_COLUMNS,
                               empty="No failed checks."),
        "regression_table": _table(_with_previous(warehouse.run_query("run_vs_previous",
                                                                      params)),
                                   REGRESSION_COLUMNS, bad="is_regression",
                                   empty="No earlier comparable results."),
    }
    html = jinja2.Environment(autoescape=True).from_string(TEMPLATE).render(**context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _counts(run: pd.Series) -> str:
    names = ("passed", "failed_validation", "failed", "skipped")
    return ", ".join(f"{int(run[f'{n}_count'])} {n}" for n in names if run[f"{n}_count"])


def _throughput_plots(points: pd.DataFrame) -> list[str]:
    """One chart per model: a curve per (hardware, load profile) sweep."""
    plots = []
    for model, frame in points.groupby("model_name", sort=True):
        series = []
        for (hardware, profile), sweep in frame.groupby(["hardware_name", "load_profile"]):
            sweep = sweep.sort_values(["concurrency", "rate_rps"])
            series.append(Series(f"{hardware} {profile}", sweep["tpot_p50_ms"].tolist(),
                                 sweep["output_throughput_tps_per_gpu"].tolist(),
                                 [_load_label(r) for r in sweep.itertuples()]))
        plots.append(line_chart("throughput_latency", f"{model}: throughput vs latency", series,
                                "median TPOT (ms)", "output tokens/s per GPU"))
    return plots


def _load_label(row: Any) -> str:
    if pd.notna(row.concurrency):
        return f"c{int(row.concurrency)}"
    return f"{row.rate_rps:g} rps" if pd.notna(row.rate_rps) else ""


def _latency_plots(samples: pd.DataFrame) -> dict[str, str | None]:
    if samples.empty:
        return {"ttft_plot": None, "tpot_plot": None}
    groups = sorted(samples.groupby("scenario_name"), key=lambda group: natural_key(group[0]))
    return {
        "ttft_plot": box_chart("ttft_distribution", "TTFT per scenario",
                               [(n, g["ttft_ms"].dropna().tolist()) for n, g in groups],
                               "TTFT (ms): box p25-p75, line p50, whiskers p1-p99"),
        "tpot_plot": box_chart("tpot_distribution", "TPOT per scenario",
                               [(n, g["tpot_ms"].dropna().tolist()) for n, g in groups],
                               "TPOT (ms, first token excluded)"),
    }


def _replica_plot(load: pd.DataFrame) -> str | None:
    """Shares per replica; NGINX/engine counts where loaded, else the client's."""
    if load.empty:
        return None
    preferred = load[load["count_source"] != "client"]
    shown = load[~load["scenario_name"].isin(preferred["scenario_name"])]
    rows = sorted(pd.concat([preferred, shown]).itertuples(),
                  key=lambda r: natural_key(f"{r.scenario_name} {r.replica_id}"))
    return share_chart("replica_share", "Requests per replica",
                       [(f"{r.scenario_name} {r.replica_id} ({r.count_source})",
                         float(r.request_share), float(r.expected_share)) for r in rows])


def _with_previous(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["previous_run_id"].notna()]


def _table(frame: pd.DataFrame, columns: tuple[str, ...], bad: str | None = None,
           empty: str = "Nothing to show.") -> str:
    if frame.empty:
        return f'<p class="empty">{escape(empty)}</p>'
    shown = [c for c in columns if c in frame.columns]
    head = "".join(f"<th>{escape(c)}</th>" for c in shown)
    rows = []
    for record in frame.to_dict("records"):
        css = ' class="bad"' if bad and record.get(bad) is True else ""
        cells = "".join(_cell(record[c]) for c in shown)
        rows.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def natural_key(text: str) -> list[Any]:
    """Sort key reading digit runs as numbers: 'x@c4' before 'x@c16'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        shown = "" if pd.isna(value) else f"{0.0 if abs(value) < 1e-9 else value:,.4g}"
        return f'<td class="num">{shown}</td>'
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape('' if value is None or value is pd.NA else str(value))}</td>"
