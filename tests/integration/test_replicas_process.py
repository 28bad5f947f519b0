"""Process backends: readiness, failures named with log tails, teardown, orphans."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from benchmatrix.errors import DeployError
from benchmatrix.replicas import CommandLaunch, ReplicaSpec, deployed, get_backend
from benchmatrix.replicas.registry import group_members
from tests.support.deploy_helpers import STANDIN_TEMPLATE, leftover_processes, sim_specs, standin_specs

pytestmark = pytest.mark.integration

LABELS = {"benchmatrix.run": "run-1", "benchmatrix.scenario": "sc-1"}


def _registered_pids(backend: object) -> list[int]:
    return [e.pid for e in backend.registry.entries()]  # type: ignore[attr-defined]


def test_sim_replicas_are_healthy_logged_and_torn_down(tmp_path: Path) -> None:
    backend = get_backend("sim", registry_dir=tmp_path / "registry")
    with deployed(backend, sim_specs(2), tmp_path, LABELS) as handles:
        assert [h.replica_id for h in handles] == ["r0", "r1"]
        assert len({h.port for h in handles}) == 2
        for handle in handles:
            assert httpx.get(f"{handle.url}/health", timeout=5).status_code == 200
            assert backend.alive(handle) and handle.startup_s > 0
        assert sorted(_registered_pids(backend)) == sorted(h.pid for h in handles)  # type: ignore[type-var]
    assert leftover_processes(handles) == []
    assert _registered_pids(backend) == []
    assert "listening on http://127.0.0.1" in handles[0].log_path.read_text()


def test_command_backend_passes_placeholders_and_env(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    spec = ReplicaSpec(replica_id="gpu3", launch=CommandLaunch(template=STANDIN_TEMPLATE), gpu_ids=(3,),
                       env={"EXTRA": "1"})
    with deployed(backend, [spec], tmp_path, LABELS) as (handle,):
        assert httpx.get(f"{handle.url}/health", timeout=5).json()["replica"] == "gpu3"
        environ = Path(f"/proc/{handle.pid}/environ").read_bytes().split(b"\0")
        assert b"CUDA_VISIBLE_DEVICES=3" in environ and b"EXTRA=1" in environ


def test_replica_that_exits_is_named_with_its_log_and_the_rest_torn_down(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    crash = ReplicaSpec(replica_id="bad", launch=CommandLaunch(
        template=f"{sys.executable} -c \"import sys; print('model file missing'); sys.exit(3)\""))
    specs = standin_specs(1) + [crash]
    with pytest.raises(DeployError, match=r"(?s)replica bad exited with code 3.*model file missing") as err:
        backend.start(specs, tmp_path, LABELS)
    assert not err.value.transient  # a crash is not retried
    assert _registered_pids(backend) == []


def test_replica_never_healthy_times_out(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    slow = ReplicaSpec(replica_id="slow", launch=CommandLaunch(
        template=f"{sys.executable} -c \"import time; print('still loading', flush=True); time.sleep(60)\""),
        ready_timeout_s=1.0)
    with pytest.raises(DeployError, match=r"(?s)replica slow did not answer .*/health.*1 s.*still loading") as err:
        backend.start([slow], tmp_path, LABELS)
    assert err.value.transient  # slow to come up: worth another try
    assert _registered_pids(backend) == []


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        specs = standin_specs(1) + [ReplicaSpec(replica_id="taken", port=port,
                                                launch=CommandLaunch(template=STANDIN_TEMPLATE))]
        with pytest.raises(DeployError, match=f"replica taken: port {port} on 127.0.0.1 is already in use") as err:
            backend.start(specs, tmp_path, LABELS)
    assert err.value.transient
    assert _registered_pids(backend) == []


def test_unknown_placeholder_is_a_deploy_error(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    spec = ReplicaSpec(replica_id="r0", launch=CommandLaunch(template="serve --gpu {gpu}"))
    with pytest.raises(DeployError, match=r"replica r0: unknown placeholder"):
        backend.start([spec], tmp_path, LABELS)


def test_keyboard_interrupt_still_tears_down(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    with pytest.raises(KeyboardInterrupt):
        with deployed(backend, standin_specs(2), tmp_path, LABELS) as handles:
            raise KeyboardInterrupt
    assert leftover_processes(handles) == []


def test_cleanup_orphans_kills_what_a_killed_run_left(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    first = get_backend("command", registry_dir=registry)
    kept = first.start(standin_specs(1), tmp_path / "keep", {"benchmatrix.run": "other"})
    orphans = first.start(standin_specs(2), tmp_path / "dead", LABELS)
    later = get_backend("command", registry_dir=registry)  # a new run after a crash
    assert later.cleanup_orphans({"benchmatrix.run": "run-1"}) == 2
    assert leftover_processes(orphans) == []
    assert all(later.alive(h) for h in kept)
    assert later.cleanup_orphans({"benchmatrix.run": "run-1"}) == 0
    first.stop(kept)
    assert leftover_processes(kept) == [] and group_members(kept[0].pid) == []  # type: ignore[arg-type]


def test_sigterm_ignoring_replica_and_its_children_are_killed(tmp_path: Path) -> None:
    from tests.support.deploy_standin import STANDIN_PATH

    backend = get_backend("command", registry_dir=tmp_path / "registry", stop_grace_s=0.5)
    stubborn = (
        f"{{python}} -c \"import signal, runpy, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"sys.argv = ['standin', '--port', '{{port}}', '--replica', '{{replica}}']; "
        f"runpy.run_path('{STANDIN_PATH}', run_name='__main__')\""
    )
    wrapped = f"bash -c '{STANDIN_TEMPLATE} & wait'"  # the server is a grandchild of the replica
    specs = [ReplicaSpec(replica_id="stubborn", launch=CommandLaunch(template=stubborn)),
             ReplicaSpec(replica_id="wrapped", launch=CommandLaunch(template=wrapped))]
    handles = backend.start(specs, tmp_path, LABELS)
    assert len(group_members(handles[1].pid)) == 2  # type: ignore[arg-type]
    backend.stop(handles)
    assert leftover_processes(handles) == []
    assert not any(backend.alive(h) for h in handles)


def test_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    from benchmatrix.replicas import ReplicaBackend

    for name in ("sim", "command", "docker"):
        options = {"registry_dir": tmp_path} if name != "docker" else {}
        assert isinstance(get_backend(name, **options), ReplicaBackend)


def test_stop_is_idempotent_and_works_from_a_new_backend(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    first = get_backend("command", registry_dir=registry)
    handles = first.start(standin_specs(2), tmp_path, LABELS)
    get_backend("command", registry_dir=registry).stop(handles)  # e.g. an emergency teardown
    assert leftover_processes(handles) == []
    first.stop(handles)  # the normal teardown afterwards: nothing left to signal, no error
    assert _registered_pids(first) == []


def test_auto_port_lost_before_bind_is_relaunched_on_a_fresh_port(tmp_path: Path) -> None:
    backend = get_backend("command", registry_dir=tmp_path / "registry")
    flaky = ("bash -c 'if [ ! -e {replica}.tried ]; then touch {replica}.tried; "
             "echo \"bind: Address already in use\"; exit 1; fi; exec " + STANDIN_TEMPLATE + "'")
    spec = ReplicaSpec(replica_id="r0", launch=CommandLaunch(template=flaky))
    with deployed(backend, [spec], tmp_path, LABELS) as (handle,):
        assert httpx.get(f"{handle.url}/health", timeout=5).status_code == 200
        assert "Address already in use" in handle.log_path.read_text()
        assert _registered_pids(backend) == [handle.pid]
    fixed = spec.model_copy(update={"replica_id": "r1", "port": handle.port})
    with pytest.raises(DeployError, match="replica r1 exited with code 1"):
        backend.start([fixed], tmp_path, LABELS)  # a fixed port is never changed
