"""WebP against JPEG for the thumbnails: bytes at equal quality, and the time it costs.

For each photo and rendition, the engine's resized pixels before encoding (its own pipeline:
one decode, crop, resample, sRGB, upright) are the reference. They are encoded the way the
engine encodes a JPEG (q82, optimized Huffman tables) and that JPEG's SSIM against them is the
target; the lowest WebP quality whose SSIM reaches the target is found by bisection (SSIM
rises with the quality setting; each probe is checked), for each WebP effort (`method`).
Bytes saved = 1 - WebP bytes / JPEG bytes at that quality. Encode times are CPU medians.
"""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bench import cases, quality

METHODS = (2, 4, 6)
JPEG_QUALITY = 82


@dataclass(frozen=True)
class Match:
    photo: str
    rendition: str
    size: tuple[int, int]
    jpeg_bytes: int
    jpeg_ssim: float
    jpeg_ms: float
    webp: dict[int, tuple[int, int, float, float]]  # method -> (quality, bytes, ssim, ms)


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _ssim(encoded: bytes, reference: Image.Image) -> float:
    return quality.ssim(Image.open(io.BytesIO(encoded)), reference)


def _cpu_ms(run: Any, rounds: int = 7) -> float:
    run()
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        run()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def lowest_quality(pixels: Image.Image, target: float, method: int) -> tuple[int, bytes, float]:
    """The lowest WebP quality (0-100) whose SSIM against `pixels` reaches `target`."""
    low, high = 0, 100
    best: tuple[int, bytes, float] | None = None
    while low <= high:
        q = (low + high) // 2
        encoded = _encode(pixels, "WEBP", quality=q, method=method)
        score = _ssim(encoded, pixels)
        if score >= target:
            best, high = (q, encoded, score), q - 1
        else:
            low = q + 1
    if best is None:  # not reachable even at 100: report 100
        encoded = _encode(pixels, "WEBP", quality=100, method=method)
        best = (100, encoded, _ssim(encoded, pixels))
    return best


def match(photo: str, data: bytes) -> list[Match]:
    engine = cases.engine_module()
    assert engine is not None
    renditions = cases.engine_renditions(tuple(cases.RENDITIONS))
    found = []
    for name, pixels in engine._resized(data, renditions, max_pixels=cases.MAX_IMAGE_PIXELS):
        if pixels.mode != "RGB":
            continue  # transparent renditions are WebP already
        jpeg = _encode(pixels, "JPEG", quality=JPEG_QUALITY, optimize=True)
        target = _ssim(jpeg, pixels)
        jpeg_ms = _cpu_ms(lambda p=pixels: _encode(p, "JPEG", quality=JPEG_QUALITY, optimize=True))
        per_method = {}
        for method in METHODS:
            q, encoded, score = lowest_quality(pixels, target, method)
            ms = _cpu_ms(lambda p=pixels, q=q, m=method: _encode(p, "WEBP", quality=q, method=m))
            per_method[method] = (q, len(encoded), score, ms)
        found.append(Match(photo, name, pixels.size, len(jpeg), target, jpeg_ms, per_method))
    return found


def at_quality(data: bytes, webp_quality: int, method: int) -> list[tuple[str, float, float]]:
    """At one fixed WebP setting: per rendition, (name, SSIM - JPEG's SSIM, bytes saved)."""
    engine = cases.engine_module()
    assert engine is not None
    renditions = cases.engine_renditions(tuple(cases.RENDITIONS))
    rows = []
    for name, pixels in engine._resized(data, renditions, max_pixels=cases.MAX_IMAGE_PIXELS):
        if pixels.mode != "RGB":
            continue
        jpeg = _encode(pixels, "JPEG", quality=JPEG_QUALITY, optimize=True)
        webp = _encode(pixels, "WEBP", quality=webp_quality, method=method)
        rows.append((name, _ssim(webp, pixels) - _ssim(jpeg, pixels), 1 - len(webp) / len(jpeg)))
    return rows
