"""One generator worker: an event loop that sends its share of the schedule and writes records.

A worker gets a :class:`WorkerPlan` (its request indices, lengths and send times, or its
closed-loop slots), prepares everything that costs CPU (prompt corpus, media pools), waits for
the common ``t0`` and then sends. Records stream to the worker's own Parquet part file.

Stop requests (Ctrl-C in the parent) arrive through ``should_stop``: the worker stops
dispatching, aborts what is in flight (records with ``error_kind='cancelled'``) and flushes.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np

from benchmatrix.loadgen.config import LoadRunConfig
from benchmatrix.loadgen.http import ConnectionPool, HttpConnection
from benchmatrix.loadgen.payloads import BuiltRequest, RequestBuilder
from benchmatrix.loadgen.prompts import PromptFactory
from benchmatrix.loadgen.records import RecordWriter, RequestRecord
from benchmatrix.loadgen.sse import StreamSink
from benchmatrix.loadgen.token_counters import TokenCounter, WordCounter, make_counter

_monotonic = time.monotonic
_POLL_S = 0.05


@dataclass
class WorkerPlan:
    """A worker's share of the schedule (indices into the run's schedule, in send order)."""

    worker_id: int
    config: dict
    run_id: str
    indices: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    is_warmup: np.ndarray
    intended_send_s: np.ndarray | None  # open loop; None for closed loop
    slot_starts_s: np.ndarray | None  # closed loop: this worker's slots
    max_in_flight: int | None  # open-loop cap share
    part_path: Path


@dataclass
class WorkerStats:
    """What a worker reports back when it ends."""

    worker_id: int
    records: int = 0
    cpu_s: float = 0.0
    connections_opened: int = 0
    stopped: bool = False
    error: str | None = None


@dataclass
class _State:
    builder: RequestBuilder
    counter: TokenCounter
    pool: ConnectionPool
    writer: RecordWriter
    t0: float
    timeout_s: float
    should_stop: Callable[[], bool]
    in_flight: dict = field(default_factory=dict)
    done: int = 0
    stopping: bool = False


def prepare(plan: WorkerPlan) -> tuple[RequestBuilder, TokenCounter]:
    """Everything CPU-heavy before t0: tokenizer, prompt corpus, media pools."""
    cfg = LoadRunConfig.model_validate(plan.config)
    counter = make_counter(cfg.tokenizer, cfg.base_url, cfg.model, cfg.headers)
    prompts = PromptFactory(cfg.seed, counter, cfg.shared_prefix_ratio, cfg.unique_prefix,
                            source=cfg.prompt_source)
    stream_counter = counter if not isinstance(counter, WordCounter) and cfg.tokenizer != "server" \
        else WordCounter()  # per-event server round trips would distort timing
    return RequestBuilder(cfg, prompts, plan.run_id), stream_counter


async def run_plan(plan: WorkerPlan, builder: RequestBuilder, counter: TokenCounter,
                   start: Callable[[], Awaitable[float]], should_stop: Callable[[], bool],
                   on_progress: Callable[[int], None] | None = None) -> WorkerStats:
    """Open the connection pool, await ``start()`` for t0 (monotonic s), then send the plan.

    Returns the worker's stats once every dispatched request is recorded.
    """
    cfg = builder.cfg
    pool = ConnectionPool(builder.target, cfg.connect_timeout_s)
    await pool.prefill(_pool_size(plan))  # connecting is not part of any request's latency
    gc_settings = _quiet_gc()
    t0 = await start()
    state = _State(builder, counter, pool, RecordWriter(plan.part_path, cfg.batch_rows), t0,
                   cfg.timeout_s, should_stop)
    watcher = asyncio.ensure_future(_watch(state, on_progress))
    cpu0 = time.process_time()
    try:
        if plan.intended_send_s is None:
            await _closed_loop(plan, state, cfg.duration_s)
        else:
            await _open_loop(plan, state)
    finally:
        cpu_s = time.process_time() - cpu0  # sending and receiving only, not the final flush
        watcher.cancel()
        _cancel_in_flight(state)
        state.pool.close()
        state.writer.close()
        _restore_gc(gc_settings)
    if on_progress:
        on_progress(state.done)
    return WorkerStats(plan.worker_id, state.writer.rows_written, cpu_s, state.pool.opened,
                       state.stopping)


def _quiet_gc() -> tuple[int, int, int]:
    """Move setup objects out of the collector's view and collect young objects less often, so
    no long collection pauses a worker mid-run: on an idle 2-core machine the median TTFT
    overhead p99 at concurrency 64 went from about 5 ms to about 2 ms (bench/loadgen_vs_peers.py;
    50k as first threshold helped c64 but hurt c256, 10k helps both). Reference counting still
    frees almost everything and records leave in batches, so memory stays flat. Returns the old
    thresholds."""
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
    return old


def _restore_gc(old: tuple[int, int, int]) -> None:
    """Undo :func:`_quiet_gc` (inline runs share the caller's interpreter)."""
    gc.set_threshold(*old)
    gc.unfreeze()


def _pool_size(plan: WorkerPlan) -> int:
    """Connections to open before t0: one per slot, or the open-loop cap (at most 64 unknown)."""
    if plan.slot_starts_s is not None:
        return len(plan.slot_starts_s)
    return min(plan.max_in_flight or 64, len(plan.indices))


async def _watch(state: _State, on_progress: Callable[[int], None] | None) -> None:
    """Poll the stop flag and report progress every ``_POLL_S`` seconds."""
    while True:
        await asyncio.sleep(_POLL_S)
        if on_progress:
            on_progress(state.done)
        if state.should_stop():
            state.stopping = True
            _cancel_in_flight(state)


def _new_record(plan: WorkerPlan, k: int, intended_s: float, built: BuiltRequest,
                builder: RequestBuilder) -> RequestRecord:
    idx = int(plan.indices[k])
    return RequestRecord(
        request_index=idx, is_warmup=bool(plan.is_warmup[k]), worker_id=plan.worker_id,
        intended_send_s=intended_s,
        prompt_tokens_target=0 if builder.cfg.endpoint == "audio" else int(plan.input_tokens[k]),
        output_tokens_target=int(plan.output_tokens[k]), modality=builder.cfg.modality,
        prompt_tokens=built.prompt_tokens if builder.cfg.endpoint != "audio" else None,
        audio_seconds=built.audio_seconds, image_count=built.image_count,
        input_bytes=len(built.data), request_id=builder.request_id(idx))


def _build(plan: WorkerPlan, state: _State, k: int) -> BuiltRequest:
    return state.builder.build(int(plan.indices[k]), int(plan.input_tokens[k]),
                               int(plan.output_tokens[k]))


async def _sleep_until(deadline: float, state: _State) -> None:
    """Sleep until monotonic ``deadline``, waking every 0.1 s to notice a stop request."""
    delay = deadline - _monotonic()
    while delay > 0 and not state.stopping:
        await asyncio.sleep(min(delay, 0.1))
        delay = deadline - _monotonic()


async def _open_loop(plan: WorkerPlan, state: _State) -> None:
    """Dispatch each request at t0 + intended time; the optional cap delays (lag recorded)."""
    sem = asyncio.Semaphore(plan.max_in_flight) if plan.max_in_flight else None
    tasks: set[asyncio.Task] = set()
    times = plan.intended_send_s
    for k in range(len(plan.indices)):
        built = _build(plan, state, k)  # before sleeping: build time must not add lag
        await _sleep_until(state.t0 + float(times[k]), state)
        if sem is not None:
            await sem.acquire()
        if state.stopping or state.should_stop():
            state.stopping = True
            break
        record = _new_record(plan, k, float(times[k]), built, state.builder)
        task = asyncio.ensure_future(_execute(state, record, built.data, sem))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _closed_loop(plan: WorkerPlan, state: _State, duration_s: float | None) -> None:
    """Each slot sends its next request as soon as the previous one is recorded."""
    next_k = iter(range(len(plan.indices)))
    end_at = state.t0 + duration_s if duration_s else None

    async def slot(start_s: float) -> None:
        await _sleep_until(state.t0 + start_s, state)
        for k in next_k:
            built = _build(plan, state, k)
            now = _monotonic()
            if state.stopping or (end_at is not None and now >= end_at):
                return
            record = _new_record(plan, k, now - state.t0, built, state.builder)
            await _execute(state, record, built.data, None)

    await asyncio.gather(*(slot(float(s)) for s in plan.slot_starts_s))


async def _execute(state: _State, record: RequestRecord, data: bytes,
                   sem: asyncio.Semaphore | None) -> None:
    """Send one request (retrying once if a reused keep-alive connection was stale)."""
    try:
        sink = await _attempt(state, record, data, retry=True)
        state.writer.add(sink.record)
    finally:
        state.done += 1
        if sem is not None:
            sem.release()


async def _attempt(state: _State, record: RequestRecord, data: bytes, retry: bool) -> StreamSink:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    sink = StreamSink(record, state.t0, state.counter.count,
                      lambda: fut.done() or fut.set_result(None), state.builder.cfg.stream)
    record.sent_s = _monotonic() - state.t0
    reused = state.pool.has_idle
    try:
        conn = await state.pool.acquire()
    except (OSError, asyncio.TimeoutError) as exc:
        sink.on_fail("connect", f"{type(exc).__name__}: {exc}"[:200], _monotonic())
        return sink
    record.sent_s = _monotonic() - state.t0
    conn.send(data, sink)
    state.in_flight[id(sink)] = (sink, conn)
    timer = loop.call_at(state.t0 + record.sent_s + state.timeout_s, _time_out, sink, conn,
                         state.timeout_s)
    try:
        await fut
    finally:
        timer.cancel()
        state.in_flight.pop(id(sink), None)
    state.pool.release(conn)
    if retry and reused and not sink.got_bytes and record.error_kind in ("truncated", "connect"):
        fresh = _reset(record)
        return await _attempt(state, fresh, data, retry=False)
    return sink


def _reset(record: RequestRecord) -> RequestRecord:
    """A blank copy of a record for a retry on a fresh connection."""
    return RequestRecord(
        request_index=record.request_index, is_warmup=record.is_warmup,
        worker_id=record.worker_id, intended_send_s=record.intended_send_s,
        prompt_tokens_target=record.prompt_tokens_target,
        output_tokens_target=record.output_tokens_target, modality=record.modality,
        prompt_tokens=record.prompt_tokens, audio_seconds=record.audio_seconds,
        image_count=record.image_count, input_bytes=record.input_bytes,
        request_id=record.request_id)


def _time_out(sink: StreamSink, conn: HttpConnection, timeout_s: float) -> None:
    sink.on_fail("timeout", f"no complete response within {timeout_s:g} s", _monotonic())
    conn.abort()


def _cancel_in_flight(state: _State) -> None:
    for sink, conn in list(state.in_flight.values()):
        sink.on_fail("cancelled", "run stopped before the response completed", _monotonic())
        conn.abort()
    state.in_flight.clear()
