"""ICC profiles for colour that a file describes by code points (an `nclx` box) instead.

HEIC and AVIF files often carry no ICC profile but a `colr` box of type nclx: primaries,
transfer function and matrix as ITU-T H.273 numbers. The decoders already apply the matrix
(YCbCr to RGB); primaries and transfer are left to the caller. An Android phone's Display P3
photo, for one, says only "primaries 12, transfer 13". To convert such pixels to sRGB with the
same LittleCMS path as an embedded profile, this module writes the matrix/shaper ICC v4
profile those code points stand for. HDR transfers (PQ, HLG) get a tone curve that keeps
diffuse white at 203 cd/m2 (ITU-R BT.2408) and rolls highlights off into the SDR range.
"""

from __future__ import annotations

import math
import struct
from functools import cache

from image_service.bmff import Nclx

Chromaticities = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

D65 = (0.3127, 0.3290)
# H.273 colour primaries: (red, green, blue) and white, as CIE 1931 xy.
PRIMARIES: dict[int, tuple[Chromaticities, tuple[float, float]]] = {
    1: (((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)), D65),  # BT.709 / sRGB
    4: (((0.67, 0.33), (0.21, 0.71), (0.14, 0.08)), (0.310, 0.316)),  # BT.470 System M
    5: (((0.64, 0.33), (0.29, 0.60), (0.15, 0.06)), D65),  # BT.601 625
    6: (((0.630, 0.340), (0.310, 0.595), (0.155, 0.070)), D65),  # BT.601 525
    7: (((0.630, 0.340), (0.310, 0.595), (0.155, 0.070)), D65),  # SMPTE 240M
    9: (((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), D65),  # BT.2020
    11: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.314, 0.351)),  # DCI-P3
    12: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65),  # Display P3
    22: (((0.630, 0.340), (0.295, 0.605), (0.155, 0.077)), D65),  # EBU 3213
}
SRGB_PRIMARIES = frozenset({1, 2})  # 2: unspecified, read as sRGB (as browsers do)
SRGB_TRANSFERS = frozenset({2, 13})
PQ, HLG = 16, 18
# Transfers with a curve of their own below; every other code is read as sRGB's.
TRANSFERS = frozenset({1, 4, 5, 6, 8, 13, 14, 15, PQ, HLG})
SDR_WHITE_NITS = 203.0
D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space's white
BRADFORD: Matrix = (
    (0.8951, 0.2664, -0.1614),
    (-0.7502, 1.7135, 0.0367),
    (0.0389, -0.0685, 1.0296),
)


def is_srgb(nclx: Nclx) -> bool:
    """True when the pixels are sRGB already, or the code points say nothing this module knows
    (unspecified and unknown codes are read as sRGB, as browsers do)."""
    primaries = nclx.primaries in SRGB_PRIMARIES or nclx.primaries not in PRIMARIES
    transfer = nclx.transfer in SRGB_TRANSFERS or nclx.transfer not in TRANSFERS
    return primaries and transfer


@cache
def profile(primaries: int, transfer: int) -> bytes:
    """An ICC v4 display profile for H.273 `primaries` and `transfer` (unknown codes: sRGB's)."""
    chromaticities, white = PRIMARIES.get(primaries, PRIMARIES[1])
    to_xyz = _rgb_to_xyz(chromaticities, white)
    adapt = _bradford(white)
    colorants = _mul(adapt, to_xyz)
    curve = _curve(transfer)
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _mluc(f"H.273 primaries {primaries}, transfer {transfer}")),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", _xyz(D50)),
        (b"chad", b"sf32" + b"\0" * 4 + b"".join(_s15(v) for row in adapt for v in row)),
        (b"rXYZ", _xyz(tuple(colorants[i][0] for i in range(3)))),
        (b"gXYZ", _xyz(tuple(colorants[i][1] for i in range(3)))),
        (b"bXYZ", _xyz(tuple(colorants[i][2] for i in range(3)))),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    return _assemble(tags)


# Transfer functions: encoded value -> linear display light, 1.0 = diffuse white.


def _parametric(kind: int, *params: float) -> bytes:
    return b"para" + b"\0" * 4 + struct.pack(">HH", kind, 0) + b"".join(_s15(p) for p in params)


