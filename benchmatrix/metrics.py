"""Serving metrics over the request records, one named function per metric.

Input: the records DataFrame as written by the load generator (docs/CONTRACTS.md, "Request
record"). Times in the records are seconds since the run's t0; every metric states its unit.

Conventions (see docs/metrics.md for the reasoning and how other tools differ):

* **Warmup** rows (``is_warmup``) are excluded from every metric.
* **Failed requests** (``status != 'ok'``) are excluded from latency metrics and throughputs;
  they count in ``error_rate`` and in the request totals.
* **Percentiles** use linear interpolation between closest ranks (numpy's default 'linear'
  method, same as vLLM and guidellm); NaN values are dropped first.
* ``ttft_ms``: send to the first token-bearing event of any kind (reasoning included).
  ``ttft_visible_ms``: send to the first event with visible content.
* ``tpot_ms``: (last event - first event) / (output tokens - 1): the first token excluded;
  undefined for one-token outputs.
* ``itl_event_ms``: gaps between consecutive token events (what a user sees as stutter).
  ``itl_token_ms``: each gap divided by the tokens of the event that closes it, one value per
  token (so a 4-token event 20 ms after the last one gives four 5 ms values).
* ``e2e_ms``: send to the last token event.
* ``dispatch_lag_ms``: actual minus intended send time (open loop: the schedule's time;
  closed loop: when the slot became free).
* **Duration** (``duration_s``): first measured send to last measured response end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Slo",
    "as_slo",
    "ScenarioSummary",
    "measured",
    "ok_requests",
    "percentile",
    "ttft_ms",
    "ttft_visible_ms",
    "tpot_ms",
    "itl_event_ms",
    "itl_token_ms",
    "e2e_ms",
    "dispatch_lag_ms",
    "real_time_factor",
    "duration_s",
    "request_throughput_rps",
    "input_token_throughput_tps",
    "output_token_throughput_tps",
    "total_token_throughput_tps",
    "meets_slo",
    "goodput_rps",
    "error_rate",
    "errors_by_kind",
    "per_request_metrics",
    "summarize",
]


class Slo(BaseModel):
    """Per-request latency thresholds for goodput (ms); a missing threshold is not checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float | None = Field(default=None, gt=0, description="Max time to first token.")
    tpot_ms: float | None = Field(default=None, gt=0, description="Max time per output token.")
    e2e_ms: float | None = Field(default=None, gt=0, description="Max end-to-end latency.")


# selections -------------------------------------------------------------------------------

