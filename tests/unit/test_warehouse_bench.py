"""The speed bench still runs end to end (tiny sizes: speed itself is judged in bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_runs_small(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "warehouse_bench.py"), "--load-rows", "2000",
         "--total-rows", "40000", "--runs", "2", "--repeats", "1", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["step", "rows", "wall_s"]
    assert any(line.startswith("query hardware_comparison") for line in lines)
    assert list(tmp_path.iterdir()) == []  # work dir removed
