"""Catalog facts: cross-checked against the sourced CSVs and recomputed from the dimensions."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmatrix.catalog import (
    GpuSpec,
    ModelSpec,
    get_gpu,
    get_model,
    gpu_catalog,
    load_hf_config,
    model_catalog,
)
from benchmatrix.errors import SpecError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "catalog"  # ../shared beside the checkout
needs_csv = pytest.mark.skipif(not (SHARED / "models.csv").exists(), reason="sourced CSVs not on this machine")

# Keys of meta-llama/Llama-3.1-8B-Instruct config.json (values as in models.csv row 1).
LLAMA_8B_CONFIG: dict[str, Any] = {
    "_name_or_path": "meta-llama/Llama-3.1-8B-Instruct", "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
}

REQUIRED_GPUS = (
    "h100-sxm-80gb", "h100-nvl-94gb", "h200-141gb", "b200-180gb", "a100-sxm-40gb", "a100-sxm-80gb",
    "l40s-48gb", "l4-24gb", "mi300x-192gb", "mi325x-256gb", "gaudi3-128gb",
)


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (SHARED / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def _first_number(text: str) -> float:
    match = re.search(r"[\d.]+", text.replace(",", ""))
    assert match, text
    return float(match.group())


def test_catalogs_are_complete() -> None:
    assert set(REQUIRED_GPUS) <= set(gpu_catalog())
    assert len(model_catalog()) >= 20
    archs = {(m.arch, m.attention) for m in model_catalog().values()}
    assert {("dense", "gqa"), ("dense", "mha"), ("moe", "gqa"), ("moe", "mla")} <= archs
    assert any(m.num_sliding_layers for m in model_catalog().values())


@pytest.mark.parametrize("model", sorted(model_catalog()), ids=str)
def test_kv_bytes_recomputed(model: str) -> None:
    spec = get_model(model)
    if spec.attention == "mla":
        expected = spec.num_layers * (int(spec.kv_lora_rank or 0) + int(spec.qk_rope_head_dim or 0)) * 2
    else:
        expected = 2 * spec.num_layers * spec.num_kv_heads * spec.head_dim * 2
    assert spec.kv_bytes_per_token_bf16 == expected


@pytest.mark.parametrize("model", sorted(model_catalog()), ids=str)
def test_params_recomputed_for_text_models(model: str) -> None:
    spec = get_model(model)
    if spec.attention == "mla" or spec.key.startswith("llama-4"):
        pytest.skip("MLA / multimodal totals are taken from the source, not recomputed")
    attn = 2 * spec.hidden_size * spec.num_attention_heads * spec.head_dim + 2 * spec.hidden_size * spec.num_kv_heads * spec.head_dim
    dense = (spec.num_layers - spec.num_moe_layers) * 3 * spec.hidden_size * (spec.intermediate_size or 0)
    total = spec.embedding_params_b * 1e9 + spec.num_layers * attn + dense + spec.expert_params_b * 1e9
    assert total / 1e9 == pytest.approx(spec.total_params_b, rel=0.03)


@needs_csv
def test_every_csv_model_is_in_the_catalog_with_the_same_facts() -> None:
    by_repo = {m.hf_repo: m for m in model_catalog().values()}
    for row in _csv_rows("models.csv"):
        repo = row["hf_repo"].split(";")[0].strip()
        spec = by_repo[repo]
        assert spec.kv_bytes_per_token_bf16 == int(row["kv_bytes_per_token_bf16_all_layers"]), repo
        assert spec.num_layers == int(row["num_hidden_layers"]), repo
        assert spec.hidden_size == int(row["hidden_size"]), repo
        assert spec.num_attention_heads == int(row["num_attention_heads"]), repo
        assert spec.vocab_size == int(_first_number(row["vocab_size"])), repo
        assert spec.total_params_b == pytest.approx(_first_number(row["total_params_B"]), rel=0.02), repo
        if "MLA" not in row["num_key_value_heads"]:
            assert spec.num_kv_heads == int(row["num_key_value_heads"]), repo
        if row["verification"].startswith("partially"):
            assert not spec.verified, repo


@needs_csv
def test_every_csv_gpu_is_in_the_catalog() -> None:
    gpus = gpu_catalog()
    by_name = {g.name: g for g in gpus.values()}
    for row in _csv_rows("gpus.csv"):
        gpu = next(g for n, g in by_name.items() if row["gpu"].split()[0] in n and str(int(float(row["memory_marketed_GB"].split()[0]))) in n)
        assert gpu.hbm_bandwidth_tbps == pytest.approx(_first_number(row["hbm_bandwidth_TBps"]), rel=0.05), gpu.key
        assert gpu.bf16_tflops == pytest.approx(_first_number(row["bf16_dense_TFLOPS"]), rel=0.01), gpu.key
        if "approx" in row["usable_GiB_torch_visible"] or row["usable_GiB_torch_visible"] == "unknown":
            assert not gpu.verified, gpu.key


@pytest.mark.parametrize("gpu", REQUIRED_GPUS)
def test_usable_memory_below_marketed(gpu: str) -> None:
    spec = get_gpu(gpu)
    assert spec.memory_gib * 2**30 <= spec.memory_marketed_gb * 1e9 * 1.075  # GiB vs GB


def test_unknown_names_suggest() -> None:
    with pytest.raises(SpecError, match=r"unknown GPU 'h200' \(did you mean 'h200-141gb'\?\)"):
        get_gpu("h200")
    with pytest.raises(SpecError, match=r"unknown model 'mixtral-8x7' \(did you mean 'mixtral-8x7b'\?\)"):
        get_model("mixtral-8x7")


def test_inconsistent_kv_bytes_is_rejected() -> None:
    facts = get_model("llama-3.1-8b").model_dump()
    facts["kv_bytes_per_token_bf16"] = 262144
    with pytest.raises(ValueError, match="kv_bytes_per_token_bf16 262144 != computed 131072"):
        ModelSpec.model_validate(facts)


def test_gpu_spec_forbids_unknown_keys() -> None:
    facts = get_gpu("l4-24gb").model_dump() | {"tdp_w": 72}
    with pytest.raises(ValueError, match="tdp_w"):
        GpuSpec.model_validate(facts)


def test_catalog_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gpus.yaml").write_text("- key: x\n  bogus: 1\n")
    (tmp_path / "models.yaml").write_text("[]\n")
    monkeypatch.setenv("BENCHMATRIX_CATALOG_DIR", str(tmp_path))
    with pytest.raises(SpecError, match=r"gpus.yaml: \[0\]\.bogus: unknown key"):
        gpu_catalog()
    assert model_catalog() == {}


def test_load_hf_config_llama(tmp_path: Path) -> None:
    path = tmp_path / "Llama-3.1-8B" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(LLAMA_8B_CONFIG))
    spec = load_hf_config(path)
    ref = get_model("llama-3.1-8b")
    assert spec.key == "llama-3.1-8b" and not spec.verified
    for field in ("num_layers", "hidden_size", "num_kv_heads", "head_dim", "kv_bytes_per_token_bf16", "attention", "arch"):
        assert getattr(spec, field) == getattr(ref, field), field
    assert spec.total_params_b == pytest.approx(8.03, abs=0.01)


def test_load_hf_config_mla_moe_fp8(tmp_path: Path) -> None:
    # Keys of deepseek-ai/DeepSeek-V3 config.json (models.csv row).
    config = {
        "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
        "num_attention_heads": 128, "num_key_value_heads": 128, "n_routed_experts": 256, "n_shared_experts": 1,
        "num_experts_per_tok": 8, "first_k_dense_replace": 3, "kv_lora_rank": 512, "q_lora_rank": 1536,
        "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "vocab_size": 129280,
        "max_position_embeddings": 163840, "torch_dtype": "bfloat16",
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    spec = load_hf_config(path, key="ds")
    assert (spec.attention, spec.native_dtype, spec.num_moe_layers) == ("mla", "fp8-block", 58)
    assert spec.kv_bytes_per_token_bf16 == 70272
    assert spec.total_params_b == pytest.approx(671, rel=0.01)
    assert spec.active_params_b == pytest.approx(37, rel=0.03)


def test_load_hf_config_sliding_layers(tmp_path: Path) -> None:
    config = {
        "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 4, "num_attention_heads": 64,
        "num_key_value_heads": 8, "head_dim": 64, "num_local_experts": 32, "num_experts_per_tok": 4,
        "vocab_size": 201088, "max_position_embeddings": 131072, "sliding_window": 128,
        "layer_types": ["sliding_attention", "full_attention"] * 2, "quantization_config": {"quant_method": "mxfp4"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    spec = load_hf_config(path, key="mini-oss")
    assert (spec.num_sliding_layers, spec.sliding_window, spec.native_dtype) == (2, 128, "mxfp4")


def test_load_hf_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="invalid JSON at line 1"):
        load_hf_config(bad)
    bad.write_text(json.dumps({"hidden_size": 10}))
    with pytest.raises(SpecError, match="config.json lacks or mangles 'num_hidden_layers'"):
        load_hf_config(bad)
