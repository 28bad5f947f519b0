"""Generated media for vision and speech requests: PNG images (numpy + zlib) and WAV clips.

Both are seeded and built into small pools before the run, so encoding costs no time while
requests are timed.
"""

from __future__ import annotations

import base64
import io
import struct
import wave
import zlib
from dataclasses import dataclass

import numpy as np

from benchmatrix.loadgen.config import AudioOptions, ImageOptions


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an (height, width, 3) uint8 RGB array as PNG bytes (filter 0, zlib level 1)."""
    height, width, _ = pixels.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * 3)], 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _png_chunk(b"IEND", b""))


def random_image(rng: np.random.Generator, width_px: int, height_px: int) -> np.ndarray:
    """A smooth gradient with noise: realistic-ish compressed size, cheap to make."""
    y = np.linspace(0, 255, height_px, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 255, width_px, dtype=np.float32)[None, :, None]
    tint = rng.uniform(0.2, 1.0, size=(1, 1, 3)).astype(np.float32)
    noise = rng.integers(0, 32, size=(height_px, width_px, 3)).astype(np.float32)
    return np.clip((x + y) / 2 * tint + noise, 0, 255).astype(np.uint8)


def png_data_url(png: bytes) -> str:
    """``data:image/png;base64,...`` for an OpenAI ``image_url`` content part."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_pool(opts: ImageOptions, seed: int) -> list[str]:
    """``opts.pool_size`` PNG data URLs with sizes drawn uniformly from the options' ranges."""
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(opts.pool_size):
        w = int(rng.integers(opts.width_min_px, opts.width_max_px + 1))
        h = int(rng.integers(opts.height_min_px, opts.height_max_px + 1))
        pool.append(png_data_url(encode_png(random_image(rng, w, h))))
    return pool


@dataclass(frozen=True)
class AudioClip:
    """One generated WAV file and its length in seconds."""

    wav: bytes
    seconds: float


def encode_wav(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    """16-bit mono PCM WAV bytes from float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate_hz)
        w.writeframes(pcm)
    return out.getvalue()


def random_clip(rng: np.random.Generator, seconds: float, sample_rate_hz: int) -> AudioClip:
    """A few seconds of tones plus noise (speech-like energy, no words)."""
    n = int(round(seconds * sample_rate_hz))
    t = np.arange(n, dtype=np.float32) / sample_rate_hz
    freq = rng.uniform(120, 300)
    samples = 0.3 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    samples += rng.normal(0, 0.02, size=n).astype(np.float32)
    return AudioClip(encode_wav(samples, sample_rate_hz), n / sample_rate_hz)


def audio_pool(opts: AudioOptions, seed: int) -> list[AudioClip]:
    """``opts.pool_size`` clips with durations uniform in the options' range."""
    rng = np.random.default_rng(seed)
    return [random_clip(rng, float(rng.uniform(opts.duration_min_s, opts.duration_max_s)),
                        opts.sample_rate_hz) for _ in range(opts.pool_size)]
