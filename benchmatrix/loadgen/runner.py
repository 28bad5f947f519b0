"""``run_load``: split one schedule over worker processes, start them at a common ``t0``, merge.

Process model: the parent builds the whole schedule (pure, seeded), deals request ``i`` to
worker ``i % W`` (closed-loop slots and the open-loop cap are dealt the same way), starts the
workers (plain subprocesses: callers need no ``__main__`` guard), waits until each has prepared its prompts and media, then sends them one
``t0`` a few milliseconds in the future on CLOCK_MONOTONIC (shared by all processes on Linux).
With one worker everything runs in the calling process.

Ctrl-C: workers run in their own session and ignore SIGINT; the parent tells them to stop,
workers record what is in
flight as ``cancelled`` and flush, and the result comes back with ``partial=True``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.errors import LoadGenError
from benchmatrix.loadgen.arrivals import Schedule, build_schedule
from benchmatrix.loadgen.calibrate import calibrate
from benchmatrix.loadgen.config import LoadRunConfig, default_workers
from benchmatrix.loadgen.records import merge_parts
from benchmatrix.loadgen.worker import WorkerPlan, WorkerStats, prepare, run_plan

Progress = Callable[[int, int], None]

CLIENT_BOUND_LAG_P99_MS = 10.0
CLIENT_BOUND_CPU_SHARE = 0.85
_START_MARGIN_S = 0.05


class LoadResult(BaseModel):
    """Outcome of one load run; the records themselves are in ``records_path``."""

    model_config = ConfigDict(extra="forbid")

    records_path: Path = Field(description="Parquet file with one row per request.")
    run_id: str = Field(description="Prefix of every request's x-request-id.")
    num_records: int = Field(description="Rows written (warmup included).")
    num_ok: int = Field(description="Non-warmup requests with status 'ok'.")
    num_errors: int = Field(description="Non-warmup requests with status 'error'.")
    num_warmup: int = Field(description="Warmup rows (excluded from results).")
    started_at: datetime = Field(description="UTC wall clock at t0.")
    t0_monotonic: float = Field(description="t0 on CLOCK_MONOTONIC (s); record times are relative.")
    duration_s: float = Field(description="t0 to the last response end (s).")
    client_cpu_s: float = Field(description="CPU seconds used by all generator processes.")
    client_cpu_share: float = Field(description="client_cpu_s / (duration_s * workers).")
    dispatch_lag_p99_ms: float | None = Field(description="p99 of sent - intended send time (ms).")
    is_client_bound: bool = Field(description="Lag p99 or CPU share passed its bound.")
    client_bound_reason: str | None = Field(default=None, description="Why, if client-bound.")
    workers: int = Field(description="Worker processes used.")
    connections_opened: int = Field(description="TCP connections opened in total.")
    partial: bool = Field(default=False, description="Stopped early (Ctrl-C): records are partial.")
    overhead_ttft_p50_ms: float | None = Field(
        default=None, description="Self-calibration: client minus server TTFT, p50 (ms).")
    overhead_ttft_p99_ms: float | None = Field(
        default=None, description="Self-calibration: client minus server TTFT, p99 (ms).")
    calibrated_requests: int = Field(default=0, description="Records joined with server times.")


def deal(schedule: Schedule, cfg: LoadRunConfig, workers: int, parts_dir: Path,
         run_id: str) -> list[WorkerPlan]:
    """Pure: split the schedule round-robin into one plan per worker."""
    plans = []
    config = cfg.model_dump(mode="json")
    for w in range(workers):
        idx = np.arange(w, schedule.num_requests, workers)
        plans.append(WorkerPlan(
            worker_id=w, config=config, run_id=run_id, indices=idx,
            input_tokens=schedule.input_tokens[idx], output_tokens=schedule.output_tokens[idx],
            is_warmup=schedule.is_warmup[idx],
            intended_send_s=None if schedule.intended_send_s is None
            else schedule.intended_send_s[idx],
            slot_starts_s=None if schedule.slot_starts_s is None
            else schedule.slot_starts_s[w::workers],
            max_in_flight=_share(cfg.max_concurrency, w, workers),
            part_path=parts_dir / f"worker-{w:03d}.parquet"))
    return plans


def _share(total: int | None, w: int, workers: int) -> int | None:
    if total is None:
        return None
    return max(1, total // workers + (1 if w < total % workers else 0))


def run_load(cfg: LoadRunConfig, progress: Progress | None = None) -> LoadResult:
    """Run the load described by ``cfg``; blocks until done (or Ctrl-C, then ``partial``)."""
    schedule = build_schedule(cfg)
    if schedule.num_requests == 0:
        raise LoadGenError("the schedule is empty: duration_s too short for the rate?")
    workers = min(default_workers(cfg), schedule.num_requests)
    if cfg.concurrency is not None:
        workers = min(workers, cfg.concurrency)
    run_id = cfg.run_id or uuid.uuid4().hex[:12]
    out = Path(cfg.output_path)
    parts_dir = out.parent / f".{out.stem}.{run_id}.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    plans = deal(schedule, cfg, workers, parts_dir, run_id)
    try:
        if workers == 1:
            outcome = _run_inline(plans[0], schedule.num_requests, progress)
        else:
            outcome = _run_processes(plans, schedule.num_requests, progress)
        rows = merge_parts([p.part_path for p in plans], out)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    result = _result(out, run_id, rows, outcome, workers)
    if cfg.calibrate_urls:
        cal = calibrate(out, cfg.calibrate_urls, outcome.t0)
        result = result.model_copy(update={
            "overhead_ttft_p50_ms": cal.overhead_ttft_p50_ms,
            "overhead_ttft_p99_ms": cal.overhead_ttft_p99_ms,
            "calibrated_requests": cal.joined})
    return result


class _Outcome:
    def __init__(self, t0: float, started_at: datetime, stats: list[WorkerStats],
                 partial: bool) -> None:
        self.t0, self.started_at, self.stats, self.partial = t0, started_at, stats, partial


def _wall_at(t0: float) -> datetime:
    """UTC wall-clock time corresponding to monotonic ``t0``."""
    return datetime.now(timezone.utc) + timedelta(seconds=t0 - time.monotonic())


def _run_inline(plan: WorkerPlan, total: int, progress: Progress | None) -> _Outcome:
    """One worker in this process, on a helper thread (the caller may run its own event loop)."""
    builder, counter = prepare(plan)
    stop = threading.Event()
    box: dict = {}

    def report(done: int) -> None:
        if progress:
            progress(done, total)

    async def start() -> float:
        box["t0"] = time.monotonic() + _START_MARGIN_S
        return box["t0"]

    finished = threading.Event()

    def target() -> None:
        try:
            box["stats"] = asyncio.run(run_plan(plan, builder, counter, start, stop.is_set, report))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            finished.set()

    # Event.wait, not Thread.join: a join interrupted by Ctrl-C can mark the thread finished
    # while it still runs (CPython gh-90882).
    threading.Thread(target=target, name="benchmatrix-loadgen", daemon=True).start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        stop.set()
        finished.wait()
    if "stats" not in box:
        exc = box.get("error")
        raise LoadGenError(f"the load generator failed: {type(exc).__name__}: {exc}") from exc
    stats = box["stats"]
    return _Outcome(box["t0"], _wall_at(box["t0"]), [stats], stop.is_set() or stats.stopped)


def _spawn(plan: WorkerPlan, plan_file: Path) -> subprocess.Popen:
    """Start one worker process (see ``benchmatrix.loadgen._proc`` for its line protocol)."""
    with open(plan_file, "wb") as fh:
        pickle.dump(plan, fh)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmatrix.loadgen._proc", str(plan_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        start_new_session=True)  # Ctrl-C reaches only the parent, which stops workers cleanly


def _pump(worker_id: int, proc: subprocess.Popen, inbox: queue.Queue) -> None:
    """Forward a worker's protocol lines to the parent's inbox; ('eof', id) when it exits."""
    for line in proc.stdout:  # type: ignore[union-attr]
        kind, _, payload = line.rstrip("\n").partition(" ")
        inbox.put((kind, worker_id, payload))
    inbox.put(("eof", worker_id, ""))


def _tell(procs: list[subprocess.Popen], line: str) -> None:
    for proc in procs:
        try:
            proc.stdin.write(line + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError, ValueError):
            pass


def _run_processes(plans: list[WorkerPlan], total: int, progress: Progress | None) -> _Outcome:
    inbox: queue.Queue = queue.Queue()
    procs = [_spawn(p, p.part_path.with_suffix(".plan")) for p in plans]
    for i, proc in enumerate(procs):
        threading.Thread(target=_pump, args=(i, proc, inbox), daemon=True).start()
    try:
        _await_ready(inbox, procs)
        t0 = time.monotonic() + _START_MARGIN_S
        _tell(procs, f"start {t0!r}")
        stats, interrupted = _collect(inbox, procs, total, progress)
    finally:
        _tell(procs, "quit")
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return _Outcome(t0, _wall_at(t0), stats, interrupted or any(s.stopped for s in stats))


def _await_ready(inbox: queue.Queue, procs: list[subprocess.Popen]) -> None:
    """Wait for every worker's preparation; a failure stops all and raises LoadGenError."""
    errors, ready = [], 0
    while ready + len(errors) < len(procs):
        try:
            kind, worker_id, payload = inbox.get(timeout=300)
        except queue.Empty:
            errors.append("a worker did not finish preparing within 300 s")
            break
        if kind == "ready":
            ready += 1
        elif kind in ("error", "eof"):
            errors.append(f"worker {worker_id}: {payload or 'exited during preparation'}")
    if errors:
        _tell(procs, "quit")
        raise LoadGenError("load generator workers failed to prepare: " + "; ".join(errors))


