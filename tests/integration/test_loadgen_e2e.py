"""run_load end to end against loopback servers: every modality, every bad response, stops."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmatrix.loadgen import RECORD_SCHEMA, LoadRunConfig, run_load
from benchmatrix.loadgen.arrivals import build_schedule
from benchmatrix.loadgen.config import AudioOptions, ImageOptions
from benchmatrix.loadgen.runner import deal
from benchmatrix.loadgen.worker import prepare, run_plan
from benchmatrix.metrics import summarize
from tests.support.loadgen_servers import start_fake_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    srv = start_fake_server()
    yield srv
    srv.stop()


def _cfg(server, tmp_path: Path, **kw) -> LoadRunConfig:
    base = dict(base_url=server.url, model="ok", concurrency=2, num_requests=6,
                input_tokens=16, output_tokens=8, output_path=tmp_path / "r.parquet",
                timeout_s=10.0)
    return LoadRunConfig(**(base | kw))


def _records(result) -> pd.DataFrame:
    return pd.read_parquet(result.records_path).sort_values("request_index")


@pytest.mark.parametrize("kw", [
    dict(endpoint="chat"),
    dict(endpoint="completions"),
    dict(endpoint="chat", modality="vision",
         images=ImageOptions(width_min_px=16, width_max_px=32, height_min_px=16,
                             height_max_px=32, count_max=2, pool_size=3)),
    dict(endpoint="audio", modality="speech",
         audio=AudioOptions(duration_min_s=0.2, duration_max_s=0.5, pool_size=2)),
], ids=["chat", "completions", "vision", "speech"])
def test_each_modality_end_to_end(server, tmp_path, kw):
    seen: list[tuple[int, int]] = []
    result = run_load(_cfg(server, tmp_path, warmup_requests=1, **kw),
                      progress=lambda d, t: seen.append((d, t)))
    df = _records(result)
    assert pq.read_schema(result.records_path).names == RECORD_SCHEMA.names
    assert (result.num_records, result.num_ok, result.num_errors, result.num_warmup) == (6, 5, 0, 1)
    assert df["request_index"].tolist() == list(range(6))
    assert df["is_warmup"].tolist() == [True] + [False] * 5
    assert (df["replica_id"] == "fake-0").all() and (df["status"] == "ok").all()
    assert (df["sent_s"] <= df["first_byte_s"]).all() and (df["first_byte_s"] <= df["done_s"]).all()
    assert seen and seen[-1] == (6, 6)
    assert result.started_at.tzinfo is not None
    summary = summarize(df)
    assert summary.num_ok == 5 and summary.ttft_ms_p50 > 0
    if kw.get("modality") == "speech":
        assert df["audio_seconds"].between(0.2, 0.5).all() and summary.real_time_factor_mean > 0
    if kw.get("modality") == "vision":
        assert df["image_count"].between(1, 2).all()


@pytest.mark.parametrize("model,kind", [
    ("http500", "http"), ("reset", "connect"), ("truncated", "truncated"),
    ("bad_json", "bad_json"), ("no_choices", "no_choices"), ("ignore_max", "max_tokens_ignored"),
])
def test_bad_responses_become_error_records(server, tmp_path, model, kind):
    result = run_load(_cfg(server, tmp_path, model=model, num_requests=3))
    df = _records(result)
    assert result.num_errors == 3 and set(df["error_kind"]) == {kind}
    assert df["error_message"].str.len().between(1, 300).all()


@pytest.mark.parametrize("model,tokens", [("multi4", [4, 4]), ("one", [1]), ("nousage", [1] * 8)])
def test_token_shapes(server, tmp_path, model, tokens):
    df = _records(run_load(_cfg(server, tmp_path, model=model, num_requests=2)))
    assert (df["status"] == "ok").all()
    assert df["event_tokens"].iloc[0].tolist() == tokens
    assert df["token_source"].iloc[0] == ("client" if model == "nousage" else "server")


def test_timeout_and_unreachable_server(server, tmp_path):
    df = _records(run_load(_cfg(server, tmp_path, model="slow", num_requests=2, timeout_s=0.3)))
    assert set(df["error_kind"]) == {"timeout"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cfg = _cfg(server, tmp_path, base_url=f"http://127.0.0.1:{dead}", num_requests=2)
    df = _records(run_load(cfg))
    assert set(df["error_kind"]) == {"connect"}


def test_open_loop_follows_schedule(server, tmp_path):
    cfg = _cfg(server, tmp_path, concurrency=None, rate_rps=200.0, arrival="poisson",
               num_requests=20, max_concurrency=4)
    df = _records(run_load(cfg))
    expected = build_schedule(cfg).intended_send_s
    assert df["intended_send_s"].tolist() == pytest.approx(expected.tolist())
    assert (df["sent_s"] >= df["intended_send_s"]).all()


def test_two_worker_processes(server, tmp_path):
    result = run_load(_cfg(server, tmp_path, concurrency=4, num_requests=12, workers=2))
    df = _records(result)
    assert result.workers == 2 and result.num_ok == 12
    assert set(df["worker_id"]) == {0, 1} and df["request_index"].tolist() == list(range(12))
    assert not list(tmp_path.glob(".*parts"))


def _run_stopped_after(cfg, tmp_path, stop_after_s):
    """Run one worker's plan and ask it to stop ``stop_after_s`` after t0 (not after setup)."""
    plan = deal(build_schedule(cfg), cfg, 1, tmp_path, "run")[0]
    builder, counter = prepare(plan)
    t_stop = float("inf")

    async def start() -> float:
        nonlocal t_stop
        t0 = time.monotonic()
        t_stop = t0 + stop_after_s
        return t0

    stats = asyncio.run(run_plan(plan, builder, counter, start, lambda: time.monotonic() > t_stop))
    return stats, plan


