"""The benchmatrix exception tree.

Every error the library raises on purpose is a :class:`BenchmatrixError`. Messages name the
file, field, replica or port involved and say what to do next. Third-party errors are translated
at the boundary with ``raise ... from exc``.

    BenchmatrixError
    +-- SpecError          a matrix/catalog file is malformed or names something unknown
    +-- PlanError          no tensor-parallel layout fits (says by how much and what would fit)
    +-- DeployError        a replica did not start, died, or its port is taken
    +-- BalancerError      NGINX config invalid, NGINX failed to start, port in use
    +-- LoadGenError       the load generator itself failed (not a single request: those are data)
    +-- ValidationFailed   a scenario's data checks failed (carries the failed checks)
    +-- WarehouseError     the DuckDB warehouse cannot be opened, migrated or written
"""

from __future__ import annotations

from typing import Any


class BenchmatrixError(Exception):
    """Base class of every error benchmatrix raises on purpose.

    ``transient`` is True when the same call may well succeed if tried again: a replica slow to
    become healthy, a port taken between choosing and binding it, a warehouse another process
    holds. The Prefect tasks retry exactly these (``pipeline.is_transient``).
    """

    def __init__(self, *args: object, transient: bool = False) -> None:
        super().__init__(*args)
        self.transient = transient


class SpecError(BenchmatrixError):
    """A matrix or catalog file is malformed: the message names the file and the field path."""


class PlanError(BenchmatrixError):
    """No tensor-parallel degree fits; the message says by how much and what would fit."""


class DeployError(BenchmatrixError):
    """A replica failed to deploy or died; the message names the replica and shows its log tail."""


class BalancerError(BenchmatrixError):
    """NGINX could not be configured or started."""


class LoadGenError(BenchmatrixError):
    """The load generator could not run (bad configuration, unreachable target before start)."""


class ValidationFailed(BenchmatrixError):
    """A scenario failed its data checks. ``failed`` lists the failed check results."""

    def __init__(self, message: str, failed: list[Any] | None = None) -> None:
        super().__init__(message)
        self.failed = list(failed or [])


class WarehouseError(BenchmatrixError):
    """The DuckDB warehouse cannot be opened, migrated, or written."""


__all__ = [
    "BenchmatrixError",
    "SpecError",
    "PlanError",
    "DeployError",
    "BalancerError",
    "LoadGenError",
    "ValidationFailed",
    "WarehouseError",
]
