"""A real Prefect server and process workers on loopback, each in its own session, for the
work-pool tests. Everything started here is stopped by :meth:`LoopbackPrefect.stop`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmatrix.ports import free_port

PREFECT = [sys.executable, "-m", "prefect"]


class LoopbackPrefect:
    """``prefect server start`` on 127.0.0.1:<free port> with its own home, plus workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port("127.0.0.1")
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_LOCAL_STORAGE_PATH": str(root / "results"),  # shared result storage
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
            "PATH": os.environ.get("PATH", "") + ":/usr/sbin",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=Path(__file__).resolve().parents[2])
        self.procs[name] = proc
        return proc

    def start_server(self, timeout_s: float = 120.0) -> None:
        self._spawn("server", [*PREFECT, "server", "start", "--host", "127.0.0.1",
                               "--port", str(self.port)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.procs["server"].poll() is not None:
                raise RuntimeError(f"prefect server exited: {self.log_tail('server')}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"prefect server not healthy in {timeout_s:g} s: {self.log_tail('server')}")

    def start_worker(self, pool: str) -> None:
        self._spawn(f"worker-{pool}", [*PREFECT, "worker", "start", "--pool", pool, "--type",
                                       "process", "--name", f"worker-{pool}"])

    def run(self, argv: list[str], timeout_s: float = 240.0) -> subprocess.CompletedProcess[str]:
        """Run a command against this server (same env), from the repository root."""
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout_s,
                              cwd=Path(__file__).resolve().parents[2], check=False)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM each process group (workers first), SIGKILL what is left after ``grace_s``."""
        for name in sorted(self.procs, key=lambda n: n == "server"):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs.clear()
