"""Continuous batching with chunked prefill, KV admission and recompute preemption (pure, no clock).

Each :meth:`Scheduler.schedule` call plans one engine step under a token budget
(``max_num_batched_tokens``):

1. running sequences, oldest first: a decoding sequence takes 1 token (and 1 new KV token), a
   prefilling one takes the next chunk of its prompt, ``min(remaining, budget left)``. When the
   KV cache cannot hold a decoding sequence's next token, the newest running sequence is
   preempted (recompute: its KV is freed, it goes back to the front of the waiting queue and
   later re-prefills prompt + tokens generated so far);
2. if nothing was preempted, waiting sequences are admitted first-come first-served while the
   batch has room (``max_num_seqs``), budget is left, and the KV cache can hold the whole
   remaining prefill (allocated at admission, so chunks never need more).

:meth:`Scheduler.complete` then applies the step: a sequence whose prefill finished or that
decoded emits one token; a sequence that reached its output target finishes and frees its KV.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from benchmatrix.sim.model import StepShape, prefill_pairs


@dataclass(slots=True, eq=False)
class Sequence:
    """One request inside the scheduler; token counts are in tokens."""

    seq_id: int
    prompt_tokens: int
    target_output_tokens: int
    payload: Any = None  # the engine's per-request state
    output_tokens: int = 0
    computed_tokens: int = 0  # tokens whose KV is in the cache
    prefill_target: int = 0  # tokens to compute before the next token is emitted
    kv_tokens: int = 0  # KV tokens allocated to this sequence
    preempted_count: int = 0
    was_scheduled: bool = False
    finished: bool = False
    aborted: bool = False

    def __post_init__(self) -> None:
        if self.prefill_target == 0:
            self.prefill_target = self.prompt_tokens

    @property
    def is_prefilling(self) -> bool:
        """True until the prompt (or the recompute prefix) has been computed."""
        return self.computed_tokens < self.prefill_target


@dataclass(slots=True)
class ScheduledStep:
    """One planned step: (sequence, tokens computed for it) pairs and what happened on the way."""

    items: list[tuple[Sequence, int]] = field(default_factory=list)
    newly_scheduled: list[Sequence] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)
    prefill_tokens: int = 0
    decode_seqs: int = 0
    kv_read_tokens: int = 0
    attention_pairs: int = 0

    @property
    def shape(self) -> StepShape:
        """The step's shape for the roofline model."""
        return StepShape(
            prefill_tokens=self.prefill_tokens,
            decode_seqs=self.decode_seqs,
            kv_read_tokens=self.kv_read_tokens,
            attention_pairs=self.attention_pairs,
            num_seqs=len(self.items),
        )

    def add(self, seq: Sequence, num_tokens: int) -> None:
        """Record ``num_tokens`` computed for ``seq`` and update the shape counters."""
        self.items.append((seq, num_tokens))
        context = seq.computed_tokens + num_tokens
        self.kv_read_tokens += context
        if seq.is_prefilling:
            self.prefill_tokens += num_tokens
            self.attention_pairs += prefill_pairs(seq.computed_tokens, num_tokens)
        else:
            self.decode_seqs += 1
            self.attention_pairs += context
        if not seq.was_scheduled:
            seq.was_scheduled = True
            self.newly_scheduled.append(seq)


class Scheduler:
    """Waiting queue + running batch + KV accounting of one replica."""

    def __init__(self, max_num_seqs: int, max_num_batched_tokens: int, kv_capacity_tokens: int):
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.kv_capacity_tokens = kv_capacity_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.kv_used_tokens = 0
        self.preemptions_total = 0

    @property
    def has_work(self) -> bool:
        """True when any sequence is waiting or running."""
        return bool(self.running or self.waiting)

    @property
    def kv_free_tokens(self) -> int:
        """KV tokens not allocated."""
        return self.kv_capacity_tokens - self.kv_used_tokens

    @property
    def kv_usage_fraction(self) -> float:
        """Allocated / capacity, 0..1."""
        return self.kv_used_tokens / self.kv_capacity_tokens

    def add(self, seq: Sequence) -> None:
        """Queue a new sequence (first-come first-served)."""
        self.waiting.append(seq)

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence (client went away) and free its KV."""
        if seq.finished or seq.aborted:
            return
        seq.aborted = True
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        self._free(seq)

    def schedule(self) -> ScheduledStep:
        """Plan the next step (mutates KV allocation, running and waiting)."""
        step = ScheduledStep()
        budget = self._schedule_running(step, self.max_num_batched_tokens)
        if not step.preempted:
            self._admit_waiting(step, budget)
        return step

    def complete(self, step: ScheduledStep) -> list[Sequence]:
        """Apply a planned step; returns the sequences that emitted a token (finished included)."""
        emitted: list[Sequence] = []
        any_finished = False
        for seq, num_tokens in step.items:
            if seq.aborted:
                continue
            seq.computed_tokens += num_tokens
            if seq.computed_tokens < seq.prefill_target:
                continue
            seq.output_tokens += 1
            emitted.append(seq)
            if seq.output_tokens >= seq.target_output_tokens:
                seq.finished = True
                any_finished = True
                self._free(seq)
        if any_finished:
            self.running = [s for s in self.running if not s.finished]
        return emitted

    def _schedule_running(self, step: ScheduledStep, budget: int) -> int:
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            seq = running[i]
            if seq.is_prefilling:
                num = min(seq.prefill_target - seq.computed_tokens, budget)
            else:
                num = 1
                if not self._grow_or_preempt(seq, step):
                    break
            step.add(seq, num)
            budget -= num
            i += 1
        return budget

    def _grow_or_preempt(self, seq: Sequence, step: ScheduledStep) -> bool:
        """Allocate one KV token for a decoding ``seq``, preempting the newest if needed."""
        while self.kv_used_tokens >= self.kv_capacity_tokens:
            victim = self.running.pop()
            self._preempt(victim, step)
            if victim is seq:
                return False
        seq.kv_tokens += 1
        self.kv_used_tokens += 1
        return True

    def _preempt(self, seq: Sequence, step: ScheduledStep) -> None:
        self._free(seq)
        seq.computed_tokens = 0
        seq.prefill_target = seq.prompt_tokens + seq.output_tokens
        seq.preempted_count += 1
        self.preemptions_total += 1
        self.waiting.appendleft(seq)
        step.preempted.append(seq)

    def _admit_waiting(self, step: ScheduledStep, budget: int) -> None:
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            need = seq.prefill_target - seq.computed_tokens
            if need > self.kv_free_tokens:
                break  # KV full: wait for sequences to finish
            self.waiting.popleft()
            self.running.append(seq)
            seq.kv_tokens += need
            self.kv_used_tokens += need
            num = min(need, budget)
            step.add(seq, num)
            budget -= num

    def _free(self, seq: Sequence) -> None:
        self.kv_used_tokens -= seq.kv_tokens
        seq.kv_tokens = 0
