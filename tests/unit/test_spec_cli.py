"""The validate / plan / schema / catalog commands, on their own Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmatrix.cli import spec_cmds
from benchmatrix.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    application = typer.Typer()
    spec_cmds.register(application)
    return application


def test_validate_smoke(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["validate", str(REPO / "matrices" / "smoke.yaml")])
    assert result.exit_code == 0, result.output
    assert "-> 4 scenarios" in result.output


def test_validate_raises_spec_error(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhardware: [{gpu: h100, gpu_count: 1}]\nmodels: [{name: llama-3.1-8b}]\n"
                   "loads: [{name: c, input_tokens: 1, output_tokens: 1, concurrency: 1, num_requests: 1}]\n")
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert isinstance(result.exception, SpecError)
    assert "hardware[0].gpu: unknown GPU 'h100'" in str(result.exception)


def test_plan_json_reports_no_fit_cells(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["plan", str(REPO / "matrices" / "nightly.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    failed = [r for r in rows if r["plan"] is None]
    assert failed and all("no TP degree fits" in r["error"] for r in failed)
    assert any(r["plan"] and r["plan"]["tp_degree"] > 1 for r in rows)


def test_plan_table(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["plan", str(REPO / "matrices" / "smoke.yaml")])
    assert result.exit_code == 0, result.output
    assert "h100x2/llama-3.1-8b/chat@c16" in result.output and "4 planned, 0 without" in result.output


def test_schema_to_file(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "matrix.schema.json"
    result = CliRunner().invoke(app, ["schema", "--output", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    assert schema["additionalProperties"] is False
    assert {"hardware", "models", "loads"} <= set(schema["required"])


@pytest.mark.parametrize(("kind", "needle"), [("gpus", "h200-141gb"), ("models", "deepseek-v3")])
def test_catalog_lists(app: typer.Typer, kind: str, needle: str) -> None:
    result = CliRunner().invoke(app, ["catalog", kind])
    assert result.exit_code == 0, result.output
    assert needle in result.output


def test_schema_accepts_the_shipped_matrices() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from benchmatrix.spec import matrix_json_schema

    schema = matrix_json_schema()
    for name in ("smoke.yaml", "nightly.yaml"):
        jsonschema.validate(yaml.safe_load((REPO / "matrices" / name).read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "hardware": [{"gpu": "h100", "gpu_count": 1}], "models": [], "loads": []}, schema)
