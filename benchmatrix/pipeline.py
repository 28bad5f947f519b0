"""One scenario's life, stage by stage, as plain functions the Prefect tasks call.

plan -> deploy replicas -> start NGINX -> run load -> stop NGINX -> collect replica stats ->
tear down -> validate -> store. Each stage takes typed inputs and returns typed results; the
outcome of a scenario is accumulated in an immutable :class:`ScenarioOutcome` so a failure at
any stage still leaves a record of everything before it (stored as ``failed``, never as good).

Processes started here are registered in this module so that an interrupt (Ctrl-C) can tear
everything down from the main thread (:func:`emergency_teardown`).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmatrix import planner
from benchmatrix.balancer import Balancer, ReplicaShare, plan_for_replicas
from benchmatrix.checks import CheckContext, CheckReport, validate_scenario
from benchmatrix.errors import (
    BalancerError, BenchmatrixError, DeployError, PlanError, SpecError, ValidationFailed, WarehouseError,
)
from benchmatrix.expand import expand
from benchmatrix.loadgen import LoadResult, LoadRunConfig
from benchmatrix.loadgen import run_load as _run_load
from benchmatrix.metrics import ScenarioSummary, as_slo, summarize
from benchmatrix.planner import TpPlan
from benchmatrix.replicas import ReplicaHandle, ReplicaSpec, get_backend
from benchmatrix.replicas.base import CommandLaunch, SimLaunch
from benchmatrix.replicas.registry import process_state
from benchmatrix.runs import RunContext, new_run_context as _new_run_context, versions
from benchmatrix.sim import SimEngineConfig
from benchmatrix.spec import Matrix, Scenario, load_matrix
from benchmatrix.warehouse import Warehouse
from benchmatrix.warehouse.records import ReplicaStat, RunRecord, ScenarioLoad

__all__ = [
    "RunContext", "ScenarioOutcome", "Deployment", "RunSummary", "load_matrix", "expand",
    "new_run_context", "plan", "plan_all", "deploy", "teardown", "start_balancer",
    "stop_balancer", "run_load", "collect_replica_stats", "validate", "store_scenario",
    "open_run", "close_run", "clean_orphans", "clean_data_dir", "clean_scenario", "docker_hosts", "select", "lanes", "scenario_tags",
    "is_transient", "write_html_report", "regressions", "RegressionPolicy", "regression_policy",
    "outcome_to_json", "outcome_from_json",
]

Status = Literal["running", "passed", "failed_validation", "failed", "skipped"]
RunStatus = Literal["running", "completed", "partial", "failed"]

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
    metrics: ScenarioSummary | None = None
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
        return f"{self.scenario.name}: {self.status}: {self.short_error()}".rstrip(": ")

    def short_error(self, max_chars: int = 300) -> str:
        """The error's first line, without a leading repeat of the scenario name."""
        first = (self.error_message or "").splitlines()[0] if self.error_message else ""
        first = first.replace(f"{self.scenario.name}: ", "", 1)
        return first if len(first) <= max_chars else first[: max_chars - 3] + "..."


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
    root = Path(data_dir).resolve() if data_dir else None  # absolute: other hosts get it too
    return _new_run_context(matrix.name, matrix_path, root, run_id)


def run_record(ctx: RunContext, status: RunStatus, ended_at: datetime | None = None) -> RunRecord:
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
    status: Literal["completed", "partial", "failed"] = (
        "completed" if passed == len(outcomes) else ("partial" if passed else "failed"))
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.upsert_run(run_record(ctx, status, ended_at=datetime.now(timezone.utc)))
        results = wh.run_query("scenario_summary", {"run_id": ctx.run_id})
    bad = [o.summary_line() for o in outcomes if o.status not in ("passed", "skipped")]
    message = f"{passed}/{len(outcomes)} scenarios passed" + (": " + "; ".join(bad) if bad else "")
    return RunSummary(run_id=ctx.run_id, status=status, message=message,
                      warehouse_path=ctx.warehouse_path, run_dir=ctx.run_dir,
                      outcomes=tuple(outcomes), results=results)


def registry_dir(data_dir: Path) -> Path:
    """This host's replica pid registry (per host: a data dir may be shared between hosts)."""
    return Path(data_dir) / "registry" / socket.gethostname()


