"""A small, fast, misbehaving OpenAI-compatible server for load generator tests.

The ``model`` field of each request picks the behaviour (so one server covers every case):

=====================  =============================================================
model                  behaviour
=====================  =============================================================
``ok``                 one word per event, usage on the last chunk, ``data: [DONE]``
``multi4``             four words per event
``one``                a single token whatever max_tokens says
``reasoning``          two reasoning_content events, then content
``http500``            HTTP 500 with a JSON error body
``reset``              closes the connection right after reading the request
``slow``               sleeps 5 s before answering (for timeouts)
``truncated``          two events then closes without ``[DONE]`` (chunked, no final chunk)
``bad_json``           one malformed event among good ones
``no_choices``         events without ``choices``
``ignore_max``         sends max_tokens + 5 tokens and reports them in usage
``nousage``            no usage chunk (client counts)
``nonstream``          a plain JSON chat completion
=====================  =============================================================

``/v1/audio/transcriptions`` streams the transcription in word events; ``/tokenize`` counts
whitespace words. Each response carries ``x-benchmatrix-replica``. The server keeps
``(request id, arrival, first token, last token)`` monotonic stamps in ``requests_seen``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ServerStamp:
    """Server-side monotonic timestamps (s) of one request."""

    request_id: str | None
    arrival: float
    first_token: float | None = None
    last_token: float | None = None


@dataclass
class FakeServer:
    """Handle of a running fake server."""

    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    server: asyncio.AbstractServer | None = None
    requests_seen: list[ServerStamp] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL (http://host:port)."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Close the listening socket and stop the loop thread."""
        async def _close() -> None:
            self.server.close()  # type: ignore[union-attr]
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(obj: object) -> bytes:
    return _chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")


def _delta(text: str, reasoning: bool = False) -> dict:
    key = "reasoning_content" if reasoning else "content"
    return {"choices": [{"index": 0, "delta": {key: text}}]}


def _text_chunk(endpoint: str, text: str) -> dict:
    if endpoint == "completions":
        return {"choices": [{"index": 0, "text": text}]}
    return _delta(text)


_HEAD = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
         "x-benchmatrix-replica: fake-0\r\n\r\n").encode()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (ln.partition(":") for ln in lines[1:] if ln)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return path, headers, body


def _parse_body(path: str, headers: dict, body: bytes) -> dict:
    if path.endswith("/audio/transcriptions"):
        boundary = headers["content-type"].split("boundary=")[1].encode()
        form = {}
        for part in body.split(b"--" + boundary):
            if b'name="' in part and b"filename" not in part:
                name = part.split(b'name="')[1].split(b'"')[0].decode()
                form[name] = part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n").decode()
            elif b"filename" in part:
                form["audio_bytes"] = len(part)
        return form
    return json.loads(body)


async def _stream(writer: asyncio.StreamWriter, stamp: ServerStamp, pieces: list[dict],
                  usage: dict | None, done: bool = True, gap_s: float = 0.0) -> None:
    writer.write(_HEAD)
    for piece in pieces:
        now = time.monotonic()
        stamp.first_token = stamp.first_token or now
        stamp.last_token = now
        writer.write(_event(piece))
        await writer.drain()
        if gap_s:
            await asyncio.sleep(gap_s)
    if usage is not None:
        writer.write(_event({"choices": [], "usage": usage}))
    if done:
        writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


async def _respond(path: str, req: dict, writer: asyncio.StreamWriter, stamp: ServerStamp) -> bool:
    """Write one response; returns False when the connection must close."""
    model = req.get("model", "ok")
    endpoint = "completions" if path.endswith("/completions") and "chat" not in path else "chat"
    if path.endswith("/tokenize"):
        text = req.get("prompt") or req.get("content") or ""
        body = json.dumps({"count": len(text.split()), "tokens": list(range(len(text.split())))})
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        return True
    if path.endswith("/audio/transcriptions"):
        words = ["hello", "world", "this", "is", "speech"]
        await _stream(writer, stamp, [_delta(w + " ") for w in words],
                      {"prompt_tokens": 10, "completion_tokens": len(words)})
        return True
    max_tokens = int(req.get("max_tokens", 16))
    prompt_tokens = len(str(req.get("prompt") or req.get("messages")).split())
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens}
    words = [_text_chunk(endpoint, f"w{i} ") for i in range(max_tokens)]
    if model == "ok":
        await _stream(writer, stamp, words, usage, gap_s=0.001)
    elif model == "multi4":
        groups = [" ".join(f"w{j}" for j in range(i, min(i + 4, max_tokens))) + " "
                  for i in range(0, max_tokens, 4)]
        await _stream(writer, stamp, [_text_chunk(endpoint, g) for g in groups], usage,
                      gap_s=0.004)
    elif model == "one":
        await _stream(writer, stamp, words[:1], {**usage, "completion_tokens": 1})
    elif model == "reasoning":
        pieces = [_delta("think ", True), _delta("more ", True)] + words[: max_tokens - 2]
        await _stream(writer, stamp, pieces, usage, gap_s=0.001)
    elif model == "http500":
        body = b'{"error": {"message": "boom"}}'
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    elif model == "reset":
        writer.transport.abort()
        return False
    elif model == "slow":
        await asyncio.sleep(5)
        await _stream(writer, stamp, words, usage)
    elif model == "truncated":
        await _stream(writer, stamp, words[:2], None, done=False)
        writer.close()
        return False
    elif model == "bad_json":
        writer.write(_HEAD + _event(words[0]) + _chunk(b"data: {not json\n\n"))
        await _stream_tail(writer, words[1:], usage)
    elif model == "no_choices":
        writer.write(_HEAD + _event({"id": "x", "object": "chat.completion.chunk"}))
        await _stream_tail(writer, words, usage)
    elif model == "ignore_max":
        more = words + [_text_chunk(endpoint, "x ")] * 5
        await _stream(writer, stamp, more, {**usage, "completion_tokens": max_tokens + 5})
    elif model == "nousage":
        await _stream(writer, stamp, words, None)
    elif model == "nonstream":
        body = json.dumps({"choices": [{"message": {"content": " ".join(["w"] * max_tokens)}}],
                           "usage": usage}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return True


async def _stream_tail(writer: asyncio.StreamWriter, pieces: list[dict], usage: dict) -> None:
    for piece in pieces:
        writer.write(_event(piece))
    writer.write(_event({"choices": [], "usage": usage}) + _chunk(b"data: [DONE]\n\n")
                 + b"0\r\n\r\n")
    await writer.drain()


def _make_handler(server: FakeServer):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                got = await _read_request(reader)
                if got is None:
                    break
                path, headers, body = got
                stamp = ServerStamp(headers.get("x-request-id"), time.monotonic())
                server.requests_seen.append(stamp)
                if not await _respond(path, _parse_body(path, headers, body), writer, stamp):
                    break
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()

    return handle


def start_fake_server(host: str = "127.0.0.1") -> FakeServer:
    """Start the fake server on a free loopback port in a background thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        fake = holder["fake"]
        fake.server = loop.run_until_complete(asyncio.start_server(_make_handler(fake), host, 0))
        fake.port = fake.server.sockets[0].getsockname()[1]
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True, name="fake-openai-server")
    holder["fake"] = FakeServer(host, 0, loop, thread)
    thread.start()
    started.wait(5)
    return holder["fake"]
