"""HEIC and AVIF test files, generated on demand (no binaries in the repository).

AVIF files are written by Pillow itself (libavif). HEIC files are written by pillow-heif, a
test-only dependency that bundles the x265 encoder; the service decodes them with pi-heif,
the decode-only build. Both packages live in one process without conflict: each bundles its
own copy of libheif under a distinct library name, and only pillow-heif's encoder functions
are called here (its Pillow plugin is never registered, so `Image.open` cannot reach it).

Files that no encoder writes (a header declaring 200 MP, an EXIF orientation that disagrees
with the container's rotation, a P3 colour box on an AVIF) are made by patching one field of
an encoded file in place. Every function is deterministic: same call, same bytes; those whose
arguments can be hashed keep their files for the session (the tests ask for the same ones
again and again). The encoders run at their fastest settings (x265's `ultrafast` preset,
libavif's speed 10): these files test the decoder, and a slow encode would only slow the
tests (a 1024x768 grid HEIC takes 1.9 s of CPU at x265's default preset, 0.3 s at
`ultrafast`).
"""

from __future__ import annotations

import functools
import struct
from io import BytesIO

import pillow_heif
from PIL import Image, ImageDraw

from samples import images

FAST_HEVC = {"preset": "ultrafast"}
FAST_AV1_SPEED = 10
ORIENTATION = 0x0112
RESOLUTION_UNIT = 0x0128


def heic(image: Image.Image, *, quality: int = 90, **params: object) -> bytes:
    """`image` as HEIC (HEVC, 4:2:0 unless `chroma` says otherwise), primary image only."""
    out = BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=quality, enc_params=FAST_HEVC, **params)
    return out.getvalue()


def heic_from_pixels(mode: str, size: tuple[int, int], data: bytes, **params: object) -> bytes:
    """Raw pixels as HEIC, exactly as given (no rotation on the way in)."""
    out = BytesIO()
    quality = params.pop("quality", 90)
    pillow_heif.encode(mode, size, data, out, quality=quality, enc_params=FAST_HEVC, **params)
    return out.getvalue()


def avif(image: Image.Image, *, quality: int = 90, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, "AVIF", quality=quality, speed=FAST_AV1_SPEED, **params)
    return out.getvalue()


@functools.cache
def photo_heic(width: int = 640, height: int = 480) -> bytes:
    return heic(images.photo(width, height))


@functools.cache
def photo_avif(width: int = 640, height: int = 480) -> bytes:
    return avif(images.photo(width, height))


@functools.cache
def grid_heic(width: int = 1024, height: int = 768) -> bytes:
    """Tiled like a phone's photo: a grid of 256x256 HEVC tiles (phones use 512x512)."""
    return heic(images.photo(width, height), tile_size=256)


