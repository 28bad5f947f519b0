"""Per-replica accounting from the parsed logs: requests served, shares, response times, errors."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.balancer.logs import AccessLogEntry, UpstreamError
from benchmatrix.balancer.plan import Upstream


class ReplicaShare(BaseModel):
    """How much of the traffic one replica served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str
    requests: int = Field(ge=0, description="Requests this replica answered (final attempt).")
    share: float = Field(ge=0, le=1, description="requests / all requests a replica answered.")
    mean_upstream_response_time_ms: float | None
    p99_upstream_response_time_ms: float | None = Field(description="Linear-interpolated 99th percentile.")
    errors: int = Field(ge=0, description="Failed attempts: 5xx, refused/timed-out tries, truncated streams.")
    truncated: int = Field(default=0, ge=0, description="Streams broken off after the 200 header (in errors).")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 100]; values non-empty."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _attempt_failed(status: int | None) -> bool:
    return status is None or status >= 500


def _tally(entries: Iterable[AccessLogEntry], by_addr: dict[str, str]) -> tuple[
        dict[str, int], dict[str, int], dict[str, list[float]]]:
    """Per replica: requests served (last attempt), failed attempts, response times in ms."""
    counts = {rid: 0 for rid in by_addr.values()}
    errors = {rid: 0 for rid in by_addr.values()}
    times: dict[str, list[float]] = {rid: [] for rid in by_addr.values()}
    for entry in entries:
        statuses = list(entry.upstream_statuses) + [None] * len(entry.upstream_addrs)
        last = len(entry.upstream_addrs) - 1
        for index, addr in enumerate(entry.upstream_addrs):
            replica = by_addr.get(addr)
            if replica is None:
                continue
            if index < last or _attempt_failed(statuses[index]):
                errors[replica] += 1
            if index == last:
                counts[replica] += 1
                if entry.upstream_response_time_s is not None:
                    times[replica].append(entry.upstream_response_time_s * 1000.0)
    return counts, errors, times


def replica_shares(
    entries: Iterable[AccessLogEntry], upstreams: Sequence[Upstream],
    upstream_errors: Iterable[UpstreamError] = (),
) -> list[ReplicaShare]:
    """Per-replica request counts, shares, upstream response times and errors, in ``upstreams`` order.

    A request belongs to the replica of its last attempt; every earlier attempt of a failed-over
    request, and a final attempt answered with 5xx or no status, counts as an error of that replica.
    Requests no replica answered (e.g. 502 with no upstream) are in no share. ``upstream_errors``
    (from :func:`parse_error_log`) adds the streams a replica broke off after its 200 header
    (``truncated``), which the access log cannot show.
    """
    by_addr = {u.addr: u.replica_id for u in upstreams}
    counts, errors, times = _tally(entries, by_addr)
    truncated = {u.replica_id: 0 for u in upstreams}
    for error in upstream_errors:
        replica = by_addr.get(error.upstream_addr or "")
        if replica is not None and error.kind == "truncated":
            truncated[replica] += 1
    total = sum(counts.values())
    return [
        ReplicaShare(
            replica_id=rid, requests=counts[rid], share=counts[rid] / total if total else 0.0,
            mean_upstream_response_time_ms=sum(times[rid]) / len(times[rid]) if times[rid] else None,
            p99_upstream_response_time_ms=percentile(times[rid], 99) if times[rid] else None,
            errors=errors[rid] + truncated[rid], truncated=truncated[rid],
        )
        for rid in (u.replica_id for u in upstreams)
    ]


def share_within_tolerance(shares: Sequence[ReplicaShare], tolerance: float) -> bool:
    """True when every replica's share is within ``tolerance`` (absolute, e.g. 0.1) of 1/n.

    Pure; an empty list or zero traffic is not balanced (returns False).
    """
    if not shares or sum(s.requests for s in shares) == 0:
        return False
    fair = 1.0 / len(shares)
    return all(abs(s.share - fair) <= tolerance for s in shares)
