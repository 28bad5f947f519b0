"""Which leftovers a new run looks for: the host's pid registry always, every Docker engine the
matrix's docker entries use (by the managed label), never Docker when no entry uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmatrix import pipeline
from benchmatrix.pipeline import orphans
from tests.support.spec_builders import base_matrix, write_matrix


class _Recorder:
    def __init__(self, calls: list[tuple[str, Any, dict[str, str]]], name: str, option: Any, found: int) -> None:
        self.calls, self.name, self.option, self.found = calls, name, option, found

    def cleanup_orphans(self, labels: dict[str, str]) -> int:
        self.calls.append((self.name, self.option, dict(labels)))
        return self.found


def _fake_backends(monkeypatch: pytest.MonkeyPatch, found: int) -> list[tuple[str, Any, dict[str, str]]]:
    calls: list[tuple[str, Any, dict[str, str]]] = []

    def get_backend(name: str, **options: Any) -> _Recorder:
        return _Recorder(calls, name, options.get("docker_host", options.get("registry_dir")), found)

    monkeypatch.setattr(orphans, "get_backend", get_backend)  # where clean_data_dir looks it up
    return calls


def test_docker_engines_of_the_matrix_are_cleaned_by_label(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = base_matrix()
    data["hardware"][0].update(backend="docker", docker_host="ssh://gpu-a")
    data["hardware"][1].update(backend="docker")
    scenarios = pipeline.expand(pipeline.load_matrix(write_matrix(tmp_path, data)))
    hosts = pipeline.docker_hosts(scenarios)
    assert hosts == [None, "ssh://gpu-a"]
    calls = _fake_backends(monkeypatch, found=1)
    found = pipeline.clean_data_dir(tmp_path, hosts)
    assert calls == [("sim", pipeline.registry_dir(tmp_path), {}), ("docker", None, {}),
                     ("docker", "ssh://gpu-a", {})]
    assert found == ["1 orphan replica process(es) stopped",
                     "1 orphan container(s) removed from the local engine",
                     "1 orphan container(s) removed from ssh://gpu-a"]


def test_no_docker_entry_means_no_docker_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scenarios = pipeline.expand(pipeline.load_matrix(write_matrix(tmp_path, base_matrix())))
    assert pipeline.docker_hosts(scenarios) == []
    calls = _fake_backends(monkeypatch, found=0)
    assert pipeline.clean_data_dir(tmp_path, pipeline.docker_hosts(scenarios)) == []
    assert [c[0] for c in calls] == ["sim"]


def test_registry_is_per_host(tmp_path: Path) -> None:
    import socket

    assert pipeline.registry_dir(tmp_path) == tmp_path / "registry" / socket.gethostname()
