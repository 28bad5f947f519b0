"""Which errors are worth another try (the Prefect tasks' retry condition)."""

from __future__ import annotations

from benchmatrix.errors import BenchmatrixError, PlanError, SpecError, ValidationFailed


def is_transient(exc: BaseException | None) -> bool:
    """True for errors worth another try (walks ``__cause__``): a refused/reset connection, a
    timeout, a replica slow to become healthy, a port race, a warehouse locked by another
    process. A failed data check, a plan that does not fit or a crashed replica never is."""
    import httpx

    while exc is not None:
        if isinstance(exc, BenchmatrixError) and exc.transient:
            return True  # said where it was raised (see benchmatrix.errors)
        if isinstance(exc, (ValidationFailed, PlanError, SpecError)):
            return False
        if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, TimeoutError,
                            httpx.ConnectError, httpx.TimeoutException)):
            return True
        exc = exc.__cause__
    return False
