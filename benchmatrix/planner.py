"""Tensor-parallel planner: the smallest TP degree that serves a scenario, and why smaller ones fail.

Pure functions of the scenario (no clock, file or socket). For TP in 1, 2, 4, 8 (not above the
GPU count nor the GPUs of one node) the checks run in order and the first failure rejects the
degree:

1. ``divisibility``: attention heads % TP == 0; KV heads % TP == 0 or TP % KV heads == 0
   (replicated KV); int4 group-128 / fp8 block-128 on the sharded MLP width.
2. ``weights``: weight bytes / TP + runtime reserve within gpu_memory_utilization x usable memory.
3. ``kv_one_sequence``: the KV cache left holds one max_model_len sequence.
4. ``kv_working_set``: it holds the per-replica working set (concurrency x (max input + max output)).

Units: bytes internally, GiB (2**30) in :class:`TpPlan`. Formulas are in docs/planner.md.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmatrix.catalog import GpuSpec, ModelSpec
from benchmatrix.distributions import mean_of, upper_bound
from benchmatrix.errors import PlanError
from benchmatrix.spec import EngineOptions, LoadPoint, Scenario

GIB = 2**30
TP_DEGREES: tuple[int, ...] = (1, 2, 4, 8)
REPLICA_COUNTS: tuple[int, ...] = (1, 2, 4, 8)
RUNTIME_BASE_GIB = 1.0          # CUDA context, CUDA graphs, allocator slack (per GPU)
COMM_BUFFER_GIB = 0.25          # NCCL/custom all-reduce buffers when TP > 1
DEFAULT_BATCHED_TOKENS = 8192   # planning value when max_num_batched_tokens is unset
QUANT_GROUP = 128               # int4 AWQ/GPTQ group size and fp8 block size
TIGHT_KV_SHARE = 0.15           # KV under this share of the engine budget = tight
TIGHT_WORKING_SET_SHARE = 0.9   # working set over this share of KV capacity = tight
DECODE_BW_EFFICIENCY = 0.7      # share of HBM bandwidth a decode step reaches
LITTLE_SLOWDOWN = 2.0           # batching slowdown applied to the single-stream latency estimate

Check = Literal["divisibility", "weights", "kv_one_sequence", "kv_working_set", "override"]

# Bytes per parameter of quantized linear layers (scales included); embeddings stay 16-bit.
LINEAR_BYTES_PER_PARAM: dict[str, float] = {
    "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp8-block": 1.0 + 4 / (128 * 128), "int8": 1.0,
    "int4-awq": (4 + (16 + 4) / 128) / 8, "int4-gptq": (4 + (16 + 4) / 128) / 8,
    "mxfp4": 4.25 / 8, "nvfp4": 4.5 / 8,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RejectedDegree(_Strict):
    """A TP degree smaller than the chosen one and the first check it failed."""

    tp_degree: int
    check: Check
    reason: str


class TpPlan(_Strict):
    """The chosen layout for one scenario (per-GPU figures are for one rank of one replica)."""

    tp_degree: int = Field(description="Tensor-parallel degree of each replica.")
    replicas: int = Field(description="Replicas behind the balancer (1, 2, 4 or 8).")
    gpus_used: int = Field(description="replicas x tp_degree.")
    weights_gib_per_gpu: float
    reserve_gib_per_gpu: float = Field(description="Activations + runtime held back from the KV cache.")
    budget_gib_per_gpu: float = Field(description="gpu_memory_utilization x usable memory.")
    kv_gib_per_gpu: float = Field(description="What is left for the KV cache.")
    kv_tokens_per_replica: int = Field(description="KV capacity in tokens at the scenario's sequence length.")
    max_concurrent_seqs: int = Field(description="Sequences of that length that fit at once, capped by max_num_seqs.")
    working_set_seqs: int = Field(description="Sequences one replica must hold for the target load.")
    seq_len_tokens: int = Field(description="max input + max output tokens.")
    is_tight: bool = Field(description="KV under 15% of the budget, or the working set over 90% of the KV cache.")
    reason: str
    rejected: tuple[RejectedDegree, ...] = ()


class _Eval(_Strict):
    """Internal: one TP degree's numbers and the first failed check (None = passes)."""

    tp: int
    replicas: int
    weights_b: float
    reserve_b: float
    budget_b: float
    kv_b: float
    seq_bytes: float
    max_len_bytes: float
    working_set: int
    failed: Check | None = None
    why: str = ""


