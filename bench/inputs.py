"""Benchmark inputs: generated deterministically and cached, or taken from `IMAGES=dir`.

The generated JPEGs are meant to compress like photographs (a 12 MP one at quality 92 is about
4 MB): smooth colour fields, soft-edged shapes, mid-frequency texture and sensor-like noise.
A synthetic image that compresses to a few hundred kB would flatter every decoder. The same
photographic pixels also become PNGs (opaque, and a cut-out with alpha), a GIF, and the
12 MP photo as HEIC and AVIF (phone-like sizes: 1.9 MB and 1.3 MB); the graphic PNGs
(gradients, shapes) stay for comparison with earlier runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFilter

from bench import heif

# Bump when the recipe changes, so stale cached files are never mixed with new ones.
RECIPE = 1
CACHE = Path(__file__).resolve().parent / ".cache" / f"v{RECIPE}-pillow{PIL.__version__}"

KINDS = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "HEIF": "heic", "AVIF": "avif"}

heif.register()


@dataclass(frozen=True)
class BenchInput:
    name: str
    path: Path
    kind: str  # jpeg | png | gif | webp | heic | avif
    width: int
    height: int
    size: int  # bytes on disk
    headline: bool = False  # the 12 MP JPEG the headline goals are stated for
    memory_only: bool = False  # measured for peak memory, not timed (too slow to repeat)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def label(self) -> str:
        return f"{self.name} ({self.width}x{self.height}, {self.size / 1e6:.2f} MB)"


def photo_pixels(width: int, height: int, seed: int) -> Image.Image:
    """An RGB image with the statistics of a photograph, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    # Large, smooth colour variation (sky, walls, skin): a coarse random field upscaled.
    coarse = Image.fromarray(rng.integers(40, 215, (6, 8, 3), dtype=np.uint8))
    im = coarse.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    scale = width / 4000
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(40, 600) * scale) + 1
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
        else:
            points = [
                (x + int(rng.integers(-r, r)), y + int(rng.integers(-r, r))) for _ in range(5)
            ]
            draw.polygon(points, fill=colour)
    # Lenses do not draw aliased edges.
    im = im.filter(ImageFilter.GaussianBlur(2 * scale + 0.5))
    pixels = np.asarray(im, dtype=np.int16)
    # Mid-frequency texture (foliage, fabric) and per-pixel sensor noise: what makes a photo's
    # JPEG large. Added in horizontal bands to keep the peak memory of generation modest.
    texture = Image.fromarray(
        rng.integers(0, 256, (height // 3 + 1, width // 3 + 1), dtype=np.uint8)
    ).resize((width, height), Image.Resampling.BICUBIC)
    texture_arr = np.asarray(texture, dtype=np.int16) - 128
    out = np.empty((height, width, 3), dtype=np.uint8)
    band = 512
    for top in range(0, height, band):
        rows = slice(top, min(top + band, height))
        noise = rng.normal(0.0, 5.5, (rows.stop - rows.start, width, 3)).astype(np.int16)
        block = pixels[rows] + (texture_arr[rows] // 5)[..., None] + noise
        out[rows] = np.clip(block, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def graphic_rgba(width: int, height: int, seed: int, noise: float) -> Image.Image:
    """A PNG-style image with transparency: gradients, shapes, an alpha vignette, light noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * xs / width
    g = 255 * ys / height
    b = 128 + 100 * np.sin(xs / 97.0) * np.cos(ys / 131.0)
    dist = np.hypot(xs / width - 0.5, ys / height - 0.5) * 2
    alpha = np.clip(300 * (1 - dist), 0, 255)
    rgba = np.stack([r, g, b, alpha], axis=-1)
    del xs, ys, r, g, b, dist, alpha
    if noise:
        rgba[..., :3] += rng.normal(0.0, noise, (height, width, 3)).astype(np.float32)
    im = Image.fromarray(np.clip(rgba, 0, 255).astype(np.uint8), "RGBA")
    del rgba
    draw = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        s = int(rng.integers(20, max(21, width // 8)))
        fill = tuple(int(c) for c in rng.integers(0, 256, 4))
        draw.rectangle((x, y, x + s, y + s // 2), fill=fill)
    return im


def _jpeg(im: Image.Image, quality: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    exif[0x0112] = 1  # Orientation: as stored
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _webp(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=80, method=4)
    return buf.getvalue()


def photo_rgba(width: int, height: int, seed: int) -> Image.Image:
    """A photographic cut-out: the photo inside a soft-edged ellipse, transparent around it
    (the hidden colour is still the photo's, as a cut-out from a photo editor leaves it)."""
    im = photo_pixels(width, height, seed)
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((width * 0.12, height * 0.1, width * 0.88, height * 0.9), fill=255)
    im.putalpha(mask.filter(ImageFilter.GaussianBlur(width / 200)))
    return im


def _heic(im: Image.Image) -> bytes:
    """As a phone writes it: 512x512 HEVC tiles, about 2 MB for 12 MP."""
    import pillow_heif  # the encoder bundles x265: test and benchmark environments only

    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, quality=50, tile_size=512, enc_params={"preset": "fast"})
    return buf.getvalue()


def _avif(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "AVIF", quality=60, speed=8)
    return buf.getvalue()


def _gif(width: int, height: int, seed: int, frames: int) -> bytes:
    base = photo_pixels(width, height, seed)
    images = [
        base.rotate(i * 7, resample=Image.Resampling.BILINEAR).quantize(128) for i in range(frames)
    ]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buf.getvalue()


# name -> (builder, headline, memory_only); every builder is deterministic.
def webp_rgba_50mp() -> bytes:
    """The worst case for the worker's memory: a 50 MP image without DCT scaling, small on
    the wire (flat content, about 1 MB)."""
    return _webp(graphic_rgba(8660, 5773, 52, noise=0.0))


GENERATED: dict[str, tuple[Callable[[], bytes], bool, bool]] = {
    "jpeg-2mp.jpg": (lambda: _jpeg(photo_pixels(1632, 1224, 2), 92), False, False),
    "jpeg-12mp.jpg": (lambda: _jpeg(photo_pixels(4000, 3000, 12), 92), True, False),
    "jpeg-24mp.jpg": (lambda: _jpeg(photo_pixels(6000, 4000, 24), 92), False, False),
    "jpeg-50mp.jpg": (lambda: _jpeg(photo_pixels(8660, 5773, 50), 92), False, False),
    "png-rgba-3mp.png": (lambda: _png(graphic_rgba(2000, 1500, 3, noise=1.5)), False, False),
    "png-rgb-3mp.png": (
        lambda: _png(graphic_rgba(2000, 1500, 3, noise=1.5).convert("RGB")),
        False,
        False,
    ),
    "webp-12mp.webp": (lambda: _webp(photo_pixels(4000, 3000, 12)), False, False),
    "gif-anim-0.5mp.gif": (lambda: _gif(800, 600, 5, frames=8), False, False),
    # Photographic content where only a full decode exists.
    "png-photo-2mp.png": (lambda: _png(photo_pixels(1632, 1224, 22)), False, False),
    "png-photo-rgba-2mp.png": (lambda: _png(photo_rgba(1632, 1224, 23)), False, False),
    "gif-photo-6mp.gif": (lambda: _gif(3000, 2000, 6, frames=1), False, False),
    # The 12 MP JPEG's photo as a phone would send it.
    "heic-12mp.heic": (lambda: _heic(photo_pixels(4000, 3000, 12)), False, False),
    "avif-12mp.avif": (lambda: _avif(photo_pixels(4000, 3000, 12)), False, False),
    # The worst case for the worker's memory: a 50 MP image without DCT scaling, small enough
    # on the wire (flat content) to pass the upload size limit.
    "png-rgba-50mp.png": (lambda: _png(graphic_rgba(8660, 5773, 51, noise=0.0)), False, True),
    "webp-rgba-50mp.webp": (lambda: webp_rgba_50mp(), False, True),
}
QUICK_NAMES = (
    "jpeg-12mp.jpg",
    "png-rgba-3mp.png",
    "webp-12mp.webp",
    "gif-anim-0.5mp.gif",
    "png-photo-2mp.png",
    "heic-12mp.heic",
)


def describe(path: Path, headline: bool = False, memory_only: bool = False) -> BenchInput | None:
    try:
        with Image.open(path) as im:
            kind = KINDS.get(im.format or "")
            width, height = im.size
    except (OSError, Image.DecompressionBombError):
        return None
    if kind is None:
        return None
    return BenchInput(
        name=path.name,
        path=path,
        kind=kind,
        width=width,
        height=height,
        size=path.stat().st_size,
        headline=headline,
        memory_only=memory_only,
    )


def generated(quick: bool, log: bool = True) -> list[BenchInput]:
    CACHE.mkdir(parents=True, exist_ok=True)
    result = []
    for name, (build, headline, memory_only) in GENERATED.items():
        if quick and name not in QUICK_NAMES:
            continue
        path = CACHE / name
        if not path.exists():
            if log:
                print(f"  generating {name} ...", flush=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(build())
            tmp.replace(path)
        item = describe(path, headline, memory_only)
        assert item is not None, path
        result.append(item)
    return result


def from_folder(folder: Path) -> list[BenchInput]:
    items = [describe(p) for p in sorted(folder.iterdir()) if p.is_file()]
    found = [i for i in items if i is not None]
    if not found:
        raise SystemExit(f"IMAGES={folder}: no JPEG, PNG, GIF, WebP, HEIC or AVIF files there")
    return found
