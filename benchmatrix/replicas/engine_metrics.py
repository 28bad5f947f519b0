"""What each replica says it served: counters scraped from its Prometheus ``/metrics``.

A third count next to NGINX's access log and the client's ``x-benchmatrix-replica`` header:
when the three disagree, a replica answered requests we did not send, or lost some. Parsing
is pure; :func:`scrape` is the only function that touches the network (with a timeout).

Counter names per engine (summed over labels):

| engine | requests served | aborted | preemptions |
|---|---|---|---|
| benchmatrix sim | ``benchmatrix_sim_requests_total`` | ``benchmatrix_sim_requests_aborted_total`` | ``benchmatrix_sim_num_preemptions_total`` |
| vLLM | ``vllm:request_success_total`` | - | ``vllm:num_preemptions_total`` |
| TGI | ``tgi_request_success`` | ``tgi_request_failure`` | - |

llama.cpp exports token counters but no request counter: its replicas report no engine count.
"""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.replicas.base import ReplicaHandle

# (requests served, aborted/failed, preemptions) counter names, first family that is present wins
_FAMILIES: tuple[tuple[str, str | None, str | None], ...] = (
    ("benchmatrix_sim_requests_total", "benchmatrix_sim_requests_aborted_total",
     "benchmatrix_sim_num_preemptions_total"),
    ("vllm:request_success_total", None, "vllm:num_preemptions_total"),
    ("tgi_request_success", "tgi_request_failure", None),
)
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


class EngineCounts(BaseModel):
    """Counters one replica reported at the end of a scenario (warmup included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str
    requests: int = Field(ge=0, description="Requests the engine finished.")
    aborted: int = Field(default=0, ge=0, description="Requests the engine aborted or failed.")
    preemptions: int | None = Field(default=None, ge=0, description="KV-cache preemptions, if exported.")


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum every sample of each metric name over its labels (comments and bad lines skipped)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        totals[match.group(1)] = totals.get(match.group(1), 0.0) + value
    return totals


def engine_counts(replica_id: str, metrics: dict[str, float]) -> EngineCounts | None:
    """The replica's counts from parsed metrics, or None when no known family is exported."""
    for served, aborted, preempted in _FAMILIES:
        if served in metrics:
            return EngineCounts(
                replica_id=replica_id, requests=int(metrics[served]),
                aborted=int(metrics.get(aborted, 0)) if aborted else 0,
                preemptions=int(metrics[preempted]) if preempted and preempted in metrics else None,
            )
    return None


def scrape(handle: ReplicaHandle, timeout_s: float = 5.0) -> EngineCounts | None:
    """GET the replica's /metrics; None when it exports none we know or cannot be reached."""
    try:
        response = httpx.get(f"{handle.url}/metrics", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return engine_counts(handle.replica_id, parse_prometheus(response.text))
