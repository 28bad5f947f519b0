"""TP planner on sourced cases: divisibility, weights, KV one sequence, KV working set.

Each case cites where the real-world behaviour comes from (see ../shared/catalog/*.csv).
"""

from __future__ import annotations

import pytest

from benchmatrix.catalog import get_model
from benchmatrix.errors import PlanError
from benchmatrix.planner import (
    GIB,
    divisibility_problem,
    kv_bytes_per_token_layer,
    plan_tp,
    replicas_for,
    sequence_kv_bytes,
    weight_bytes,
)
from tests.support.spec_builders import make_scenario


@pytest.mark.parametrize(
    ("model", "dtype", "tp", "expected"),
    [
        # vllm-project/vllm issue #5951: Phi-3-medium (10 KV heads) fails at TP4.
        ("phi-3-medium-4k", "bf16", 4, "10 KV heads: neither divisible by TP4 nor a divisor of it"),
        ("phi-3-medium-4k", "bf16", 2, None),
        # vllm-project/vllm issue #16021: Phi-4 (10 KV heads) fails at TP4.
        ("phi-4", "bf16", 4, "10 KV heads: neither divisible by TP4 nor a divisor of it"),
        # Qwen2.5-7B config.json: 28 attention heads -> TP8 invalid (models.csv valid_tp "1,2,4").
        ("qwen2.5-7b", "bf16", 8, "28 attention heads are not divisible by TP8"),
        ("qwen2.5-7b", "bf16", 4, None),
        # Qwen3-235B-A22B: 4 KV heads at TP8 are replicated (8 % 4 == 0), so TP8 is valid in bf16 ...
        ("qwen3-235b-a22b", "bf16", 8, None),
        # ... but the official block-128 FP8 checkpoint cannot shard 1536 / 8 = 192 (models.csv).
        ("qwen3-235b-a22b", "fp8-block", 8, "fp8 block 128: moe_intermediate_size 1536 / TP8 = 192 is not a multiple of 128"),
        ("qwen3-235b-a22b", "fp8-block", 4, None),
        # Qwen2.5-72B int4 group 128 with the unpadded 29568 intermediate: TP1 only (231 groups).
        ("qwen2.5-72b", "int4-awq", 2, "int4-awq group 128: intermediate_size 29568 / TP2 = 14784 is not a multiple of 128"),
        ("qwen2.5-72b", "int4-gptq", 1, None),
        ("qwen2.5-72b", "fp8", 8, None),
        # DeepSeek-V3: MLA has no per-head KV to split; 128 query heads divide by 8.
        ("deepseek-v3", "fp8-block", 8, None),
    ],
)
def test_divisibility(model: str, dtype: str, tp: int, expected: str | None) -> None:
    assert divisibility_problem(get_model(model), dtype, tp) == expected


def test_mla_kv_is_not_divided_by_tp() -> None:
    # DeepSeek-V3 config_671B.json: kv_lora_rank 512 + qk_rope_head_dim 64 per layer, bf16;
    # vLLM/SGLang keep the whole latent on every TP rank.
    ds = get_model("deepseek-v3")
    assert kv_bytes_per_token_layer(ds, 1, 2) == kv_bytes_per_token_layer(ds, 8, 2) == (512 + 64) * 2
    assert sequence_kv_bytes(ds, 1, 8, 2) == ds.kv_bytes_per_token_bf16  # whole model, per GPU


def test_gqa_kv_is_split_and_replicated_past_kv_heads() -> None:
    llama = get_model("llama-3.1-70b")  # 8 KV heads x 128 dims
    assert kv_bytes_per_token_layer(llama, 1, 2) == 2 * 8 * 128 * 2
    assert kv_bytes_per_token_layer(llama, 8, 2) == 2 * 1 * 128 * 2
    qwen = get_model("qwen3-235b-a22b")  # 4 KV heads: TP8 keeps one head per rank
    assert kv_bytes_per_token_layer(qwen, 8, 2) == kv_bytes_per_token_layer(qwen, 4, 2)