def clean_orphans(ctx: RunContext, docker_hosts: list[str | None] | None = None) -> list[str]:
    """:func:`clean_data_dir` of the run's data dir (call before a run starts anything)."""
    return clean_data_dir(ctx.data_dir, docker_hosts)


def clean_data_dir(data_dir: str | Path, docker_hosts: list[str | None] | None = None) -> list[str]:
    """Stop what a killed run left on this host: replica processes, containers, NGINX masters.

    Replica processes are found by the pid registry, containers by the ``benchmatrix.managed``
    label on each Docker engine in ``docker_hosts`` (None = the local engine; empty list = no
    Docker in this matrix), NGINX masters by the pid files under ``<data_dir>/runs/``.
    Returns one line per kind of leftover found.
    """
    found: list[str] = []
    data_dir = Path(data_dir)
    removed = get_backend("sim", registry_dir=registry_dir(data_dir)).cleanup_orphans({})
    if removed:
        found.append(f"{removed} orphan replica process(es) stopped")
    for host in docker_hosts or []:
        containers = get_backend("docker", docker_host=host).cleanup_orphans({})
        if containers:
            found.append(f"{containers} orphan container(s) removed from {host or 'the local engine'}")
    stopped = stop_orphan_nginx(data_dir / "runs")
    if stopped:
        found.append(f"{stopped} orphan NGINX master(s) stopped")
    return found


def docker_hosts(scenarios: list[Scenario]) -> list[str | None]:
    """The Docker engines the matrix's docker-backend entries use (None = local engine)."""
    hosts = {s.hardware.docker_host for s in scenarios if s.hardware.backend == "docker"}
    return sorted(hosts, key=lambda h: h or "")


def stop_orphan_nginx(runs_dir: Path, grace_s: float = 5.0, pattern: str = "*/*/nginx/logs/nginx.pid") -> int:
    """Stop every NGINX master whose pid file (``pattern`` under ``runs_dir``) still runs.

    A pid is signalled only when its command line names nginx and the pid file's prefix, so a
    reused pid is never hit. The files are left in place (they are the run's artifacts).
    """
    stopped = 0
    for pid_file in sorted(Path(runs_dir).glob(pattern)):
        pid = _nginx_pid(pid_file)
        if pid is None:
            continue
        _stop_pid(pid, grace_s)
        stopped += 1
    return stopped


def clean_scenario(ctx: RunContext, scenario: Scenario) -> list[str]:
    """Stop what one scenario of this run still has running on this host (and nothing else):
    its replica processes or containers (by their run/scenario labels) and its NGINX."""
    labels = {"benchmatrix.run": ctx.run_id, "benchmatrix.scenario": scenario.scenario_id}
    found: list[str] = []
    if scenario.hardware.backend == "docker":
        removed = get_backend("docker", docker_host=scenario.hardware.docker_host).cleanup_orphans(labels)
    else:
        removed = get_backend("sim", registry_dir=registry_dir(ctx.data_dir)).cleanup_orphans(labels)
    if removed:
        found.append(f"{removed} replica(s) of {scenario.name} stopped")
    directory = ctx.scenario_dir(scenario.name, scenario.scenario_id)
    if stop_orphan_nginx(directory, pattern="nginx/logs/nginx.pid"):
        found.append(f"NGINX of {scenario.name} stopped")
    return found


def _nginx_pid(pid_file: Path) -> int | None:
    """The live NGINX master pid of a prefix, or None (stale file, reused pid, unreadable)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    prefix = str(pid_file.parent.parent)
    return pid if "nginx" in cmdline and prefix in cmdline else None


def _stop_pid(pid: int, grace_s: float) -> None:
    """SIGQUIT (graceful NGINX stop), then SIGKILL after ``grace_s``."""
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and process_state(pid) not in (None, "Z"):
            time.sleep(0.05)
        if process_state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


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


def plan_one(scenario: Scenario) -> PlannedScenario:
    """The scenario's plan, or why nothing fits (reported, not raised)."""
    try:
        return PlannedScenario(scenario=scenario, plan=planner.plan_tp(scenario))
    except BenchmatrixError as exc:
        return PlannedScenario(scenario=scenario, error=f"{type(exc).__name__}: {exc}")


