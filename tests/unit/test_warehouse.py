"""Warehouse: migrations, loads by run (idempotent, atomic), single-writer lock, queries."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmatrix.errors import WarehouseError
from benchmatrix.warehouse import Warehouse, _load, default_warehouse_path
from benchmatrix.warehouse._sql import load_migrations, sql_root
from tests.support.data_factories import make_run, make_scenario
from tests.support.data_records import FakeLoad, fabricate_requests, write_requests_parquet

REPO = Path(__file__).resolve().parents[2]
REQUIRED_QUERIES = {"hardware_comparison", "scenario_summary", "night_over_night", "regressions",
                    "pareto", "failed_checks", "runs"}


def _counts(wh: Warehouse, run_id: str) -> dict[str, int]:
    return {table: int(wh.sql(f"select count(*) as n from {table} where run_id = $r",
                              {"r": run_id}).n[0]) for table in _load.RUN_TABLES}


def test_default_path_honours_env(monkeypatch):
    monkeypatch.delenv("BENCHMATRIX_WAREHOUSE", raising=False)
    assert default_warehouse_path() == Path(".data/benchmatrix.duckdb")
    monkeypatch.setenv("BENCHMATRIX_WAREHOUSE", "/x/y.duckdb")
    assert default_warehouse_path() == Path("/x/y.duckdb")


def test_open_applies_every_migration_once(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        versions = wh.sql("select version from schema_migrations order by 1").version.tolist()
    assert versions == [m.version for m in load_migrations()]
    with Warehouse.open(path) as wh:  # reopening applies nothing new
        assert wh.migrate() == []


def test_old_warehouse_at_migration_1_upgrades_keeping_data(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute((sql_root() / "migrations" / "001_initial.sql").read_text())
    con.execute("create table schema_migrations (version integer primary key, name varchar "
                "not null, applied_at timestamptz not null default current_timestamp)")
    con.execute("insert into schema_migrations (version, name) values (1, 'initial')")
    con.execute("insert into runs (run_id, matrix_name, started_at, status) "
                "values ('old-run', 'nightly', '2026-01-01 00:00:00+00', 'completed')")
    con.execute("insert into scenarios (run_id, scenario_id, scenario_name, hardware_name, "
                "gpu_name, gpu_count, model_name, load_profile, modality, tp_degree, replicas, "
                "status) values ('old-run', 's1', 'h100x8/m/chat@c1', 'h100x8', 'H100', 8, "
                "'m', 'chat', 'text', 2, 3, 'passed')")
    con.execute("insert into requests (run_id, scenario_id, request_index, is_warmup, sent_s, "
                "first_token_s, last_event_s, completion_tokens, status) "
                "values ('old-run', 's1', 0, false, 0.0, 0.25, 1.25, 11, 'ok')")
    con.close()
    with Warehouse.open(path) as wh:
        assert wh.schema_version() == max(m.version for m in load_migrations())
        row = wh.sql("select run_id, gpus_used from scenarios").iloc[0]
        assert (row.run_id, row.gpus_used) == ("old-run", 6)  # backfilled tp x replicas
        assert wh.run_query("runs").run_id.tolist() == ["old-run"]
        summary = wh.run_query("scenario_summary").iloc[0]  # metrics backfilled by 003
        assert (summary.ttft_p50_ms, summary.tpot_p50_ms) == (250, 100)


def test_materialized_metrics_equal_the_view(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario(concurrency=4), make_scenario(concurrency=8)])
        wh.load_run(make_run("run-2", night=1), [make_scenario(concurrency=4)])
        for table_name, view_name in _load.MATERIALIZED.items():
            table = wh.sql(f"select * from {table_name} order by all")
            view = wh.sql(f"select * from {view_name} order by all")
            assert len(table) in (3, 6)  # 3 scenarios; 2 replicas each
            pd.testing.assert_frame_equal(table, view, check_dtype=False)


def test_changed_view_sql_rebuilds_materialized_tables(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.load_run(make_run(), [make_scenario()])
        good = wh.sql("select * from scenario_metrics")
        wh.sql("update scenario_metrics set ttft_p50_ms = -1")  # as if built by older SQL
        wh.sql("update materialized_state set views_sha256 = 'older view sql'")
    with Warehouse.open(path) as wh:
        pd.testing.assert_frame_equal(wh.sql("select * from scenario_metrics"), good)
        wh.sql("update scenario_metrics set ttft_p50_ms = -1")
    with Warehouse.open(path) as wh:  # same SQL: not rebuilt
        assert wh.sql("select ttft_p50_ms from scenario_metrics").ttft_p50_ms[0] == -1


def test_newer_warehouse_than_code_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("insert into schema_migrations (version, name) values (999, 'future')")
    con.close()
    with pytest.raises(WarehouseError, match="schema version 999"):
        Warehouse.open(path)


def test_reload_replaces_the_run(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        run = make_run()
        wh.load_run(run, [make_scenario(concurrency=4), make_scenario(concurrency=8)])
        first = _counts(wh, run.run_id)
        wh.load_run(run, [make_scenario(concurrency=4), make_scenario(concurrency=8)])
        assert _counts(wh, run.run_id) == first
        wh.load_run(run, [make_scenario(concurrency=4)])
        assert _counts(wh, run.run_id)["scenarios"] == 1
        assert first["requests"] == 2 * 208


def test_load_from_parquet_path(tmp_path):
    path = write_requests_parquet(fabricate_requests(FakeLoad(num_requests=50)),
                                  tmp_path / "requests.parquet")
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario(requests=None, requests_path=path)])
        events = wh.sql("select event_times_s, event_tokens from requests "
                        "where request_index = 10").iloc[0]
        assert len(events.event_times_s) == len(events.event_tokens) == 9
        assert _counts(wh, "run-1")["requests"] == 58


def _loaded_twice_then_broken(wh, breaker):
    run = make_run()
    wh.load_run(run, [make_scenario(concurrency=4)])
    before = _counts(wh, run.run_id)
    breaker(run)
    assert _counts(wh, run.run_id) == before
    assert wh.sql("select scenario_name from scenarios").scenario_name.tolist() == [
        "h100x2/llama-3.1-8b/chat@c4"]


def test_failed_load_keeps_previous_state(tmp_path):
    def breaker(run):
        broken = make_scenario(concurrency=16, requests=None,
                               requests_path=tmp_path / "missing.parquet")
        with pytest.raises(WarehouseError, match="missing.parquet"):
            wh.load_run(run, [make_scenario(concurrency=8), broken])

    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        _loaded_twice_then_broken(wh, breaker)


def test_interrupted_load_keeps_previous_state(tmp_path, monkeypatch):
    real = _load.insert_scenario
    calls = []

    def interrupt_second(con, run_id, load):
        calls.append(load.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(con, run_id, load)

    def breaker(run):
        monkeypatch.setattr(_load, "insert_scenario", interrupt_second)
        with pytest.raises(KeyboardInterrupt):
            wh.load_run(run, [make_scenario(concurrency=8), make_scenario(concurrency=16)])
        monkeypatch.setattr(_load, "insert_scenario", real)

    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        _loaded_twice_then_broken(wh, breaker)


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)


def test_process_killed_mid_load_keeps_previous_state(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.load_run(make_run(), [make_scenario(concurrency=4)])
        before = _counts(wh, "run-1")
    crashed = _python(f"""
        import os
        from benchmatrix.warehouse import Warehouse, _load
        from tests.support.data_factories import make_run, make_scenario
        real = _load.insert_scenario
        def crash_after_first(con, run_id, load):
            real(con, run_id, load)
            os._exit(9)  # dies mid-transaction: no commit, no rollback, no close
        _load.insert_scenario = crash_after_first
        wh = Warehouse.open({str(path)!r})
        wh.load_run(make_run(), [make_scenario(concurrency=8), make_scenario(concurrency=16)])
    """)
    assert crashed.returncode == 9, crashed.stderr
    with Warehouse.open(path) as wh:
        assert _counts(wh, "run-1") == before


def test_second_writer_process_gets_a_clear_message(tmp_path):
    path = tmp_path / "locked.duckdb"
    with Warehouse.open(path):
        other = _python(f"""
            from benchmatrix.errors import WarehouseError
            from benchmatrix.warehouse import Warehouse
            try:
                Warehouse.open({str(path)!r})
            except WarehouseError as exc:
                print(exc)
                print("transient:", exc.transient)
        """)
    message = other.stdout
    assert "transient: True" in message  # another process holds it: worth another try
    assert "Traceback" not in other.stderr, other.stderr
    assert str(path) in message and "locked" in message
    assert f"process {os.getpid()}" in message
    assert "BENCHMATRIX_WAREHOUSE" in message


def test_completed_scenarios_are_passed_ones_of_the_matrix(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        ok, bad = make_scenario(concurrency=4), make_scenario(concurrency=8,
                                                              status="failed_validation")
        wh.load_run(make_run(), [ok, bad])
        wh.load_run(make_run("other", matrix_name="smoke"), [make_scenario(concurrency=16)])
        assert wh.completed_scenarios("nightly") == {ok.scenario_id}


def test_export_run_writes_each_table(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario()])
        files = wh.export_run("run-1", tmp_path / "export")
        assert {f.name for f in files} == {f"{t}.parquet" for t in _load.RUN_TABLES}
        assert len(duckdb.sql(f"select * from '{tmp_path}/export/requests.parquet'").df()) == 208
        with pytest.raises(WarehouseError, match="not in"):
            wh.export_run("nope", tmp_path / "x")


def test_every_named_query_runs_with_its_defaults(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        for night in range(3):
            wh.load_run(make_run(f"r{night}", night=night), [make_scenario(concurrency=4)])
        names = {q.name for q in wh.list_queries()}
        assert REQUIRED_QUERIES <= names
        for name in sorted(names):
            wh.run_query(name)
        assert wh.run_query("runs", {"since": "2026-11-02T00:00:00Z"}).run_id.tolist() == [
            "r2", "r1"]


def test_query_parameters_are_bound_not_spliced(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario()])
        assert len(wh.run_query("scenario_summary", {"model": "llama-3.1-8b"})) == 1
        assert wh.run_query("scenario_summary", {"model": "x' or '1'='1"}).empty
        with pytest.raises(WarehouseError, match="no parameter colour"):
            wh.run_query("scenario_summary", {"colour": "red"})
        with pytest.raises(WarehouseError, match="known queries"):
            wh.run_query("drop_everything")


def test_read_only_open_of_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(WarehouseError, match="does not exist"):
        Warehouse.open(tmp_path / "none.duckdb", read_only=True)


def test_load_scenarios_replaces_only_those_scenarios(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        run = make_run(status="running")
        c4, c8 = make_scenario(concurrency=4), make_scenario(concurrency=8)
        wh.load_scenarios(run, [c4])
        wh.load_scenarios(run, [c8])
        wh.load_scenarios(run, [make_scenario(concurrency=4, status="failed_validation")])
        statuses = wh.sql("select scenario_name, status from scenarios order by 1")
        assert statuses.values.tolist() == [["h100x2/llama-3.1-8b/chat@c4", "failed_validation"],
                                            ["h100x2/llama-3.1-8b/chat@c8", "passed"]]
        assert _counts(wh, run.run_id)["requests"] == 2 * 208
        assert _counts(wh, run.run_id)["scenario_metrics"] == 2
        assert wh.passed_scenarios(run.run_id) == {c8.scenario_id}
        wh.upsert_run(make_run(status="partial"))
        assert wh.sql("select status from runs").status.tolist() == ["partial"]
        assert _counts(wh, run.run_id)["scenarios"] == 2
