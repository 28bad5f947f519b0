"""Docker tier: simulated-engine containers behind NGINX, end to end (skipped without an engine).

Start an engine first: ``eval "$(bash .ci/docker-up.sh)"`` (it prints the DOCKER_HOST to export).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmatrix.balancer import Balancer, parse_access_log, replica_shares, share_within_tolerance
from benchmatrix.errors import DeployError
from benchmatrix.replicas import DockerLaunch, ReplicaSpec, deployed, get_backend
from tests.support.deploy_helpers import plan_for, sim_config, stream_many

pytestmark = [pytest.mark.integration, pytest.mark.docker]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim_image() -> str:
    from benchmatrix.replicas.docker_backend import engine_reachable

    reason = engine_reachable()
    if reason is not None:
        pytest.skip(f"no Docker engine: {reason}")
    build = subprocess.run(["bash", str(REPO / "docker" / "build-sim-image.sh")], capture_output=True,
                           text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    return "benchmatrix-sim:local"


def _specs(count: int, image: str, **fields: object) -> list[ReplicaSpec]:
    launch = DockerLaunch(engine="sim", image=image, sim_config=sim_config(time_scale=0.5))
    return [ReplicaSpec(replica_id=f"r{i}", launch=launch, gpu_ids=(i,), ready_timeout_s=30, **fields)  # type: ignore[arg-type]
            for i in range(count)]


def test_sim_containers_behind_nginx_end_to_end(tmp_path: Path, sim_image: str) -> None:
    backend = get_backend("docker")
    labels = {"benchmatrix.run": "dk-e2e", "benchmatrix.scenario": "s1"}
    with deployed(backend, _specs(2, sim_image), tmp_path, labels) as handles:
        assert all(h.container_id and h.host == "127.0.0.1" for h in handles)
        assert len(backend.containers_with(labels)) == 2  # type: ignore[attr-defined]
        plan = plan_for(handles)
        with Balancer(plan, tmp_path / "nginx") as lb:
            results = stream_many(lb.url, 24, concurrency=6, max_tokens=16)
    assert all(r.status == 200 and r.complete for r in results)
    assert set(Counter(r.replica_id for r in results)) == {"r0", "r1"}
    shares = replica_shares(parse_access_log(lb.access_log_path), plan.upstreams)
    assert share_within_tolerance(shares, 0.15), shares
    assert backend.containers_with(labels) == []  # type: ignore[attr-defined]
    assert "listening on" in handles[0].log_path.read_text()
    assert not backend.alive(handles[0])


def test_orphans_are_removed_by_label_and_at_next_start(tmp_path: Path, sim_image: str) -> None:
    labels = {"benchmatrix.run": "dk-orphan", "benchmatrix.scenario": "s1"}
    crashed = get_backend("docker")
    crashed.start(_specs(2, sim_image), tmp_path / "a", labels)  # never stopped: a killed run
    later = get_backend("docker")
    handles = later.start(_specs(1, sim_image), tmp_path / "b", labels)  # removes same-label leftovers
    assert len(later.containers_with(labels)) == 1  # type: ignore[attr-defined]
    assert later.cleanup_orphans({"benchmatrix.run": "dk-orphan"}) == 1
    assert not later.alive(handles[0])


def test_container_that_exits_is_named_with_its_log(tmp_path: Path, sim_image: str) -> None:
    backend = get_backend("docker")
    labels = {"benchmatrix.run": "dk-crash"}
    bad = ReplicaSpec(replica_id="bad", ready_timeout_s=30,
                      launch=DockerLaunch(engine="sim", image=sim_image, sim_config={"nonsense": 1}))
    with pytest.raises(DeployError, match=r"(?s)replica bad .*exited with code 2.*nonsense"):
        backend.start(_specs(1, sim_image) + [bad], tmp_path, labels)
    assert backend.containers_with(labels) == []  # type: ignore[attr-defined]
    assert "bad sim config" in (tmp_path / "logs" / "bad.log").read_text()


def test_published_port_in_use_is_named(tmp_path: Path, sim_image: str) -> None:
    backend = get_backend("docker")
    labels = {"benchmatrix.run": "dk-port"}
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(DeployError, match=f"replica r0: port {port} on 127.0.0.1 is already in use"):
            backend.start(_specs(1, sim_image, port=port), tmp_path, labels)
    assert backend.containers_with(labels) == []  # type: ignore[attr-defined]


def test_gpu_request_without_gpus_fails_cleanly(tmp_path: Path, sim_image: str) -> None:
    backend = get_backend("docker")
    labels = {"benchmatrix.run": "dk-gpu"}
    spec = ReplicaSpec(replica_id="g0", gpu_ids=(0,), ready_timeout_s=10,
                       launch=DockerLaunch(engine="vllm", image=sim_image, model="m"))
    try:
        handles = backend.start([spec], tmp_path, labels)
    except DeployError as exc:
        assert "replica g0" in str(exc)
    else:  # a machine with GPUs and the NVIDIA runtime: the sim image is no vLLM, so it exits
        backend.stop(handles)
    assert backend.containers_with(labels) == []  # type: ignore[attr-defined]


def test_container_log_is_followed_while_it_runs(tmp_path: Path, sim_image: str) -> None:
    backend = get_backend("docker")
    labels = {"benchmatrix.run": "dk-logs"}
    with deployed(backend, _specs(1, sim_image), tmp_path, labels) as (handle,):
        deadline = time.monotonic() + 5
        while "listening on" not in handle.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "listening on" in handle.log_path.read_text()  # before any stop
