"""SSE chunk formats, request parsing, the sim tokenizer, image and audio costing."""

from __future__ import annotations

import base64
import io
import json
import struct
import wave

import pytest

from benchmatrix.sim.costing import (
    CostingError, count_text_tokens, image_size_px, image_tokens, image_url_tokens,
    parse_multipart, tokenize, wav_seconds,
)
from benchmatrix.sim.openai import (
    DONE, RequestError, StreamEncoder, Usage, full_response, parse_chat, parse_completions,
    text_bytes,
)


def sse_json(chunk: bytes) -> dict:
    assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
    return json.loads(chunk[6:-2])


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * seconds))
    return buf.getvalue()


def test_chat_chunks_match_openai_shapes() -> None:
    enc = StreamEncoder("chat", "abc", "model-x", created_s=123)
    role = sse_json(enc.role_chunk())
    assert role == {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 123,
                    "model": "model-x", "choices": [{"index": 0, "delta": {"role": "assistant",
                    "content": ""}, "logprobs": None, "finish_reason": None}]}
    content = sse_json(enc.content(b" hello world"))
    assert content["choices"][0]["delta"] == {"content": " hello world"}
    assert content["choices"][0]["finish_reason"] is None
    fin = sse_json(enc.finish("length"))
    assert fin["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]
    usage = sse_json(enc.usage(Usage(3, 5), {"arrival_s": 1.5}))
    assert usage["choices"] == [] and usage["id"] == "chatcmpl-abc"
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert usage["sim"] == {"arrival_s": 1.5}
    assert DONE == b"data: [DONE]\n\n"


def test_completion_chunks_match_openai_shapes() -> None:
    enc = StreamEncoder("completions", "x", "m", created_s=1)
    assert enc.role_chunk() == b""
    chunk = sse_json(enc.content(b" a"))
    assert chunk["object"] == "text_completion" and chunk["id"] == "cmpl-x"
    assert chunk["choices"] == [{"index": 0, "text": " a", "logprobs": None,
                                 "finish_reason": None, "stop_reason": None}]
    assert sse_json(enc.finish("stop"))["choices"][0]["finish_reason"] == "stop"


def test_full_response_bodies() -> None:
    enc = StreamEncoder("chat", "1", "m", created_s=1)
    body = json.loads(full_response(enc, b" a b", "stop", Usage(2, 2), {"k": 1}))
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": " a b"}
    assert body["usage"]["total_tokens"] == 4 and body["sim"] == {"k": 1}
    enc = StreamEncoder("transcription", "1", "m")
    assert json.loads(full_response(enc, b" a b", "stop", Usage(2, 2), {}))["text"] == "a b"


def test_generated_text_has_one_word_per_token() -> None:
    text = text_bytes(offset=7, start=0, count=37).decode()
    assert count_text_tokens(text) == 37
    assert text_bytes(7, 5, 3) == text_bytes(7, 0, 8)[len(text_bytes(7, 0, 5)):]


def test_sim_tokenizer_counts_whitespace_words() -> None:
    assert count_text_tokens("one two  three\nfour\tfive") == 5
    assert count_text_tokens("") == 0
    assert len(tokenize("a b c")) == 3 and tokenize("a a") == tokenize("a a")[::-1]


def test_parse_chat_counts_words_and_image_patches() -> None:
    body = {"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": data_url(png(336, 300))}},
        ]}],
        "max_tokens": 7, "stream": True, "stream_options": {"include_usage": True},
        "ignore_eos": True}
    gen = parse_chat(body, patch_px=14)
    assert gen.prompt_tokens == 2 + 3 + 24 * 22
    assert gen.max_tokens == 7 and gen.stream and gen.include_usage and gen.ignore_eos


def test_parse_rejects_bad_requests() -> None:
    with pytest.raises(RequestError):
        parse_chat({"messages": []}, 14)
    with pytest.raises(RequestError):
        parse_chat({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/x.png"}}]}]}, 14)
    with pytest.raises(RequestError):
        parse_completions({"prompt": "x", "max_tokens": -1})
    with pytest.raises(RequestError):
        parse_completions({"prompt": "x", "n": 2})


def test_parse_completions_prompt_forms() -> None:
    assert parse_completions({"prompt": "a b c"}).prompt_tokens == 3
    assert parse_completions({"prompt": ["a b"]}).prompt_tokens == 2
    assert parse_completions({"prompt": [1, 2, 3, 4]}).prompt_tokens == 4
    assert parse_completions({"prompt": ""}).prompt_tokens == 1  # BOS
    assert parse_completions({"prompt": "a", "max_completion_tokens": 9}).max_tokens == 9


def test_image_sizes_from_headers() -> None:
    assert image_size_px(png(640, 480)) == (640, 480)
    assert image_size_px(b"GIF89a" + struct.pack("<HH", 20, 10) + b"\0" * 8) == (20, 10)
    jpeg = (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 4) + b"\0\0"
            + b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 200, 300) + b"\0" * 8)
    assert image_size_px(jpeg) == (300, 200)
    assert image_tokens(15, 14) == 2 * 1
    assert image_url_tokens(data_url(png(28, 28))) == 4
    with pytest.raises(CostingError):
        image_size_px(b"not an image")


def test_wav_seconds_and_multipart() -> None:
    raw = wav(2.5)
    assert wav_seconds(raw) == pytest.approx(2.5)
    with pytest.raises(CostingError):
        wav_seconds(b"RIFF....AVI ")
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            b"Content-Type: audio/wav\r\n\r\n" + raw + b"\r\n--XyZ--\r\n")
    fields = parse_multipart(body, "multipart/form-data; boundary=XyZ")
    assert fields["model"] == b"whisper" and fields["file"] == raw
