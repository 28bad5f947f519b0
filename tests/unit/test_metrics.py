"""Metric functions on hand-made records with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmatrix import metrics as m
from benchmatrix.loadgen.records import RequestRecord, records_to_table


def _rec(i: int, sent: float, events: list[float], tokens: list[int], *, status: str = "ok",
         warmup: bool = False, reasoning: int = 0, done: float | None = None,
         intended: float | None = None, prompt: int = 100, audio: float | None = None,
         ) -> RequestRecord:
    r = RequestRecord(request_index=i, is_warmup=warmup, worker_id=0,
                      intended_send_s=sent if intended is None else intended,
                      prompt_tokens_target=prompt, output_tokens_target=16, modality="text")
    r.sent_s = sent
    r.event_times_s, r.event_tokens = events, tokens
    r.event_count = len(events)
    r.reasoning_event_count = reasoning
    if reasoning:
        r.first_reasoning_s = events[0]
    visible = events[reasoning:]
    r.first_token_s = visible[0] if visible else None
    r.last_event_s = events[-1] if events else None
    r.done_s = done if done is not None else (events[-1] + 0.01 if events else sent + 0.01)
    r.completion_tokens = sum(tokens) if events else None
    r.prompt_tokens = prompt
    r.status = status
    r.audio_seconds = audio
    if status == "error":
        r.error_kind, r.error_message = "http", "HTTP 500"
    return r


@pytest.fixture
def df() -> pd.DataFrame:
    records = [
        # multi-token events: 1 + 2 + 2 tokens at 100 ms intervals
        _rec(0, 0.0, [0.1, 0.2, 0.3], [1, 2, 2], intended=0.0),
        # one-token output: no TPOT, no ITL
        _rec(1, 1.0, [1.05], [1], intended=0.99),
        # failed request: counted in errors only
        _rec(2, 2.0, [], [], status="error", done=2.01, intended=2.0),
        # warmup: excluded everywhere
        _rec(3, 0.0, [5.0, 9.0], [1, 1], warmup=True),
        # reasoning first: any-kind TTFT 20 ms, visible TTFT 60 ms
        _rec(4, 3.0, [3.02, 3.04, 3.06, 3.08], [1, 1, 1, 1], reasoning=2, done=3.1,
             intended=2.998),
    ]
    return records_to_table(records).to_pandas()


def test_percentile_is_linear_and_drops_nan():
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile([0, 100], 99) == pytest.approx(99.0)
    assert m.percentile([np.nan, 5.0], 50) == 5.0
    assert m.percentile([], 50) is None


def test_ttft_any_kind_and_visible(df):
    assert m.ttft_ms(df).round(6).tolist() == [100.0, 50.0, 20.0]
    assert m.ttft_visible_ms(df).round(6).tolist() == [100.0, 50.0, 60.0]


def test_tpot_excludes_first_token_and_one_token_outputs(df):
    tpot = m.tpot_ms(df).round(6).tolist()
    assert tpot[0] == 50.0  # (0.3 - 0.1) s / (5 - 1) tokens
    assert math.isnan(tpot[1])  # one token
    assert tpot[2] == 20.0  # (3.08 - 3.02) / 3


def test_itl_event_and_token(df):
    assert sorted(np.round(m.itl_event_ms(df), 6).tolist()) == [20.0, 20.0, 20.0, 100.0, 100.0]
    # 100 ms gaps closed by 2-token events -> 50 ms per token, twice each
    assert sorted(np.round(m.itl_token_ms(df), 6).tolist()) == [20.0] * 3 + [50.0] * 4


def test_e2e_and_dispatch_lag(df):
    assert m.e2e_ms(df).round(6).tolist() == [300.0, 50.0, 80.0]
    assert m.dispatch_lag_ms(df).round(6).tolist() == [0.0, 10.0, 0.0, 2.0]


def test_rates_over_measured_window(df):
    assert m.duration_s(df) == pytest.approx(3.1)
    assert m.request_throughput_rps(df) == pytest.approx(3 / 3.1)
    assert m.output_token_throughput_tps(df) == pytest.approx((5 + 1 + 4) / 3.1)
    assert m.input_token_throughput_tps(df) == pytest.approx(300 / 3.1)
    assert m.total_token_throughput_tps(df) == pytest.approx(310 / 3.1)
    assert m.error_rate(df) == pytest.approx(0.25)
    assert m.errors_by_kind(df) == {"http": 1}


def test_goodput_counts_requests_meeting_every_threshold(df):
    slo = m.Slo(ttft_ms=60, e2e_ms=200)
    assert m.meets_slo(df, slo).tolist() == [False, True, True]
    assert m.goodput_rps(df, slo) == pytest.approx(2 / 3.1)
    # one-token outputs have no TPOT and do not violate a TPOT bound
    assert m.meets_slo(df, m.Slo(tpot_ms=30)).tolist() == [False, True, True]


def test_summarize(df):
    s = m.summarize(df, {"ttft_ms": 60})
    assert (s.num_requests, s.num_ok, s.num_errors, s.num_warmup) == (4, 3, 1, 1)
    assert s.ttft_ms_p50 == pytest.approx(50.0)
    assert s.ttft_ms_mean == pytest.approx(170 / 3)
    assert s.tpot_ms_p50 == pytest.approx(35.0)  # NaN dropped: median of 50 and 20
    assert s.e2e_ms_p99 == pytest.approx(80 + 0.98 * 220)
    assert s.goodput_ratio == pytest.approx(2 / 3)
    assert s.audio_seconds_total is None


def test_summarize_accepts_any_object_with_thresholds(df):
    class SpecSlo:
        ttft_ms, tpot_ms, e2e_ms, percentile = 60.0, None, None, "p99"

    assert m.summarize(df, SpecSlo()).goodput_ratio == pytest.approx(2 / 3)


def test_per_request_metrics(df):
    per = m.per_request_metrics(df).set_index("request_index")
    assert per.loc[0, "ttft_ms"] == pytest.approx(100.0)
    assert per.loc[0, "itl_event_ms_mean"] == pytest.approx(100.0)
    assert per.loc[0, "itl_token_ms_mean"] == pytest.approx(50.0)
    assert per.loc[4, "ttft_visible_ms"] == pytest.approx(60.0)
    assert math.isnan(per.loc[2, "ttft_ms"]) and per.loc[2, "status"] == "error"
    assert math.isnan(per.loc[1, "tpot_ms"])


def test_speech_real_time_factor():
    df = records_to_table([_rec(0, 0.0, [0.5, 1.0], [2, 2], audio=4.0)]).to_pandas()
    assert m.real_time_factor(df).tolist() == [0.25]
    s = m.summarize(df)
    assert s.audio_seconds_total == 4.0 and s.real_time_factor_mean == 0.25


def test_empty_frame_is_safe():
    df = records_to_table([]).to_pandas()
    s = m.summarize(df)
    assert s.num_requests == 0 and s.ttft_ms_p50 is None and s.request_throughput_rps == 0.0
