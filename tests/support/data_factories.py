"""Build warehouse inputs (RunRecord, ScenarioLoad) with sensible defaults for tests.

Every helper takes keyword overrides, so a test states only what it is about.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from benchmatrix.warehouse import CheckRow, ReplicaStat, RunRecord, ScenarioLoad
from tests.support.data_records import FakeLoad, fabricate_requests

BASE_TIME = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)


def make_run(run_id: str = "run-1", night: int = 0, **overrides: Any) -> RunRecord:
    """A completed run of matrix 'nightly' started ``night`` days after BASE_TIME."""
    started = BASE_TIME + timedelta(days=night)
    fields = {"run_id": run_id, "matrix_name": "nightly", "matrix_path": "matrices/nightly.yaml",
              "git_revision": "abc1234", "host": "ci-1", "versions": {"vllm": "0.11"},
              "started_at": started, "ended_at": started + timedelta(hours=1),
              "status": "completed"}
    return RunRecord(**{**fields, **overrides})


def make_scenario(
    hardware: str = "h100x2",
    model: str = "llama-3.1-8b",
    concurrency: int = 8,
    requests: pd.DataFrame | None = None,
    **overrides: Any,
) -> ScenarioLoad:
    """A passed closed-loop chat scenario whose records come from fabricate_requests."""
    wants_records = overrides.get("status") not in ("failed", "skipped")
    if requests is None and "requests_path" not in overrides and wants_records:
        requests = fabricate_requests(FakeLoad(concurrency=concurrency))
    name = f"{hardware}/{model}/chat@c{concurrency}"
    fields = {
        "scenario_id": hashlib.sha1(name.encode()).hexdigest()[:12], "name": name,
        "hardware_name": hardware, "gpu_name": "H100 SXM5 80GB", "gpu_count": 2,
        "price_per_gpu_hour": 3.0, "model_name": model, "dtype": "bf16", "engine": "sim",
        "load_profile": "chat", "modality": "text", "concurrency": concurrency,
        "tp_degree": 1, "replicas": 2,
        "plan": {"tp_degree": 1, "replicas": 2, "reason": "tp=1 fits weights and KV"},
        "spec": {"slo": {"ttft_ms": 200, "tpot_ms": 50}},
        "status": "passed", "started_at": BASE_TIME, "ended_at": BASE_TIME, "t0": BASE_TIME,
        "duration_s": 10.0, "requests": requests,
        "replica_stats": [ReplicaStat(replica_id="replica-0", requests=104),
                          ReplicaStat(replica_id="replica-1", requests=104)],
        "checks": [CheckRow(check_name="error_share", level="scenario", passed=True,
                            observed=0.0, expected=0.05, message="0 of 200 failed")],
    }
    return ScenarioLoad(**{**fields, **overrides})


def request_row(index: int, **values: Any) -> dict[str, Any]:
    """One hand-written request record; unspecified timing fields follow a 1-token reply."""
    row = {"request_index": index, "is_warmup": False, "worker_id": 0,
           "intended_send_s": float(index), "sent_s": float(index),
           "first_token_s": index + 0.1, "last_event_s": index + 0.1, "done_s": index + 0.1,
           "event_count": 1, "event_times_s": [index + 0.1], "event_tokens": [1],
           "prompt_tokens_target": 100, "output_tokens_target": 1, "prompt_tokens": 100,
           "completion_tokens": 1, "token_source": "server", "replica_id": "replica-0",
           "http_status": 200, "status": "ok", "error_kind": None, "error_message": None,
           "modality": "text"}
    return {**row, **values}


def request_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))
