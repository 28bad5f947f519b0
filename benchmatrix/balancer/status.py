"""NGINX's live connection counters: the ``stub_status`` page, read and parsed."""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.errors import BalancerError


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
