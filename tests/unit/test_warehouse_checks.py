"""From records through the checks into the warehouse: a failing suite stays out of comparisons."""

from __future__ import annotations

from benchmatrix.checks import CheckContext, validate_scenario
from benchmatrix.warehouse import Warehouse
from tests.support.data_factories import make_run, make_scenario
from tests.support.data_records import FakeLoad, fabricate_requests


def _checked(hardware: str, load: FakeLoad):
    requests = fabricate_requests(load)
    report = validate_scenario(requests, CheckContext(
        planned_request_count=load.num_requests, warmup_count=load.warmup_requests,
        target_concurrency=load.concurrency, replica_ids=list(load.replicas)))
    status = "passed" if report.passed else "failed_validation"
    return make_scenario(hardware=hardware, concurrency=load.concurrency, requests=requests,
                         status=status, checks=report)


def test_failing_suite_keeps_data_out_of_comparison_marts(tmp_path):
    good = _checked("h100x2", FakeLoad())
    bad = _checked("a100x2", FakeLoad(error_every=4))  # 25 % errors
    assert (good.status, bad.status) == ("passed", "failed_validation")
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [good, bad])
        for mart in ("latest_results", "hardware_comparison", "pareto_frontier"):
            hardware = set(wh.sql(f"select hardware_name from {mart}").hardware_name)
            assert hardware == {"h100x2"}, mart
        failed = wh.run_query("failed_checks")
        assert failed[["scenario_name", "check_name"]].values.tolist() == [
            ["a100x2/llama-3.1-8b/chat@c8", "error_share"]]
        kept = wh.run_query("scenario_summary").set_index("hardware_name")
        assert kept.loc["a100x2", "scenario_status"] == "failed_validation"
        assert kept.loc["a100x2", "error_share"] == 0.25
        stored = wh.sql("select count(*) as n from checks where run_id = 'run-1'").n[0]
        assert stored == len(good.checks) + len(bad.checks)


def test_skipped_checks_are_stored_as_such(tmp_path):
    requests = fabricate_requests(FakeLoad())
    report = validate_scenario(requests, CheckContext(warmup_count=8))  # no plan, no target
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario(requests=requests, checks=report)])
        skipped = set(wh.sql("select check_name from stg_checks where is_skipped").check_name)
    assert {"request_count_matches_plan", "achieved_load"} <= skipped
