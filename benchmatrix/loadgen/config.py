"""Typed configuration of one load run (:class:`LoadRunConfig`) and its media options.

The configuration says *what* to send (endpoint, modality, prompt source, lengths), *when*
(closed-loop ``concurrency`` or open-loop ``rate_rps`` with an arrival process, or a trace) and
*how* (timeout, workers, headers). It never holds a secret: ``api_key_env`` names an
environment variable that is read at send time and kept out of records and logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from benchmatrix.distributions import Distribution, Fixed, coerce_distribution

Endpoint = Literal["chat", "completions", "audio"]
Modality = Literal["text", "vision", "speech"]
Arrival = Literal["constant", "poisson", "gamma"]

_CoercedDistribution = Annotated[Distribution, BeforeValidator(coerce_distribution)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageOptions(_Strict):
    """Generated PNG images attached to vision chat requests (data URLs)."""

    count_min: int = Field(default=1, ge=0, description="Fewest images per request.")
    count_max: int = Field(default=1, ge=0, description="Most images per request.")
    width_min_px: int = Field(default=256, gt=0, description="Smallest image width in pixels.")
    width_max_px: int = Field(default=512, gt=0, description="Largest image width in pixels.")
    height_min_px: int = Field(default=256, gt=0, description="Smallest image height in pixels.")
    height_max_px: int = Field(default=512, gt=0, description="Largest image height in pixels.")
    pool_size: int = Field(
        default=32, gt=0, description="Distinct images generated before the run and reused."
    )

    @model_validator(mode="after")
    def _ordered(self) -> "ImageOptions":
        for lo, hi in (("count_min", "count_max"), ("width_min_px", "width_max_px"),
                       ("height_min_px", "height_max_px")):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo} must be <= {hi}")
        return self


class AudioOptions(_Strict):
    """Generated WAV clips sent to ``/v1/audio/transcriptions``."""

    duration_min_s: float = Field(default=2.0, gt=0, description="Shortest clip in seconds.")
    duration_max_s: float = Field(default=10.0, gt=0, description="Longest clip in seconds.")
    sample_rate_hz: int = Field(default=16_000, gt=0, description="Sample rate of the WAV.")
    language: str | None = Field(default=None, description="Optional language hint.")
    stream: bool = Field(default=True, description="Ask for a streamed (SSE) transcription.")
    pool_size: int = Field(default=16, gt=0, description="Distinct clips generated before the run.")

    @model_validator(mode="after")
    def _ordered(self) -> "AudioOptions":
        if self.duration_min_s > self.duration_max_s:
            raise ValueError("duration_min_s must be <= duration_max_s")
        return self


class RampUp(_Strict):
    """Linear ramp from zero to the target load over ``duration_s``."""

    duration_s: float = Field(gt=0, description="Seconds to reach the full rate / concurrency.")


class LoadRunConfig(_Strict):
    """Everything one load run needs. Exactly one of ``concurrency``, ``rate_rps`` or ``trace_path``."""

    base_url: str = Field(description="Server or balancer root, e.g. http://127.0.0.1:8080.")
    model: str = Field(description="Served model name sent in the request body.")
    endpoint: Endpoint = Field(default="chat", description="chat, completions or audio.")
    modality: Modality = Field(default="text", description="text, vision or speech.")
    input_tokens: _CoercedDistribution = Field(
        default_factory=lambda: Fixed(value=256),
        description="Prompt length distribution in tokens.",
    )
    output_tokens: _CoercedDistribution = Field(
        default_factory=lambda: Fixed(value=128),
        description="max_tokens distribution.",
    )
    concurrency: int | None = Field(default=None, gt=0, description="Closed loop: in-flight requests.")
    rate_rps: float | None = Field(default=None, gt=0, description="Open loop: mean requests/s.")
    arrival: Arrival = Field(default="poisson", description="Open-loop arrival process.")
    burstiness: float = Field(default=1.0, gt=0, description="Gamma shape; 1 = Poisson, <1 burstier.")
    max_concurrency: int | None = Field(
        default=None, gt=0, description="Open loop: cap on in-flight requests (lag is recorded)."
    )
    ramp_up: RampUp | None = Field(default=None, description="Optional linear ramp-up.")
    trace_path: Path | None = Field(
        default=None, description="JSONL trace replay: timestamp_s/timestamp (ms), input/output lengths."
    )
    num_requests: int = Field(default=100, gt=0, description="Requests in the schedule, warmup included.")
    duration_s: float | None = Field(
        default=None, gt=0, description="Stop dispatching after this many seconds (num_requests caps)."
    )
    warmup_requests: int = Field(default=0, ge=0, description="First N requests marked is_warmup.")
    ignore_eos: bool = Field(default=False, description="Ask the server to generate max_tokens.")
    temperature: float | None = Field(default=0.0, ge=0, description="Sampling temperature.")
    stop: list[str] | None = Field(default=None, description="Stop sequences.")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Merged into each body.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    api_key_env: str | None = Field(
        default=None, description="Name of the env var holding the API key (never the key)."
    )
    timeout_s: float = Field(default=600.0, gt=0, description="Whole-request timeout in seconds.")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="TCP connect timeout.")
    seed: int = Field(default=0, description="Seeds lengths, prompts, arrivals and media.")
    workers: int | None = Field(
        default=None, gt=0, description="Worker processes; None chooses from the load."
    )
    images: ImageOptions = Field(default_factory=ImageOptions, description="Vision options.")
    audio: AudioOptions = Field(default_factory=AudioOptions, description="Speech options.")
    output_path: Path = Field(default=Path("requests.parquet"), description="Parquet file written.")
    tokenizer: str = Field(
        default="words",
        description="'words' (whitespace words), 'server' (POST /tokenize) or a HF tokenizer dir.",
    )
    prompt_source: str = Field(
        default="synthetic", description="'synthetic' or a JSONL / ShareGPT JSON file path."
    )
    shared_prefix_ratio: float = Field(
        default=0.0, ge=0, le=1, description="Share of each prompt that is common to all prompts."
    )
    stream: bool = Field(default=True, description="Stream responses (SSE).")
    run_id: str | None = Field(default=None, description="Sent as x-benchmatrix-run header prefix.")
    batch_rows: int = Field(default=4096, gt=0, description="Rows per Parquet batch.")
    unique_prefix: bool = Field(default=True, description="Start each prompt with 'r<index>:'.")
    calibrate_urls: list[str] | None = Field(
        default=None,
        description="Simulated-engine replica URLs to join ground truth from (GET /sim/requests).",
    )

    @model_validator(mode="after")
    def _one_load_mode(self) -> "LoadRunConfig":
        modes = [self.concurrency is not None, self.rate_rps is not None, self.trace_path is not None]
        if sum(modes) != 1:
            raise ValueError("give exactly one of 'concurrency', 'rate_rps' or 'trace_path'")
        if self.warmup_requests >= self.num_requests:
            raise ValueError("warmup_requests must be < num_requests")
        if self.modality == "speech" and self.endpoint != "audio":
            raise ValueError("modality 'speech' needs endpoint 'audio'")
        if self.endpoint == "audio" and self.modality != "speech":
            raise ValueError("endpoint 'audio' needs modality 'speech'")
        if self.modality == "vision" and self.endpoint != "chat":
            raise ValueError("modality 'vision' needs endpoint 'chat'")
        return self

    @property
    def is_closed_loop(self) -> bool:
        """True when the load is a fixed number of in-flight requests."""
        return self.concurrency is not None

    def api_key(self) -> str | None:
        """Read the API key from the environment at send time (never stored)."""
        if self.api_key_env is None:
            return None
        return os.environ.get(self.api_key_env)


def default_workers(cfg: LoadRunConfig, cpu_count: int | None = None) -> int:
    """Worker processes chosen from the load: about one per 256 in flight or 1000 req/s."""
    cpus = max(1, cpu_count or os.cpu_count() or 1)
    if cfg.workers is not None:
        return cfg.workers
    if cfg.concurrency is not None:
        want = -(-cfg.concurrency // 256)
    elif cfg.rate_rps is not None:
        want = int(cfg.rate_rps // 1000) + 1
    else:
        want = 1
    return max(1, min(want, cpus, cfg.num_requests))
