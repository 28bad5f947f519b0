"""Routes of the simulated replica and the process entry point (serve until SIGTERM/SIGINT).

Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions, POST /v1/completions,
POST /v1/audio/transcriptions, POST /tokenize, GET /sim/requests[?since=N], GET /sim/config,
GET /metrics. Exit codes: 0 after SIGTERM/SIGINT, 3 when the port is taken.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import sys
from typing import Any
from urllib.parse import parse_qs

from benchmatrix.sim.config import SimEngineConfig
from benchmatrix.sim.costing import (
    CostingError, audio_tokens, count_text_tokens, parse_multipart, tokenize, wav_seconds,
)
from benchmatrix.sim.engine import Engine
from benchmatrix.sim.openai import (
    GenRequest, RequestError, error_body, parse_chat, make_request, parse_completions,
)
from benchmatrix.sim.wire import KEEP_ALIVE_TIMEOUT_S, Connection, Request

EXIT_PORT_IN_USE = 3
SWEEP_INTERVAL_S = 5.0


class SimApp:
    """Routes HTTP requests to the engine; answers the control endpoints directly."""

    def __init__(self, cfg: SimEngineConfig, engine: Engine):
        self.cfg = cfg
        self.engine = engine
        self.ready = False
        self._models_body = _json({"object": "list", "data": [{
            "id": cfg.served_model_name, "object": "model", "created": 0,
            "owned_by": "benchmatrix-sim", "root": cfg.served_model_name,
            "max_model_len": cfg.max_model_len}]})
        self._routes = {
            ("GET", "/health"): self._health,
            ("GET", "/v1/models"): lambda r, c: c.send(200, self._models_body),
            ("GET", "/metrics"): self._metrics,
            ("GET", "/sim/requests"): self._sim_requests,
            ("GET", "/sim/config"): lambda r, c: c.send(200, cfg.model_dump_json().encode()),
            ("POST", "/tokenize"): self._tokenize,
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("POST", "/v1/audio/transcriptions"): self._transcription,
        }

    def handle(self, request: Request, conn: Connection) -> None:
        """Dispatch one request; errors become OpenAI-style JSON errors."""
        route = self._routes.get((request.method, request.path))
        if route is None:
            known = any(path == request.path for _, path in self._routes)
            status = 405 if known else 404
            conn.send(status, error_body(f"{request.method} {request.path} not found", status))
            return
        try:
            route(request, conn)
        except RequestError as exc:
            conn.send(400, error_body(str(exc), 400))

    # control endpoints --------------------------------------------------------------------
    def _health(self, request: Request, conn: Connection) -> None:
        conn.send(200 if self.ready else 503, b"{}" if self.ready else b'{"status":"starting"}')

    def _metrics(self, request: Request, conn: Connection) -> None:
        conn.send(200, render_metrics(self.engine), b"text/plain; version=0.0.4")

    def _sim_requests(self, request: Request, conn: Connection) -> None:
        since = parse_qs(request.query).get("since", ["0"])[0]
        try:
            records = self.engine.records_since(int(since))
        except ValueError:
            raise RequestError("since must be an integer") from None
        conn.send(200, _json([r.as_dict() for r in records]))

    def _tokenize(self, request: Request, conn: Connection) -> None:
        body = _body_json(request)
        content = body.get("content", body.get("prompt", ""))
        if not isinstance(content, str):
            raise RequestError("content must be a string")
        tokens = tokenize(content)
        conn.send(200, _json({"tokens": tokens, "count": len(tokens)}))

    # generation ---------------------------------------------------------------------------
    def _chat(self, request: Request, conn: Connection) -> None:
        self._submit(parse_chat(_body_json(request), self.cfg.image_patch_px), request, conn)

    def _completions(self, request: Request, conn: Connection) -> None:
        self._submit(parse_completions(_body_json(request)), request, conn)

    def _transcription(self, request: Request, conn: Connection) -> None:
        self._submit(parse_transcription(request, self.cfg), request, conn)

    def _submit(self, gen: GenRequest, request: Request, conn: Connection) -> None:
        max_tokens = check_limits(self.cfg, gen)
        rid = request.headers.get("x-request-id")
        self.engine.submit(gen, conn, rid, max_tokens, request.path)


def check_limits(cfg: SimEngineConfig, gen: GenRequest) -> int:
    """Effective max_tokens; raises RequestError when the request cannot fit (vLLM wording)."""
    limit = min(cfg.max_model_len, cfg.kv_capacity_tokens)
    max_tokens = gen.max_tokens if gen.max_tokens is not None else limit - gen.prompt_tokens
    total = gen.prompt_tokens + max(max_tokens, 1)
    if max_tokens < 1 or total > limit:
        raise RequestError(
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{total} tokens ({gen.prompt_tokens} in the messages, {max_tokens} in the "
            "completion). Please reduce the length of the messages or completion.")
    return max_tokens


def parse_transcription(request: Request, cfg: SimEngineConfig) -> GenRequest:
    """Parse a multipart /v1/audio/transcriptions request; prefill = audio tokens + prompt words."""
    try:
        fields = parse_multipart(request.body, request.headers.get("content-type", ""))
        if "file" not in fields:
            raise RequestError("multipart field 'file' (a WAV file) is required")
        seconds = wav_seconds(fields["file"])
    except CostingError as exc:
        raise RequestError(str(exc)) from exc
    form = {k: v.decode("utf-8", "replace") for k, v in fields.items() if k != "file"}
    tokens = audio_tokens(seconds, cfg.audio_tokens_per_s) + count_text_tokens(form.get("prompt", ""))
    gen = make_request(_form_body(form), "transcription", tokens, fields["file"][-256:])
    gen.audio_seconds = seconds
    return gen


def _form_body(form: dict[str, str]) -> dict[str, Any]:
    """The generation options of a transcription form as a JSON-style body."""
    body: dict[str, Any] = {name: _form_int(form[name], name) for name in
                            ("max_tokens", "max_completion_tokens", "min_tokens") if name in form}
    for name in ("stream", "ignore_eos"):
        body[name] = form.get(name, "false").lower() == "true"
    if form.get("stream_include_usage", "false").lower() == "true":
        body["stream_options"] = {"include_usage": True}
    return body


def _form_int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RequestError(f"{name} must be an integer") from None


def _body_json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError("body must be a JSON object")
    return body


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def render_metrics(engine: Engine) -> bytes:
    """Prometheus text exposition of the replica's gauges and counters."""
    sched = engine.scheduler
    labels = f'{{model_name="{engine.cfg.served_model_name}",replica_id="{engine.cfg.replica_id}"}}'
    rows = [
        ("num_requests_running", "gauge", "Sequences in the running batch.", len(sched.running)),
        ("num_requests_waiting", "gauge", "Sequences waiting for admission.", len(sched.waiting)),
        ("kv_cache_usage_ratio", "gauge", "Allocated KV tokens / capacity.", sched.kv_usage_fraction),
        ("num_preemptions_total", "counter", "Recompute preemptions.", sched.preemptions_total),
        ("requests_total", "counter", "Requests finished ok.", engine.requests_total),
        ("requests_aborted_total", "counter", "Requests aborted by the client.", engine.aborted_total),
        ("prompt_tokens_total", "counter", "Prompt tokens of finished requests.",
         engine.prompt_tokens_total),
        ("generation_tokens_total", "counter", "Generated tokens of finished requests.",
         engine.generation_tokens_total),
        ("steps_total", "counter", "Engine steps run.", engine.steps_total),
        ("modelled_step_seconds_total", "counter", "Sum of modelled step times x time_scale.",
         engine.modelled_step_s_total),
        ("busy_seconds_total", "counter", "Wall time spent in steps; above the modelled sum when "
         "the process cannot keep up.", engine.busy_s_total),
    ]
    lines = []
    for name, kind, help_text, value in rows:
        full = f"benchmatrix_sim_{name}"
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}", f"{full}{labels} {value}"]
    return ("\n".join(lines) + "\n").encode()


