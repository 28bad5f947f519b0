"""Exact numbers of the roofline step model."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from benchmatrix.sim import SimEngineConfig, StepShape, step_time
from benchmatrix.sim.model import (
    allreduce_time_s, compute_time_s, decode_shape, memory_time_s, prefill_pairs, prefill_shape,
    touched_params_b,
)

BASE = dict(
    replica_id="r0", served_model_name="m", tp_degree=1, gpu_name="G", memory_gib=80.0,
    hbm_bandwidth_tbps=2.0, bf16_tflops=1000.0, fp8_tflops=2000.0, interconnect_gbps=800.0,
    total_params_b=10.0, active_params_b=10.0, num_layers=10, hidden_size=1000,
    kv_bytes_per_token=100_000, kv_capacity_tokens=100_000, hbm_efficiency=0.5,
    compute_efficiency=0.5, interconnect_efficiency=0.5, allreduce_hop_latency_us=1.0,
    step_overhead_ms=1.0, per_seq_overhead_us=10.0,
)


def cfg(**kw: object) -> SimEngineConfig:
    return SimEngineConfig(**{**BASE, **kw})


def test_decode_step_is_memory_bound_with_exact_time() -> None:
    c = cfg()
    shape = decode_shape(c, batch=2, context_tokens=1000)
    t = step_time(c, shape)
    # weights 10e9 x 2 B = 20e9 B; KV 2 x 1000 x 1e5 = 2e8 B; at 2e12 x 0.5 = 1e12 B/s
    assert t.memory_s == pytest.approx(20.2e9 / 1e12)
    # 2 x 10e9 x 2 tokens + 4 x 10 x 1000 x 2000 pairs = 4e10 + 8e7 FLOP at 5e14 FLOP/s
    assert t.compute_s == pytest.approx((4e10 + 8e7) / 5e14)
    assert t.allreduce_s == 0.0
    assert t.overhead_s == pytest.approx(1e-3 + 2 * 10e-6)
    assert t.total_s == pytest.approx(20.2e-3 + 1.02e-3)


def test_prefill_step_is_compute_bound() -> None:
    c = cfg()
    shape = prefill_shape(c, 4000)
    assert shape.attention_pairs == 4000 * 4001 // 2
    t = step_time(c, shape)
    flops = 2 * 10e9 * 4000 + 4 * 10 * 1000 * (4000 * 4001 // 2)
    assert t.compute_s == pytest.approx(flops / 5e14)
    assert t.total_s == pytest.approx(flops / 5e14 + 1e-3 + 10e-6)


def test_tensor_parallel_divides_weights_and_kv_and_adds_allreduce() -> None:
    c = cfg(tp_degree=4)
    shape = decode_shape(c, batch=1, context_tokens=1000)
    assert memory_time_s(c, shape) == pytest.approx((20e9 / 4 + 1e8 / 4) / 1e12)
    # ring: 2 x 3/4 x (1 token x 1000 x 2 B) / (400e9 x 0.5) + 2 x 3 hops x 1 us, x 2 x 10 layers
    per_allreduce = 2 * 3 / 4 * 2000 / 200e9 + 6e-6
    assert allreduce_time_s(c, 1) == pytest.approx(20 * per_allreduce)
    assert step_time(c, shape).allreduce_s == pytest.approx(20 * per_allreduce)


def test_mla_kv_is_not_split_by_tp() -> None:
    c = cfg(tp_degree=4, kv_split_by_tp=False)
    shape = decode_shape(c, batch=1, context_tokens=1000)
    assert memory_time_s(c, shape) == pytest.approx((20e9 / 4 + 1e8) / 1e12)


def test_fp8_weights_use_fp8_tflops_and_one_byte() -> None:
    c = cfg(weight_bytes_per_param=1.0)
    shape = prefill_shape(c, 1000)
    assert compute_time_s(c, shape) == pytest.approx(
        (2 * 10e9 * 1000 + 4 * 10 * 1000 * prefill_pairs(0, 1000)) / (2000e12 * 0.5))
    assert memory_time_s(c, decode_shape(c, 1, 0)) == pytest.approx(10e9 / 1e12)


def test_fp8_without_fp8_tensor_cores_falls_back_to_bf16() -> None:
    c = cfg(weight_bytes_per_param=1.0, fp8_tflops=None)
    shape = StepShape(prefill_tokens=100, decode_seqs=0, kv_read_tokens=0, attention_pairs=0,
                      num_seqs=1)
    assert compute_time_s(c, shape) == pytest.approx(2 * 10e9 * 100 / 5e14)


def test_moe_touched_params_grow_with_batch_to_total() -> None:
    c = cfg(total_params_b=46.7, active_params_b=12.9, num_experts=8, experts_per_token=2)
    expert = (46.7 - 12.9) / 6
    shared = 12.9 - 2 * expert
    assert touched_params_b(c, 1) == pytest.approx(shared + 8 * expert * 0.25)
    assert touched_params_b(c, 1) == pytest.approx(12.9)
    assert touched_params_b(c, 4) == pytest.approx(shared + 8 * expert * (1 - 0.75**4))
    assert touched_params_b(c, 1000) == pytest.approx(46.7)


def test_empty_step_costs_nothing() -> None:
    c = cfg()
    assert step_time(c, StepShape(0, 0, 0, 0, 0)).total_s == 0.0


def test_config_rejects_unknown_fields_and_inconsistency() -> None:
    with pytest.raises(ValidationError):
        cfg(bogus=1)
    with pytest.raises(ValidationError):
        cfg(active_params_b=20.0)
    with pytest.raises(ValidationError):
        cfg(num_experts=8)


def test_preset_h100_llama8b_single_stream_decode_is_near_published() -> None:
    from benchmatrix.sim import preset_config

    c = preset_config("h100-llama8b")
    t = step_time(c, decode_shape(c, 1, 512)).total_s
    assert 5.5e-3 < t < 7.5e-3  # vLLM on H100: ~6.5 ms TPOT (bench/sim_calibration.py)
    assert math.isclose(c.hbm_bandwidth_tbps, 3.35)
