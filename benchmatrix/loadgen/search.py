"""Sweeps over a list of loads and the search for the highest load that still meets an SLO.

The search strategy is a pure function (:func:`next_probe`) of the probes so far, so it is
tested without a server; :func:`search_max_goodput` only runs the probes it asks for.

Strategy: double the load from ``lo`` until a probe fails the SLO (or ``hi`` is reached), then
bisect between the highest pass and the lowest fail until they are within ``rel_tol``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import pandas as pd

from benchmatrix.loadgen.config import LoadRunConfig
from benchmatrix.loadgen.runner import LoadResult, run_load
from benchmatrix.metrics import ScenarioSummary, Slo, summarize

Knob = Literal["concurrency", "rate_rps"]


@dataclass(frozen=True)
class Probe:
    """One load tried: its value, whether it met the SLO, and its numbers."""

    load: float
    passed: bool
    result: LoadResult | None = None
    summary: ScenarioSummary | None = None


def next_probe(history: list[tuple[float, bool]], lo: float, hi: float, rel_tol: float = 0.1,
               integer: bool = False) -> float | None:
    """The next load to try, or None when the search is done (pure)."""
    passes = [x for x, ok in history if ok]
    fails = [x for x, ok in history if not ok]
    best = max(passes) if passes else None
    worst = min((f for f in fails if best is None or f > best), default=None)
    if not history:
        return lo
    if best is None:
        return None  # even the lowest load fails: nothing meets the SLO
    if worst is None:
        if best >= hi:
            return None
        nxt = min(hi, best * 2)
    else:
        if worst - best <= max(rel_tol * best, 1 if integer else 0):
            return None
        nxt = (best + worst) / 2
    nxt = float(round(nxt)) if integer else nxt
    return None if nxt in (best, worst) else nxt


def probe_config(cfg: LoadRunConfig, knob: Knob, load: float) -> LoadRunConfig:
    """``cfg`` at one load, writing to ``<stem>.<knob><load>.parquet``."""
    value = int(load) if knob == "concurrency" else float(load)
    out = Path(cfg.output_path)
    path = out.with_name(f"{out.stem}.{knob}{value:g}{out.suffix or '.parquet'}")
    other = "rate_rps" if knob == "concurrency" else "concurrency"
    return cfg.model_copy(update={knob: value, other: None, "output_path": path})


def _run_point(cfg: LoadRunConfig, knob: Knob, load: float, slo: Slo | None) -> tuple[
        LoadResult, ScenarioSummary]:
    result = run_load(probe_config(cfg, knob, load))
    return result, summarize(pd.read_parquet(result.records_path), slo)


def sweep(cfg: LoadRunConfig, knob: Knob, loads: list[float], slo: Slo | None = None,
          on_point: Callable[[Probe], None] | None = None) -> list[Probe]:
    """Run ``cfg`` once per load in ``loads`` (in order); one Parquet file per point."""
    probes = []
    for load in loads:
        result, summary = _run_point(cfg, knob, load, slo)
        probe = Probe(load, True, result, summary)
        probes.append(probe)
        if on_point:
            on_point(probe)
    return probes


def search_max_goodput(cfg: LoadRunConfig, slo: Slo, knob: Knob, lo: float, hi: float,
                       min_ratio: float = 0.9, rel_tol: float = 0.1,
                       on_point: Callable[[Probe], None] | None = None) -> list[Probe]:
    """Probe loads until the highest one where >= ``min_ratio`` of requests meet ``slo``.

    Returns every probe; the answer is the passing probe with the largest load (if any).
    """
    probes: list[Probe] = []
    while (load := next_probe([(p.load, p.passed) for p in probes], lo, hi, rel_tol,
                              integer=knob == "concurrency")) is not None:
        result, summary = _run_point(cfg, knob, load, slo)
        passed = (summary.goodput_ratio or 0.0) >= min_ratio and summary.num_ok > 0
        probes.append(Probe(load, passed, result, summary))
        if on_point:
            on_point(probes[-1])
    return probes
