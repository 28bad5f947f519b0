"""The load generator against a real llama.cpp server (xllamacpp, SmolLM2-135M) on loopback.

Checks what a real engine does differently from the simulator: one token per SSE event, usage
only on the last chunk, /tokenize with its own tokenizer, connections closed after responses.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmatrix.loadgen import LoadRunConfig, run_load
from benchmatrix.metrics import summarize

pytestmark = [pytest.mark.integration, pytest.mark.realengine]


@pytest.fixture(scope="module")
def llamacpp_url(tmp_path_factory):
    replicas = pytest.importorskip("benchmatrix.replicas")
    profiles = pytest.importorskip("benchmatrix.replicas.profiles")
    missing = profiles.missing_modules(replicas.get_profile("llamacpp"))
    if missing:
        pytest.skip(f"realengine extra not installed (missing {', '.join(missing)})")
    tmp = tmp_path_factory.mktemp("llamacpp")
    backend = replicas.get_backend("command", registry_dir=tmp / "registry")
    spec = replicas.ReplicaSpec(
        replica_id="r0", launch=replicas.CommandLaunch(template="llamacpp", model="smollm2"),
        ready_timeout_s=replicas.get_profile("llamacpp").ready_timeout_s)
    with replicas.deployed(backend, [spec], tmp, {"benchmatrix.run": "lg-real"}) as handles:
        yield handles[0].url


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_real_engine_records(llamacpp_url: str, tmp_path: Path, endpoint: str) -> None:
    cfg = LoadRunConfig(base_url=llamacpp_url, model="smollm2", endpoint=endpoint, concurrency=2,
                        num_requests=6, warmup_requests=1, input_tokens=48, output_tokens=12,
                        ignore_eos=True, tokenizer="server", timeout_s=120,
                        output_path=tmp_path / "real.parquet")
    result = run_load(cfg)
    df = pd.read_parquet(result.records_path)
    assert result.num_ok == 5 and result.num_errors == 0, df["error_message"].dropna().tolist()
    assert (df["token_source"] == "server").all() and (df["completion_tokens"] == 12).all()
    assert (df["event_tokens"].map(sum) == 12).all()
    # /tokenize made the user text exactly 48 tokens; the server adds its chat template
    assert (df["prompt_tokens"] >= 48).all()
    summary = summarize(df)
    assert summary.ttft_ms_p50 > 0 and summary.tpot_ms_p50 > 0
