"""The roofline step-time model: pure functions of (config, step shape) -> seconds.

One scheduler step runs every scheduled token of the batch through the model once:

- memory time = (weights touched / TP + KV read [/ TP when KV heads are split]) / (HBM B/s x eff)
  where MoE weights touched = shared + routed experts x P(expert used by >= 1 token of the step);
- compute time = (2 x active params x tokens + 4 x layers x hidden x attention pairs) / TP
  / (TFLOPS x eff), with FP8 TFLOPS when weights are <= 1 byte and the GPU has FP8;
- all-reduce time (TP > 1) = 2 per layer x ring [2(TP-1)/TP x bytes / (one-way B/s x eff)
  + 2(TP-1) hops x hop latency], bytes = tokens x hidden x 2 (bf16 activations);
- step time = max(memory, compute) + all-reduce + step overhead + per-sequence overhead x seqs.

No clock, no I/O: tests check exact numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmatrix.sim.config import SimEngineConfig

ACTIVATION_BYTES = 2  # bf16 activations in the all-reduce
ALLREDUCES_PER_LAYER = 2  # after attention and after the MLP


@dataclass(frozen=True, slots=True)
class StepShape:
    """What one step computes.

    prefill_tokens: prompt tokens computed this step (all chunks together).
    decode_seqs: sequences generating one token this step.
    kv_read_tokens: context tokens whose KV the step's attention reads (sum over sequences).
    attention_pairs: query x key pairs (sum over computed tokens of their causal context length).
    num_seqs: sequences scheduled (prefilling + decoding).
    """

    prefill_tokens: int
    decode_seqs: int
    kv_read_tokens: int
    attention_pairs: int
    num_seqs: int

    @property
    def tokens(self) -> int:
        """Tokens that pass through the weights this step."""
        return self.prefill_tokens + self.decode_seqs


@dataclass(frozen=True, slots=True)
class StepTime:
    """Breakdown of one step, seconds."""

    memory_s: float
    compute_s: float
    allreduce_s: float
    overhead_s: float

    @property
    def total_s(self) -> float:
        """max(memory, compute) + all-reduce + overhead, seconds."""
        return max(self.memory_s, self.compute_s) + self.allreduce_s + self.overhead_s


def touched_params_b(cfg: SimEngineConfig, tokens: int) -> float:
    """Billions of weights read in a step of ``tokens`` tokens (MoE: experts actually used)."""
    if cfg.total_params_b == cfg.active_params_b or tokens <= 0:
        return cfg.active_params_b if tokens > 0 else 0.0
    if cfg.num_experts is None or cfg.experts_per_token is None:
        return min(cfg.total_params_b, cfg.active_params_b * tokens)
    n, k = cfg.num_experts, cfg.experts_per_token
    if n == k:
        return cfg.total_params_b
    expert_b = (cfg.total_params_b - cfg.active_params_b) / (n - k)
    shared_b = cfg.active_params_b - k * expert_b
    used_fraction = 1.0 - (1.0 - k / n) ** tokens
    return shared_b + n * expert_b * used_fraction


def memory_time_s(cfg: SimEngineConfig, shape: StepShape) -> float:
    """HBM time: weights touched / TP plus the KV the attention reads, seconds."""
    weight_bytes = touched_params_b(cfg, shape.tokens) * 1e9 * cfg.weight_bytes_per_param
    kv_bytes = shape.kv_read_tokens * cfg.kv_bytes_per_token
    kv_per_gpu = kv_bytes / cfg.tp_degree if cfg.kv_split_by_tp else kv_bytes
    bytes_per_gpu = weight_bytes / cfg.tp_degree + kv_per_gpu
    return bytes_per_gpu / (cfg.hbm_bandwidth_tbps * 1e12 * cfg.hbm_efficiency)


def peak_tflops(cfg: SimEngineConfig) -> float:
    """Tensor TFLOPS per GPU used for this dtype."""
    if cfg.uses_fp8_compute and cfg.fp8_tflops is not None:
        return cfg.fp8_tflops
    return cfg.bf16_tflops


def compute_time_s(cfg: SimEngineConfig, shape: StepShape) -> float:
    """Tensor-core time: dense GEMMs (2 x active params x tokens) plus attention, seconds."""
    gemm_flops = 2.0 * cfg.active_params_b * 1e9 * shape.tokens
    attention_flops = 4.0 * cfg.num_layers * cfg.hidden_size * shape.attention_pairs
    flops_per_gpu = (gemm_flops + attention_flops) / cfg.tp_degree
    return flops_per_gpu / (peak_tflops(cfg) * 1e12 * cfg.compute_efficiency)


def allreduce_time_s(cfg: SimEngineConfig, tokens: int) -> float:
    """Ring all-reduces of the step (2 per layer); 0 at TP 1, seconds."""
    tp = cfg.tp_degree
    if tp == 1 or tokens <= 0:
        return 0.0
    payload_bytes = tokens * cfg.hidden_size * ACTIVATION_BYTES
    one_way_bps = cfg.interconnect_gbps / 2 * 1e9 * cfg.interconnect_efficiency
    transfer_s = 2 * (tp - 1) / tp * payload_bytes / one_way_bps
    latency_s = 2 * (tp - 1) * cfg.allreduce_hop_latency_us * 1e-6
    return ALLREDUCES_PER_LAYER * cfg.num_layers * (transfer_s + latency_s)


def overhead_s(cfg: SimEngineConfig, num_seqs: int) -> float:
    """Fixed per-step cost plus per-sequence CPU cost, seconds."""
    return cfg.step_overhead_ms * 1e-3 + cfg.per_seq_overhead_us * 1e-6 * num_seqs


def step_time(cfg: SimEngineConfig, shape: StepShape) -> StepTime:
    """The full breakdown of one step; ``.total_s`` is what the engine sleeps (x time_scale)."""
    if shape.tokens == 0:
        return StepTime(0.0, 0.0, 0.0, 0.0)
    return StepTime(
        memory_s=memory_time_s(cfg, shape),
        compute_s=compute_time_s(cfg, shape),
        allreduce_s=allreduce_time_s(cfg, shape.tokens),
        overhead_s=overhead_s(cfg, shape.num_seqs),
    )


def prefill_pairs(start_pos: int, num_tokens: int) -> int:
    """Causal attention pairs of a chunk of ``num_tokens`` starting after ``start_pos`` tokens."""
    return num_tokens * start_pos + num_tokens * (num_tokens + 1) // 2


def decode_shape(cfg: SimEngineConfig, batch: int, context_tokens: int) -> StepShape:
    """A pure-decode step: ``batch`` sequences each with ``context_tokens`` of context."""
    del cfg
    return StepShape(
        prefill_tokens=0,
        decode_seqs=batch,
        kv_read_tokens=batch * context_tokens,
        attention_pairs=batch * context_tokens,
        num_seqs=batch,
    )


def prefill_shape(cfg: SimEngineConfig, prompt_tokens: int) -> StepShape:
    """A one-sequence prefill of a whole prompt in one step (no prior context)."""
    del cfg
    return StepShape(
        prefill_tokens=prompt_tokens,
        decode_seqs=0,
        kv_read_tokens=prompt_tokens,
        attention_pairs=prefill_pairs(0, prompt_tokens),
        num_seqs=1,
    )
