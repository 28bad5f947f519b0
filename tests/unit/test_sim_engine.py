"""The engine loop with an in-memory sink: max_tokens, ignore_eos, events, records, replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from benchmatrix.sim import preset_config
from benchmatrix.sim.engine import Engine, natural_output_tokens
from benchmatrix.sim.model import decode_shape, step_time
from benchmatrix.sim.openai import parse_completions
from benchmatrix.sim.replay import replay_closed_loop
from benchmatrix.sim.wire import parse_request


class FakeSink:
    """Collects what the engine writes."""

    def __init__(self) -> None:
        self.on_abort: Callable[[], None] | None = None
        self.chunks: list[bytes] = []
        self.status: int | None = None
        self.body = b""
        self.done = asyncio.Event()

    def send(self, status: int, body: bytes, content_type: bytes = b"") -> None:
        self.status, self.body = status, body
        self.done.set()

    def start_stream(self, first: bytes = b"") -> None:
        self.status = 200

    def write_stream(self, data: bytes) -> None:
        self.chunks.append(data)

    def end_stream(self, data: bytes = b"") -> None:
        self.chunks.append(data)
        self.done.set()

    def events(self) -> list[dict[str, Any]]:
        out = []
        for chunk in self.chunks:
            for part in chunk.split(b"\n\n"):
                if part.startswith(b"data: {"):
                    out.append(json.loads(part[6:]))
        return out


def fast_cfg(**kw: Any):
    base = dict(time_scale=0.0, request_overhead_ms=0.0, replica_id="r1")
    return preset_config("h100-llama8b", **{**base, **kw})


async def run_requests(engine: Engine, bodies: list[dict[str, Any]]) -> list[FakeSink]:
    task = asyncio.create_task(engine.run())
    sinks = []
    for body in bodies:
        gen = parse_completions(body)
        sink = FakeSink()
        max_tokens = gen.max_tokens or 100
        engine.submit(gen, sink, None, max_tokens, "/v1/completions")
        sinks.append(sink)
    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in sinks)), 10)
    engine.stop()
    await task
    return sinks


def test_ignore_eos_streams_exactly_max_tokens_with_usage_and_sim() -> None:
    engine = Engine(fast_cfg())
    body = {"prompt": "a b c", "max_tokens": 9, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    (sink,) = asyncio.run(run_requests(engine, [body]))
    events = sink.events()
    texts = [e["choices"][0]["text"] for e in events if e["choices"]]
    assert "".join(texts).split() and len("".join(texts).split()) == 9
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    usage = events[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 9
    sim = usage["sim"]
    assert sim["prompt_tokens"] == 3 and sim["completion_tokens"] == 9 and sim["status"] == "ok"
    assert sim["arrival_s"] <= sim["scheduled_s"] <= sim["first_token_s"] <= sim["last_token_s"]
    assert sink.chunks[-1].endswith(b"data: [DONE]\n\n")


def test_tokens_per_event_groups_after_a_lone_first_token() -> None:
    engine = Engine(fast_cfg(tokens_per_event=4))
    body = {"prompt": "x", "max_tokens": 10, "ignore_eos": True, "stream": True}
    (sink,) = asyncio.run(run_requests(engine, [body]))
    counts = [len(e["choices"][0]["text"].split()) for e in sink.events()[:-1]]
    assert counts == [1, 4, 4, 1]


def test_without_ignore_eos_length_is_natural_deterministic_and_capped() -> None:
    cfg = fast_cfg(seed=3)
    natural = natural_output_tokens(cfg, b"hello world")
    assert natural == natural_output_tokens(cfg, b"hello world")
    engine = Engine(cfg)
    bodies = [{"prompt": "hello world", "max_tokens": 5000},
              {"prompt": "hello world", "max_tokens": 2}]
    sinks = asyncio.run(run_requests(engine, bodies))
    full, capped = (json.loads(s.body) for s in sinks)
    assert full["usage"]["completion_tokens"] == min(natural, 5000)
    assert full["choices"][0]["finish_reason"] == ("stop" if natural < 5000 else "length")
    assert capped["usage"]["completion_tokens"] == min(natural, 2)


def test_records_are_kept_in_completion_order_with_since() -> None:
    engine = Engine(fast_cfg())
    bodies = [{"prompt": "a", "max_tokens": n, "ignore_eos": True} for n in (5, 1, 3)]
    asyncio.run(run_requests(engine, bodies))
    assert [r.completion_tokens for r in engine.records] == [1, 3, 5]
    assert [r.index for r in engine.records_since(1)] == [1, 2]
    assert engine.requests_total == 3 and engine.generation_tokens_total == 9


def test_abort_frees_the_sequence() -> None:
    async def scenario() -> Engine:
        engine = Engine(fast_cfg(time_scale=1.0))
        task = asyncio.create_task(engine.run())
        sink = FakeSink()
        gen = parse_completions({"prompt": "a", "max_tokens": 1000, "ignore_eos": True})
        engine.submit(gen, sink, "rid", 1000, "/v1/completions")
        await asyncio.sleep(0.05)
        assert sink.on_abort is not None
        sink.on_abort()
        await asyncio.sleep(0.02)
        engine.stop()
        await task
        return engine

    engine = asyncio.run(scenario())
    assert engine.scheduler.kv_used_tokens == 0 and not engine.scheduler.has_work
    assert engine.records[0].status == "aborted" and engine.records[0].request_id == "rid"


def test_real_time_pacing_follows_the_step_model() -> None:
    cfg = fast_cfg(time_scale=1.0)
    engine = Engine(cfg)
    body = {"prompt": "a", "max_tokens": 40, "ignore_eos": True}
    asyncio.run(run_requests(engine, [body]))
    rec = engine.records[0]
    per_token_s = (rec.last_token_s - rec.first_token_s) / 39
    assert per_token_s == pytest.approx(step_time(cfg, decode_shape(cfg, 1, 20)).total_s, rel=0.3)


def test_replay_single_stream_tpot_equals_decode_step() -> None:
    cfg = preset_config("h100-llama8b")
    result = replay_closed_loop(cfg, concurrency=1, prompt_tokens=100, output_tokens=3,
                                num_requests=1)
    expected = (step_time(cfg, decode_shape(cfg, 1, 101)).total_s
                + step_time(cfg, decode_shape(cfg, 1, 102)).total_s) / 2
    assert result.mean_tpot_s == pytest.approx(expected)
    assert result.mean_ttft_s > cfg.request_overhead_ms * 1e-3


def test_parse_request_content_length_chunked_and_keep_alive() -> None:
    buf = bytearray(b"POST /v1/completions?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /h")
    req = parse_request(buf)
    assert req is not None and req.path == "/v1/completions" and req.query == "x=1"
    assert req.body == b"{}" and req.keep_alive
    assert bytes(buf) == b"GET /h" and parse_request(buf) is None
    buf = bytearray(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    req = parse_request(buf)
    assert req is not None and req.body == b"abcde" and not req.keep_alive and not buf
    assert parse_request(bytearray(b"GET / HTTP/1.0\r\n\r\n")).keep_alive is False


def test_reasoning_fraction_streams_reasoning_then_content() -> None:
    from benchmatrix.sim.openai import parse_chat

    async def scenario(stream: bool) -> FakeSink:
        engine = Engine(fast_cfg(reasoning_fraction=0.25, tokens_per_event=3))
        task = asyncio.create_task(engine.run())
        gen = parse_chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
                          "ignore_eos": True, "stream": stream}, 14)
        sink = FakeSink()
        engine.submit(gen, sink, None, 8, "/v1/chat/completions")
        await asyncio.wait_for(sink.done.wait(), 10)
        engine.stop()
        await task
        return sink

    deltas = [e["choices"][0]["delta"] for e in asyncio.run(scenario(True)).events() if e["choices"]]
    kinds = [(k, len(v.split())) for d in deltas for k, v in d.items() if k != "role" and v]
    assert kinds == [("reasoning_content", 1), ("reasoning_content", 1), ("content", 2),
                     ("content", 3), ("content", 1)]
    body = json.loads(asyncio.run(scenario(False)).body)
    message = body["choices"][0]["message"]
    assert len(message["reasoning_content"].split()) == 2 and len(message["content"].split()) == 6
    assert body["usage"]["completion_tokens"] == 8
