"""One scenario's life, stage by stage, as plain functions the Prefect tasks call.

plan -> deploy replicas -> start NGINX -> run load -> stop NGINX -> collect replica stats ->
tear down -> validate -> store. Each stage takes typed inputs and returns typed results; the
outcome of a scenario is accumulated in an immutable :class:`ScenarioOutcome` so a failure at
any stage still leaves a record of everything before it (stored as ``failed``, never as good).

Processes started here are registered in this module so that an interrupt (Ctrl-C) can tear
everything down from the main thread (:func:`emergency_teardown`).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix import planner
from benchmatrix.balancer import Balancer, BalancerPlan, ReplicaShare, Upstream, parse_access_log, replica_shares
from benchmatrix.checks import CheckContext, CheckReport, validate_scenario
from benchmatrix.errors import BenchmatrixError, DeployError
from benchmatrix.expand import expand
from benchmatrix.loadgen import LoadResult, LoadRunConfig
from benchmatrix.loadgen import run_load as _run_load
from benchmatrix.planner import TpPlan
from benchmatrix.replicas import ReplicaHandle, ReplicaSpec, get_backend
from benchmatrix.replicas.base import CommandLaunch, SimLaunch
from benchmatrix.runs import RunContext, new_run_context as _new_run_context, versions
from benchmatrix.sim import SimEngineConfig
from benchmatrix.spec import Matrix, Scenario, load_matrix
from benchmatrix.warehouse import Warehouse
from benchmatrix.warehouse.records import CheckRow, ReplicaStat, RunRecord, ScenarioLoad

__all__ = [
    "RunContext", "ScenarioOutcome", "Deployment", "RunSummary", "load_matrix", "expand",
    "new_run_context", "plan", "plan_all", "deploy", "teardown", "start_balancer",
    "stop_balancer", "run_load", "collect_replica_stats", "validate", "store_scenario",
    "open_run", "close_run", "clean_orphans", "select", "lanes", "scenario_tags",
]

Status = Literal["running", "passed", "failed_validation", "failed", "skipped"]

# Live resources, so an interrupt can stop them from the main thread.
_LIVE_LOCK = threading.Lock()
_LIVE: dict[int, Any] = {}
# DuckDB has one writer; scenario threads of one flow process take turns.
_WAREHOUSE_LOCK = threading.Lock()


class PlannedScenario(BaseModel):
    """A scenario and its plan, or the reason it cannot be planned."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    scenario: Scenario
    plan: TpPlan | None = None
    error: str | None = None


class ScenarioOutcome(BaseModel):
    """Everything known about one scenario so far; each stage returns an updated copy."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    scenario: Scenario
    status: Status = "running"
    plan: TpPlan | None = None
    load_result: LoadResult | None = None
    replica_stats: tuple[ReplicaShare, ...] = ()
    checks: CheckReport | None = None
    error_message: str | None = None
    started_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    ended_at: datetime | None = None

    def summary_line(self) -> str:
        """One line for logs and flow-run state messages."""
        if self.status == "passed" and self.checks is not None:
            return f"{self.scenario.name}: passed ({self.checks.summary()})"
        if self.status == "failed_validation" and self.checks is not None:
            failed = ", ".join(r.check_name for r in self.checks.failed)
            return f"{self.scenario.name}: failed validation ({failed})"
        return f"{self.scenario.name}: {self.status}: {self.error_message or ''}".rstrip(": ")


class Deployment(BaseModel):
    """Running replicas of one scenario and the backend that owns them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any
    handles: list[ReplicaHandle]
    workdir: Path


class RunSummary(BaseModel):
    """How a matrix run ended."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    status: Literal["completed", "partial", "failed"]
    message: str
    warehouse_path: Path
    run_dir: Path
    outcomes: tuple[ScenarioOutcome, ...]
    results: pd.DataFrame | None = None


# ----------------------------------------------------------------------------- run level


def new_run_context(matrix: Matrix, matrix_path: str | Path, data_dir: str | Path | None = None,
                    run_id: str | None = None) -> RunContext:
    """The run's identity and paths (``run_id`` given: resume that run)."""
    return _new_run_context(matrix.name, matrix_path, Path(data_dir) if data_dir else None, run_id)


def run_record(ctx: RunContext, status: str, ended_at: datetime | None = None) -> RunRecord:
    return RunRecord(
        run_id=ctx.run_id, matrix_name=ctx.matrix_name, matrix_path=ctx.matrix_path,
        git_revision=ctx.git_revision, host=ctx.host, versions=versions(),
        started_at=ctx.started_at, ended_at=ended_at, status=status,
    )


