"""Prompts, media and configuration: exact lengths, uniqueness, valid PNG/WAV, strict config."""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib

import numpy as np
import pytest
from pydantic import ValidationError

from benchmatrix.errors import LoadGenError
from benchmatrix.loadgen import LoadRunConfig, build_schedule, default_workers
from benchmatrix.loadgen.config import AudioOptions, ImageOptions
from benchmatrix.loadgen.media import audio_pool, encode_png, image_pool, random_image
from benchmatrix.loadgen.payloads import RequestBuilder
from benchmatrix.loadgen.prompts import PromptFactory, load_prompt_file
from benchmatrix.loadgen.runner import deal


class _CharCounter:
    """A fake 'tokenizer' (4 characters per token) to exercise the length fitting loop."""

    name = "chars4"

    def count(self, text: str) -> int:
        return len(text) // 4


@pytest.mark.parametrize("n", [1, 2, 17, 512, 3000])
def test_word_prompts_have_exact_length_and_unique_prefix(n):
    f = PromptFactory(seed=1)
    a, count_a = f.prompt(0, n)
    b, _ = f.prompt(1, n)
    assert count_a == n and len(a.split()) == n
    assert a != b and a.startswith("r0:")


def test_prompts_are_deterministic_across_factories():
    assert PromptFactory(seed=3).prompt(5, 40) == PromptFactory(seed=3).prompt(5, 40)


def test_shared_prefix_ratio():
    f = PromptFactory(seed=1, shared_prefix_ratio=0.5)
    a, _ = f.prompt(0, 100)
    b, _ = f.prompt(1, 100)
    assert a.split()[:50] == b.split()[:50]
    assert a.split()[50] == "r0:" and b.split()[50] == "r1:"


def test_tokenizer_fit_gets_close_to_target():
    f = PromptFactory(seed=1, counter=_CharCounter())
    for n in (50, 200, 700):
        text, count = f.prompt(9, n)
        assert count == n == _CharCounter().count(text)


def test_prompt_files_jsonl_and_sharegpt(tmp_path):
    jl = tmp_path / "p.jsonl"
    jl.write_text(json.dumps({"prompt": "one two"}) + "\n" +
                  json.dumps({"messages": [{"role": "user", "content": "three"}]}) + "\n")
    assert load_prompt_file(jl) == ["one two", "three"]
    sg = tmp_path / "sg.json"
    sg.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi there"},
                                                 {"from": "gpt", "value": "x"}]}]))
    f = PromptFactory(seed=0, source=str(sg))
    assert f.prompt(3, 999) == ("r3: hi there", 3)
    with pytest.raises(LoadGenError, match="no such file"):
        load_prompt_file(tmp_path / "missing.jsonl")


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_png_encoding_round_trips():
    pixels = random_image(np.random.default_rng(0), 7, 5)
    png = encode_png(pixels)
    assert _png_size(png) == (7, 5)
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    rows = np.frombuffer(raw, np.uint8).reshape(5, 1 + 7 * 3)
    assert (rows[:, 0] == 0).all()
    assert np.array_equal(rows[:, 1:].reshape(5, 7, 3), pixels)


def test_image_pool_sizes_within_options():
    opts = ImageOptions(width_min_px=10, width_max_px=20, height_min_px=5, height_max_px=6,
                        pool_size=4)
    import base64

    for url in image_pool(opts, 1):
        w, h = _png_size(base64.b64decode(url.split(",", 1)[1]))
        assert 10 <= w <= 20 and 5 <= h <= 6


def test_audio_pool_durations():
    clips = audio_pool(AudioOptions(duration_min_s=0.5, duration_max_s=1.0, pool_size=3), 2)
    for clip in clips:
        assert 0.5 <= clip.seconds <= 1.0
        with wave.open(io.BytesIO(clip.wav)) as w:
            assert w.getframerate() == 16000 and w.getnframes() / 16000 == pytest.approx(clip.seconds)


def _cfg(**kw) -> LoadRunConfig:
    return LoadRunConfig(base_url="http://127.0.0.1:9", model="m", **kw)


