"""Virtual-clock replay of the engine (pure, no server, no sleeping).

Drives the same :class:`Scheduler` and roofline :func:`step_time` the server uses, but advances a
virtual clock by each step's modelled time. Used by ``bench/sim_calibration.py`` and by tests to
predict TTFT / TPOT / throughput of a closed-loop benchmark (``vllm bench serve
--max-concurrency C --random-input-len I --random-output-len O --ignore-eos``) exactly.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmatrix.sim.config import SimEngineConfig
from benchmatrix.sim.model import step_time
from benchmatrix.sim.scheduler import Scheduler, Sequence


@dataclass(frozen=True)
class ReplayResult:
    """Means over the requests of a closed-loop replay; times in seconds."""

    concurrency: int
    requests: int
    mean_ttft_s: float
    mean_tpot_s: float
    duration_s: float
    output_tokens_per_s: float
    preemptions: int


@dataclass(slots=True)
class _Times:
    arrival_s: float
    first_token_s: float | None = None
    finished_s: float | None = None


def replay_closed_loop(cfg: SimEngineConfig, concurrency: int, prompt_tokens: int,
                       output_tokens: int, num_requests: int) -> ReplayResult:
    """``concurrency`` clients each send the next request as soon as the previous one ends.

    Each request pays ``request_overhead_ms`` before it reaches the scheduler (the API
    front end), like the server does.
    """
    sched = Scheduler(cfg.max_num_seqs, cfg.max_num_batched_tokens, cfg.kv_capacity_tokens)
    overhead_s = cfg.request_overhead_ms * 1e-3
    pending: list[tuple[float, Sequence]] = []  # (enters scheduler at, seq)
    times: dict[int, _Times] = {}
    now, sent = 0.0, 0

    def send(at_s: float) -> None:
        nonlocal sent
        seq = Sequence(sent, prompt_tokens, output_tokens)
        times[sent] = _Times(arrival_s=at_s)
        pending.append((at_s + overhead_s, seq))
        sent += 1

    for _ in range(min(concurrency, num_requests)):
        send(0.0)
    while pending or sched.has_work:
        now = _admit_due(sched, pending, now)
        step = sched.schedule()
        now += step_time(cfg, step.shape).total_s
        for seq in sched.complete(step):
            t = times[seq.seq_id]
            if t.first_token_s is None:
                t.first_token_s = now
            if seq.finished:
                t.finished_s = now
                if sent < num_requests:
                    send(now)
    return _summarise(concurrency, times, output_tokens, now, sched.preemptions_total)


def _admit_due(sched: Scheduler, pending: list[tuple[float, Sequence]], now: float) -> float:
    """Move requests whose front-end delay is over into the scheduler; jump the clock if idle."""
    if not sched.has_work and pending:
        now = max(now, min(at for at, _ in pending))
    due = [item for item in pending if item[0] <= now]
    for item in sorted(due, key=lambda it: it[0]):
        pending.remove(item)
        sched.add(item[1])
    return now


def _summarise(concurrency: int, times: dict[int, _Times], output_tokens: int, end_s: float,
               preemptions: int) -> ReplayResult:
    ttfts = [t.first_token_s - t.arrival_s for t in times.values() if t.first_token_s is not None]
    tpots = [(t.finished_s - t.first_token_s) / (output_tokens - 1) for t in times.values()
             if t.finished_s is not None and t.first_token_s is not None and output_tokens > 1]
    return ReplayResult(
        concurrency=concurrency,
        requests=len(times),
        mean_ttft_s=statistics.fmean(ttfts) if ttfts else 0.0,
        mean_tpot_s=statistics.fmean(tpots) if tpots else 0.0,
        duration_s=end_s,
        output_tokens_per_s=len(times) * output_tokens / end_s if end_s > 0 else 0.0,
        preemptions=preemptions,
    )
