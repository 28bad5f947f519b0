"""Matrix expansion: hardware x model x load point -> resolved :class:`~benchmatrix.spec.Scenario` list.

Resolution fills every default a reader would otherwise guess: the hardware label, the model's
dtype (checkpoint native), ``max_model_len`` (model max position), ``served_name`` (the entry
name), the architecture (catalog, inline, or ``config_json`` relative to the matrix file), and
the TP override (last matching ``overrides`` rule, else the model entry's ``tp``).

``scenario_id`` is the first 12 hex digits of the sha256 of the canonical JSON (sorted keys, no
spaces) of the resolved hardware entry (without its price), model entry, load point and TP
override, so renaming the matrix or changing prices, SLOs or checks keeps ids stable. Fields equal
to their default are left out, so a new optional field does not change existing ids.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, TypeVar, get_args

from benchmatrix.catalog import DTYPES, GpuSpec, ModelSpec, did_you_mean, get_gpu, get_model, gpu_catalog, load_hf_config
from benchmatrix.errors import SpecError
from benchmatrix.spec import (
    Backend,
    Engine,
    HardwareEntry,
    LoadPoint,
    LoadProfile,
    Matrix,
    ModelEntry,
    Rule,
    Scenario,
)

T = TypeVar("T")

_RULE_VOCAB: dict[str, tuple[str, ...]] = {
    "dtype": DTYPES,
    "engine": get_args(Engine),
    "backend": get_args(Backend),
    "modality": ("text", "vision", "speech"),
    "endpoint": ("chat", "completions", "audio"),
    "arrival": ("poisson", "constant", "gamma"),
}


def resolve_hardware(entry: HardwareEntry, where: str, source: str) -> tuple[HardwareEntry, GpuSpec]:
    """Look up the GPU, fill the default name, and check the count fits the nodes."""
    gpu = _lookup(get_gpu, entry.gpu, f"{where}.gpu", source)
    capacity = gpu.gpus_per_node * entry.nodes
    if entry.gpu_count > capacity:
        raise SpecError(
            f"{source}: {where}.gpu_count: {entry.gpu_count} GPUs exceed gpus_per_node x nodes "
            f"= {gpu.gpus_per_node} x {entry.nodes} = {capacity} for {gpu.key} (raise 'nodes' or lower the count)"
        )
    name = entry.name or f"{gpu.short_name}x{entry.gpu_count}"
    return entry.model_copy(update={"name": name}), gpu


def resolve_model(entry: ModelEntry, where: str, source: str) -> tuple[ModelEntry, ModelSpec]:
    """Find the architecture and fill dtype, max_model_len, served_name and hf_repo."""
    spec = _model_spec(entry, where, source)
    max_len = entry.max_model_len or spec.max_position_embeddings
    if max_len > spec.max_position_embeddings:
        raise SpecError(
            f"{source}: {where}.max_model_len: {max_len} exceeds {spec.key}'s max_position_embeddings "
            f"{spec.max_position_embeddings}"
        )
    update = {
        "dtype": entry.dtype or spec.native_dtype,
        "max_model_len": max_len,
        "served_name": entry.served_name or entry.name,
        "hf_repo": entry.hf_repo or spec.hf_repo,
    }
    return entry.model_copy(update=update), spec


def _model_spec(entry: ModelEntry, where: str, source: str) -> ModelSpec:
    if entry.architecture is not None:
        return entry.architecture
    if entry.config_json is not None:
        path = entry.config_json
        if not path.is_absolute():
            path = Path(source).parent / path
        try:
            return load_hf_config(path, key=entry.name.lower())
        except SpecError as exc:
            raise SpecError(f"{source}: {where}.config_json: {exc}") from exc
    key = entry.catalog or entry.name
    return _lookup(get_model, key, f"{where}.{'catalog' if entry.catalog else 'name'}", source)


def _lookup(getter: Callable[[str], T], key: str, where: str, source: str) -> T:
    """``getter(key)`` with the file and field path prefixed to its SpecError."""
    try:
        return getter(key)
    except SpecError as exc:
        raise SpecError(f"{source}: {where}: {exc}") from exc


def load_points(profile: LoadProfile) -> list[LoadPoint]:
    """One point per concurrency value, then one per rate value, in the order given."""
    base = profile.model_dump(exclude={"name", "concurrency", "rate_rps"})
    points = [LoadPoint(profile=profile.name, concurrency=c, **base) for c in profile.concurrency or ()]
    points += [LoadPoint(profile=profile.name, rate_rps=r, **base) for r in profile.rate_rps or ()]
    return points


def check_references(matrix: Matrix) -> None:
    """Resolve every entry once and check names used by rules; SpecError naming file and field."""
    source = matrix.source
    hardware = [resolve_hardware(h, f"hardware[{i}]", source)[0] for i, h in enumerate(matrix.hardware)]
    models = [resolve_model(m, f"models[{i}]", source)[0] for i, m in enumerate(matrix.models)]
    _unique([h.name or "" for h in hardware], "hardware", "name", source)
    _unique([m.name for m in models], "models", "name", source)
    _unique([p.name for p in matrix.loads], "loads", "name", source)
    names = {
        "hardware": [h.name or "" for h in hardware],
        "model": [m.name for m in models],
        "load": [p.name for p in matrix.loads],
        "gpu": list(gpu_catalog()),
        **{k: list(v) for k, v in _RULE_VOCAB.items()},
    }
    for section, rules in (("include", matrix.include), ("exclude", matrix.exclude)):
        for i, rule in enumerate(rules):
            _check_rule(rule, f"{section}[{i}]", names, source)
    for i, override in enumerate(matrix.overrides):
        _check_rule(override.match, f"overrides[{i}].match", names, source)


def _unique(names: list[str], section: str, field: str, source: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise SpecError(f"{source}: {section}[{i}].{field}: {name!r} is already used by {section}[{seen[name]}]")
        seen[name] = i


def _check_rule(rule: Rule, where: str, names: dict[str, list[str]], source: str) -> None:
    for key, values in rule.given().items():
        known = names.get(key)
        if known is None:
            continue
        for value in values:
            if str(value) not in known:
                raise SpecError(f"{source}: {where}.{key}: {value!r} matches nothing{did_you_mean(str(value), known)}")


def _rule_view(hw: HardwareEntry, model: ModelEntry, point: LoadPoint) -> dict[str, Any]:
    return {
        "hardware": hw.name, "gpu": hw.gpu, "gpu_count": hw.gpu_count, "nodes": hw.nodes,
        "backend": hw.backend, "work_pool": hw.work_pool,
        "model": model.name, "dtype": model.dtype, "engine": model.engine, "max_model_len": model.max_model_len,
        "load": point.profile, "modality": point.modality, "endpoint": point.endpoint, "arrival": point.arrival,
        "concurrency": point.concurrency, "rate_rps": point.rate_rps,
    }


def _same(expected: str | int | float, actual: Any) -> bool:
    if actual is None:
        return False
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    return str(expected) == str(actual)


def rule_matches(rule: Rule, view: dict[str, Any]) -> bool:
    """True when every key of the rule matches one of its values."""
    return all(any(_same(v, view[k]) for v in values) for k, values in rule.given().items())


def scenario_id(hardware: HardwareEntry, model: ModelEntry, load: LoadPoint, tp: int | None) -> str:
    """12 hex of sha256 over the canonical JSON of the resolved cell (price excluded)."""
    payload = {
        "hardware": hardware.model_dump(mode="json", exclude={"price_per_gpu_hour"}, exclude_defaults=True),
        "model": model.model_dump(mode="json", exclude_defaults=True),
        "load": load.model_dump(mode="json", exclude_defaults=True),
        "tp": tp,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _tp_override(matrix: Matrix, model: ModelEntry, view: dict[str, Any]) -> int | None:
    tp = model.tp
    for override in matrix.overrides:
        if rule_matches(override.match, view):
            tp = override.tp
    return tp


def expand(matrix: Matrix) -> list[Scenario]:
    """All kept scenarios in hardware, model, load-point order (include filters, then exclude)."""
    source = matrix.source
    hardware = [resolve_hardware(h, f"hardware[{i}]", source) for i, h in enumerate(matrix.hardware)]
    models = [resolve_model(m, f"models[{i}]", source) for i, m in enumerate(matrix.models)]
    points = [p for profile in matrix.loads for p in load_points(profile)]
    scenarios: list[Scenario] = []
    for hw, gpu in hardware:
        for model, spec in models:
            for point in points:
                view = _rule_view(hw, model, point)
                if not _kept(matrix, view):
                    continue
                scenarios.append(_scenario(matrix, hw, gpu, model, spec, point, view))
    return scenarios


def _kept(matrix: Matrix, view: dict[str, Any]) -> bool:
    if matrix.include and not any(rule_matches(r, view) for r in matrix.include):
        return False
    return not any(rule_matches(r, view) for r in matrix.exclude)


def _scenario(
    matrix: Matrix, hw: HardwareEntry, gpu: GpuSpec, model: ModelEntry, spec: ModelSpec,
    point: LoadPoint, view: dict[str, Any],
) -> Scenario:
    tp = _tp_override(matrix, model, view)
    return Scenario(
        scenario_id=scenario_id(hw, model, point, tp),
        name=f"{hw.name}/{model.name}/{point.label}",
        matrix_name=matrix.name,
        hardware=hw, gpu=gpu, model=model, model_spec=spec, load=point,
        slo=matrix.slo, checks=matrix.checks, sim=matrix.sim, tp=tp,
    )


__all__ = ["check_references", "expand", "load_points", "resolve_hardware", "resolve_model", "rule_matches", "scenario_id"]
