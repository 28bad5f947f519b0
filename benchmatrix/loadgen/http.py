"""A lean asyncio HTTP/1.1 client for streaming responses: keep-alive pool, chunked decoding.

Why not httpx: per event it costs tens of microseconds of Python (stream iterators, header
objects, line splitting); at thousands of events per second that CPU time shows up as client
TTFT overhead. Here each ``data_received`` is stamped once with ``time.monotonic()`` and handed,
de-chunked, to a :class:`ResponseSink` (see ``bench/loadgen_vs_peers.py`` for the comparison).

Only what an OpenAI-compatible server or NGINX sends is supported: ``Content-Length``,
``Transfer-Encoding: chunked`` and read-until-close bodies; no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from benchmatrix.errors import LoadGenError

_monotonic = time.monotonic


class ResponseSink(Protocol):
    """Receives one response's parts, each with the monotonic time (s) it arrived."""

    def on_head(self, status: int, headers: dict[str, str], now_s: float) -> None: ...
    def on_body(self, data: bytes, now_s: float) -> None: ...
    def on_complete(self, now_s: float) -> None: ...
    def on_fail(self, kind: str, message: str, now_s: float) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where requests go: host, port and a path prefix taken from a base URL."""

    host: str
    port: int
    path_prefix: str

    @classmethod
    def from_url(cls, base_url: str) -> "Target":
        """Parse ``http://host:port[/prefix]``; https is not supported (loopback benchmarks)."""
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise LoadGenError(f"base_url {base_url!r}: use http://host:port (https unsupported)")
        return cls(parts.hostname, parts.port or 80, parts.path.rstrip("/"))


