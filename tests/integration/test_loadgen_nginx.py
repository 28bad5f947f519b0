"""The load generator through a real NGINX (least_conn, chunked SSE) to simulated replicas."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from benchmatrix.loadgen import LoadRunConfig, run_load
from benchmatrix.metrics import summarize

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed"),
]


def test_run_load_through_nginx_with_calibration(tmp_path: Path) -> None:
    balancer = pytest.importorskip("benchmatrix.balancer")
    replicas = pytest.importorskip("benchmatrix.replicas")
    helpers = pytest.importorskip("tests.support.deploy_helpers")
    backend = replicas.get_backend("sim", registry_dir=tmp_path / "registry")
    specs = helpers.sim_specs(2, time_scale=0.05)
    with replicas.deployed(backend, specs, tmp_path, {"benchmatrix.run": "lg"}) as handles:
        with balancer.Balancer(helpers.plan_for(handles), tmp_path / "nginx") as lb:
            cfg = LoadRunConfig(
                base_url=lb.url, model="meta-llama/Llama-3.1-8B-Instruct", concurrency=8,
                num_requests=60, warmup_requests=4, input_tokens={"kind": "uniform", "min": 16,
                                                                 "max": 64},
                output_tokens=24, ignore_eos=True, output_path=tmp_path / "r.parquet",
                calibrate_urls=[h.url for h in handles])
            result = run_load(cfg)
    df = pd.read_parquet(result.records_path)
    assert result.num_ok == 56 and result.num_errors == 0, df["error_message"].dropna().head()
    assert result.calibrated_requests == 56
    by_replica = Counter(df["replica_id"])
    assert set(by_replica) == {"r0", "r1"} and min(by_replica.values()) >= 20
    assert (df["completion_tokens"] == 24).all()
    assert (df["server_first_token_s"] >= df["server_arrival_s"]).all()
    assert (df["first_token_s"] >= df["server_first_token_s"]).all()
    summary = summarize(df)
    assert summary.tpot_ms_p50 > 0 and summary.itl_event_ms_p99 > 0
