"""Parsing NGINX's logs: one JSON access-log line per proxied request, and the upstream
failures of the error log (which alone show streams broken off after the 200 header)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.errors import BalancerError


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