def plan_all(scenarios: list[Scenario]) -> list[PlannedScenario]:
    """Plan every scenario; one that cannot be planned is reported, not raised."""
    return [plan_one(scenario) for scenario in scenarios]


def with_planned(outcome: ScenarioOutcome, planned: PlannedScenario) -> ScenarioOutcome:
    """The outcome with its plan, or failed (ended) when nothing fits."""
    if planned.plan is None:
        return outcome.model_copy(update={"status": "failed", "error_message": planned.error,
                                          "ended_at": _now()})
    return with_plan(outcome, planned.plan)


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
        options["registry_dir"] = registry_dir(ctx.data_dir)
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
    # plan_for_replicas turns upstream keep-alive off for servers that close after each
    # response (llama.cpp): reusing those connections races with the close and gives 502s.
    balancer = Balancer(plan_for_replicas(deployment.handles), scenario_dir(ctx, scenario) / "nginx")
    balancer.start()
    _register(balancer)
    return balancer


def stop_balancer(balancer: Balancer) -> None:
    try:
        balancer.stop()
    finally:
        _unregister(balancer)


# ----------------------------------------------------------------------------- load


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


def deployment_line(deployment: Deployment) -> str:
    """Log line: which replicas answer where, and how long each took to become healthy."""
    parts = [f"{h.replica_id} {h.host}:{h.port} ({h.startup_s:.1f} s)" for h in deployment.handles]
    return f"{len(parts)} replica(s) healthy: " + ", ".join(parts)


def load_line(result: LoadResult, url: str) -> str:
    """Log line: what the load run did."""
    bound = f"; client-bound: {result.client_bound_reason}" if result.is_client_bound else ""
    return (f"load through {url}: {result.num_ok} ok, {result.num_errors} error(s), "
            f"{result.num_warmup} warmup in {result.duration_s:.1f} s{bound}")


def collect_replica_stats(balancer: Balancer, deployment: Deployment) -> list[ReplicaShare]:
    """Requests each replica served, from NGINX's access and error logs (truncated streams too)."""
    return balancer.replica_shares()


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


def with_metrics(outcome: ScenarioOutcome, metrics: ScenarioSummary) -> ScenarioOutcome:
    return outcome.model_copy(update={"metrics": metrics})


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
        checks=outcome.checks.results if outcome.checks else [],
    )


def _replica_stat(share: ReplicaShare) -> ReplicaStat:
    return ReplicaStat(replica_id=share.replica_id, requests=share.requests, share=share.share,
                       upstream_mean_ms=share.mean_upstream_response_time_ms,
                       upstream_p99_ms=share.p99_upstream_response_time_ms,
                       errors=share.errors, source="nginx")


def store_scenario(ctx: RunContext, outcome: ScenarioOutcome) -> None:
    """Replace this scenario's rows in the run, in one transaction (re-running never duplicates)."""
    load = scenario_load(outcome)
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        wh.load_scenarios(run_record(ctx, "running"), [load])


# ----------------------------------------------------------------------------- retries

#: Fragments of DeployError/BalancerError messages that mean "try again": a replica slow to come
#: up, a port taken between choosing it and binding it. A replica that exited is not transient.
_TRANSIENT_HINTS = ("did not answer", "already in use")


def is_transient(exc: BaseException | None) -> bool:
    """True for errors worth another try (walks ``__cause__``): a refused/reset connection, a
    timeout, a replica slow to become healthy, a port race, a warehouse locked by another
    process. A failed data check, a plan that does not fit or a crashed replica never is."""
    import httpx

    while exc is not None:
        if isinstance(exc, (ValidationFailed, PlanError, SpecError)):
            return False
        if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, TimeoutError,
                            httpx.ConnectError, httpx.TimeoutException)):
            return True
        if isinstance(exc, (DeployError, BalancerError)) and any(h in str(exc) for h in _TRANSIENT_HINTS):
            return True
        if isinstance(exc, WarehouseError) and "is locked by" in str(exc):
            return True
        exc = exc.__cause__
    return False


# ----------------------------------------------------------------------------- reporting


