"""Access-log parsing and per-replica share math (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmatrix.balancer import (
    AccessLogEntry,
    ReplicaShare,
    Upstream,
    parse_access_line,
    parse_access_log,
    percentile,
    replica_shares,
    share_within_tolerance,
)
from benchmatrix.errors import BalancerError

UPSTREAMS = (Upstream(replica_id="r0", port=9001), Upstream(replica_id="r1", port=9002))


def _line(addr: str = "127.0.0.1:9001", status: str = "200", upstream_status: str = "200",
          urt: str = "0.250", **extra: str) -> str:
    raw = {
        "time": "2026-12-04T20:00:00+00:00", "msec": "1796416000.123", "request_id": "abc",
        "method": "POST", "uri": "/v1/completions", "status": status, "bytes_sent": "635",
        "request_time": "0.251", "upstream_addr": addr, "upstream_status": upstream_status,
        "upstream_response_time": urt, "upstream_connect_time": "0.001",
        "upstream_header_time": "0.002", "replica_id": "",
    }
    raw.update(extra)
    return json.dumps(raw)


def test_parse_simple_line() -> None:
    entry = parse_access_line(_line())
    assert entry.upstream_addrs == ("127.0.0.1:9001",)
    assert entry.upstream_statuses == (200,)
    assert entry.upstream_response_time_s == pytest.approx(0.25)
    assert entry.replica_id is None and entry.status == 200 and entry.bytes_sent == 635


def test_parse_failover_line_keeps_every_attempt() -> None:
    entry = parse_access_line(
        _line(addr="127.0.0.1:9001, 127.0.0.1:9002", upstream_status="502, 200", urt="0.000, 0.300")
    )
    assert entry.upstream_addrs == ("127.0.0.1:9001", "127.0.0.1:9002")
    assert entry.upstream_statuses == (502, 200)
    assert entry.final_addr == "127.0.0.1:9002"
    assert entry.upstream_response_time_s == pytest.approx(0.3)


def test_parse_no_upstream_line() -> None:
    entry = parse_access_line(_line(addr="-", status="404", upstream_status="-", urt="-"))
    assert entry.upstream_addrs == () and entry.upstream_response_time_s is None


def test_parse_log_skips_torn_last_line_but_not_a_bad_middle_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_line() + "\n\n" + _line() + '\n{"time": "2026')
    assert len(parse_access_log(log)) == 2
    log.write_text(_line() + "\nnot json\n" + _line() + "\n")
    with pytest.raises(BalancerError, match="access.log:2"):
        parse_access_log(log)


def test_shares_count_last_attempt_and_charge_errors_to_the_failed_replica() -> None:
    entries = [parse_access_line(_line()) for _ in range(3)]
    entries.append(parse_access_line(_line(addr="127.0.0.1:9002", urt="0.5")))
    entries.append(parse_access_line(
        _line(addr="127.0.0.1:9001, 127.0.0.1:9002", upstream_status="502, 200", urt="0.0, 0.1")))
    entries.append(parse_access_line(_line(addr="127.0.0.1:9002", status="502", upstream_status="502")))
    r0, r1 = replica_shares(entries, UPSTREAMS)
    assert (r0.requests, r1.requests) == (3, 3)
    assert r0.share == pytest.approx(0.5)
    assert (r0.errors, r1.errors) == (1, 1)
    assert r0.mean_upstream_response_time_ms == pytest.approx(250.0)
    assert r1.p99_upstream_response_time_ms == pytest.approx(percentile([500.0, 100.0, 250.0], 99))


def test_shares_ignore_requests_without_a_known_replica() -> None:
    entries = [parse_access_line(_line(addr="-", status="502", upstream_status="-", urt="-"))]
    shares = replica_shares(entries, UPSTREAMS)
    assert [s.requests for s in shares] == [0, 0]
    assert all(s.share == 0 and s.mean_upstream_response_time_ms is None for s in shares)


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 99) == 5.0
    assert percentile([0.0, 100.0], 99) == pytest.approx(99.0)


def _share(rid: str, requests: int, total: int) -> ReplicaShare:
    return ReplicaShare(replica_id=rid, requests=requests, share=requests / total,
                        mean_upstream_response_time_ms=None, p99_upstream_response_time_ms=None, errors=0)


def test_share_within_tolerance() -> None:
    assert share_within_tolerance([_share("r0", 48, 100), _share("r1", 52, 100)], 0.05)
    assert not share_within_tolerance([_share("r0", 30, 100), _share("r1", 70, 100)], 0.1)
    assert not share_within_tolerance([], 0.1)
    assert not share_within_tolerance([_share("r0", 0, 1)], 0.1)


@given(st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=200))
def test_shares_sum_to_one_and_count_every_served_request(assignments: list[int]) -> None:
    ups = UPSTREAMS + (Upstream(replica_id="r2", port=9003),)
    entries = [parse_access_line(_line(addr=ups[i].addr)) for i in assignments]
    shares = replica_shares(entries, ups)
    assert sum(s.requests for s in shares) == len(assignments)
    assert sum(s.share for s in shares) == pytest.approx(1.0)
    assert all(isinstance(e, AccessLogEntry) for e in entries)


def test_all_replicas_down_names_the_group_not_a_replica() -> None:
    entry = parse_access_line(_line(addr="benchmatrix_replicas", status="502", upstream_status="502", urt="0.000"))
    assert entry.upstream_addrs == ("benchmatrix_replicas",)
    assert [s.errors for s in replica_shares([entry], UPSTREAMS)] == [0, 0]


ERROR_LOG = """\
2026/12/04 20:58:59 [error] 8893#8893: *5 upstream prematurely closed connection while reading upstream, client: 127.0.0.1, server: benchmatrix, request: "POST /v1/completions HTTP/1.1", upstream: "http://127.0.0.1:9002/v1/completions", host: "127.0.0.1:45307"
2026/12/04 20:58:59 [error] 8893#8893: *14 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: benchmatrix, request: "POST /v1/completions HTTP/1.1", upstream: "http://127.0.0.1:9002/v1/completions", host: "127.0.0.1:45307"
2026/12/04 20:58:59 [warn] 8893#8893: *14 upstream server temporarily disabled while connecting to upstream, client: 127.0.0.1, server: benchmatrix, request: "POST /v1/completions HTTP/1.1", upstream: "http://127.0.0.1:9002/v1/completions", host: "127.0.0.1:45307"
2026/12/04 20:58:42 [error] 18670#18670: *5 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1, server: benchmatrix, request: "POST /v1/chat/completions HTTP/1.1", upstream: "http://127.0.0.1:9001/v1/chat/completions", host: "127.0.0.1:33639"
2026/12/04 20:59:00 [notice] 1#1: signal process started
"""


def test_parse_error_log_classifies_upstream_failures(tmp_path: Path) -> None:
    from benchmatrix.balancer import parse_error_log

    log = tmp_path / "error.log"
    log.write_text(ERROR_LOG)
    errors = parse_error_log(log)
    assert [(e.kind, e.upstream_addr) for e in errors] == [
        ("truncated", "127.0.0.1:9002"), ("connect", "127.0.0.1:9002"), ("header", "127.0.0.1:9001")]
    assert errors[0].message.startswith("upstream prematurely closed connection")
    assert parse_error_log(tmp_path / "missing.log") == []


def test_truncated_streams_count_as_errors_of_their_replica(tmp_path: Path) -> None:
    from benchmatrix.balancer import parse_error_log

    log = tmp_path / "error.log"
    log.write_text(ERROR_LOG)
    entries = [parse_access_line(_line(addr="127.0.0.1:9002")) for _ in range(2)]
    r0, r1 = replica_shares(entries, UPSTREAMS, parse_error_log(log))
    assert (r1.requests, r1.errors, r1.truncated) == (2, 1, 1)
    assert (r0.errors, r0.truncated) == (0, 0)  # header failures already show in the access log


def test_parse_stub_status() -> None:
    from benchmatrix.balancer import parse_stub_status

    page = "Active connections: 3 \nserver accepts handled requests\n 12 12 40 \nReading: 0 Writing: 2 Waiting: 1 \n"
    status = parse_stub_status(page)
    assert (status.active, status.accepts, status.handled, status.requests) == (3, 12, 12, 40)
    assert (status.reading, status.writing, status.waiting) == (0, 2, 1)
    with pytest.raises(BalancerError, match="not an NGINX stub_status page"):
        parse_stub_status("<html>")
