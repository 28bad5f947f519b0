"""What a killed or cancelled run leaves is removed: replica processes (pid registry) and NGINX
masters (pid files under <data_dir>/runs/), by the teardown hook and by the next run's cleanup."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled

from benchmatrix import pipeline
from benchmatrix.balancer import Balancer
from benchmatrix.replicas import get_backend
from benchmatrix.replicas.registry import process_state
from tests.support.deploy_helpers import plan_for, sim_specs

pytestmark = pytest.mark.integration


def _running(pid: int) -> bool:
    return process_state(pid) not in (None, "Z")


def _leave_running(data_dir: Path, scenario_dir: Path | None = None,
                   labels: dict[str, str] | None = None) -> tuple[list[int], int]:
    """Start 2 sim replicas and NGINX the way a run does, then drop them as a SIGKILL would."""
    scenario_dir = scenario_dir or data_dir / "runs" / "killed-run" / "h-m-l-0123456789ab"
    backend = get_backend("sim", registry_dir=pipeline.registry_dir(data_dir))
    handles = backend.start(sim_specs(2), scenario_dir / "replicas", labels or {"benchmatrix.run": "killed-run"})
    balancer = Balancer(plan_for(handles), scenario_dir / "nginx")
    balancer.start()
    nginx_pid = int((scenario_dir / "nginx" / "logs" / "nginx.pid").read_text())
    return [h.pid for h in handles], nginx_pid


def test_next_run_cleanup_stops_replicas_and_nginx_a_killed_run_left(tmp_path: Path) -> None:
    replica_pids, nginx_pid = _leave_running(tmp_path)
    assert all(_running(p) for p in [*replica_pids, nginx_pid])
    found = pipeline.clean_data_dir(tmp_path, docker_hosts=[])
    assert found == ["2 orphan replica process(es) stopped", "1 orphan NGINX master(s) stopped"]
    assert not any(_running(p) for p in [*replica_pids, nginx_pid])
    assert (tmp_path / "runs" / "killed-run" / "h-m-l-0123456789ab" / "nginx" / "logs").is_dir()
    assert pipeline.clean_data_dir(tmp_path, docker_hosts=[]) == []


def test_cancellation_hook_tears_down_from_the_flow_runs_parameters(tmp_path: Path) -> None:
    from flows.hooks import teardown_hook

    replica_pids, nginx_pid = _leave_running(tmp_path)
    flow_run = FlowRun(name="cancelled-run", flow_id=uuid.uuid4(), parameters={"data_dir": str(tmp_path)})
    teardown_hook(None, flow_run, Cancelled())
    assert not any(_running(p) for p in [*replica_pids, nginx_pid])


def test_a_reused_pid_in_a_stale_pid_file_is_never_signalled(tmp_path: Path) -> None:
    pid_file = tmp_path / "runs" / "old" / "s-0123456789ab" / "nginx" / "logs" / "nginx.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()}\n")  # this test process: not an nginx of that prefix
    assert pipeline.stop_orphan_nginx(tmp_path / "runs") == 0


def test_scenario_hook_stops_only_its_own_scenario(tmp_path: Path) -> None:
    from benchmatrix.spec import load_matrix
    from flows.hooks import scenario_teardown_hook
    from tests.conftest import REPO_ROOT

    matrix_path = REPO_ROOT / "matrices" / "tests" / "flows-mixed.yaml"
    matrix = load_matrix(matrix_path)
    ctx = pipeline.new_run_context(matrix, matrix_path, data_dir=tmp_path)
    mine, other = pipeline.expand(matrix)[:2]
    started = {s.scenario_id: _leave_running(
        tmp_path, ctx.scenario_dir(s.name, s.scenario_id),
        {"benchmatrix.run": ctx.run_id, "benchmatrix.scenario": s.scenario_id}) for s in (mine, other)}
    flow_run = FlowRun(name=mine.name, flow_id=uuid.uuid4(), parameters={
        "ctx": ctx.model_dump(mode="json"), "scenario": mine.model_dump(mode="json")})
    scenario_teardown_hook(None, flow_run, Cancelled())
    mine_pids, mine_nginx = started[mine.scenario_id]
    other_pids, other_nginx = started[other.scenario_id]
    assert not any(_running(p) for p in [*mine_pids, mine_nginx])
    assert all(_running(p) for p in [*other_pids, other_nginx])
    assert pipeline.clean_data_dir(tmp_path, docker_hosts=[]) == [
        "2 orphan replica process(es) stopped", "1 orphan NGINX master(s) stopped"]
