"""Matrix commands: ``validate``, ``plan``, ``schema``, ``catalog`` (nothing is deployed)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from benchmatrix.planner import TpPlan
    from benchmatrix.spec import Scenario


class CatalogKind(str, Enum):
    gpus = "gpus"
    models = "models"


def validate(file: Path = typer.Argument(..., help="Matrix YAML file.")) -> None:
    """Check a matrix file; print the scenario count or one error naming the file and field.

    Examples:

      benchmatrix validate matrices/nightly.yaml

      for f in matrices/*.yaml; do benchmatrix validate "$f" || exit 1; done   # in CI
    """
    from benchmatrix.expand import expand
    from benchmatrix.spec import load_matrix

    matrix = load_matrix(file)
    scenarios = expand(matrix)
    typer.echo(
        f"ok: {file}: matrix {matrix.name!r}, {len(matrix.hardware)} hardware x {len(matrix.models)} models x "
        f"{sum(len((p.concurrency or ())) + len((p.rate_rps or ())) for p in matrix.loads)} load points "
        f"-> {len(scenarios)} scenarios"
    )


def plan(
    file: Path = typer.Argument(..., help="Matrix YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per scenario) instead of a table."),
) -> None:
    """Expand the matrix and plan tensor parallelism per scenario; cells that fit nowhere are reported.

    Nothing is deployed. Each row gives TP, replicas, weights and KV cache per GPU and why every smaller TP degree was rejected (docs/planner.md).

    Examples:

      benchmatrix plan matrices/nightly.yaml

      benchmatrix plan matrices/nightly.yaml --json | jq '.[] | select(.tp_degree == null)'
    """
    from benchmatrix.errors import PlanError
    from benchmatrix.expand import expand
    from benchmatrix.planner import plan_tp
    from benchmatrix.spec import load_matrix

    matrix = load_matrix(file)
    rows: list[tuple[Scenario, TpPlan | None, str]] = []
    for scenario in expand(matrix):
        try:
            rows.append((scenario, plan_tp(scenario), ""))
        except PlanError as exc:
            rows.append((scenario, None, str(exc)))
    if as_json:
        typer.echo(json.dumps([_json_row(s, p, e) for s, p, e in rows], indent=2))
    else:
        _print_table(matrix.name, rows)


def _json_row(scenario: Scenario, plan: TpPlan | None, error: str) -> dict[str, Any]:
    return {
        "scenario_id": scenario.scenario_id,
        "name": scenario.name,
        "hardware": scenario.hardware.name,
        "gpu": scenario.gpu.key,
        "gpu_count": scenario.hardware.gpu_count,
        "model": scenario.model.name,
        "dtype": scenario.model.dtype,
        "load": scenario.load.label,
        "tp_override": scenario.tp,
        "plan": plan.model_dump(mode="json") if plan else None,
        "error": error or None,
    }


def _print_table(matrix_name: str, rows: list[tuple[Scenario, TpPlan | None, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"matrix {matrix_name}: {len(rows)} scenarios", show_lines=False)
    for column in ("scenario", "id", "dtype", "TP", "repl", "GPUs", "weights GiB/GPU", "KV GiB/GPU", "KV tok/repl", "max seqs", "notes"):
        table.add_column(column, overflow="fold")
    failed = 0
    for scenario, plan, error in rows:
        if plan is None:
            failed += 1
            table.add_row(scenario.name, scenario.scenario_id, str(scenario.model.dtype), "-", "-", "-", "-", "-", "-", "-", f"[red]no fit[/red]")
            continue
        table.add_row(
            scenario.name, scenario.scenario_id, str(scenario.model.dtype), str(plan.tp_degree), str(plan.replicas),
            f"{plan.gpus_used}/{scenario.hardware.gpu_count}", f"{plan.weights_gib_per_gpu:.1f}", f"{plan.kv_gib_per_gpu:.1f}",
            f"{plan.kv_tokens_per_replica:,}", str(plan.max_concurrent_seqs), _notes(plan),
        )
    console = Console(width=200)
    console.print(table)
    for scenario, plan, error in rows:
        if plan is None:
            console.print(f"[red]no fit[/red] {error}", markup=True, highlight=False, soft_wrap=True)
    console.print(f"{len(rows) - failed} planned, {failed} without a fitting TP degree")


def _notes(plan: TpPlan) -> str:
    parts = ["tight"] if plan.is_tight else []
    parts += [f"TP{r.tp_degree}: {r.check}" for r in plan.rejected]
    if plan.reason.startswith("tp override"):
        parts.insert(0, "override")
    return ", ".join(parts)


def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the JSON Schema here instead of stdout.")) -> None:
    """JSON Schema of the matrix file (for editor completion and validation).

    Example (VS Code YAML extension): benchmatrix schema -o .vscode/benchmatrix.schema.json, then map it to matrices/*.yaml in yaml.schemas.
    """
    from benchmatrix.spec import matrix_json_schema

    text = json.dumps(matrix_json_schema(), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")
        typer.echo(f"wrote {output}")


def catalog(kind: CatalogKind = typer.Argument(CatalogKind.gpus, help="Which catalog to list.")) -> None:
    """List the GPU or model catalog with its key facts and verification marks.

    Examples:

      benchmatrix catalog gpus

      benchmatrix catalog models
    """
    from rich.console import Console
    from rich.table import Table

    from benchmatrix.catalog import gpu_catalog, model_catalog

    if kind is CatalogKind.gpus:
        table = Table(title="GPU catalog (matrices/catalog/gpus.yaml)")
        for column in ("key", "name", "GiB usable", "HBM TB/s", "bf16 TFLOPS", "fp8 TFLOPS", "interconnect GB/s", "per node", "verified"):
            table.add_column(column)
        for g in gpu_catalog().values():
            table.add_row(g.key, g.name, f"{g.memory_gib:g}", f"{g.hbm_bandwidth_tbps:g}", f"{g.bf16_tflops:g}",
                          f"{g.fp8_tflops:g}" if g.fp8_tflops else "-", f"{g.interconnect_gbps:g}", str(g.gpus_per_node), _mark(g.verified))
    else:
        table = Table(title="Model catalog (matrices/catalog/models.yaml)")
        for column in ("key", "arch", "attn", "params B (active)", "layers", "heads/KV", "KV B/token", "max pos", "dtype", "verified"):
            table.add_column(column)
        for m in model_catalog().values():
            table.add_row(m.key, m.arch, m.attention, f"{m.total_params_b:g} ({m.active_params_b:g})", str(m.num_layers),
                          f"{m.num_attention_heads}/{m.num_kv_heads}", f"{m.kv_bytes_per_token_bf16:,}", f"{m.max_position_embeddings:,}",
                          m.native_dtype, _mark(m.verified))
    Console(width=200).print(table)


def _mark(verified: bool) -> str:
    return "yes" if verified else "[yellow]no[/yellow]"


def register(app: typer.Typer) -> None:
    """Add validate, plan, schema and catalog to the CLI."""
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("schema")(schema)
    app.command("catalog")(catalog)
