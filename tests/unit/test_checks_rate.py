"""Open-loop rate check: the generator is judged against its own seeded schedule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmatrix.checks import CheckContext
from benchmatrix.checks._scenario import check_achieved_rate, scheduled_rate_rps


def _measured(intended: np.ndarray, lag_s: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"intended_send_s": intended, "sent_s": intended + lag_s})


def test_a_poisson_schedule_off_target_passes_when_sent_on_time() -> None:
    # 12 arrivals at 8 rps drawn from a Poisson process: the draw itself is 25% slow
    intended = np.arange(12) / 6.0
    result = check_achieved_rate(_measured(intended, np.zeros(12)),
                                 CheckContext(target_rate_rps=8.0, rate_tolerance=0.1))
    assert result.passed
    assert result.observed == result.expected == round(scheduled_rate_rps(_measured(intended, np.zeros(12))), 4)
    assert "-25% against the 8 target" in result.message


def test_a_generator_that_falls_behind_its_schedule_fails() -> None:
    intended = np.arange(20) / 8.0
    late = np.linspace(0.0, 1.5, 20)  # sends drift 1.5 s behind over the run
    result = check_achieved_rate(_measured(intended, late),
                                 CheckContext(target_rate_rps=8.0, rate_tolerance=0.1))
    assert not result.passed
    assert result.observed < result.expected
