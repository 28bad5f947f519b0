"""Every modality end to end through the real chain: Prefect flow -> NGINX -> simulated
replicas -> load generator -> checks -> DuckDB (matrices/modalities.yaml)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def modal_warehouse(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from flows.matrix import matrix_flow

    data_dir = tmp_path_factory.mktemp("modalities")
    state = matrix_flow(str(REPO_ROOT / "matrices" / "modalities.yaml"), data_dir=str(data_dir),
                        return_state=True)
    assert state.is_completed(), state.message
    return data_dir / "benchmatrix.duckdb"


def _rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_modality_passed_with_every_request_ok(modal_warehouse: Path) -> None:
    rows = _rows(modal_warehouse, """
        select s.load_profile, s.status, count(*) filter (where r.status = 'ok' and not r.is_warmup)
        from scenarios s join requests r using (run_id, scenario_id) group by all order by 1""")
    assert rows == [("chat", "passed", 12), ("completions", "passed", 12),
                    ("speech", "passed", 12), ("vision", "passed", 12)]


def test_vision_requests_carry_two_images_that_cost_prefill_tokens(modal_warehouse: Path) -> None:
    (images, extra_tokens), = _rows(modal_warehouse, """
        select min(image_count), min(prompt_tokens - prompt_tokens_target) from requests
        join scenarios using (run_id, scenario_id) where load_profile = 'vision' and not is_warmup""")
    assert images == 2
    # two images of at least 336x336 px cost at least 2 * 24 * 24 patch tokens in the sim
    assert extra_tokens >= 2 * 24 * 24


def test_speech_requests_send_audio_within_the_declared_seconds(modal_warehouse: Path) -> None:
    (low, high, replicas), = _rows(modal_warehouse, """
        select min(audio_seconds), max(audio_seconds), count(distinct replica_id) from requests
        join scenarios using (run_id, scenario_id) where load_profile = 'speech' and not is_warmup""")
    assert 2.0 <= low <= high <= 8.0
    assert replicas == 2


def test_open_loop_completions_were_sent_on_schedule(modal_warehouse: Path) -> None:
    (lag_p99_ms,), = _rows(modal_warehouse, """
        select quantile_cont((sent_s - intended_send_s) * 1000, 0.99) from requests
        join scenarios using (run_id, scenario_id) where load_profile = 'completions'""")
    assert lag_p99_ms < 50
