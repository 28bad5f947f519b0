"""Single-core capacity of the simulated engine (bounded: well under 2 minutes).

Starts ``python -m benchmatrix.sim`` pinned to CPU 0 (``taskset -c 0`` when available), drives it
from this process (pinned to CPU 1 when there is one) with a minimal raw-socket asyncio client,
and prints, per phase: concurrent streams, requests/s, tokens/s and SSE events/s served, the
server's CPU use (from /proc), and - for timed phases - how far the achieved decode rate falls
behind the modelled one (the server keeping up means ratio ~1.0).

    .venv/bin/python bench/sim_capacity.py                 # default phases
    .venv/bin/python bench/sim_capacity.py --seconds 5 --streams 64 256 512
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class PhaseResult:
    """Counts and CPU of one load phase."""

    name: str
    streams: int
    seconds: float
    requests: int
    tokens: int
    events: int
    server_cpu_s: float
    client_cpu_s: float

    def line(self) -> str:
        """One table row."""
        s = self.seconds
        return (f"{self.name:<28} {self.streams:>7} {self.requests / s:>9.0f} "
                f"{self.tokens / s:>10.0f} {self.events / s:>9.0f} "
                f"{100 * self.server_cpu_s / s:>7.0f}% {100 * self.client_cpu_s / s:>7.0f}%")


HEADER = (f"{'phase':<28} {'streams':>7} {'req/s':>9} {'tokens/s':>10} {'events/s':>9} "
          f"{'srv CPU':>8} {'cli CPU':>8}")


def start_server(port: int, extra: list[str]) -> subprocess.Popen[str]:
    """Start the sim pinned to CPU 0; waits for its 'listening on' line."""
    cmd = [sys.executable, "-m", "benchmatrix.sim", "--port", str(port), *extra]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def request_bytes(port: int, max_tokens: int, prompt_words: int) -> bytes:
    """One pre-encoded streaming /v1/completions request with ignore_eos."""
    body = json.dumps({"model": "m", "prompt": " ".join(["w"] * prompt_words),
                       "max_tokens": max_tokens, "ignore_eos": True, "stream": True}).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def stream_worker(port: int, req: bytes, stop_at: float, counts: list[int]) -> None:
    """Send requests back to back on one keep-alive connection until ``stop_at``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        while time.monotonic() < stop_at:
            writer.write(req)
            data = await reader.readuntil(b"\r\n0\r\n\r\n")
            counts[0] += 1
            counts[1] += data.count(b"data: {") - 1  # minus the finish chunk
    finally:
        writer.close()


async def run_phase(port: int, streams: int, seconds: float, req: bytes) -> tuple[int, int]:
    """Run ``streams`` closed-loop connections for ``seconds``; returns (requests, events)."""
    counts = [0, 0]
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(stream_worker(port, req, stop_at, counts) for _ in range(streams)))
    return counts[0], counts[1]


def measure(name: str, port: int, server: subprocess.Popen[str], streams: int, seconds: float,
            max_tokens: int, prompt_words: int) -> PhaseResult:
    """One phase with CPU accounting of server and client."""
    req = request_bytes(port, max_tokens, prompt_words)
    cpu0, own0, t0 = proc_cpu_s(server.pid), time.process_time(), time.monotonic()
    requests, events = asyncio.run(run_phase(port, streams, seconds, req))
    elapsed = time.monotonic() - t0
    return PhaseResult(name, streams, elapsed, requests, requests * max_tokens, events,
                       proc_cpu_s(server.pid) - cpu0, time.process_time() - own0)


def main() -> None:
    """Run the timed sweep and the no-delay phase, print one table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--streams", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--time-scale", type=float, default=0.1)
    ap.add_argument("--port", type=int, default=18777)
    args = ap.parse_args()
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    print(HEADER)
    server = start_server(args.port, ["--preset", "h100-llama8b", "--time-scale",
                                      str(args.time_scale), "--tokens-per-event", "1"])
    try:
        for streams in args.streams:
            res = measure(f"h100-llama8b ts={args.time_scale} 1 tok/ev", args.port, server,
                          streams, args.seconds, 128, 64)
            print(res.line(), flush=True)
    finally:
        server.terminate()
        server.wait(5)
    server = start_server(args.port, ["--preset", "h100-llama8b", "--no-delay"])
    try:
        for streams in (32, 128):
            res = measure("no-delay 16 tok/ev, 64 tok", args.port, server, streams,
                          args.seconds, 64, 16)
            print(res.line(), flush=True)
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
