"""`benchmatrix query/sql/runs/export/report` against a sample warehouse."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from benchmatrix.cli import data_cmds
from tests.support.data_warehouse import build_sample_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_sample_warehouse(tmp_path_factory.mktemp("cli") / "w.duckdb")


@pytest.fixture
def cli(warehouse, monkeypatch):
    monkeypatch.setenv("BENCHMATRIX_WAREHOUSE", str(warehouse))
    app = typer.Typer()
    data_cmds.register(app)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=True)
        return result

    return invoke


def test_query_list_names_queries_and_params(cli):
    out = cli("query", "--list").output
    assert "hardware_comparison" in out and "params: model=None, since=None" in out


def test_query_json_with_model_filter(cli):
    result = cli("query", "hardware_comparison", "--model", "llama-3.1-8b", "--format", "json")
    rows = json.loads(result.output)
    assert {r["hardware_name"] for r in rows} == {"h100x2", "a100x2"}
    assert "/" in rows[0]["scenario_name"]  # not escaped as \/


def test_query_csv_and_parquet(cli, tmp_path):
    assert cli("query", "runs", "--format", "csv").output.startswith("run_id,")
    out = tmp_path / "f.parquet"
    cli("query", "failed_checks", "--run", "night-1", "--format", "parquet", "--output", str(out))
    assert pd.read_parquet(out).check_name.tolist() == ["error_share"]


def test_query_with_unknown_parameter_is_an_error(cli):
    result = cli("query", "runs", "--model", "x")
    assert result.exit_code != 0
    assert "has no parameter model" in str(result.exception)


def test_sql_and_runs_tables(cli):
    out = cli("sql", "select count(*) as n from scenarios").output
    assert "13" in out
    runs = cli("runs").output
    assert "night-1" in runs and "night-0" in runs


def test_export_and_report(cli, tmp_path):
    out = cli("export", "night-0", str(tmp_path / "export")).output
    assert "requests.parquet" in out
    report = tmp_path / "r.html"
    assert cli("report", "--output", str(report)).exit_code == 0
    assert 'data-plot="throughput_latency"' in report.read_text()


def test_missing_warehouse_says_what_to_do(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMATRIX_WAREHOUSE", str(tmp_path / "none.duckdb"))
    result = cli("runs")
    assert "no warehouse at" in str(result.exception)
