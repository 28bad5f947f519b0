"""Simulated replicas behind a real NGINX: balance, failover, accounting, errors."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from benchmatrix.balancer import (
    Balancer,
    BalancerPlan,
    Upstream,
    parse_access_log,
    replica_shares,
    share_within_tolerance,
)
from benchmatrix.errors import BalancerError
from benchmatrix.replicas import deployed, get_backend
from tests.support.deploy_helpers import leftover_processes, plan_for, sim_specs, stream_many

pytestmark = pytest.mark.integration


def test_least_conn_spreads_concurrent_streams_evenly(tmp_path: Path) -> None:
    backend = get_backend("sim", registry_dir=tmp_path / "registry")
    count, replicas = 60, 3
    with deployed(backend, sim_specs(replicas, time_scale=0.5), tmp_path, {"benchmatrix.run": "t1"}) as handles:
        plan = plan_for(handles)
        with Balancer(plan, tmp_path / "nginx") as lb:
            results = stream_many(lb.url, count, concurrency=9, max_tokens=24)
            status = lb.status()
    assert all(r.status == 200 and r.complete for r in results), [r for r in results if not r.complete][:3]
    by_header = Counter(r.replica_id for r in results)
    assert set(by_header) == {"r0", "r1", "r2"}
    assert {r.request_id for r in results} == {f"test-{i}" for i in range(count)}
    entries = [e for e in parse_access_log(lb.access_log_path) if e.uri == "/v1/completions"]
    shares = replica_shares(entries, plan.upstreams)
    assert sum(s.requests for s in shares) == count
    assert {s.replica_id: s.requests for s in shares} == dict(by_header)
    assert share_within_tolerance(shares, 0.1), shares
    assert all(s.errors == 0 and s.p99_upstream_response_time_ms for s in shares)
    assert {e.request_id for e in entries} == {f"test-{i}" for i in range(count)}
    assert status.requests >= count + 1 and status.writing == 1  # only the status request itself
    assert leftover_processes(handles) == []


def test_killed_replica_fails_over_and_is_accounted(tmp_path: Path) -> None:
    backend = get_backend("sim", registry_dir=tmp_path / "registry")
    with deployed(backend, sim_specs(2, time_scale=1.0), tmp_path, {"benchmatrix.run": "t2"}) as handles:
        victim = handles[1]
        plan = plan_for(handles, max_fails=1, fail_timeout_s=30)
        with Balancer(plan, tmp_path / "nginx") as lb:
            killer = threading.Timer(0.6, lambda: os.killpg(victim.pid, signal.SIGKILL))  # type: ignore[arg-type]
            killer.start()
            results = stream_many(lb.url, 40, concurrency=6, max_tokens=48)
            killer.join()
            assert not backend.alive(victim) and backend.alive(handles[0])
    failed = [r for r in results if not (r.status == 200 and r.complete)]
    late = results[-10:]
    assert failed, "some in-flight streams on the killed replica should break"
    assert len(failed) <= 6, failed
    assert all(r.replica_id == "r0" and r.complete for r in late)
    shares = {s.replica_id: s for s in lb.replica_shares()}
    assert shares["r0"].requests > shares["r1"].requests
    broken = [r for r in failed if r.status is None]  # 200 header, then the stream broke off
    assert shares["r1"].truncated == len(broken)  # counted from NGINX's error log
    assert shares["r1"].errors >= len(failed) and shares["r0"].errors == 0
    assert leftover_processes(handles) == []


def test_balancer_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        plan = BalancerPlan(upstreams=(Upstream(replica_id="r0", port=9),), listen_port=port)
        with pytest.raises(BalancerError, match=f"port {port}"):
            with Balancer(plan, tmp_path / "nginx"):
                pass


def test_invalid_config_carries_nginx_message(tmp_path: Path) -> None:
    plan = BalancerPlan(upstreams=(Upstream(replica_id="r0", port=9),), client_body_buffer="lots")
    with pytest.raises(BalancerError, match=r"nginx -t rejected .*client_body_buffer_size"):
        with Balancer(plan, tmp_path / "nginx"):
            pass


def test_balancer_stops_cleanly_and_keeps_logs(tmp_path: Path) -> None:
    plan = BalancerPlan(upstreams=(Upstream(replica_id="r0", port=9),))
    with Balancer(plan, tmp_path / "nginx") as lb:
        pid = lb._proc.pid  # type: ignore[union-attr]
        answer = httpx.get(f"{lb.url}/v1/models", timeout=5)
    assert answer.status_code == 502  # nothing listens on port 9
    assert not lb.alive()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert parse_access_log(lb.access_log_path)[-1].status == 502


def test_auto_port_survives_a_port_grabbed_before_nginx_binds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmatrix.balancer.process as balancer_module  # Balancer picks its port there

    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        stolen = thief.getsockname()[1]
        picks = iter([stolen])
        real_free_port = balancer_module.free_port
        monkeypatch.setattr(balancer_module, "free_port", lambda host: next(picks, None) or real_free_port(host))
        plan = BalancerPlan(upstreams=(Upstream(replica_id="r0", port=9),))
        with Balancer(plan, tmp_path / "nginx") as lb:
            assert lb.port != stolen and lb.alive()
            with pytest.raises(BalancerError, match="already runs"):
                lb.start()
