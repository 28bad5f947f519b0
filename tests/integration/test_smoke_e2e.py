"""The whole chain on the embedded default: smoke matrix -> real Prefect flow run -> real NGINX
in front of real simulated replicas on loopback -> load -> GE checks -> a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke_run(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    from flows.matrix import matrix_flow

    data_dir = tmp_path_factory.mktemp("smoke-data")
    state = matrix_flow(str(REPO_ROOT / "matrices" / "smoke.yaml"), data_dir=str(data_dir),
                        return_state=True)
    return state, data_dir


def _con(data_dir: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(data_dir / "benchmatrix.duckdb"), read_only=True)


def test_flow_completes_and_every_scenario_passes(smoke_run: tuple) -> None:
    state, data_dir = smoke_run
    summary = state.result(raise_on_failure=False)
    assert state.is_completed(), summary
    assert summary.status == "completed"
    with _con(data_dir) as con:
        statuses = con.execute("select status, count(*) from scenarios group by 1").fetchall()
        run_status = con.execute("select status from runs").fetchall()
    assert statuses == [("passed", 4)]
    assert run_status == [("completed",)]


def test_one_row_per_request_sent(smoke_run: tuple) -> None:
    state, data_dir = smoke_run
    summary = state.result(raise_on_failure=False)
    sent = {o.scenario.scenario_id: o.load_result.num_records for o in summary.outcomes}
    with _con(data_dir) as con:
        stored = dict(con.execute(
            "select scenario_id, count(*) from requests group by 1").fetchall())
        dupes = con.execute(
            "select count(*) from (select scenario_id, request_index from requests "
            "group by all having count(*) > 1)").fetchone()[0]
    assert stored == sent
    assert dupes == 0
    # 60 measured + 4 warmup per load point, as smoke.yaml says
    assert set(stored.values()) == {64}


def test_generator_calibrated_itself_against_the_simulated_replicas(smoke_run: tuple) -> None:
    state, _ = smoke_run
    for outcome in state.result(raise_on_failure=False).outcomes:
        result = outcome.load_result
        assert result.calibrated_requests == result.num_ok, outcome.scenario.name  # warmup excluded
        assert result.overhead_ttft_p50_ms is not None and result.overhead_ttft_p50_ms >= 0


def test_each_replica_served_about_its_share(smoke_run: tuple) -> None:
    _, data_dir = smoke_run
    with _con(data_dir) as con:
        rows = con.execute(
            "select s.scenario_name, r.replica_id, r.requests, s.replicas, "
            "sum(r.requests) over (partition by r.scenario_id) as total "
            "from replica_stats r join scenarios s using (run_id, scenario_id) "
            "where r.source = 'nginx'").fetchall()
    assert len(rows) == 8  # 4 scenarios x 2 replicas
    for name, replica, served, replicas, total in rows:
        expected = total / replicas
        assert abs(served - expected) <= 0.25 * expected, (name, replica, served, expected)


def test_nginx_engine_and_client_agree_on_who_served_what(smoke_run: tuple) -> None:
    """Three independent counts per replica: NGINX's log, the engine's /metrics counter and the
    x-benchmatrix-replica header the client saw (warmup included in all three)."""
    _, data_dir = smoke_run
    with _con(data_dir) as con:
        counts = con.execute(
            "select scenario_id, replica_id, source, requests from replica_stats").fetchall()
        client = con.execute(
            "select scenario_id, replica_id, count(*) from requests where status = 'ok' "
            "group by all").fetchall()
    by_source: dict[str, dict[tuple[str, str], int]] = {"client": {}}
    for scenario_id, replica_id, source, requests in counts:
        by_source.setdefault(source, {})[(scenario_id, replica_id)] = requests
    for scenario_id, replica_id, requests in client:
        by_source["client"][(scenario_id, replica_id)] = requests
    assert len(by_source["nginx"]) == 8
    assert by_source["nginx"] == by_source["engine"] == by_source["client"]


def test_checks_are_stored_and_passed(smoke_run: tuple) -> None:
    _, data_dir = smoke_run
    with _con(data_dir) as con:
        failed = con.execute("select count(*) from checks where not passed").fetchone()[0]
        total = con.execute("select count(*) from checks").fetchone()[0]
    assert total >= 4 * 10
    assert failed == 0


def test_rerunning_the_same_run_id_skips_and_never_duplicates(smoke_run: tuple) -> None:
    from flows.matrix import matrix_flow

    state, data_dir = smoke_run
    run_id = state.result(raise_on_failure=False).run_id
    with _con(data_dir) as con:
        before = con.execute("select count(*) from requests").fetchone()[0]
        started = con.execute("select started_at from runs").fetchone()[0]
    again = matrix_flow(str(REPO_ROOT / "matrices" / "smoke.yaml"), data_dir=str(data_dir),
                        run_id=run_id, return_state=True)
    assert again.is_completed()
    assert again.result(raise_on_failure=False).outcomes == ()  # all four already passed
    with _con(data_dir) as con:
        after = con.execute("select count(*) from requests").fetchone()[0]
        runs = con.execute("select started_at, status from runs").fetchall()
    assert after == before
    assert runs == [(started, "completed")]  # one row, and the resumed run keeps its first start
