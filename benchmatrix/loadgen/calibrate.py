"""Self-calibration against the simulated engine's ground truth.

The simulated engine keeps, per request id, raw ``time.monotonic()`` stamps of arrival, first
token and last token (``GET /sim/requests``). On the same host that is the generator's clock,
so mapping is a subtraction of ``t0``. The generator's own overhead on TTFT is then

    overhead_ttft_ms = (first_token_s - sent_s) - (server_first_token_s - server_arrival_s)

i.e. time spent in the client (building, writing, reading, parsing) and on loopback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmatrix.errors import LoadGenError
from benchmatrix.loadgen.records import RECORD_COMPRESSION, RECORD_SCHEMA


@dataclass(frozen=True)
class ServerTimes:
    """One request's server stamps on the raw monotonic clock (s)."""

    arrival: float
    first_token: float | None
    last_token: float | None


@dataclass(frozen=True)
class Calibration:
    """Joined requests and the client overhead on TTFT (ms)."""

    joined: int
    overhead_ttft_p50_ms: float | None
    overhead_ttft_p99_ms: float | None


def fetch_sim_times(url: str, timeout_s: float = 10.0) -> dict[str, ServerTimes]:
    """``GET {url}/sim/requests`` -> request id -> stamps (records without an id skipped)."""
    try:
        resp = httpx.get(url.rstrip("/") + "/sim/requests", timeout=timeout_s)
        resp.raise_for_status()
        rows = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LoadGenError(f"GET {url}/sim/requests failed: {exc} (is it the simulated engine?)") \
            from exc
    return {r["request_id"]: ServerTimes(r["arrival_s"], r.get("first_token_s"),
                                         r.get("last_token_s"))
            for r in rows if r.get("request_id")}


def _join_batch(batch: pa.Table, times: dict[str, ServerTimes], t0: float) -> pa.Table:
    ids = batch.column("request_id").to_pylist()
    found = [times.get(i) if i else None for i in ids]

    def col(attr: str) -> pa.Array:
        vals = [None if f is None or getattr(f, attr) is None else getattr(f, attr) - t0
                for f in found]
        return pa.array(vals, type=pa.float64())

    for name, attr in (("server_arrival_s", "arrival"), ("server_first_token_s", "first_token"),
                       ("server_last_token_s", "last_token")):
        batch = batch.set_column(batch.schema.get_field_index(name), name, col(attr))
    return batch


def join_server_times(path: Path, times: dict[str, ServerTimes], t0_monotonic: float) -> None:
    """Fill the ``server_*_s`` columns of a records file in place, row group by row group."""
    tmp = path.with_suffix(".calibrating.parquet")
    reader = pq.ParquetFile(path)
    with pq.ParquetWriter(tmp, RECORD_SCHEMA, compression=RECORD_COMPRESSION) as writer:
        for i in range(reader.num_row_groups):
            writer.write_table(_join_batch(reader.read_row_group(i), times, t0_monotonic))
    os.replace(tmp, path)


def ttft_overhead_ms(path: Path) -> np.ndarray:
    """Client TTFT minus server TTFT (ms) for ok, non-warmup requests with server stamps."""
    t = pq.read_table(path, columns=["is_warmup", "status", "sent_s", "first_token_s",
                                     "first_reasoning_s", "server_arrival_s",
                                     "server_first_token_s"]).to_pandas()
    t = t[(~t["is_warmup"]) & (t["status"] == "ok")].dropna(
        subset=["server_arrival_s", "server_first_token_s"])
    first = t[["first_token_s", "first_reasoning_s"]].min(axis=1)
    client = first - t["sent_s"]
    server = t["server_first_token_s"] - t["server_arrival_s"]
    return ((client - server) * 1000.0).dropna().to_numpy()


def calibrate(path: Path, sim_urls: list[str], t0_monotonic: float) -> Calibration:
    """Join a run's records with every listed sim replica's stamps; report TTFT overhead."""
    times: dict[str, ServerTimes] = {}
    for url in sim_urls:
        times.update(fetch_sim_times(url))
    join_server_times(path, times, t0_monotonic)
    overhead = ttft_overhead_ms(path)
    if overhead.size == 0:
        return Calibration(0, None, None)
    return Calibration(int(overhead.size), float(np.percentile(overhead, 50)),
                       float(np.percentile(overhead, 99)))
