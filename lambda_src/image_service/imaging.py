"""Image type sniffing, upload validation and thumbnail rendering (Pillow).

Only the upload function and the thumbnail worker import this module: the download functions
never load Pillow, which keeps their cold starts short.

Safety: the type is decided from magic bytes (for HEIC and AVIF: the container's brands and
the codec of its primary image, `bmff`), and the bytes are then opened with that one format's
decoder only, so no other decoder (PSD, EPS, TIFF, ...) ever sees client data. The pixel count
is checked from the header before anything is decoded, and Pillow's own decompression-bomb
warning is raised as an error as a second line of defence.

Decoders: Pillow's own for JPEG, PNG, GIF, WebP and AVIF (libavif); pi-heif for HEIC (libheif
with libde265, a decode-only build, imported on the first HEIC only).
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from io import BytesIO
from typing import Any

from PIL import Image, ImageCms

from image_service import bmff, icc, thumbhash
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
HEIC = ImageType("HEIF", "heic", "image/heic")
AVIF = ImageType("AVIF", "avif", "image/avif")

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
# libheif and Pillow's libavif binding also report a broken file (or, libheif, an exceeded
# security limit) as RuntimeError; only these two decoders' calls are covered by it, so a bug
# elsewhere is not mistaken for a bad upload.
CONTAINER_DECODE_ERRORS = (*DECODE_ERRORS, RuntimeError)
# libheif decodes the tiles of a grid image (a phone's photo is 48 tiles of 512x512) in this
# many threads. One: the worker has less than one vCPU at its memory size, where threads only
# add overhead, and a lying tile cannot make several decoders allocate at once.
HEIF_DECODE_THREADS = 1

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
# Each rendition first shrinks its own crop by an integer factor with a box filter (`reduce()`,
# cheap: one read of each pixel), then Lanczos does the rest, which must stay a factor of at
# least REDUCING_GAP (2.0, what `Image.thumbnail()` uses) so it still filters out what the box
# aliases. Small box factors alias more: on photographic content (sensor noise, fine texture)
# a box of 2 or 3 followed by Lanczos over less than 3.0 or 2.5 costs 0.002-0.004 SSIM once
# the thumbnail is a JPEG, against 0.0016 at most with these margins (docs/PERFORMANCE.md).
REDUCING_GAP = 2.0
SMALL_BOX_GAPS = {2: 3.0, 3: 2.5}


def _box_factor(shrink: float) -> int:
    """The integer box reduction to make before Lanczos does the remaining `shrink / factor`."""
    for factor in range(int(shrink / REDUCING_GAP), 1, -1):
        if shrink / factor >= SMALL_BOX_GAPS.get(factor, REDUCING_GAP):
            return factor
    return 1


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
    brands = bmff.brands(data)
    if brands is not None:
        return _container_type(data, brands)
    return None


# The codec each container type's decoder handles (item type of the coded image).
CODECS = {HEIC: b"hvc1", AVIF: b"av01"}


def _container_type(data: bytes, brands: frozenset[bytes]) -> ImageType | None:
    """HEIC, AVIF or neither, from the `ftyp` brands and the primary image's codec.

    - Brands of exactly one of the two types (heic, heix, ...; avif, avis) name it, unless the
      primary image turns out to be coded otherwise (an `heic` file whose picture is JPEG or
      uncompressed): then no decoder here handles it. A file whose items cannot be read at all
      keeps the type its brands name, so the decoder reports it as corrupt (422), not 415.
    - Only container brands (mif1, msf1, miaf) or both types' brands: the primary image's codec
      decides. HEVC is HEIC; AV1 without an AVIF brand is refused, as libavif itself refuses it.
    - Anything else (an MP4 video: isom, mp42, ...; unknown brands) is not an image type here.
    """
    named = [
        t for t, family in ((HEIC, bmff.HEIC_BRANDS), (AVIF, bmff.AVIF_BRANDS)) if brands & family
    ]
    item = bmff.primary_item(data)
    if len(named) == 1:
        (claimed,) = named
        if item is None:
            return claimed
        return claimed if item.codec == CODECS[claimed] else None
    if not named and not brands & bmff.GENERIC_BRANDS:
        return None
    if item is not None and item.codec == CODECS[HEIC]:
        return HEIC
    if item is not None and item.codec == CODECS[AVIF] and named:
        return AVIF
    return None


@dataclass(frozen=True)
class Probe:
    image_type: ImageType
    width: int  # as displayed, after EXIF orientation
    height: int


@dataclass(frozen=True)
class Rendered:
    body: bytes  # the primary encoding: JPEG, or WebP where there is transparency
    content_type: str
    width: int
    height: int
    # The same pixels as WebP, when asked for (`webp=True`); `body` itself if that is WebP.
    webp: bytes | None = None


@cache
def _heif_plugin() -> Any:
    """pi-heif's Pillow plugin, configured once: imported only when a HEIC arrives.

    pi-heif is the decode-only build of pillow-heif (libheif and libde265, LGPL; no HEVC encoder
    in the layer). Its plugin is used directly, never registered with `Image.open`, so no other
    code path can reach it. Thumbnails, depth maps and auxiliary images (gain maps, mattes) are
    not read: only the primary image is ever decoded.
    """
    from pi_heif import as_plugin, options

    options.DECODE_THREADS = HEIF_DECODE_THREADS
    options.THUMBNAILS = False
    options.DEPTH_IMAGES = False
    options.AUX_IMAGES = False
    return as_plugin


def _open(data: bytes, image_type: ImageType) -> Image.Image:
    if image_type is HEIC:
        image: Image.Image = _heif_plugin().HeifImageFile(BytesIO(data))
        return image
    if image_type is AVIF:
        # The plugin class itself: `Image.open` would first check that the *major* brand is
        # one it knows, and a file with `avif` among its compatible brands only is AVIF too.
        from PIL import AvifImagePlugin

        return AvifImagePlugin.AvifImageFile(BytesIO(data))
    return Image.open(BytesIO(data), formats=[image_type.format])


@contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[tuple[Image.Image, ImageType]]:
    """Open `data` with its sniffed format only; refuse it before decoding if too large."""
    image_type = sniff(data)
    if image_type is None:
        raise UnsupportedMediaType()
    errors = CONTAINER_DECODE_ERRORS if image_type in (HEIC, AVIF) else DECODE_ERRORS
    with warnings.catch_warnings():
        # Lambda runs one request at a time per process, so the global filter is safe here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            image = _open(data, image_type)
        except errors as err:
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
        except errors as err:
            raise _invalid(err) from err


def _invalid(err: BaseException) -> InvalidImage:
    if isinstance(err, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return InvalidImage("The image has too many pixels.")
    return InvalidImage("The image could not be decoded (truncated or corrupt).")


def _orientation(image: Image.Image, image_type: ImageType) -> int:
    """The EXIF-style orientation still to apply to the decoded pixels.

    HEIC: none. libheif applies the container's rotation and mirror (irot, imir) while decoding
    and reports the displayed size; an EXIF Orientation inside a HEIF file is informative only
    (the transformative properties rule) and is not applied a second time.
    AVIF: libavif leaves irot/imir to the caller, and Pillow turns them into the EXIF
    orientation it reports, replacing the file's own: applying it applies irot/imir once.
    """
    if image_type is HEIC:
        return 1
    value = image.getexif().get(ORIENTATION, 1)
    return value if isinstance(value, int) and value in TRANSPOSE else 1


def inspect(data: bytes, max_pixels: int) -> Probe:
    """Validate an upload: accepted type, pixel budget, and that it really decodes.

    JPEGs are decoded at 1/8 scale (DCT scaling reads every byte of the entropy-coded data, so
    truncation and corruption still show, at a fraction of the cost); other formats decode
    their first frame fully, which is only reached once the pixel count is known to be fine.
    """
    with _opened(data, max_pixels) as (image, image_type):
        orientation = _orientation(image, image_type)
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
# WebP variants of opaque renditions: the quality at which WebP matches JPEG q82's SSIM on
# photographs at thumbnail size, and libwebp's default effort (docs/PERFORMANCE.md).
WEBP_VARIANT_QUALITY = 80
WEBP_VARIANT_METHOD = 4


def _colour_profile(image: Image.Image, image_type: ImageType, data: bytes) -> bytes | None:
    """The ICC profile the decoded pixels are in, if they are not plain sRGB.

    An embedded profile (JPEG, PNG, WebP; HEIC and AVIF from phones: Display P3) is used as is.
    HEIC and AVIF may instead describe their colour with nclx code points; those that are not
    sRGB (Display P3, BT.2020, PQ/HLG HDR) get the profile they stand for.
    """
    embedded = image.info.get("icc_profile")
    if isinstance(embedded, bytes) and embedded:
        return embedded
    if image_type in (HEIC, AVIF):
        item = bmff.primary_item(data)
        if item is not None and item.nclx is not None and not icc.is_srgb(item.nclx):
            return icc.profile(item.nclx.primaries, item.nclx.transfer)
    return None


def _srgb_transform(icc_profile: bytes | None, mode: str) -> ImageCms.ImageCmsTransform | None:
    """One transform to sRGB for every rendition; None for sRGB or an unusable profile (the
    pixels are then read as if they were sRGB already)."""
    if not icc_profile or mode not in ("RGB", "RGBA", "CMYK"):
        return None
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc_profile))
        return ImageCms.buildTransform(
            source,
            _SRGB,
            mode,
            "RGBA" if mode == "RGBA" else "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def _to_srgb(image: Image.Image, transform: ImageCms.ImageCmsTransform | None) -> Image.Image:
    if transform is not None:
        converted = ImageCms.applyTransform(image, transform)
        assert converted is not None  # only None when applied in place
        return converted
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _encode(image: Image.Image, *, webp: bool) -> Rendered:
    """Re-encode from pixels only: a fresh image carries no EXIF, GPS, XMP, ICC or comments.

    Opaque images become baseline JPEG with optimized Huffman tables: at thumbnail sizes a
    progressive scan saves a few hundred bytes at most, costs encode time, and shows nothing
    for an image that arrives in a packet or two. Images with real transparency become lossy
    WebP with a lossless alpha channel: every current browser shows it, and on photographic
    content it is 5-10x smaller than PNG (measured: 5.7 kB against 52 kB at 256x192).
    With `webp`, an opaque image is also encoded as lossy WebP from the same pixels.
    Both encoders are deterministic, so a replayed job writes identical bytes.
    """
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = BytesIO()
    if clean.mode == "RGBA":
        clean.save(out, "WEBP", quality=JPEG_QUALITY, method=WEBP_METHOD)
        body = out.getvalue()
        return Rendered(body, WEBP.content_type, clean.width, clean.height, body if webp else None)
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
    variant = None
    if webp:
        encoded = BytesIO()
        clean.save(encoded, "WEBP", quality=WEBP_VARIANT_QUALITY, method=WEBP_VARIANT_METHOD)
        variant = encoded.getvalue()
    return Rendered(out.getvalue(), JPEG.content_type, clean.width, clean.height, variant)


@dataclass(frozen=True)
class _Pixels:
    """One decode, ready to be resampled: pixels in the original's stored orientation (L, RGB,
    premultiplied RGBa or CMYK; colour management and orientation come last, per output)."""

    probe: Probe
    image: Image.Image
    factor: float  # units of the plans' coordinates per pixel of `image`
    orientation: int
    transform: ImageCms.ImageCmsTransform | None

    def resample(self, plan: _Plan) -> Image.Image:
        """The plan's crop at its size: an integer box reduction, then Lanczos."""
        left, top, right, bottom = (c / self.factor for c in plan.crop)
        if plan.size == self.image.size and (left, top, right, bottom) == (0, 0, *plan.size):
            return self.image  # nothing to do (a small original, or an exact DCT scale)
        shrink = min((right - left) / plan.size[0], (bottom - top) / plan.size[1])
        by = _box_factor(shrink)
        return self.image.resize(
            plan.size,
            Image.Resampling.LANCZOS,
            box=(left, top, right, bottom),
            # Pillow box-reduces by int(shrink / gap): this gap makes that `by`.
            reducing_gap=shrink / (by + 0.5) if by >= 2 else None,
        )

    def finish(self, image: Image.Image) -> Image.Image:
        """Resampled pixels as they are shown: straight alpha, sRGB, upright."""
        if image.mode == "RGBa":
            image = image.convert("RGBA")
        image = _to_srgb(image, self.transform)
        if self.orientation in TRANSPOSE:
            image = image.transpose(TRANSPOSE[self.orientation])
        return image

    def render(self, plan: _Plan) -> Image.Image:
        return self.finish(self.resample(plan))

    def resampled(self, image: Image.Image, factor: float) -> _Pixels:
        """The same image from other pixels (`resample`'s output), `factor` units each."""
        return replace(self, image=image, factor=factor)


