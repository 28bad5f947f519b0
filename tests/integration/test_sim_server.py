"""The real simulated-engine process on loopback, driven with httpx."""

from __future__ import annotations

import base64
import io
import json
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator

import httpx
import pytest

from tests.support.sim_server import REPO_ROOT, SimServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer("h100-llama8b", time_scale=0.05, replica_id="replica-a", seed=7) as server:
        yield server


@pytest.fixture()
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10.0) as c:
        yield c


def sse_events(response: httpx.Response) -> tuple[list[dict], list[str]]:
    events, raw = [], []
    for line in response.iter_lines():
        if line.startswith("data: "):
            raw.append(line[6:])
            if line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events, raw


def test_health_models_and_headers(client: httpx.Client) -> None:
    r = client.get("/health", headers={"x-request-id": "req-1"})
    assert r.status_code == 200
    assert r.headers["x-benchmatrix-replica"] == "replica-a"
    assert r.headers["x-request-id"] == "req-1"
    assert r.headers["keep-alive"] == "timeout=60"
    models = client.get("/v1/models").json()
    assert models["data"][0]["id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert client.get("/nope").status_code == 404


def test_streamed_chat_with_usage_and_ground_truth(client: httpx.Client) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "one two three four"}],
            "max_tokens": 12, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    before = time.monotonic()
    with client.stream("POST", "/v1/chat/completions", json=body,
                       headers={"x-request-id": "chat-1"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["x-benchmatrix-replica"] == "replica-a"
        assert r.headers["x-request-id"] == "chat-1"
        events, raw = sse_events(r)
    after = time.monotonic()
    assert raw[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert len(text.split()) == 12
    usage = events[-1]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 4, "completion_tokens": 12, "total_tokens": 16}
    sim = usage["sim"]
    assert sim["request_id"] == "chat-1"
    assert before <= sim["arrival_s"] <= sim["scheduled_s"] <= sim["first_token_s"]
    assert sim["first_token_s"] <= sim["last_token_s"] <= after  # same CLOCK_MONOTONIC


def test_streamed_completion_and_non_streamed(client: httpx.Client) -> None:
    body = {"model": "m", "prompt": "a b c", "max_tokens": 5, "ignore_eos": True, "stream": True}
    with client.stream("POST", "/v1/completions", json=body) as r:
        events, raw = sse_events(r)
    assert events[0]["object"] == "text_completion" and raw[-1] == "[DONE]"
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    r = client.post("/v1/completions", json={**body, "stream": False})
    out = r.json()
    assert out["usage"]["completion_tokens"] == 5 and len(out["choices"][0]["text"].split()) == 5


def test_keep_alive_reuses_one_connection(sim: SimServer) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        for _ in range(3):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"{}")


def test_sim_requests_ordered_and_since(client: httpx.Client) -> None:
    client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2, "ignore_eos": True})
    records = client.get("/sim/requests").json()
    assert records and [r["index"] for r in records] == list(range(len(records)))
    for rec in records:
        assert rec["arrival_s"] <= rec["scheduled_s"] <= rec["first_token_s"] <= rec["last_token_s"]
    last = records[-1]["index"]
    assert client.get(f"/sim/requests?since={last}").json()[0]["index"] == last
    assert client.get(f"/sim/requests?since={last + 1}").json() == []


def test_metrics_and_tokenize(client: httpx.Client) -> None:
    text = client.get("/metrics").text
    assert "# TYPE benchmatrix_sim_num_requests_running gauge" in text
    for name in ("num_requests_waiting", "kv_cache_usage_ratio", "num_preemptions_total",
                 "requests_total", "generation_tokens_total", "prompt_tokens_total"):
        assert f"benchmatrix_sim_{name}{{" in text
    assert client.post("/tokenize", json={"content": "a b  c"}).json()["count"] == 3


