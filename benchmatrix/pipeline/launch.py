"""How each replica of a scenario is launched: one spec per planned replica, with the simulated
engine's config or the command/Docker launch of a real engine."""

from __future__ import annotations

from benchmatrix import planner
from benchmatrix.errors import DeployError
from benchmatrix.planner import TpPlan
from benchmatrix.replicas import ReplicaSpec
from benchmatrix.replicas.base import DockerLaunch, SimLaunch
from benchmatrix.replicas.profiles import command_replica_spec
from benchmatrix.sim import SimEngineConfig
from benchmatrix.spec import Scenario


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
    return [_spec(scenario, tp_plan, index) for index in range(tp_plan.replicas)]


def _spec(scenario: Scenario, tp_plan: TpPlan, index: int) -> ReplicaSpec:
    replica_id = f"r{index}"
    gpu_ids = tuple(range(index * tp_plan.tp_degree, (index + 1) * tp_plan.tp_degree))
    backend = scenario.hardware.backend
    if backend == "command":  # the profile brings its own health path and readiness timeout
        return command_replica_spec(
            replica_id, scenario.hardware.command or "", tp=tp_plan.tp_degree, gpu_ids=gpu_ids,
            model=scenario.model.hf_repo or served_name(scenario))
    launch: SimLaunch | DockerLaunch = (
        SimLaunch(config=sim_engine_config(scenario, tp_plan, replica_id).model_dump(mode="json"))
        if backend == "sim" else _docker_launch(scenario, tp_plan, replica_id))
    return ReplicaSpec(replica_id=replica_id, launch=launch, gpu_ids=gpu_ids,
                       ready_timeout_s=READY_TIMEOUT_S[backend])


#: Seconds a replica may take to become healthy: real engines load weights and compile graphs.
READY_TIMEOUT_S = {"sim": 30.0, "command": 120.0, "docker": 900.0}
DOCKER_ENGINES = ("vllm", "sglang", "tgi", "sim")


def _docker_launch(scenario: Scenario, tp_plan: TpPlan, replica_id: str) -> DockerLaunch:
    engine = scenario.model.engine
    if engine not in DOCKER_ENGINES:
        raise DeployError(
            f"{scenario.name}: engine {engine!r} has no Docker image profile (choose one of "
            f"{', '.join(DOCKER_ENGINES)}, or run it with backend 'command')")
    options = scenario.model.engine_options
    return DockerLaunch(
        engine=engine, served_name=served_name(scenario), tp=tp_plan.tp_degree,
        model=scenario.model.hf_repo or scenario.model_spec.hf_repo or served_name(scenario),
        gpu_memory_utilization=options.gpu_memory_utilization,
        max_model_len=scenario.model.max_model_len, max_num_seqs=options.max_num_seqs,
        extra_args=tuple(options.extra_args),
        sim_config=sim_engine_config(scenario, tp_plan, replica_id).model_dump(mode="json"),
    )
