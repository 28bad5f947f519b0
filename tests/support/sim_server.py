"""Start a real simulated-engine process on loopback for tests (``SimServer`` context manager).

    with SimServer(preset="h100-llama8b", time_scale=0.0) as sim:
        httpx.get(sim.url + "/health")

Port 0 lets the server pick a free port; the URL is read from its "listening on" line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0


class SimServer:
    """A ``python -m benchmatrix.sim`` child process; ``url`` once started."""

    def __init__(self, preset: str = "h100-llama8b", port: int = 0, config: dict[str, Any] | None = None,
                 extra_args: list[str] | None = None, **overrides: Any) -> None:
        self.port = port
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._args = self._build_args(preset, config, overrides) + list(extra_args or [])

    def _build_args(self, preset: str, config: dict[str, Any] | None, overrides: dict[str, Any]) -> list[str]:
        if config is None:
            from benchmatrix.sim.presets import preset_config

            config = preset_config(preset, **overrides).model_dump()
        else:
            config = {**config, **overrides}
        self._tmp = tempfile.TemporaryDirectory(prefix="simcfg-")
        path = Path(self._tmp.name) / "sim.json"
        path.write_text(json.dumps(config))
        return ["--config", str(path)]

    def start(self) -> SimServer:
        """Start the process and wait for its ready line (raises RuntimeError on failure)."""
        cmd = [sys.executable, "-m", "benchmatrix.sim", "--host", "127.0.0.1",
               "--port", str(self.port), *self._args]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"sim did not start: {line!r} {err!r}")
        self.url = line.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process and wait; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
