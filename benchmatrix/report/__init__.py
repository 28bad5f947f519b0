"""A self-contained HTML report of one run: inline SVG plots and tables, no network needed.

    write_report(warehouse, run_id=None, path="report.html")   # None: the latest run
"""

from __future__ import annotations

from benchmatrix.report._render import write_report

__all__ = ["write_report"]
