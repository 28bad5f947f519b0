"""A small multi-night warehouse for report and CLI tests."""

from __future__ import annotations

from pathlib import Path

from benchmatrix.warehouse import CheckRow, Warehouse
from tests.support.data_factories import make_run, make_scenario
from tests.support.data_records import FakeLoad, fabricate_requests

HARDWARE = ("h100x2", "a100x2")
CONCURRENCIES = (4, 8, 16)


def build_sample_warehouse(path: Path, nights: int = 2) -> Path:
    """``nights`` runs of a 2-hardware x 3-concurrency sweep; the last night has one scenario
    that failed validation and gets slower, so regressions and failed checks are non-empty."""
    with Warehouse.open(path) as wh:
        for night in range(nights):
            last = night == nights - 1
            wh.load_run(make_run(f"night-{night}", night=night),
                        [_scenario(hw, c, slower=last) for hw in HARDWARE for c in CONCURRENCIES]
                        + ([_failed_scenario()] if last else []))
    return path


def _scenario(hardware: str, concurrency: int, slower: bool):
    speed = 1.0 if hardware == "h100x2" else 1.6
    load = FakeLoad(num_requests=60, concurrency=concurrency, ttft_ms=30 + 2 * concurrency,
                    tpot_ms=(3 + concurrency / 4) * speed * (1.3 if slower else 1.0),
                    seed=concurrency)
    return make_scenario(hardware=hardware, concurrency=concurrency,
                         requests=fabricate_requests(load))


def _failed_scenario():
    check = CheckRow(check_name="error_share", level="scenario", passed=False, observed=0.2,
                     expected=0.05, message="12 of 60 requests failed (20.0%; limit 5.0%)")
    return make_scenario(hardware="h100x2", concurrency=32, status="failed_validation",
                         requests=fabricate_requests(FakeLoad(num_requests=60, error_every=5)),
                         checks=[check])
