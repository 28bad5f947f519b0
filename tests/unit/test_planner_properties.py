"""Property tests: more memory never needs more TP; plans never use more GPUs than exist."""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmatrix.catalog import model_catalog
from benchmatrix.errors import PlanError
from benchmatrix.planner import TP_DEGREES, TpPlan, plan_tp
from benchmatrix.spec import Scenario
from tests.support.spec_builders import make_scenario

MODELS = sorted(k for k, m in model_catalog().items() if m.total_params_b < 300)


@lru_cache(maxsize=None)
def _base(model: str, gpu_count: int) -> Scenario:
    max_len = min(8192, model_catalog()[model].max_position_embeddings)
    return make_scenario(model=model, gpu_count=gpu_count, max_model_len=max_len)


def _with(base: Scenario, memory_gib: float, concurrency: int, max_tokens: int) -> Scenario:
    load = base.load.model_copy(update={"concurrency": concurrency, "output_tokens": base.load.output_tokens.model_copy(update={"value": max_tokens})})
    return base.model_copy(update={"gpu": base.gpu.model_copy(update={"memory_gib": memory_gib}), "load": load})


def _plan(scenario: Scenario) -> TpPlan | None:
    try:
        return plan_tp(scenario)
    except PlanError:
        return None


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    gpu_count=st.sampled_from([1, 2, 3, 4, 6, 8]),
    memory=st.floats(min_value=8, max_value=400),
    extra=st.floats(min_value=0, max_value=400),
    concurrency=st.integers(min_value=1, max_value=512),
    max_tokens=st.integers(min_value=1, max_value=4096),
)
def test_tp_never_increases_when_memory_grows(model: str, gpu_count: int, memory: float, extra: float, concurrency: int, max_tokens: int) -> None:
    base = _base(model, gpu_count)
    small = _plan(_with(base, memory, concurrency, max_tokens))
    large = _plan(_with(base, memory + extra, concurrency, max_tokens))
    if small is not None:
        assert large is not None
        assert large.tp_degree <= small.tp_degree


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    gpu_count=st.integers(min_value=1, max_value=8),
    memory=st.floats(min_value=8, max_value=400),
    concurrency=st.integers(min_value=1, max_value=512),
)
def test_replicas_times_tp_within_gpus(model: str, gpu_count: int, memory: float, concurrency: int) -> None:
    plan = _plan(_with(_base(model, gpu_count), memory, concurrency, 256))
    if plan is None:
        return
    assert plan.tp_degree in TP_DEGREES and plan.replicas in (1, 2, 4, 8)
    assert plan.gpus_used == plan.replicas * plan.tp_degree <= gpu_count
    assert all(r.tp_degree < plan.tp_degree for r in plan.rejected)
    assert plan.max_concurrent_seqs >= 1 and plan.kv_gib_per_gpu > 0