def measured(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that count: warmup excluded."""
    return df[~df["is_warmup"].astype(bool)]


def ok_requests(df: pd.DataFrame) -> pd.DataFrame:
    """Measured rows with ``status == 'ok'``."""
    m = measured(df)
    return m[m["status"] == "ok"]


def percentile(values: Sequence[float] | np.ndarray | pd.Series, q: float) -> float | None:
    """``q``-th percentile (0-100) by linear interpolation; NaN dropped; None if empty."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return None
    return float(np.percentile(arr, q, method="linear"))


# per-request latencies (ms), over ok requests -----------------------------------------------

def _first_event_s(df: pd.DataFrame) -> pd.Series:
    return df[["first_token_s", "first_reasoning_s"]].astype("float64").min(axis=1, skipna=True)


def ttft_ms(df: pd.DataFrame) -> pd.Series:
    """Time to first token of any kind (ms) per ok request: first token event - sent_s."""
    ok = ok_requests(df)
    return (_first_event_s(ok) - ok["sent_s"]) * 1000.0


def ttft_visible_ms(df: pd.DataFrame) -> pd.Series:
    """Time to first visible content token (ms) per ok request (reasoning excluded)."""
    ok = ok_requests(df)
    return (ok["first_token_s"].astype("float64") - ok["sent_s"]) * 1000.0


def tpot_ms(df: pd.DataFrame) -> pd.Series:
    """Time per output token after the first (ms): (last - first event) / (tokens - 1).

    NaN for outputs of fewer than two tokens.
    """
    ok = ok_requests(df)
    tokens = ok["completion_tokens"].astype("float64")
    span = ok["last_event_s"].astype("float64") - _first_event_s(ok)
    return (span * 1000.0 / (tokens - 1)).where(tokens >= 2)


def e2e_ms(df: pd.DataFrame) -> pd.Series:
    """End-to-end latency (ms) per ok request: last token event - sent_s."""
    ok = ok_requests(df)
    return (ok["last_event_s"].astype("float64") - ok["sent_s"]) * 1000.0


def dispatch_lag_ms(df: pd.DataFrame) -> pd.Series:
    """Actual minus intended send time (ms) per measured request (errors included)."""
    m = measured(df)
    return (m["sent_s"] - m["intended_send_s"]) * 1000.0


def real_time_factor(df: pd.DataFrame) -> pd.Series:
    """Speech: e2e latency / audio length (dimensionless; < 1 is faster than real time)."""
    ok = ok_requests(df)
    audio = ok["audio_seconds"].astype("float64")
    return ((ok["last_event_s"].astype("float64") - ok["sent_s"]) / audio).where(audio > 0)


def _flat_events(ok: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated event times (s), tokens, and a mask of gaps inside one request."""
    times_col = ok["event_times_s"].to_numpy()
    if len(times_col) == 0:
        empty = np.empty(0)
        return empty, empty, np.empty(0, dtype=bool)
    lengths = np.fromiter((len(x) for x in times_col), dtype=np.int64, count=len(times_col))
    times = np.concatenate([np.asarray(x, dtype=np.float64) for x in times_col])
    tokens = np.concatenate([np.asarray(x, dtype=np.float64) for x in ok["event_tokens"].to_numpy()])
    offsets = np.cumsum(lengths) - lengths
    starts = np.zeros(len(times), dtype=bool)
    starts[offsets[lengths > 0]] = True  # first event of each request: no gap before it
    return times, tokens, ~starts


def itl_event_ms(df: pd.DataFrame) -> np.ndarray:
    """All gaps (ms) between consecutive token events within each ok request."""
    times, _, inner = _flat_events(ok_requests(df))
    if times.size < 2:
        return np.empty(0)
    gaps = np.diff(times) * 1000.0
    return gaps[inner[1:]]


def itl_token_ms(df: pd.DataFrame) -> np.ndarray:
    """Per-token inter-token latency (ms): each event gap over its tokens, repeated per token."""
    times, tokens, inner = _flat_events(ok_requests(df))
    if times.size < 2:
        return np.empty(0)
    gaps = np.diff(times) * 1000.0
    closing_tokens = tokens[1:]
    keep = inner[1:] & (closing_tokens > 0)
    per_token = gaps[keep] / closing_tokens[keep]
    return np.repeat(per_token, closing_tokens[keep].astype(np.int64))


# run-level rates -------------------------------------------------------------------------------

def duration_s(df: pd.DataFrame) -> float:
    """Measured window (s): first measured send to last measured response end."""
    m = measured(df)
    if m.empty:
        return 0.0
    start = m["sent_s"].min()
    end = m["done_s"].max()
    if pd.isna(start) or pd.isna(end):
        return 0.0
    return float(max(0.0, end - start))


def _per_s(total: float, df: pd.DataFrame) -> float:
    d = duration_s(df)
    return float(total / d) if d > 0 else 0.0


def request_throughput_rps(df: pd.DataFrame) -> float:
    """Completed ok requests per second over :func:`duration_s`."""
    return _per_s(len(ok_requests(df)), df)


def input_token_throughput_tps(df: pd.DataFrame) -> float:
    """Prompt tokens of ok requests per second (server usage, else client count)."""
    return _per_s(float(ok_requests(df)["prompt_tokens"].fillna(0).sum()), df)


def output_token_throughput_tps(df: pd.DataFrame) -> float:
    """Output tokens of ok requests per second (server usage, else client count)."""
    return _per_s(float(ok_requests(df)["completion_tokens"].fillna(0).sum()), df)


def total_token_throughput_tps(df: pd.DataFrame) -> float:
    """Input plus output tokens of ok requests per second."""
    return input_token_throughput_tps(df) + output_token_throughput_tps(df)


def meets_slo(df: pd.DataFrame, slo: Slo) -> pd.Series:
    """Per ok request: True when every given threshold holds (a NaN metric fails it)."""
    ok = ok_requests(df)
    passed = pd.Series(True, index=ok.index)
    for value, metric in ((slo.ttft_ms, ttft_ms), (slo.tpot_ms, tpot_ms), (slo.e2e_ms, e2e_ms)):
        if value is not None:
            series = metric(df)
            if metric is tpot_ms:  # one-token outputs have no TPOT: nothing to violate
                series = series.fillna(0.0)
            passed &= series.le(value).fillna(False)
    return passed


def goodput_rps(df: pd.DataFrame, slo: Slo) -> float:
    """Ok requests per second that met every SLO threshold."""
    return _per_s(float(meets_slo(df, slo).sum()), df)


def error_rate(df: pd.DataFrame) -> float:
    """Share of measured requests with ``status == 'error'`` (0..1)."""
    m = measured(df)
    return float((m["status"] == "error").mean()) if len(m) else 0.0


def errors_by_kind(df: pd.DataFrame) -> dict[str, int]:
    """Count of measured failed requests per ``error_kind``."""
    m = measured(df)
    kinds = m.loc[m["status"] == "error", "error_kind"].fillna("unknown")
    return {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()}


# tables and summaries --------------------------------------------------------------------------

def _per_request_itl(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for times, tokens in zip(df["event_times_s"].to_numpy(), df["event_tokens"].to_numpy()):
        t = np.asarray(times, dtype=np.float64)
        k = np.asarray(tokens, dtype=np.float64)
        if t.size < 2:
            rows.append((np.nan, np.nan, np.nan))
            continue
        gaps = np.diff(t) * 1000.0
        rows.append((gaps.mean(), gaps.max(), gaps.sum() / max(1.0, k[1:].sum())))
    return pd.DataFrame(rows, index=df.index,
                        columns=["itl_event_ms_mean", "itl_event_ms_max", "itl_token_ms_mean"])


def per_request_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """One row per record with derived metrics (NaN where undefined, e.g. failed requests).

    Columns: request_index, is_warmup, status, error_kind, ttft_ms, ttft_visible_ms, tpot_ms,
    e2e_ms, itl_event_ms_mean, itl_event_ms_max, itl_token_ms_mean, dispatch_lag_ms,
    output_tokens, prompt_tokens, real_time_factor.
    """
    ok = (df["status"] == "ok")
    first = _first_event_s(df)
    sent = df["sent_s"].astype("float64")
    tokens = df["completion_tokens"].astype("float64")
    last = df["last_event_s"].astype("float64")
    out = pd.DataFrame({
        "request_index": df["request_index"], "is_warmup": df["is_warmup"],
        "status": df["status"], "error_kind": df["error_kind"],
        "ttft_ms": ((first - sent) * 1000.0).where(ok),
        "ttft_visible_ms": ((df["first_token_s"].astype("float64") - sent) * 1000.0).where(ok),
        "tpot_ms": ((last - first) * 1000.0 / (tokens - 1)).where(ok & (tokens >= 2)),
        "e2e_ms": ((last - sent) * 1000.0).where(ok),
        "dispatch_lag_ms": (sent - df["intended_send_s"]) * 1000.0,
        "output_tokens": df["completion_tokens"], "prompt_tokens": df["prompt_tokens"],
        "real_time_factor": ((last - sent) / df["audio_seconds"].astype("float64")).where(ok),
    }, index=df.index)
    itl = _per_request_itl(df).where(ok)
    return pd.concat([out, itl], axis=1)


class ScenarioSummary(BaseModel):
    """Headline numbers of one run (warmup excluded; latencies over ok requests; ms and /s)."""

    model_config = ConfigDict(extra="forbid")

    num_requests: int = Field(description="Measured requests (warmup excluded).")
    num_ok: int
    num_errors: int
    num_warmup: int
    error_rate: float = Field(description="num_errors / num_requests.")
    errors_by_kind: dict[str, int]
    duration_s: float = Field(description="First measured send to last response end.")
    request_throughput_rps: float
    input_token_throughput_tps: float
    output_token_throughput_tps: float
    total_token_throughput_tps: float
    goodput_rps: float | None = Field(default=None, description="Ok requests/s meeting the SLO.")
    goodput_ratio: float | None = Field(default=None, description="Share of ok requests meeting it.")
    ttft_ms_p50: float | None = None
    ttft_ms_p90: float | None = None
    ttft_ms_p99: float | None = None
    ttft_ms_mean: float | None = None
    ttft_visible_ms_p50: float | None = None
    ttft_visible_ms_p99: float | None = None
    tpot_ms_p50: float | None = None
    tpot_ms_p90: float | None = None
    tpot_ms_p99: float | None = None
    tpot_ms_mean: float | None = None
    itl_event_ms_p50: float | None = None
    itl_event_ms_p90: float | None = None
    itl_event_ms_p99: float | None = None
    itl_event_ms_mean: float | None = None
    itl_token_ms_p50: float | None = None
    itl_token_ms_p90: float | None = None
    itl_token_ms_p99: float | None = None
    itl_token_ms_mean: float | None = None
    e2e_ms_p50: float | None = None
    e2e_ms_p90: float | None = None
    e2e_ms_p99: float | None = None
    e2e_ms_mean: float | None = None
    dispatch_lag_ms_p50: float | None = None
    dispatch_lag_ms_p99: float | None = None
    mean_prompt_tokens: float | None = None
    mean_output_tokens: float | None = None
    audio_seconds_total: float | None = Field(default=None, description="Speech input, seconds.")
    real_time_factor_mean: float | None = Field(default=None, description="Speech: e2e / audio.")


def as_slo(obj: object) -> Slo:
    """An :class:`Slo` from a Slo, a dict, or any object with ttft_ms/tpot_ms/e2e_ms (the spec's)."""
    if isinstance(obj, Slo):
        return obj
    if isinstance(obj, dict):
        return Slo(**{k: obj.get(k) for k in ("ttft_ms", "tpot_ms", "e2e_ms")})
    return Slo(**{k: getattr(obj, k, None) for k in ("ttft_ms", "tpot_ms", "e2e_ms")})


def _mean(values: np.ndarray | pd.Series) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else None


def _stats(name: str, values: np.ndarray | pd.Series, qs: tuple[int, ...] = (50, 90, 99),
           with_mean: bool = True) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"{name}_p{q}": percentile(values, q) for q in qs}
    if with_mean:
        out[f"{name}_mean"] = _mean(values)
    return out


def _speech(df: pd.DataFrame) -> dict[str, float | None]:
    ok = ok_requests(df)
    if "audio_seconds" not in ok or ok["audio_seconds"].isna().all():
        return {}
    return {"audio_seconds_total": float(ok["audio_seconds"].sum()),
            "real_time_factor_mean": _mean(real_time_factor(df))}


def summarize(df: pd.DataFrame, slo: Slo | dict | None = None) -> ScenarioSummary:
    """All headline metrics of one run's records (warmup excluded)."""
    m, ok = measured(df), ok_requests(df)
    fields: dict = {
        "num_requests": len(m), "num_ok": len(ok), "num_errors": int((m["status"] == "error").sum()),
        "num_warmup": int(len(df) - len(m)), "error_rate": error_rate(df),
        "errors_by_kind": errors_by_kind(df), "duration_s": duration_s(df),
        "request_throughput_rps": request_throughput_rps(df),
        "input_token_throughput_tps": input_token_throughput_tps(df),
        "output_token_throughput_tps": output_token_throughput_tps(df),
        "total_token_throughput_tps": total_token_throughput_tps(df),
        "mean_prompt_tokens": _mean(ok["prompt_tokens"].astype("float64")),
        "mean_output_tokens": _mean(ok["completion_tokens"].astype("float64")),
    }
    fields |= _stats("ttft_ms", ttft_ms(df))
    fields |= _stats("ttft_visible_ms", ttft_visible_ms(df), (50, 99), with_mean=False)
    fields |= _stats("tpot_ms", tpot_ms(df)) | _stats("e2e_ms", e2e_ms(df))
    fields |= _stats("itl_event_ms", itl_event_ms(df)) | _stats("itl_token_ms", itl_token_ms(df))
    fields |= _stats("dispatch_lag_ms", dispatch_lag_ms(df), (50, 99), with_mean=False)
    fields |= _speech(df)
    if slo is not None:
        slo = as_slo(slo)
        good = meets_slo(df, slo)
        fields["goodput_rps"] = goodput_rps(df, slo)
        fields["goodput_ratio"] = float(good.mean()) if len(good) else None
    return ScenarioSummary(**fields)
