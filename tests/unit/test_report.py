"""The HTML report: every section present, plots inline, nothing fetched from the network."""

from __future__ import annotations

import re

import pytest

from benchmatrix.errors import WarehouseError
from benchmatrix.report import write_report
from benchmatrix.report._svg import nice_ticks
from benchmatrix.warehouse import Warehouse
from tests.support.data_warehouse import build_sample_warehouse

PLOTS = ("throughput_latency", "ttft_distribution", "tpot_distribution", "replica_share")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> str:
    path = build_sample_warehouse(tmp_path_factory.mktemp("report") / "w.duckdb")
    with Warehouse.open(path) as wh:
        out = write_report(wh, None, path.parent / "out" / "report.html")
    return out.read_text()


def test_report_has_every_plot_inline(report_html):
    for kind in PLOTS:
        assert f'data-plot="{kind}"' in report_html
    assert report_html.count("<polyline") == 2  # one sweep curve per hardware


def test_report_is_self_contained(report_html):
    assert not re.search(r"""(src|href)=["']?https?:""", report_html)
    assert "<script" not in report_html


def test_report_tables(report_html):
    for section in ("plan", "failed-checks", "regressions", "summary"):
        assert f'id="{section}"' in report_html
    assert "12 of 60 requests failed" in report_html
    assert "tp=1 fits weights and KV" in report_html
    assert 'class="bad"' in report_html  # the slower night is flagged against the previous one


def test_report_of_an_earlier_run(tmp_path):
    path = build_sample_warehouse(tmp_path / "w.duckdb")
    with Warehouse.open(path) as wh:
        html = write_report(wh, "night-0", tmp_path / "r.html").read_text()
        assert "night-0" in html and "No earlier comparable results." in html
        with pytest.raises(WarehouseError, match="not in"):
            write_report(wh, "night-9", tmp_path / "r.html")


def test_empty_warehouse_has_nothing_to_report(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh, pytest.raises(WarehouseError,
                                                                     match="no runs"):
        write_report(wh, None, tmp_path / "r.html")


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0, 10, [0, 2, 4, 6, 8, 10]), (0, 0.9, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (5, 5, [5, 6, 7, 8, 9, 10]),
])
def test_nice_ticks(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)
