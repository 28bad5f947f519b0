"""OpenAI-compatible request parsing and response/chunk encoding (pure, bytes out).

Chunk shapes follow vLLM's OpenAI server: chat ``chat.completion.chunk`` (a first chunk with
``delta.role``, content chunks, a last chunk with ``delta: {}`` and ``finish_reason``), completions
``text_completion`` chunks, transcriptions ``transcription.chunk``. With
``stream_options.include_usage`` a final chunk carries ``"choices": []``, ``usage`` and the sim's
ground truth in the extension field ``"sim"``. Every stream ends with ``data: [DONE]``.
Constant byte fragments are encoded once per request, so a content event costs two joins.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from benchmatrix.sim.costing import count_text_tokens, image_url_tokens

Kind = Literal["chat", "completions", "transcription"]

# 64 JSON-safe words; generated token i of a request is WORDS[(offset + i) % 64].
WORDS: tuple[bytes, ...] = tuple(
    b" " + w.encode()
    for w in (
        "the of and to in is was for on that with as by at from his her an were are which "
        "this be or had it not but first one their its new after who they have two has been "
        "other all during into time more most only over city may school most between also "
        "state such part year some world where these then when under while"
    ).split()[:64]
)
DONE = b"data: [DONE]\n\n"


class RequestError(ValueError):
    """The request body is invalid; answered with HTTP 400 and this message."""


@dataclass(slots=True)
class GenRequest:
    """A parsed generation request; token counts in tokens."""

    kind: Kind
    prompt_tokens: int
    max_tokens: int | None
    min_tokens: int
    ignore_eos: bool
    stream: bool
    include_usage: bool
    prompt_key: bytes  # what the natural stop length is derived from
    audio_seconds: float | None = None


def _as_int(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RequestError(f"{name} must be a non-negative integer")
            return value
    return None


def make_request(body: dict[str, Any], kind: Kind, prompt_tokens: int, key: bytes) -> GenRequest:
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported")
    max_tokens = _as_int(body, "max_completion_tokens", "max_tokens")
    if max_tokens == 0:
        raise RequestError("max_tokens must be at least 1")
    options = body.get("stream_options") or {}
    return GenRequest(
        kind=kind,
        prompt_tokens=max(1, prompt_tokens),
        max_tokens=max_tokens,
        min_tokens=_as_int(body, "min_tokens") or 0,
        ignore_eos=bool(body.get("ignore_eos", False)),
        stream=bool(body.get("stream", False)),
        include_usage=bool(options.get("include_usage", False)) if isinstance(options, dict) else False,
        prompt_key=key,
    )


def parse_chat(body: dict[str, Any], patch_px: int) -> GenRequest:
    """Parse a /v1/chat/completions body; images cost patch tokens."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    tokens, texts = 0, []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            tokens += count_text_tokens(content)
            texts.append(content)
        elif isinstance(content, list):
            tokens += _parts_tokens(content, patch_px, texts)
        elif content is not None:
            raise RequestError("message content must be a string or a list of parts")
    return make_request(body, "chat", tokens, "\n".join(texts).encode())


def _parts_tokens(parts: list[Any], patch_px: int, texts: list[str]) -> int:
    tokens = 0
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = str(part.get("text", ""))
            tokens += count_text_tokens(text)
            texts.append(text)
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            try:
                tokens += image_url_tokens(str(url), patch_px)
            except ValueError as exc:
                raise RequestError(str(exc)) from exc
            texts.append(str(url)[-64:])
        else:
            raise RequestError(f"unsupported content part type {kind!r}")
    return tokens


def parse_completions(body: dict[str, Any]) -> GenRequest:
    """Parse a /v1/completions body (prompt: string, [string] or [int token ids])."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return make_request(body, "completions", count_text_tokens(prompt), prompt.encode())
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return make_request(body, "completions", len(prompt), json.dumps(prompt).encode())
    raise RequestError("prompt must be a string, a one-string list, or a list of token ids")


@dataclass(slots=True)
class Usage:
    """Token counts reported to the client."""

    prompt_tokens: int
    completion_tokens: int

    def as_dict(self) -> dict[str, int]:
        """OpenAI ``usage`` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def text_bytes(offset: int, start: int, count: int) -> bytes:
    """Generated text of tokens ``start .. start+count-1`` (JSON-safe bytes)."""
    return b"".join(WORDS[(offset + i) & 63] for i in range(start, start + count))


