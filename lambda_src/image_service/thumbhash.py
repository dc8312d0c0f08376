"""ThumbHash: a placeholder of an image in about 25 bytes, which a page paints at once.

The published algorithm (Evan Wallace's reference encoder, `rgbaToThumbHash`): the image,
at most 100x100, composited over its own average colour, becomes luminance, two colour
differences and alpha; each is reduced to a few low-frequency DCT coefficients, quantised to
4 bits and packed after a 5-byte header (averages, scales, aspect, alpha). Any ThumbHash
decoder (the reference's `thumbHashToRGBA`, the npm and PyPI packages) turns it back into a
blurred picture at the image's approximate aspect ratio.

The DCT is computed separably (rows, then columns): the same sums as the reference's double
loop in a different order, about 25 times fewer multiplications, which is what makes pure
Python fast enough (docs/PERFORMANCE.md). Rounding is JavaScript's `Math.round` (halves up),
as in the reference, not Python's round-half-to-even.
"""

from __future__ import annotations

import base64
import math
from operator import mul

MAX_EDGE = 100  # the reference refuses larger input: slower, and no better


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _cosines(count: int, size: int) -> list[list[float]]:
    return [[math.cos(math.pi / size * c * (i + 0.5)) for i in range(size)] for c in range(count)]


def _encode_channel(
    channel: list[float], width: int, height: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """The DC term, the AC terms normalised to 0..1, and their scale, in the reference's order:
    for each row `cy`, the columns `cx` with `cx * ny < nx * (ny - cy)` (a triangle)."""
    fx, fy = _cosines(nx, width), _cosines(ny, height)
    # Row sums first: rows[cx][y] = sum over x of channel[y][x] * cos(x, cx).
    lines = [channel[y * width : (y + 1) * width] for y in range(height)]
    rows = [[sum(map(mul, line, fx[cx])) for line in lines] for cx in range(nx)]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = sum(map(mul, rows[cx], fy[cy])) / (width * height)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def encode(width: int, height: int, rgba: bytes) -> bytes:
    """The ThumbHash of `width` x `height` RGBA pixels (not premultiplied), 8 bits each."""
    if not (0 < width <= MAX_EDGE and 0 < height <= MAX_EDGE):
        raise ValueError(f"{width}x{height} does not fit in {MAX_EDGE}x{MAX_EDGE}")
    if len(rgba) != width * height * 4:
        raise ValueError("expected width x height RGBA pixels")
    red, green, blue = rgba[0::4], rgba[1::4], rgba[2::4]
    alpha = [a / 255 for a in rgba[3::4]]
    total_alpha = sum(alpha)
    avg_r = avg_g = avg_b = 0.0
    if total_alpha:
        avg_r = sum(map(mul, alpha, red)) / 255 / total_alpha
        avg_g = sum(map(mul, alpha, green)) / 255 / total_alpha
        avg_b = sum(map(mul, alpha, blue)) / 255 / total_alpha
    has_alpha = total_alpha < width * height
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha needs the room
    lx = max(1, _round(l_limit * width / max(width, height)))
    ly = max(1, _round(l_limit * height / max(width, height)))

    # Composited over the average colour, as luminance and two colour differences.
    r = [avg_r * (1 - a) + a / 255 * c for a, c in zip(alpha, red, strict=True)]
    g = [avg_g * (1 - a) + a / 255 * c for a, c in zip(alpha, green, strict=True)]
    b = [avg_b * (1 - a) + a / 255 * c for a, c in zip(alpha, blue, strict=True)]
    luma = [(x + y + z) / 3 for x, y, z in zip(r, g, b, strict=True)]
    yellow_blue = [(x + y) / 2 - z for x, y, z in zip(r, g, b, strict=True)]
    red_green = [x - y for x, y in zip(r, g, strict=True)]

    l_dc, l_ac, l_scale = _encode_channel(luma, width, height, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, width, height, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(red_green, width, height, 3, 3)

    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alpha, width, height, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        factors.append(a_ac)
    nibbles = [_round(15 * f) for ac in factors for f in ac]
    if len(nibbles) % 2:
        nibbles.append(0)
    out += [low | (high << 4) for low, high in zip(nibbles[0::2], nibbles[1::2], strict=True)]
    return bytes(out)


def encode_base64(width: int, height: int, rgba: bytes) -> str:
    """`encode` as standard base64 (about 36 characters), what a record and a page carry."""
    return base64.b64encode(encode(width, height, rgba)).decode("ascii")