def test_sliding_layers_cap_at_window() -> None:
    # gpt-oss-120b: 18 of 36 layers slide over 128 tokens.
    oss = get_model("gpt-oss-120b")
    per_layer = 2 * 8 * 64 * 2
    assert sequence_kv_bytes(oss, 100, 1, 2) == 36 * 100 * per_layer
    assert sequence_kv_bytes(oss, 10_000, 1, 2) == (18 * 10_000 + 18 * 128) * per_layer


def test_mha_kv_is_three_times_llama3_8b() -> None:
    # models.csv: Phi-3-mini is MHA, KV per token 3x Llama-3-8B.
    assert get_model("phi-3-mini-4k").kv_bytes_per_token_bf16 == 3 * get_model("llama-3.1-8b").kv_bytes_per_token_bf16


@pytest.mark.parametrize(
    ("model", "dtype", "gib"),
    [
        ("llama-3.1-8b", "bf16", 14.96),     # models.csv bf16_weights_GiB_computed 15.0
        ("llama-3.1-405b", "bf16", 755.95),  # models.csv 756.0
        ("gpt-oss-120b", "mxfp4", 60.71),    # models.csv 'MXFP4 checkpoint ~60.8 GiB (computed)'
        ("gpt-oss-20b", "mxfp4", 12.79),     # models.csv '~12.8 GiB (computed)'
        ("llama-3.1-405b", "fp8", 381.89),   # linear fp8, embeddings bf16
    ],
)
def test_weight_bytes(model: str, dtype: str, gib: float) -> None:
    assert weight_bytes(get_model(model), dtype) / GIB == pytest.approx(gib, abs=0.01)


def test_llama_8b_smoke_cell_is_tp1_with_two_replicas() -> None:
    plan = plan_tp(make_scenario(gpu_count=2, concurrency=16, input_tokens=512, output_tokens=128))
    assert (plan.tp_degree, plan.replicas, plan.gpus_used, plan.rejected) == (1, 2, 2, ())
    assert plan.weights_gib_per_gpu == pytest.approx(14.957, abs=1e-3)
    assert plan.working_set_seqs == 8 and plan.seq_len_tokens == 640


def test_llama_70b_bf16_on_h100_needs_tp2_at_8k() -> None:
    # 131.4 GiB of bf16 weights > 0.9 x 79.2 GiB, so TP1 fails on weights (models.csv, gpus.csv).
    plan = plan_tp(make_scenario(model="llama-3.1-70b", gpu_count=8, max_model_len=8192))
    assert (plan.tp_degree, plan.replicas) == (2, 4)
    assert [(r.tp_degree, r.check) for r in plan.rejected] == [(1, "weights")]
    assert plan.is_tight  # ~3 GiB of KV left per GPU


def test_llama_70b_bf16_on_h100_needs_tp4_at_full_context() -> None:
    # At 131072 tokens one sequence needs 10 GiB KV per GPU at TP2, more than is left.
    plan = plan_tp(make_scenario(model="llama-3.1-70b", gpu_count=8, max_model_len=131072))
    assert (plan.tp_degree, plan.replicas) == (4, 2)
    assert [(r.tp_degree, r.check) for r in plan.rejected] == [(1, "weights"), (2, "kv_one_sequence")]


def test_working_set_pushes_tp_up() -> None:
    plan = plan_tp(make_scenario(model="llama-3.1-70b", gpu_count=8, max_model_len=8192, concurrency=64, input_tokens=4096, output_tokens=1024))
    assert plan.tp_degree == 4
    assert plan.rejected[-1].check == "kv_working_set"
    assert "16 sequences per replica x 5120 tokens" in plan.rejected[-1].reason


def test_llama_405b_bf16_cannot_fit_8xh100() -> None:
    # 756 GiB bf16 weights / 8 = 94.5 GiB per GPU > 71.3 GiB budget; fp8 (47.7 GiB) would fit.
    with pytest.raises(PlanError) as info:
        plan_tp(make_scenario(model="llama-3.1-405b", gpu_count=8, max_model_len=16384))
    message = str(info.value)
    assert "TP8 fails weights" in message and "by 25.8 GiB" in message
    assert "dtype fp8: 47.7 GiB per GPU at TP8 (fits)" in message
    assert "pipeline parallel across 2 nodes" in message


