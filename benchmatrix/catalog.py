"""GPU and model catalogs: sourced hardware and architecture facts the planner computes with.

The catalogs live in ``matrices/catalog/gpus.yaml`` and ``matrices/catalog/models.yaml`` (one
mapping per entry, each with ``source`` and ``verified``). ``BENCHMATRIX_CATALOG_DIR`` points the
loader at another folder. A model can also come from a local Hugging Face ``config.json``
(:func:`load_hf_config`).

Units: memory in GiB (2**30 bytes), bandwidth in TB/s (HBM) and GB/s (interconnect, per GPU,
bidirectional), compute in dense TFLOPS, parameters in billions, KV sizes in bytes.
"""

from __future__ import annotations

import difflib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmatrix.errors import SpecError

DTYPES: tuple[str, ...] = (
    "bf16", "fp16", "fp8", "fp8-block", "int8", "int4-awq", "int4-gptq", "mxfp4", "nvfp4",
)
Dtype = Literal["bf16", "fp16", "fp8", "fp8-block", "int8", "int4-awq", "int4-gptq", "mxfp4", "nvfp4"]

_REPO_CATALOG_DIR = Path(__file__).resolve().parents[1] / "matrices" / "catalog"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuSpec(_Strict):
    """One accelerator type. ``memory_gib`` is what the framework can see, not the marketed size."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", description="Catalog key, e.g. 'h100-sxm-80gb'.")
    short_name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", description="Short label for names, e.g. 'h100'.")
    name: str = Field(description="Marketing name, e.g. 'H100 SXM5 80GB'.")
    vendor: Literal["NVIDIA", "AMD", "Intel"]
    memory_gib: float = Field(gt=0, description="Usable (torch-visible) memory per GPU, GiB.")
    memory_marketed_gb: float = Field(gt=0, description="Marketed memory, GB (10**9 bytes).")
    hbm_bandwidth_tbps: float = Field(gt=0, description="Memory bandwidth, TB/s.")
    bf16_tflops: float = Field(gt=0, description="Dense BF16 tensor TFLOPS (no sparsity).")
    fp8_tflops: float | None = Field(default=None, gt=0, description="Dense FP8 TFLOPS; None = no FP8 units.")
    interconnect: str = Field(description="Scale-up interconnect, e.g. 'NVLink 4 + NVSwitch'.")
    interconnect_gbps: float = Field(gt=0, description="Per-GPU bidirectional scale-up bandwidth, GB/s.")
    gpus_per_node: int = Field(gt=0, description="Typical GPUs per node (TP stays inside one node).")
    source: str = Field(min_length=1, description="Where the facts come from.")
    verified: bool = Field(description="False where a figure is an estimate or was not re-checked.")
    notes: str = ""


class ModelSpec(_Strict):
    """Architecture facts from a model's ``config.json`` (text tower for multimodal models)."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Catalog key, e.g. 'llama-3.1-8b'.")
    hf_repo: str | None = Field(default=None, description="Hugging Face repository id.")
    arch: Literal["dense", "moe"]
    attention: Literal["mha", "gqa", "mla"] = Field(description="KV layout the planner sizes.")
    total_params_b: float = Field(gt=0, description="All parameters, billions.")
    active_params_b: float = Field(gt=0, description="Parameters used per token, billions.")
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0, description="KV heads (MLA: equals attention heads; cache is latent).")
    head_dim: int = Field(gt=0)
    intermediate_size: int | None = Field(default=None, gt=0, description="Dense MLP width.")
    moe_intermediate_size: int | None = Field(default=None, gt=0, description="Per-expert MLP width.")
    num_experts: int | None = Field(default=None, gt=0, description="Routed experts per MoE layer.")
    num_shared_experts: int = Field(default=0, ge=0)
    experts_per_token: int | None = Field(default=None, gt=0)
    num_moe_layers: int = Field(default=0, ge=0, description="Layers whose MLP is a MoE block.")
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    native_dtype: Dtype = Field(description="Dtype of the official checkpoint's weights.")
    tie_word_embeddings: bool = False
    sliding_window: int | None = Field(default=None, gt=0, description="Local-attention window, tokens.")
    num_sliding_layers: int = Field(default=0, ge=0, description="Layers using the sliding/chunked window.")
    kv_lora_rank: int | None = Field(default=None, gt=0, description="MLA latent KV rank.")
    qk_rope_head_dim: int | None = Field(default=None, gt=0, description="MLA decoupled RoPE key dim.")
    kv_bytes_per_token_bf16: int = Field(gt=0, description="KV bytes per token, all layers, bf16, whole model.")
    source: str = Field(min_length=1)
    verified: bool
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        _check_model_consistency(self)
        return self

    @property
    def kv_values_per_token_per_layer(self) -> int:
        """Cached values per token per layer (K and V for GQA/MHA, latent + rope key for MLA)."""
        if self.attention == "mla":
            return int(self.kv_lora_rank or 0) + int(self.qk_rope_head_dim or 0)
        return 2 * self.num_kv_heads * self.head_dim

    @property
    def embedding_params_b(self) -> float:
        """Input embedding (+ untied LM head) parameters, billions."""
        copies = 1 if self.tie_word_embeddings else 2
        return copies * self.vocab_size * self.hidden_size / 1e9

    @property
    def expert_params_b(self) -> float:
        """Routed-expert MLP parameters (gate, up, down), billions; 0 for dense models."""
        if not self.num_experts or not self.moe_intermediate_size:
            return 0.0
        per_expert = 3 * self.hidden_size * self.moe_intermediate_size
        return self.num_moe_layers * self.num_experts * per_expert / 1e9


