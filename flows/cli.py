"""`benchmatrix run`: the CLI face of the matrix flow.

Registered into the core CLI through the ``benchmatrix.commands`` entry point, so the core
library never imports Prefect or this package.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(name="run", help=_RUN_HELP)(run)


_RUN_HELP = """Run a matrix: plan, deploy replicas behind NGINX, load, validate, warehouse.

Runs the Prefect flow `benchmatrix-matrix` (a temporary local Prefect server is started when PREFECT_API_URL is unset). Prints the comparison table and where the warehouse and the artifacts are.

Re-running with --run-id of an earlier run resumes it: scenarios already stored as passed are skipped.

Examples:

  benchmatrix run matrices/smoke.yaml

  benchmatrix run matrices/nightly.yaml --only h200 --data-dir /srv/bench

  benchmatrix run matrices/nightly.yaml --run-id nightly-20261204T020000Z-1a2b3c
"""


def run(
    matrix: Path = typer.Argument(..., exists=True, dir_okay=False, help="Matrix YAML file."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Warehouse + artifacts root \\[default: $BENCHMATRIX_DATA_DIR or .data]."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Resume this run id."),
    only: Optional[list[str]] = typer.Option(
        None, "--only", help="Run only scenarios whose name contains this (repeatable)."),
    max_parallel: Optional[int] = typer.Option(
        None, "--max-parallel", min=1, help="Scenario threads at once \\[default: one per hardware entry]."),
    work_pools: bool = typer.Option(
        False, "--work-pools", help="Send hardware entries that name a work_pool to that pool's "
        "worker (deployment benchmatrix-host-scenario/<pool>; needs PREFECT_API_URL)."),
) -> None:
    """Run MATRIX end to end (see --help)."""
    from benchmatrix import pipeline
    from benchmatrix.spec import load_matrix

    load_matrix(matrix)  # fail fast, before Prefect starts, on a malformed file
    from flows.matrix import matrix_flow

    _interrupt_on_sigterm()
    try:
        state = matrix_flow(str(matrix), data_dir=str(data_dir) if data_dir else None,
                            run_id=run_id, only=only, max_parallel=max_parallel,
                            use_work_pools=work_pools, return_state=True)
    except KeyboardInterrupt:
        stopped = pipeline.emergency_teardown()
        typer.secho(f"interrupted: stopped {stopped} more live replica set(s)/balancer(s); "
                    "finished scenarios are kept and the run is recorded as partial "
                    "(resume it with --run-id, printed above)", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, pipeline.RunSummary):
        typer.secho(f"run failed: {summary}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    _print_summary(summary)
    raise typer.Exit(0 if summary.status == "completed" else 1)


def _interrupt_on_sigterm() -> None:
    """Make SIGTERM (and SIGINT, even when a shell started us with it ignored) raise
    KeyboardInterrupt, so replicas and NGINX are torn down instead of orphaned."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _print_summary(summary: "object") -> None:
    from rich.console import Console
    from rich.table import Table

    from benchmatrix.report_md import _cell, results_rows

    # Piped output (CI logs, `| tee`) gets a wide table instead of rich's 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 200)
    headers, rows = results_rows(summary.results)  # type: ignore[attr-defined]
    table = Table(title=f"run {summary.run_id}: {summary.status}")  # type: ignore[attr-defined]
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    console.print(summary.message)  # type: ignore[attr-defined]
    console.print(f"warehouse: {summary.warehouse_path}")  # type: ignore[attr-defined]
    console.print(f"artifacts: {summary.run_dir}")  # type: ignore[attr-defined]
    console.print(f"next: benchmatrix query hardware_comparison --warehouse {summary.warehouse_path}")  # type: ignore[attr-defined]
