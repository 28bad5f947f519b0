"""HTTP framing and SSE parsing, fed byte by byte and in odd splits, without sockets."""

from __future__ import annotations

import json

import pytest

from benchmatrix.loadgen.http import HttpConnection, Target, build_request
from benchmatrix.loadgen.records import RequestRecord
from benchmatrix.loadgen.sse import StreamSink, _scale_counts, reconcile_event_tokens


class _Transport:
    def __init__(self) -> None:
        self.written = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def _record(max_tokens: int = 16) -> RequestRecord:
    return RequestRecord(request_index=0, is_warmup=False, worker_id=0, intended_send_s=0.0,
                         prompt_tokens_target=8, output_tokens_target=max_tokens, modality="text")


def _chunked(body: bytes, size: int = 7) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def _sse(*objs: object, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs)
    return out + (b"data: [DONE]\n\n" if done else b"")


HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        b"X-Benchmatrix-Replica: r1\r\n\r\n")


def _feed(raw: bytes, step: int, record: RequestRecord | None = None,
          close: bool = False) -> tuple[RequestRecord, HttpConnection, list]:
    record = record or _record()
    finished: list = []
    sink = StreamSink(record, 0.0, lambda t: len(t.split()), lambda: finished.append(1), True)
    conn = HttpConnection()
    conn.connection_made(_Transport())
    conn.send(b"GET / HTTP/1.1\r\n\r\n", sink)
    for i in range(0, len(raw), step):
        conn.data_received(raw[i:i + step])
    if close:
        conn.connection_lost(None)
    return record, conn, finished


def _delta(text: str, key: str = "content") -> dict:
    return {"choices": [{"delta": {key: text}}]}


@pytest.mark.parametrize("step", [1, 3, 64, 10_000])
def test_chunked_sse_any_split(step):
    body = _sse(_delta("a b"), _delta("c"), {"choices": [], "usage": {"prompt_tokens": 9,
                                                                       "completion_tokens": 3}})
    rec, conn, finished = _feed(HEAD + _chunked(body), step)
    assert finished == [1]
    assert rec.status == "ok" and rec.replica_id == "r1" and rec.http_status == 200
    assert rec.event_count == 2 and rec.event_tokens == [2, 1]
    assert (rec.prompt_tokens, rec.completion_tokens, rec.token_source) == (9, 3, "server")
    assert conn.reusable


def test_final_chunk_in_its_own_read():
    body = _chunked(_sse(_delta("a b")))
    last = body.index(b"0\r\n\r\n")
    record, finished = _record(), []
    sink = StreamSink(record, 0.0, lambda t: len(t.split()), lambda: finished.append(1), True)
    conn = HttpConnection()
    conn.connection_made(_Transport())
    conn.send(b"GET / HTTP/1.1\r\n\r\n", sink)
    conn.data_received(HEAD + body[:last])
    conn.data_received(body[last:])  # how NGINX sends the terminating chunk
    assert finished == [1] and record.status == "ok" and conn.reusable


def test_content_length_json_body():
    body = json.dumps({"choices": [{"message": {"content": "x y z"}}],
                       "usage": {"completion_tokens": 3}}).encode()
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + \
        str(len(body)).encode() + b"\r\n\r\n" + body
    rec, conn, _ = _feed(raw, 5)
    assert rec.status == "ok" and rec.event_count == 1 and rec.completion_tokens == 3
    assert conn.reusable


def test_read_until_close_body():
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + _sse(_delta("hi"))
    rec, conn, finished = _feed(raw, 4, close=True)
    assert finished == [1] and rec.status == "ok" and not conn.reusable


def test_http_error_keeps_body_snippet():
    body = b'{"error":"overloaded"}'
    raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 22\r\n\r\n" + body
    rec, _, _ = _feed(raw, 100)
    assert (rec.status, rec.error_kind, rec.http_status) == ("error", "http", 503)
    assert "overloaded" in rec.error_message


def test_missing_done_is_truncated():
    rec, _, _ = _feed(HEAD + _chunked(_sse(_delta("a"), done=False)), 100)
    assert rec.error_kind == "truncated"


def test_connection_lost_mid_stream_is_truncated():
    raw = HEAD + _chunked(_sse(_delta("a"), done=False))[:-5]
    rec, _, _ = _feed(raw, 100, close=True)
    assert rec.error_kind == "truncated" and rec.event_count == 1