def exif_bytes(orientation: int | None = None, *, resolution_unit: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if resolution_unit:
        exif[RESOLUTION_UNIT] = 2  # a SHORT tag whose entry can become an orientation
    return exif.tobytes()


def _patch_short_tag(data: bytes, tag: int, new_tag: int, value: int) -> bytes:
    """Rewrite one SHORT entry of the EXIF block inside `data` (either byte order)."""
    out = bytearray(data)
    for order in (">", "<"):
        entry = struct.pack(f"{order}HHI", tag, 3, 1)
        at = out.find(entry)
        if at >= 0:
            out[at : at + 10] = struct.pack(f"{order}HHIH", new_tag, 3, 1, value)
            return bytes(out)
    raise AssertionError(f"EXIF tag {tag:#06x} not found")


@functools.cache
def rotated_heic(exif_orientation: int) -> bytes:
    """`images.asymmetric()` (400x200) stored as is, with the container's rotation (irot) for
    orientation 6: shown 90 degrees clockwise, 200x400, red on top, green top right.

    The EXIF block says `exif_orientation`: the decoder must follow irot and ignore it.
    """
    source = images.asymmetric(400, 200)
    data = heic_from_pixels(
        "RGB", source.size, source.tobytes(), exif=exif_bytes(6), quality=95, chroma=444
    )
    assert b"irot" in data
    return _patch_short_tag(data, ORIENTATION, ORIENTATION, exif_orientation)


@functools.cache
def rotated_avif(exif_orientation: int) -> bytes:
    """As `rotated_heic`, as AVIF: irot for orientation 6 (Pillow writes the EXIF orientation
    it is given as irot/imir and drops it from the EXIF block), then an EXIF orientation of
    `exif_orientation` planted where the ResolutionUnit entry was."""
    data = avif(
        images.asymmetric(400, 200),
        quality=95,
        subsampling="4:4:4",
        exif=exif_bytes(6, resolution_unit=True),
    )
    assert b"irot" in data
    return _patch_short_tag(data, RESOLUTION_UNIT, ORIENTATION, exif_orientation)


@functools.cache
def burst_heic() -> bytes:
    """Three images in one file (a burst): red, green (the primary), blue."""
    frames = [images.photo(160, 120, seed) for seed in (1, 2, 3)]
    for frame, colour in zip(frames, (images.RED, images.GREEN, images.BLUE), strict=True):
        ImageDraw.Draw(frame).rectangle((0, 0, 159, 119), fill=colour)
    container = pillow_heif.from_pillow(frames[0])
    for frame in frames[1:]:
        container.add_from_pillow(frame)
    out = BytesIO()
    container.save(out, quality=90, primary_index=1)
    return out.getvalue()


@functools.cache
def avif_sequence() -> bytes:
    """An AVIF image sequence (avis): red, green, blue frames."""
    frames = [Image.new("RGB", (128, 96), c) for c in (images.RED, images.GREEN, images.BLUE)]
    return avif(frames[0], save_all=True, append_images=frames[1:], duration=100)


def flat(colour: tuple[int, int, int], size: tuple[int, int] = (128, 96)) -> Image.Image:
    return Image.new("RGB", size, colour)


@functools.cache
def p3_nclx_heic(colour: tuple[int, int, int]) -> bytes:
    """A flat Display P3 colour, described by nclx code points only (no ICC profile)."""
    return heic(
        flat(colour),
        color_primaries=12,
        transfer_characteristics=13,
        matrix_coefficients=6,
        full_range_flag=1,
        chroma=444,
    )


@functools.cache
def p3_icc_heic(colour: tuple[int, int, int], profile: bytes) -> bytes:
    """A flat colour with an embedded ICC profile, as iPhones write Display P3 photos."""
    return heic(flat(colour), icc_profile=profile, chroma=444)


@functools.cache
def p3_nclx_avif(colour: tuple[int, int, int]) -> bytes:
    """A flat colour whose nclx box says Display P3 (Pillow writes sRGB's; patched to 12)."""
    data = bytearray(avif(flat(colour), subsampling="4:4:4"))
    at = data.find(b"colrnclx")
    assert at >= 0
    primaries, transfer = struct.unpack_from(">HH", data, at + 8)
    assert (primaries, transfer) in ((1, 13), (2, 2)), (primaries, transfer)
    struct.pack_into(">HH", data, at + 8, 12, 13)
    return bytes(data)


@functools.cache
def ten_bit_heic(width: int = 256, height: int = 64) -> bytes:
    """A 10-bit grey ramp, left to right over the full range."""
    row = b"".join(struct.pack("<HHH", *([x * 65535 // (width - 1)] * 3)) for x in range(width))
    return heic_from_pixels("RGB;16", (width, height), row * height, chroma=444)


@functools.cache
def pq_heic(signal: float, size: tuple[int, int] = (128, 96)) -> bytes:
    """HDR: a flat grey at PQ `signal` (0..1), BT.2020 primaries, 10 bits."""
    level = round(signal * 65535)
    pixels = struct.pack("<HHH", level, level, level) * (size[0] * size[1])
    return heic_from_pixels(
        "RGB;16",
        size,
        pixels,
        color_primaries=9,
        transfer_characteristics=16,
        matrix_coefficients=9,
        full_range_flag=1,
        chroma=444,
    )


@functools.cache
def alpha_heic(width: int = 320, height: int = 240) -> bytes:
    """Opaque red left half, fully transparent right half."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height - 1), fill=(*images.RED, 255))
    return heic(image)


# Refused inputs ------------------------------------------------------------------------


def declaring(data: bytes, width: int, height: int) -> bytes:
    """`data` with its (first) `ispe` box declaring `width` x `height`. The image must have
    no clean-aperture crop (`clap`), whose size would override it."""
    assert b"clap" not in data
    out = bytearray(data)
    at = out.find(b"ispe")
    assert at >= 0
    struct.pack_into(">II", out, at + 8, width, height)
    return bytes(out)


@functools.cache
def heic_declaring(width: int = 16384, height: int = 12288) -> bytes:
    """A small valid HEIC whose header claims `width` x `height` (default 201 MP)."""
    return declaring(heic(images.photo(128, 64)), width, height)


@functools.cache
def heic_understating(side: int = 1024) -> bytes:
    """A `side` x `side` HEVC stream whose header declares only 64x64: a decoder that trusted
    the header for its budget would allocate the stream's size."""
    return declaring(heic(flat((90, 120, 150), (side, side)), quality=10), 64, 64)


@functools.cache
def avif_declaring(width: int = 16384, height: int = 12288) -> bytes:
    return declaring(avif(images.photo(128, 64)), width, height)


def with_brands(data: bytes, major: bytes, compatible: list[bytes]) -> bytes:
    """`data` with its `ftyp` box's brands replaced by as many brands as it had."""
    size = struct.unpack_from(">I", data)[0]
    assert data[4:8] == b"ftyp"
    count = (size - 16) // 4
    assert len(compatible) == count, f"the ftyp box holds {count} compatible brands"
    return data[:8] + major + data[12:16] + b"".join(compatible) + data[size:]


def with_item_type(data: bytes, old: bytes, new: bytes) -> bytes:
    """`data` with its first `infe` item of type `old` retyped as `new`."""
    at = data.find(b"infe")
    while at >= 0:
        kind_at = at + 4 + 4 + (2 + 2 if data[at + 4] == 2 else 4 + 2)
        if data[kind_at : kind_at + 4] == old:
            return data[:kind_at] + new + data[kind_at + 4 :]
        at = data.find(b"infe", at + 4)
    raise AssertionError(f"no {old!r} item")


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


@functools.cache
def mp4_video() -> bytes:
    """The start of an MP4 video (isom brands, a movie header, a media data box)."""
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = box(b"mvhd", b"\0" * 4 + struct.pack(">IIII", 0, 0, 1000, 5000) + b"\0" * 80)
    return ftyp + box(b"moov", mvhd) + box(b"mdat", b"\0\0\0\x02\x09\x10" * 64)


@functools.cache
def unknown_brand() -> bytes:
    """A HEIC whose brands are all ones nobody defined."""
    return with_brands(photo_heic(64, 48), b"qwer", [b"asdf", b"zxcv", b"uiop"])
