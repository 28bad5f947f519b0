"""Our load generator against guidellm and aiperf, on the same fast simulated server.

    .venv/bin/python bench/loadgen_vs_peers.py [--requests 1000] [--skip-peers]

What it does, in one go:

1. starts the simulated engine with no delay and 16 tokens per SSE event
   (``python -m benchmatrix.sim --preset h100-llama8b --no-delay``) on a free loopback port;
2. installs each peer (guidellm, aiperf) into its own virtualenv under
   ``~/.cache/benchmatrix/peers`` (uv if present, else venv + pip); a peer that cannot install
   or run is skipped with the reason printed;
3. writes a word-level Hugging Face tokenizer directory (``tokenizer.json``, no hub needed) so
   the peers count tokens the way the simulated engine does;
4. runs a baseline written with httpx (same closed loop, ``aiter_lines`` + ``json``) to show
   what the HTTP layer costs, then every tool at concurrency 64 (throughput and CPU) and at 32 and 256 (TTFT overhead),
   1000 requests each, 256 prompt tokens, 256 output tokens with ignore_eos;
5. prints one table: requests/s and streamed tokens/s as counted by the server
   (``GET /sim/requests``), client CPU seconds per 1000 requests (whole process tree, imports
   included; ours also in-run only), and TTFT overhead against the server's own timestamps.

TTFT overhead: for ours, per request (records joined on ``x-request-id``); for peers, whose
requests cannot be joined, client TTFT percentile minus server TTFT percentile of the same run
(the server's TTFT is near zero with no delay, so this is close to the per-request figure).
Timings depend on the machine: on a shared 2-core box the server and client compete for CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("BENCHMATRIX_PEERS_DIR", Path.home() / ".cache/benchmatrix/peers"))
PEERS = {"guidellm": "guidellm", "aiperf": "aiperf"}
PROMPT_TOKENS = 256
OUTPUT_TOKENS = 256


@dataclass
class Row:
    """One tool at one concurrency."""

    tool: str
    concurrency: int
    requests: int = 0
    server_rps: float | None = None
    server_tps: float | None = None
    cpu_s_per_1000: float | None = None
    inrun_cpu_s_per_1000: float | None = None
    overhead_p50_ms: float | None = None
    overhead_p99_ms: float | None = None
    wall_s: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


# server ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(port: int) -> subprocess.Popen:
    """The simulated engine, no delay, 16 tokens per event."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmatrix.sim", "--preset", "h100-llama8b",
                             "--no-delay", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulated engine did not start")


def server_records(url: str, since: int) -> list[dict]:
    return httpx.get(f"{url}/sim/requests", params={"since": since}, timeout=30).json()


def server_count(url: str) -> int:
    rows = server_records(url, 0)
    return (rows[-1]["index"] + 1) if rows else 0


def server_window(rows: list[dict]) -> tuple[int, float, float, np.ndarray]:
    """(ok requests, requests/s, streamed tokens/s, server TTFT ms array) over a run."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return 0, 0.0, 0.0, np.empty(0)
    start = min(r["arrival_s"] for r in ok)
    end = max(r["last_token_s"] or r["finished_s"] for r in ok)
    span = max(end - start, 1e-9)
    tokens = sum(r["completion_tokens"] for r in ok)
    ttft = np.array([(r["first_token_s"] - r["arrival_s"]) * 1000 for r in ok
                     if r["first_token_s"] is not None])
    return len(ok), len(ok) / span, tokens / span, ttft


# tokenizer ---------------------------------------------------------------------------------

def write_word_tokenizer(path: Path) -> Path:
    """A word-level HF tokenizer dir (whitespace split), matching the sim's word counting."""
    from benchmatrix.loadgen.prompts import _VOCAB

    path.mkdir(parents=True, exist_ok=True)
    words = ["[UNK]"] + sorted(set(_VOCAB) | {"the", "a", "of", "and", "to", "in"})
    vocab = {w: i for i, w in enumerate(words)}
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": False, "special": True}],
           "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"},
           "post_processor": None,
           "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},  # space-joined
           "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}
    (path / "tokenizer.json").write_text(json.dumps(tok))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]",
        "model_max_length": 1_000_000, "clean_up_tokenization_spaces": False}))
    (path / "special_tokens_map.json").write_text(json.dumps({"unk_token": "[UNK]"}))
    return path