class RegressionPolicy(BaseModel):
    """When a run counts as regressed and whom to tell (notification off unless named)."""

    model_config = ConfigDict(frozen=True)

    threshold_pct: float = Field(default=10.0, gt=0, description="Worse than the previous run by more than this.")
    notify_block: str | None = Field(default=None, description="Prefect notification block to call, if any.")


REGRESSION_THRESHOLD_ENV = "BENCHMATRIX_REGRESSION_THRESHOLD_PCT"
NOTIFY_BLOCK_ENV = "BENCHMATRIX_NOTIFY_BLOCK"


def regression_policy(matrix: Matrix, environ: dict[str, str] | None = None) -> RegressionPolicy:
    """The matrix's ``regressions`` settings when the spec has them, else the environment
    (``BENCHMATRIX_REGRESSION_THRESHOLD_PCT``, ``BENCHMATRIX_NOTIFY_BLOCK``), else defaults."""
    env = os.environ if environ is None else environ
    from_matrix = getattr(matrix, "regressions", None)
    if from_matrix is not None:
        return RegressionPolicy.model_validate(from_matrix, from_attributes=True)
    values: dict[str, Any] = {}
    if env.get(REGRESSION_THRESHOLD_ENV):
        values["threshold_pct"] = float(env[REGRESSION_THRESHOLD_ENV])
    if env.get(NOTIFY_BLOCK_ENV):
        values["notify_block"] = env[NOTIFY_BLOCK_ENV]
    return RegressionPolicy(**values)


def regressions(ctx: RunContext, policy: RegressionPolicy) -> pd.DataFrame:
    """This run against each scenario's previous comparable result (``run_vs_previous``)."""
    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        return wh.run_query("run_vs_previous", {"run_id": ctx.run_id,
                                                 "threshold_pct": policy.threshold_pct})


def regressed_scenarios(table: pd.DataFrame) -> list[str]:
    """Names of the scenarios flagged ``is_regression`` in a ``run_vs_previous`` table."""
    if table.empty:
        return []
    return sorted(table.loc[table["is_regression"].astype(bool), "scenario_name"].tolist())


def write_html_report(ctx: RunContext) -> Path:
    """The self-contained HTML report of this run, written to ``<run_dir>/report.html``."""
    from benchmatrix.report import write_report

    with _WAREHOUSE_LOCK, Warehouse.open(ctx.warehouse_path) as wh:
        return write_report(wh, ctx.run_id, ctx.run_dir / "report.html").resolve()


def final_message(summary: RunSummary, regressed: list[str], report_path: Path | None) -> str:
    """The matrix run's state message: pass count, failures with reasons, regressions, report."""
    parts = [summary.message]
    if regressed:
        parts.append(f"regressions vs the previous run: {', '.join(regressed)}")
    if report_path is not None:
        parts.append(f"report: {report_path}")
    return " | ".join(parts)


def selection_line(expanded: list[Scenario], selected: list[Scenario]) -> str:
    """Log line: how many scenarios run now and how many were left out (resumed or filtered)."""
    return (f"{len(selected)} of {len(expanded)} scenario(s) to run on "
            f"{lanes(selected) if selected else 0} hardware lane(s); "
            f"{len(expanded) - len(selected)} already passed or not selected")


def received_outcome(outcome: ScenarioOutcome) -> ScenarioOutcome:
    """A dispatched scenario's outcome as the warehouse writer sees it: failed when its request
    records are not reachable here (the data dir is not shared at the same path)."""
    result = outcome.load_result
    if result is None or result.records_path.exists():
        return outcome
    return with_error(outcome, BenchmatrixError(
        f"request records {result.records_path} written by the scenario's host are not visible to "
        "the warehouse writer: share the data dir at the same path on every host"))


# ----------------------------------------------------------------------------- between hosts


def outcome_to_json(outcome: ScenarioOutcome) -> dict[str, Any]:
    """A scenario outcome as plain JSON (what a remote scenario flow returns)."""
    return outcome.model_dump(mode="json")


def outcome_from_json(data: dict[str, Any]) -> ScenarioOutcome:
    """The inverse of :func:`outcome_to_json` (validated)."""
    return ScenarioOutcome.model_validate(data)


def context_from_json(data: dict[str, Any]) -> RunContext:
    return RunContext.model_validate(data)


def scenario_from_json(data: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(data)


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
