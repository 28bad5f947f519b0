"""Builders for matrix/scenario tests: a valid base matrix as a dict and one-call scenarios.

Other areas may use :func:`make_scenario` to get a resolved Scenario without writing YAML.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from benchmatrix.expand import expand
from benchmatrix.spec import Scenario, load_matrix, parse_matrix

BASE_MATRIX: dict[str, Any] = {
    "name": "unit",
    "hardware": [
        {"name": "h100x2", "gpu": "h100-sxm-80gb", "gpu_count": 2, "backend": "sim"},
        {"name": "h200x8", "gpu": "h200-141gb", "gpu_count": 8, "backend": "sim"},
    ],
    "models": [
        {"name": "llama-3.1-8b", "engine": "sim", "dtype": "bf16", "max_model_len": 4096},
        {"name": "qwen2.5-7b", "engine": "sim", "max_model_len": 8192},
    ],
    "loads": [
        {
            "name": "chat",
            "input_tokens": {"kind": "uniform", "min": 128, "max": 512},
            "output_tokens": {"kind": "uniform", "min": 32, "max": 128},
            "concurrency": [4, 16],
            "num_requests": 60,
        }
    ],
}


def base_matrix() -> dict[str, Any]:
    """A fresh deep copy of a small valid matrix (2 hardware x 2 models x 2 points)."""
    return copy.deepcopy(BASE_MATRIX)


def write_matrix(folder: Path, data: object, name: str = "matrix.yaml") -> Path:
    """Dump ``data`` as YAML into ``folder/name`` and return the path."""
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_scenario(
    model: str = "llama-3.1-8b",
    gpu: str = "h100-sxm-80gb",
    gpu_count: int = 1,
    dtype: str | None = None,
    max_model_len: int | None = 4096,
    concurrency: int | None = 1,
    rate_rps: float | None = None,
    input_tokens: object = 128,
    output_tokens: object = 128,
    tp: int | None = None,
    engine_options: dict[str, Any] | None = None,
    nodes: int = 1,
) -> Scenario:
    """One resolved scenario from catalog names (no file involved)."""
    model_entry: dict[str, Any] = {"name": model, "engine": "sim", "max_model_len": max_model_len}
    for key, value in (("dtype", dtype), ("tp", tp), ("engine_options", engine_options)):
        if value is not None:
            model_entry[key] = value
    load: dict[str, Any] = {"name": "load", "input_tokens": input_tokens, "output_tokens": output_tokens, "num_requests": 10}
    load["concurrency" if rate_rps is None else "rate_rps"] = [concurrency] if rate_rps is None else [rate_rps]
    data = {
        "name": "unit",
        "hardware": [{"gpu": gpu, "gpu_count": gpu_count, "nodes": nodes}],
        "models": [model_entry],
        "loads": [load],
    }
    (scenario,) = expand(parse_matrix(data))
    return scenario


__all__ = ["BASE_MATRIX", "base_matrix", "load_matrix", "make_scenario", "write_matrix"]