PlanFor = Callable[[int, int, bool], list[_Plan]]


def _decode(
    data: bytes, max_pixels: int, plans_for: PlanFor, *, margin: float = 1.0
) -> tuple[_Pixels, list[_Plan]]:
    """One decode of `data`, at the smallest DCT scale (JPEG) that still leaves every plan
    `margin` times its output size; `plans_for(width, height, swap)` makes the plans once the
    stored size is known."""
    with _opened(data, max_pixels) as (image, image_type):
        orientation = _orientation(image, image_type)
        icc_profile = _colour_profile(image, image_type, data)
        width, height = image.size
        plans = plans_for(width, height, orientation in SWAPS_AXES)
        factor = 1.0  # original pixels per decoded pixel
        if image_type is JPEG and plans:
            # DCT scaling: libjpeg decodes straight to 1/2, 1/4 or 1/8 size, choosing the
            # smallest scale that still leaves every plan at least its output size.
            shrink = max(1.0, _shrink_factor(plans) / margin)
            drafted = image.draft(None, (math.ceil(width / shrink), math.ceil(height / shrink)))
            if drafted is not None:
                factor = width / drafted[1][2]
        image.load()  # of the first frame only: animations are opened at frame 0
        pixels = _normalized(image)
    del image  # when `pixels` is a converted copy, the decoded original is no longer needed
    swapped = orientation in SWAPS_AXES
    probe = Probe(image_type, height if swapped else width, width if swapped else height)

    if pixels.mode == "RGBA":
        if pixels.getchannel("A").getextrema()[0] == 255:
            pixels = pixels.convert("RGB")  # an alpha channel with nothing transparent in it
        else:
            # Premultiply once: Pillow's reduce() and resize() would otherwise convert RGBA to
            # RGBa and back around every call, each time over the whole original.
            pixels = pixels.convert("RGBa")
    transform = _srgb_transform(icc_profile, "RGBA" if pixels.mode == "RGBa" else pixels.mode)
    return _Pixels(probe, pixels, factor, orientation, transform), plans


