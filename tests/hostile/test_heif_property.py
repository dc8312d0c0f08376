"""Property: a HEIC or AVIF mutated anywhere (its `ftyp` brands, the `meta` box that the
service parses itself to type the file, the coded data) only ever gets the engine's own
answers: accepted and rendered, or refused as InvalidImage / UnsupportedMediaType. The
container parser never raises, and what the upload check accepts, the worker can render.
Bounded and derandomized, so it runs the same in every CI run.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from image_service import bmff, imaging
from image_service.contract import Rendition
from image_service.errors import InvalidImage, UnsupportedMediaType

from samples import heif as heif_samples
from samples import images
from tests.depth import examples

SEEDS = {
    "heic": heif_samples.heic(images.photo(96, 64)),
    "heic-grid": heif_samples.heic(images.photo(160, 96), tile_size=64),
    "avif": heif_samples.avif(images.photo(96, 64)),
    "avif-sequence": heif_samples.avif_sequence(),
}
RENDITIONS = [Rendition("thumb", 64, 64, "contain"), Rendition("square", 48, 48, "cover")]
MAX_PIXELS = 10_000_000


def meta_end(data: bytes) -> int:
    """Where the boxes the service parses itself (ftyp, meta) end."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        if kind == b"mdat" or size < 8:
            break
        offset += size
    return min(offset, len(data))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    header = meta_end(bytes(data))
    for _ in range(draw(st.integers(1, 3))):
        if len(data) < 16:
            break
        # Mostly inside ftyp/meta, where sizes, counts, ids and item types live.
        end = header if draw(st.integers(0, 3)) else len(data)
        at = draw(st.integers(0, max(0, min(end, len(data)) - 1)))
        operation = draw(st.sampled_from(["flip", "field", "truncate", "splice"]))
        if operation == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif operation == "field":
            value = draw(st.sampled_from([0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            width = draw(st.sampled_from([1, 2, 4]))
            packed = struct.pack(">I", value)[-width:]
            data[at : at + width] = packed[: len(data) - at]
        elif operation == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return kind, bytes(data)


@settings(
    max_examples=examples(1000),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(sample=mutated())
def test_mutated_heif_files_get_only_the_engines_answers(sample: tuple[str, bytes]) -> None:
    kind, data = sample
    bmff.brands(data)
    bmff.primary_item(data)  # never raises, whatever the bytes
    try:
        imaging.inspect(data, MAX_PIXELS)
    except (InvalidImage, UnsupportedMediaType) as refused:
        event(f"{kind}: {type(refused).__name__}")
        return
    event(f"{kind}: accepted")
    rendered = imaging.render_renditions(data, RENDITIONS, max_pixels=MAX_PIXELS)
    assert set(rendered) == {"thumb", "square"}
