"""Turns one HTTP response (SSE stream or JSON body) into the facts of a :class:`RequestRecord`.

The scanner looks for event boundaries (a blank line) with ``bytes.find`` on the de-chunked
body, so a network read holding many events costs one search per event and no per-line
Python. Every event in one read shares that read's arrival time: that is when the client saw it.

Event classification (OpenAI-compatible chat and completions streams):

* ``delta.content`` / ``text`` non-empty       -> visible content event
* ``delta.reasoning_content`` / ``reasoning``  -> reasoning event (counted as a token event)
* ``usage`` present                            -> server token counts
* no ``choices`` and no ``usage``, or ``error`` -> ``no_choices`` error (the stream is still read)
* not JSON                                     -> ``bad_json`` error
* EOF without ``data: [DONE]``                 -> ``truncated`` error
"""

from __future__ import annotations

import json
from typing import Callable

from benchmatrix.loadgen.records import RequestRecord

_scan_once = json.JSONDecoder().scan_once  # the C scanner, without json.loads' Python wrappers


def _loads(payload: bytes) -> object:
    """Parse one JSON value; raises ValueError when it is not JSON."""
    try:
        return _scan_once(payload.decode("utf-8", "replace"), 0)[0]
    except StopIteration as exc:  # the scanner's way of saying "no JSON value here"
        raise ValueError(f"no JSON value at offset {exc.value}") from None


class StreamSink:
    """A :class:`~benchmatrix.loadgen.http.ResponseSink` that fills one record.

    ``count_tokens`` counts tokens of a text piece on the client (used per event and as the
    fallback when the server reports no usage). ``done`` is called once, when the response
    ended in any way.
    """

    __slots__ = ("record", "t0", "count_tokens", "done", "streaming", "_buf", "_texts",
                 "_saw_done", "_body", "_is_sse", "_error", "_finished", "got_bytes")

    def __init__(self, record: RequestRecord, t0: float, count_tokens: Callable[[str], int],
                 done: Callable[[], None], streaming: bool) -> None:
        self.record = record
        self.t0 = t0
        self.count_tokens = count_tokens
        self.done = done
        self.streaming = streaming
        self._buf = b""
        self._texts: list[str] = []
        self._saw_done = False
        self._body: list[bytes] = []
        self._is_sse = False
        self._error: tuple[str, str] | None = None
        self._finished = False
        self.got_bytes = False

    # ResponseSink -------------------------------------------------------------------------
    def on_head(self, status: int, headers: dict[str, str], now_s: float) -> None:
        rec = self.record
        self.got_bytes = True
        rec.first_byte_s = now_s - self.t0
        rec.http_status = status
        rec.replica_id = headers.get("x-benchmatrix-replica")
        self._is_sse = status == 200 and "text/event-stream" in headers.get("content-type", "")

    def on_body(self, data: bytes, now_s: float) -> None:
        if not self._is_sse:
            self._body.append(data)
            return
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:  # CRLF line endings (sse-starlette and others): normalise once per read
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        t = now_s - self.t0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._event(buf[start:end], t)
            start = end + 2
        self._buf = buf[start:]

    def on_complete(self, now_s: float) -> None:
        if self._finished:
            return
        self._finished = True
        rec = self.record
        rec.done_s = now_s - self.t0
        if rec.http_status != 200:
            body = b"".join(self._body)[:300].decode("utf-8", "replace")
            self._set_error("http", f"HTTP {rec.http_status}: {body}")
        elif self._is_sse:
            if self._buf.strip():
                self._event(self._buf, now_s - self.t0)
                self._buf = b""
            if not self._saw_done:
                self._set_error("truncated", "stream ended without data: [DONE]")
        else:
            self._json_body(now_s - self.t0)
        self._close()

    def on_fail(self, kind: str, message: str, now_s: float) -> None:
        if self._finished:
            return
        self._finished = True
        self.record.done_s = now_s - self.t0
        self._set_error(kind, message)
        self._close()

    # events -------------------------------------------------------------------------------
    def _event(self, block: bytes, t: float) -> None:
        """One SSE event block (possibly several ``data:`` lines; comments ignored)."""
        if block.startswith(b"data: {"):  # the common case, no stripping needed
            payload = block[6:]
        elif block.startswith(b"data:"):
            payload = block[5:].strip()
        else:
            lines = [ln[5:].strip() for ln in block.replace(b"\r", b"").split(b"\n")
                     if ln.startswith(b"data:")]
            if not lines:
                return  # comment / keep-alive / event: line only
            payload = b"\n".join(lines)
        if payload == b"[DONE]":
            self._saw_done = True
            return
        try:
            obj = _loads(payload)
        except ValueError:
            self._set_error("bad_json", f"malformed event: {payload[:80]!r}")
            return
        self._apply(obj, t)

    def _apply(self, obj: object, t: float) -> None:
        if not isinstance(obj, dict):
            self._set_error("bad_json", "event is not a JSON object")
            return
        if "error" in obj:
            self._set_error("no_choices", f"server error event: {str(obj['error'])[:200]}")
            return
        usage = obj.get("usage")
        if usage:
            self._usage(usage)
        choices = obj.get("choices")
        if choices:
            self._choice(choices[0], t)
        elif isinstance(obj.get("delta"), str) or isinstance(obj.get("text"), str):
            text = obj.get("delta") if isinstance(obj.get("delta"), str) else obj["text"]
            if text:  # transcription stream: {"type": "transcript.text.delta", "delta": ...}
                self._token_event(text, False, t)
        elif not usage:
            self._set_error("no_choices", "event without choices")

    def _choice(self, choice: dict, t: float) -> None:
        delta = choice.get("delta")
        if delta is None:  # completions stream: {"text": "..."}
            text = choice.get("text") or ""
            if text:
                self._token_event(text, False, t)
            return
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            self._token_event(reasoning, True, t)
        content = delta.get("content")
        if content:
            self._token_event(content, False, t)

    def _token_event(self, text: str, is_reasoning: bool, t: float) -> None:
        rec = self.record
        if is_reasoning:
            rec.reasoning_event_count += 1
            if rec.first_reasoning_s is None:
                rec.first_reasoning_s = t
        elif rec.first_token_s is None:
            rec.first_token_s = t
        rec.event_times_s.append(t)
        rec.event_tokens.append(max(1, self.count_tokens(text)))
        rec.event_count += 1
        rec.last_event_s = t
        self._texts.append(text)

    def _usage(self, usage: dict) -> None:
        rec = self.record
        if usage.get("prompt_tokens") is not None:
            rec.prompt_tokens = int(usage["prompt_tokens"])
        if usage.get("completion_tokens") is not None:
            rec.completion_tokens = int(usage["completion_tokens"])
            rec.token_source = "server"

    def _json_body(self, t: float) -> None:
        """Non-streamed response: the whole output counts as one event at completion."""
        raw = b"".join(self._body)
        try:
            obj = _loads(raw)
        except ValueError:
            self._set_error("bad_json", f"malformed body: {raw[:80]!r}")
            return
        if not isinstance(obj, dict):
            self._set_error("bad_json", "body is not a JSON object")
            return
        if obj.get("usage"):
            self._usage(obj["usage"])
        if "text" in obj and "choices" not in obj:  # transcription
            if obj["text"]:
                self._token_event(str(obj["text"]), False, t)
            return
        choices = obj.get("choices")
        if not choices:
            self._set_error("no_choices", "response without choices")
            return
        choice = choices[0]
        text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        if text:
            self._token_event(text, False, t)

    # finishing ----------------------------------------------------------------------------
    def _set_error(self, kind: str, message: str) -> None:
        if self._error is None:  # the first problem is the cause; later ones are symptoms
            self._error = (kind, message[:300])

    def _close(self) -> None:
        rec = self.record
        reconcile_event_tokens(rec)
        if self._error is None and rec.http_status == 200 and rec.event_count == 0:
            self._set_error("no_choices", "response carried no tokens")
        if (self._error is None and rec.modality != "speech" and rec.completion_tokens is not None
                and rec.completion_tokens > rec.output_tokens_target):
            self._set_error("max_tokens_ignored",
                            f"{rec.completion_tokens} tokens > max_tokens {rec.output_tokens_target}")
        if self._error is not None:
            rec.status = "error"
            rec.error_kind, rec.error_message = self._error
        self.done()


