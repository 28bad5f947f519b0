"""A real NGINX load balancer in front of the replicas, and the accounting read from its access log.

    plan = BalancerPlan(upstreams=[Upstream(replica_id="r0", host="127.0.0.1", port=8001), ...])
    with Balancer(plan, workdir) as lb:
        ...                                      # send requests to lb.url
    shares = replica_shares(parse_access_log(lb.access_log_path), plan.upstreams)

NGINX runs unprivileged in the foreground with a private prefix (``conf/``, ``logs/``, ``tmp/``),
bound to loopback. The configuration comes from ``nginx/nginx.conf.j2`` (StrictUndefined) and is
checked with ``nginx -t`` before start; NGINX's own message is carried by :class:`BalancerError`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import httpx
import jinja2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmatrix.errors import BalancerError
from benchmatrix.ports import free_port, is_listening, port_is_free

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "nginx"
TEMPLATE_NAME = "nginx.conf.j2"

Method = Literal["least_conn", "round_robin", "random_two"]
AUTO_PORT_ATTEMPTS = 3


class Upstream(BaseModel):
    """One replica behind the balancer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str = Field(min_length=1, description="Replica id, e.g. 'r0'.")
    host: str = Field(default="127.0.0.1", description="Address the replica answers on.")
    port: int = Field(ge=1, le=65535, description="Replica port.")

    @property
    def addr(self) -> str:
        """``host:port`` as NGINX writes it in ``$upstream_addr``."""
        return f"{self.host}:{self.port}"


