"""Matrix expansion: names, stable ids, defaults, include/exclude, overrides, load points."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmatrix.distributions import Fixed
from benchmatrix.errors import PlanError
from benchmatrix.expand import expand
from benchmatrix.planner import plan_tp
from benchmatrix.spec import SMOKE_MATRIX_PATH, LoadPoint, load_matrix, parse_matrix
from tests.support.spec_builders import base_matrix, write_matrix

REPO = Path(__file__).resolve().parents[2]


def test_smoke_matrix_expands_to_four_tp1_scenarios() -> None:
    scenarios = expand(load_matrix(SMOKE_MATRIX_PATH))
    assert [s.name for s in scenarios] == [
        "h100x2/llama-3.1-8b/chat@c4",
        "h100x2/llama-3.1-8b/chat@c16",
        "h200x2/llama-3.1-8b/chat@c4",
        "h200x2/llama-3.1-8b/chat@c16",
    ]
    for scenario in scenarios:
        plan = plan_tp(scenario)
        assert (plan.tp_degree, plan.replicas) == (1, 2)
        assert scenario.hardware.backend == "sim" and scenario.model.engine == "sim"
        assert scenario.sim.time_scale == 1.0 and scenario.load.num_requests == 60
        assert scenario.model.served_name == "llama-3.1-8b"


def test_scenario_ids_are_stable_and_unique() -> None:
    first = [s.scenario_id for s in expand(load_matrix(REPO / "matrices" / "nightly.yaml"))]
    second = [s.scenario_id for s in expand(load_matrix(REPO / "matrices" / "nightly.yaml"))]
    assert first == second
    assert len(set(first)) == len(first)
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in first)


def test_ids_ignore_labels_outside_the_cell_but_follow_the_cell() -> None:
    data = base_matrix()
    ids = [s.scenario_id for s in expand(parse_matrix(data))]
    data["name"] = "renamed"
    data["hardware"][0]["price_per_gpu_hour"] = 9.0
    data["slo"] = {"ttft_ms": 100}
    assert [s.scenario_id for s in expand(parse_matrix(data))] == ids
    data["loads"][0]["concurrency"] = [4, 32]
    changed = [s.scenario_id for s in expand(parse_matrix(data))]
    assert changed[0] == ids[0] and changed[1] != ids[1]


def test_explicit_default_does_not_change_id() -> None:
    data = base_matrix()
    ids = [s.scenario_id for s in expand(parse_matrix(data))]
    data["loads"][0]["arrival"] = "poisson"
    data["models"][0]["engine_options"] = {"gpu_memory_utilization": 0.9}
    assert [s.scenario_id for s in expand(parse_matrix(data))] == ids


def test_resolution_fills_defaults() -> None:
    data = base_matrix()
    data["hardware"][0].pop("name")
    scenario = expand(parse_matrix(data))[-1]  # h200x8 / qwen2.5-7b / chat@c16
    assert scenario.model.dtype == "bf16" and scenario.model.served_name == "qwen2.5-7b"
    assert scenario.model.hf_repo == "Qwen/Qwen2.5-7B-Instruct"
    first = expand(parse_matrix(data))[0]
    assert first.hardware.name == "h100x2" and first.name == "h100x2/llama-3.1-8b/chat@c4"
    data["models"][1].pop("max_model_len")
    assert expand(parse_matrix(data))[-1].model.max_model_len == 32768


def test_defaults_merge_deeply_and_entries_win() -> None:
    data = base_matrix()
    data["defaults"] = {
        "hardware": {"work_pool": "gpu-pool", "backend": "sim"},
        "models": {"engine_options": {"max_num_seqs": 32, "gpu_memory_utilization": 0.8}},
        "loads": {"warmup_requests": 3, "seed": 5},
    }
    data["models"][0]["engine_options"] = {"max_num_seqs": 8}
    matrix = parse_matrix(data)
    assert matrix.hardware[1].work_pool == "gpu-pool"
    assert matrix.models[0].engine_options.max_num_seqs == 8
    assert matrix.models[0].engine_options.gpu_memory_utilization == 0.8
    assert matrix.models[1].engine_options.max_num_seqs == 32
    assert matrix.loads[0].warmup_requests == 3


def test_include_filters_then_exclude_drops() -> None:
    data = base_matrix()
    data["include"] = [{"hardware": "h200x8"}, {"model": "llama-3.1-8b", "concurrency": 4}]
    data["exclude"] = [{"model": "qwen2.5-7b", "concurrency": [16]}]
    names = [s.name for s in expand(parse_matrix(data))]
    assert names == [
        "h100x2/llama-3.1-8b/chat@c4",
        "h200x8/llama-3.1-8b/chat@c4",
        "h200x8/llama-3.1-8b/chat@c16",
        "h200x8/qwen2.5-7b/chat@c4",
    ]


def test_rules_match_catalog_gpu_and_dtype() -> None:
    data = base_matrix()
    data["exclude"] = [{"gpu": "h100-sxm-80gb"}, {"dtype": "bf16", "gpu_count": 8, "model": "qwen2.5-7b"}]
    names = [s.name for s in expand(parse_matrix(data))]
    assert names == ["h200x8/llama-3.1-8b/chat@c4", "h200x8/llama-3.1-8b/chat@c16"]


def test_overrides_pin_tp_and_planner_checks_it() -> None:
    data = base_matrix()
    data["overrides"] = [{"match": {"hardware": "h200x8", "model": "llama-3.1-8b"}, "tp": 2}]
    data["models"][1]["tp"] = 8  # qwen2.5-7b: 28 heads, TP8 invalid
    scenarios = {s.name: s for s in expand(parse_matrix(data))}
    assert plan_tp(scenarios["h200x8/llama-3.1-8b/chat@c4"]).tp_degree == 2
    assert scenarios["h100x2/llama-3.1-8b/chat@c4"].tp is None
    with pytest.raises(PlanError, match="28 attention heads"):
        plan_tp(scenarios["h200x8/qwen2.5-7b/chat@c4"])


def test_rate_and_concurrency_points() -> None:
    data = base_matrix()
    data["loads"][0]["concurrency"] = 8
    data["loads"][0]["rate_rps"] = [0.5, 2.5]
    points = [s.load for s in expand(parse_matrix(data)) if s.hardware.name == "h100x2" and s.model.name == "llama-3.1-8b"]
    assert [p.label for p in points] == ["chat@c8", "chat@r0.5", "chat@r2.5"]
    assert points[1].concurrency is None and points[1].rate_rps == 0.5


def test_load_point_needs_exactly_one_level() -> None:
    with pytest.raises(ValueError, match="exactly one of concurrency or rate_rps"):
        LoadPoint(profile="x", modality="text", endpoint="chat", input_tokens=Fixed(value=1), output_tokens=Fixed(value=1), concurrency=1, rate_rps=1.0)


def test_vision_and_speech_loads() -> None:
    data = base_matrix()
    data["loads"].append({
        "name": "vqa", "modality": "vision", "input_tokens": 64, "output_tokens": 64, "concurrency": 2,
        "num_requests": 10, "images": {"images_per_request": 2, "sizes": [{"width": 336, "height": 336}]},
    })
    data["loads"].append({
        "name": "asr", "modality": "speech", "endpoint": "audio", "input_tokens": 16, "output_tokens": 128,
        "rate_rps": 1, "duration_s": 30, "audio": {"seconds": {"kind": "uniform", "min": 5, "max": 30}},
    })
    loads = {s.load.profile: s.load for s in expand(parse_matrix(data))}
    assert loads["vqa"].images is not None and loads["vqa"].images.images_per_request == 2
    assert loads["asr"].audio is not None and loads["asr"].duration_s == 30


def test_nightly_has_a_no_fit_cell_and_tp_above_one() -> None:
    scenarios = expand(load_matrix(REPO / "matrices" / "nightly.yaml"))
    outcomes: dict[str, int | None] = {}
    for scenario in scenarios:
        try:
            outcomes[scenario.name] = plan_tp(scenario).tp_degree
        except PlanError:
            outcomes[scenario.name] = None
    assert outcomes["h100x8/llama-3.1-405b/chat@c8"] is None
    assert outcomes["h100x8/llama-3.1-70b/chat@c8"] == 4
    assert any(tp and tp > 1 for tp in outcomes.values())
    assert all(s.hardware.backend == "sim" for s in scenarios)


def test_config_json_path_is_relative_to_the_matrix(tmp_path: Path) -> None:
    from tests.unit.test_catalog import LLAMA_8B_CONFIG  # a real config.json's keys

    import json

    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text(json.dumps(LLAMA_8B_CONFIG))
    data = base_matrix()
    data["models"] = [{"name": "my-llama", "config_json": "my-model/config.json", "max_model_len": 4096}]
    scenario = expand(load_matrix(write_matrix(tmp_path, data)))[0]
    assert scenario.model_spec.kv_bytes_per_token_bf16 == 131072
    assert plan_tp(scenario).tp_degree == 1


def test_inline_architecture() -> None:
    data = base_matrix()
    data["models"] = [{
        "name": "tiny-dense", "max_model_len": 2048, "dtype": "bf16",
        "architecture": {
            "arch": "dense", "attention": "gqa", "total_params_b": 1.0, "active_params_b": 1.0, "num_layers": 16,
            "hidden_size": 2048, "num_attention_heads": 16, "num_kv_heads": 4, "head_dim": 128,
            "intermediate_size": 8192, "vocab_size": 32000, "max_position_embeddings": 4096, "native_dtype": "bf16",
        },
    }]
    scenario = expand(parse_matrix(data))[0]
    assert scenario.model_spec.key == "tiny-dense" and not scenario.model_spec.verified
    assert scenario.model_spec.kv_bytes_per_token_bf16 == 16 * 2 * 4 * 128 * 2
    assert plan_tp(scenario).tp_degree == 1


def test_scenario_round_trips_through_json() -> None:
    from benchmatrix.spec import Scenario

    for scenario in expand(load_matrix(REPO / "matrices" / "nightly.yaml"))[:6]:
        again = Scenario.model_validate_json(scenario.model_dump_json())
        assert again == scenario and again.scenario_id == scenario.scenario_id


def test_rules_on_resolved_fields() -> None:
    data = base_matrix()
    data["hardware"][1]["work_pool"] = "big"
    data["exclude"] = [{"work_pool": "big"}, {"max_model_len": 8192}]
    names = [s.name for s in expand(parse_matrix(data))]
    assert names == ["h100x2/llama-3.1-8b/chat@c4", "h100x2/llama-3.1-8b/chat@c16"]