def _decoded(
    data: bytes, renditions: Iterable[Rendition], *, max_pixels: int
) -> tuple[Probe, Iterator[tuple[str, Image.Image]]]:
    """One decode of `data`: what it is (type, displayed size), and each rendition's pixels
    from it, cropped, resized, in sRGB, upright, un-encoded."""
    renditions = list(renditions)
    source, plans = _decode(
        data, max_pixels, lambda w, h, swap: [_plan(r, w, h, swap) for r in renditions]
    )
    return source.probe, ((plan.name, source.render(plan)) for plan in plans)


def _resized(
    data: bytes, renditions: Iterable[Rendition], *, max_pixels: int
) -> Iterator[tuple[str, Image.Image]]:
    """Each rendition's pixels from one decode (see `_decoded`)."""
    return _decoded(data, renditions, max_pixels=max_pixels)[1]


def render_renditions(
    data: bytes, renditions: Iterable[Rendition], *, max_pixels: int, webp: bool = False
) -> dict[str, Rendered]:
    """Every rendition of one original from a single decode; same input, same bytes out.

    With `webp`, each rendition also carries a WebP encoding of the same resized pixels.
    """
    return {
        name: _encode(pixels, webp=webp)
        for name, pixels in _resized(data, renditions, max_pixels=max_pixels)
    }


