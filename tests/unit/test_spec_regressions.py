"""The matrix's `regressions` block: validated strictly, and it wins over the environment."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from benchmatrix import pipeline
from benchmatrix.errors import SpecError
from benchmatrix.spec import parse_matrix
from tests.conftest import REPO_ROOT


def _smoke(**extra: Any) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / "matrices" / "smoke.yaml").read_text())
    data.update(extra)
    return data


def test_matrix_settings_win_over_the_environment() -> None:
    matrix = parse_matrix(_smoke(regressions={"threshold_pct": 5, "notify_block": "custom-webhook/bench"}))
    env = {pipeline.REGRESSION_THRESHOLD_ENV: "25", pipeline.NOTIFY_BLOCK_ENV: "other/block"}
    policy = pipeline.regression_policy(matrix, environ=env)
    assert (policy.threshold_pct, policy.notify_block) == (5.0, "custom-webhook/bench")


def test_without_the_block_the_environment_then_defaults_apply() -> None:
    matrix = parse_matrix(_smoke())
    assert pipeline.regression_policy(matrix, environ={}).notify_block is None
    env = {pipeline.REGRESSION_THRESHOLD_ENV: "25"}
    assert pipeline.regression_policy(matrix, environ=env).threshold_pct == 25.0


@pytest.mark.parametrize("block, field", [
    ({"threshold_pct": 0}, "regressions.threshold_pct"),
    ({"threshold_pct": 10, "notify": "x"}, "regressions.notify"),
    ({"notify_block": ""}, "regressions.notify_block"),
])
def test_bad_regression_settings_name_the_field(block: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=rf"nightly\.yaml: {field}"):
        parse_matrix(_smoke(regressions=block), source="matrices/nightly.yaml")
