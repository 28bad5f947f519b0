"""Ctrl-C / SIGTERM on `benchmatrix run`: no replica or NGINX outlives the run, finished work is
kept, and the run is recorded as partial (never as good)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def _children_of_run(data_dir: Path) -> list[str]:
    """Command lines of live processes that belong to this data dir (replicas, NGINX)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(data_dir) in cmdline and ("benchmatrix.sim" in cmdline or "nginx" in cmdline):
            found.append(cmdline)
    return found


def _wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_tears_down_and_is_recorded_partial(tmp_path: Path, signum: int) -> None:
    data_dir = tmp_path / "data"
    cli = [sys.executable, "-c", "from benchmatrix.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "run", str(REPO_ROOT / "matrices" / "smoke.yaml"), "--data-dir", str(data_dir)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        assert _wait_for(lambda: len(_children_of_run(data_dir)) >= 3, 120), "replicas never started"
        proc.send_signal(signum)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-2000:]
    assert _wait_for(lambda: not _children_of_run(data_dir), 10), _children_of_run(data_dir)
    assert "recorded as partial" in output
    with duckdb.connect(str(data_dir / "benchmatrix.duckdb"), read_only=True) as con:
        assert con.execute("select status from runs").fetchall() == [("partial",)]
        statuses = {row[0] for row in con.execute("select status from scenarios").fetchall()}
    assert statuses <= {"passed", "failed"}  # whatever finished is kept, nothing half-loaded
