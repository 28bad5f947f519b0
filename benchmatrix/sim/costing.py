"""The sim's "tokenizer" and input costing for text, images and audio (pure functions).

- Text: one token per whitespace-separated word (``str.split()``); an empty prompt costs 1 token
  (the BOS token). A load generator that sends N words gets exactly N prompt tokens.
- Images (``data:`` URLs only): ``ceil(width / 14) * ceil(height / 14)`` patch tokens, width and
  height read from the PNG, JPEG, GIF, WebP or BMP header (patch edge configurable).
- Audio (WAV, PCM): ``ceil(seconds * 50)`` encoder tokens, seconds = data bytes / byte rate.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import zlib

VOCAB_SIZE = 32000


class CostingError(ValueError):
    """The input cannot be costed (bad data URL, unknown image format, not a WAV file)."""


def count_text_tokens(text: str) -> int:
    """Tokens in ``text`` under the sim's rule: whitespace-separated words."""
    return len(text.split())


def tokenize(text: str) -> list[int]:
    """Token ids for ``text``: crc32 of each word modulo a 32000-word vocabulary."""
    return [zlib.crc32(word.encode()) % VOCAB_SIZE for word in text.split()]


def image_tokens(width_px: int, height_px: int, patch_px: int = 14) -> int:
    """Patch tokens of a ``width_px`` x ``height_px`` image."""
    return math.ceil(width_px / patch_px) * math.ceil(height_px / patch_px)


def decode_data_url(url: str) -> bytes:
    """Bytes of a ``data:[mime][;base64],payload`` URL."""
    if not url.startswith("data:") or "," not in url:
        raise CostingError("image_url must be a data: URL (the sim fetches nothing)")
    header, payload = url[5:].split(",", 1)
    if not header.endswith(";base64"):
        raise CostingError("data: URL must be base64-encoded")
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise CostingError(f"bad base64 in data: URL: {exc}") from exc


def image_size_px(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG, GIF, BMP, WebP or JPEG header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return width, abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    raise CostingError("unknown image format (PNG, JPEG, GIF, WebP, BMP supported)")


def _webp_size(data: bytes) -> tuple[int, int]:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise CostingError("unsupported WebP variant")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise CostingError("JPEG without a frame header")


def image_url_tokens(url: str, patch_px: int = 14) -> int:
    """Prefill tokens of one ``image_url`` content part (a data: URL)."""
    width, height = image_size_px(decode_data_url(url))
    return image_tokens(width, height, patch_px)


def wav_seconds(data: bytes) -> float:
    """Duration of a RIFF/WAVE file, seconds (data chunk bytes / byte rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise CostingError("audio must be a WAV (RIFF/WAVE) file")
    pos, byte_rate, data_bytes = 12, 0, None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if chunk_id == b"fmt " and size >= 16:
            (byte_rate,) = struct.unpack("<I", data[pos + 16 : pos + 20])
        elif chunk_id == b"data":
            data_bytes = min(size, len(data) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    if not byte_rate or data_bytes is None:
        raise CostingError("WAV file without fmt or data chunk")
    return data_bytes / byte_rate


def audio_tokens(seconds: float, tokens_per_s: float = 50.0) -> int:
    """Encoder tokens for ``seconds`` of audio (at least 1)."""
    return max(1, math.ceil(seconds * tokens_per_s))


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """Fields of a multipart/form-data body: name -> raw bytes (files and plain values alike)."""
    boundary = _boundary(content_type)
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        name = _disposition_name(head)
        if name is not None:
            fields[name] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


def _boundary(content_type: str) -> bytes:
    for item in content_type.split(";"):
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode()
    raise CostingError("multipart/form-data without a boundary")


def _disposition_name(head: bytes) -> str | None:
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-disposition:"):
            for item in line.split(";"):
                key, _, value = item.strip().partition("=")
                if key == "name":
                    return value.strip('"')
    return None
