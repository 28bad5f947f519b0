"""Token counters for prompts and streamed text: whitespace words, a server's /tokenize, or a
local Hugging Face tokenizer directory (needs the optional ``tokenizers`` package).

Every counter has ``count(text) -> int`` (tokens) and a ``name`` recorded with the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from benchmatrix.errors import LoadGenError


class TokenCounter(Protocol):
    """Counts tokens in a piece of text."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...


class WordCounter:
    """Whitespace-separated words: what the simulated engine counts (tokenizer-free mode)."""

    name = "words"

    def count(self, text: str) -> int:
        """Words in ``text``."""
        return len(text.split())


class HfTokenizerCounter:
    """A local ``tokenizer.json`` (directory or file) through the ``tokenizers`` package."""

    def __init__(self, path: str) -> None:
        try:
            from tokenizers import Tokenizer  # optional dependency
        except ImportError as exc:
            raise LoadGenError(
                f"tokenizer {path!r} needs the 'tokenizers' package: "
                "uv pip install tokenizers, or use tokenizer='words' / 'server'"
            ) from exc
        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        if not file.exists():
            raise LoadGenError(f"tokenizer {path!r}: no tokenizer.json found at {file}")
        self._tok = Tokenizer.from_file(str(file))
        self.name = f"hf:{file}"

    def count(self, text: str) -> int:
        """Tokens without special tokens."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)


class ServerTokenCounter:
    """POST {base_url}/tokenize (vLLM, llama.cpp and the simulated engine expose it)."""

    name = "server"

    def __init__(self, base_url: str, model: str, timeout_s: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        import httpx  # only for preparation, never on the hot path

        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                    headers=headers or {})
        self._model = model

    def count(self, text: str) -> int:
        """Token count reported by the server (``count`` or ``len(tokens)``)."""
        import httpx

        try:
            resp = self._client.post("/tokenize", json={"model": self._model, "prompt": text,
                                                        "content": text, "add_special_tokens": False})
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoadGenError(f"POST {self._client.base_url}/tokenize failed: {exc}; "
                               "use tokenizer='words' if the server has no /tokenize") from exc
        if "count" in body:
            return int(body["count"])
        return len(body.get("tokens", []))


def make_counter(spec: str, base_url: str, model: str,
                 headers: dict[str, str] | None = None) -> TokenCounter:
    """'words', 'server' or a path to a HF tokenizer directory / tokenizer.json."""
    if spec == "words":
        return WordCounter()
    if spec == "server":
        return ServerTokenCounter(base_url, model, headers=headers)
    return HfTokenizerCounter(spec)