def ingest(
    data: bytes, renditions: Iterable[Rendition], *, max_pixels: int, webp: bool = False
) -> tuple[Probe, dict[str, Rendered]]:
    """Validate an image that arrived straight in the bucket and render it, from one decode:
    what `inspect` and `render_renditions` find, without decoding twice."""
    probe, pixels = _decoded(data, renditions, max_pixels=max_pixels)
    return probe, {name: _encode(out, webp=webp) for name, out in pixels}


# --- widths on demand: the intermediate, the placeholder, renders from either ---------------

# The intermediate: the image fit within the ladder's largest width, from which every later
# render is made. Quality 92 JPEG (opaque) or WebP with lossless alpha: a 1280 px render made
# from it has an SSIM within 0.001 of one made from the original (docs/PERFORMANCE.md).
INTERMEDIATE_QUALITY = 92
# Also at most this many times the largest width squared in pixels, so an on-demand render
# never decodes more than 13 MP at the default ladder (a strip taller than 1:2 at full width is
# shrunk further), and no side over WebP's limit.
INTERMEDIATE_AREA = 2
INTERMEDIATE_MAX_EDGE = 16383
# The placeholder's input: the intermediate box-averaged to fit this square. ThumbHash keeps
# at most 7 cosines a side, so 32 px give the hash of a 100 px input (the reference's limit)
# to within one step of one coefficient, in an eighth of the time (docs/PERFORMANCE.md).
PLACEHOLDER_EDGE = 32