def _check_model_consistency(spec: ModelSpec) -> None:
    if spec.active_params_b > spec.total_params_b * 1.0001:
        raise ValueError("active_params_b must be <= total_params_b")
    if spec.attention == "mla" and not (spec.kv_lora_rank and spec.qk_rope_head_dim):
        raise ValueError("attention 'mla' needs kv_lora_rank and qk_rope_head_dim")
    if spec.arch == "moe" and not (spec.num_experts and spec.moe_intermediate_size and spec.num_moe_layers):
        raise ValueError("arch 'moe' needs num_experts, moe_intermediate_size and num_moe_layers")
    if spec.num_sliding_layers > spec.num_layers:
        raise ValueError("num_sliding_layers must be <= num_layers")
    if spec.num_sliding_layers and not spec.sliding_window:
        raise ValueError("num_sliding_layers > 0 needs sliding_window")
    computed = spec.num_layers * spec.kv_values_per_token_per_layer * 2
    if computed != spec.kv_bytes_per_token_bf16:
        raise ValueError(
            f"kv_bytes_per_token_bf16 {spec.kv_bytes_per_token_bf16} != computed {computed} "
            "(layers x values per token per layer x 2 bytes)"
        )


# ----------------------------------------------------------------------------- error lines
# Shared with benchmatrix.spec (which imports this module): pydantic errors -> one SpecError line.


def format_validation_error(source: str, exc: ValidationError, prefix: str = "") -> str:
    """One line 'FILE: path.to[field]: message' for the first error (count of the rest)."""
    raw = exc.errors(include_url=False)
    # A list whose only item failed also reports 'too short': keep the item's own error.
    raw = [e for e in raw if not (e["type"] == "too_short" and _is_parent(e["loc"], raw))]
    errors = sorted(raw, key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    path = _loc_to_path(first["loc"])
    if prefix and path and not path.startswith("["):
        path = f"{prefix}.{path}"
    else:
        path = prefix + path
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    where = f"{path}: " if path else ""
    return f"{source}: {where}{_error_message(first)}{_typo_hint(first, errors)}{more}"


def _is_parent(loc: tuple[Any, ...], errors: list[Any]) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == tuple(loc) for e in errors)