def test_close_before_any_byte_is_connect():
    rec, _, _ = _feed(b"", 1, close=True)
    assert rec.error_kind == "connect"


def test_bad_json_no_choices_and_error_events():
    rec, _, _ = _feed(HEAD + _chunked(b"data: {oops\n\n" + _sse(_delta("a"))), 100)
    assert rec.error_kind == "bad_json" and rec.event_count == 1
    rec, _, _ = _feed(HEAD + _chunked(_sse({"id": 1}, _delta("a"))), 100)
    assert rec.error_kind == "no_choices"
    rec, _, _ = _feed(HEAD + _chunked(_sse({"error": {"message": "oom"}})), 100)
    assert rec.error_kind == "no_choices" and "oom" in rec.error_message


def test_empty_ok_stream_is_an_error():
    rec, _, _ = _feed(HEAD + _chunked(_sse()), 100)
    assert rec.error_kind == "no_choices" and rec.error_message == "response carried no tokens"


def test_max_tokens_ignored():
    body = _sse(_delta("a b c d"), {"choices": [], "usage": {"completion_tokens": 4}})
    rec, _, _ = _feed(HEAD + _chunked(body), 100, record=_record(max_tokens=2))
    assert rec.error_kind == "max_tokens_ignored"


def test_reasoning_then_content_and_comments():
    body = b": keep-alive\n\n" + _sse(_delta("hmm", "reasoning_content"), _delta("yes"))
    rec, _, _ = _feed(HEAD + _chunked(body), 100)
    assert rec.reasoning_event_count == 1 and rec.event_count == 2
    assert rec.first_reasoning_s is not None and rec.first_token_s is not None
    assert rec.completion_tokens == 2 and rec.token_source == "client"


@pytest.mark.parametrize("step", [1, 2, 5, 1000])
def test_completions_text_and_crlf_events(step):
    body = b'data: {"choices":[{"text":"a b"}]}\r\n\r\ndata: {"choices":[{"text":"c"}]}\r\n\r\n' \
        b"data: [DONE]\r\n\r\n"
    rec, _, _ = _feed(HEAD + _chunked(body), step)
    assert rec.status == "ok" and rec.event_tokens == [2, 1]


def test_reconcile_event_tokens():
    rec = _record()
    rec.event_tokens, rec.completion_tokens = [3, 3, 3], 3
    reconcile_event_tokens(rec)
    assert rec.event_tokens == [1, 1, 1]
    rec.event_tokens, rec.completion_tokens = [2, 2], 4
    reconcile_event_tokens(rec)
    assert rec.event_tokens == [2, 2]
    assert sum(_scale_counts([5, 1, 10], 20)) == 20
    assert _scale_counts([4, 4], 1) == [1, 0]


def test_build_request_and_target():
    t = Target.from_url("http://127.0.0.1:8080/prefix/")
    assert (t.host, t.port, t.path_prefix) == ("127.0.0.1", 8080, "/prefix")
    raw = build_request("POST", t, "/v1/x", {"A": "b"}, b"{}")
    assert raw.startswith(b"POST /prefix/v1/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert raw.endswith(b"A: b\r\n\r\n{}") and b"Content-Length: 2" in raw


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_WIRE = HEAD + _chunked(_sse(_delta("a b"), _delta("c"), {"choices": [], "usage": {
    "prompt_tokens": 4, "completion_tokens": 3}}), size=11)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(_WIRE) - 1), max_size=12, unique=True))
def test_any_split_of_the_wire_gives_the_same_record(cuts):
    """However TCP splits the bytes, the parsed record is the same."""
    points = [0, *sorted(cuts), len(_WIRE)]
    record, finished = _record(), []
    sink = StreamSink(record, 0.0, lambda t: len(t.split()), lambda: finished.append(1), True)
    conn = HttpConnection()
    conn.connection_made(_Transport())
    conn.send(b"GET / HTTP/1.1\r\n\r\n", sink)
    for a, b in zip(points, points[1:]):
        conn.data_received(_WIRE[a:b])
    assert finished == [1] and record.status == "ok" and conn.reusable
    assert record.event_tokens == [2, 1] and record.completion_tokens == 3