# ----------------------------------------------------------------------------- model arithmetic


def weight_bytes(model: ModelSpec, dtype: str) -> float:
    """Bytes of all weights in ``dtype`` (mxfp4 on MoE: experts 4.25 bit, the rest bf16)."""
    total = model.total_params_b * 1e9
    embed = min(model.embedding_params_b * 1e9, total)
    if dtype in ("bf16", "fp16"):
        return total * 2.0
    if dtype == "mxfp4" and model.expert_params_b > 0:
        experts = min(model.expert_params_b * 1e9, total)
        return experts * LINEAR_BYTES_PER_PARAM["mxfp4"] + (total - experts) * 2.0
    return embed * 2.0 + (total - embed) * LINEAR_BYTES_PER_PARAM[dtype]


def kv_element_bytes(options: EngineOptions) -> int:
    """Bytes per cached value: 1 for an fp8 KV cache, else 2."""
    return 1 if options.kv_cache_dtype == "fp8" else 2


def kv_bytes_per_token_layer(model: ModelSpec, tp: int, elem_bytes: int) -> float:
    """KV bytes per token per layer on one GPU: GQA/MHA heads split by TP (at least one head
    per rank when TP > KV heads), MLA latent not split."""
    if model.attention == "mla":
        return float(model.kv_values_per_token_per_layer * elem_bytes)
    heads_per_gpu = math.ceil(model.num_kv_heads / tp)
    return float(2 * heads_per_gpu * model.head_dim * elem_bytes)


def sequence_kv_bytes(model: ModelSpec, tokens: int, tp: int, elem_bytes: int) -> float:
    """KV bytes one sequence of ``tokens`` takes on one GPU (sliding layers capped at the window)."""
    per_layer = kv_bytes_per_token_layer(model, tp, elem_bytes)
    sliding = model.num_sliding_layers
    window_tokens = min(tokens, model.sliding_window or tokens)
    return per_layer * ((model.num_layers - sliding) * tokens + sliding * window_tokens)


def reserve_bytes(model: ModelSpec, options: EngineOptions, tp: int) -> float:
    """Activation peak + runtime per GPU: a profile-run estimate (see docs/planner.md)."""
    tokens = options.max_num_batched_tokens or DEFAULT_BATCHED_TOKENS
    mlp = model.intermediate_size or 0
    if model.arch == "moe":
        mlp = max(mlp, (model.moe_intermediate_size or 0) * (model.experts_per_token or 1))
    activations = tokens * 2 * (4 * model.hidden_size + 2 * mlp / tp)
    logits = min(tokens, options.max_num_seqs) * model.vocab_size * 4
    runtime = (RUNTIME_BASE_GIB + (COMM_BUFFER_GIB if tp > 1 else 0.0)) * GIB
    return activations + logits + runtime


# ----------------------------------------------------------------------------- checks


def divisibility_problem(model: ModelSpec, dtype: str, tp: int) -> str | None:
    """Why ``tp`` cannot shard this model in ``dtype`` (None when it can)."""
    heads, kv = model.num_attention_heads, model.num_kv_heads
    if heads % tp:
        return f"{heads} attention heads are not divisible by TP{tp}"
    if model.attention != "mla" and kv % tp and tp % kv:
        return f"{kv} KV heads: neither divisible by TP{tp} nor a divisor of it"
    return _quant_problem(model, dtype, tp)


