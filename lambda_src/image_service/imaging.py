"""Image type sniffing, upload validation and thumbnail rendering (Pillow).

Only the upload function and the thumbnail worker import this module: the download functions
never load Pillow, which keeps their cold starts short.

Safety: the type is decided from magic bytes, and Pillow is then asked to open the bytes with
that one format only, so no other decoder (PSD, EPS, TIFF, ...) ever sees client data. The
pixel count is checked from the header before anything is decoded, and Pillow's own
decompression-bomb warning is raised as an error as a second line of defence.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageCms

from image_service.contract import Rendition
from image_service.errors import InvalidImage, UnsupportedMediaType


@dataclass(frozen=True)
class ImageType:
    format: str  # Pillow's format name
    extension: str
    content_type: str


JPEG = ImageType("JPEG", "jpg", "image/jpeg")
PNG = ImageType("PNG", "png", "image/png")
GIF = ImageType("GIF", "gif", "image/gif")
WEBP = ImageType("WEBP", "webp", "image/webp")

# What a broken or hostile file makes Pillow's decoders raise.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ZeroDivisionError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

# Orientation tag value -> the transpose that shows the image upright (as ImageOps does).
ORIENTATION = 0x0112
TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
SWAPS_AXES = frozenset({5, 6, 7, 8})

JPEG_QUALITY = 82  # also the WebP quality: small, no visible artefacts at these sizes
# WebP effort: 2 instead of libwebp's default 4 encodes a thumbnail in about half the time for
# 2-11% more bytes (the lossless alpha dominates both; measured, docs/PERFORMANCE.md).
WEBP_METHOD = 2
# Each rendition first shrinks its own crop by an integer factor with `reduce()` (box filter,
# cheap) while the remaining factor stays at least this gap, then finishes with Lanczos.
# 2.0 is what `Image.thumbnail()` uses; against a plain Lanczos resize it scores SSIM 0.998-0.999
# before encoding and the same after JPEG q82 (docs/PERFORMANCE.md).
REDUCING_GAP = 2.0


def sniff(data: bytes) -> ImageType | None:
    """The image type the magic bytes announce, if it is one the service accepts."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


@dataclass(frozen=True)
class Probe:
    image_type: ImageType
    width: int  # as displayed, after EXIF orientation
    height: int


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    width: int
    height: int


@contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[tuple[Image.Image, ImageType]]:
    """Open `data` with its sniffed format only; refuse it before decoding if too large."""
    image_type = sniff(data)
    if image_type is None:
        raise UnsupportedMediaType()
    with warnings.catch_warnings():
        # Lambda runs one request at a time per process, so the global filter is safe here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            image = Image.open(BytesIO(data), formats=[image_type.format])
        except DECODE_ERRORS as err:
            raise _invalid(err) from err
        # Not closed on the way out: that would discard the decoded pixels the caller keeps.
        # The source is an in-memory buffer, so there is no file handle to leak.
        width, height = image.size
        if width * height > max_pixels:
            raise InvalidImage(
                f"The image has {width}x{height} pixels; at most {max_pixels} are allowed."
            )
        try:
            yield image, image_type
        except DECODE_ERRORS as err:
            raise _invalid(err) from err


