"""The matrix language: typed, strict models of a matrix YAML file and of one expanded scenario.

A matrix names ``hardware`` entries, ``models`` and ``loads`` (plus ``defaults``, ``include`` /
``exclude`` rules, ``overrides``, ``slo``, ``checks`` and ``sim``) and expands to scenarios:
hardware x model x load point (see :mod:`benchmatrix.expand` and docs/matrix.md).

Every model forbids unknown keys. :func:`load_matrix` turns YAML and validation problems into one
:class:`~benchmatrix.errors.SpecError` that names the file and the field path, e.g.
``matrices/nightly.yaml: models[1].dtype: 'bf17' is not one of bf16, fp16, ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from benchmatrix.catalog import Dtype, GpuSpec, ModelSpec, format_validation_error
from benchmatrix.distributions import Distribution, coerce_distribution
from benchmatrix.errors import SpecError

_SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SMOKE_MATRIX_PATH = Path(__file__).resolve().parents[1] / "matrices" / "smoke.yaml"

# Strict scalars: YAML `true`, "2" or 2.5 are not silently turned into the integer a field needs.
SInt = Annotated[int, Strict()]
SFloat = Annotated[float, Strict()]
SBool = Annotated[bool, Strict()]
TokenDistribution = Annotated[Distribution, BeforeValidator(coerce_distribution)]
Engine = Literal["vllm", "sglang", "tgi", "llamacpp", "sim"]
Backend = Literal["sim", "docker", "command"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: object) -> object:
    """Accept a scalar where a list is expected (``concurrency: 8`` == ``concurrency: [8]``)."""
    if value is None or isinstance(value, (list, tuple)):
        return value
    return [value]


# A scalar or a list in YAML; a tuple of positive numbers after validation.
ConcurrencyLevels = Annotated[tuple[Annotated[int, Strict(), Field(gt=0)], ...], BeforeValidator(_as_list)]
RateLevels = Annotated[tuple[Annotated[float, Strict(), Field(gt=0)], ...], BeforeValidator(_as_list)]


# ----------------------------------------------------------------------------- hardware


class HardwareEntry(_Strict):
    """Where scenarios run: a catalog GPU type, how many, and which backend starts replicas."""

    name: str | None = Field(default=None, pattern=_SLUG, description="Label in scenario names; default '<gpu short name>x<count>'.")
    gpu: str = Field(description="GPU catalog key (benchmatrix catalog gpus).")
    gpu_count: SInt = Field(gt=0, description="GPUs available to this entry (split into replicas x TP).")
    nodes: SInt = Field(default=1, gt=0, description="Nodes the GPUs span; TP stays inside one node.")
    backend: Backend = Field(default="sim", description="How replicas start: simulated process, Docker, or a command.")
    work_pool: str | None = Field(default=None, description="Prefect work pool that reaches this host.")
    price_per_gpu_hour: SFloat | None = Field(default=None, ge=0, description="USD per GPU-hour, for cost columns.")
    command: str | None = Field(default=None, description="backend 'command': a profile name or a command template.")
    docker_host: str | None = Field(default=None, description="backend 'docker': DOCKER_HOST URL; None = local engine.")

    @model_validator(mode="after")
    def _backend_fields(self) -> "HardwareEntry":
        if self.backend == "command" and not self.command:
            raise ValueError("backend 'command' needs 'command' (a profile name or a command template)")
        if self.backend != "command" and self.command:
            raise ValueError(f"'command' is only used with backend 'command' (backend is {self.backend!r})")
        if self.backend != "docker" and self.docker_host:
            raise ValueError(f"'docker_host' is only used with backend 'docker' (backend is {self.backend!r})")
        return self


# ----------------------------------------------------------------------------- models


class EngineOptions(_Strict):
    """Serving-engine knobs the planner reads (others pass through as ``extra_args``)."""

    gpu_memory_utilization: SFloat = Field(default=0.9, gt=0, le=1, description="Share of usable GPU memory the engine may take.")
    max_num_seqs: SInt = Field(default=256, gt=0, description="Most sequences one replica runs at once.")
    max_num_batched_tokens: SInt | None = Field(default=None, gt=0, description="Tokens per scheduler step; None = engine default (8192 for planning).")
    kv_cache_dtype: Literal["auto", "bf16", "fp16", "fp8"] = Field(default="auto", description="'auto' = bf16 KV cache.")
    enable_prefix_caching: SBool = True
    enforce_eager: SBool = False
    extra_args: tuple[str, ...] = Field(default=(), description="Extra engine command-line arguments, passed verbatim.")


class ModelEntry(_Strict):
    """A model to serve: a catalog name, inline architecture facts, or a local config.json."""

    name: str = Field(pattern=_SLUG, description="Label in scenario names; also the catalog key unless 'catalog' is set.")
    catalog: str | None = Field(default=None, description="Catalog key when it differs from 'name'.")
    architecture: ModelSpec | None = Field(default=None, description="Inline architecture facts instead of the catalog.")
    config_json: Path | None = Field(default=None, description="Local Hugging Face config.json to read the architecture from.")
    hf_repo: str | None = Field(default=None, description="Weights to serve (real engines); default from the catalog.")
    dtype: Dtype | None = Field(default=None, description="Weight dtype/quantization; default the checkpoint's native dtype.")
    max_model_len: SInt | None = Field(default=None, gt=0, description="Context length; default the model's max position.")
    engine: Engine = Field(default="vllm", description="Serving engine.")
    engine_options: EngineOptions = Field(default_factory=EngineOptions)
    served_name: str | None = Field(default=None, description="Model name in the OpenAI API; default 'name'.")
    tp: SInt | None = Field(default=None, description="Tensor-parallel degree to use; the planner checks it.")

    @field_validator("tp")
    @classmethod
    def _tp_power_of_two(cls, value: int | None) -> int | None:
        if value is not None and value not in (1, 2, 4, 8):
            raise ValueError(f"{value} is not one of 1, 2, 4, 8")
        return value

    @model_validator(mode="before")
    @classmethod
    def _inline_defaults(cls, data: Any) -> Any:
        """Inline architecture: key from the entry name, marked unverified, KV bytes computed."""
        if isinstance(data, dict) and isinstance(data.get("architecture"), dict):
            arch = {"source": "inline in the matrix", "verified": False, **data["architecture"]}
            arch.setdefault("key", str(data.get("name", "inline")).lower())
            data = {**data, "architecture": _with_kv_bytes(arch)}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> "ModelEntry":
        given = [k for k in ("catalog", "architecture", "config_json") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of catalog, architecture, config_json (got {', '.join(given)})")
        return self


def _with_kv_bytes(arch: dict[str, Any]) -> dict[str, Any]:
    """Fill kv_bytes_per_token_bf16 from the dimensions when an inline architecture omits it."""
    if "kv_bytes_per_token_bf16" in arch:
        return arch
    try:
        if arch.get("attention") == "mla":
            values = int(arch["kv_lora_rank"]) + int(arch["qk_rope_head_dim"])
        else:
            values = 2 * int(arch["num_kv_heads"]) * int(arch["head_dim"])
        return {**arch, "kv_bytes_per_token_bf16": int(arch["num_layers"]) * values * 2}
    except (KeyError, TypeError, ValueError):
        return arch  # validation then names the missing or malformed field


# ----------------------------------------------------------------------------- loads


class ImageSize(_Strict):
    width: SInt = Field(gt=0, le=16384, description="Pixels.")
    height: SInt = Field(gt=0, le=16384, description="Pixels.")


class VisionOptions(_Strict):
    """Images attached to each vision request."""

    images_per_request: SInt = Field(default=1, gt=0, le=64)
    sizes: tuple[ImageSize, ...] = Field(default=(ImageSize(width=512, height=512),), min_length=1, description="Image sizes, drawn uniformly.")


class SpeechOptions(_Strict):
    """Synthetic audio attached to each speech request."""

    seconds: TokenDistribution = Field(description="Audio length distribution in whole seconds.")
    sample_rate_hz: SInt = Field(default=16000, gt=0)


class LoadProfile(_Strict):
    """A load profile; every concurrency and every rate value becomes one load point."""

    name: str = Field(pattern=_SLUG, description="Label in scenario names.")
    modality: Literal["text", "vision", "speech"] = "text"
    endpoint: Literal["chat", "completions", "audio"] = "chat"
    input_tokens: TokenDistribution = Field(description="Prompt length distribution (tokens).")
    output_tokens: TokenDistribution = Field(description="max_tokens distribution (tokens).")
    concurrency: ConcurrencyLevels | None = Field(default=None, description="Closed-loop concurrency levels (all replicas together).")
    rate_rps: RateLevels | None = Field(default=None, description="Open-loop request rates, requests/s.")
    arrival: Literal["poisson", "constant", "gamma"] = Field(default="poisson", description="Inter-arrival process for rate loads.")
    burstiness: SFloat = Field(default=1.0, gt=0, description="Gamma shape (1 = Poisson; < 1 burstier).")
    num_requests: SInt | None = Field(default=None, gt=0, description="Measured requests per point (warmup excluded).")
    duration_s: SFloat | None = Field(default=None, gt=0, description="Stop sending after this many seconds.")
    warmup_requests: SInt = Field(default=0, ge=0)
    ignore_eos: SBool = True
    timeout_s: SFloat = Field(default=300.0, gt=0, description="Per-request timeout, seconds.")
    seed: SInt = Field(default=0, ge=0)
    images: VisionOptions | None = None
    audio: SpeechOptions | None = None

    @model_validator(mode="after")
    def _coherent(self) -> "LoadProfile":
        if not self.concurrency and not self.rate_rps:
            raise ValueError("give 'concurrency' or 'rate_rps' (a list of load levels)")
        if self.num_requests is None and self.duration_s is None:
            raise ValueError("give 'num_requests' or 'duration_s'")
        _check_modality(self)
        return self


def _check_modality(load: LoadProfile) -> None:
    if load.modality == "vision" and load.images is None:
        raise ValueError("modality 'vision' needs 'images'")
    if load.modality == "speech" and load.audio is None:
        raise ValueError("modality 'speech' needs 'audio'")
    if load.modality != "vision" and load.images is not None:
        raise ValueError(f"'images' is only used with modality 'vision' (modality is {load.modality!r})")
    if load.modality != "speech" and load.audio is not None:
        raise ValueError(f"'audio' is only used with modality 'speech' (modality is {load.modality!r})")
    if load.endpoint == "audio" and load.modality != "speech":
        raise ValueError("endpoint 'audio' needs modality 'speech'")


class LoadPoint(_Strict):
    """One load level of a profile: exactly one of ``concurrency`` / ``rate_rps`` is set."""

    profile: str
    modality: Literal["text", "vision", "speech"]
    endpoint: Literal["chat", "completions", "audio"]
    input_tokens: TokenDistribution
    output_tokens: TokenDistribution
    concurrency: SInt | None = Field(default=None, gt=0)
    rate_rps: SFloat | None = Field(default=None, gt=0)
    arrival: Literal["poisson", "constant", "gamma"] = "poisson"
    burstiness: SFloat = Field(default=1.0, gt=0)
    num_requests: SInt | None = Field(default=None, gt=0)
    duration_s: SFloat | None = Field(default=None, gt=0)
    warmup_requests: SInt = Field(default=0, ge=0)
    ignore_eos: SBool = True
    timeout_s: SFloat = Field(default=300.0, gt=0)
    seed: SInt = Field(default=0, ge=0)
    images: VisionOptions | None = None
    audio: SpeechOptions | None = None

    @model_validator(mode="after")
    def _one_level(self) -> "LoadPoint":
        if (self.concurrency is None) == (self.rate_rps is None):
            raise ValueError("a load point has exactly one of concurrency or rate_rps")
        return self

    @property
    def label(self) -> str:
        """'chat@c16' or 'chat@r2.5'."""
        if self.concurrency is not None:
            return f"{self.profile}@c{self.concurrency}"
        return f"{self.profile}@r{self.rate_rps:g}"


# ----------------------------------------------------------------------------- matrix-wide


class Slo(_Strict):
    """Latency targets for goodput: a request is 'good' when it meets every target given."""

    ttft_ms: SFloat | None = Field(default=None, gt=0, description="Time to first token, ms.")
    tpot_ms: SFloat | None = Field(default=None, gt=0, description="Time per output token after the first, ms.")
    e2e_ms: SFloat | None = Field(default=None, gt=0, description="End-to-end latency, ms.")
    percentile: Literal["p50", "p90", "p95", "p99"] = Field(default="p99", description="Percentile the SLO is judged at.")


class CheckThresholds(_Strict):
    """Thresholds for the per-scenario data checks."""

    max_error_share: SFloat = Field(default=0.05, ge=0, le=1, description="Largest share of failed requests.")
    replica_share_tolerance: SFloat = Field(default=0.25, ge=0, le=1, description="Allowed relative deviation of each replica's request share from 1/replicas.")
    max_dispatch_lag_p99_ms: SFloat = Field(default=50.0, gt=0, description="p99 of sent - intended send time, ms.")
    rate_tolerance: SFloat = Field(default=0.1, ge=0, le=1, description="Allowed relative deviation of the achieved send rate from the seeded schedule's (open loop).")
    concurrency_tolerance: SFloat = Field(default=0.1, ge=0, le=1, description="Allowed relative deviation of mean in-flight from target concurrency.")
    min_requests: SInt = Field(default=1, gt=0, description="Fewest measured requests a scenario must have.")


class SimOptions(_Strict):
    """Options for simulated replicas (backend 'sim')."""

    time_scale: SFloat = Field(default=1.0, gt=0, description="Simulated seconds per real second is 1/time_scale; 0.25 runs 4x faster.")
    seed: SInt = Field(default=0, ge=0)
    tokens_per_event: SInt = Field(default=1, gt=0, description="Tokens per streamed SSE event.")


class RegressionSettings(_Strict):
    """When a nightly run counts as regressed, and whom to tell (nobody unless named)."""

    threshold_pct: SFloat = Field(default=10.0, gt=0, description="A scenario worse than its previous run by more than this percentage (TTFT/TPOT/E2E p99 up, throughput down) is a regression.")
    notify_block: str | None = Field(default=None, min_length=1, description="Prefect notification block ('type/name', e.g. 'custom-webhook/bench-alerts') called when a run regresses; None = off.")


RULE_KEYS: tuple[str, ...] = (
    "hardware", "gpu", "gpu_count", "nodes", "backend", "work_pool",
    "model", "dtype", "engine", "max_model_len",
    "load", "modality", "endpoint", "arrival", "concurrency", "rate_rps",
)
RuleValue = Annotated[tuple[str | int | float, ...], BeforeValidator(_as_list)]


class Rule(_Strict):
    """Matches scenarios: every key given must match (a list matches any of its values)."""

    hardware: RuleValue | None = None
    gpu: RuleValue | None = None
    gpu_count: RuleValue | None = None
    nodes: RuleValue | None = None
    backend: RuleValue | None = None
    work_pool: RuleValue | None = None
    model: RuleValue | None = None
    dtype: RuleValue | None = None
    engine: RuleValue | None = None
    max_model_len: RuleValue | None = None
    load: RuleValue | None = None
    modality: RuleValue | None = None
    endpoint: RuleValue | None = None
    arrival: RuleValue | None = None
    concurrency: RuleValue | None = None
    rate_rps: RuleValue | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "Rule":
        if not self.given():
            raise ValueError(f"a rule needs at least one of {', '.join(RULE_KEYS)}")
        return self

    def given(self) -> dict[str, tuple[str | int | float, ...]]:
        """The keys this rule constrains."""
        return {k: getattr(self, k) for k in RULE_KEYS if getattr(self, k) is not None}


class Override(_Strict):
    """Pins the TP degree for matching scenarios (the planner still checks it)."""

    match: Rule
    tp: SInt = Field(description="Tensor-parallel degree: 1, 2, 4 or 8.")

    @field_validator("tp")
    @classmethod
    def _tp_power_of_two(cls, value: int) -> int:
        if value not in (1, 2, 4, 8):
            raise ValueError(f"{value} is not one of 1, 2, 4, 8")
        return value


class Defaults(_Strict):
    """Keys merged into every entry of the matching list (an entry's own keys win)."""

    hardware: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    loads: dict[str, Any] = Field(default_factory=dict)


class Matrix(_Strict):
    """A whole matrix file (after ``defaults`` were merged into the entries)."""

    name: str = Field(pattern=_SLUG, description="Matrix name, stored with every run.")
    description: str = ""
    defaults: Defaults = Field(default_factory=Defaults)
    hardware: tuple[HardwareEntry, ...] = Field(min_length=1)
    models: tuple[ModelEntry, ...] = Field(min_length=1)
    loads: tuple[LoadProfile, ...] = Field(min_length=1)
    include: tuple[Rule, ...] = Field(default=(), description="If given, keep only scenarios matching one rule.")
    exclude: tuple[Rule, ...] = Field(default=(), description="Drop scenarios matching any rule.")
    overrides: tuple[Override, ...] = Field(default=(), description="Per-scenario TP pins.")
    slo: Slo = Field(default_factory=Slo)
    checks: CheckThresholds = Field(default_factory=CheckThresholds)
    sim: SimOptions = Field(default_factory=SimOptions)
    regressions: RegressionSettings | None = Field(default=None, description="Regression threshold and notification; unset = environment (BENCHMATRIX_REGRESSION_THRESHOLD_PCT, BENCHMATRIX_NOTIFY_BLOCK) or defaults.")

    _source: str = PrivateAttr(default="<matrix>")

    @property
    def source(self) -> str:
        """The file this matrix was loaded from (for error messages)."""
        return self._source


class Scenario(_Strict):
    """One cell of the matrix, fully resolved: what to deploy, with what, under which load."""

    scenario_id: str = Field(pattern=r"^[0-9a-f]{12}$", description="sha256 of the resolved hardware/model/load/tp, 12 hex.")
    name: str = Field(description="'h100x2/llama-3.1-8b/chat@c16'.")
    matrix_name: str
    hardware: HardwareEntry
    gpu: GpuSpec
    model: ModelEntry
    model_spec: ModelSpec
    load: LoadPoint
    slo: Slo
    checks: CheckThresholds
    sim: SimOptions
    tp: SInt | None = Field(default=None, description="User TP override (checked by the planner).")


def load_matrix(path: str | Path) -> Matrix:
    """Read, merge defaults, validate and check references of a matrix file.

    Raises SpecError naming the file and the field path for any problem: YAML syntax (with the
    line), unknown keys, wrong types, impossible values, unknown catalog names (with a
    suggestion), GPU counts that exceed the nodes, and rules naming entries that do not exist.
    """
    from benchmatrix.expand import check_references

    file = Path(path)
    matrix = parse_matrix(_read_yaml(file), str(file))
    check_references(matrix)
    return matrix


def parse_matrix(data: object, source: str = "<matrix>") -> Matrix:
    """Validate an already-parsed mapping (defaults merged here); SpecError on problems."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with name, hardware, models, loads at the top level")
    merged = _merge_defaults(data, source)
    try:
        matrix = Matrix.model_validate(merged)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc)) from exc
    matrix._source = source
    return matrix


def _strict_loader() -> type:
    """A SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last one silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _read_yaml(file: Path) -> object:
    import yaml

    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(f"{file}: cannot read matrix file ({exc.strerror or exc})") from exc
    try:
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError(f"{file}: YAML syntax error: {where}{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: YAML syntax error: {exc}") from exc


_DEFAULT_TARGETS: dict[str, type[BaseModel]] = {
    "hardware": HardwareEntry, "models": ModelEntry, "loads": LoadProfile,
}


def _merge_defaults(data: dict[str, Any], source: str) -> dict[str, Any]:
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SpecError(f"{source}: defaults: expected a mapping with hardware, models, loads")
    out = dict(data)
    for section, model in _DEFAULT_TARGETS.items():
        extra = defaults.get(section) or {}
        if not isinstance(extra, dict):
            raise SpecError(f"{source}: defaults.{section}: expected a mapping")
        _check_default_keys(extra, model, f"defaults.{section}", source)
        entries = data.get(section)
        if extra and isinstance(entries, list):
            out[section] = [_deep_merge(extra, e) if isinstance(e, dict) else e for e in entries]
    return out


def _check_default_keys(extra: dict[str, Any], model: type[BaseModel], where: str, source: str) -> None:
    for key in extra:
        if key not in model.model_fields:
            allowed = ", ".join(model.model_fields)
            raise SpecError(f"{source}: {where}.{key}: unknown key (allowed: {allowed})")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; nested mappings merge key by key (so engine_options add up)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


__all__ = [
    "SMOKE_MATRIX_PATH",
    "CheckThresholds",
    "Defaults",
    "EngineOptions",
    "GpuSpec",
    "HardwareEntry",
    "ImageSize",
    "LoadPoint",
    "LoadProfile",
    "Matrix",
    "ModelEntry",
    "ModelSpec",
    "Override",
    "RULE_KEYS",
    "Rule",
    "Scenario",
    "SimOptions",
    "Slo",
    "SpeechOptions",
    "VisionOptions",
    "format_validation_error",
    "load_matrix",
    "matrix_json_schema",
    "parse_matrix",
]


def matrix_json_schema() -> dict[str, Any]:
    """JSON Schema of a matrix file for editors: the validation schema of :class:`Matrix` plus the
    YAML shorthands (an integer for a distribution, a scalar for a list) and the catalog GPU keys."""
    from benchmatrix.catalog import gpu_catalog

    schema = Matrix.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "benchmatrix matrix"
    defs = schema["$defs"]
    for model, field in (("LoadProfile", "input_tokens"), ("LoadProfile", "output_tokens"), ("SpeechOptions", "seconds")):
        _allow_int_shorthand(defs[model]["properties"], field)
    for field in ("concurrency", "rate_rps"):
        _allow_scalar(defs["LoadProfile"]["properties"][field])
    for prop in defs["Rule"]["properties"].values():
        _allow_scalar(prop)
    defs["HardwareEntry"]["properties"]["gpu"]["enum"] = sorted(gpu_catalog())
    for model in ("HardwareEntry", "ModelEntry", "LoadProfile"):
        defs[model].pop("required", None)  # `defaults` may supply any key of an entry
    return schema


def _allow_int_shorthand(props: dict[str, Any], field: str) -> None:
    inner = {k: v for k, v in props[field].items() if k not in ("description", "title")}
    props[field] = {
        "description": props[field].get("description", ""),
        "anyOf": [{"type": "integer", "exclusiveMinimum": 0}, inner],
    }


def _allow_scalar(prop: dict[str, Any]) -> None:
    for option in prop.get("anyOf", []):
        if option.get("type") == "array":
            prop["anyOf"] = [*prop["anyOf"], option["items"]]
            return
