"""A tiny OpenAI-style streaming server for replica and balancer tests (stdlib only).

    python tests/support/deploy_standin.py --host 127.0.0.1 --port P --replica r0 [--delay-ms 20]

Serves GET /health and POST /v1/completions | /v1/chat/completions: ``max_tokens`` SSE events
(one token each, ``--delay-ms`` apart), usage on the last chunk, header ``x-benchmatrix-replica``.
Prints ``listening on http://HOST:PORT`` when ready, like the simulated engine.
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STANDIN_PATH = __file__


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    replica = "r?"
    delay_s = 0.02

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send_json(200, {"status": "ok", "replica": self.replica})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self._send_json(404, {"error": "not found"})
            return
        tokens = int(body.get("max_tokens", 8))
        if not body.get("stream"):
            time.sleep(self.delay_s * tokens)
            self._send_json(200, {"choices": [{"text": "x" * tokens}], "usage": _usage(tokens)})
            return
        self._stream(tokens)

    def _stream(self, tokens: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-benchmatrix-replica", self.replica)
        self.send_header("x-standin-request-id", self.headers.get("X-Request-ID", ""))
        self.end_headers()
        for index in range(tokens):
            time.sleep(self.delay_s)
            chunk = {"choices": [{"index": 0, "text": "tok", "delta": {"content": "tok"}}]}
            if index == tokens - 1:
                chunk["usage"] = _usage(tokens)
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-benchmatrix-replica", self.replica)
        self.end_headers()
        self.wfile.write(data)


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": 4 + tokens}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replica", default="r?")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--startup-delay-s", type=float, default=0.0)
    args = parser.parse_args()
    time.sleep(args.startup_delay_s)
    Handler.replica = args.replica
    Handler.delay_s = args.delay_ms / 1000.0
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
