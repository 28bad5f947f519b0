"""The engine loop: scheduler steps timed by the roofline model, tokens streamed to clients.

Each iteration plans a step, sleeps ``step_time x time_scale`` and applies the step, writing
each affected stream once. Sleeps are deadline-chained: a step that woke late (the event loop's
~1 ms timer granularity, a busy host) is made up by the following steps, up to
``MAX_CATCH_UP_S`` behind, so the average token rate follows the model.

Every request gets a ground-truth :class:`RequestRecord` with raw
``time.monotonic()`` seconds (CLOCK_MONOTONIC: the same clock as a client on the same host).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

from benchmatrix.sim.config import SimEngineConfig
from benchmatrix.sim.model import step_time
from benchmatrix.sim.openai import DONE, GenRequest, StreamEncoder, Usage, full_response, text_bytes
from benchmatrix.sim.scheduler import Scheduler, Sequence

MAX_CATCH_UP_S = 0.05  # behind the step deadline chain by more than this: give up, restart it


class Sink(Protocol):
    """Where a request's response bytes go (a wire.Connection or a test double)."""

    on_abort: Callable[[], None] | None

    def send(self, status: int, body: bytes, content_type: bytes = ...) -> None: ...
    def start_stream(self, first: bytes = b"") -> None: ...
    def write_stream(self, data: bytes) -> None: ...
    def end_stream(self, data: bytes = b"") -> None: ...


@dataclass(slots=True)
class RequestRecord:
    """Ground truth of one request; times are raw ``time.monotonic()`` seconds."""

    index: int
    request_id: str
    endpoint: str
    arrival_s: float
    scheduled_s: float | None = None
    first_token_s: float | None = None
    last_token_s: float | None = None
    finished_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    preempted_count: int = 0
    finish_reason: str | None = None
    status: str = "running"  # running, ok, aborted

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (shallow: every field is a plain scalar)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}


_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))


class RequestState:
    """Engine-side state of one in-flight request."""

    __slots__ = ("sink", "enc", "gen", "seq", "record", "text_offset", "sent_tokens", "max_tokens",
                 "reasoning_tokens")

    def __init__(self, sink: Sink, enc: StreamEncoder, gen: GenRequest, record: RequestRecord,
                 text_offset: int, max_tokens: int):
        self.sink = sink
        self.enc = enc
        self.gen = gen
        self.record = record
        self.text_offset = text_offset
        self.sent_tokens = 0
        self.max_tokens = max_tokens
        self.reasoning_tokens = 0  # the first N output tokens are reasoning (chat only)
        self.seq: Sequence


def natural_output_tokens(cfg: SimEngineConfig, prompt_key: bytes) -> int:
    """Deterministic natural stop length (log-normal around the median) for a prompt, tokens."""
    rng = random.Random(zlib.crc32(prompt_key) ^ (cfg.seed * 0x9E3779B1))
    value = cfg.natural_output_median_tokens * math.exp(rng.gauss(0.0, cfg.natural_output_sigma))
    return max(1, round(value))


def target_output_tokens(cfg: SimEngineConfig, gen: GenRequest, max_tokens: int) -> int:
    """Tokens this request will generate: max_tokens with ignore_eos, else the natural length."""
    if gen.ignore_eos:
        return max_tokens
    if gen.audio_seconds is not None:
        natural = max(1, math.ceil(gen.audio_seconds * cfg.transcript_tokens_per_s))
    else:
        natural = natural_output_tokens(cfg, gen.prompt_key)
    return max(1, min(max_tokens, max(natural, gen.min_tokens)))


