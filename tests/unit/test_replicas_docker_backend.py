"""The docker backend's control flow against an in-memory Docker client (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import docker.errors
import pytest

from benchmatrix.errors import DeployError
from benchmatrix.replicas import DockerLaunch, ReplicaSpec, deployed, get_backend
from benchmatrix.replicas import docker_backend
from tests.support.deploy_fake_docker import FakeDockerClient

LABELS = {"benchmatrix.run": "run1", "benchmatrix.scenario": "s1"}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeDockerClient:
    monkeypatch.setattr(docker_backend, "is_healthy", lambda probe, url: True)
    return FakeDockerClient()


def _specs(count: int, **fields: object) -> list[ReplicaSpec]:
    launch = DockerLaunch(engine="vllm", model="meta-llama/Llama-3.1-8B-Instruct", tp=1)
    return [ReplicaSpec(replica_id=f"r{i}", launch=launch, gpu_ids=(i,), ready_timeout_s=1, **fields)  # type: ignore[arg-type]
            for i in range(count)]


def test_start_stop_and_labels(client: FakeDockerClient, tmp_path: Path) -> None:
    backend = get_backend("docker", client=client, poll_interval_s=0.01)
    with deployed(backend, _specs(2), tmp_path, LABELS) as handles:
        assert [h.port for h in handles] == [40000, 40000]
        assert all(h.container_id and h.backend == "docker" for h in handles)
        running = client.containers.list(all=True)
        assert {c.labels["benchmatrix.replica"] for c in running} == {"r0", "r1"}
        assert running[0].kwargs["device_requests"][0]["DeviceIDs"] == ["0"]
        assert running[1].kwargs["init"] is True
    assert client.containers.by_id == {}
    assert handles[0].log_path.read_bytes().startswith(b"listening on")


def test_same_label_leftovers_are_removed_at_start(client: FakeDockerClient, tmp_path: Path) -> None:
    crashed = get_backend("docker", client=client, poll_interval_s=0.01)
    crashed.start(_specs(2), tmp_path, LABELS)
    other = crashed.start(_specs(1), tmp_path, {"benchmatrix.run": "other"})
    later = get_backend("docker", client=client, poll_interval_s=0.01)
    later.start(_specs(1), tmp_path, LABELS)
    runs = sorted(c.labels["benchmatrix.run"] for c in client.containers.list(all=True))
    assert runs == ["other", "run1"]
    assert later.alive(other[0])
    assert later.cleanup_orphans({}) == 2


def test_exited_container_fails_the_set_with_its_log(client: FakeDockerClient, tmp_path: Path) -> None:
    client.containers.behaviour["r1"] = {"status": "exited", "exit_code": 1,
                                         "output": b"CUDA out of memory\n"}
    backend = get_backend("docker", client=client, poll_interval_s=0.01)
    with pytest.raises(DeployError, match=r"(?s)replica r1 \(bm-run1-s1-r1\): container exited with code 1.*CUDA out"):
        backend.start(_specs(2), tmp_path, LABELS)
    assert client.containers.by_id == {}
    assert (tmp_path / "logs" / "r1.log").read_bytes() == b"CUDA out of memory\n"


def test_never_healthy_times_out(client: FakeDockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_backend, "is_healthy", lambda probe, url: False)
    backend = get_backend("docker", client=client, poll_interval_s=0.05)
    spec = _specs(1)[0].model_copy(update={"ready_timeout_s": 0.2})
    with pytest.raises(DeployError, match=r"replica r0 .*no 200 from http://127.0.0.1:40000/health within 0.2 s"):
        backend.start([spec], tmp_path, LABELS)
    assert client.containers.by_id == {}


def test_port_taken_and_gpu_errors_leave_nothing(client: FakeDockerClient, tmp_path: Path) -> None:
    backend = get_backend("docker", client=client, poll_interval_s=0.01)
    client.containers.run_error["r0"] = docker.errors.APIError("Bind for 127.0.0.1:18000 failed: port is already allocated")
    with pytest.raises(DeployError, match="replica r0: port 18000 on 127.0.0.1 is already in use"):
        backend.start(_specs(1, port=18000), tmp_path, LABELS)
    client.containers.run_error["r0"] = docker.errors.APIError('could not select device driver "" with capabilities: [[gpu]]')
    with pytest.raises(DeployError, match="replica r0: docker could not start .*capabilities"):
        backend.start(_specs(1), tmp_path, LABELS)
    assert client.containers.by_id == {}  # the Created container is removed by name


def test_missing_image_says_how_to_get_it(client: FakeDockerClient, tmp_path: Path) -> None:
    client.containers.run_error["r0"] = docker.errors.ImageNotFound("no such image")
    backend = get_backend("docker", client=client)
    with pytest.raises(DeployError, match="image 'vllm/vllm-openai:latest' is not on the Docker engine"):
        backend.start(_specs(1), tmp_path, LABELS)
