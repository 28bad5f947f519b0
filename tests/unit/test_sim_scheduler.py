"""Continuous batching: admission, chunked prefill budget, KV-full waiting, preemption."""

from __future__ import annotations

from benchmatrix.sim.scheduler import Scheduler, Sequence


def seq(i: int, prompt: int, out: int) -> Sequence:
    return Sequence(i, prompt, out)


def run_to_end(s: Scheduler, max_steps: int = 10_000) -> int:
    steps = 0
    while s.has_work and steps < max_steps:
        s.complete(s.schedule())
        steps += 1
    return steps


def test_admission_is_capped_by_max_num_seqs() -> None:
    s = Scheduler(max_num_seqs=2, max_num_batched_tokens=1000, kv_capacity_tokens=10_000)
    for i in range(3):
        s.add(seq(i, 10, 5))
    step = s.schedule()
    assert [q.seq_id for q, _ in step.items] == [0, 1]
    assert len(s.waiting) == 1
    assert step.prefill_tokens == 20 and step.decode_seqs == 0


def test_prefill_emits_first_token_then_decode_one_per_step() -> None:
    s = Scheduler(4, 1000, 10_000)
    a = seq(0, 10, 3)
    s.add(a)
    assert s.complete(s.schedule()) == [a]
    assert a.output_tokens == 1 and a.kv_tokens == 10
    step = s.schedule()
    assert step.items == [(a, 1)] and step.decode_seqs == 1 and step.kv_read_tokens == 11
    s.complete(step)
    s.complete(s.schedule())
    assert a.finished and a.output_tokens == 3
    assert s.kv_used_tokens == 0 and not s.has_work


def test_chunked_prefill_respects_token_budget() -> None:
    s = Scheduler(8, max_num_batched_tokens=100, kv_capacity_tokens=10_000)
    a, b = seq(0, 250, 2), seq(1, 30, 2)
    s.add(a)
    s.add(b)
    step = s.schedule()
    assert step.items == [(a, 100)]  # the whole budget goes to a's first chunk
    assert s.complete(step) == []  # no token until the prompt is done
    step = s.schedule()
    assert step.items == [(a, 100)]
    assert step.attention_pairs == 100 * 100 + 100 * 101 // 2
    s.complete(step)
    step = s.schedule()
    assert step.items == [(a, 50), (b, 30)]  # last chunk + b admitted in the same step
    assert s.complete(step) == [a, b]


def test_decode_goes_before_prefill_in_the_budget() -> None:
    s = Scheduler(8, max_num_batched_tokens=10, kv_capacity_tokens=10_000)
    a = seq(0, 5, 10)
    s.add(a)
    s.complete(s.schedule())
    s.add(seq(1, 50, 2))
    step = s.schedule()
    assert step.items[0] == (a, 1)
    assert step.items[1][1] == 9  # the new prompt gets what is left of the budget
    assert step.prefill_tokens == 9 and step.decode_seqs == 1


def test_waits_when_kv_cannot_hold_the_prompt() -> None:
    s = Scheduler(8, 1000, kv_capacity_tokens=100)
    a, b = seq(0, 60, 2), seq(1, 60, 2)
    s.add(a)
    s.add(b)
    step = s.schedule()
    assert [q for q, _ in step.items] == [a]
    assert list(s.waiting) == [b]
    s.complete(step)
    s.complete(s.schedule())  # a finishes, frees 61 tokens
    assert a.finished
    step = s.schedule()
    assert [q for q, _ in step.items] == [b]


def test_decode_overflow_preempts_newest_and_recomputes() -> None:
    s = Scheduler(8, 1000, kv_capacity_tokens=20)
    a, b = seq(0, 9, 10), seq(1, 9, 10)
    s.add(a)
    s.add(b)
    s.complete(s.schedule())  # both prefilled: kv 18, one token each
    s.complete(s.schedule())  # both decode: kv 20
    assert s.kv_used_tokens == 20
    step = s.schedule()  # a needs 1 more -> preempt b (newest)
    assert step.preempted == [b]
    assert [q for q, _ in step.items] == [a]
    assert b.preempted_count == 1 and b.computed_tokens == 0 and b.kv_tokens == 0
    assert b.prefill_target == 9 + 2  # prompt + generated so far
    assert s.waiting[0] is b and s.preemptions_total == 1
    run_to_end(s)
    assert a.finished and b.finished
    assert b.output_tokens == 10 and s.kv_used_tokens == 0


def test_abort_frees_kv_and_leaves_queues() -> None:
    s = Scheduler(8, 1000, 1000)
    a, b = seq(0, 10, 5), seq(1, 10, 5)
    s.add(a)
    s.add(b)
    step = s.schedule()
    s.abort(a)
    assert s.kv_used_tokens == 10
    assert s.complete(step) == [b]
    s.abort(b)
    assert s.kv_used_tokens == 0 and not s.has_work


def test_many_sequences_all_finish_and_kv_returns_to_zero() -> None:
    s = Scheduler(16, 64, kv_capacity_tokens=400)
    seqs = [seq(i, 20 + i % 7, 5 + i % 11) for i in range(60)]
    for q in seqs:
        s.add(q)
    run_to_end(s)
    assert all(q.finished for q in seqs)
    assert [q.output_tokens for q in seqs] == [q.target_output_tokens for q in seqs]
    assert s.kv_used_tokens == 0


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    max_num_seqs=st.integers(1, 8),
    budget=st.integers(1, 64),
    kv_capacity=st.integers(60, 400),
    requests=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 20)), min_size=1, max_size=25),
)
def test_invariants_hold_for_any_workload(max_num_seqs: int, budget: int, kv_capacity: int,
                                          requests: list[tuple[int, int]]) -> None:
    s = Scheduler(max_num_seqs, budget, kv_capacity)
    seqs = [seq(i, p, o) for i, (p, o) in enumerate(requests)]
    for q in seqs:
        s.add(q)
    for _ in range(20_000):
        if not s.has_work:
            break
        step = s.schedule()
        assert sum(n for _, n in step.items) <= budget
        assert len(s.running) <= max_num_seqs
        assert 0 <= s.kv_used_tokens <= kv_capacity
        assert s.kv_used_tokens == sum(q.kv_tokens for q in s.running)
        s.complete(step)
    assert all(q.finished and q.output_tokens == q.target_output_tokens for q in seqs)
    assert s.kv_used_tokens == 0
