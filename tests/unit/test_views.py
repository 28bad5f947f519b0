"""Given a few raw rows, expect exact rows from each staging view and mart."""

from __future__ import annotations

import math

import pytest

from benchmatrix.warehouse import Warehouse
from tests.support.data_factories import make_run, make_scenario, request_frame, request_row


@pytest.fixture
def wh(tmp_path):
    with Warehouse.open(tmp_path / "views.duckdb") as warehouse:
        yield warehouse


def _one(wh, sql, **params):
    frame = wh.sql(sql, params)
    assert len(frame) == 1, frame
    return frame.iloc[0]


def test_stg_requests_derives_latencies_in_ms(wh):
    given = request_frame(request_row(
        0, intended_send_s=0.99, sent_s=1.0, first_token_s=1.1, last_event_s=1.5, done_s=1.51,
        completion_tokens=5, event_count=3, event_times_s=[1.1, 1.3, 1.5], event_tokens=[1, 2, 2]))
    wh.load_run(make_run(), [make_scenario(requests=given)])
    row = _one(wh, "select * from stg_requests")
    assert row.ttft_ms == pytest.approx(100)
    assert row.e2e_ms == pytest.approx(500)
    assert row.tpot_ms == pytest.approx(100)  # 400 ms over 4 tokens after the first
    assert row.itl_event_ms == pytest.approx(200)  # 400 ms over 2 gaps between 3 events
    assert row.dispatch_lag_ms == pytest.approx(10)
    assert row.finished_s == pytest.approx(1.51)
    assert bool(row.is_ok)


def test_stg_requests_single_token_has_no_tpot(wh):
    wh.load_run(make_run(), [make_scenario(requests=request_frame(request_row(0)))])
    row = _one(wh, "select tpot_ms, itl_event_ms from stg_requests")
    assert math.isnan(row.tpot_ms) and math.isnan(row.itl_event_ms)


def test_stg_scenarios_lifts_slos_and_gpus_used(wh):
    scenario = make_scenario(tp_degree=2, replicas=3, gpu_count=8,
                             spec={"slo": {"ttft_ms": 250, "e2e_ms": 9000}})
    wh.load_run(make_run(), [scenario])
    row = _one(wh, "select * from stg_scenarios")
    assert (row.slo_ttft_ms, row.slo_e2e_ms) == (250, 9000)
    assert math.isnan(row.slo_tpot_ms)
    assert row.gpus_used == 6 and row.replica_count == 3
    assert row.plan_reason == "tp=1 fits weights and KV" and bool(row.is_comparable)


def _ttft_rows(ttfts_ms, warmup_ttft_ms=None, error_count=0):
    rows = [request_row(i, first_token_s=i + t / 1000, last_event_s=i + t / 1000,
                        done_s=i + t / 1000) for i, t in enumerate(ttfts_ms)]
    n = len(rows)
    rows += [request_row(n + k, status="error", error_kind="http", first_token_s=None,
                         last_event_s=None, done_s=n + k + 0.01, completion_tokens=None)
             for k in range(error_count)]
    if warmup_ttft_ms is not None:
        rows.append(request_row(99, is_warmup=True, first_token_s=99 + warmup_ttft_ms / 1000))
    return request_frame(*rows)


def test_int_scenario_metrics_percentiles_interpolate_over_ok_measured(wh):
    given = _ttft_rows([10, 20, 30, 40, 50], warmup_ttft_ms=10_000, error_count=1)
    wh.load_run(make_run(), [make_scenario(requests=given)])
    row = _one(wh, "select * from int_scenario_metrics")
    assert (row.request_count, row.ok_count, row.error_count) == (6, 5, 1)
    assert row.error_share == pytest.approx(1 / 6)
    assert row.ttft_p50_ms == pytest.approx(30)
    assert row.ttft_p90_ms == pytest.approx(46)  # 40 + 0.6 x 10: linear interpolation
    assert row.ttft_p99_ms == pytest.approx(49.6)
    assert row.window_s == pytest.approx(5.01)  # first send 0.0 to the error's done at 5.01