def test_stop_keeps_records_and_cancels_in_flight(server, tmp_path):
    cfg = _cfg(server, tmp_path, model="slow", num_requests=4)
    stats, plan = _run_stopped_after(cfg, tmp_path, 0.3)
    df = pd.read_parquet(plan.part_path)
    assert stats.stopped and len(df) == 2 and set(df["error_kind"]) == {"cancelled"}


def test_cli_load_prints_json(server, tmp_path):
    from typer.testing import CliRunner

    from benchmatrix.cli import app

    out = tmp_path / "cli.parquet"
    res = CliRunner().invoke(app, ["load", "--url", server.url, "--model", "ok", "-c", "2", "-n", "4",
                                   "--input-tokens", "uniform:4:8", "--output-tokens", "4",
                                   "--slo-ttft-ms", "1000", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["summary"]["num_ok"] == 4 and body["summary"]["goodput_ratio"] == 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim_url():
    pytest.importorskip("benchmatrix.sim.server")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmatrix.sim", "--preset", "h100-llama8b",
                             "--no-delay", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(100):
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("simulated engine did not start")
    yield url
    proc.terminate()
    proc.wait(10)


def test_self_calibration_against_sim(sim_url, tmp_path):
    import httpx

    model = httpx.get(sim_url + "/v1/models").json()["data"][0]["id"]
    cfg = LoadRunConfig(base_url=sim_url, model=model, concurrency=4, num_requests=40,
                        input_tokens=32, output_tokens=32, ignore_eos=True, tokenizer="server",
                        output_path=tmp_path / "sim.parquet", calibrate_urls=[sim_url])
    result = run_load(cfg)
    df = _records(result)
    assert result.num_ok == 40 and result.calibrated_requests == 40
    assert result.overhead_ttft_p50_ms is not None and result.overhead_ttft_p50_ms > -1.0
    assert (df["server_arrival_s"] >= df["sent_s"] - 0.001).all()
    assert (df["prompt_tokens_target"] == 32).all() and (df["completion_tokens"] == 32).all()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_keeps_records_and_marks_partial(server, tmp_path, workers):
    import os
    import signal

    out = tmp_path / "ctrlc.parquet"
    root = Path(__file__).resolve().parents[2]
    server.requests_seen.clear()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from benchmatrix.cli import main; main()", "load", "--url",
         server.url, "--model", "slow", "-c", "2", "-n", "4", "--workers", workers, "-o", str(out),
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(root)))
    deadline = time.monotonic() + 20
    while len(server.requests_seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # both slots are in flight on the slow model
    server.requests_seen.clear()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    body = json.loads(stdout)
    assert body["result"]["partial"] is True
    assert body["summary"]["errors_by_kind"] == {"cancelled": 2}
    assert pq.read_table(out).num_rows == 2


def test_sweep_and_slo_search(server, tmp_path):
    from benchmatrix.loadgen.search import search_max_goodput, sweep
    from benchmatrix.metrics import Slo

    cfg = _cfg(server, tmp_path, num_requests=4)
    probes = sweep(cfg, "concurrency", [1, 2])
    assert [p.load for p in probes] == [1, 2] and all(p.summary.num_ok == 4 for p in probes)
    assert (tmp_path / "r.concurrency1.parquet").exists()
    probes = search_max_goodput(cfg, Slo(ttft_ms=5000), "concurrency", 1, 4)
    assert [p.load for p in probes] == [1, 2, 4] and all(p.passed for p in probes)
    probes = search_max_goodput(cfg.model_copy(update={"model": "http500"}), Slo(ttft_ms=5000),
                                "concurrency", 1, 4)
    assert [(p.load, p.passed) for p in probes] == [(1, False)]


def test_stop_during_a_long_open_loop_wait_is_prompt(server, tmp_path):
    cfg = _cfg(server, tmp_path, concurrency=None, rate_rps=0.1, arrival="constant",
               model="slow", num_requests=3)
    began = time.monotonic()
    stats, _ = _run_stopped_after(cfg, tmp_path, 0.3)
    assert time.monotonic() - began < 3.0  # the next send was due 10 s later
    assert stats.stopped and stats.records == 1


def test_non_streaming_response(server, tmp_path):
    df = _records(run_load(_cfg(server, tmp_path, model="nonstream", stream=False, num_requests=2)))
    assert (df["status"] == "ok").all() and (df["event_count"] == 1).all()
    assert (df["completion_tokens"] == 8).all() and (df["token_source"] == "server").all()


def test_cli_vision_and_speech_options(server, tmp_path):
    from typer.testing import CliRunner

    from benchmatrix.cli import app

    common = ["load", "--url", server.url, "--model", "ok", "-c", "1", "-n", "2", "--json"]
    res = CliRunner().invoke(app, common + ["--modality", "vision", "--images", "2:3",
                                            "--image-px", "8:16", "-o", str(tmp_path / "v.parquet")])
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(tmp_path / "v.parquet")["image_count"].between(2, 3).all()
    res = CliRunner().invoke(app, common + ["--endpoint", "audio", "--audio-seconds", "0.2:0.3",
                                            "-o", str(tmp_path / "a.parquet")])
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(tmp_path / "a.parquet")["audio_seconds"].between(0.2, 0.3).all()