def open_run(ctx: RunContext) -> set[str]:
    """Record the run as ``running``; return ids of its scenarios already stored as passed."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        done = wh.passed_scenarios(ctx.run_id)
        wh.upsert_run(run_record(ctx, "running"))
    return done


def close_run(ctx: RunContext, outcomes: list[ScenarioOutcome]) -> RunSummary:
    """Mark the run completed (every scenario passed), partial, or failed (none passed)."""
    passed = sum(o.status in ("passed", "skipped") for o in outcomes)
    status = "completed" if passed == len(outcomes) else ("partial" if passed else "failed")
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.upsert_run(run_record(ctx, status, ended_at=datetime.now(timezone.utc)))
        results = wh.run_query("scenario_summary", {"run_id": ctx.run_id})
    bad = [o.summary_line() for o in outcomes if o.status not in ("passed", "skipped")]
    message = f"{passed}/{len(outcomes)} scenarios passed" + (": " + "; ".join(bad) if bad else "")
    return RunSummary(run_id=ctx.run_id, status=status, message=message,
                      warehouse_path=ctx.warehouse_path, run_dir=ctx.run_dir,
                      outcomes=tuple(outcomes), results=results)


def clean_orphans(ctx: RunContext) -> list[str]:
    """Stop replica processes a killed run left behind (found by their pid-file registry)."""
    registry = ctx.data_dir / "registry"
    removed = get_backend("sim", registry_dir=registry).cleanup_orphans({})
    return [f"{removed} orphan replica process(es) stopped"] if removed else []


def select(scenarios: list[Scenario], only: list[str] | None = None,
           skip_ids: set[str] | None = None) -> list[Scenario]:
    """Scenarios to run: those matching ``only`` (substring of name or id), minus ``skip_ids``."""
    keep = [s for s in scenarios if not only or any(o in s.name or o == s.scenario_id for o in only)]
    return [s for s in keep if s.scenario_id not in (skip_ids or set())]


def lanes(scenarios: list[Scenario]) -> int:
    """Parallel lanes: one per hardware entry (same-hardware scenarios never overlap)."""
    return max(1, len({s.hardware.name for s in scenarios}))


def scenario_tags(scenario: Scenario) -> list[str]:
    """Tags that make the Prefect UI's run list read like the matrix."""
    load = scenario.load
    point = f"c{load.concurrency}" if load.concurrency else f"r{load.rate_rps:g}"
    return [f"hw:{scenario.hardware.name}", f"model:{scenario.model.name}",
            f"engine:{scenario.model.engine}", f"load:{load.profile}@{point}"]


# ----------------------------------------------------------------------------- planning


def plan(scenario: Scenario) -> TpPlan:
    """The scenario's TP plan (raises PlanError when nothing fits)."""
    return planner.plan_tp(scenario)


def plan_all(scenarios: list[Scenario]) -> list[PlannedScenario]:
    """Plan every scenario; one that cannot be planned is reported, not raised."""
    out: list[PlannedScenario] = []
    for scenario in scenarios:
        try:
            out.append(PlannedScenario(scenario=scenario, plan=planner.plan_tp(scenario)))
        except BenchmatrixError as exc:
            out.append(PlannedScenario(scenario=scenario, error=str(exc)))
    return out


# ----------------------------------------------------------------------------- deploy


