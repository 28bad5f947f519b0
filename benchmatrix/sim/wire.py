"""A lean HTTP/1.1 server layer on asyncio protocols (no framework).

Supports what an OpenAI-compatible client and NGINX send: Content-Length and chunked request
bodies, keep-alive (HTTP/1.1 default, ``Keep-Alive: timeout=60``), sequential pipelining, full
responses and chunked streaming responses. One request per connection is handled at a time;
bytes that arrive meanwhile are buffered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 128 * 1024 * 1024
KEEP_ALIVE_TIMEOUT_S = 60.0

REASONS = {
    200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
    411: b"Length Required", 413: b"Payload Too Large", 500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass(slots=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    keep_alive: bool


class Handler(Protocol):
    """What the connection calls for each complete request."""

    def handle(self, request: Request, conn: Connection) -> None:
        """Answer ``request`` via ``conn`` (now, or later from the engine loop)."""


class BadRequest(Exception):
    """The bytes are not a valid HTTP/1.x request; answered with ``status`` and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Connection(asyncio.Protocol):
    """One client connection: parses requests, writes responses, notices disconnects."""

    def __init__(self, handler: Handler, common_headers: bytes, registry: set[Connection]):
        self._handler = handler
        self._common = common_headers
        self._registry = registry
        self._buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closed = False
        self.on_abort: Callable[[], None] | None = None
        self._keep_alive = True
        self._request_id_header = b""
        self._continue_sent = False
        self.last_activity_s = 0.0

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._registry.add(self)
        self.last_activity_s = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self.busy:
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._registry.discard(self)
        abort, self.on_abort = self.on_abort, None
        if abort is not None:
            abort()

    # responses --------------------------------------------------------------------------
    def send(self, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
        """Write a complete response and finish the request."""
        head = self._head(status, content_type) + b"content-length: %d\r\n\r\n" % len(body)
        self._write(head + body)
        self._finish()

    def start_stream(self, first: bytes = b"") -> None:
        """Write the head of a chunked ``text/event-stream`` response (plus ``first`` bytes)."""
        head = self._head(200, b"text/event-stream") + b"cache-control: no-cache\r\n"
        self._write(head + b"transfer-encoding: chunked\r\n\r\n" + _chunk(first))

    def write_stream(self, data: bytes) -> None:
        """Write one chunk of a streaming response."""
        self._write(_chunk(data))

    def end_stream(self, data: bytes = b"") -> None:
        """Write the last bytes and the chunked terminator, then finish the request."""
        self._write(_chunk(data) + b"0\r\n\r\n")
        self._finish()

    # internals --------------------------------------------------------------------------
    def _head(self, status: int, content_type: bytes) -> bytes:
        conn = b"keep-alive: timeout=60\r\n" if self._keep_alive else b"connection: close\r\n"
        return (
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n"
            % (status, REASONS.get(status, b"OK"), content_type)
            + self._common + self._request_id_header + conn
        )

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _finish(self) -> None:
        self.busy = False
        self.on_abort = None
        if self.transport is None or self.closed:
            return
        self.last_activity_s = asyncio.get_running_loop().time()
        if not self._keep_alive:
            self.transport.close()
            self.closed = True
        elif self._buf:
            asyncio.get_running_loop().call_soon(self._process)

    def _process(self) -> None:
        if self.busy or self.closed:
            return
        try:
            request = parse_request(self._buf)
        except BadRequest as exc:
            self._keep_alive = False
            self.busy = True
            msg = b'{"error":{"message":"%s","type":"BadRequestError"}}' % str(exc).encode()
            self.send(exc.status, msg)
            return
        if request is None:
            self._maybe_continue()
            return
        self._continue_sent = False
        self.busy = True
        self._keep_alive = request.keep_alive
        rid = request.headers.get("x-request-id")
        self._request_id_header = b"x-request-id: %s\r\n" % rid.encode("latin-1") if rid else b""
        self._handler.handle(request, self)


    def _maybe_continue(self) -> None:
        """Answer ``Expect: 100-continue`` (curl sends it for large uploads) once per request."""
        if self._continue_sent or self.transport is None:
            return
        end = self._buf.find(b"\r\n\r\n")
        if end >= 0 and b"100-continue" in bytes(self._buf[:end]).lower():
            self._continue_sent = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def parse_request(buf: bytearray) -> Request | None:
    """Pop one complete request off ``buf``; None when more bytes are needed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD_BYTES:
            raise BadRequest(413, "request head too large")
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    headers = _parse_headers(lines[1:])
    body_and_end = _parse_body(buf, end + 4, headers)
    if body_and_end is None:
        return None
    body, consumed = body_and_end
    del buf[:consumed]
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body, _keep_alive(version, headers))


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    return headers


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    conn = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in conn
    return "close" not in conn


def _parse_body(buf: bytearray, start: int, headers: dict[str, str]) -> tuple[bytes, int] | None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _parse_chunked(buf, start)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad content-length") from None
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, "request body too large")
    if len(buf) < start + length:
        return None
    return bytes(buf[start : start + length]), start + length


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size") from None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", eol)
            if trailer_end < 0 and buf[eol : eol + 4] != b"\r\n\r\n":
                return None
            return b"".join(parts), (trailer_end if trailer_end >= 0 else eol) + 4
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2