def test_config_is_strict():
    with pytest.raises(ValidationError, match="exactly one"):
        _cfg()
    with pytest.raises(ValidationError, match="exactly one"):
        _cfg(concurrency=1, rate_rps=1.0)
    with pytest.raises(ValidationError, match="extra"):
        _cfg(concurrency=1, bogus=1)
    with pytest.raises(ValidationError, match="speech"):
        _cfg(concurrency=1, modality="speech")
    assert _cfg(concurrency=1, input_tokens=64).input_tokens.value == 64


def test_default_workers_from_load():
    assert default_workers(_cfg(concurrency=64), cpu_count=8) == 1
    assert default_workers(_cfg(concurrency=600, num_requests=1000), cpu_count=8) == 3
    assert default_workers(_cfg(rate_rps=2500.0), cpu_count=2) == 2
    assert default_workers(_cfg(concurrency=600, workers=5), cpu_count=2) == 5


def test_deal_splits_round_robin(tmp_path):
    cfg = _cfg(concurrency=5, num_requests=10, max_concurrency=None)
    plans = deal(build_schedule(cfg), cfg, 2, tmp_path, "run")
    assert plans[0].indices.tolist() == [0, 2, 4, 6, 8]
    assert len(plans[0].slot_starts_s) == 3 and len(plans[1].slot_starts_s) == 2
    cfg = _cfg(rate_rps=10.0, num_requests=4, max_concurrency=3)
    plans = deal(build_schedule(cfg), cfg, 2, tmp_path, "run")
    assert [p.max_in_flight for p in plans] == [2, 1]
    assert plans[1].intended_send_s.tolist() == build_schedule(cfg).intended_send_s[1::2].tolist()


def test_api_key_from_env_only_in_header(monkeypatch):
    monkeypatch.setenv("BMX_TEST_KEY", "sk-secret")
    cfg = _cfg(concurrency=1, api_key_env="BMX_TEST_KEY")
    assert "sk-secret" not in cfg.model_dump_json()
    built = RequestBuilder(cfg, PromptFactory(0), "run").build(0, 4, 4)
    assert b"Authorization: Bearer sk-secret" in built.data


def test_chat_vision_and_audio_bodies():
    cfg = _cfg(concurrency=1, modality="vision",
               images=ImageOptions(count_min=2, count_max=2, width_min_px=8, width_max_px=8,
                                   height_min_px=8, height_max_px=8, pool_size=2),
               ignore_eos=True, stop=["\n"], extra_body={"top_k": 5})
    built = RequestBuilder(cfg, PromptFactory(0), "run").build(3, 4, 7)
    body = json.loads(built.data.split(b"\r\n\r\n", 1)[1])
    content = body["messages"][0]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "image_url"]
    assert body["max_tokens"] == 7 and body["ignore_eos"] and body["top_k"] == 5
    assert body["stream_options"] == {"include_usage": True} and built.image_count == 2
    cfg = _cfg(concurrency=1, endpoint="audio", modality="speech",
               audio=AudioOptions(duration_min_s=0.2, duration_max_s=0.2, pool_size=1))
    built = RequestBuilder(cfg, PromptFactory(0), "run").build(0, 4, 7)
    assert b"/v1/audio/transcriptions" in built.data and b'name="file"' in built.data
    assert built.audio_seconds == pytest.approx(0.2)


def test_hf_tokenizer_dir_gives_exact_lengths(tmp_path):
    pytest.importorskip("tokenizers")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from loadgen_vs_peers import write_word_tokenizer

    from benchmatrix.loadgen.token_counters import make_counter

    counter = make_counter(str(write_word_tokenizer(tmp_path / "tok")), "http://x", "m")
    assert counter.name.startswith("hf:")
    f = PromptFactory(seed=2, counter=counter)
    text, count = f.prompt(4, 77)
    assert count == 77 == counter.count(text)


def test_missing_tokenizer_dir_is_a_clear_error(tmp_path):
    pytest.importorskip("tokenizers")
    from benchmatrix.loadgen.token_counters import make_counter

    with pytest.raises(LoadGenError, match="no tokenizer.json"):
        make_counter(str(tmp_path), "http://x", "m")
