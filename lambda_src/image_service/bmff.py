"""Just enough of the ISO base media file format (HEIF, AVIF) to tell what a file holds.

HEIC and AVIF share one container: boxes, a `ftyp` box of brands first, and in a `meta` box
the items (coded images, grids of them, EXIF blocks, thumbnails), the primary item's id and
each item's properties (size, colour). Brands alone can mislead: `mif1` only says "an image
file in this container" and fits HEVC, AV1 or JPEG items alike, and an MP4 video uses the
same `ftyp` box with other brands. So the upload's type is decided from the brands *and* the
codec of the primary item, read here without any decoder.

Every read is bounds-checked; a file that does not parse gives None (and then the decoder,
if the brands already named one, reports the file as corrupt).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
# Container-only brands: HEIF still images (mif1), image sequences (msf1), MIAF (miaf).
GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"miaf"})
MAX_FTYP_SIZE = 1024  # a real ftyp lists a handful of brands (28-44 bytes)
# Items that are not coded images but are built from other items ('dimg' references).
DERIVED_ITEM_TYPES = frozenset({b"grid", b"iovl", b"iden"})
MAX_DERIVATION_DEPTH = 3


@dataclass(frozen=True)
class Nclx:
    """The colour description of coded pixels (ITU-T H.273 code points)."""

    primaries: int
    transfer: int
    matrix: int
    full_range: bool


@dataclass(frozen=True)
class PrimaryItem:
    codec: bytes  # item type of the coded image(s) the primary item is made of: b"hvc1", b"av01"
    nclx: Nclx | None  # its `colr` box of type nclx, if any


class _Malformed(Exception):
    pass


def _u32(data: bytes, offset: int) -> int:
    if offset < 0 or offset + 4 > len(data):
        raise _Malformed
    value: int = struct.unpack_from(">I", data, offset)[0]
    return value


def _u16(data: bytes, offset: int) -> int:
    if offset < 0 or offset + 2 > len(data):
        raise _Malformed
    value: int = struct.unpack_from(">H", data, offset)[0]
    return value


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box between `start` and `end`."""
    offset = start
    while offset + 8 <= end:
        size = _u32(data, offset)
        kind = data[offset + 4 : offset + 8]
        header = 8
        if size == 1:  # 64-bit size
            if offset + 16 > end:
                raise _Malformed
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:  # to the end of the enclosing box
            size = end - offset
        if size < header or offset + size > end:
            raise _Malformed
        yield kind, offset + header, offset + size
        offset += size


def brands(data: bytes) -> frozenset[bytes] | None:
    """The major and compatible brands of a leading `ftyp` box, or None if there is none."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = _u32(data, 0)
    if size < 16 or size > min(len(data), MAX_FTYP_SIZE) or size % 4:
        return None
    major = data[8:12]
    compatible = [data[i : i + 4] for i in range(16, size, 4)]
    return frozenset([major, *compatible])


def primary_item(data: bytes) -> PrimaryItem | None:
    """The primary item of the file's top-level `meta` box, or None if that cannot be read."""
    try:
        return _primary_item(data)
    except (_Malformed, struct.error):
        return None


def _full_box_body(data: bytes, start: int) -> tuple[int, int]:
    """Version and the offset after the 4-byte version/flags header of a FullBox."""
    if start + 4 > len(data):
        raise _Malformed
    return data[start], start + 4


