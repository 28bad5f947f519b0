"""Data commands: query, sql, runs, export, report (the DuckDB warehouse side of the CLI).

Heavy imports (duckdb, pandas, the report renderer) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    import pandas as pd

    from benchmatrix.warehouse import Warehouse

FORMATS = ("table", "csv", "json", "parquet")

_WAREHOUSE_HELP = "DuckDB file (default: $BENCHMATRIX_WAREHOUSE or ./.data/benchmatrix.duckdb)."
WarehouseOption = typer.Option(None, "--warehouse", "-w", help=_WAREHOUSE_HELP)
FormatOption = typer.Option("table", "--format", "-f", help="table, csv, json or parquet.")
OutputOption = typer.Option(None, "--output", "-o", help="Write here instead of stdout.")


def register(app: typer.Typer) -> None:
    """Add query, sql, runs, export and report to ``app``."""
    app.command("query")(query)
    app.command("sql")(sql)
    app.command("runs")(runs)
    app.command("export")(export)
    app.command("report")(report)


def query(
    name: Optional[str] = typer.Argument(None, help="Named query (see --list)."),
    list_: bool = typer.Option(False, "--list", help="List the named queries and parameters."),
    model: Optional[str] = typer.Option(None, "--model", help="Only this model (query param)."),
    since: Optional[str] = typer.Option(None, "--since", help="Runs started at/after (ISO time)."),
    run: Optional[str] = typer.Option(None, "--run", help="This run id (query param run_id)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Any parameter as NAME=VALUE."),
    format_: str = FormatOption,
    output: Optional[Path] = OutputOption,
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Run a named query from warehouse/queries, e.g. `query hardware_comparison --model X`.

    Examples:

      benchmatrix query --list

      benchmatrix query hardware_comparison --model llama-3.1-8b

      benchmatrix query regressions -p threshold_pct=5 --format csv -o regressions.csv

      benchmatrix query scenario_summary --run smoke-20261204T221922Z-fe4be7 --format json
    """
    with _open(warehouse) as wh:
        if list_ or name is None:
            _print_query_list(wh)
            return
        params = _parse_params(param)
        params.update({k: v for k, v in (("model", model), ("since", since), ("run_id", run))
                       if v is not None})
        _emit(wh.run_query(name, params), format_, output)


def sql(
    text: str = typer.Argument(..., help="Any SQL; tables and stg_/int_/mart views are all here."),
    format_: str = FormatOption,
    output: Optional[Path] = OutputOption,
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Run ad-hoc SQL against the warehouse.

    Example: benchmatrix sql "select scenario_name, ttft_p99_ms, output_throughput_tps_per_gpu from latest_results order by 3 desc"
    """
    with _open(warehouse) as wh:
        _emit(wh.sql(text), format_, output)


def runs(
    since: Optional[str] = typer.Option(None, "--since", help="Runs started at/after (ISO time)."),
    format_: str = FormatOption,
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """List loaded runs, newest first, with scenario counts by status.

    Example: benchmatrix runs --since 2026-12-01
    """
    with _open(warehouse) as wh:
        _emit(wh.run_query("runs", {"since": since}), format_, None)


def export(
    run_id: str = typer.Argument(..., help="Run to export."),
    directory: Path = typer.Argument(..., help="Directory for one Parquet file per table."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Export one run's raw rows (runs, scenarios, requests, replica_stats, checks) to Parquet.

    Example: benchmatrix export nightly-20261204T020000Z-1a2b3c exports/
    """
    with _open(warehouse) as wh:
        for path in wh.export_run(run_id, directory):
            typer.echo(str(path))


def report(
    run: Optional[str] = typer.Argument(None, help="Run id (default: the latest run)."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Write a self-contained HTML report (inline SVG plots, works offline).

    Examples:

      benchmatrix report                       # the latest run

      benchmatrix report RUN_ID --output night.html
    """
    from benchmatrix.report import write_report

    with _open(warehouse) as wh:
        typer.echo(str(write_report(wh, run, output)))


def _open(path: Optional[Path]) -> Warehouse:
    from benchmatrix.errors import WarehouseError
    from benchmatrix.warehouse import Warehouse, default_warehouse_path

    path = path or default_warehouse_path()
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: load a run first (benchmatrix run MATRIX), or pass "
            "--warehouse / set BENCHMATRIX_WAREHOUSE"
        )
    return Warehouse.open(path)


def _print_query_list(wh: Warehouse) -> None:
    for named in wh.list_queries():
        params = ", ".join(f"{k}={v!r}" for k, v in named.defaults.items()) or "no parameters"
        typer.echo(f"{named.name}\n    {named.description}\n    params: {params}")


def _parse_params(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs; values that read as int, float, true/false or null are typed."""
    from benchmatrix.errors import WarehouseError

    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise WarehouseError(f"--param {item!r}: expected NAME=VALUE")
        params[key.strip()] = _typed(raw.strip())
    return params


def _typed(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _emit(frame: pd.DataFrame, format_: str, output: Optional[Path]) -> None:
    from benchmatrix.errors import WarehouseError

    if format_ not in FORMATS:
        raise WarehouseError(f"--format {format_!r}: choose one of {', '.join(FORMATS)}")
    if format_ == "parquet":
        if output is None:
            raise WarehouseError("--format parquet needs --output FILE")
        frame.to_parquet(output, index=False)
        typer.echo(str(output))
    elif format_ == "csv":
        _write_text(frame.to_csv(index=False), output)
    elif format_ == "json":
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        _write_text(json.dumps(records, indent=1) + "\n", output)
    elif output is not None:
        _write_text(frame.to_string(index=False) + "\n", output)
    else:
        _print_table(frame)


def _write_text(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(str(output))


def _print_table(frame: pd.DataFrame) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "if"
        table.add_column(str(column), justify="right" if numeric else "left")
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    for row in rows:
        table.add_row(*row)
    # Wide results scroll rather than squeeze every column into "…"
    widths = [max([len(str(c)), *(len(r[i]) for r in rows)]) for i, c in enumerate(frame.columns)]
    console = Console()
    console.width = max(console.width, sum(widths) + 3 * len(widths) + 1)
    console.print(table)
    typer.echo(f"{len(frame)} row(s)")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)
