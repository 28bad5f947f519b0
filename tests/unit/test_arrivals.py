"""Arrival schedules are pure: exact values for a given seed, no clocks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmatrix.errors import LoadGenError
from benchmatrix.loadgen import LoadRunConfig, build_schedule
from benchmatrix.loadgen.arrivals import (
    apply_ramp,
    closed_loop_slot_starts,
    constant_arrivals,
    derive_seed,
    gamma_arrivals,
    open_loop_times,
    poisson_arrivals,
    read_trace,
    truncate_to_duration,
)
from benchmatrix.loadgen.search import next_probe


def test_constant_arrivals_are_evenly_spaced():
    assert constant_arrivals(4, 2.0).tolist() == [0.0, 0.5, 1.0, 1.5]


def test_poisson_is_seeded_and_starts_at_zero():
    a = poisson_arrivals(1000, 10.0, seed=7)
    assert a[0] == 0.0
    assert np.array_equal(a, poisson_arrivals(1000, 10.0, seed=7))
    assert not np.array_equal(a, poisson_arrivals(1000, 10.0, seed=8))
    assert np.all(np.diff(a) >= 0)
    assert np.mean(np.diff(a)) == pytest.approx(0.1, rel=0.1)


def test_poisson_first_gaps_match_numpy_exponential():
    rng = np.random.default_rng(3)
    expected_gaps = rng.gamma(1.0, 1.0 / 5.0, size=3)[:2]
    got = poisson_arrivals(3, 5.0, seed=3)
    np.testing.assert_allclose(np.diff(got), expected_gaps)


def test_gamma_burstiness_changes_spread_not_mean():
    bursty = np.diff(gamma_arrivals(5000, 20.0, 0.25, seed=1))
    regular = np.diff(gamma_arrivals(5000, 20.0, 4.0, seed=1))
    assert np.mean(bursty) == pytest.approx(0.05, rel=0.1)
    assert np.mean(regular) == pytest.approx(0.05, rel=0.05)
    assert np.std(bursty) > 3 * np.std(regular)


def test_unknown_arrival_is_an_error():
    with pytest.raises(LoadGenError, match="unknown arrival"):
        open_loop_times(3, 1.0, "zipf", 1.0, 0)


def test_ramp_keeps_order_and_shifts_after_ramp_by_half():
    times = constant_arrivals(21, 10.0)  # 0..2 s at 10/s
    ramped = apply_ramp(times, 1.0)
    assert np.all(np.diff(ramped) > 0)
    # t >= ramp/2 maps to t + ramp/2
    np.testing.assert_allclose(ramped[times >= 0.5], times[times >= 0.5] + 0.5)
    # before: sqrt(2 * ramp * t), e.g. t=0.2 -> sqrt(0.4)
    assert ramped[2] == pytest.approx(np.sqrt(0.4))


def test_truncate_and_closed_loop_slots():
    assert truncate_to_duration(np.array([0.0, 1.0, 2.0]), 2.0).tolist() == [0.0, 1.0]
    assert truncate_to_duration(np.array([0.0, 5.0]), None).tolist() == [0.0, 5.0]
    assert closed_loop_slot_starts(4, None).tolist() == [0.0] * 4
    assert closed_loop_slot_starts(4, 2.0).tolist() == [0.0, 0.5, 1.0, 1.5]


def test_trace_reading_sorts_and_shifts(tmp_path):
    path = tmp_path / "trace.jsonl"
    rows = [{"timestamp": 2500, "input_length": 10, "output_length": 5},
            {"timestamp": 1000, "input_length": 20, "output_length": 7},
            {"timestamp_s": 1.5, "input_tokens": 30, "output_tokens": 9}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    trace = read_trace(path)
    assert [r.timestamp_s for r in trace] == [0.0, 0.5, 1.5]
    assert [r.input_tokens for r in trace] == [20, 30, 10]


def test_trace_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"timestamp": 1}\n')
    with pytest.raises(LoadGenError, match="bad.jsonl:1"):
        read_trace(path)


def _cfg(**kw) -> LoadRunConfig:
    return LoadRunConfig(base_url="http://127.0.0.1:1", model="m", **kw)


def test_build_schedule_is_deterministic_and_marks_warmup():
    cfg = _cfg(rate_rps=50.0, num_requests=100, warmup_requests=5,
               input_tokens={"kind": "uniform", "min": 10, "max": 20})
    a, b = build_schedule(cfg), build_schedule(cfg)
    assert np.array_equal(a.intended_send_s, b.intended_send_s)
    assert np.array_equal(a.input_tokens, b.input_tokens)
    assert a.is_warmup.sum() == 5 and a.is_warmup[:5].all()
    assert a.slot_starts_s is None
    assert a.input_tokens.min() >= 10 and a.input_tokens.max() <= 20


def test_build_schedule_duration_truncates_open_loop():
    s = build_schedule(_cfg(rate_rps=10.0, arrival="constant", num_requests=100, duration_s=1.0))
    assert s.num_requests == 10
    assert s.intended_send_s[-1] == pytest.approx(0.9)


def test_build_schedule_closed_loop_with_ramp():
    s = build_schedule(_cfg(concurrency=4, num_requests=10, ramp_up={"duration_s": 2.0}))
    assert s.intended_send_s is None
    assert s.slot_starts_s.tolist() == [0.0, 0.5, 1.0, 1.5]


def test_build_schedule_trace(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp_s": 0.0, "input_tokens": 3, "output_tokens": 4}\n'
                    '{"timestamp_s": 0.25, "input_tokens": 5, "output_tokens": 6}\n')
    s = build_schedule(_cfg(trace_path=path, num_requests=10))
    assert s.intended_send_s.tolist() == [0.0, 0.25]
    assert s.output_tokens.tolist() == [4, 6]


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(1, "a") == derive_seed(1, "a")
    assert derive_seed(1, "a") != derive_seed(1, "b")
    assert derive_seed(1, "a") != derive_seed(2, "a")


def test_next_probe_doubles_then_bisects():
    assert next_probe([], 1, 64) == 1
    assert next_probe([(1, True)], 1, 64) == 2
    assert next_probe([(1, True), (2, True), (4, True)], 1, 64) == 8
    assert next_probe([(1, True), (2, True), (4, True), (8, False)], 1, 64) == 6
    assert next_probe([(4, True), (8, False), (6, True), (7, False)], 1, 64, integer=True) is None
    assert next_probe([(1, False)], 1, 64) is None
    assert next_probe([(64, True)], 1, 64) is None
