"""Prompt text for each request: synthetic words of an exact token length, or prompts from a
JSONL / ShareGPT file. Deterministic in ``(seed, request_index)`` so any worker process can
build any request's prompt without shipping text between processes.

Layout of a synthetic prompt of ``n`` tokens::

    [shared prefix: round(ratio * n) tokens, same for every request]
    [unique marker "r<index>:" so prefix caches cannot skip prefill]
    [filler words, a seeded slice of a fixed random corpus]

With a real tokenizer, the filler length is adjusted until the whole prompt counts exactly
``n`` tokens (or as close as word granularity allows); with 'words' it is exact by construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmatrix.errors import LoadGenError
from benchmatrix.loadgen.arrivals import derive_seed
from benchmatrix.loadgen.token_counters import TokenCounter, WordCounter

_VOCAB = (
    "time year people way day man thing woman life child world school state family student "
    "group country problem hand part place case week company system program question work "
    "government number night point home water room mother area money story fact month lot "
    "right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city community name president team minute idea "
    "kid body information back parent face others level office door health person art war "
    "history party result change morning reason research girl guy moment air teacher force "
    "education foot boy age policy process music market sense nation plan college interest "
    "death experience effect use class control care field development role effort rate heart "
    "drug show leader light voice wife police mind price report decision son view relationship "
    "town road arm difference value building action model season society tax director position "
    "player record paper space ground form event official matter center couple site project"
).split()
_CORPUS_WORDS = 1 << 16
_MAX_FIT_ROUNDS = 8


class PromptFactory:
    """Builds prompt text per request index; see the module docstring for the layout."""

    def __init__(self, seed: int, counter: TokenCounter | None = None,
                 shared_prefix_ratio: float = 0.0, unique_prefix: bool = True,
                 source: str = "synthetic") -> None:
        self.seed = seed
        self.counter = counter or WordCounter()
        self.exact_words = isinstance(self.counter, WordCounter)
        self.shared_prefix_ratio = shared_prefix_ratio
        self.unique_prefix = unique_prefix
        rng = np.random.default_rng(derive_seed(seed, "corpus"))
        words = np.asarray(_VOCAB)[rng.integers(0, len(_VOCAB), size=_CORPUS_WORDS)]
        self._words = [str(w) for w in words]
        self._text = " ".join(self._words) + " "
        lengths = np.fromiter((len(w) + 1 for w in self._words), dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)])
        self._file_prompts = load_prompt_file(Path(source)) if source != "synthetic" else None

    @property
    def from_file(self) -> bool:
        """True when prompts come from a file (lengths are the file's, not the distribution's)."""
        return self._file_prompts is not None

    def _slice(self, start: int, count: int) -> str:
        """``count`` corpus words from word ``start`` (wrapping), as one string."""
        start %= _CORPUS_WORDS
        count = max(0, count)
        if start + count <= _CORPUS_WORDS:
            return self._text[self._offsets[start]: self._offsets[start + count] - 1] if count else ""
        head = self._text[self._offsets[start]:].rstrip()
        return (head + " " + self._slice(0, start + count - _CORPUS_WORDS)).strip()

    def _assemble(self, index: int, shared: int, filler: int, start: int) -> str:
        parts = []
        if shared:
            parts.append(self._slice(0, shared))
        if self.unique_prefix:
            parts.append(f"r{index}:")
        parts.append(self._slice(start, filler))
        return " ".join(p for p in parts if p)

    def synthetic(self, index: int, n_tokens: int) -> tuple[str, int]:
        """Prompt text for request ``index`` of ``n_tokens`` tokens, and its counted length."""
        shared = int(round(self.shared_prefix_ratio * n_tokens))
        marker = 1 if self.unique_prefix else 0
        filler = max(0, n_tokens - shared - marker)
        start = int(np.random.default_rng(derive_seed(self.seed, f"p{index}")).integers(
            _CORPUS_WORDS)) if not self.exact_words else (index * 7919 + 1) % _CORPUS_WORDS
        text = self._assemble(index, shared, filler, start)
        if self.exact_words:
            return text, shared + marker + filler
        return self._fit(index, shared, filler, start, n_tokens, text)

    def _fit(self, index: int, shared: int, filler: int, start: int, target: int,
             text: str) -> tuple[str, int]:
        """Adjust the filler word count until the counter reports ``target`` tokens."""
        count = self.counter.count(text)
        best = (abs(count - target), text, count)
        for _ in range(_MAX_FIT_ROUNDS):
            if count == target:
                break
            ratio = filler / max(1, count - (target - filler))
            step = int(round((target - count) * min(max(ratio, 0.25), 2.0))) or (
                1 if target > count else -1)
            filler = max(0, filler + step)
            text = self._assemble(index, shared, filler, start)
            count = self.counter.count(text)
            best = min(best, (abs(count - target), text, count), key=lambda b: b[0])
        return self._pad(best[1], best[2], target)

    def _pad(self, text: str, count: int, target: int) -> tuple[str, int]:
        """Close the last few tokens with one-token words ('a'), dropping words if over."""
        words = text.split(" ")
        for _ in range(_MAX_FIT_ROUNDS):
            if count <= target or len(words) <= 2:
                break
            words.pop()
            count = self.counter.count(" ".join(words))
        base = " ".join(words)
        for pad in range(0, 2 * (target - count) + 1):
            candidate = base + " a" * pad
            got = self.counter.count(candidate)
            if got >= target:
                return (candidate, got) if got == target else (base, count)
        return base, count

    def prompt(self, index: int, n_tokens: int) -> tuple[str, int]:
        """Prompt for request ``index``: synthetic of ``n_tokens``, or the file's next prompt."""
        if self._file_prompts is None:
            return self.synthetic(index, n_tokens)
        text = self._file_prompts[index % len(self._file_prompts)]
        if self.unique_prefix:
            text = f"r{index}: {text}"
        return text, self.counter.count(text)


def _first_user_text(obj: dict) -> str | None:
    if isinstance(obj.get("prompt"), str):
        return obj["prompt"]
    if isinstance(obj.get("text"), str):
        return obj["text"]
    turns = obj.get("conversations") or obj.get("messages") or []
    for turn in turns:
        role = turn.get("from") or turn.get("role")
        text = turn.get("value") or turn.get("content")
        if role in ("human", "user") and isinstance(text, str):
            return text
    return None


def load_prompt_file(path: Path) -> list[str]:
    """Prompts from JSONL (``prompt``/``text``/``messages`` per line) or ShareGPT JSON."""
    if not path.exists():
        raise LoadGenError(f"prompt_source {path}: no such file (or use 'synthetic')")
    raw = path.read_text()
    try:
        items = json.loads(raw) if raw.lstrip().startswith("[") else [
            json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise LoadGenError(f"prompt_source {path}: not JSON or JSONL: {exc}") from exc
    prompts = [t for t in (_first_user_text(o) for o in items if isinstance(o, dict)) if t]
    if not prompts:
        raise LoadGenError(f"prompt_source {path}: no prompts found (need prompt, text, "
                           "messages or ShareGPT conversations with a human turn)")
    return prompts