def _quant_problem(model: ModelSpec, dtype: str, tp: int) -> str | None:
    if dtype in ("int4-awq", "int4-gptq"):
        widths = {"intermediate_size": model.intermediate_size, "moe_intermediate_size": model.moe_intermediate_size}
        label = f"{dtype} group {QUANT_GROUP}"
    elif dtype == "fp8-block":
        widths = {"moe_intermediate_size": model.moe_intermediate_size}
        label = f"fp8 block {QUANT_GROUP}"
    else:
        return None
    for name, width in widths.items():
        if width and (width % tp or (width // tp) % QUANT_GROUP):
            return f"{label}: {name} {width} / TP{tp} = {width / tp:g} is not a multiple of {QUANT_GROUP}"
    return None


def replicas_for(gpu_count: int, tp: int) -> int:
    """Largest of 1, 2, 4, 8 replicas with replicas x tp <= gpu_count (0 if tp > gpu_count)."""
    fits = [r for r in REPLICA_COUNTS if r * tp <= gpu_count]
    return max(fits) if fits else 0


def seq_len_tokens(load: LoadPoint) -> int:
    """Longest sequence a request can reach: max input + max output tokens."""
    return upper_bound(load.input_tokens) + upper_bound(load.output_tokens)


def working_set_seqs(scenario: Scenario, replicas: int, weights_per_gpu_b: float) -> int:
    """Sequences one replica holds at once: concurrency / replicas, or Little's law for rates."""
    load, options = scenario.load, scenario.model.engine_options
    if load.concurrency is not None:
        return min(options.max_num_seqs, math.ceil(load.concurrency / replicas))
    rate = (load.rate_rps or 0.0) / replicas
    return min(options.max_num_seqs, max(1, math.ceil(rate * estimated_latency_s(scenario, weights_per_gpu_b))))


def estimated_latency_s(scenario: Scenario, weights_per_gpu_b: float) -> float:
    """Rough end-to-end latency for Little's law: mean output tokens x memory-bound decode step,
    times a batching slowdown. Only active weights are read per step (MoE)."""
    model, gpu = scenario.model_spec, scenario.gpu
    active_share = model.active_params_b / model.total_params_b
    step_s = weights_per_gpu_b * active_share / (gpu.hbm_bandwidth_tbps * 1e12 * DECODE_BW_EFFICIENCY)
    return mean_of(scenario.load.output_tokens) * step_s * LITTLE_SLOWDOWN


def evaluate(scenario: Scenario, tp: int) -> _Eval:
    """All numbers for one TP degree and the first check it fails."""
    model, gpu, entry = scenario.model_spec, scenario.gpu, scenario.model
    options, dtype = entry.engine_options, str(entry.dtype)
    elem = kv_element_bytes(options)
    replicas = replicas_for(scenario.hardware.gpu_count, tp)
    weights = weight_bytes(model, dtype) / tp
    reserve = reserve_bytes(model, options, tp)
    budget = gpu.memory_gib * GIB * options.gpu_memory_utilization
    seq_len = seq_len_tokens(scenario.load)
    numbers = _Eval(
        tp=tp, replicas=replicas, weights_b=weights, reserve_b=reserve, budget_b=budget,
        kv_b=budget - weights - reserve, seq_bytes=sequence_kv_bytes(model, seq_len, tp, elem),
        max_len_bytes=sequence_kv_bytes(model, int(entry.max_model_len or 0), tp, elem),
        working_set=working_set_seqs(scenario, replicas, weights),
    )
    failed, why = _first_failure(scenario, numbers)
    return numbers.model_copy(update={"failed": failed, "why": why})


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def _first_failure(scenario: Scenario, n: _Eval) -> tuple[Check | None, str]:
    problem = divisibility_problem(scenario.model_spec, str(scenario.model.dtype), n.tp)
    if problem:
        return "divisibility", problem
    if n.kv_b <= 0:
        return "weights", (
            f"weights {_gib(n.weights_b)} + reserve {_gib(n.reserve_b)} per GPU exceed the budget "
            f"{_gib(n.budget_b)} by {_gib(-n.kv_b)}"
        )
    if n.max_len_bytes > n.kv_b:
        return "kv_one_sequence", (
            f"one {scenario.model.max_model_len}-token sequence needs {_gib(n.max_len_bytes)} KV per GPU, "
            f"{_gib(n.kv_b)} left ({_gib(n.max_len_bytes - n.kv_b)} short)"
        )
    need = n.working_set * n.seq_bytes
    if need > n.kv_b:
        return "kv_working_set", (
            f"{n.working_set} sequences per replica x {seq_len_tokens(scenario.load)} tokens need {_gib(need)} KV per GPU, "
            f"{_gib(n.kv_b)} left ({_gib(need - n.kv_b)} short)"
        )
    return None, ""


# ----------------------------------------------------------------------------- plan


def candidate_degrees(scenario: Scenario) -> tuple[int, ...]:
    """TP degrees to try: 1, 2, 4, 8 up to the GPU count and the GPUs of one node."""
    limit = min(scenario.hardware.gpu_count, scenario.gpu.gpus_per_node)
    return tuple(t for t in TP_DEGREES if t <= limit)


def plan_tp(scenario: Scenario) -> TpPlan:
    """The smallest passing TP degree (or the checked override); PlanError when none fits."""
    _check_context(scenario)
    degrees = candidate_degrees(scenario)
    if scenario.tp is not None:
        return _plan_override(scenario, degrees)
    rejected: list[RejectedDegree] = []
    evals: list[_Eval] = []
    for tp in degrees:
        result = evaluate(scenario, tp)
        if result.failed is None:
            return _to_plan(scenario, result, rejected, f"smallest TP that passes all checks{_after(rejected)}")
        evals.append(result)
        rejected.append(RejectedDegree(tp_degree=tp, check=result.failed, reason=result.why))
    raise PlanError(no_fit_message(scenario, evals))


def _check_context(scenario: Scenario) -> None:
    """The longest request must fit the context, whatever the TP (engines reject it with HTTP 400)."""
    longest, limit = seq_len_tokens(scenario.load), int(scenario.model.max_model_len or 0)
    if longest > limit:
        raise PlanError(
            f"{scenario.name}: the longest request (max input + max output = {longest} tokens) exceeds "
            f"max_model_len {limit}: raise max_model_len (model allows {scenario.model_spec.max_position_embeddings}) "
            "or lower the token distributions' max"
        )


def _after(rejected: list[RejectedDegree]) -> str:
    if not rejected:
        return ""
    return "; " + "; ".join(f"TP{r.tp_degree} fails {r.check}" for r in rejected)


def _plan_override(scenario: Scenario, degrees: tuple[int, ...]) -> TpPlan:
    tp = int(scenario.tp or 0)
    if tp not in degrees:
        raise PlanError(
            f"{scenario.name}: tp override {tp} is not usable with {scenario.hardware.gpu_count} x "
            f"{scenario.gpu.key} (max TP here is {max(degrees)}; TP stays inside one node)"
        )
    result = evaluate(scenario, tp)
    if result.failed is not None:
        raise PlanError(f"{scenario.name}: tp override {tp} fails {result.failed}: {result.why}")
    rejected = [_override_rejection(scenario, t, tp) for t in degrees if t < tp]
    return _to_plan(scenario, result, rejected, f"tp override {tp} checked and passes")


def _override_rejection(scenario: Scenario, tp: int, pinned: int) -> RejectedDegree:
    result = evaluate(scenario, tp)
    if result.failed is not None:
        return RejectedDegree(tp_degree=tp, check=result.failed, reason=result.why)
    return RejectedDegree(tp_degree=tp, check="override", reason=f"would pass, but the matrix pins tp={pinned}")


def _to_plan(scenario: Scenario, n: _Eval, rejected: list[RejectedDegree], reason: str) -> TpPlan:
    capacity_seqs = int(n.kv_b // n.seq_bytes) if n.seq_bytes else 0
    seq_len = seq_len_tokens(scenario.load)
    max_seqs = min(scenario.model.engine_options.max_num_seqs, capacity_seqs)
    tight = n.kv_b < TIGHT_KV_SHARE * n.budget_b or n.working_set > TIGHT_WORKING_SET_SHARE * capacity_seqs
    return TpPlan(
        tp_degree=n.tp, replicas=n.replicas, gpus_used=n.tp * n.replicas,
        weights_gib_per_gpu=round(n.weights_b / GIB, 3), reserve_gib_per_gpu=round(n.reserve_b / GIB, 3),
        budget_gib_per_gpu=round(n.budget_b / GIB, 3), kv_gib_per_gpu=round(n.kv_b / GIB, 3),
        kv_tokens_per_replica=int(n.kv_b / n.seq_bytes * seq_len) if n.seq_bytes else 0,
        max_concurrent_seqs=max_seqs, working_set_seqs=n.working_set, seq_len_tokens=seq_len,
        is_tight=tight, reason=reason, rejected=tuple(rejected),
    )


# ----------------------------------------------------------------------------- no-fit advice


def no_fit_message(scenario: Scenario, evals: list[_Eval]) -> str:
    """'<scenario>: no TP fits ...: TP1 <why>; TP2 <why>. Would fit: <suggestions>'."""
    entry = scenario.model
    head = (
        f"{scenario.name}: no TP degree fits {scenario.model_spec.key} {entry.dtype} "
        f"(max_model_len {entry.max_model_len}) on {scenario.hardware.gpu_count} x {scenario.gpu.key}"
    )
    *smaller, last = evals
    tried = "".join(f"TP{e.tp} fails {e.failed}; " for e in smaller) + f"TP{last.tp} fails {last.failed}: {last.why}"
    hints = _suggestions(scenario, evals)
    return f"{head}: {tried}. Would fit: {'; '.join(hints)}" if hints else f"{head}: {tried}"


def _suggestions(scenario: Scenario, evals: list[_Eval]) -> list[str]:
    hints: list[str] = []
    last = evals[-1]
    memory = [e for e in evals if e.failed != "divisibility"]
    if not memory:
        return [f"a dtype without group/block constraints, or a TP in {_valid_degrees(scenario)}"]
    best = memory[-1]
    if best.failed == "weights":
        hints += _weight_hints(scenario, best)
    elif best.failed in ("kv_one_sequence", "kv_working_set"):
        hints += _kv_hints(scenario, best)
    blocked = [e for e in evals if e.failed == "divisibility"]
    if blocked:
        degrees = ", ".join(f"TP{e.tp}" for e in blocked)
        hints.append(f"note {degrees} blocked by divisibility ({blocked[-1].why})")
    return hints


def _valid_degrees(scenario: Scenario) -> str:
    ok = [t for t in TP_DEGREES if divisibility_problem(scenario.model_spec, str(scenario.model.dtype), t) is None]
    return ", ".join(str(t) for t in ok) or "none"


def _weight_hints(scenario: Scenario, best: _Eval) -> list[str]:
    model, dtype = scenario.model_spec, str(scenario.model.dtype)
    total = weight_bytes(model, dtype)
    room = best.budget_b - best.reserve_b
    gpus = math.ceil(total / room) if room > 0 else 0
    hints = [f"weights {_gib(total)} need >= {gpus} x {scenario.gpu.key} ({_gib(room)} each after reserve)"]
    if gpus > scenario.gpu.gpus_per_node:
        nodes = math.ceil(gpus / scenario.gpu.gpus_per_node)
        hints.append(f"pipeline parallel across {nodes} nodes (TP{scenario.gpu.gpus_per_node} x PP{nodes})")
    elif gpus > scenario.hardware.gpu_count:
        hints.append(f"more GPUs: gpu_count >= {_next_degree(gpus)}")
    if dtype in ("bf16", "fp16"):
        fp8_per_gpu = weight_bytes(model, "fp8") / best.tp
        verdict = "fits" if fp8_per_gpu < room else "still too big"
        hints.append(f"dtype fp8: {_gib(fp8_per_gpu)} per GPU at TP{best.tp} ({verdict})")
    return hints


def _next_degree(gpus: int) -> int:
    return next((t for t in TP_DEGREES if t >= gpus), gpus)


def _kv_hints(scenario: Scenario, best: _Eval) -> list[str]:
    model, elem = scenario.model_spec, kv_element_bytes(scenario.model.engine_options)
    per_token = sequence_kv_bytes(model, 1, best.tp, elem)
    hints: list[str] = []
    if best.failed == "kv_one_sequence":
        fit_len = int(best.kv_b // per_token) if per_token else 0
        hints.append(f"max_model_len <= {fit_len} tokens at TP{best.tp}")
    else:
        fit_seqs = int(best.kv_b // best.seq_bytes) if best.seq_bytes else 0
        hints.append(f"<= {fit_seqs} concurrent sequences per replica at TP{best.tp} (fewer tokens or lower concurrency)")
    if elem == 2:
        hints.append("kv_cache_dtype fp8 (halves KV bytes)")
    hints.append("more GPUs per replica")
    return hints


__all__ = [
    "GIB",
    "RejectedDegree",
    "TP_DEGREES",
    "TpPlan",
    "candidate_degrees",
    "divisibility_problem",
    "evaluate",
    "kv_bytes_per_token_layer",
    "no_fit_message",
    "plan_tp",
    "replicas_for",
    "reserve_bytes",
    "sequence_kv_bytes",
    "weight_bytes",
]