# An on-demand render decodes a JPEG (an intermediate) at a DCT scale that leaves Lanczos at
# least this factor, as the box reduction does (REDUCING_GAP). The ladder's widths are 1/2, 1/4
# and 1/8 of 2560: decoded at exactly that scale, the scaled IDCT alone would do the resample,
# and costs 0.005-0.011 SSIM once encoded (docs/PERFORMANCE.md).
RENDER_DRAFT_MARGIN = REDUCING_GAP

# On-demand encodings, by the `format` names a request uses, chosen by `make bench` (part
# `derive`, docs/PERFORMANCE.md). AVIF and WebP are encoded at the quality that matches JPEG
# q82's SSIM at the render's width, which falls as the width grows: (up to this width, value).
RENDER_FORMATS = ("avif", "webp", "jpeg")
AVIF_QUALITIES = ((400, 67), (800, 62), (INTERMEDIATE_MAX_EDGE, 60))
WEBP_QUALITIES = ((400, 82), (800, 76), (INTERMEDIATE_MAX_EDGE, 70))
# libaom's speed: up to 800 px, 8 saves 2-14% of the bytes over 9 for a few ms more; above,
# nothing, for 2-4x the time. 10 encodes what 9 does (libaom's all-intra mode stops at 9).
AVIF_SPEEDS = ((800, 8), (INTERMEDIATE_MAX_EDGE, 9))
AVIF_THREADS = 1  # the render function has at most one vCPU: threads only add overhead
RENDER_WEBP_METHOD = 4  # libwebp's default, as the variants: 2 takes half the time, 3-6% more bytes


