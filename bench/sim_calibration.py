"""Simulated vs published figures for real engines on real GPUs (pure: no server, < 5 s).

Each case replays the published benchmark's shape (closed loop at the given concurrency, fixed
input/output lengths, ignore_eos) on the virtual clock with the default (calibrated) efficiency
factors, and prints the simulated value next to the published one with the % error and source.

    .venv/bin/python bench/sim_calibration.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmatrix.sim.config import SimEngineConfig  # noqa: E402
from benchmatrix.sim.presets import preset_config  # noqa: E402
from benchmatrix.sim.replay import ReplayResult, replay_closed_loop  # noqa: E402

YOBITEL = ("yobitelcomm.github.io/bench/recipes/concurrency-sweep (vLLM 0.21, H100-80GB-HBM3, "
           "chatbot-short; ISL/OSL not stated, 256/256 assumed)")
MUSGRAVE = ("johnmusgrave.com/p/vllm-throughput-latency-sweep-on (vLLM 0.23, A100 40GB, "
            "random 1024 in / 128 out, ignore_eos)")


@dataclass(frozen=True)
class Case:
    """One published figure and how to reproduce it."""

    label: str
    unit: str
    published: float
    config: Callable[[], SimEngineConfig]
    concurrency: int
    prompt_tokens: int
    output_tokens: int
    metric: Callable[[ReplayResult], float]
    source: str


def h100_8b() -> SimEngineConfig:
    """Llama-3.1-8B bf16 on one H100 SXM (vLLM defaults: 256 seqs, 8192 batched tokens)."""
    return preset_config("h100-llama8b")


def a100_40_8b() -> SimEngineConfig:
    """Llama-3.1-8B bf16 on one A100 SXM 40GB (gpus.csv: 39.38 GiB, 1.555 TB/s, 312 TFLOPS)."""
    return preset_config("a100-llama8b", gpu_name="A100 SXM 40GB", memory_gib=39.38,
                         hbm_bandwidth_tbps=1.555, kv_capacity_tokens=150_000)


def tpot_ms(r: ReplayResult) -> float:
    """Mean TPOT (first token excluded), ms."""
    return r.mean_tpot_s * 1e3


def ttft_ms(r: ReplayResult) -> float:
    """Mean TTFT, ms."""
    return r.mean_ttft_s * 1e3


def decode_tok_s(r: ReplayResult) -> float:
    """Per-stream decode speed 1 / TPOT, tokens/s."""
    return 1.0 / r.mean_tpot_s


def out_tok_s(r: ReplayResult) -> float:
    """Output token throughput over the run, tokens/s."""
    return r.output_tokens_per_s


CASES = [
    Case("H100 8B c=1 TPOT", "ms", 6.48, h100_8b, 1, 256, 256, tpot_ms, YOBITEL),
    Case("H100 8B c=4 TPOT", "ms", 6.59, h100_8b, 4, 256, 256, tpot_ms, YOBITEL),
    Case("H100 8B c=16 TPOT", "ms", 10.94, h100_8b, 16, 256, 256, tpot_ms, YOBITEL),
    Case("H100 8B c=1 TTFT", "ms", 13.98, h100_8b, 1, 256, 256, ttft_ms, YOBITEL),
    Case("A100-40 8B c=1 decode", "tok/s", 75.0, a100_40_8b, 1, 1024, 128, decode_tok_s, MUSGRAVE),
    Case("A100-40 8B c=8 throughput", "tok/s", 6.6 * 75.0 * 128 / (128 + 75.0 * 0.08),
         a100_40_8b, 8, 1024, 128, out_tok_s,
         MUSGRAVE + "; '6.6x gain at C=8' applied to the c=1 throughput (~72 tok/s with TTFT)"),
]


def run_case(case: Case) -> tuple[float, float]:
    """(simulated value, % error vs published)."""
    result = replay_closed_loop(case.config(), case.concurrency, case.prompt_tokens,
                                case.output_tokens, num_requests=max(8, case.concurrency * 8))
    simulated = case.metric(result)
    return simulated, 100.0 * (simulated - case.published) / case.published


def main() -> None:
    """Print the table and the mean absolute error."""
    print(f"{'case':<28} {'unit':>6} {'published':>10} {'simulated':>10} {'error':>8}  source")
    errors = []
    for case in CASES:
        simulated, err = run_case(case)
        errors.append(abs(err))
        print(f"{case.label:<28} {case.unit:>6} {case.published:>10.2f} {simulated:>10.2f} "
              f"{err:>+7.1f}%  {case.source}")
    print(f"mean |error| {sum(errors) / len(errors):.1f}% over {len(errors)} cases")
    print_uncalibrated()


def print_uncalibrated() -> None:
    """Model-only predictions where no trustworthy published figure was found (for review)."""
    print("\nmodel only (no trusted published figure): c=1 TPOT / TTFT at 1024 in, 128 out")
    for preset in ("h100x2-llama70b", "h100x4-llama70b", "h100x8-llama70b", "h200x2-llama70b",
                   "h200x4-llama70b", "h100x4-llama70b-fp8", "h100x2-mixtral8x7b",
                   "h200x8-deepseekv3"):
        r = replay_closed_loop(preset_config(preset), 1, 1024, 128, num_requests=2)
        print(f"  {preset:<22} TPOT {r.mean_tpot_s * 1e3:6.2f} ms   TTFT {r.mean_ttft_s * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
