"""Which errors the tasks retry: transient ones only (pipeline.is_transient)."""

from __future__ import annotations

import httpx
import pytest

from benchmatrix import pipeline
from benchmatrix.errors import (
    BalancerError, DeployError, LoadGenError, PlanError, ValidationFailed, WarehouseError,
)


def _caused(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "reset"),
    TimeoutError("timed out"),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
    DeployError("replica r0 did not answer http://127.0.0.1:1/health with 200 within 30 s; last log lines", transient=True),
    DeployError("replica r1: port 8000 on 127.0.0.1 is already in use; stop what listens there", transient=True),
    BalancerError("port 18080 on 127.0.0.1 is already in use; choose another listen_port", transient=True),
    WarehouseError("warehouse x.duckdb is locked by process 42 (DuckDB allows one writer per file).", transient=True),
    _caused(LoadGenError("load generator could not connect"), httpx.ConnectError("refused")),
], ids=lambda e: type(e).__name__)
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert pipeline.is_transient(exc)


@pytest.mark.parametrize("exc", [
    ValidationFailed("2 checks failed", failed=[]),
    PlanError("no TP degree fits"),
    DeployError("replica r0 exited with code 3 before becoming healthy (port 5)"),
    BalancerError("nginx -t rejected conf/nginx.conf: unknown directive"),
    WarehouseError("x.duckdb: load failed and was rolled back"),
    LoadGenError("bad config"),
    ValueError("a bug"),
    _caused(ValidationFailed("checks"), ConnectionRefusedError()),
    None,
], ids=lambda e: type(e).__name__)
def test_data_and_config_errors_are_not_retried(exc: BaseException | None) -> None:
    assert not pipeline.is_transient(exc)
