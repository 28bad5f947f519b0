"""Request bodies for each endpoint: chat, completions (text and vision) and audio transcriptions.

:class:`RequestBuilder` turns (request index, input/output lengths) into the raw HTTP request
bytes plus the facts recorded about the input (counted prompt tokens, images, audio seconds).
The API key, if any, is put in the Authorization header here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from benchmatrix.loadgen.arrivals import derive_seed
from benchmatrix.loadgen.config import LoadRunConfig
from benchmatrix.loadgen.http import Target, build_request
from benchmatrix.loadgen.media import AudioClip, audio_pool, image_pool
from benchmatrix.loadgen.prompts import PromptFactory

PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
         "audio": "/v1/audio/transcriptions"}


@dataclass(frozen=True)
class BuiltRequest:
    """Wire bytes of one request and what was put in it."""

    data: bytes
    prompt_tokens: int
    image_count: int
    audio_seconds: float | None


class RequestBuilder:
    """Builds every request of a run from its config; cheap per call (media are pooled)."""

    def __init__(self, cfg: LoadRunConfig, prompts: PromptFactory, run_id: str) -> None:
        self.cfg = cfg
        self.prompts = prompts
        self.run_id = run_id
        self.target = Target.from_url(cfg.base_url)
        self.path = PATHS[cfg.endpoint]
        self.headers = _static_headers(cfg)
        self.images = image_pool(cfg.images, derive_seed(cfg.seed, "images")) \
            if cfg.modality == "vision" else []
        self.clips: list[AudioClip] = audio_pool(cfg.audio, derive_seed(cfg.seed, "audio")) \
            if cfg.modality == "speech" else []

    def request_id(self, index: int) -> str:
        """Id sent as ``x-request-id``; the simulated engine reports it back for calibration."""
        return f"{self.run_id}-{index}"

    def build(self, index: int, input_tokens: int, output_tokens: int) -> BuiltRequest:
        """The full HTTP request for schedule entry ``index``."""
        if self.cfg.endpoint == "audio":
            return self._audio(index, output_tokens)
        text, counted = self.prompts.prompt(index, input_tokens)
        images = self._pick_images(index)
        body = self._chat_body(text, images, output_tokens) if self.cfg.endpoint == "chat" \
            else self._completions_body(text, output_tokens)
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {**self.headers, "Content-Type": "application/json",
                   "x-request-id": self.request_id(index)}
        return BuiltRequest(build_request("POST", self.target, self.path, headers, raw),
                            counted, len(images), None)

    def _sampling(self, output_tokens: int) -> dict:
        cfg = self.cfg
        body: dict = {"model": cfg.model, "max_tokens": int(output_tokens), "stream": cfg.stream}
        if cfg.stream:
            body["stream_options"] = {"include_usage": True}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.ignore_eos:
            body["ignore_eos"] = True
        if cfg.stop:
            body["stop"] = list(cfg.stop)
        return body

    def _chat_body(self, text: str, images: list[str], output_tokens: int) -> dict:
        content: object = text
        if images:
            content = [{"type": "text", "text": text}] + [
                {"type": "image_url", "image_url": {"url": url}} for url in images]
        body = self._sampling(output_tokens)
        body["messages"] = [{"role": "user", "content": content}]
        body.update(self.cfg.extra_body)
        return body

    def _completions_body(self, text: str, output_tokens: int) -> dict:
        body = self._sampling(output_tokens)
        body["prompt"] = text
        body.update(self.cfg.extra_body)
        return body

    def _pick_images(self, index: int) -> list[str]:
        if not self.images:
            return []
        opts = self.cfg.images
        rng = np.random.default_rng(derive_seed(self.cfg.seed, f"img{index}"))
        count = int(rng.integers(opts.count_min, opts.count_max + 1))
        return [self.images[int(i)] for i in rng.integers(0, len(self.images), size=count)]

    def _audio(self, index: int, output_tokens: int) -> BuiltRequest:
        clip = self.clips[index % len(self.clips)]
        fields = {"model": self.cfg.model, "response_format": "json",
                  "stream": "true" if self.cfg.audio.stream else "false",
                  "temperature": str(self.cfg.temperature or 0.0)}
        if self.cfg.audio.language:
            fields["language"] = self.cfg.audio.language
        fields.update({k: str(v) for k, v in self.cfg.extra_body.items()})
        boundary = f"bmx{index:x}{derive_seed(self.cfg.seed, 'b') % 10**9}"
        body = _multipart(boundary, fields, clip.wav)
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                   "x-request-id": self.request_id(index)}
        return BuiltRequest(build_request("POST", self.target, self.path, headers, body),
                            0, 0, clip.seconds)


def _multipart(boundary: str, fields: dict[str, str], wav: bytes) -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="audio.wav"\r\nContent-Type: audio/wav\r\n\r\n'.encode() + wav + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _static_headers(cfg: LoadRunConfig) -> dict[str, str]:
    headers = {"Accept": "text/event-stream" if cfg.stream else "application/json",
               "User-Agent": "benchmatrix-loadgen"}
    headers.update(cfg.headers)
    key = cfg.api_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers
