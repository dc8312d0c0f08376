"""A ThumbHash decoder, after the published reference (`thumbHashToRGBA`,
`thumbHashToAverageRGBA`, `thumbHashToApproximateAspectRatio`): what a page does with a
record's placeholder, for the tests and the benchmark to check the engine's hashes with.
"""

from __future__ import annotations

import base64
import math


def _header(hash_: bytes) -> tuple[int, int]:
    return hash_[0] | hash_[1] << 8 | hash_[2] << 16, hash_[3] | hash_[4] << 8


def has_alpha(hash_: bytes) -> bool:
    return bool(_header(hash_)[0] >> 23)


def approximate_aspect_ratio(hash_: bytes) -> float:
    """Width / height, as the hash knows it (from its numbers of luminance cosines)."""
    header24, header16 = _header(hash_)
    l_max = 5 if header24 >> 23 else 7
    l_min = header16 & 7
    landscape = bool(header16 >> 15)
    return (l_max if landscape else l_min) / (l_min if landscape else l_max)


def average_rgba(hash_: bytes) -> tuple[float, float, float, float]:
    """The average colour, each channel 0..1."""
    header24, _ = _header(hash_)
    lum = (header24 & 63) / 63
    p = ((header24 >> 6) & 63) / 31.5 - 1
    q = ((header24 >> 12) & 63) / 31.5 - 1
    alpha = (hash_[5] & 15) / 15 if header24 >> 23 else 1.0
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    return (*(max(0.0, min(1.0, c)) for c in (r, g, b)), alpha)  # type: ignore[return-value]


def to_rgba(hash_: bytes) -> tuple[int, int, bytes]:
    """The placeholder picture: width, height (32 on the longer side) and RGBA bytes."""
    header24, header16 = _header(hash_)
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    alpha = bool(header24 >> 23)
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    landscape = bool(header16 >> 15)
    lx = max(3, (5 if alpha else 7) if landscape else header16 & 7)
    ly = max(3, header16 & 7 if landscape else (5 if alpha else 7))
    a_dc = (hash_[5] & 15) / 15 if alpha else 1.0
    a_scale = (hash_[5] >> 4) / 15
    start, index = (6 if alpha else 5), 0

    def channel(nx: int, ny: int, scale: float) -> list[float]:
        nonlocal index
        ac = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                nibble = (hash_[start + (index >> 1)] >> ((index & 1) << 2)) & 15
                ac.append((nibble / 7.5 - 1) * scale)
                index += 1
                cx += 1
        return ac

    l_ac = channel(lx, ly, l_scale)
    p_ac = channel(3, 3, p_scale * 1.25)
    q_ac = channel(3, 3, q_scale * 1.25)
    a_ac = channel(5, 5, a_scale) if alpha else []
    ratio = approximate_aspect_ratio(hash_)
    w = 32 if ratio > 1 else round(32 * ratio)
    h = round(32 / ratio) if ratio > 1 else 32
    nx, ny = max(lx, 5 if alpha else 3), max(ly, 5 if alpha else 3)
    out = bytearray()
    for y in range(h):
        for x in range(w):
            lum, p, q, a = l_dc, p_dc, q_dc, a_dc
            fx = [math.cos(math.pi / w * (x + 0.5) * cx) for cx in range(nx)]
            fy = [math.cos(math.pi / h * (y + 0.5) * cy) for cy in range(ny)]
            j = 0
            for cy in range(ly):
                cx = 0 if cy else 1
                while cx * ly < lx * (ly - cy):
                    lum += l_ac[j] * fx[cx] * fy[cy] * 2
                    j += 1
                    cx += 1
            j = 0
            for cy in range(3):
                for cx in range(0 if cy else 1, 3 - cy):
                    f = fx[cx] * fy[cy] * 2
                    p += p_ac[j] * f
                    q += q_ac[j] * f
                    j += 1
            j = 0
            if alpha:
                for cy in range(5):
                    for cx in range(0 if cy else 1, 5 - cy):
                        a += a_ac[j] * fx[cx] * fy[cy] * 2
                        j += 1
            b = lum - 2 / 3 * p
            r = (3 * lum - b + q) / 2
            g = r - q
            out += bytes(max(0, min(255, round(255 * c))) for c in (r, g, b, a))
    return w, h, bytes(out)


def from_base64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