def _srgb_curve() -> bytes:
    return _parametric(3, 2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


def _curve(transfer: int) -> bytes:
    if transfer in (1, 6, 14, 15):  # BT.709/601/2020: the inverse of their camera curve
        return _parametric(3, 1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)
    if transfer == 4:
        return _parametric(0, 2.2)
    if transfer == 5:
        return _parametric(0, 2.8)
    if transfer == 8:
        return _parametric(0, 1.0)
    if transfer in (PQ, HLG):
        decode = _pq if transfer == PQ else _hlg
        points = 1024
        table = [_tone_map(decode(i / (points - 1))) for i in range(points)]
        return (
            b"curv"
            + b"\0" * 4
            + struct.pack(">I", points)
            + b"".join(struct.pack(">H", round(min(max(v, 0.0), 1.0) * 65535)) for v in table)
        )
    return _srgb_curve()


def _pq(encoded: float) -> float:
    """SMPTE ST 2084: signal -> cd/m2, relative to SDR diffuse white."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = math.pow(encoded, 1 / m2)
    nits = 10000 * math.pow(max(p - c1, 0.0) / (c2 - c3 * p), 1 / m1)
    return nits / SDR_WHITE_NITS


def _hlg(encoded: float) -> float:
    """ITU-R BT.2100 HLG on a 1,000 cd/m2 display (system gamma 1.2), relative to diffuse white."""
    a, b = 0.17883277, 0.28466892
    c = 0.5 - a * math.log(4 * a)
    scene = encoded**2 / 3 if encoded <= 0.5 else (math.exp((encoded - c) / a) + b) / 12
    return 1000 * math.pow(scene, 1.2) / SDR_WHITE_NITS


def _tone_map(relative: float, knee: float = 0.8) -> float:
    """Identity below `knee`, then highlights up to 10x diffuse white rolled off towards 1.0."""
    if relative <= knee:
        return relative
    span = 1.0 - knee
    excess = (relative - knee) / span
    return knee + span * excess / (1 + excess)


# Colour science in plain Python (3x3 matrices; no numpy in the layer).


def _mul(a: Matrix, b: Matrix) -> Matrix:
    rows = tuple(
        tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3)
    )
    return rows  # type: ignore[return-value]


def _apply(m: Matrix, v: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = (sum(m[i][k] * v[k] for k in range(3)) for i in range(3))
    return x, y, z


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if abs(det) < 1e-12:
        raise ValueError("singular colour matrix")
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def _white_xyz(white: tuple[float, float]) -> tuple[float, float, float]:
    x, y = white
    return x / y, 1.0, (1 - x - y) / y


def _rgb_to_xyz(rgb: Chromaticities, white: tuple[float, float]) -> Matrix:
    columns = [(x / y, 1.0, (1 - x - y) / y) for x, y in rgb]
    m: Matrix = tuple(tuple(columns[j][i] for j in range(3)) for i in range(3))  # type: ignore[assignment]
    scale = _apply(_inverse(m), _white_xyz(white))
    return tuple(tuple(m[i][j] * scale[j] for j in range(3)) for i in range(3))  # type: ignore[return-value]


def _bradford(white: tuple[float, float]) -> Matrix:
    """Chromatic adaptation from `white` to the PCS's D50."""
    source = _apply(BRADFORD, _white_xyz(white))
    target = _apply(BRADFORD, D50)
    gain: Matrix = (
        (target[0] / source[0], 0.0, 0.0),
        (0.0, target[1] / source[1], 0.0),
        (0.0, 0.0, target[2] / source[2]),
    )
    return _mul(_inverse(BRADFORD), _mul(gain, BRADFORD))


# ICC encoding.


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values: tuple[float, ...]) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in values)


def _mluc(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    return (
        b"mluc"
        + b"\0" * 4
        + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(encoded), 28)
        + encoded
    )


def _assemble(tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, blobs, placed = [], [], {}
    for signature, blob in tags:
        if blob not in placed:  # the three TRCs share one curve
            placed[blob] = offset
            padded = blob + b"\0" * (-len(blob) % 4)
            blobs.append(padded)
            offset += len(padded)
        entries.append(struct.pack(">4sII", signature, placed[blob], len(blob)))
    body = struct.pack(">I", len(tags)) + b"".join(entries) + b"".join(blobs)
    size = 128 + len(body)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x04300000, b"mntr", b"RGB ", b"XYZ ")
        + b"\0" * 12  # creation date: zero keeps the bytes deterministic
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + b"".join(_s15(v) for v in D50)
        + b"\0" * 4  # creator
        + b"\0" * 16  # profile id (optional)
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + body
