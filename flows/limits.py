"""Strict global concurrency limits: one slot per hardware entry, created on demand."""

from __future__ import annotations

import re
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound


def hardware_limit_name(ctx: Any, scenario: Any) -> str:
    """Limit shared by every scenario on the same hardware entry (across runs and hosts)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", scenario.hardware.name.lower()).strip("-")
    return f"benchmatrix-hw-{slug}"


def ensure_hardware_limits(ctx: Any, scenarios: list[Any]) -> None:
    """Create (limit 1) the hardware limits these scenarios need; existing ones are kept."""
    names = sorted({hardware_limit_name(ctx, s) for s in scenarios})
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_global_concurrency_limit_by_name(name)
                continue
            except ObjectNotFound:
                pass
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:  # another run created it in between
                continue
