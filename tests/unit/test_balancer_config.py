"""The NGINX template renders deterministically and carries every SSE and accounting setting."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest
from pydantic import ValidationError

from benchmatrix.balancer import TEMPLATE_DIR, BalancerPlan, Upstream, render_config

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "nginx_least_conn_3.conf"


def _plan(**overrides: object) -> BalancerPlan:
    upstreams = tuple(Upstream(replica_id=f"r{i}", host="127.0.0.1", port=9001 + i) for i in range(3))
    return BalancerPlan(upstreams=upstreams, listen_port=18080, **overrides)


def test_render_matches_golden_file() -> None:
    text = render_config(_plan(), "/PREFIX")
    if os.environ.get("BENCHMATRIX_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "re-run with BENCHMATRIX_UPDATE_GOLDEN=1 after a deliberate change"


def test_sse_safe_proxy_settings() -> None:
    text = render_config(_plan(), "/p")
    for line in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_cache off;",
        "proxy_read_timeout 900s;",
        "proxy_set_header X-Request-ID $bm_request_id;",
        "keepalive_timeout 4s;",
        "least_conn;",
        "listen 127.0.0.1:18080;",
        "daemon off;",
        "stub_status;",
        "escape=json",
    ):
        assert line in text, line


@pytest.mark.parametrize(
    ("method", "directive"), [("least_conn", "least_conn;"), ("random_two", "random two least_conn;")]
)
def test_method_directive(method: str, directive: str) -> None:
    assert directive in render_config(_plan(method=method), "/p")


def test_round_robin_has_no_method_directive() -> None:
    text = render_config(_plan(method="round_robin"), "/p")
    assert "least_conn;" not in text and "random two" not in text


def test_every_path_is_under_the_prefix() -> None:
    text = render_config(_plan(), "/srv/lb/")
    for key in ("pid ", "error_log ", "access_log ", "client_body_temp_path ", "proxy_temp_path "):
        line = next(l for l in text.splitlines() if l.strip().startswith(key))
        assert "/srv/lb/" in line and "//" not in line.split()[1], line


def test_strict_undefined_catches_a_missing_variable(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf.j2").write_text("listen {{ plan.nonexistent }};")
    with pytest.raises(jinja2.UndefinedError):
        render_config(_plan(), "/p", template_dir=tmp_path)


def test_template_is_shipped_next_to_the_package() -> None:
    assert (TEMPLATE_DIR / "nginx.conf.j2").is_file()


def test_plan_rejects_duplicates_and_non_loopback() -> None:
    up = Upstream(replica_id="r0", port=9001)
    with pytest.raises(ValidationError):
        BalancerPlan(upstreams=(up, up))
    with pytest.raises(ValidationError):
        BalancerPlan(upstreams=(up,), listen_host="0.0.0.0")
    with pytest.raises(ValidationError):
        BalancerPlan(upstreams=())


def test_keepalive_zero_and_non_idempotent_retry() -> None:
    text = render_config(_plan(keepalive=0, retry_non_idempotent=True), "/p")
    assert "keepalive " not in text.replace("keepalive_", "")
    assert "proxy_next_upstream error timeout non_idempotent;" in text
    assert "proxy_next_upstream error timeout;" in render_config(_plan(), "/p")


def test_plan_for_replicas_follows_the_handles(tmp_path: Path) -> None:
    from benchmatrix.balancer import plan_for_replicas
    from benchmatrix.replicas import ReplicaHandle

    def handle(rid: str, port: int, keepalive: bool) -> ReplicaHandle:
        return ReplicaHandle(replica_id=rid, backend="command", host="127.0.0.1", port=port, pid=1,
                             log_path=tmp_path / f"{rid}.log", upstream_keepalive=keepalive)

    plan = plan_for_replicas([handle("r0", 9001, True), handle("r1", 9002, True)], method="round_robin")
    assert [u.addr for u in plan.upstreams] == ["127.0.0.1:9001", "127.0.0.1:9002"]
    assert plan.keepalive == 64 and plan.method == "round_robin"
    assert plan_for_replicas([handle("r0", 9001, False)]).keepalive == 0
