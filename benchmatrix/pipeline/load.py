"""Run a scenario's load through NGINX and summarize its records."""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmatrix.balancer import Balancer
from benchmatrix.loadgen import LoadResult, LoadRunConfig
from benchmatrix.loadgen import run_load as _run_load
from benchmatrix.metrics import ScenarioSummary, as_slo, summarize
from benchmatrix.pipeline.deployment import Deployment
from benchmatrix.pipeline.launch import served_name
from benchmatrix.pipeline.run import scenario_dir
from benchmatrix.runs import RunContext
from benchmatrix.spec import Scenario


#: Rows per Parquet row group: large groups load into DuckDB far faster than small ones, and
#: memory stays flat (one group per worker in flight).
RECORD_BATCH_ROWS = 65_536


def load_config(ctx: RunContext, scenario: Scenario, base_url: str,
                calibrate_urls: list[str] | None = None) -> LoadRunConfig:
    """The load generator's config for one scenario, sent through ``base_url`` (NGINX).

    ``calibrate_urls``: the simulated replicas' own URLs; the generator joins each record with
    the server's timestamps and reports its own TTFT overhead.
    """
    load = scenario.load
    extra: dict[str, Any] = {}
    if load.images is not None:
        from benchmatrix.loadgen.config import ImageOptions

        widths = [s.width for s in load.images.sizes]
        heights = [s.height for s in load.images.sizes]
        extra["images"] = ImageOptions(
            count_min=load.images.images_per_request, count_max=load.images.images_per_request,
            width_min_px=min(widths), width_max_px=max(widths),
            height_min_px=min(heights), height_max_px=max(heights))
    if load.audio is not None:
        from benchmatrix.distributions import lower_bound, upper_bound
        from benchmatrix.loadgen.config import AudioOptions

        # the generator draws clip lengths uniformly between the distribution's bounds
        extra["audio"] = AudioOptions(
            duration_min_s=float(lower_bound(load.audio.seconds)),
            duration_max_s=float(upper_bound(load.audio.seconds)),
            sample_rate_hz=load.audio.sample_rate_hz)
    return LoadRunConfig(
        base_url=base_url, model=served_name(scenario), endpoint=load.endpoint,
        modality=load.modality, input_tokens=load.input_tokens, output_tokens=load.output_tokens,
        concurrency=load.concurrency, rate_rps=load.rate_rps, arrival=load.arrival,
        burstiness=load.burstiness,
        num_requests=(load.num_requests or 100) + load.warmup_requests,
        duration_s=load.duration_s, warmup_requests=load.warmup_requests,
        ignore_eos=load.ignore_eos, timeout_s=load.timeout_s, seed=load.seed,
        output_path=scenario_dir(ctx, scenario) / "requests.parquet",
        run_id=f"{ctx.run_id}-{scenario.scenario_id}", batch_rows=RECORD_BATCH_ROWS,
        calibrate_urls=calibrate_urls or None, **extra,
    )


def run_load(ctx: RunContext, scenario: Scenario, balancer: Balancer,
             deployment: Deployment | None = None) -> LoadResult:
    """Run the scenario's load through NGINX; per-request failures are data in the records.

    With simulated replicas the generator also calibrates itself against their timestamps.
    """
    sim = deployment is not None and scenario.hardware.backend == "sim"
    urls = [h.url for h in deployment.handles] if sim and deployment is not None else None
    return _run_load(load_config(ctx, scenario, balancer.url, calibrate_urls=urls))


def summarize_load(scenario: Scenario, load_result: LoadResult) -> ScenarioSummary:
    """Headline metrics of the scenario's records (warmup excluded, goodput under its SLO)."""
    return summarize(pd.read_parquet(load_result.records_path), as_slo(scenario.slo))


def load_line(result: LoadResult, url: str) -> str:
    """Log line: what the load run did."""
    bound = f"; client-bound: {result.client_bound_reason}" if result.is_client_bound else ""
    return (f"load through {url}: {result.num_ok} ok, {result.num_errors} error(s), "
            f"{result.num_warmup} warmup in {result.duration_s:.1f} s{bound}")