def reconcile_event_tokens(rec: RequestRecord) -> None:
    """Make per-event token counts add up to the output token count.

    Server usage wins when present: if it equals the number of events, each event carried one
    token (llama.cpp, vLLM); otherwise the client counts are scaled to it with largest-remainder
    rounding (each event keeps at least one token while tokens last). Without usage the client
    counts stand and ``completion_tokens`` is their sum (``token_source='client'``).
    """
    counts = rec.event_tokens
    if rec.completion_tokens is None:
        rec.completion_tokens = sum(counts) if counts else None
        rec.token_source = "client"
        return
    total = rec.completion_tokens
    if not counts or sum(counts) == total:
        return
    if total == len(counts):
        rec.event_tokens = [1] * len(counts)
        return
    rec.event_tokens = _scale_counts(counts, total)


def _scale_counts(counts: list[int], total: int) -> list[int]:
    """Largest-remainder apportionment of ``total`` over events weighted by ``counts``."""
    n = len(counts)
    if total <= n:
        return [1] * total + [0] * (n - total)
    base = [1] * n
    spare = total - n
    weights = [max(0, c - 1) for c in counts]
    wsum = sum(weights) or n
    if not any(weights):
        weights = [1] * n
    shares = [spare * w / wsum for w in weights]
    floors = [int(s) for s in shares]
    left = spare - sum(floors)
    order = sorted(range(n), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in order[:left]:
        floors[i] += 1
    return [b + f for b, f in zip(base, floors)]