def test_scenario_summary_throughput_goodput_and_cost(wh):
    given = request_frame(*[
        request_row(i, sent_s=i * 1.0, first_token_s=i + ttft, last_event_s=i + 1.0,
                    done_s=i + 1.0, completion_tokens=101, event_count=2,
                    event_times_s=[i + ttft, i + 1.0])
        for i, ttft in enumerate([0.1, 0.1, 0.5, 0.1])
    ])  # window 0..4 s, 4 ok requests, 404 output tokens, one misses the 200 ms TTFT SLO
    scenario = make_scenario(requests=given, price_per_gpu_hour=3.6, tp_degree=1, replicas=2,
                             spec={"slo": {"ttft_ms": 200}})
    wh.load_run(make_run(), [scenario])
    row = _one(wh, "select * from scenario_summary")
    assert row.request_throughput_rps == pytest.approx(1.0)
    assert row.output_throughput_tps == pytest.approx(101)
    assert row.output_throughput_tps_per_replica == pytest.approx(50.5)
    assert row.output_throughput_tps_per_gpu == pytest.approx(50.5)
    assert row.goodput_rps == pytest.approx(0.75)
    assert row.slo_attainment_share == pytest.approx(0.75)
    # 2 GPUs x 3.6 $/h = 0.002 $/s; 1e6 tokens at 101 tok/s = 9900.99 s
    assert row.cost_per_million_output_tokens_usd == pytest.approx(0.002 * 1e6 / 101)


def _load_nights(wh, ttft_by_night, hardware="h100x2", status_by_night=None):
    status_by_night = status_by_night or {}
    for night, ttft in enumerate(ttft_by_night):
        given = _ttft_rows([ttft] * 4)
        wh.load_run(make_run(f"run-{hardware}-{night}", night=night),
                    [make_scenario(hardware=hardware, requests=given,
                                   status=status_by_night.get(night, "passed"))])


def test_failed_validation_stays_out_of_comparison_marts(wh):
    _load_nights(wh, [100, 100, 900], status_by_night={2: "failed_validation"})
    latest = _one(wh, "select run_id, ttft_p50_ms from latest_results")
    assert latest.run_id == "run-h100x2-1"
    nights = _one(wh, "select * from night_over_night")
    assert nights.latest_run_id == "run-h100x2-1"
    assert nights.previous_run_id == "run-h100x2-0"
    kept = wh.sql("select scenario_status from scenario_summary where run_id = 'run-h100x2-2'")
    assert kept.scenario_status.tolist() == ["failed_validation"]  # still queryable


def test_night_over_night_change_pct(wh):
    _load_nights(wh, [100, 120])
    row = _one(wh, "select * from night_over_night")
    assert row.latest_ttft_p99_ms == pytest.approx(120)
    assert row.previous_ttft_p99_ms == pytest.approx(100)
    assert row.ttft_p99_change_pct == pytest.approx(20)


def test_regressions_compare_latest_with_median_of_previous(wh):
    _load_nights(wh, [100, 300, 100, 110, 150])  # baseline median(110, 100, 300, 100) = 105
    row = _one(wh, "select * from regressions where metric_name = 'ttft_p50_ms'")
    assert row.baseline_value == pytest.approx(105)
    assert row.baseline_run_count == 4
    assert row.change_pct == pytest.approx(45 / 105 * 100)
    assert bool(row.is_regression)
    narrow = wh.run_query("regressions", {"window_runs": 1, "threshold_pct": 50.0,
                                          "only_regressions": False})
    ttft = narrow[narrow.metric_name == "ttft_p50_ms"].iloc[0]
    assert ttft.baseline_value == pytest.approx(110) and not bool(ttft.is_regression)


def test_hardware_comparison_ranks_per_gpu_throughput(wh):
    slow = _ttft_rows([100] * 4)
    fast = request_frame(*[request_row(i, sent_s=i / 2, intended_send_s=i / 2,
                                       first_token_s=i / 2 + 0.1, last_event_s=i / 2 + 0.1,
                                       done_s=i / 2 + 0.1) for i in range(4)])
    wh.load_run(make_run(), [make_scenario(hardware="a100x2", requests=slow),
                             make_scenario(hardware="h100x2", requests=fast)])
    rows = wh.run_query("hardware_comparison").set_index("hardware_name")
    assert rows.loc["h100x2", "tps_per_gpu_rank"] == 1
    assert rows.loc["a100x2", "tps_per_gpu_rank"] == 2
    assert rows.loc["h100x2", "relative_tps_per_gpu"] == pytest.approx(1.0)
    assert rows.loc["a100x2", "relative_tps_per_gpu"] < 1
    assert set(rows.hardware_count) == {2}


def _sweep_point(wh, run_id, hardware, concurrency, tps_scale, tpot_ms):
    rows = [request_row(i, sent_s=i / tps_scale, intended_send_s=i / tps_scale,
                        first_token_s=i / tps_scale + 0.01,
                        last_event_s=i / tps_scale + 0.01 + tpot_ms / 1000,
                        done_s=i / tps_scale + 0.01 + tpot_ms / 1000, completion_tokens=2)
            for i in range(4)]
    return make_scenario(hardware=hardware, concurrency=concurrency, requests=request_frame(*rows))