class Engine:
    """One replica's scheduler + step loop + per-request streaming."""

    def __init__(self, cfg: SimEngineConfig, clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self.scheduler = Scheduler(cfg.max_num_seqs, cfg.max_num_batched_tokens,
                                   cfg.kv_capacity_tokens)
        self.records: list[RequestRecord] = []
        self.records_base = 0  # index of records[0]
        self.requests_total = 0
        self.aborted_total = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.steps_total = 0
        self.modelled_step_s_total = 0.0  # sum of step_time x time_scale
        self.busy_s_total = 0.0  # wall time spent in steps (>= modelled when falling behind)
        self._next_id = 0
        self._wake = asyncio.Event()
        self._stopped = False

    # admission ----------------------------------------------------------------------------
    def submit(self, gen: GenRequest, sink: Sink, request_id: str | None, max_tokens: int,
               endpoint: str) -> RequestState:
        """Queue a validated request; its response is written to ``sink`` as tokens come."""
        self._next_id += 1
        rid = request_id or f"{self.cfg.replica_id}-{self._next_id}"
        record = RequestRecord(index=-1, request_id=rid, endpoint=endpoint,
                               arrival_s=self.clock(), prompt_tokens=gen.prompt_tokens)
        enc = StreamEncoder(gen.kind, f"{self._next_id:x}{zlib.crc32(rid.encode()):08x}",
                            self.cfg.served_model_name)
        state = RequestState(sink, enc, gen, record, zlib.crc32(gen.prompt_key) ^ self.cfg.seed,
                             max_tokens)
        state.seq = Sequence(self._next_id, gen.prompt_tokens,
                             target_output_tokens(self.cfg, gen, max_tokens), payload=state)
        if gen.kind == "chat":
            target = state.seq.target_output_tokens
            state.reasoning_tokens = round(target * self.cfg.reasoning_fraction)
        sink.on_abort = lambda: self._abort(state)
        if gen.stream:
            sink.start_stream()
        delay_s = self.cfg.request_overhead_ms * 1e-3 * self.cfg.time_scale
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, self._enqueue, state)
        else:
            self._enqueue(state)
        return state

    def _enqueue(self, state: RequestState) -> None:
        if state.record.status == "running":  # not aborted during the front-end delay
            self.scheduler.add(state.seq)
            self._wake.set()

    def _abort(self, state: RequestState) -> None:
        if state.record.status != "running":
            return
        self.scheduler.abort(state.seq)
        self.aborted_total += 1
        self._finalize(state, "aborted", None)

    # loop ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to return after the current step."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Step until stopped: plan, sleep the modelled step time, emit tokens."""
        deadline = 0.0
        scale = self.cfg.time_scale
        while not self._stopped:
            if not self.scheduler.has_work:
                self._wake.clear()
                await self._wake.wait()
                deadline = 0.0  # idle: restart the chain
                continue
            start = self.clock()
            step = self.scheduler.schedule()
            for seq in step.newly_scheduled:
                if seq.payload.record.scheduled_s is None:
                    seq.payload.record.scheduled_s = start
            if scale > 0:
                deadline = deadline if start - deadline < MAX_CATCH_UP_S else start
                modelled_s = step_time(self.cfg, step.shape).total_s * scale
                deadline += modelled_s
                self.modelled_step_s_total += modelled_s
                await asyncio.sleep(max(0.0, deadline - self.clock()))
            else:
                await asyncio.sleep(0)
            self._emit(self.scheduler.complete(step))
            self.steps_total += 1
            self.busy_s_total += self.clock() - start

    def _emit(self, emitted: list[Sequence]) -> None:
        now = self.clock()
        per_event = self.cfg.tokens_per_event
        for seq in emitted:
            state: RequestState = seq.payload
            record = state.record
            if record.first_token_s is None:
                record.first_token_s = now
            record.last_token_s = now
            if seq.finished:
                self._finish(state)
            elif state.gen.stream and (state.sent_tokens == 0 or
                                       seq.output_tokens - state.sent_tokens >= per_event):
                state.sink.write_stream(self._content(state, state.sent_tokens == 0))

    def _content(self, state: RequestState, first: bool) -> bytes:
        """Events for the unsent tokens: reasoning first (up to the boundary), then content."""
        start, end, boundary = state.sent_tokens, state.seq.output_tokens, state.reasoning_tokens
        data = state.enc.role_chunk() if first else b""
        if start < boundary:
            cut = min(end, boundary)
            data += state.enc.reasoning(text_bytes(state.text_offset, start, cut - start))
            start = cut
        if start < end:
            data += state.enc.content(text_bytes(state.text_offset, start, end - start))
        state.sent_tokens = end
        return data

    def _finish(self, state: RequestState) -> None:
        seq = state.seq
        reason = "length" if seq.output_tokens >= state.max_tokens else "stop"
        self._finalize(state, "ok", reason)
        usage = Usage(seq.prompt_tokens, seq.output_tokens)
        sim = state.record.as_dict()
        if not state.gen.stream:
            cut = min(state.reasoning_tokens, seq.output_tokens)
            text = text_bytes(state.text_offset, cut, seq.output_tokens - cut)
            reasoning = text_bytes(state.text_offset, 0, cut)
            state.sink.send(200, full_response(state.enc, text, reason, usage, sim, reasoning))
            return
        out = b""
        if seq.output_tokens > state.sent_tokens:
            out = self._content(state, state.sent_tokens == 0)
        out += state.enc.finish(reason)
        if state.gen.include_usage:
            out += state.enc.usage(usage, sim)
        state.sink.end_stream(out + DONE)

    def _finalize(self, state: RequestState, status: str, reason: str | None) -> None:
        record = state.record
        if record.status != "running":
            return
        record.status = status
        record.finish_reason = reason
        record.finished_s = self.clock()
        record.completion_tokens = state.seq.output_tokens
        record.preempted_count = state.seq.preempted_count
        if status == "ok":
            self.requests_total += 1
            self.prompt_tokens_total += record.prompt_tokens
            self.generation_tokens_total += record.completion_tokens
        self._store(record)

    def _store(self, record: RequestRecord) -> None:
        record.index = self.records_base + len(self.records)
        self.records.append(record)
        overflow = len(self.records) - self.cfg.max_request_records
        if overflow > 0:
            del self.records[:overflow]
            self.records_base += overflow

    def records_since(self, since: int) -> list[RequestRecord]:
        """Finished (ok or aborted) records with index >= ``since``."""
        return self.records[max(0, since - self.records_base):]
