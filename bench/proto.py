"""A tunable prototype of the thumbnail renderer, to measure engine choices side by side.

It follows the design's rules (one decode for every rendition, EXIF orientation applied,
metadata stripped, JPEG for opaque output and PNG where there is transparency, first frame of
animations) and exposes the knobs that decide speed and quality: how far the JPEG decoder
scales down on its own (`draft_gap`), the integer pre-reduction (`reducing_gap`), the
resampling filter and the encoder settings. The benchmark compares its variants with the
project's engine; it is not the engine.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

Box = tuple[int, int, str]  # width, height, fit


@dataclass(frozen=True)
class Variant:
    name: str
    # Decode at least `draft_gap` times the largest output size (1.0 = the smallest DCT scale
    # that still covers every rendition; Pillow's `thumbnail()` uses 2.0).
    draft_gap: float = 1.0
    reducing_gap: float | None = 2.0
    resample: Image.Resampling = Image.Resampling.LANCZOS
    quality: int = 85
    jpeg_options: dict[str, Any] = field(default_factory=dict)
    # Transparent output: "PNG" or "WEBP" (lossy colour, lossless alpha) at `webp_method`.
    alpha_format: str = "PNG"
    webp_method: int = 4
    # Premultiply alpha once for all renditions (Pillow's resize() and reduce() otherwise
    # convert RGBA -> RGBa -> RGBA around every call, at the full decoded size).
    premultiply_once: bool = False
    # Share one integer pre-reduction between renditions (by the smallest shrink of any).
    shared_reduce: bool = False


VARIANTS = {
    v.name: v
    for v in (
        Variant("proto-draft1-lanczos-q85"),
        Variant("proto-draft2-lanczos-q85", draft_gap=2.0),
        Variant("proto-draft1-bicubic-q85", resample=Image.Resampling.BICUBIC),
        Variant("proto-draft1-lanczos-q85-rg3", reducing_gap=3.0),
        Variant("proto-draft1-lanczos-q80", quality=80),
        Variant("proto-draft1-lanczos-q85-opt", jpeg_options={"optimize": True}),
        Variant("proto-draft1-lanczos-q85-prog", jpeg_options={"progressive": True}),
        Variant("proto-draft1-lanczos-q85-shared", shared_reduce=True),
        Variant("proto-alpha-webp-m4", alpha_format="WEBP"),
        Variant(
            "proto-alpha-premul-once-webp-m2",
            alpha_format="WEBP",
            webp_method=2,
            premultiply_once=True,
            shared_reduce=True,
        ),
        Variant(
            "proto-alpha-premul-once-webp-m0",
            alpha_format="WEBP",
            webp_method=0,
            premultiply_once=True,
            shared_reduce=True,
        ),
    )
}
BEST = "proto-draft1-lanczos-q85"


def fitted(
    width: int, height: int, box: Box
) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
    """Output size and the source region to scale for one rendition of a width x height image."""
    bw, bh, fit = box
    if fit == "contain":
        scale = min(bw / width, bh / height, 1.0)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return size, (0.0, 0.0, float(width), float(height))
    # cover: fill the box (never upscale past the source), crop the centre of the source.
    out_w, out_h = min(bw, width), min(bh, height)
    scale = max(out_w / width, out_h / height)
    crop_w, crop_h = out_w / scale, out_h / scale
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return (out_w, out_h), (left, top, left + crop_w, top + crop_h)


def _needed(width: int, height: int, boxes: list[Box]) -> tuple[int, int]:
    """Smallest decoded size from which every rendition is a downscale."""
    need_w = need_h = 1
    for box in boxes:
        (out_w, out_h), (left, top, right, bottom) = fitted(width, height, box)
        scale_x, scale_y = out_w / (right - left), out_h / (bottom - top)
        need_w = max(need_w, math.ceil(width * scale_x))
        need_h = max(need_h, math.ceil(height * scale_y))
    return need_w, need_h


def render(data: bytes, boxes: dict[str, Box], variant: Variant) -> dict[str, bytes]:
    im: Image.Image = Image.open(io.BytesIO(data))
    orientation = im.getexif().get(0x0112, 1)
    transposed = orientation in (5, 6, 7, 8)
    if im.format == "JPEG":
        # Sizes in stored orientation: rotate the boxes rather than the pixels.
        stored_boxes = [(h, w, f) if transposed else (w, h, f) for w, h, f in boxes.values()]
        need_w, need_h = _needed(im.width, im.height, stored_boxes)
        gap = variant.draft_gap
        im.draft("RGB", (math.ceil(need_w * gap), math.ceil(need_h * gap)))
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    mode = "RGBA" if has_alpha else "RGB"
    # convert() to the same mode copies the whole image; at 50 MP that is 200 MB for nothing.
    im = im.convert(mode) if im.mode != mode else im
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
    full_w, full_h = im.size
    premultiplied = has_alpha and variant.premultiply_once
    if premultiplied:
        im = im.convert("RGBa")
    factor = 1
    if variant.shared_reduce and variant.reducing_gap:
        shrink = min(
            min((r - left) / w, (b - t) / h)
            for (w, h), (left, t, r, b) in (fitted(full_w, full_h, x) for x in boxes.values())
        )
        by = int(shrink / variant.reducing_gap)
        if by >= 2:
            im = im.reduce(by)
            factor = by
    out: dict[str, bytes] = {}
    for name, box in boxes.items():
        size, region = fitted(full_w, full_h, box)
        left, top, right, bottom = region
        region = (left / factor, top / factor, right / factor, bottom / factor)
        rgap = None if factor >= 2 else variant.reducing_gap
        thumb = im.resize(size, variant.resample, box=region, reducing_gap=rgap)
        if premultiplied:
            thumb = thumb.convert("RGBA")
        buf = io.BytesIO()
        if has_alpha and variant.alpha_format == "WEBP":
            thumb.save(buf, "WEBP", quality=variant.quality, method=variant.webp_method)
        elif has_alpha:
            thumb.save(buf, "PNG", compress_level=6)
        else:
            thumb.save(buf, "JPEG", quality=variant.quality, **variant.jpeg_options)
        out[name] = buf.getvalue()
    return out
