"""Engine counters from Prometheus text: summed over labels, mapped per engine."""

from __future__ import annotations

from benchmatrix.replicas.engine_metrics import engine_counts, parse_prometheus

SIM = """# HELP benchmatrix_sim_requests_total Requests finished ok.
# TYPE benchmatrix_sim_requests_total counter
benchmatrix_sim_requests_total 33
benchmatrix_sim_requests_aborted_total 2
benchmatrix_sim_num_preemptions_total 5
benchmatrix_sim_kv_usage_ratio 0.25
"""

VLLM = """vllm:request_success_total{finished_reason="stop",model_name="m"} 10.0
vllm:request_success_total{finished_reason="length",model_name="m"} 22.0
vllm:num_preemptions_total{model_name="m"} 3.0
garbage line without a value
"""


def test_labels_are_summed_and_comments_skipped() -> None:
    metrics = parse_prometheus(VLLM)
    assert metrics["vllm:request_success_total"] == 32.0
    assert "garbage" not in metrics


def test_sim_and_vllm_families_map_to_counts() -> None:
    sim = engine_counts("r0", parse_prometheus(SIM))
    assert sim is not None and (sim.requests, sim.aborted, sim.preemptions) == (33, 2, 5)
    vllm = engine_counts("r1", parse_prometheus(VLLM))
    assert vllm is not None and (vllm.requests, vllm.aborted, vllm.preemptions) == (32, 0, 3)


def test_an_engine_without_request_counters_reports_nothing() -> None:
    assert engine_counts("r0", parse_prometheus("llamacpp:prompt_tokens_total 1200\n")) is None