def _typo_hint(first: Any, errors: list[Any]) -> str:
    """For an unknown key, suggest a missing sibling field it probably meant."""
    if first["type"] != "extra_forbidden":
        return ""
    parent, key = first["loc"][:-1], str(first["loc"][-1])
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
    close = difflib.get_close_matches(key, missing, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_UNION_TAGS = {"fixed", "uniform", "normal", "lognormal", "empirical"}


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part in _UNION_TAGS or part.startswith("function-")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _error_message(err: Any) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {expected}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return f"kind {ctx.get('tag')!r} is not one of {str(ctx.get('expected_tags', '')).replace(chr(39), '')}"
    if kind == "union_tag_not_found":
        return "needs a 'kind' (fixed, uniform, normal, lognormal, empirical) or an integer"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing") or kind.startswith(("greater", "less")):
        return f"{message} (got {value!r})"
    return message


def catalog_dir() -> Path:
    """Folder holding gpus.yaml and models.yaml (``BENCHMATRIX_CATALOG_DIR`` overrides)."""
    return Path(os.environ.get("BENCHMATRIX_CATALOG_DIR", str(_REPO_CATALOG_DIR)))


def _read_yaml_list(path: Path) -> list[Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecError(f"{path}: cannot read catalog ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: YAML syntax error: {exc}") from exc
    if not isinstance(data, list):
        raise SpecError(f"{path}: expected a list of entries at the top level")
    return data


def _parse_entries(path: Path, model: type[BaseModel], key_field: str = "key") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, raw in enumerate(_read_yaml_list(path)):
        try:
            entry = model.model_validate(raw)
        except ValidationError as exc:
            raise SpecError(format_validation_error(str(path), exc, prefix=f"[{index}]")) from exc
        key = getattr(entry, key_field)
        if key in out:
            raise SpecError(f"{path}: [{index}].key: duplicate catalog key {key!r}")
        out[key] = entry
    return out


@lru_cache(maxsize=8)
def _gpus_at(folder: str) -> dict[str, GpuSpec]:
    return _parse_entries(Path(folder) / "gpus.yaml", GpuSpec)


@lru_cache(maxsize=8)
def _models_at(folder: str) -> dict[str, ModelSpec]:
    return _parse_entries(Path(folder) / "models.yaml", ModelSpec)


def gpu_catalog() -> dict[str, GpuSpec]:
    """All GPUs by key (parsed once per catalog folder)."""
    return dict(_gpus_at(str(catalog_dir())))


def model_catalog() -> dict[str, ModelSpec]:
    """All models by key (parsed once per catalog folder)."""
    return dict(_models_at(str(catalog_dir())))


def did_you_mean(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, else a short list of valid names."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if not close:
        close = [c for c in choices if name.lower() in c or c.startswith(name.lower())][:1]
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(sorted(choices)[:12])}{', ...' if len(choices) > 12 else ''})"


def get_gpu(key: str) -> GpuSpec:
    """The catalog GPU ``key``; SpecError with a suggestion when unknown."""
    gpus = _gpus_at(str(catalog_dir()))
    if key not in gpus:
        raise SpecError(f"unknown GPU {key!r}{did_you_mean(key, list(gpus))}")
    return gpus[key]


def get_model(key: str) -> ModelSpec:
    """The catalog model ``key``; SpecError with a suggestion when unknown."""
    models = _models_at(str(catalog_dir()))
    if key not in models:
        raise SpecError(f"unknown model {key!r}{did_you_mean(key, list(models))}")
    return models[key]


def load_hf_config(path: str | Path, key: str | None = None) -> ModelSpec:
    """Build a :class:`ModelSpec` from a local Hugging Face ``config.json`` (no network).

    Parameter counts are computed from the dimensions (marked unverified). Multimodal configs
    use their ``text_config``.
    """
    file = Path(path)
    try:
        raw = json.loads(file.read_text())
    except OSError as exc:
        raise SpecError(f"{file}: cannot read config.json ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"{file}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{file}: expected a JSON object")
    return model_spec_from_hf(raw, key or _key_from_path(file), str(file))


def _key_from_path(file: Path) -> str:
    stem = file.parent.name if file.name == "config.json" else file.stem
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in stem.lower()).strip("-._") or "custom"


# ----------------------------------------------------------------------------- HF config.json

_HF_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "bf16"}


def model_spec_from_hf(raw: dict[str, Any], key: str, source: str) -> ModelSpec:
    """Translate config.json keys into a ModelSpec; parameters are computed, so unverified."""
    cfg = {**raw, **raw["text_config"]} if isinstance(raw.get("text_config"), dict) else dict(raw)
    try:
        facts = _hf_facts(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{source}: config.json lacks or mangles {exc} (need num_hidden_layers, hidden_size, ...)") from exc
    facts.update(key=key, source=f"local config.json {source}", verified=False,
                 notes="parameter counts computed from the config dimensions")
    try:
        return ModelSpec.model_validate(facts)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc)) from exc


def _hf_facts(cfg: dict[str, Any]) -> dict[str, Any]:
    layers, hidden, heads = int(cfg["num_hidden_layers"]), int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    facts: dict[str, Any] = {
        "hf_repo": cfg.get("_name_or_path") or None, "num_layers": layers, "hidden_size": hidden,
        "num_attention_heads": heads, "num_kv_heads": kv_heads, "head_dim": head_dim,
        "intermediate_size": cfg.get("intermediate_size"), "vocab_size": int(cfg["vocab_size"]),
        "max_position_embeddings": int(cfg.get("max_position_embeddings") or 4096),
        "native_dtype": _hf_dtype(cfg), "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
    }
    facts.update(_hf_moe(cfg, layers))
    facts.update(_hf_attention(cfg, layers, kv_heads, head_dim))
    total, active = _hf_params(cfg, facts)
    facts.update(total_params_b=round(total / 1e9, 3), active_params_b=round(active / 1e9, 3))
    return facts


