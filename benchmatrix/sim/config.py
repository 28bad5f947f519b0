"""The simulated engine's configuration: one replica of (GPU type x TP, model, dtype, engine options).

Self-contained plain fields (no import of ``benchmatrix.spec``/``catalog``): the pipeline copies
the catalog facts and the planner's KV capacity in. Units are in the field names and descriptions.
The efficiency defaults are calibrated against published vLLM / MLPerf figures by
``bench/sim_calibration.py`` (see docs/simulator.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Calibrated defaults (bench/sim_calibration.py prints simulated vs published figures).
DEFAULT_HBM_EFFICIENCY = 0.85
DEFAULT_COMPUTE_EFFICIENCY = 0.70
DEFAULT_INTERCONNECT_EFFICIENCY = 0.70
DEFAULT_ALLREDUCE_HOP_LATENCY_US = 2.0
DEFAULT_STEP_OVERHEAD_MS = 0.85
DEFAULT_PER_SEQ_OVERHEAD_US = 12.0
DEFAULT_REQUEST_OVERHEAD_MS = 6.0


class SimEngineConfig(BaseModel):
    """Everything one simulated replica needs; JSON-serialisable, passed with ``--config FILE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # identity
    replica_id: str = Field(description="Echoed in every response header x-benchmatrix-replica.")
    served_model_name: str = Field(description="Model id in /v1/models and in response bodies.")
    tp_degree: int = Field(ge=1, le=64, description="Tensor-parallel degree = GPUs per replica.")

    # GPU facts (one GPU)
    gpu_name: str = Field(description="Display name, e.g. 'H100 SXM5 80GB'.")
    memory_gib: float = Field(gt=0, description="Usable memory per GPU, GiB (informational).")
    hbm_bandwidth_tbps: float = Field(gt=0, description="HBM bandwidth per GPU, TB/s (1e12 B/s).")
    bf16_tflops: float = Field(gt=0, description="Dense BF16 tensor TFLOPS per GPU (1e12 FLOP/s).")
    fp8_tflops: float | None = Field(
        default=None, gt=0, description="Dense FP8 TFLOPS per GPU; None when the GPU has no FP8."
    )
    interconnect_gbps: float = Field(
        gt=0, description="Scale-up interconnect per GPU, bidirectional GB/s (1e9 B/s)."
    )

    # model facts (whole model)
    total_params_b: float = Field(gt=0, description="Total parameters, billions.")
    active_params_b: float = Field(gt=0, description="Parameters active per token, billions.")
    num_layers: int = Field(ge=1, description="Transformer layers.")
    hidden_size: int = Field(ge=1, description="Residual stream width (all-reduce payload / token).")
    kv_bytes_per_token: int = Field(
        ge=1, description="KV-cache bytes per token, all layers, whole model, in the cache dtype."
    )
    kv_split_by_tp: bool = Field(
        default=True, description="KV heads split across TP ranks (False for MLA: replicated)."
    )
    num_experts: int | None = Field(
        default=None, ge=1, description="Routed experts per MoE layer; None for dense models."
    )
    experts_per_token: int | None = Field(
        default=None, ge=1, description="Routed experts each token uses (top-k); None if dense."
    )
    weight_bytes_per_param: float = Field(
        default=2.0, gt=0, description="Bytes per weight: 2 bf16, 1 fp8/int8, 0.5 int4/fp4."
    )

    # engine options and plan
    kv_capacity_tokens: int = Field(ge=1, description="KV-cache capacity of the replica, tokens.")
    max_num_seqs: int = Field(default=256, ge=1, description="Running-batch cap, sequences.")
    max_num_batched_tokens: int = Field(
        default=8192, ge=1, description="Token budget per scheduler step (chunked prefill)."
    )
    max_model_len: int = Field(default=8192, ge=2, description="Max prompt + output tokens.")

    # step-time model (calibrated)
    hbm_efficiency: float = Field(
        default=DEFAULT_HBM_EFFICIENCY, gt=0, le=1, description="Achieved / peak HBM bandwidth."
    )
    compute_efficiency: float = Field(
        default=DEFAULT_COMPUTE_EFFICIENCY, gt=0, le=1, description="Achieved / peak TFLOPS."
    )
    interconnect_efficiency: float = Field(
        default=DEFAULT_INTERCONNECT_EFFICIENCY, gt=0, le=1,
        description="Achieved / peak one-direction interconnect bandwidth in all-reduce.",
    )
    allreduce_hop_latency_us: float = Field(
        default=DEFAULT_ALLREDUCE_HOP_LATENCY_US, ge=0, description="Latency per ring hop, us."
    )
    step_overhead_ms: float = Field(
        default=DEFAULT_STEP_OVERHEAD_MS, ge=0, description="Fixed cost per step (launch, CPU), ms."
    )
    per_seq_overhead_us: float = Field(
        default=DEFAULT_PER_SEQ_OVERHEAD_US, ge=0,
        description="CPU cost per scheduled sequence per step (sampling, detokenise), us.",
    )
    request_overhead_ms: float = Field(
        default=DEFAULT_REQUEST_OVERHEAD_MS, ge=0,
        description="API front-end delay before a request reaches the scheduler (parse, "
        "tokenise, hand-off), ms; part of TTFT.",
    )

    # simulation behaviour
    time_scale: float = Field(
        default=1.0, ge=0,
        description="Multiplies every sleep: 1.0 real time, 0.1 ten times faster, 0 no delay.",
    )
    tokens_per_event: int = Field(default=1, ge=1, le=4096, description="Tokens per SSE event.")
    seed: int = Field(default=0, description="Seeds natural stop lengths and generated text.")
    natural_output_median_tokens: int = Field(
        default=200, ge=1, description="Median natural output length without ignore_eos, tokens."
    )
    natural_output_sigma: float = Field(
        default=0.8, ge=0, description="Log-normal sigma of natural output lengths."
    )
    reasoning_fraction: float = Field(
        default=0.0, ge=0, le=1,
        description="Chat only: share of each output streamed first as delta.reasoning_content "
        "(a reasoning model); the rest as delta.content.",
    )
    image_patch_px: int = Field(default=14, ge=1, description="Vision patch edge, pixels.")
    audio_tokens_per_s: float = Field(
        default=50.0, gt=0, description="Audio encoder tokens per second of audio (Whisper: 50)."
    )
    transcript_tokens_per_s: float = Field(
        default=3.0, gt=0, description="Transcript tokens generated per second of audio."
    )
    max_request_records: int = Field(
        default=1_000_000, ge=1, description="Ground-truth records kept for /sim/requests."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> SimEngineConfig:
        if self.active_params_b > self.total_params_b:
            raise ValueError("active_params_b must be <= total_params_b")
        if (self.num_experts is None) != (self.experts_per_token is None):
            raise ValueError("set both num_experts and experts_per_token, or neither")
        if self.num_experts and self.experts_per_token and self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token must be <= num_experts")
        return self

    @property
    def uses_fp8_compute(self) -> bool:
        """True when weights are <= 1 byte and the GPU has FP8 tensor cores."""
        return self.weight_bytes_per_param <= 1.0 and self.fp8_tflops is not None
