"""docker run arguments per engine (pure; no Docker engine needed)."""

from __future__ import annotations

import json

import pytest

from benchmatrix.replicas import DockerLaunch, ReplicaSpec
from benchmatrix.replicas.docker_args import (
    SIM_CONFIG_ENV,
    container_name,
    docker_run_args,
    docker_run_args_for_spec,
)

LABELS = {"benchmatrix.run": "run1", "benchmatrix.scenario": "abc123"}


def _flag(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_vllm_command_line() -> None:
    args = docker_run_args("vllm", replica_id="r1", model="meta-llama/Llama-3.1-70B-Instruct", tp=4,
                           gpu_ids=(4, 5, 6, 7), gpu_memory_utilization=0.92, max_model_len=8192,
                           max_num_seqs=128, served_name="llama70b", labels=LABELS,
                           model_cache_dir="/models")
    assert args.image == "vllm/vllm-openai:latest"
    assert _flag(args.command, "--model") == "meta-llama/Llama-3.1-70B-Instruct"
    assert _flag(args.command, "--tensor-parallel-size") == "4"
    assert _flag(args.command, "--gpu-memory-utilization") == "0.92"
    assert _flag(args.command, "--max-model-len") == "8192"
    assert _flag(args.command, "--max-num-seqs") == "128"
    assert _flag(args.command, "--served-model-name") == "llama70b"
    assert _flag(args.command, "--port") == "8000" and args.container_port == 8000
    assert args.gpu_ids == (4, 5, 6, 7)
    assert args.volumes == {"/models": "/root/.cache/huggingface"}
    assert args.labels == {**LABELS, "benchmatrix.replica": "r1", "benchmatrix.managed": "true"}
    assert args.init and args.host_ip == "127.0.0.1" and args.host_port is None


def test_sglang_command_line() -> None:
    args = docker_run_args("sglang", replica_id="r0", model="Qwen/Qwen3-8B", tp=2, gpu_ids=(0, 1),
                           gpu_memory_utilization=0.85, max_model_len=32768)
    assert args.command[:3] == ("python3", "-m", "sglang.launch_server")
    assert _flag(args.command, "--model-path") == "Qwen/Qwen3-8B"
    assert _flag(args.command, "--tp") == "2"
    assert _flag(args.command, "--mem-fraction-static") == "0.85"
    assert _flag(args.command, "--context-length") == "32768"
    assert args.container_port == 30000


def test_tgi_command_line() -> None:
    args = docker_run_args("tgi", replica_id="r0", model="mistralai/Mixtral-8x7B-Instruct-v0.1", tp=8,
                           gpu_ids=tuple(range(8)), max_model_len=4096, model_cache_dir="/hf")
    assert _flag(args.command, "--model-id") == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert _flag(args.command, "--num-shard") == "8"
    assert _flag(args.command, "--max-total-tokens") == "4096"
    assert _flag(args.command, "--max-input-tokens") == "4095"
    assert args.container_port == 80 and args.volumes == {"/hf": "/data"}


def test_sim_engine_passes_config_in_env_and_requests_no_gpu() -> None:
    args = docker_run_args("sim", replica_id="r2", gpu_ids=(3,), sim_config={"served_model_name": "m"})
    assert args.command[:3] == ("python3", "-m", "benchmatrix.replicas.sim_entry")
    assert json.loads(args.environment[SIM_CONFIG_ENV]) == {"served_model_name": "m", "replica_id": "r2"}
    assert args.gpu_ids == () and args.image == "benchmatrix-sim:local"


def test_gpu_count_must_match_tp() -> None:
    with pytest.raises(ValueError, match="tp=2 needs 2 GPU ids"):
        docker_run_args("vllm", replica_id="r0", model="m", tp=2, gpu_ids=(0,))
    with pytest.raises(ValueError, match="needs a model"):
        docker_run_args("vllm", replica_id="r0")


def test_request_gpus_off_and_extra_args() -> None:
    args = docker_run_args("vllm", replica_id="r0", model="m", gpu_ids=(0,), request_gpus=False,
                           extra_args=("--enforce-eager",))
    assert args.gpu_ids == () and args.command[-1] == "--enforce-eager"


def test_sdk_kwargs_pin_gpus_and_publish_on_loopback() -> None:
    kwargs = docker_run_args("vllm", replica_id="r0", model="m", tp=2, gpu_ids=(2, 3), host_port=18001,
                             labels=LABELS).to_sdk_kwargs()
    assert kwargs["ports"] == {"8000/tcp": ("127.0.0.1", 18001)}
    (request,) = kwargs["device_requests"]
    assert request["DeviceIDs"] == ["2", "3"] and request["Capabilities"] == [["gpu"]]
    assert kwargs["init"] is True and kwargs["detach"] is True
    assert kwargs["labels"]["benchmatrix.scenario"] == "abc123"


def test_cli_keeps_env_values_out() -> None:
    cli = docker_run_args("vllm", replica_id="r0", model="m", env={"HF_TOKEN": "secret"}).to_cli()
    assert "secret" not in " ".join(cli) and "HF_TOKEN" in cli
    assert "--init" in cli and "127.0.0.1::8000" in cli


def test_spec_conversion_and_names() -> None:
    spec = ReplicaSpec(replica_id="r0", gpu_ids=(1,), port=18000,
                       launch=DockerLaunch(engine="vllm", model="m", max_model_len=4096))
    args = docker_run_args_for_spec(spec, LABELS)
    assert args.host_port == 18000 and args.gpu_ids == (1,) and args.name == "bm-run1-abc123-r0"
    assert container_name({"benchmatrix.run": "a/b c"}, "r0") == "bm-a-b-c-r0"
