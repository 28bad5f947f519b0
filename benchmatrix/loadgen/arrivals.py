"""Arrival schedules as pure functions of their parameters and an explicit seed.

Open loop: the schedule fixes each request's intended send time (seconds after ``t0``) before
the run, so lateness is measured as dispatch lag instead of hidden (no coordinated omission).
Closed loop: ``concurrency`` slots each send the next request as soon as their previous one
finishes; only the slots' start offsets (ramp-up) are scheduled.

Every function here is deterministic: same arguments, same seed -> same array.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmatrix.distributions import sample_lengths
from benchmatrix.errors import LoadGenError


def derive_seed(seed: int, stream: str) -> int:
    """Independent 63-bit seed for one random stream (lengths, arrivals, prompts...)."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def constant_arrivals(n: int, rate_rps: float) -> np.ndarray:
    """Send times (s) ``0, 1/r, 2/r, ...`` for ``n`` requests at ``rate_rps``."""
    return np.arange(n, dtype=np.float64) / rate_rps


def gamma_arrivals(n: int, rate_rps: float, burstiness: float, seed: int) -> np.ndarray:
    """Send times (s) with Gamma(shape=burstiness, mean=1/rate) gaps; the first at 0.

    ``burstiness`` 1 is a Poisson process; below 1 is burstier, above 1 more regular.
    """
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate_rps * burstiness), size=n)
    times = np.empty(n, dtype=np.float64)
    if n:
        times[0] = 0.0
        np.cumsum(gaps[:-1], out=times[1:])
    return times


def poisson_arrivals(n: int, rate_rps: float, seed: int) -> np.ndarray:
    """Send times (s) of a Poisson process at ``rate_rps`` (exponential gaps); the first at 0."""
    return gamma_arrivals(n, rate_rps, 1.0, seed)


def apply_ramp(times_s: np.ndarray, ramp_s: float) -> np.ndarray:
    """Warp full-rate send times so the rate rises linearly from 0 to full over ``ramp_s``.

    With rate r(s) = R*s/ramp for s < ramp, the cumulative count reaches R*t at
    s = sqrt(2*ramp*t) for t < ramp/2 and at s = t + ramp/2 after, whatever R is.
    """
    t = np.asarray(times_s, dtype=np.float64)
    return np.where(t < ramp_s / 2, np.sqrt(2.0 * ramp_s * t), t + ramp_s / 2)


def truncate_to_duration(times_s: np.ndarray, duration_s: float | None) -> np.ndarray:
    """Drop send times at or after ``duration_s`` (None keeps all)."""
    if duration_s is None:
        return times_s
    return times_s[times_s < duration_s]


def closed_loop_slot_starts(concurrency: int, ramp_s: float | None) -> np.ndarray:
    """Start offset (s) of each closed-loop slot: all at 0, or spread evenly over the ramp."""
    if not ramp_s:
        return np.zeros(concurrency, dtype=np.float64)
    return np.arange(concurrency, dtype=np.float64) * (ramp_s / concurrency)


def open_loop_times(
    n: int, rate_rps: float, arrival: str, burstiness: float, seed: int
) -> np.ndarray:
    """Dispatch to the named arrival process ('constant', 'poisson', 'gamma')."""
    if arrival == "constant":
        return constant_arrivals(n, rate_rps)
    if arrival == "poisson":
        return poisson_arrivals(n, rate_rps, seed)
    if arrival == "gamma":
        return gamma_arrivals(n, rate_rps, burstiness, seed)
    raise LoadGenError(f"unknown arrival process {arrival!r}: use constant, poisson or gamma")


@dataclass(frozen=True)
class TraceRow:
    """One request of a replayed trace."""

    timestamp_s: float
    input_tokens: int
    output_tokens: int


def _trace_row(obj: dict, line_no: int, path: Path) -> TraceRow:
    try:
        if "timestamp_s" in obj:
            ts = float(obj["timestamp_s"])
        else:
            ts = float(obj["timestamp"]) / 1000.0  # Mooncake-style traces use milliseconds
        inp = int(obj.get("input_tokens", obj.get("input_length")))
        out = int(obj.get("output_tokens", obj.get("output_length")))
    except (KeyError, TypeError, ValueError) as exc:
        raise LoadGenError(
            f"{path}:{line_no}: need timestamp_s (or timestamp in ms), input_tokens "
            f"(or input_length) and output_tokens (or output_length): {exc}"
        ) from exc
    return TraceRow(ts, max(1, inp), max(1, out))


def read_trace(path: Path) -> list[TraceRow]:
    """Read a JSONL trace; times are shifted so the first request is at 0 and sorted."""
    rows: list[TraceRow] = []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LoadGenError(f"{path}:{line_no}: not JSON: {exc}") from exc
            rows.append(_trace_row(obj, line_no, Path(path)))
    if not rows:
        raise LoadGenError(f"{path}: trace is empty")
    rows.sort(key=lambda r: r.timestamp_s)
    first = rows[0].timestamp_s
    return [TraceRow(r.timestamp_s - first, r.input_tokens, r.output_tokens) for r in rows]


@dataclass(frozen=True)
class Schedule:
    """What every request of a run is: lengths, warmup flag and (open loop) its send time.

    ``intended_send_s`` is None for closed loop, where ``slot_starts_s`` holds the slot offsets.
    """

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    is_warmup: np.ndarray
    intended_send_s: np.ndarray | None
    slot_starts_s: np.ndarray | None

    @property
    def num_requests(self) -> int:
        """Number of requests in the schedule (warmup included)."""
        return int(len(self.input_tokens))


def _warmup_mask(n: int, warmup: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[: min(warmup, n)] = True
    return mask


def build_schedule(cfg: "LoadRunConfig") -> Schedule:  # type: ignore[name-defined]  # noqa: F821
    """Pure: the full schedule of ``cfg`` (lengths, warmup, arrivals), from ``cfg.seed``."""
    ramp_s = cfg.ramp_up.duration_s if cfg.ramp_up else None
    if cfg.trace_path is not None:
        rows = read_trace(cfg.trace_path)[: cfg.num_requests]
        times = truncate_to_duration(np.array([r.timestamp_s for r in rows]), cfg.duration_s)
        n = len(times)
        inp = np.array([r.input_tokens for r in rows[:n]], dtype=np.int64)
        out = np.array([r.output_tokens for r in rows[:n]], dtype=np.int64)
        return Schedule(inp, out, _warmup_mask(n, cfg.warmup_requests), times, None)
    n = cfg.num_requests
    inp = sample_lengths(cfg.input_tokens, n, derive_seed(cfg.seed, "input_tokens"))
    out = sample_lengths(cfg.output_tokens, n, derive_seed(cfg.seed, "output_tokens"))
    if cfg.concurrency is not None:
        slots = closed_loop_slot_starts(cfg.concurrency, ramp_s)
        return Schedule(inp, out, _warmup_mask(n, cfg.warmup_requests), None, slots)
    times = open_loop_times(n, cfg.rate_rps, cfg.arrival, cfg.burstiness,
                            derive_seed(cfg.seed, "arrivals"))
    if ramp_s:
        times = apply_ramp(times, ramp_s)
    times = truncate_to_duration(times, cfg.duration_s)
    m = len(times)
    return Schedule(inp[:m], out[:m], _warmup_mask(m, cfg.warmup_requests), times, None)