# process accounting --------------------------------------------------------------------------

def run_measured(cmd: list[str], env: dict | None = None, cwd: Path | None = None,
                 timeout_s: float = 600) -> tuple[int, float, float, str]:
    """Run a command; returns (exit code, CPU s of it and its waited children, wall s, log tail)."""
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    t = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = t + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t
    log.seek(0)
    tail = log.read()[-3000:]
    return proc.returncode, usage.ru_utime + usage.ru_stime, wall, tail


# tools -------------------------------------------------------------------------------------

def run_ours(url: str, model: str, concurrency: int, n: int, workdir: Path) -> Row:
    out = workdir / f"ours-c{concurrency}.parquet"
    code = ("from benchmatrix.cli import main; main()")
    cmd = [sys.executable, "-c", code, "load", "--url", url, "--model", model,
           "-c", str(concurrency), "-n", str(n), "--input-tokens", str(PROMPT_TOKENS),
           "--output-tokens", str(OUTPUT_TOKENS), "--ignore-eos", "--calibrate", url,
           "-o", str(out), "--json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rc, cpu, wall, tail = run_measured(cmd, env=env, cwd=ROOT)
    row = Row("benchmatrix", concurrency, cpu_s_per_1000=cpu * 1000 / n, wall_s=wall)
    if rc != 0:
        row.note = f"failed rc={rc}: {tail[-300:]}"
        return row
    body = json.loads(tail[tail.index("{"):]) if tail.lstrip().startswith("{") else \
        json.loads(tail[tail.find('{\n  "result"'):])
    res = body["result"]
    row.inrun_cpu_s_per_1000 = res["client_cpu_s"] * 1000 / n
    row.overhead_p50_ms = res["overhead_ttft_p50_ms"]
    row.overhead_p99_ms = res["overhead_ttft_p99_ms"]
    row.extra = {"client_ttft_p50_ms": body["summary"]["ttft_ms_p50"],
                 "client_ttft_p99_ms": body["summary"]["ttft_ms_p99"],
                 "errors": body["summary"]["num_errors"]}
    return row


async def _httpx_client(url: str, model: str, c: int, n: int, out: Path) -> None:
    """Baseline HTTP layer: the same closed loop written with httpx (aiter_lines + json)."""
    import asyncio

    from benchmatrix.loadgen.prompts import PromptFactory

    prompts = PromptFactory(seed=0)
    todo = iter(range(n))
    rows: list[tuple[str, float, float | None]] = []
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        async def slot() -> None:
            for i in todo:
                body = {"model": model, "max_tokens": OUTPUT_TOKENS, "ignore_eos": True,
                        "stream": True, "stream_options": {"include_usage": True},
                        "messages": [{"role": "user",
                                      "content": prompts.prompt(i, PROMPT_TOKENS)[0]}]}
                rid, sent, first = f"hx-{i}", time.monotonic(), None
                async with client.stream("POST", "/v1/chat/completions", json=body,
                                         headers={"x-request-id": rid}) as resp:
                    async for line in resp.aiter_lines():
                        if not line.startswith("data: ") or line == "data: [DONE]":
                            continue
                        choices = json.loads(line[6:]).get("choices") or [{}]
                        if first is None and choices[0].get("delta", {}).get("content"):
                            first = time.monotonic()
                rows.append((rid, sent, first))

        await asyncio.gather(*(slot() for _ in range(c)))
    out.write_text(json.dumps(rows))


def run_httpx(url: str, model: str, c: int, n: int, workdir: Path) -> Row:
    out = workdir / f"httpx-c{c}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--httpx-client", url, model, str(c),
           str(n), str(out)]
    rc, cpu, wall, tail = run_measured(cmd, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    row = Row("httpx (same loop)", c, cpu_s_per_1000=cpu * 1000 / n, wall_s=wall)
    if rc != 0 or not out.exists():
        row.note = f"failed rc={rc}: {tail[-300:]}"
        return row
    row.extra["client_rows"] = json.loads(out.read_text())
    return row


def join_overhead(row: Row, server_rows: list[dict]) -> None:
    """Per-request TTFT overhead for a client that sent x-request-id and kept monotonic times."""
    by_id = {r["request_id"]: r for r in server_rows if r.get("request_id")}
    diffs = []
    for rid, sent, first in row.extra.pop("client_rows", []):
        s = by_id.get(rid)
        if s and first is not None and s["first_token_s"] is not None:
            diffs.append(((first - sent) - (s["first_token_s"] - s["arrival_s"])) * 1000)
    if diffs:
        row.overhead_p50_ms = float(np.percentile(diffs, 50))
        row.overhead_p99_ms = float(np.percentile(diffs, 99))


def ensure_peer(name: str) -> tuple[Path | None, str]:
    """Install ``name`` into CACHE/name; returns (venv bin dir or None, reason)."""
    venv = CACHE / name
    binary = venv / "bin" / name
    if binary.exists():
        return venv / "bin", ""
    CACHE.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    try:
        if Path(uv).exists():
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([uv, "pip", "install", "-q", "-p", str(venv / "bin/python"),
                            PEERS[name]], check=True, capture_output=True, timeout=900)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            subprocess.run([str(venv / "bin/pip"), "install", "-q", PEERS[name]], check=True,
                           capture_output=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return None, f"install failed: {exc} {err[-300:].decode(errors='replace')}"
    return (venv / "bin", "") if binary.exists() else (None, f"no {name} executable after install")


def _find(obj: object, key: str) -> object | None:
    """First value under ``key`` anywhere in a nested JSON structure."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = _find(v, key)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _guidellm_ttft(report: dict) -> tuple[float | None, float | None]:
    ttft = _find(report, "time_to_first_token_ms")
    if isinstance(ttft, dict):
        ttft = ttft.get("successful", ttft)
        pct = ttft.get("percentiles", {})
        return ttft.get("median") or pct.get("p50"), pct.get("p99")
    return None, None


def run_guidellm(bin_dir: Path, url: str, model: str, tok: Path, c: int, n: int,
                 workdir: Path) -> Row:
    out = workdir / f"guidellm-c{c}.json"
    data = f"prompt_tokens={PROMPT_TOKENS},output_tokens={OUTPUT_TOKENS}"
    cmd = [str(bin_dir / "guidellm"), "run",
           "--backend", f"kind=openai_http,target={url},model={model}",
           "--profile", f"kind=concurrent,streams={c}",
           "--constraint", f"kind=max_requests,count={n}",
           "--tokenizer", f"kind=huggingface_auto,model={tok}",
           "--data", f"kind=synthetic_text,{data}",
           "--output", f"kind=json,path={out}", "--disable-progress"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    rc, cpu, wall, tail = run_measured(cmd, env=env, cwd=workdir)
    row = Row("guidellm", c, cpu_s_per_1000=cpu * 1000 / n, wall_s=wall)
    if rc != 0 or not out.exists():
        row.note = f"failed rc={rc}: {tail[-400:]}"
        return row
    p50, p99 = _guidellm_ttft(json.loads(out.read_text()))
    row.extra = {"client_ttft_p50_ms": p50, "client_ttft_p99_ms": p99}
    return row


def _aiperf_ttft(report: dict) -> tuple[float | None, float | None]:
    ttft = report.get("time_to_first_token") or _find(report, "time_to_first_token")
    if isinstance(ttft, dict):
        return ttft.get("p50") or ttft.get("median"), ttft.get("p99")
    return None, None


def run_aiperf(bin_dir: Path, url: str, model: str, tok: Path, c: int, n: int,
               workdir: Path) -> Row:
    art = workdir / f"aiperf-c{c}"
    cmd = [str(bin_dir / "aiperf"), "profile", "--model", model, "--url", url,
           "--endpoint-type", "chat", "--streaming", "--concurrency", str(c),
           "--request-count", str(n), "--synthetic-input-tokens-mean", str(PROMPT_TOKENS),
           "--synthetic-input-tokens-stddev", "0", "--output-tokens-mean", str(OUTPUT_TOKENS),
           "--output-tokens-stddev", "0", "--extra-inputs", "ignore_eos:true",
           "--tokenizer", str(tok), "--artifact-dir", str(art), "--ui-type", "none"]
    # no HF_HUB_OFFLINE: aiperf's offline mode only looks in the hub cache, not at local dirs
    rc, cpu, wall, tail = run_measured(cmd, cwd=workdir)
    row = Row("aiperf", c, cpu_s_per_1000=cpu * 1000 / n, wall_s=wall)
    reports = sorted(art.rglob("profile_export_aiperf.json")) if art.exists() else []
    if rc != 0 or not reports:
        row.note = f"failed rc={rc}: {tail[-400:]}"
        return row
    p50, p99 = _aiperf_ttft(json.loads(reports[0].read_text()))
    row.extra = {"client_ttft_p50_ms": p50, "client_ttft_p99_ms": p99}
    return row


# table ---------------------------------------------------------------------------------------

def attach_server_view(row: Row, url: str, since: int) -> None:
    """Server-counted throughput, and the distribution-level TTFT overhead for peers."""
    rows = server_records(url, since)
    count, rps, tps, server_ttft = server_window(rows)
    row.requests, row.server_rps, row.server_tps = count, rps, tps
    if "client_rows" in row.extra:
        join_overhead(row, rows)
    elif row.tool in PEERS and server_ttft.size:
        p50, p99 = row.extra.get("client_ttft_p50_ms"), row.extra.get("client_ttft_p99_ms")
        if p50 is not None:
            row.overhead_p50_ms = p50 - float(np.percentile(server_ttft, 50))
        if p99 is not None:
            row.overhead_p99_ms = p99 - float(np.percentile(server_ttft, 99))


def fmt(v: float | None, d: int = 1) -> str:
    return "-" if v is None else f"{v:,.{d}f}"


def print_table(rows: list[Row], skipped: dict[str, str]) -> None:
    head = ("tool", "conc", "ok req", "server req/s", "server tok/s", "CPU s/1000 req",
            "ttft ovh p50 ms", "ttft ovh p99 ms", "wall s", "note")
    lines = [head] + [(r.tool, str(r.concurrency), str(r.requests), fmt(r.server_rps),
                       fmt(r.server_tps, 0),
                       fmt(r.cpu_s_per_1000, 2) + (f" ({fmt(r.inrun_cpu_s_per_1000, 2)} in-run)"
                                                    if r.inrun_cpu_s_per_1000 else ""),
                       fmt(r.overhead_p50_ms, 2), fmt(r.overhead_p99_ms, 2), fmt(r.wall_s, 1),
                       r.note[:60].replace("\n", " ")) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--throughput-concurrency", type=int, default=64)
    p.add_argument("--overhead-concurrency", type=int, nargs="*", default=[32, 256])
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--peers", nargs="*", default=list(PEERS))
    p.add_argument("--httpx-client", nargs=5, metavar=("URL", "MODEL", "C", "N", "OUT"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.httpx_client:
        import asyncio

        url, model, c, n, out = args.httpx_client
        asyncio.run(_httpx_client(url, model, int(c), int(n), Path(out)))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below

    port = free_port()
    sim = start_sim(port)
    url = f"http://127.0.0.1:{port}"
    model = httpx.get(url + "/v1/models").json()["data"][0]["id"]
    workdir = Path(tempfile.mkdtemp(prefix="bmx-peers-"))
    tok = write_word_tokenizer(workdir / "word-tokenizer")
    concs = [args.throughput_concurrency] + [c for c in args.overhead_concurrency
                                             if c != args.throughput_concurrency]
    tools: dict[str, object] = {"benchmatrix": None, "httpx": None}
    skipped: dict[str, str] = {}
    for name in ([] if args.skip_peers else args.peers):
        bin_dir, why = ensure_peer(name)
        if bin_dir is None:
            skipped[name] = why
        else:
            tools[name] = bin_dir
    rows: list[Row] = []
    try:
        for c in concs:
            for name, bin_dir in tools.items():
                since = server_count(url)
                if name == "benchmatrix":
                    row = run_ours(url, model, c, args.requests, workdir)
                elif name == "httpx":
                    row = run_httpx(url, model, c, args.requests, workdir)
                elif name == "guidellm":
                    row = run_guidellm(bin_dir, url, model, tok, c, args.requests, workdir)
                else:
                    row = run_aiperf(bin_dir, url, model, tok, c, args.requests, workdir)
                attach_server_view(row, url, since)
                rows.append(row)
                print(f"done: {name} c={c}: {row.requests} ok, {fmt(row.server_rps)} req/s "
                      f"{row.note[:200]}", flush=True)
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"\n{args.requests} requests per run, {PROMPT_TOKENS} prompt + {OUTPUT_TOKENS} output "
          f"tokens, simulated engine with no delay and 16 tokens per event; "
          f"{os.cpu_count()} CPUs visible (shared machine: figures are indicative)\n")
    print_table(rows, skipped)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