def scenario_dir(ctx: RunContext, scenario: Scenario) -> Path:
    path = ctx.scenario_dir(scenario.name, scenario.scenario_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sim_engine_config(scenario: Scenario, tp_plan: TpPlan, replica_id: str) -> SimEngineConfig:
    """The simulated engine's config for one replica of ``scenario`` under ``tp_plan``."""
    gpu, model, options = scenario.gpu, scenario.model_spec, scenario.model.engine_options
    dtype = scenario.model.dtype or model.native_dtype
    elem = planner.kv_element_bytes(options)
    return SimEngineConfig(
        replica_id=replica_id, served_model_name=served_name(scenario), tp_degree=tp_plan.tp_degree,
        gpu_name=gpu.name, memory_gib=gpu.memory_gib, hbm_bandwidth_tbps=gpu.hbm_bandwidth_tbps,
        bf16_tflops=gpu.bf16_tflops, fp8_tflops=gpu.fp8_tflops, interconnect_gbps=gpu.interconnect_gbps,
        total_params_b=model.total_params_b, active_params_b=model.active_params_b,
        num_layers=model.num_layers, hidden_size=model.hidden_size,
        kv_bytes_per_token=max(1, round(planner.sequence_kv_bytes(model, 1, 1, elem))),
        kv_split_by_tp=model.attention != "mla", num_experts=model.num_experts,
        experts_per_token=model.experts_per_token,
        weight_bytes_per_param=planner.weight_bytes(model, dtype) / (model.total_params_b * 1e9),
        kv_capacity_tokens=max(1, tp_plan.kv_tokens_per_replica),
        max_num_seqs=options.max_num_seqs,
        max_num_batched_tokens=options.max_num_batched_tokens or 8192,
        max_model_len=scenario.model.max_model_len or model.max_position_embeddings,
        time_scale=scenario.sim.time_scale, tokens_per_event=scenario.sim.tokens_per_event,
        seed=scenario.sim.seed,
    )


def served_name(scenario: Scenario) -> str:
    return scenario.model.served_name or scenario.model.name


def replica_specs(scenario: Scenario, tp_plan: TpPlan) -> list[ReplicaSpec]:
    """One spec per planned replica; each pinned to its own ``tp_degree`` GPU ids."""
    specs = []
    for index in range(tp_plan.replicas):
        replica_id = f"r{index}"
        gpu_ids = tuple(range(index * tp_plan.tp_degree, (index + 1) * tp_plan.tp_degree))
        specs.append(ReplicaSpec(replica_id=replica_id, launch=_launch(scenario, tp_plan, replica_id),
                                 gpu_ids=gpu_ids, ready_timeout_s=_ready_timeout(scenario)))
    return specs


def _launch(scenario: Scenario, tp_plan: TpPlan, replica_id: str) -> Any:
    backend = scenario.hardware.backend
    if backend == "sim":
        config = sim_engine_config(scenario, tp_plan, replica_id)
        return SimLaunch(config=config.model_dump(mode="json"))
    if backend == "command":
        from benchmatrix.replicas import get_profile

        template = scenario.hardware.command or ""
        profile = _profile_or_none(get_profile, template)
        return CommandLaunch(template=profile.template if profile else template,
                             model=scenario.model.hf_repo or served_name(scenario), tp=tp_plan.tp_degree)
    from benchmatrix.replicas.base import DockerLaunch

    options = scenario.model.engine_options
    return DockerLaunch(
        engine=scenario.model.engine if scenario.model.engine in ("vllm", "sglang", "tgi") else "sim",
        model=scenario.model.hf_repo or scenario.model_spec.hf_repo or served_name(scenario),
        served_name=served_name(scenario), tp=tp_plan.tp_degree,
        gpu_memory_utilization=options.gpu_memory_utilization,
        max_model_len=scenario.model.max_model_len, max_num_seqs=options.max_num_seqs,
        extra_args=tuple(options.extra_args),
        sim_config=sim_engine_config(scenario, tp_plan, replica_id).model_dump(mode="json"),
    )


def _profile_or_none(get_profile: Any, name: str) -> Any:
    try:
        return get_profile(name)
    except (KeyError, ValueError):
        return None


def _ready_timeout(scenario: Scenario) -> float:
    return {"sim": 30.0, "command": 120.0}.get(scenario.hardware.backend, 900.0)


def deploy(ctx: RunContext, scenario: Scenario, tp_plan: TpPlan) -> Deployment:
    """Start every replica and wait until all are healthy (DeployError otherwise, none left)."""
    workdir = scenario_dir(ctx, scenario) / "replicas"
    options: dict[str, Any] = {}
    if scenario.hardware.backend in ("sim", "command"):
        options["registry_dir"] = ctx.data_dir / "registry"
    elif scenario.hardware.docker_host:
        options["docker_host"] = scenario.hardware.docker_host
    backend = get_backend(scenario.hardware.backend, **options)
    labels = {"benchmatrix.run": ctx.run_id, "benchmatrix.scenario": scenario.scenario_id}
    handles = backend.start(replica_specs(scenario, tp_plan), workdir, labels)
    deployment = Deployment(backend=backend, handles=handles, workdir=workdir)
    _register(deployment)
    return deployment


def teardown(deployment: Deployment) -> None:
    """Stop every replica of the deployment (idempotent)."""
    try:
        deployment.backend.stop(deployment.handles)
    finally:
        _unregister(deployment)


def start_balancer(ctx: RunContext, scenario: Scenario, deployment: Deployment) -> Balancer:
    """Start NGINX (least_conn) in front of the deployment's replicas."""
    upstreams = tuple(Upstream(replica_id=h.replica_id, host=h.host, port=h.port)
                      for h in deployment.handles)
    balancer = Balancer(BalancerPlan(upstreams=upstreams), scenario_dir(ctx, scenario) / "nginx")
    balancer.start()
    _register(balancer)
    return balancer


def stop_balancer(balancer: Balancer) -> None:
    try:
        balancer.stop()
    finally:
        _unregister(balancer)


# ----------------------------------------------------------------------------- load


def load_config(ctx: RunContext, scenario: Scenario, base_url: str) -> LoadRunConfig:
    """The load generator's config for one scenario, sent through ``base_url`` (NGINX)."""
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
        from benchmatrix.distributions import mean_of, upper_bound
        from benchmatrix.loadgen.config import AudioOptions

        extra["audio"] = AudioOptions(
            duration_min_s=float(min(mean_of(load.audio.seconds), upper_bound(load.audio.seconds))),
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
        run_id=f"{ctx.run_id}-{scenario.scenario_id}", **extra,
    )


def run_load(ctx: RunContext, scenario: Scenario, balancer: Balancer) -> LoadResult:
    """Run the scenario's load through NGINX; per-request failures are data in the records."""
    return _run_load(load_config(ctx, scenario, balancer.url))


def collect_replica_stats(balancer: Balancer, deployment: Deployment) -> list[ReplicaShare]:
    """Requests each replica served, from NGINX's access log."""
    upstreams = [Upstream(replica_id=h.replica_id, host=h.host, port=h.port) for h in deployment.handles]
    return replica_shares(parse_access_log(balancer.access_log_path), upstreams)


# ----------------------------------------------------------------------------- validate + store


def validate(scenario: Scenario, tp_plan: TpPlan, load_result: LoadResult,
             shares: list[ReplicaShare]) -> CheckReport:
    """Run the data checks on the scenario's records."""
    requests = pd.read_parquet(load_result.records_path)
    ctx = CheckContext.from_scenario(
        scenario,
        replica_ids=[s.replica_id for s in shares],
        replica_served={s.replica_id: s.requests for s in shares},
        tokenizer_exact=scenario.hardware.backend == "sim",
    )
    return validate_scenario(requests, ctx)


def begin_outcome(scenario: Scenario) -> ScenarioOutcome:
    return ScenarioOutcome(scenario=scenario)


def with_plan(outcome: ScenarioOutcome, tp_plan: TpPlan) -> ScenarioOutcome:
    return outcome.model_copy(update={"plan": tp_plan})


def with_load(outcome: ScenarioOutcome, result: LoadResult) -> ScenarioOutcome:
    return outcome.model_copy(update={"load_result": result})


def with_replica_stats(outcome: ScenarioOutcome, shares: list[ReplicaShare]) -> ScenarioOutcome:
    return outcome.model_copy(update={"replica_stats": tuple(shares)})


def with_checks(outcome: ScenarioOutcome, report: CheckReport) -> ScenarioOutcome:
    status: Status = "passed" if report.passed else "failed_validation"
    if outcome.load_result is not None and outcome.load_result.partial:
        status, report_msg = "failed", "load run interrupted: records are partial"
        return outcome.model_copy(update={"checks": report, "status": status,
                                          "error_message": report_msg, "ended_at": _now()})
    return outcome.model_copy(update={"checks": report, "status": status, "ended_at": _now()})


def with_error(outcome: ScenarioOutcome, exc: BaseException) -> ScenarioOutcome:
    message = f"{type(exc).__name__}: {exc}"
    return outcome.model_copy(update={"status": "failed", "error_message": message, "ended_at": _now()})


def _now() -> datetime:
    return datetime.now(timezone.utc)


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
        ended_at=outcome.ended_at or _now(), t0=result.started_at if result else None,
        duration_s=result.duration_s if result else None,
        requests_path=result.records_path if result and result.records_path.exists() else None,
        replica_stats=[_replica_stat(share) for share in outcome.replica_stats],
        checks=[_check_row(r) for r in outcome.checks.results] if outcome.checks else [],
    )