def _invalid(err: BaseException) -> InvalidImage:
    if isinstance(err, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return InvalidImage("The image has too many pixels.")
    return InvalidImage("The image could not be decoded (truncated or corrupt).")


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(ORIENTATION, 1)
    return value if isinstance(value, int) and value in TRANSPOSE else 1


def inspect(data: bytes, max_pixels: int) -> Probe:
    """Validate an upload: accepted type, pixel budget, and that it really decodes.

    JPEGs are decoded at 1/8 scale (DCT scaling reads every byte of the entropy-coded data, so
    truncation and corruption still show, at a fraction of the cost); other formats decode
    their first frame fully, which is only reached once the pixel count is known to be fine.
    """
    with _opened(data, max_pixels) as (image, image_type):
        orientation = _orientation(image)
        width, height = image.size
        if image_type is JPEG:
            image.draft(None, (1, 1))
        image.load()
    if orientation in SWAPS_AXES:
        width, height = height, width
    return Probe(image_type, width, height)


@dataclass(frozen=True)
class _Plan:
    """One rendition in the stored (not yet rotated) orientation of the original."""

    name: str
    crop: tuple[float, float, float, float]  # region of the original, in its pixels
    size: tuple[int, int]  # output size before rotation


def _plan(rendition: Rendition, width: int, height: int, swap: bool) -> _Plan:
    box_w, box_h = (
        (rendition.height, rendition.width) if swap else (rendition.width, rendition.height)
    )
    if rendition.fit == "contain":
        scale = min(box_w / width, box_h / height, 1.0)  # never enlarge
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return _Plan(rendition.name, (0.0, 0.0, float(width), float(height)), size)
    # cover: the largest centred region with the box's aspect ratio, scaled to the box (or
    # kept at its own size when the original is smaller than the box).
    ratio = box_w / box_h
    crop_w, crop_h = (
        (float(width), width / ratio) if width / height < ratio else (height * ratio, float(height))
    )
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    scale = min(box_w / crop_w, 1.0)
    size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
    return _Plan(rendition.name, (left, top, left + crop_w, top + crop_h), size)


def _shrink_factor(plans: Iterable[_Plan]) -> float:
    """How much the original may be shrunk before any rendition would lose resolution."""
    return min(
        min((p.crop[2] - p.crop[0]) / p.size[0], (p.crop[3] - p.crop[1]) / p.size[1]) for p in plans
    )


def _normalized(image: Image.Image) -> Image.Image:
    """Decoded pixels in L, RGB, RGBA or CMYK (colour management happens per rendition)."""
    mode = image.mode
    if mode in ("L", "RGB", "RGBA", "CMYK"):
        return image
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA")
    if mode.startswith("I") or mode == "F":
        # 16-bit (or wider) grey: scale to 8 bits instead of letting values above 255 clip.
        return image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(
                image,
                source,
                _SRGB,
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode=out_mode,
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # an unusable profile: read the pixels as if already sRGB
        if converted is not None:
            return converted
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _encode(image: Image.Image) -> Rendered:
    """Re-encode from pixels only: a fresh image carries no EXIF, GPS, XMP, ICC or comments.

    Opaque images become baseline JPEG with optimized Huffman tables: at thumbnail sizes a
    progressive scan saves a few hundred bytes at most, costs encode time, and shows nothing
    for an image that arrives in a packet or two. Images with real transparency become lossy
    WebP with a lossless alpha channel: every current browser shows it, and on photographic
    content it is 5-10x smaller than PNG (measured: 5.7 kB against 52 kB at 256x192).
    Both encoders are deterministic, so a replayed job writes identical bytes.
    """
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = BytesIO()
    if clean.mode == "RGBA":
        clean.save(out, "WEBP", quality=JPEG_QUALITY, method=WEBP_METHOD)
        content_type = WEBP.content_type
    else:
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
        content_type = JPEG.content_type
    return Rendered(out.getvalue(), content_type, clean.width, clean.height)


def render_renditions(
    data: bytes, renditions: Iterable[Rendition], *, max_pixels: int
) -> dict[str, Rendered]:
    """Every rendition of one original from a single decode; same input, same bytes out."""
    renditions = list(renditions)
    with _opened(data, max_pixels) as (image, image_type):
        orientation = _orientation(image)
        icc_profile = image.info.get("icc_profile")
        width, height = image.size
        plans = [_plan(r, width, height, orientation in SWAPS_AXES) for r in renditions]
        factor = 1.0  # original pixels per decoded pixel
        if image_type is JPEG:
            # DCT scaling: libjpeg decodes straight to 1/2, 1/4 or 1/8 size, choosing the
            # smallest scale that still leaves every rendition at least its output size.
            shrink = _shrink_factor(plans)
            drafted = image.draft(None, (math.ceil(width / shrink), math.ceil(height / shrink)))
            if drafted is not None:
                factor = width / drafted[1][2]
        image.load()  # of the first frame only: animations are opened at frame 0
        pixels = _normalized(image)
    del image  # when `pixels` is a converted copy, the decoded original is no longer needed

    if pixels.mode == "RGBA":
        if pixels.getchannel("A").getextrema()[0] == 255:
            pixels = pixels.convert("RGB")  # an alpha channel with nothing transparent in it
        else:
            # Premultiply once: Pillow's reduce() and resize() would otherwise convert RGBA to
            # RGBa and back around every call, each time over the whole original.
            pixels = pixels.convert("RGBa")

    rendered: dict[str, Rendered] = {}
    for plan in plans:
        # Per rendition, so each pre-reduces by its own factor (a cover crop shrinks less).
        left, top, right, bottom = (c / factor for c in plan.crop)
        out = pixels.resize(
            plan.size,
            Image.Resampling.LANCZOS,
            box=(left, top, right, bottom),
            reducing_gap=REDUCING_GAP,
        )
        if out.mode == "RGBa":
            out = out.convert("RGBA")
        out = _to_srgb(out, icc_profile)
        if orientation in TRANSPOSE:
            out = out.transpose(TRANSPOSE[orientation])
        rendered[plan.name] = _encode(out)
    return rendered
