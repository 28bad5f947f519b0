"""Render the report in headless Chromium, offline: the DOM keeps every plot, a screenshot works."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from benchmatrix.report import write_report
from benchmatrix.warehouse import Warehouse
from tests.support.data_warehouse import build_sample_warehouse

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1100,2400")


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    root = tmp_path_factory.mktemp("chromium")
    with Warehouse.open(build_sample_warehouse(root / "w.duckdb")) as wh:
        return write_report(wh, None, root / "report.html")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_dom_has_every_plot(report_path, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", report_path.as_uri()).stdout
    for kind in ("throughput_latency", "ttft_distribution", "tpot_distribution",
                 "replica_share"):
        assert f'data-plot="{kind}"' in dom
    assert dom.count("<circle") >= 6 and "<polyline" in dom


def test_screenshot_renders(report_path, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", report_path.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000
