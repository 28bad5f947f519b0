"""Bulk loading: several request files in one INSERT, out-of-order writes, stable exports."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from benchmatrix.errors import WarehouseError
from benchmatrix.warehouse import Warehouse, _load
from tests.support.data_factories import make_run, make_scenario
from tests.support.data_records import FakeLoad, fabricate_requests, write_requests_parquet


def _file_scenarios(tmp_path, concurrencies, num_requests=40):
    loads = []
    for c in concurrencies:
        frame = fabricate_requests(FakeLoad(concurrency=c, num_requests=num_requests, seed=c))
        path = write_requests_parquet(frame, tmp_path / f"c{c}.parquet")
        loads.append(make_scenario(concurrency=c, requests=None, requests_path=path))
    return loads


def _stored(wh, scenario_id):
    return wh.sql("select * exclude (run_id, scenario_id) from requests "
                  "where scenario_id = $s order by request_index", {"s": scenario_id})


def test_request_files_of_a_run_load_as_if_one_by_one(tmp_path):
    loads = _file_scenarios(tmp_path, (4, 8, 16))
    with Warehouse.open(tmp_path / "batch.duckdb") as batch, \
            Warehouse.open(tmp_path / "single.duckdb") as single:
        batch.load_run(make_run(), loads)            # one INSERT over the three files
        for load in loads:                           # one file per load: the single-file path
            single.load_scenarios(make_run(), [load])
        for load in loads:
            expected = pq.read_table(load.requests_path).num_rows
            assert len(_stored(batch, load.scenario_id)) == expected
            assert _stored(batch, load.scenario_id).equals(_stored(single, load.scenario_id))
        metrics = "select * from scenario_metrics order by scenario_id"
        assert batch.sql(metrics).equals(single.sql(metrics))


def test_request_files_with_different_columns(tmp_path):
    full, thin = _file_scenarios(tmp_path, (4, 8))
    table = pq.read_table(thin.requests_path).drop_columns(["replica_id", "event_tokens"])
    pq.write_table(table, thin.requests_path, row_group_size=16)  # several row groups too
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [full, thin])
        nulls = wh.sql("select scenario_id, count(replica_id) as replicas, "
                       "count(event_tokens) as tokens, count(*) as n from requests "
                       "group by 1").set_index("scenario_id")
        assert nulls.loc[thin.scenario_id].tolist() == [0, 0, table.num_rows]
        assert nulls.loc[full.scenario_id, "replicas"] == nulls.loc[full.scenario_id, "n"] > 0


def test_a_bad_file_among_several_names_its_scenario_and_rolls_back(tmp_path):
    good, bad = _file_scenarios(tmp_path, (4, 8))
    pq.write_table(pq.read_table(bad.requests_path).drop_columns(["status"]), bad.requests_path)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        with pytest.raises(WarehouseError, match=r"chat@c8: .* lacks request column\(s\)"):
            wh.load_run(make_run(), [good, bad])
        assert wh.sql("select count(*) as n from requests").n[0] == 0


def test_a_scenario_twice_in_one_run_is_refused(tmp_path):
    load = make_scenario(concurrency=4)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        with pytest.raises(WarehouseError, match="more than once"):
            wh.load_run(make_run(), [load, load])
        wh.load_scenarios(make_run(), [load, load])  # incremental: the last one wins
        assert wh.sql("select count(*) as n from scenarios").n[0] == 1


def _insertion_order(wh) -> bool:
    return wh.sql("select current_setting('preserve_insertion_order') as v").v[0]


def test_loads_restore_the_insertion_order_setting(tmp_path):
    good, bad = _file_scenarios(tmp_path, (4, 8))
    bad.requests_path.unlink()
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [good])
        assert _insertion_order(wh)
        with pytest.raises(WarehouseError):
            wh.load_run(make_run(), [good, bad])
        assert _insertion_order(wh)


def test_bulk_load_turns_insertion_order_off_inside(tmp_path):
    con = duckdb.connect()
    with _load.bulk_load(con):
        assert not con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
    assert con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]


def test_export_sorts_requests(tmp_path):
    loads = _file_scenarios(tmp_path, (4, 8), num_requests=300)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), loads)
        wh.export_run("run-1", tmp_path / "out")
    keys = duckdb.sql(f"select scenario_id, request_index "
                      f"from '{tmp_path}/out/requests.parquet'").fetchall()
    assert keys == sorted(keys) and len(keys) == sum(
        pq.read_table(load.requests_path).num_rows for load in loads)