# process ------------------------------------------------------------------------------------
async def serve(cfg: SimEngineConfig, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit code (0, 1, or 3 port in use)."""
    loop = asyncio.get_running_loop()
    engine = Engine(cfg)
    app = SimApp(cfg, engine)
    conns: set[Connection] = set()
    server = await _listen(app, conns, host, port)
    if isinstance(server, int):
        return server
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine_task = loop.create_task(engine.run())
    engine_task.add_done_callback(lambda _task: stop.set())  # a crashed engine ends the process
    sweeper = loop.create_task(_sweep_idle(conns))
    app.ready = True
    print(f"listening on http://{host}:{server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    sweeper.cancel()
    return await _shutdown(server, engine, engine_task, conns)


async def _listen(app: SimApp, conns: set[Connection], host: str,
                  port: int) -> asyncio.base_events.Server | int:
    """Bind the listening socket, or print one line and return the exit code."""
    common = b"server: benchmatrix-sim\r\nx-benchmatrix-replica: %s\r\n" % app.cfg.replica_id.encode()
    try:
        return await asyncio.get_running_loop().create_server(
            lambda: Connection(app, common, conns), host, port, reuse_address=True, backlog=4096)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: port {port} on {host} is already in use", file=sys.stderr, flush=True)
            return EXIT_PORT_IN_USE
        print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr, flush=True)
        return 1


async def _shutdown(server: asyncio.base_events.Server, engine: Engine,
                    engine_task: asyncio.Task[None], conns: set[Connection]) -> int:
    """Stop accepting, stop the engine, close connections; 1 if the engine loop had crashed."""
    server.close()
    engine.stop()
    for conn in list(conns):
        if conn.transport is not None:
            conn.transport.close()
    await asyncio.wait([engine_task], timeout=1.0)
    if engine_task.done() and not engine_task.cancelled() and engine_task.exception():
        print(f"error: engine loop crashed: {engine_task.exception()!r}", file=sys.stderr, flush=True)
        return 1
    return 0


async def _sweep_idle(conns: set[Connection]) -> None:
    """Close keep-alive connections idle for longer than the advertised timeout."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        cutoff = loop.time() - KEEP_ALIVE_TIMEOUT_S
        for conn in [c for c in conns if not c.busy and c.last_activity_s < cutoff]:
            if conn.transport is not None:
                conn.transport.close()


def run(cfg: SimEngineConfig, host: str, port: int) -> int:
    """Blocking entry point: uvloop when installed (unless BENCHMATRIX_SIM_NO_UVLOOP=1), else
    asyncio's default loop."""
    if os.environ.get("BENCHMATRIX_SIM_NO_UVLOOP") != "1":
        try:
            import uvloop  # type: ignore[import-not-found]
        except ImportError:
            pass
        else:
            return uvloop.run(serve(cfg, host, port))
    return asyncio.run(serve(cfg, host, port))