_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _UNTIL_CLOSE, _IDLE = range(8)
_MAX_HEAD_BYTES = 64 * 1024


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection that carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self.closed = False
        self.reusable = False
        self._buf = b""
        self._state = _IDLE
        self._remaining = 0
        self._keep_alive = True
        self._first_byte_s = 0.0

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        now = _monotonic()
        if self.sink is None:
            return
        if self._state == _UNTIL_CLOSE:
            self._finish(now)
        elif self._state == _HEAD and not self._buf:
            # no response byte at all: reset / refused mid-handshake, reported as 'connect'
            self._fail("connect", _why(exc, "connection closed before any response byte"), now)
        else:
            self._fail("truncated", _why(exc, "connection closed mid-response"), now)

    def data_received(self, data: bytes) -> None:
        now = _monotonic()
        if self.sink is None:
            return  # bytes after a finished response on a connection we will drop
        if self._state == _HEAD and not self._buf:
            self._first_byte_s = now  # the head may take several reads: stamp the first
        self._buf = self._buf + data if self._buf else data
        self._advance(now)

    # requests ---------------------------------------------------------------------------
    def send(self, request: bytes, sink: ResponseSink) -> None:
        """Write ``request`` and route its response to ``sink``."""
        self.sink = sink
        self.reusable = False
        self._state = _HEAD
        self._buf = b""
        self.transport.write(request)  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the connection (timeouts, cancellation); the sink is not called again."""
        self.sink = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # parsing ----------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        while self.sink is not None and self._buf:
            state = self._state
            if state == _HEAD:
                if not self._parse_head(now):
                    return
            elif state == _LENGTH:
                self._take_length(now)
            elif state == _UNTIL_CLOSE:
                data, self._buf = self._buf, b""
                self.sink.on_body(data, now)
            elif state == _TRAILER:
                if not self._parse_trailer(now):
                    return
            elif not self._take_chunks(now):
                return

    def _parse_head(self, now: float) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEAD_BYTES:
                self._fail("http", "response head too large", now)
                self.abort()
            return False
        head, self._buf = self._buf[:end].decode("latin-1"), self._buf[end + 4:]
        lines = head.split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            self._fail("http", f"bad status line {lines[0][:80]!r}", now)
            self.abort()
            return False
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._start_body(status, headers, now)
        return True

    def _start_body(self, status: int, headers: dict[str, str], now: float) -> None:
        self._keep_alive = headers.get("connection", "").lower() != "close"
        self.sink.on_head(status, headers, self._first_byte_s)  # type: ignore[union-attr]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif "content-length" in headers:
            self._remaining = int(headers["content-length"])
            self._state = _LENGTH
            if self._remaining == 0:
                self._finish(now)
        elif status in (204, 304):
            self._finish(now)
        else:
            self._keep_alive = False
            self._state = _UNTIL_CLOSE

    def _take_length(self, now: float) -> None:
        take = self._buf[: self._remaining]
        self._buf = self._buf[len(take):]
        self._remaining -= len(take)
        self.sink.on_body(take, now)  # type: ignore[union-attr]
        if self._remaining == 0:
            self._finish(now)

    def _take_chunks(self, now: float) -> bool:
        """Decode every complete chunk in the buffer, then hand their data over in one piece.

        One ``on_body`` per network read instead of one per chunk: NGINX and servers send one
        chunk per SSE event, so this is where per-event Python overhead is saved. Returns False
        when more bytes are needed.
        """
        buf, pos, pieces = self._buf, 0, []
        state, remaining, size_buf = self._state, self._remaining, len(buf)
        while pos < size_buf:
            if state == _CHUNK_DATA:
                take = min(remaining, size_buf - pos)
                pieces.append(buf[pos:pos + take])
                pos += take
                remaining -= take
                if remaining:
                    break
                state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if size_buf - pos < 2:
                    break
                pos += 2
                state = _CHUNK_SIZE
            else:  # _CHUNK_SIZE
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                try:
                    remaining = int(buf[pos:end].split(b";", 1)[0], 16)
                except ValueError:
                    self._fail("truncated", f"bad chunk size {buf[pos:end][:40]!r}", now)
                    self.abort()
                    return False
                pos = end + 2
                if remaining == 0:
                    state = _TRAILER
                    break
                state = _CHUNK_DATA
        self._buf, self._state, self._remaining = buf[pos:], state, remaining
        if pieces:
            self.sink.on_body(pieces[0] if len(pieces) == 1 else b"".join(pieces), now)  # type: ignore[union-attr]
        return pos > 0 and self.sink is not None  # consumed something: let _advance go on

    def _parse_trailer(self, now: float) -> bool:
        """Trailer lines after the last chunk; an empty line ends the message."""
        end = self._buf.find(b"\r\n")
        if end < 0:
            return False
        line, self._buf = self._buf[:end], self._buf[end + 2:]
        if not line:
            self._finish(now)
        return True

    def _finish(self, now: float) -> None:
        sink, self.sink = self.sink, None
        self._state = _IDLE
        self.reusable = self._keep_alive and not self.closed and not self._buf
        if sink is not None:
            sink.on_complete(now)

    def _fail(self, kind: str, message: str, now: float) -> None:
        sink, self.sink = self.sink, None
        self.reusable = False
        if sink is not None:
            sink.on_fail(kind, message, now)


def _why(exc: Exception | None, default: str) -> str:
    return f"{type(exc).__name__}: {exc}"[:200] if exc else default


class ConnectionPool:
    """Keep-alive connections to one target; grows to the number of requests in flight."""

    def __init__(self, target: Target, connect_timeout_s: float) -> None:
        self.target = target
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[HttpConnection] = []
        self.opened = 0

    @property
    def has_idle(self) -> bool:
        """True when a kept-alive connection is waiting (the next request reuses it)."""
        return bool(self._idle)

    async def acquire(self) -> HttpConnection:
        """An idle open connection, or a new one (raises OSError / TimeoutError on failure)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(HttpConnection, self.target.host, self.target.port),
            self.connect_timeout_s,
        )
        self.opened += 1
        return conn  # type: ignore[return-value]

    async def prefill(self, count: int) -> int:
        """Open up to ``count`` idle connections (failures are left to the requests); returns opened."""
        results = await asyncio.gather(*(self.acquire() for _ in range(count)),
                                       return_exceptions=True)
        conns = [c for c in results if isinstance(c, HttpConnection)]
        for conn in conns:
            conn.reusable = True
            self.release(conn)
        return len(conns)

    def release(self, conn: HttpConnection) -> None:
        """Return a connection after its response; closed or non-reusable ones are dropped."""
        if conn.reusable and not conn.closed:
            self._idle.append(conn)
        elif not conn.closed:
            conn.abort()

    def close(self) -> None:
        """Close every idle connection."""
        for conn in self._idle:
            conn.abort()
        self._idle.clear()


def build_request(method: str, target: Target, path: str, headers: dict[str, str],
                  body: bytes) -> bytes:
    """Serialize one HTTP/1.1 request with keep-alive and a Content-Length."""
    lines = [f"{method} {target.path_prefix}{path} HTTP/1.1", f"Host: {target.host}:{target.port}",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
