"""Thumbnail quality: SSIM against a LANCZOS rendition of the fully decoded original.

SSIM (Wang et al. 2004) on luma, 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03, over
the valid region. 1.0 means identical to the reference; above about 0.98 differences are hard
to see at thumbnail size.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageOps

from bench import proto

_WINDOW = 11
_SIGMA = 1.5


def _kernel() -> np.ndarray:
    x = np.arange(_WINDOW) - _WINDOW // 2
    k = np.exp(-(x**2) / (2 * _SIGMA**2))
    return np.asarray(k / k.sum())


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, valid region only."""
    k = _kernel()
    rows = x.shape[0] - _WINDOW + 1
    cols = x.shape[1] - _WINDOW + 1
    vertical = sum(k[i] * x[i : i + rows, :] for i in range(_WINDOW))
    # Typed locals: without numpy installed (it comes with `make bench`) mypy sees Any.
    blurred: np.ndarray = sum(k[i] * vertical[:, i : i + cols] for i in range(_WINDOW))
    return blurred


def _luma(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        # Compare what a viewer sees: composited over mid grey.
        backdrop = Image.new("RGBA", im.size, (128, 128, 128, 255))
        im = Image.alpha_composite(backdrop, im.convert("RGBA"))
    rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
    luma: np.ndarray = rgb @ np.array([0.299, 0.587, 0.114])
    return luma


def ssim(a: Image.Image, b: Image.Image) -> float:
    x, y = _luma(a), _luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x), _blur(y)
    sxx = _blur(x * x) - mx * mx
    syy = _blur(y * y) - my * my
    sxy = _blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float((num / den).mean())


@cache
def _full_decode(path: str) -> Image.Image:
    im: Image.Image = Image.open(path)
    im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    return im


def reference(path: str, box: proto.Box, size: tuple[int, int]) -> Image.Image:
    """The LANCZOS rendition of the full-resolution pixels at the candidate's output size."""
    full = _full_decode(path)
    _, region = proto.fitted(full.width, full.height, box)
    return full.resize(size, Image.Resampling.LANCZOS, box=region)


def score(path: str, box: proto.Box, encoded: bytes) -> float:
    candidate = Image.open(io.BytesIO(encoded))
    candidate.load()
    return ssim(candidate, reference(path, box, candidate.size))


def forget() -> None:
    """Drop the cached full decode (hundreds of MB for the large inputs)."""
    _full_decode.cache_clear()
