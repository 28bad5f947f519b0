"""Readiness probing shared by every backend: GET the health path, 200 means ready."""

from __future__ import annotations

import httpx

PROBE_TIMEOUT_S = 2.0


def new_probe_client() -> httpx.Client:
    """A client for health probes: short timeouts, no proxies from the environment."""
    return httpx.Client(timeout=httpx.Timeout(PROBE_TIMEOUT_S), trust_env=False)


def is_healthy(client: httpx.Client, url: str) -> bool:
    """True when ``GET url`` answers 200 within the client's timeout."""
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
