"""Prefect-native operation on loopback: a real `prefect server` (127.0.0.1, free port), process
work pools with one worker each (own sessions, stopped at the end), `prefect deploy --all` of the
repository's prefect.yaml, and a matrix whose two hardware entries run on two pools while one
process (the matrix flow) writes the one warehouse."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT
from tests.support.flow_server import PREFECT, LoopbackPrefect

pytestmark = pytest.mark.integration

POOLS = ("bm-test-pool-a", "bm-test-pool-b")
MATRIX = REPO_ROOT / "matrices" / "tests" / "flows-pools.yaml"


@pytest.fixture(scope="module")
def prefect_loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackPrefect]:
    server = LoopbackPrefect(tmp_path_factory.mktemp("prefect-loopback"))
    try:
        server.start_server()
        setup = server.run([sys.executable, "-m", "tests.support.flow_setup", "benchmatrix",
                            "sim-pool", *POOLS, "--deploy-to", *POOLS])
        assert setup.returncode == 0, setup.stderr[-3000:]
        for pool in POOLS:
            server.start_worker(pool)
        yield server
    finally:
        server.stop()


def _client_call(server: LoopbackPrefect, code: str) -> str:
    """Run ``code`` with a sync client named ``c`` against the loopback server; return stdout."""
    script = ("from prefect.client.orchestration import get_client\n"
              "with get_client(sync_client=True) as c:\n" + "".join(f"    {line}\n" for line in code.splitlines()))
    done = server.run([sys.executable, "-c", script], timeout_s=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_prefect_deploy_all_creates_the_nightly_on_demand_and_scenario_deployments(
        prefect_loopback: LoopbackPrefect) -> None:
    done = prefect_loopback.run([*PREFECT, "--no-prompt", "deploy", "--all"], timeout_s=120)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    out = _client_call(prefect_loopback, (
        "for d in sorted(c.read_deployments(), key=lambda d: d.name):\n"
        "    crons = [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]\n"
        "    print(d.name, d.work_pool_name, d.entrypoint, d.parameters.get('matrix_path'), crons)"))
    lines = set(out.strip().splitlines())
    assert ("nightly benchmatrix flows/matrix.py:matrix_flow matrices/nightly.yaml "
            "[('0 2 * * *', 'UTC')]") in lines
    assert "on-demand benchmatrix flows/matrix.py:matrix_flow matrices/smoke.yaml []" in lines
    assert "sim-pool sim-pool flows/scenario.py:host_scenario_flow None []" in lines


def test_hardware_entries_run_on_their_pools_and_land_in_one_warehouse(
        prefect_loopback: LoopbackPrefect, tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-data"
    done = prefect_loopback.run([str(Path(sys.executable).parent / "benchmatrix"), "run", str(MATRIX),
                                 "--work-pools", "--data-dir", str(data_dir)], timeout_s=300)
    logs = "\n".join(prefect_loopback.log_tail(f"worker-{p}") for p in POOLS)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + logs
    with duckdb.connect(str(data_dir / "benchmatrix.duckdb"), read_only=True) as con:
        scenarios = con.execute("select scenario_name, status from scenarios order by 1").fetchall()
        requests = dict(con.execute("select scenario_id, count(*) from requests group by 1").fetchall())
        runs = con.execute("select status from runs").fetchall()
    assert scenarios == [("host-a/llama-3.1-8b/chat@c2", "passed"), ("host-b/llama-3.1-8b/chat@c2", "passed")]
    assert sorted(requests.values()) == [18, 18] and runs == [("completed",)]
    out = _client_call(prefect_loopback, (
        "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName\n"
        "names = ['host-a/llama-3.1-8b/chat@c2', 'host-b/llama-3.1-8b/chat@c2']\n"
        "for r in c.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))):\n"
        "    print(r.name, r.work_pool_name, r.state.name, r.parent_task_run_id is not None)"))
    assert set(out.strip().splitlines()) == {
        f"host-a/llama-3.1-8b/chat@c2 {POOLS[0]} Completed True",
        f"host-b/llama-3.1-8b/chat@c2 {POOLS[1]} Completed True",
    }


def test_cancelling_a_running_scenario_tears_down_its_replicas_and_nginx(
        prefect_loopback: LoopbackPrefect, tmp_path: Path) -> None:
    import json
    import time

    from benchmatrix.replicas.registry import process_state

    done = prefect_loopback.run([sys.executable, "-m", "tests.support.flow_cancel",
                                 str(REPO_ROOT / "matrices" / "tests" / "flows-cancel.yaml"),
                                 str(tmp_path / "data")], timeout_s=240)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + prefect_loopback.log_tail(f"worker-{POOLS[0]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["state"] == "Cancelled" and len(facts["replica_pids"]) == 2
    pids = [*facts["replica_pids"], facts["nginx_pid"]]
    deadline = time.monotonic() + 20
    while any(process_state(p) not in (None, "Z") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [p for p in pids if process_state(p) not in (None, "Z")] == []