def test_deepseek_v3_fp8_needs_h200_class_memory() -> None:
    # models.csv: 'memory: needs >=8 x 141GB for FP8'.
    plan = plan_tp(make_scenario(model="deepseek-v3", gpu="h200-141gb", gpu_count=8, max_model_len=32768))
    assert plan.tp_degree == 8
    with pytest.raises(PlanError, match="TP8 fails weights"):
        plan_tp(make_scenario(model="deepseek-v3", gpu_count=8, max_model_len=32768))


def test_gpt_oss_120b_fits_one_80gb_gpu() -> None:
    # OpenAI model card: gpt-oss-120b (MXFP4 MoE) runs on a single 80 GB GPU.
    plan = plan_tp(make_scenario(model="gpt-oss-120b", gpu_count=1, max_model_len=131072))
    assert plan.tp_degree == 1 and plan.is_tight


def test_borderline_kv_on_l4() -> None:
    # vLLM's 'max seq len ... is larger than the maximum number of tokens that can be stored in KV
    # cache' on 24 GB cards: Llama-3.1-8B bf16 leaves ~3 GiB KV on an L4.
    ok = plan_tp(make_scenario(gpu="l4-24gb", max_model_len=16384))
    assert ok.tp_degree == 1 and 2.9 < ok.kv_gib_per_gpu < 3.1
    with pytest.raises(PlanError) as info:
        plan_tp(make_scenario(gpu="l4-24gb", max_model_len=32768))
    assert "1.0 GiB short" in str(info.value) and "max_model_len <= 24847 tokens" in str(info.value)
    assert plan_tp(make_scenario(gpu="l4-24gb", gpu_count=2, max_model_len=32768)).tp_degree == 2


def test_fp8_kv_cache_halves_kv() -> None:
    plan = plan_tp(make_scenario(gpu="l4-24gb", max_model_len=32768, engine_options={"kv_cache_dtype": "fp8"}))
    assert plan.tp_degree == 1


def test_quantization_block_leaves_no_degree() -> None:
    with pytest.raises(PlanError) as info:
        plan_tp(make_scenario(model="qwen2.5-72b", dtype="int4-awq", gpu="a100-sxm-40gb", gpu_count=4, max_model_len=32768))
    assert "TP1 fails weights; TP2 fails divisibility; TP4 fails divisibility" in str(info.value)


def test_override_is_checked_not_trusted() -> None:
    with pytest.raises(PlanError, match="tp override 4 fails divisibility: 10 KV heads"):
        plan_tp(make_scenario(model="phi-3-medium-4k", gpu_count=4, tp=4))
    with pytest.raises(PlanError, match="not usable with 2 x h100-sxm-80gb"):
        plan_tp(make_scenario(gpu_count=2, tp=4))
    plan = plan_tp(make_scenario(gpu_count=8, tp=2))
    assert (plan.tp_degree, plan.replicas, plan.reason) == (2, 4, "tp override 2 checked and passes")
    assert [(r.tp_degree, r.check) for r in plan.rejected] == [(1, "override")]


def test_rate_load_uses_littles_law() -> None:
    low = plan_tp(make_scenario(rate_rps=1, input_tokens=1000, output_tokens=500))
    high = plan_tp(make_scenario(rate_rps=200, input_tokens=1000, output_tokens=500))
    assert 1 <= low.working_set_seqs < high.working_set_seqs <= 256


@pytest.mark.parametrize(("gpus", "tp", "replicas"), [(1, 1, 1), (3, 1, 2), (6, 2, 2), (7, 4, 1), (8, 8, 1), (8, 1, 8), (2, 4, 0)])
def test_replicas_for(gpus: int, tp: int, replicas: int) -> None:
    assert replicas_for(gpus, tp) == replicas


def test_request_longer_than_context_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match=r"max input \+ max output = 5000 tokens\) exceeds max_model_len 4096"):
        plan_tp(make_scenario(max_model_len=4096, input_tokens=4000, output_tokens=1000))
