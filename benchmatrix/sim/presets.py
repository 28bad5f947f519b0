"""Named configurations for serving without a config file: ``<gpu>[x<tp>]-<model>[-fp8]``.

Examples: ``h100-llama8b``, ``h200x2-llama70b``, ``h100x4-llama70b-fp8``, ``h200x8-deepseekv3``.
GPU and model facts are copied from ../shared/catalog (gpus.csv, models.csv); KV capacity is a
rough estimate (90 % of memory minus weights, bf16 KV) - the pipeline passes the planner's.
"""

from __future__ import annotations

import re
from typing import Any

from benchmatrix.sim.config import SimEngineConfig

GIB = 1024**3
GPU_MEMORY_UTILIZATION = 0.9

GPUS: dict[str, dict[str, Any]] = {
    "h100": dict(gpu_name="H100 SXM5 80GB", memory_gib=79.2, hbm_bandwidth_tbps=3.35,
                 bf16_tflops=989.0, fp8_tflops=1979.0, interconnect_gbps=900.0),
    "h200": dict(gpu_name="H200 SXM 141GB", memory_gib=139.8, hbm_bandwidth_tbps=4.8,
                 bf16_tflops=989.0, fp8_tflops=1979.0, interconnect_gbps=900.0),
    "b200": dict(gpu_name="B200 180GB", memory_gib=178.0, hbm_bandwidth_tbps=8.0,
                 bf16_tflops=2250.0, fp8_tflops=4500.0, interconnect_gbps=1800.0),
    "a100": dict(gpu_name="A100 SXM 80GB", memory_gib=79.2, hbm_bandwidth_tbps=2.039,
                 bf16_tflops=312.0, fp8_tflops=None, interconnect_gbps=600.0),
    "l40s": dict(gpu_name="L40S 48GB", memory_gib=44.39, hbm_bandwidth_tbps=0.864,
                 bf16_tflops=362.0, fp8_tflops=733.0, interconnect_gbps=64.0),
    "mi300x": dict(gpu_name="MI300X 192GB", memory_gib=191.5, hbm_bandwidth_tbps=5.3,
                   bf16_tflops=1307.4, fp8_tflops=2614.9, interconnect_gbps=896.0),
}

MODELS: dict[str, dict[str, Any]] = {
    "llama8b": dict(served_model_name="meta-llama/Llama-3.1-8B-Instruct", total_params_b=8.03,
                    active_params_b=8.03, num_layers=32, hidden_size=4096,
                    kv_bytes_per_token=131072, max_model_len=131072),
    "llama70b": dict(served_model_name="meta-llama/Llama-3.1-70B-Instruct", total_params_b=70.55,
                     active_params_b=70.55, num_layers=80, hidden_size=8192,
                     kv_bytes_per_token=327680, max_model_len=131072),
    "mixtral8x7b": dict(served_model_name="mistralai/Mixtral-8x7B-Instruct-v0.1",
                        total_params_b=46.7, active_params_b=12.9, num_layers=32, hidden_size=4096,
                        kv_bytes_per_token=131072, num_experts=8, experts_per_token=2,
                        max_model_len=32768),
    "qwen3-8b": dict(served_model_name="Qwen/Qwen3-8B", total_params_b=8.19, active_params_b=8.19,
                     num_layers=36, hidden_size=4096, kv_bytes_per_token=147456,
                     max_model_len=40960),
    "deepseekv3": dict(served_model_name="deepseek-ai/DeepSeek-V3", total_params_b=671.0,
                       active_params_b=37.0, num_layers=61, hidden_size=7168,
                       kv_bytes_per_token=70272, kv_split_by_tp=False, num_experts=256,
                       experts_per_token=8, weight_bytes_per_param=1.0, max_model_len=163840),
}

_PRESET = re.compile(r"^(?P<gpu>[a-z0-9]+?)(?:x(?P<tp>\d+))?-(?P<model>[a-z0-9.-]+?)(?P<fp8>-fp8)?$")


def preset_names() -> list[str]:
    """A few example preset names (any gpu x model combination works)."""
    return ["h100-llama8b", "h200-llama8b", "h100x4-llama70b", "h200x2-llama70b",
            "h100x2-mixtral8x7b", "h200x8-deepseekv3", "a100-llama8b", "l40s-llama8b"]


def preset_config(name: str, **overrides: Any) -> SimEngineConfig:
    """Build a config from ``<gpu>[x<tp>]-<model>[-fp8]``; ``overrides`` replace any field."""
    match = _PRESET.match(name.lower())
    if not match or match["gpu"] not in GPUS or match["model"] not in MODELS:
        raise ValueError(
            f"unknown preset {name!r}: use <gpu>[x<tp>]-<model>[-fp8] with gpu in "
            f"{sorted(GPUS)} and model in {sorted(MODELS)}")
    tp = int(match["tp"] or 1)
    fields: dict[str, Any] = {**GPUS[match["gpu"]], **MODELS[match["model"]]}
    if match["fp8"]:
        fields["weight_bytes_per_param"] = 1.0
    fields.update(replica_id=f"sim-{name}", tp_degree=tp)
    fields["kv_capacity_tokens"] = estimate_kv_tokens(fields, tp)
    fields["max_model_len"] = min(fields["max_model_len"], fields["kv_capacity_tokens"])
    fields.update(overrides)
    return SimEngineConfig(**fields)


def estimate_kv_tokens(fields: dict[str, Any], tp: int) -> int:
    """KV tokens that fit in 90 % of the replica's memory after weights (at least 16)."""
    weight_bytes = fields["total_params_b"] * 1e9 * fields.get("weight_bytes_per_param", 2.0)
    free_bytes = fields["memory_gib"] * GIB * GPU_MEMORY_UTILIZATION * tp - weight_bytes
    per_token = fields["kv_bytes_per_token"] * (tp if not fields.get("kv_split_by_tp", True) else 1)
    return max(16, int(free_bytes // per_token))