def _step(table: tuple[tuple[int, int], ...], width: int) -> int:
    return next((value for limit, value in table if width <= limit), table[-1][1])


def render_encoding(fmt: str, width: int) -> dict[str, int]:
    """The encoder settings of an opaque render `width` pixels wide in `fmt`."""
    if fmt == "avif":
        return {
            "quality": _step(AVIF_QUALITIES, width),
            "speed": _step(AVIF_SPEEDS, width),
            "max_threads": AVIF_THREADS,
        }
    if fmt == "webp":
        return {"quality": _step(WEBP_QUALITIES, width), "method": RENDER_WEBP_METHOD}
    return {"quality": JPEG_QUALITY, "optimize": True}


@dataclass(frozen=True)
class Derived:
    """Everything the worker makes from one decode of an original."""

    probe: Probe
    renditions: dict[str, Rendered]
    intermediate: Rendered  # JPEG, or WebP with alpha where transparent
    placeholder: str  # ThumbHash, base64


@dataclass(frozen=True)
class FromOriginal:
    """A render made straight from an original (an image older than its intermediate), with
    the intermediate and placeholder made from the same decode, to be kept for next time."""

    render: Rendered
    intermediate: Rendered
    placeholder: str
    probe: Probe


def _intermediate_plan(width: int, height: int, swap: bool, largest_width: int) -> _Plan:
    scale = min(
        1.0,  # never enlarged
        largest_width / (height if swap else width),
        math.sqrt(INTERMEDIATE_AREA * largest_width**2 / (width * height)),
        INTERMEDIATE_MAX_EDGE / max(width, height),
    )
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _Plan("intermediate", (0.0, 0.0, float(width), float(height)), size)