def _hf_dtype(cfg: dict[str, Any]) -> str:
    quant = cfg.get("quantization_config") or {}
    method = str(quant.get("quant_method", "")).lower()
    if method == "fp8":
        return "fp8-block" if quant.get("weight_block_size") else "fp8"
    if method in ("awq", "gptq"):
        return f"int4-{method}"
    if method in ("mxfp4", "nvfp4"):
        return method
    return _HF_DTYPES.get(str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"), "bf16")


def _hf_moe(cfg: dict[str, Any], layers: int) -> dict[str, Any]:
    experts = cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts")
    if not experts:
        return {"arch": "dense"}
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    step = int(cfg.get("interleave_moe_layer_step") or cfg.get("decoder_sparse_step") or 1)
    return {
        "arch": "moe", "num_experts": int(experts),
        "moe_intermediate_size": int(cfg.get("moe_intermediate_size") or cfg.get("intermediate_size_moe") or cfg["intermediate_size"]),
        "num_shared_experts": int(cfg.get("n_shared_experts") or 0),
        "experts_per_token": int(cfg.get("num_experts_per_tok") or cfg.get("experts_per_token") or 1),
        "num_moe_layers": len(range(first_dense, layers, step)),
    }


def _hf_attention(cfg: dict[str, Any], layers: int, kv_heads: int, head_dim: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cfg.get("kv_lora_rank"):
        out.update(attention="mla", kv_lora_rank=int(cfg["kv_lora_rank"]), qk_rope_head_dim=int(cfg["qk_rope_head_dim"]))
        values = out["kv_lora_rank"] + out["qk_rope_head_dim"]
    else:
        out["attention"] = "mha" if kv_heads == int(cfg["num_attention_heads"]) else "gqa"
        values = 2 * kv_heads * head_dim
    out["kv_bytes_per_token_bf16"] = layers * values * 2
    sliding = _hf_sliding_layers(cfg, layers)
    if sliding:
        out.update(sliding_window=int(cfg["sliding_window"]), num_sliding_layers=sliding)
    return out


def _hf_sliding_layers(cfg: dict[str, Any], layers: int) -> int:
    if not cfg.get("sliding_window") or cfg.get("use_sliding_window") is False:
        return 0
    types = cfg.get("layer_types")
    if isinstance(types, list):
        return sum(1 for t in types if "sliding" in str(t))
    pattern = cfg.get("sliding_window_pattern")
    if pattern:
        return layers - layers // int(pattern)
    return layers


def _hf_params(cfg: dict[str, Any], f: dict[str, Any]) -> tuple[float, float]:
    hidden, layers, heads = f["hidden_size"], f["num_layers"], f["num_attention_heads"]
    if f["attention"] == "mla":
        nope, rope, v_dim = int(cfg.get("qk_nope_head_dim", 128)), f["qk_rope_head_dim"], int(cfg.get("v_head_dim", 128))
        q_rank, kv_rank = int(cfg.get("q_lora_rank") or 0), f["kv_lora_rank"]
        q = hidden * q_rank + q_rank * heads * (nope + rope) if q_rank else hidden * heads * (nope + rope)
        attn = q + hidden * (kv_rank + rope) + kv_rank * heads * (nope + v_dim) + heads * v_dim * hidden
    else:
        hd, kv = f["head_dim"], f["num_kv_heads"]
        attn = 2 * hidden * heads * hd + 2 * hidden * kv * hd
    embed = f["vocab_size"] * hidden * (1 if f["tie_word_embeddings"] else 2)
    moe_layers = f.get("num_moe_layers", 0)
    dense_mlp = (layers - moe_layers) * 3 * hidden * int(f.get("intermediate_size") or 0)
    expert = 3 * hidden * int(f.get("moe_intermediate_size") or 0)
    shared = f.get("num_shared_experts", 0)
    base = embed + layers * attn + dense_mlp
    total = base + moe_layers * (f.get("num_experts", 0) + shared) * expert
    active = base + moe_layers * (f.get("experts_per_token", 0) + shared) * expert
    return float(total), float(active)


__all__ = [
    "DTYPES",
    "Dtype",
    "GpuSpec",
    "ModelSpec",
    "catalog_dir",
    "did_you_mean",
    "get_gpu",
    "get_model",
    "gpu_catalog",
    "format_validation_error",
    "load_hf_config",
    "model_catalog",
]