def _primary_item(data: bytes) -> PrimaryItem | None:
    meta = next(((s, e) for kind, s, e in _boxes(data, 0, len(data)) if kind == b"meta"), None)
    if meta is None:
        return None
    _, children = _full_box_body(data, meta[0])
    primary_id: int | None = None
    item_types: dict[int, bytes] = {}
    derived_from: dict[int, list[int]] = {}
    properties: list[tuple[bytes, int, int]] = []
    associations: dict[int, list[int]] = {}
    for kind, start, end in _boxes(data, children, meta[1]):
        if kind == b"pitm":
            version, body = _full_box_body(data, start)
            primary_id = _u16(data, body) if version == 0 else _u32(data, body)
        elif kind == b"iinf":
            item_types.update(_item_types(data, start, end))
        elif kind == b"iref":
            derived_from.update(_derivations(data, start, end))
        elif kind == b"iprp":
            for sub, sub_start, sub_end in _boxes(data, start, end):
                if sub == b"ipco":
                    properties = list(_boxes(data, sub_start, sub_end))
                elif sub == b"ipma":
                    associations.update(_associations(data, sub_start, sub_end))
    if primary_id is None or primary_id not in item_types:
        return None
    codec = _codec(primary_id, item_types, derived_from, MAX_DERIVATION_DEPTH)
    if codec is None:
        return None
    nclx = _nclx(data, properties, associations.get(primary_id, []))
    if nclx is None and item_types[primary_id] in DERIVED_ITEM_TYPES:
        # A grid may leave the colour to its tiles.
        first_tile = next(iter(derived_from.get(primary_id, [])), None)
        if first_tile is not None:
            nclx = _nclx(data, properties, associations.get(first_tile, []))
    return PrimaryItem(codec, nclx)


def _item_types(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    version, body = _full_box_body(data, start)
    body += 2 if version == 0 else 4  # entry_count: the boxes themselves say how many
    for kind, entry_start, _ in _boxes(data, body, end):
        if kind != b"infe":
            continue
        entry_version, entry = _full_box_body(data, entry_start)
        if entry_version == 2:
            item_id, type_at = _u16(data, entry), entry + 4
        elif entry_version == 3:
            item_id, type_at = _u32(data, entry), entry + 6
        else:
            continue  # versions 0 and 1 carry no item type (not image items)
        if type_at + 4 > end:
            raise _Malformed
        yield item_id, data[type_at : type_at + 4]


def _derivations(data: bytes, start: int, end: int) -> Iterator[tuple[int, list[int]]]:
    version, body = _full_box_body(data, start)
    width = 2 if version == 0 else 4
    read = _u16 if version == 0 else _u32
    for kind, ref_start, ref_end in _boxes(data, body, end):
        if kind != b"dimg":
            continue
        from_id = read(data, ref_start)
        count = _u16(data, ref_start + width)
        first = ref_start + width + 2
        if first + count * width > ref_end:
            raise _Malformed
        yield from_id, [read(data, first + i * width) for i in range(count)]


def _associations(data: bytes, start: int, end: int) -> Iterator[tuple[int, list[int]]]:
    version, body = _full_box_body(data, start)
    wide_index = data[start + 3] & 1  # flags & 1: 15-bit property indices
    count = _u32(data, body)
    offset = body + 4
    for _ in range(count):
        if version < 1:
            item_id, offset = _u16(data, offset), offset + 2
        else:
            item_id, offset = _u32(data, offset), offset + 4
        if offset >= end:
            raise _Malformed
        n = data[offset]
        offset += 1
        indices = []
        for _ in range(n):
            if wide_index:
                indices.append(_u16(data, offset) & 0x7FFF)
                offset += 2
            else:
                if offset >= end:
                    raise _Malformed
                indices.append(data[offset] & 0x7F)
                offset += 1
        if offset > end:
            raise _Malformed
        yield item_id, indices


def _codec(
    item_id: int, item_types: dict[int, bytes], derived_from: dict[int, list[int]], depth: int
) -> bytes | None:
    """The one codec of the coded items an item is made of; None if mixed or unresolvable."""
    kind = item_types.get(item_id)
    if kind is None:
        return None
    if kind not in DERIVED_ITEM_TYPES:
        return kind
    sources = derived_from.get(item_id, [])
    if depth == 0 or not sources:
        return None
    codecs = {_codec(source, item_types, derived_from, depth - 1) for source in sources}
    return codecs.pop() if len(codecs) == 1 else None


def _nclx(data: bytes, properties: list[tuple[bytes, int, int]], indices: list[int]) -> Nclx | None:
    for index in indices:  # 1-based; 0 means "no property"
        if not 1 <= index <= len(properties):
            continue
        kind, start, end = properties[index - 1]
        if kind == b"colr" and data[start : start + 4] == b"nclx" and end - start >= 11:
            primaries, transfer, matrix = struct.unpack_from(">HHH", data, start + 4)
            return Nclx(primaries, transfer, matrix, bool(data[start + 10] & 0x80))
    return None