def _width_plan(target: int, width: int, height: int, swap: bool) -> _Plan:
    """The whole image scaled to `target` pixels wide as shown, never enlarged."""
    scale = min(1.0, target / (height if swap else width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _Plan(f"w{target}", (0.0, 0.0, float(width), float(height)), size)


def _target_plan(target: int | Rendition, width: int, height: int, swap: bool) -> _Plan:
    if isinstance(target, Rendition):
        return _plan(target, width, height, swap)
    return _width_plan(target, width, height, swap)


def _check_request(target: int | Rendition, fmt: str) -> None:
    """A caller's mistake, refused before any decoding (where a ValueError means bad input)."""
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(RENDER_FORMATS)}")
    if not isinstance(target, Rendition) and target < 1:
        raise ValueError(f"width {target} is not a positive number of pixels")


def _placeholder(source: _Pixels) -> str:
    """The ThumbHash of `source`'s pixels (already small: the intermediate's)."""
    width, height = source.image.size
    scale = min(1.0, PLACEHOLDER_EDGE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = source.finish(source.image.resize(size, Image.Resampling.BOX, reducing_gap=2.0))
    rgba = small.convert("RGBA")
    return thumbhash.encode_base64(rgba.width, rgba.height, rgba.tobytes())


def _save(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _encode_intermediate(image: Image.Image) -> Rendered:
    """From pixels only, as `_encode`: JPEG, or WebP with lossless alpha where transparent."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if clean.mode == "RGBA":
        body = _save(clean, "WEBP", quality=INTERMEDIATE_QUALITY, method=WEBP_METHOD)
        return Rendered(body, WEBP.content_type, clean.width, clean.height)
    # Baseline, not progressive: a progressive JPEG decodes slower, DCT-scaled or not.
    body = _save(clean, "JPEG", quality=INTERMEDIATE_QUALITY, optimize=True)
    return Rendered(body, JPEG.content_type, clean.width, clean.height)


def _encode_as(image: Image.Image, fmt: str) -> Rendered:
    """A render in the asked format: AVIF (alpha kept), WebP (alpha kept), or JPEG, which a
    transparent image gets as WebP with alpha instead. From pixels only, deterministic."""
    if fmt == "avif" or (fmt == "webp" and image.mode != "RGBA"):
        clean = Image.frombytes(image.mode, image.size, image.tobytes())
        body = _save(clean, fmt.upper(), **render_encoding(fmt, clean.width))
        content_type = AVIF.content_type if fmt == "avif" else WEBP.content_type
        return Rendered(body, content_type, clean.width, clean.height)
    return _encode(image, webp=False)


def derive(
    data: bytes,
    renditions: Iterable[Rendition],
    *,
    max_pixels: int,
    largest_width: int,
    webp: bool = False,
) -> Derived:
    """What `ingest` finds and makes, plus the intermediate and the placeholder, all from one
    decode: the worker's whole render of an original.

    The intermediate is the image fit within `largest_width` (never enlarged), upright, sRGB,
    without metadata. The renditions are made from its pixels (before encoding) when it has
    the resolution each needs, which is cheaper than the decode's; otherwise from the decode.
    """
    renditions = list(renditions)

    def plans_for(width: int, height: int, swap: bool) -> list[_Plan]:
        return [
            _intermediate_plan(width, height, swap, largest_width),
            *(_plan(r, width, height, swap) for r in renditions),
        ]

    source, (whole, *plans) = _decode(data, max_pixels, plans_for)
    middle = source.resampled(source.resample(whole), whole.crop[2] / whole.size[0])
    # A rendition box larger than the intermediate (up to 4096 px) is made from the decode.
    base = middle if not plans or _shrink_factor(plans) * 1.01 >= middle.factor else source
    return Derived(
        probe=source.probe,
        renditions={plan.name: _encode(base.render(plan), webp=webp) for plan in plans},
        intermediate=_encode_intermediate(middle.finish(middle.image)),
        placeholder=_placeholder(middle),
    )


def render_width(data: bytes, width: int, fmt: str, *, max_pixels: int) -> Rendered:
    """`data` (an intermediate, or any original) scaled to fit `width` pixels wide as shown,
    never enlarged, in `fmt` (one of RENDER_FORMATS). A JPEG is decoded at the smallest DCT
    scale (1/2, 1/4, 1/8) that leaves at least `width`; the same safety rules, resampling and
    colour handling as every rendition."""
    return _render(data, width, fmt, max_pixels)


def render_rendition(data: bytes, rendition: Rendition, fmt: str, *, max_pixels: int) -> Rendered:
    """A rendition (box and fit) rendered on demand from `data` (an intermediate, or any
    original) in `fmt`: for renditions added to the stage after an image was made."""
    return _render(data, rendition, fmt, max_pixels)


def _render(data: bytes, target: int | Rendition, fmt: str, max_pixels: int) -> Rendered:
    _check_request(target, fmt)
    source, (plan,) = _decode(
        data,
        max_pixels,
        lambda w, h, swap: [_target_plan(target, w, h, swap)],
        margin=RENDER_DRAFT_MARGIN,
    )
    return _encode_as(source.render(plan), fmt)


def render_from_original(
    data: bytes, target: int | Rendition, fmt: str, *, max_pixels: int, largest_width: int
) -> FromOriginal:
    """A width or rendition for an image that has no intermediate yet, from one decode of its
    original (the pixel limit and every safety rule as at ingest), together with that
    intermediate and the placeholder. The render is made from the intermediate's pixels, so
    it is the one a later request would get from the stored intermediate."""
    _check_request(target, fmt)
    source, (whole,) = _decode(
        data, max_pixels, lambda w, h, swap: [_intermediate_plan(w, h, swap, largest_width)]
    )
    middle = source.resampled(source.resample(whole), 1.0)  # plans in its own pixels
    width, height = middle.image.size
    plan = _target_plan(target, width, height, source.orientation in SWAPS_AXES)
    return FromOriginal(
        render=_encode_as(middle.render(plan), fmt),
        intermediate=_encode_intermediate(middle.finish(middle.image)),
        placeholder=_placeholder(middle),
        probe=source.probe,
    )
