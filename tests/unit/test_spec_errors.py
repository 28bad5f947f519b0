"""Malformed matrices: each gives one SpecError naming the file and the field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from benchmatrix.errors import SpecError
from benchmatrix.spec import load_matrix
from tests.support.spec_builders import base_matrix, write_matrix

DATA = Path(__file__).resolve().parents[1] / "data" / "matrices"

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Mutation:
    """Mutation that sets a dotted path like 'models.1.dtype' (ints index lists)."""

    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return apply


def _drop(path: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return apply


def _drop_and_set(old: str, new: str, value: object) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        _drop(old)(data)
        _set(new, value)(data)

    return apply


CASES: list[tuple[str, Mutation, str]] = [
    ("bad dtype", _set("models.1.dtype", "bf17"), "models[1].dtype: 'bf17' is not one of bf16, fp16, fp8, fp8-block"),
    ("unknown top-level key", _set("hardwares", []), "hardwares: unknown key"),
    ("unknown hardware key", _set("hardware.0.gpus", 2), "hardware[0].gpus: unknown key"),
    ("misspelt required key", _drop_and_set("hardware.0.gpu_count", "hardware.0.gpu_cont", 2), "hardware[0].gpu_cont: unknown key (did you mean 'gpu_count'?) (and 1 more problem)"),
    ("gpu_count zero", _set("hardware.0.gpu_count", 0), "hardware[0].gpu_count: Input should be greater than 0 (got 0)"),
    ("gpu_count text", _set("hardware.0.gpu_count", "two"), "hardware[0].gpu_count: Input should be a valid integer"),
    ("gpu_count boolean", _set("hardware.0.gpu_count", True), "hardware[0].gpu_count: Input should be a valid integer (got True)"),
    ("quoted number", _set("models.0.max_model_len", "4096"), "models[0].max_model_len: Input should be a valid integer (got '4096')"),
    ("gpu_count fraction", _set("hardware.0.gpu_count", 2.5), "hardware[0].gpu_count: Input should be a valid integer"),
    ("unknown gpu", _set("hardware.0.gpu", "h100-sxm"), "hardware[0].gpu: unknown GPU 'h100-sxm' (did you mean 'h100-sxm-80gb'?)"),
    ("unknown model", _set("models.0.name", "llama-3.1-8"), "models[0].name: unknown model 'llama-3.1-8' (did you mean 'llama-3.1-8b'?)"),
    ("unknown catalog key", _set("models.0.catalog", "qwen-2.5-7b"), "models[0].catalog: unknown model 'qwen-2.5-7b' (did you mean 'qwen2.5-7b'?)"),
    ("min > max", _set("loads.0.input_tokens", {"kind": "uniform", "min": 600, "max": 500}), "loads[0].input_tokens: min (600) must be <= max (500)"),
    ("unknown distribution kind", _set("loads.0.output_tokens", {"kind": "zipf", "min": 1}), "loads[0].output_tokens: kind 'zipf' is not one of"),
    ("rate zero", _set("loads.0.rate_rps", [0]), "loads[0].rate_rps[0]: Input should be greater than 0"),
    ("negative concurrency", _set("loads.0.concurrency", [4, -1]), "loads[0].concurrency[1]: Input should be greater than 0"),
    ("neither concurrency nor rate", _drop("loads.0.concurrency"), "loads[0]: give 'concurrency' or 'rate_rps'"),
    ("no request count or duration", _drop("loads.0.num_requests"), "loads[0]: give 'num_requests' or 'duration_s'"),
    ("gpu_count above node", _set("hardware.1.gpu_count", 16), "hardware[1].gpu_count: 16 GPUs exceed gpus_per_node x nodes = 8 x 1 = 8"),
    ("unknown backend", _set("hardware.0.backend", "k8s"), "hardware[0].backend: 'k8s' is not one of sim, docker, command"),
    ("command backend without command", _set("hardware.0.backend", "command"), "hardware[0]: backend 'command' needs 'command'"),
    ("duplicate hardware name", _set("hardware.1.name", "h100x2"), "hardware[1].name: 'h100x2' is already used by hardware[0]"),
    ("rule names unknown model", _set("exclude", [{"model": "lama-3.1-8b"}]), "exclude[0].model: 'lama-3.1-8b' matches nothing (did you mean 'llama-3.1-8b'?)"),
    ("rule unknown key", _set("include", [{"modell": "x"}]), "include[0].modell: unknown key"),
    ("empty rule", _set("include", [{}]), "include[0]: a rule needs at least one of"),
    ("tp not a power of two", _set("models.0.tp", 3), "models[0].tp: 3 is not one of 1, 2, 4, 8"),
    ("override tp", _set("overrides", [{"match": {"model": "qwen2.5-7b"}, "tp": 6}]), "overrides[0].tp: 6 is not one of 1, 2, 4, 8"),
    ("max_model_len above model", _set("models.0.max_model_len", 200000), "models[0].max_model_len: 200000 exceeds llama-3.1-8b's max_position_embeddings 131072"),
    ("memory utilization above 1", _set("models.0.engine_options", {"gpu_memory_utilization": 1.5}), "models[0].engine_options.gpu_memory_utilization: Input should be less than or equal to 1"),
    ("vision without images", _set("loads.0.modality", "vision"), "loads[0]: modality 'vision' needs 'images'"),
    ("unknown defaults key", _set("defaults", {"models": {"dtypes": "fp8"}}), "defaults.models.dtypes: unknown key"),
    ("missing loads", _drop("loads"), "loads: required field is missing"),
    ("empty hardware list", _set("hardware", []), "hardware: needs at least 1 item(s), got 0"),
    ("error share above 1", _set("checks", {"max_error_share": 1.5}), "checks.max_error_share: Input should be less than or equal to 1"),
    ("time_scale zero", _set("sim", {"time_scale": 0}), "sim.time_scale: Input should be greater than 0"),
    ("config_json missing", _set("models.1.config_json", "nope/config.json"), "models[1].config_json:"),
    ("negative price", _set("hardware.0.price_per_gpu_hour", -1), "hardware[0].price_per_gpu_hour: Input should be greater than or equal to 0"),
    ("bad slo percentile", _set("slo", {"percentile": "p42"}), "slo.percentile: 'p42' is not one of p50, p90, p95, p99"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[n for n, _, _ in CASES])
def test_malformed_matrix_names_file_and_field(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    data = base_matrix()
    mutate(data)
    path = write_matrix(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_matrix(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_catalog_name_is_allowed_as_label(tmp_path: Path) -> None:
    data = base_matrix()
    data["models"][0]["name"] = "small"
    data["models"][0]["catalog"] = "llama-3.1-8b"
    assert load_matrix(write_matrix(tmp_path, data)).models[0].catalog == "llama-3.1-8b"


def test_two_model_sources_rejected(tmp_path: Path) -> None:
    data = base_matrix()
    data["models"][0]["config_json"] = "x/config.json"
    data["models"][0]["catalog"] = "llama-3.1-8b"
    with pytest.raises(SpecError, match=r"models\[0\]: give at most one of catalog, architecture, config_json"):
        load_matrix(write_matrix(tmp_path, data))


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("syntax_unclosed_bracket.yaml", "YAML syntax error: line 5"),
        ("syntax_bad_indent.yaml", "YAML syntax error: line 4"),
        ("duplicate_key.yaml", "YAML syntax error: line 2, column 1: duplicate key 'name'"),
        ("top_level_list.yaml", "expected a mapping with name, hardware, models, loads"),
        ("empty.yaml", "expected a mapping"),
    ],
)
def test_malformed_files(fixture: str, expected: str) -> None:
    path = DATA / fixture
    with pytest.raises(SpecError) as info:
        load_matrix(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read matrix file"):
        load_matrix(tmp_path / "nope.yaml")