def _replica_stat(share: ReplicaShare) -> ReplicaStat:
    return ReplicaStat(replica_id=share.replica_id, requests=share.requests, share=share.share,
                       upstream_mean_ms=share.mean_upstream_response_time_ms,
                       upstream_p99_ms=share.p99_upstream_response_time_ms,
                       errors=share.errors, source="nginx")


def _check_row(result: Any) -> CheckRow:
    return CheckRow(check_name=result.check_name, level=result.level, passed=result.passed,
                    observed=result.observed, expected=result.expected, message=result.message)


def store_scenario(ctx: RunContext, outcome: ScenarioOutcome) -> None:
    """Replace this scenario's rows in the run, in one transaction (re-running never duplicates)."""
    load = scenario_load(outcome)
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.load_scenarios(run_record(ctx, "running"), [load])


# ----------------------------------------------------------------------------- interrupts


def _register(resource: Any) -> None:
    with _LIVE_LOCK:
        _LIVE[id(resource)] = resource


def _unregister(resource: Any) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(id(resource), None)


def emergency_teardown() -> int:
    """Stop every live balancer and deployment (called on Ctrl-C); returns how many."""
    with _LIVE_LOCK:
        resources = list(_LIVE.values())
        _LIVE.clear()
    for resource in resources:
        try:
            resource.stop() if isinstance(resource, Balancer) else teardown(resource)
        except (BenchmatrixError, OSError, DeployError):
            continue
    return len(resources)