def test_pareto_flags_non_dominated_points(wh):
    scenarios = [
        _sweep_point(wh, "r", "h100x2", 4, tps_scale=1, tpot_ms=10),   # slow, low latency
        _sweep_point(wh, "r", "h100x2", 16, tps_scale=4, tpot_ms=40),  # fast, high latency
        _sweep_point(wh, "r", "a100x2", 16, tps_scale=2, tpot_ms=50),  # dominated by h100 c16
    ]
    wh.load_run(make_run(), scenarios)
    flags = wh.run_query("pareto").set_index("scenario_name")["is_pareto"].to_dict()
    assert flags == {"h100x2/llama-3.1-8b/chat@c4": True, "h100x2/llama-3.1-8b/chat@c16": True,
                     "a100x2/llama-3.1-8b/chat@c16": False}
    assert len(wh.run_query("pareto", {"frontier_only": True})) == 2


def test_failed_checks_mart_joins_names(wh):
    from benchmatrix.warehouse import CheckRow

    checks = [CheckRow(check_name="error_share", level="scenario", passed=False, observed=0.2,
                       expected=0.05, message="too many errors"),
              CheckRow(check_name="status_in_set", level="request", passed=True)]
    wh.load_run(make_run(), [make_scenario(status="failed_validation", checks=checks)])
    row = _one(wh, "select * from failed_checks")
    assert (row.check_name, row.observed_value, row.expected_value) == ("error_share", "0.2",
                                                                        "0.05")
    assert row.scenario_name == "h100x2/llama-3.1-8b/chat@c8"
    assert row.scenario_status == "failed_validation"


def test_replica_load_has_reported_and_client_counts(wh):
    given = request_frame(request_row(0, replica_id="a"), request_row(1, replica_id="a"),
                          request_row(2, replica_id="b"), request_row(3, replica_id=None))
    wh.load_run(make_run(), [make_scenario(requests=given)])
    rows = wh.sql("select count_source, replica_id, request_count, request_share "
                  "from replica_load order by all")
    assert rows.values.tolist() == [
        ["client", "a", 2, pytest.approx(2 / 3)], ["client", "b", 1, pytest.approx(1 / 3)],
        ["nginx", "replica-0", 104, 0.5], ["nginx", "replica-1", 104, 0.5]]


# dbt-style data tests: each view's grain is unique and its keys are never null.
GRAINS = {
    "stg_runs": ("run_id",),
    "stg_scenarios": ("run_id", "scenario_id"),
    "stg_requests": ("run_id", "scenario_id", "request_index"),
    "int_scenario_metrics": ("run_id", "scenario_id"),
    "int_replica_counts": ("run_id", "scenario_id", "replica_id"),
    "scenario_summary": ("run_id", "scenario_id"),
    "latest_results": ("scenario_name",),
    "hardware_comparison": ("model_name", "load_profile", "concurrency", "hardware_name"),
    "night_over_night": ("scenario_name",),
    "metric_history": ("scenario_name", "metric_name"),
    "regressions": ("scenario_name", "metric_name"),
    "pareto_frontier": ("scenario_name",),
    "replica_load": ("run_id", "scenario_id", "count_source", "replica_id"),
}


def test_view_grains_are_unique_and_keys_not_null(tmp_path):
    from tests.support.data_warehouse import build_sample_warehouse

    with Warehouse.open(build_sample_warehouse(tmp_path / "w.duckdb", nights=3)) as wh:
        for view, keys in GRAINS.items():  # identifiers from the table above, not input
            any_null = " or ".join(f"{key} is null" for key in keys)
            row = _one(wh, f"select count(*) as n, count(distinct ({', '.join(keys)})) as keys_n, "
                           f"count(*) filter (where {any_null}) as null_n from {view}")
            assert row.n > 0, view
            assert row.n == row.keys_n, f"{view}: grain {keys} is not unique"
            assert row.null_n == 0, f"{view}: a key column is null"


def test_all_error_scenario_has_zero_throughput_and_no_percentiles(wh):
    given = _ttft_rows([], error_count=3)
    wh.load_run(make_run(), [make_scenario(requests=given)])
    row = _one(wh, "select * from scenario_summary")
    assert (row.request_count, row.error_share, row.output_throughput_tps) == (3, 1.0, 0)
    assert math.isnan(row.ttft_p50_ms) and math.isnan(row.cost_per_million_output_tokens_usd)
