"""Which errors are worth another try (the Prefect tasks' retry condition)."""

from __future__ import annotations

from benchmatrix.errors import BalancerError, DeployError, PlanError, SpecError, ValidationFailed, WarehouseError


#: Fragments of DeployError/BalancerError messages that mean "try again": a replica slow to come
#: up, a port taken between choosing it and binding it. A replica that exited is not transient.
_TRANSIENT_HINTS = ("did not answer", "already in use")


def is_transient(exc: BaseException | None) -> bool:
    """True for errors worth another try (walks ``__cause__``): a refused/reset connection, a
    timeout, a replica slow to become healthy, a port race, a warehouse locked by another
    process. A failed data check, a plan that does not fit or a crashed replica never is."""
    import httpx

    while exc is not None:
        if isinstance(exc, (ValidationFailed, PlanError, SpecError)):
            return False
        if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, TimeoutError,
                            httpx.ConnectError, httpx.TimeoutException)):
            return True
        if isinstance(exc, (DeployError, BalancerError)) and any(h in str(exc) for h in _TRANSIENT_HINTS):
            return True
        if isinstance(exc, WarehouseError) and "is locked by" in str(exc):
            return True
        exc = exc.__cause__
    return False
