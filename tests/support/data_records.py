"""Fabricate realistic request-record DataFrames (the load generator's contract) for tests.

The frames follow docs/CONTRACTS.md column for column. Timing is a closed-loop simulation: a
fixed number of in-flight slots, each sending its next request when the previous one finishes,
so achieved concurrency, per-replica shares and dispatch lag come out as a real run's would.
Every knob is explicit and the randomness is seeded, so tests can assert exact values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmatrix.loadgen.records import RECORD_SCHEMA

#: The load generator's record schema, less the columns these fabricated rows do not set (they
#: load as NULL, as from an older generator).
REQUEST_SCHEMA = pa.schema([
    f for f in RECORD_SCHEMA
    if f.name not in ("request_id", "reasoning_event_count", "image_count", "input_bytes")
])


@dataclass(frozen=True)
class FakeLoad:
    """What the fabricated run looks like; every field is in the units its name says."""

    num_requests: int = 200
    warmup_requests: int = 8
    concurrency: int = 8
    replicas: tuple[str, ...] = ("replica-0", "replica-1")
    prompt_tokens: int = 256
    output_tokens: int = 32
    tokens_per_event: int = 4
    ttft_ms: float = 40.0
    tpot_ms: float = 5.0
    jitter: float = 0.1
    error_every: int = 0  # every k-th measured request fails (0: none)
    dispatch_lag_ms: float = 0.5
    seed: int = 0
    overrides: dict = field(default_factory=dict)


def fabricate_requests(load: FakeLoad | None = None, **kwargs: object) -> pd.DataFrame:
    """Return one row per request (warmup first), in the load generator's column order."""
    load = load or FakeLoad(**kwargs)  # type: ignore[arg-type]
    rng = np.random.default_rng(load.seed)
    total = load.warmup_requests + load.num_requests
    slot_free_s = np.zeros(load.concurrency)
    rows = []
    for index in range(total):
        slot = int(np.argmin(slot_free_s))
        intended = float(slot_free_s[slot])
        sent = intended + load.dispatch_lag_ms / 1000 * rng.uniform(0.5, 1.5)
        is_error = load.error_every > 0 and index >= load.warmup_requests and (
            (index - load.warmup_requests) % load.error_every == load.error_every - 1
        )
        row = _one_request(load, rng, index, slot, intended, sent, is_error)
        slot_free_s[slot] = row["done_s"] if row["done_s"] is not None else sent + 0.01
        rows.append(row)
    frame = pd.DataFrame(rows, columns=REQUEST_SCHEMA.names)
    for column, value in load.overrides.items():
        frame[column] = value
    return frame


def _one_request(load, rng, index, slot, intended, sent, is_error) -> dict:
    replica = load.replicas[index % len(load.replicas)] if load.replicas else None
    base = {
        "request_index": index,
        "is_warmup": index < load.warmup_requests,
        "worker_id": slot % 2,
        "intended_send_s": intended,
        "sent_s": sent,
        "prompt_tokens_target": load.prompt_tokens,
        "output_tokens_target": load.output_tokens,
        "token_source": "server",
        "replica_id": replica,
        "modality": "text",
        "audio_seconds": None,
        "first_reasoning_s": None,
    }
    if is_error:
        return base | _error_fields(sent)
    scale = 1 + load.jitter * rng.standard_normal()
    ttft_s = max(load.ttft_ms * scale, 1.0) / 1000
    event_tokens = _split_tokens(load.output_tokens, load.tokens_per_event)
    gaps_s = np.array(event_tokens[1:], dtype=float) * load.tpot_ms * max(scale, 0.2) / 1000
    times = sent + ttft_s + np.concatenate([[0.0], np.cumsum(gaps_s)])
    return base | {
        "first_byte_s": sent + ttft_s * 0.9,
        "first_token_s": float(times[0]),
        "last_event_s": float(times[-1]),
        "done_s": float(times[-1]) + 0.0005,
        "event_count": len(event_tokens),
        "event_times_s": times.tolist(),
        "event_tokens": event_tokens,
        "prompt_tokens": load.prompt_tokens,
        "completion_tokens": load.output_tokens,
        "http_status": 200,
        "status": "ok",
        "error_kind": None,
        "error_message": None,
        "server_arrival_s": sent + 0.0002,
        "server_first_token_s": float(times[0]) - 0.0002,
        "server_last_token_s": float(times[-1]) - 0.0002,
    }


def _error_fields(sent: float) -> dict:
    return {
        "first_byte_s": sent + 0.002,
        "first_token_s": None,
        "last_event_s": None,
        "done_s": sent + 0.003,
        "event_count": 0,
        "event_times_s": [],
        "event_tokens": [],
        "prompt_tokens": None,
        "completion_tokens": None,
        "http_status": 503,
        "status": "error",
        "error_kind": "http",
        "error_message": "HTTP 503 from upstream",
        "server_arrival_s": None,
        "server_first_token_s": None,
        "server_last_token_s": None,
    }


def _split_tokens(total: int, per_event: int) -> list[int]:
    """First event carries one token (the first visible one), the rest come per_event at a time."""
    if total <= 1:
        return [total]
    rest = total - 1
    chunks = [per_event] * (rest // per_event) + ([rest % per_event] if rest % per_event else [])
    return [1, *chunks]


def write_requests_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` with the contract's Arrow types (list columns included)."""
    table = pa.Table.from_pandas(frame, schema=REQUEST_SCHEMA, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
