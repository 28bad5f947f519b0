"""Replica launch specs from a scenario and its plan: the sim's twin config, profiles, Docker."""

from __future__ import annotations

import pytest

from benchmatrix.errors import DeployError
from benchmatrix.pipeline.launch import replica_specs
from benchmatrix.planner import plan_tp
from benchmatrix.replicas import get_profile
from tests.support.spec_builders import make_scenario


def _on(scenario, **hardware):  # type: ignore[no-untyped-def]
    return scenario.model_copy(update={"hardware": scenario.hardware.model_copy(update=hardware)})


def test_sim_replicas_get_disjoint_gpus_and_the_plans_kv_capacity() -> None:
    scenario = make_scenario(model="llama-3.1-70b", gpu="h100-sxm-80gb", gpu_count=8)
    plan = plan_tp(scenario)
    specs = replica_specs(scenario, plan)
    assert len(specs) == plan.replicas
    assert [s.gpu_ids for s in specs] == [
        tuple(range(i * plan.tp_degree, (i + 1) * plan.tp_degree)) for i in range(plan.replicas)]
    config = specs[0].launch.config
    assert config["tp_degree"] == plan.tp_degree
    assert config["kv_capacity_tokens"] == plan.kv_tokens_per_replica
    assert config["weight_bytes_per_param"] == pytest.approx(2.0)


def test_command_replicas_take_the_profiles_health_path_and_timeout() -> None:
    scenario = _on(make_scenario(model="llama-3.1-8b", gpu="l4-24gb", gpu_count=2),
                   backend="command", command="llamacpp")
    specs = replica_specs(scenario, plan_tp(scenario))
    profile = get_profile("llamacpp")
    assert {(s.health_path, s.ready_timeout_s) for s in specs} == {
        (profile.health_path, profile.ready_timeout_s)}


def test_docker_refuses_an_engine_without_an_image_profile() -> None:
    scenario = _on(make_scenario(model="llama-3.1-8b", gpu="h100-sxm-80gb", gpu_count=1),
                   backend="docker")
    scenario = scenario.model_copy(update={"model": scenario.model.model_copy(update={"engine": "llamacpp"})})
    with pytest.raises(DeployError, match="engine 'llamacpp' has no Docker image profile"):
        replica_specs(scenario, plan_tp(scenario))
