"""Validate a scenario's records, and write runs and scenarios to the warehouse."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Literal

import pandas as pd

from benchmatrix.balancer import ReplicaShare
from benchmatrix.checks import CheckContext, CheckReport, validate_scenario
from benchmatrix.loadgen import LoadResult
from benchmatrix.pipeline.outcome import RunStatus, RunSummary, ScenarioOutcome, utc_now
from benchmatrix.planner import TpPlan
from benchmatrix.runs import RunContext, versions
from benchmatrix.spec import Scenario
from benchmatrix.replicas.engine_metrics import EngineCounts
from benchmatrix.warehouse import Warehouse
from benchmatrix.warehouse.records import CheckRow, ReplicaStat, RunRecord, ScenarioLoad

#: DuckDB has one writer; scenario threads of one flow process take turns.
WAREHOUSE_LOCK = threading.Lock()


def run_record(ctx: RunContext, status: RunStatus, ended_at: datetime | None = None) -> RunRecord:
    return RunRecord(
        run_id=ctx.run_id, matrix_name=ctx.matrix_name, matrix_path=ctx.matrix_path,
        git_revision=ctx.git_revision, host=ctx.host, versions=versions(),
        started_at=ctx.started_at, ended_at=ended_at, status=status,
    )


def open_run(ctx: RunContext) -> set[str]:
    """Record the run as ``running``; return ids of its scenarios already stored as passed."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    with WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        done = wh.passed_scenarios(ctx.run_id)
        wh.upsert_run(run_record(ctx, "running"))
    return done


def mark_interrupted(ctx: RunContext) -> None:
    """Record an interrupted run as ``partial`` (never as good); its passed scenarios stay, and
    ``benchmatrix run --run-id`` resumes it. Waits at most 10 s for a scenario thread's write."""
    if not WAREHOUSE_LOCK.acquire(timeout=10):
        return
    try:
        with Warehouse.open(ctx.warehouse_path) as wh:
            wh.upsert_run(run_record(ctx, "partial", ended_at=datetime.now(timezone.utc)))
    finally:
        WAREHOUSE_LOCK.release()


def close_run(ctx: RunContext, outcomes: list[ScenarioOutcome]) -> RunSummary:
    """Mark the run completed (every scenario passed), partial, or failed (none passed)."""
    passed = sum(o.status in ("passed", "skipped") for o in outcomes)
    status: Literal["completed", "partial", "failed"] = (
        "completed" if passed == len(outcomes) else ("partial" if passed else "failed"))
    with WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.upsert_run(run_record(ctx, status, ended_at=datetime.now(timezone.utc)))
        results = wh.run_query("scenario_summary", {"run_id": ctx.run_id})
    bad = [o.summary_line() for o in outcomes if o.status not in ("passed", "skipped")]
    message = f"{passed}/{len(outcomes)} scenarios passed" + (": " + "; ".join(bad) if bad else "")
    return RunSummary(run_id=ctx.run_id, status=status, message=message,
                      warehouse_path=ctx.warehouse_path, run_dir=ctx.run_dir,
                      outcomes=tuple(outcomes), results=results)


def validate(scenario: Scenario, tp_plan: TpPlan, load_result: LoadResult,
             shares: list[ReplicaShare]) -> CheckReport:
    """Run the data checks on the scenario's records."""
    requests = pd.read_parquet(load_result.records_path)
    text = scenario.load.modality == "text"
    ctx = CheckContext.from_scenario(
        scenario,
        replica_ids=[s.replica_id for s in shares],
        replica_served={s.replica_id: s.requests for s in shares},
        # prompts are exact in the sim's word tokenizer; images and audio add media tokens
        tokenizer_exact=scenario.hardware.backend == "sim" and text,
        # a transcription's length follows its audio, not max_tokens
        ignore_eos=scenario.load.ignore_eos and scenario.load.endpoint != "audio",
    )
    return validate_scenario(requests, ctx)


def scenario_load(outcome: ScenarioOutcome) -> ScenarioLoad:
    """The warehouse row set of one scenario outcome."""
    s, p, result = outcome.scenario, outcome.plan, outcome.load_result
    return ScenarioLoad(
        scenario_id=s.scenario_id, name=s.name, hardware_name=s.hardware.name or s.gpu.key,
        gpu_name=s.gpu.name, gpu_count=s.hardware.gpu_count,
        price_per_gpu_hour=s.hardware.price_per_gpu_hour, model_name=s.model.name,
        dtype=s.model.dtype or s.model_spec.native_dtype, engine=s.model.engine,
        load_profile=s.load.profile, modality=s.load.modality, concurrency=s.load.concurrency,
        rate_rps=s.load.rate_rps, tp_degree=p.tp_degree if p else None,
        replicas=p.replicas if p else None, plan=p.model_dump(mode="json") if p else {},
        spec=s.model_dump(mode="json"),
        status="failed" if outcome.status == "running" else outcome.status,
        error_message=outcome.error_message, started_at=outcome.started_at,
        ended_at=outcome.ended_at or utc_now(), t0=result.started_at if result else None,
        duration_s=result.duration_s if result else None,
        requests_path=result.records_path if result and result.records_path.exists() else None,
        replica_stats=[*(_replica_stat(share) for share in outcome.replica_stats),
                       *(_engine_stat(counts) for counts in outcome.engine_counts)],
        checks=[CheckRow(**r.model_dump()) for r in outcome.checks.results] if outcome.checks else [],
    )


def _engine_stat(counts: EngineCounts) -> ReplicaStat:
    """The engine's own count of one replica (source 'engine'; share computed in SQL)."""
    return ReplicaStat(replica_id=counts.replica_id, requests=counts.requests,
                       errors=counts.aborted, source="engine")


def _replica_stat(share: ReplicaShare) -> ReplicaStat:
    return ReplicaStat(replica_id=share.replica_id, requests=share.requests, share=share.share,
                       upstream_mean_ms=share.mean_upstream_response_time_ms,
                       upstream_p99_ms=share.p99_upstream_response_time_ms,
                       errors=share.errors, source="nginx")


def store_scenario(ctx: RunContext, outcome: ScenarioOutcome) -> None:
    """Replace this scenario's rows in the run, in one transaction (re-running never duplicates)."""
    load = scenario_load(outcome)
    with WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.load_scenarios(run_record(ctx, "running"), [load])