def _collect(inbox: queue.Queue, procs: list[subprocess.Popen], total: int,
             progress: Progress | None) -> tuple[list[WorkerStats], bool]:
    """Drain progress reports until every worker is done; Ctrl-C tells workers to stop."""
    done_by_worker = [0] * len(procs)
    stats: dict[int, WorkerStats] = {}
    ended: set[int] = set()
    interrupted = False
    while len(ended) < len(procs):
        try:
            kind, worker_id, payload = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            _tell(procs, "stop")
            interrupted = True
            continue
        if kind == "done":
            stats[worker_id] = WorkerStats(**json.loads(payload))
        elif kind == "eof":
            ended.add(worker_id)
        elif kind == "progress":
            done_by_worker[worker_id] = int(payload)
            if progress:
                progress(sum(done_by_worker), total)
    missing = [i for i in range(len(procs)) if i not in stats]
    if missing and not interrupted:
        raise LoadGenError(f"load generator workers {missing} died; see their stderr above")
    return [stats[i] for i in sorted(stats)], interrupted


def _result(path: Path, run_id: str, rows: int, outcome: _Outcome, workers: int) -> LoadResult:
    table = pq.read_table(path, columns=["is_warmup", "status", "sent_s", "intended_send_s",
                                         "done_s"])
    df = table.to_pandas()
    measured = df[~df["is_warmup"]]
    lag_ms = (measured["sent_s"] - measured["intended_send_s"]).dropna() * 1000.0
    lag_p99 = float(np.percentile(lag_ms, 99)) if len(lag_ms) else None
    duration = float(df["done_s"].max()) if df["done_s"].notna().any() else 0.0
    cpu = sum(s.cpu_s for s in outcome.stats)
    share = cpu / (duration * workers) if duration > 0 else 0.0
    reason = _client_bound_reason(lag_p99, share)
    return LoadResult(
        records_path=path, run_id=run_id, num_records=rows,
        num_ok=int((measured["status"] == "ok").sum()),
        num_errors=int((measured["status"] == "error").sum()),
        num_warmup=int(df["is_warmup"].sum()), started_at=outcome.started_at,
        t0_monotonic=outcome.t0, duration_s=duration, client_cpu_s=cpu, client_cpu_share=share,
        dispatch_lag_p99_ms=lag_p99, is_client_bound=reason is not None,
        client_bound_reason=reason, workers=workers,
        connections_opened=sum(s.connections_opened for s in outcome.stats),
        partial=outcome.partial)


def _client_bound_reason(lag_p99_ms: float | None, cpu_share: float) -> str | None:
    """Why the generator itself may have limited the measurement, or None."""
    if lag_p99_ms is not None and lag_p99_ms > CLIENT_BOUND_LAG_P99_MS:
        return f"dispatch lag p99 {lag_p99_ms:.1f} ms > {CLIENT_BOUND_LAG_P99_MS:g} ms"
    if cpu_share > CLIENT_BOUND_CPU_SHARE:
        return f"generator CPU share {cpu_share:.0%} > {CLIENT_BOUND_CPU_SHARE:.0%} per worker"
    return None
