"""Single-core capacity of the simulated engine (bounded: well under 2 minutes).

Starts ``python -m benchmatrix.sim`` pinned to CPU 0 (``taskset -c 0`` when available), drives it
from this process (pinned to CPU 1 when there is one) with a minimal raw-socket asyncio client,
and prints, per phase: concurrent streams, requests/s, tokens/s and SSE events/s served, the
server's CPU use (from /proc), and - for timed phases - how far the achieved decode rate falls
behind the modelled one (the server keeping up means ratio ~1.0).

    .venv/bin/python bench/sim_capacity.py                 # default phases
    .venv/bin/python bench/sim_capacity.py --seconds 5 --streams 64 256 512 --time-scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
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
    keep_up: float | None = None  # modelled / actual step time in the window (1.0 = on time)

    def line(self) -> str:
        """One table row."""
        s = self.seconds
        tok_s = self.tokens / s
        ratio = f"{self.keep_up:>8.2f}" if self.keep_up else f"{'-':>8}"
        return (f"{self.name:<30} {self.streams:>7} {self.requests / s:>9.0f} "
                f"{tok_s:>10.0f} {self.events / s:>9.0f} "
                f"{100 * self.server_cpu_s / s:>7.0f}% {100 * self.client_cpu_s / s:>7.0f}% {ratio} "
                f"{self.requests / max(self.server_cpu_s, 1e-9):>10.0f}")


HEADER = (f"{'phase':<30} {'streams':>7} {'req/s':>9} {'tokens/s':>10} {'events/s':>9} "
          f"{'srv CPU':>8} {'cli CPU':>8} {'keep-up':>8} {'req/CPU-s':>10}")


def engine_seconds(port: int) -> tuple[float, float]:
    """(modelled step seconds, busy seconds) counters from the server's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    values = {}
    for line in text.splitlines():
        if line.startswith("benchmatrix_sim_") and "_seconds_total" in line:
            values[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    return (values["benchmatrix_sim_modelled_step_seconds_total"],
            values["benchmatrix_sim_busy_seconds_total"])


def start_server(port: int, extra: list[str], no_uvloop: bool = False) -> subprocess.Popen[str]:
    """Start the sim pinned to CPU 0; waits for its 'listening on' line."""
    cmd = [sys.executable, "-m", "benchmatrix.sim", "--port", str(port), *extra]
    env = {**os.environ, "BENCHMATRIX_SIM_NO_UVLOOP": "1"} if no_uvloop else None
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env,
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
    """Send requests back to back on one keep-alive connection until ``stop_at``.

    counts[0] += 1 per finished request, counts[1] += 1 per content event as it arrives.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        while time.monotonic() < stop_at:
            writer.write(req)
            tail = b""
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    return
                counts[1] += data.count(b'"finish_reason":null')
                tail = (tail + data)[-16:]
                if tail.endswith(b"\r\n0\r\n\r\n"):
                    break
            counts[0] += 1
    finally:
        writer.close()


async def run_phase(port: int, streams: int, seconds: float, req: bytes,
                    server_pid: int) -> tuple[int, int, float, float, float]:
    """Closed loop of ``streams`` connections; measures the middle of the run (after a warm-up
    of 30 %, before the drain), returns (requests, events, seconds, server CPU seconds, keep-up ratio)."""
    counts = [0, 0]
    start = time.monotonic()
    stop_at = start + seconds
    tasks = [asyncio.create_task(stream_worker(port, req, stop_at, counts)) for _ in range(streams)]
    await asyncio.sleep(0.3 * seconds)
    m0, b0 = engine_seconds(port)
    r0, e0, t0, c0 = counts[0], counts[1], time.monotonic(), proc_cpu_s(server_pid)
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    r1, e1, t1, c1 = counts[0], counts[1], time.monotonic(), proc_cpu_s(server_pid)
    m1, b1 = engine_seconds(port)
    await asyncio.gather(*tasks)
    keep_up = (m1 - m0) / (b1 - b0) if b1 > b0 and m1 > m0 else 0.0
    return r1 - r0, e1 - e0, t1 - t0, c1 - c0, keep_up


def measure(name: str, port: int, server: subprocess.Popen[str], streams: int, seconds: float,
            max_tokens: int, prompt_words: int, tokens_per_event: int) -> PhaseResult:
    """One phase with CPU accounting of server and client."""
    req = request_bytes(port, max_tokens, prompt_words)
    own0 = time.process_time()
    requests, events, elapsed, server_cpu, keep_up = asyncio.run(
        run_phase(port, streams, seconds, req, server.pid))
    tokens = events if tokens_per_event == 1 else requests * max_tokens
    own = (time.process_time() - own0) * elapsed / seconds  # approx. share of the window
    return PhaseResult(name, streams, elapsed, requests, tokens, events, server_cpu, own,
                       keep_up or None)


def main() -> None:
    """Run the timed sweep and the no-delay phase, print one table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--streams", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--port", type=int, default=18777)
    ap.add_argument("--no-uvloop", action="store_true", help="server on asyncio's default loop")
    args = ap.parse_args()
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    print(f"server loop: {'asyncio' if args.no_uvloop else 'uvloop if installed'}; "
          f"req/CPU-s = requests per server CPU-second (robust on a shared host)")
    print(HEADER)
    server = start_server(args.port, ["--preset", "h100-llama8b", "--time-scale",
                                      str(args.time_scale), "--tokens-per-event", "1"], args.no_uvloop)
    try:
        for streams in args.streams:
            res = measure(f"h100-llama8b ts={args.time_scale} 1 tok/ev", args.port, server,
                          streams, args.seconds, 128, 64, 1)
            print(res.line(), flush=True)
    finally:
        server.terminate()
        server.wait(5)
    server = start_server(args.port, ["--preset", "h100-llama8b", "--no-delay"], args.no_uvloop)
    try:
        for streams in (32, 128):
            res = measure("no-delay 16 tok/ev, 64 tok", args.port, server, streams,
                          args.seconds, 64, 16, 16)
            print(res.line(), flush=True)
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