class BalancerPlan(BaseModel):
    """Everything the NGINX template needs. Times are whole seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstreams: tuple[Upstream, ...] = Field(min_length=1, description="Replicas to balance over.")
    listen_host: Literal["127.0.0.1"] = Field(default="127.0.0.1", description="Loopback only.")
    listen_port: int = Field(default=0, ge=0, le=65535, description="0 = pick a free port at start.")
    method: Method = Field(default="least_conn", description="Load-balancing method.")
    keepalive: int = Field(
        default=64, ge=0,
        description="Idle upstream keep-alive connections per worker; 0 = a new connection per request.",
    )
    keepalive_timeout_s: int = Field(
        default=4, ge=1, description="Idle upstream keep-alive; below the replicas' (llama.cpp: 5 s)."
    )
    keepalive_requests: int = Field(default=10000, ge=1, description="Requests per upstream connection.")
    connect_timeout_s: int = Field(default=5, ge=1, description="Upstream connect timeout.")
    read_timeout_s: int = Field(default=900, ge=1, description="Upstream read/send timeout (long streams).")
    retry_non_idempotent: bool = Field(
        default=False,
        description="Retry a POST on the next replica after a connection error (may run it twice).",
    )
    max_fails: int = Field(default=1, ge=0, description="Failures within fail_timeout that mark a replica down.")
    fail_timeout_s: int = Field(default=10, ge=1, description="How long a failed replica stays down.")
    worker_processes: int = Field(default=1, ge=1, description="NGINX worker processes.")
    worker_connections: int = Field(default=4096, ge=16, description="Connections per worker.")
    client_body_buffer: str = Field(default="16m", description="In-memory request body buffer.")
    client_max_body: str = Field(default="64m", description="Largest accepted request body.")
    error_log_level: Literal["debug", "info", "notice", "warn", "error"] = "warn"

    @model_validator(mode="after")
    def _unique(self) -> BalancerPlan:
        ids = [u.replica_id for u in self.upstreams]
        addrs = [u.addr for u in self.upstreams]
        if len(set(ids)) != len(ids) or len(set(addrs)) != len(addrs):
            raise ValueError("upstream replica_ids and host:port pairs must be unique")
        return self


class _ReplicaLike(Protocol):
    replica_id: str
    host: str
    port: int


def plan_for_replicas(handles: Sequence[_ReplicaLike], **fields: Any) -> BalancerPlan:
    """A plan over running replicas (``ReplicaHandle``s); ``fields`` set any other plan field.

    Upstream keep-alive is turned off when any handle says its server closes connections after
    each response (``upstream_keepalive=False``, e.g. llama.cpp's server): reusing such a
    connection races with the close and turns into 502s.
    """
    upstreams = tuple(Upstream(replica_id=h.replica_id, host=h.host, port=h.port) for h in handles)
    if not all(getattr(h, "upstream_keepalive", True) for h in handles):
        fields.setdefault("keepalive", 0)
    return BalancerPlan(upstreams=upstreams, **fields)


def render_config(plan: BalancerPlan, prefix: str | Path, template_dir: Path = TEMPLATE_DIR) -> str:
    """Render ``nginx.conf.j2`` for ``plan`` with all paths under ``prefix`` (pure)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(TEMPLATE_NAME).render(plan=plan, prefix=str(prefix).rstrip("/"))


class Balancer:
    """NGINX as a context manager: validate, start, wait until listening, and always stop."""

    def __init__(
        self,
        plan: BalancerPlan,
        workdir: Path | None = None,
        *,
        nginx_bin: str = "nginx",
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.plan = plan
        self.nginx_bin = nginx_bin
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._own_tmp = workdir is None
        self.prefix = Path(workdir or tempfile.mkdtemp(prefix="benchmatrix-nginx-")).resolve()
        self.port = plan.listen_port
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths and URLs -------------------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    @property
    def access_log_path(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def url(self) -> str:
        """Base URL clients send to, e.g. ``http://127.0.0.1:18080``."""
        return f"http://{self.plan.listen_host}:{self.port}"

    @property
    def stub_status_url(self) -> str:
        return f"{self.url}/nginx_status"

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Balancer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Render, ``nginx -t``, start in the foreground, and wait until the port accepts connections.

        With ``listen_port=0`` a port another process grabbed between choosing and binding is
        replaced by a fresh one (up to ``AUTO_PORT_ATTEMPTS`` times); a fixed port is never changed.
        """
        self._check_binary()
        if self._proc is not None and self._proc.poll() is None:
            raise BalancerError(f"this balancer already runs on port {self.port}")
        attempts = AUTO_PORT_ATTEMPTS if self.plan.listen_port == 0 else 1
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return
            except BalancerError as exc:
                if attempt == attempts or "already in use" not in str(exc):
                    raise

    def _start_once(self) -> None:
        self.port = self.plan.listen_port or free_port(self.plan.listen_host)
        if not port_is_free(self.port, self.plan.listen_host):
            raise BalancerError(
                f"port {self.port} on {self.plan.listen_host} is already in use; "
                "choose another listen_port or 0 to pick a free one"
            )
        self.write_config()
        self._validate()
        self._launch()
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def write_config(self) -> Path:
        """Create the prefix layout and write the rendered configuration; return its path."""
        for sub in ("conf", "logs", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        plan = self.plan.model_copy(update={"listen_port": self.port})
        self.conf_path.write_text(render_config(plan, self.prefix))
        return self.conf_path

    def stop(self) -> None:
        """Graceful ``-s quit`` (finishes in-flight streams), SIGTERM after the timeout, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            subprocess.run(self._cmd("-s", "quit"), capture_output=True, timeout=10, check=False)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        if self._own_tmp:
            shutil.rmtree(self.prefix / "tmp", ignore_errors=True)

    def status(self, timeout_s: float = 2.0) -> StubStatus:
        """NGINX's live connection counters (``/nginx_status``)."""
        return read_stub_status(self.stub_status_url, timeout_s)

    def replica_shares(self) -> list[ReplicaShare]:
        """Per-replica accounting from this balancer's access and error logs (after the run)."""
        return replica_shares(parse_access_log(self.access_log_path), self.plan.upstreams,
                              parse_error_log(self.error_log_path))

    def alive(self) -> bool:
        """True while the NGINX master runs."""
        return self._proc is not None and self._proc.poll() is None

    # -- internals ------------------------------------------------------------------------------

    def _cmd(self, *extra: str) -> list[str]:
        return [self.nginx_bin, "-p", f"{self.prefix}/", "-c", "conf/nginx.conf", *extra]

    def _check_binary(self) -> None:
        if shutil.which(self.nginx_bin) is None:
            raise BalancerError(f"nginx binary {self.nginx_bin!r} not found; install it (apt-get install -y nginx)")

    def _validate(self) -> None:
        result = subprocess.run(self._cmd("-t", "-q"), capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            raise BalancerError(f"nginx -t rejected {self.conf_path}: {message}")

    def _launch(self) -> None:
        stderr_path = self.prefix / "logs" / "stderr.log"
        with open(stderr_path, "ab") as err:
            self._proc = subprocess.Popen(
                self._cmd(), stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BalancerError(self._failure_message(f"nginx exited with code {self._proc.returncode}"))
            if is_listening(self.port, self.plan.listen_host, timeout_s=0.5):
                return
            time.sleep(0.05)
        raise BalancerError(self._failure_message(f"nginx did not listen within {self.start_timeout_s:g} s"))

    def _failure_message(self, head: str) -> str:
        tail = _tail(self.error_log_path) or _tail(self.prefix / "logs" / "stderr.log")
        hint = ""
        if "Address already in use" in tail:
            hint = f" (port {self.port} on {self.plan.listen_host} is already in use)"
        return f"{head}{hint} on port {self.port}; error log {self.error_log_path}:\n{tail}"


class StubStatus(BaseModel):
    """NGINX ``stub_status`` counters (since NGINX started, except the current gauges)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    active: int = Field(ge=0, description="Open client connections now (incl. waiting).")
    accepts: int = Field(ge=0, description="Client connections accepted.")
    handled: int = Field(ge=0, description="Client connections handled (= accepts unless limits hit).")
    requests: int = Field(ge=0, description="Client requests (incl. this status request).")
    reading: int = Field(ge=0, description="Connections where NGINX reads the request header now.")
    writing: int = Field(ge=0, description="Connections where NGINX writes a response now (streams).")
    waiting: int = Field(ge=0, description="Idle keep-alive client connections now.")


_STUB = re.compile(
    r"Active connections:\s*(\d+).*?(\d+)\s+(\d+)\s+(\d+)\s+Reading:\s*(\d+)\s+Writing:\s*(\d+)"
    r"\s+Waiting:\s*(\d+)", re.S,
)


def parse_stub_status(text: str) -> StubStatus:
    """Parse the ``stub_status`` page."""
    match = _STUB.search(text)
    if match is None:
        raise BalancerError(f"not an NGINX stub_status page: {text[:200]!r}")
    names = ("active", "accepts", "handled", "requests", "reading", "writing", "waiting")
    return StubStatus(**dict(zip(names, (int(g) for g in match.groups()))))


def read_stub_status(url: str, timeout_s: float = 2.0) -> StubStatus:
    """GET and parse ``url`` (a balancer's ``stub_status_url``)."""
    try:
        response = httpx.get(url, timeout=timeout_s, trust_env=False)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise BalancerError(f"cannot read NGINX status at {url}: {exc}") from exc
    return parse_stub_status(response.text)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- access-log accounting ----------------------------------------------------------------------


class AccessLogEntry(BaseModel):
    """One proxied request as NGINX logged it. Times in seconds (NGINX's millisecond resolution)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: str = Field(description="ISO 8601 local time the request finished.")
    msec: float = Field(description="Unix time the request finished, s.")
    request_id: str
    method: str
    uri: str
    status: int
    bytes_sent: int
    request_time_s: float
    upstream_addrs: tuple[str, ...] = Field(description="Every replica tried, in order (failover = 2+).")
    upstream_statuses: tuple[int | None, ...] = Field(description="Status per attempt; None = no answer.")
    upstream_response_time_s: float | None = Field(description="Last attempt's response time.")
    upstream_connect_time_s: float | None = Field(description="Last attempt's connect time.")
    upstream_header_time_s: float | None = Field(description="Last attempt's time to response headers.")
    replica_id: str | None = Field(description="x-benchmatrix-replica NGINX sent to the client.")

    @property
    def final_addr(self) -> str | None:
        """The replica that produced the response (the last attempt)."""
        return self.upstream_addrs[-1] if self.upstream_addrs else None


class ReplicaShare(BaseModel):
    """How much of the traffic one replica served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: str
    requests: int = Field(ge=0, description="Requests this replica answered (final attempt).")
    share: float = Field(ge=0, le=1, description="requests / all requests a replica answered.")
    mean_upstream_response_time_ms: float | None
    p99_upstream_response_time_ms: float | None = Field(description="Linear-interpolated 99th percentile.")
    errors: int = Field(ge=0, description="Failed attempts: 5xx, refused/timed-out tries, truncated streams.")
    truncated: int = Field(default=0, ge=0, description="Streams broken off after the 200 header (in errors).")


def _split_multi(value: str) -> list[str]:
    """NGINX joins attempts with ', ' and internal redirects with ' : '."""
    return [part.strip() for part in value.replace(" : ", ", ").split(",") if part.strip()]


def _last_seconds(value: str) -> float | None:
    parts = [p for p in _split_multi(value) if p != "-"]
    return float(parts[-1]) if parts else None


def _status_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def parse_access_line(line: str) -> AccessLogEntry:
    """Parse one JSON access-log line written by the ``benchmatrix_json`` log format."""
    raw = json.loads(line)
    addrs = tuple(a for a in _split_multi(raw["upstream_addr"]) if a != "-")
    return AccessLogEntry(
        time=raw["time"],
        msec=float(raw["msec"]),
        request_id=raw["request_id"],
        method=raw["method"],
        uri=raw["uri"],
        status=int(raw["status"]),
        bytes_sent=int(raw["bytes_sent"]),
        request_time_s=float(raw["request_time"]),
        upstream_addrs=addrs,
        upstream_statuses=tuple(_status_or_none(s) for s in _split_multi(raw["upstream_status"])),
        upstream_response_time_s=_last_seconds(raw["upstream_response_time"]),
        upstream_connect_time_s=_last_seconds(raw["upstream_connect_time"]),
        upstream_header_time_s=_last_seconds(raw["upstream_header_time"]),
        replica_id=raw.get("replica_id") or None,
    )


def parse_access_log(path: Path) -> list[AccessLogEntry]:
    """All entries of a benchmatrix access log (blank lines skipped; a torn last line is ignored)."""
    entries = []
    lines = Path(path).read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(parse_access_line(line))
        except (ValueError, KeyError) as exc:
            if number == len(lines):
                break  # NGINX may be mid-write on the last line
            raise BalancerError(f"{path}:{number}: not a benchmatrix access-log line: {exc}") from exc
    return entries


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 100]; values non-empty."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _attempt_failed(status: int | None) -> bool:
    return status is None or status >= 500


class UpstreamError(BaseModel):
    """One upstream failure from NGINX's error log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: str = Field(description="'YYYY/MM/DD HH:MM:SS' as NGINX writes it (local time).")
    kind: Literal["connect", "header", "truncated", "other"] = Field(
        description="connect: refused/timed out before sending; header: failed before the response "
        "header; truncated: failed after the header, mid-body (the access log still says 200)."
    )
    upstream_addr: str | None = Field(description="host:port of the replica, when NGINX names it.")
    message: str


_ERROR_LINE = re.compile(
    r"^(?P<time>\S+ \S+) \[(?P<level>\w+)\] \d+#\d+: (?:\*\d+ )?(?P<message>.*?)"
    r"(?:, client: .*?upstream: \"[a-z]+://(?P<addr>[^/\"]+)[^\"]*\")?(?:, host: .*)?$"
)


def _error_kind(message: str) -> Literal["connect", "header", "truncated", "other"]:
    if "while connecting to upstream" in message:
        return "connect"
    if "while reading response header from upstream" in message:
        return "header"
    if "while reading upstream" in message:
        return "truncated"
    return "other"


def parse_error_log(path: Path) -> list[UpstreamError]:
    """Upstream failures (``[error]`` lines naming an upstream) from a balancer's error log."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        match = _ERROR_LINE.match(line)
        if match and match["level"] == "error" and match["addr"]:
            found.append(UpstreamError(time=match["time"], kind=_error_kind(match["message"]),
                                       upstream_addr=match["addr"], message=match["message"]))
    return found


def _tally(entries: Iterable[AccessLogEntry], by_addr: dict[str, str]) -> tuple[
        dict[str, int], dict[str, int], dict[str, list[float]]]:
    """Per replica: requests served (last attempt), failed attempts, response times in ms."""
    counts = {rid: 0 for rid in by_addr.values()}
    errors = {rid: 0 for rid in by_addr.values()}
    times: dict[str, list[float]] = {rid: [] for rid in by_addr.values()}
    for entry in entries:
        statuses = list(entry.upstream_statuses) + [None] * len(entry.upstream_addrs)
        last = len(entry.upstream_addrs) - 1
        for index, addr in enumerate(entry.upstream_addrs):
            replica = by_addr.get(addr)
            if replica is None:
                continue
            if index < last or _attempt_failed(statuses[index]):
                errors[replica] += 1
            if index == last:
                counts[replica] += 1
                if entry.upstream_response_time_s is not None:
                    times[replica].append(entry.upstream_response_time_s * 1000.0)
    return counts, errors, times


def replica_shares(
    entries: Iterable[AccessLogEntry], upstreams: Sequence[Upstream],
    upstream_errors: Iterable[UpstreamError] = (),
) -> list[ReplicaShare]:
    """Per-replica request counts, shares, upstream response times and errors, in ``upstreams`` order.

    A request belongs to the replica of its last attempt; every earlier attempt of a failed-over
    request, and a final attempt answered with 5xx or no status, counts as an error of that replica.
    Requests no replica answered (e.g. 502 with no upstream) are in no share. ``upstream_errors``
    (from :func:`parse_error_log`) adds the streams a replica broke off after its 200 header
    (``truncated``), which the access log cannot show.
    """
    by_addr = {u.addr: u.replica_id for u in upstreams}
    counts, errors, times = _tally(entries, by_addr)
    truncated = {u.replica_id: 0 for u in upstreams}
    for error in upstream_errors:
        replica = by_addr.get(error.upstream_addr or "")
        if replica is not None and error.kind == "truncated":
            truncated[replica] += 1
    total = sum(counts.values())
    return [
        ReplicaShare(
            replica_id=rid, requests=counts[rid], share=counts[rid] / total if total else 0.0,
            mean_upstream_response_time_ms=sum(times[rid]) / len(times[rid]) if times[rid] else None,
            p99_upstream_response_time_ms=percentile(times[rid], 99) if times[rid] else None,
            errors=errors[rid] + truncated[rid], truncated=truncated[rid],
        )
        for rid in (u.replica_id for u in upstreams)
    ]


def share_within_tolerance(shares: Sequence[ReplicaShare], tolerance: float) -> bool:
    """True when every replica's share is within ``tolerance`` (absolute, e.g. 0.1) of 1/n.

    Pure; an empty list or zero traffic is not balanced (returns False).
    """
    if not shares or sum(s.requests for s in shares) == 0:
        return False
    fair = 1.0 / len(shares)
    return all(abs(s.share - fair) <= tolerance for s in shares)


__all__ = [
    "AccessLogEntry",
    "Balancer",
    "BalancerPlan",
    "Method",
    "ReplicaShare",
    "Upstream",
    "parse_access_line",
    "parse_access_log",
    "parse_error_log",
    "percentile",
    "plan_for_replicas",
    "render_config",
    "replica_shares",
    "share_within_tolerance",
    "StubStatus",
    "parse_stub_status",
    "read_stub_status",
]