def test_vision_and_audio_costing(client: httpx.Client) -> None:
    ihdr = struct.pack(">IIBBBBB", 140, 70, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 4
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": url}}]}],
        "max_tokens": 2, "ignore_eos": True}
    assert client.post("/v1/chat/completions", json=body).json()["usage"]["prompt_tokens"] == 1 + 50
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000 * 2)
    r = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", buf.getvalue())},
                    data={"model": "whisper"})
    out = r.json()
    assert r.status_code == 200 and out["usage"]["prompt_tokens"] == 100
    assert out["usage"]["completion_tokens"] == 6 and len(out["text"].split()) == 6


def test_too_long_request_is_rejected(client: httpx.Client) -> None:
    r = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 10_000_000})
    assert r.status_code == 400 and "maximum context length" in r.json()["message"]


def test_concurrent_streams_all_complete(sim: SimServer) -> None:
    import asyncio

    async def one(c: httpx.AsyncClient, i: int) -> int:
        body = {"prompt": f"p{i} q", "max_tokens": 20, "ignore_eos": True, "stream": True,
                "stream_options": {"include_usage": True}}
        async with c.stream("POST", "/v1/completions", json=body) as r:
            last = ""
            async for line in r.aiter_lines():
                if line.startswith("data: {"):
                    last = line
        return json.loads(last[6:])["usage"]["completion_tokens"]

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=sim.url, timeout=20.0) as c:
            return await asyncio.gather(*(one(c, i) for i in range(40)))

    assert asyncio.run(main()) == [20] * 40


def test_port_in_use_exits_3(sim: SimServer) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmatrix.sim", "--preset", "h100-llama8b",
                           "--port", str(sim.port)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 3
    assert str(sim.port) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly_even_mid_stream(sig: int) -> None:
    server = SimServer("h100-llama8b", time_scale=1.0).start()
    with httpx.Client(base_url=server.url, timeout=5) as c:
        with c.stream("POST", "/v1/completions", json={"prompt": "a", "max_tokens": 5000,
                                                        "ignore_eos": True, "stream": True}) as r:
            next(r.iter_lines())
            assert server.stop(sig) == 0


def _wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * seconds))
    return buf.getvalue()


def test_streamed_transcription(client: httpx.Client) -> None:
    data = {"model": "whisper", "stream": "true", "stream_include_usage": "true"}
    with client.stream("POST", "/v1/audio/transcriptions", data=data,
                       files={"file": ("a.wav", _wav_bytes(1.0))}) as r:
        events, raw = sse_events(r)
    assert raw[-1] == "[DONE]" and events[0]["object"] == "transcription.chunk"
    assert events[-1]["usage"] == {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}


def test_expect_100_continue(sim: SimServer) -> None:
    body = b'{"prompt": "a", "max_tokens": 1}'
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_client_disconnect_aborts_the_request(sim: SimServer, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        body = b'{"prompt": "a", "max_tokens": 100000, "ignore_eos": true, "stream": true}'
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nx-request-id: gone-1\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = {r["request_id"]: r for r in client.get("/sim/requests").json()}
        if "gone-1" in records:
            break
        time.sleep(0.05)
    assert records["gone-1"]["status"] == "aborted"
    assert "benchmatrix_sim_requests_aborted_total" in client.get("/metrics").text


def test_cli_sim_serve_with_flags_only() -> None:
    code = ("import sys; from benchmatrix.cli import main; sys.argv = ['benchmatrix', 'sim', "
            "'serve', '--preset', 'h200x2-llama70b', '--port', '0', '--no-delay', "
            "'--replica-id', 'cli-1']; main()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        cfg = httpx.get(url + "/sim/config", timeout=5).json()
        assert cfg["tp_degree"] == 2 and cfg["time_scale"] == 0.0
        assert cfg["tokens_per_event"] == 16 and cfg["replica_id"] == "cli-1"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_bad_config_exits_2(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"replica_id": "x", "unknown_field": 1}))
    proc = subprocess.run([sys.executable, "-m", "benchmatrix.sim", "--config", str(path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "unknown_field" in proc.stderr
