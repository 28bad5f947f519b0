"""Records written by the real load generator's writer validate and load without renaming."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from benchmatrix.checks import CheckContext, validate_scenario
from benchmatrix.loadgen.records import RequestRecord, records_to_table
from benchmatrix.warehouse import Warehouse
from tests.support.data_factories import make_run, make_scenario


def _records() -> list[RequestRecord]:
    records = []
    for i in range(12):
        sent = i * 0.1
        records.append(RequestRecord(
            request_index=i, is_warmup=i < 2, worker_id=0, intended_send_s=sent,
            prompt_tokens_target=64, output_tokens_target=4, modality="text", sent_s=sent,
            first_byte_s=sent + 0.01, first_token_s=sent + 0.02, first_reasoning_s=sent + 0.015,
            last_event_s=sent + 0.05, done_s=sent + 0.051, event_count=4,
            event_times_s=[sent + 0.02, sent + 0.03, sent + 0.04, sent + 0.05],
            event_tokens=[1, 1, 1, 1], prompt_tokens=64, completion_tokens=4,
            token_source="server", replica_id=f"r{i % 2}", http_status=200,
            request_id=f"run-{i}", reasoning_event_count=1, input_bytes=900))
    return records


def test_loadgen_records_pass_checks_and_load(tmp_path):
    path = tmp_path / "requests.parquet"
    pq.write_table(records_to_table(_records()), path)
    frame = pq.read_table(path).to_pandas()
    ctx = CheckContext(planned_request_count=10, warmup_count=2, ignore_eos=True,
                       tokenizer_exact=True, replica_ids=["r0", "r1"])
    report = validate_scenario(frame, ctx)
    assert report.passed, report.summary()
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.load_run(make_run(), [make_scenario(requests=None, requests_path=path)])
        row = wh.sql("select * from stg_requests where request_index = 5").iloc[0]
        assert (row.request_id, row.reasoning_event_count, row.input_bytes) == ("run-5", 1, 900)
        assert row.ttft_ms == pytest.approx(20) and row.ttft_any_ms == pytest.approx(15)
        assert row.tpot_ms == pytest.approx(10)
        summary = wh.run_query("scenario_summary").iloc[0]
        assert summary.request_count == 10 and summary.error_share == 0