_OBJECT = {"chat": b"chat.completion.chunk", "completions": b"text_completion",
           "transcription": b"transcription.chunk"}
_ID_PREFIX = {"chat": "chatcmpl-", "completions": "cmpl-", "transcription": "trsc-"}


class StreamEncoder:
    """Pre-encoded SSE fragments of one streaming response."""

    __slots__ = ("kind", "head", "pre", "pre_reasoning", "post", "request_id", "model", "created")

    def __init__(self, kind: Kind, request_id: str, model: str, created_s: int | None = None):
        self.kind = kind
        self.request_id = _ID_PREFIX[kind] + request_id
        self.model = model
        self.created = created_s if created_s is not None else int(time.time())
        self.head = b'data: {"id":"%s","object":"%s","created":%d,"model":%s,"choices":[' % (
            self.request_id.encode(), _OBJECT[kind], self.created, json.dumps(model).encode())
        self.pre_reasoning = self.head + b'{"index":0,"delta":{"reasoning_content":"'
        if kind == "chat":
            self.pre = self.head + b'{"index":0,"delta":{"content":"'
            self.post = b'"},"logprobs":null,"finish_reason":null}]}\n\n'
        elif kind == "completions":
            self.pre = self.head + b'{"index":0,"text":"'
            self.post = b'","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
        else:
            self.pre = self.head + b'{"index":0,"delta":{"content":"'
            self.post = b'"},"finish_reason":null,"stop_reason":null}]}\n\n'

    def role_chunk(self) -> bytes:
        """Chat only: the first chunk announcing the assistant role (empty content)."""
        if self.kind != "chat":
            return b""
        return self.head + (
            b'{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
            b'"finish_reason":null}]}\n\n'
        )

    def content(self, text: bytes) -> bytes:
        """One content event carrying ``text``."""
        return self.pre + text + self.post

    def reasoning(self, text: bytes) -> bytes:
        """Chat only: one ``delta.reasoning_content`` event carrying ``text``."""
        return self.pre_reasoning + text + self.post

    def finish(self, finish_reason: str) -> bytes:
        """The last choice chunk carrying ``finish_reason``."""
        reason = finish_reason.encode()
        if self.kind == "chat":
            tail = b'{"index":0,"delta":{},"logprobs":null,"finish_reason":"%s"}]}\n\n' % reason
        elif self.kind == "completions":
            tail = (b'{"index":0,"text":"","logprobs":null,"finish_reason":"%s",'
                    b'"stop_reason":null}]}\n\n' % reason)
        else:
            tail = b'{"index":0,"delta":{},"finish_reason":"%s","stop_reason":null}]}\n\n' % reason
        return self.head + tail

    def usage(self, usage: Usage, sim: dict[str, Any]) -> bytes:
        """The ``choices: []`` usage chunk with the ``sim`` ground-truth extension."""
        return self.head + b"]," + _dumps({"usage": usage.as_dict(), "sim": sim})[1:] + b"\n\n"


def full_response(enc: StreamEncoder, text: bytes, finish_reason: str, usage: Usage,
                  sim: dict[str, Any], reasoning: bytes = b"") -> bytes:
    """The non-streaming JSON body for ``enc.kind`` (``sim`` included as an extension)."""
    content = text.decode()
    if enc.kind == "transcription":
        return _dumps({"text": content.strip(), "usage": usage.as_dict(), "sim": sim})
    if enc.kind == "chat":
        message = {"role": "assistant", "content": content}
        if reasoning:
            message["reasoning_content"] = reasoning.decode()
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": finish_reason}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return _dumps({"id": enc.request_id, "object": obj, "created": enc.created,
                   "model": enc.model, "choices": [choice], "usage": usage.as_dict(), "sim": sim})


def error_body(message: str, status: int) -> bytes:
    """OpenAI-style error object."""
    kind = "BadRequestError" if status == 400 else "NotFoundError" if status == 404 else "Error"
    return _dumps({"object": "error", "message": message, "type": kind, "code": status,
                   "error": {"message": message, "type": kind, "code": status}})


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
