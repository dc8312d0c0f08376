"""Sample images, generated on demand (no binaries in the repository).

Each function returns the bytes of one file: accepted formats with the features a thumbnail
must handle (EXIF orientation, alpha, animation, CMYK, 16 bits), and inputs the service must
refuse. Everything is deterministic: the same call gives the same bytes.
"""

from __future__ import annotations

import random
import struct
import zlib
from io import BytesIO

from PIL import Image, ImageCms, ImageDraw

RED = (220, 20, 20)
BLUE = (20, 20, 220)
GREEN = (20, 200, 20)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def photo(width: int = 640, height: int = 480, seed: int = 1) -> Image.Image:
    """Photographic-ish pixels: smooth colour gradients with grain, so codecs work for real."""
    gradient = Image.linear_gradient("L").resize((width, height))
    red = gradient
    green = gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    blue = Image.radial_gradient("L").resize((width, height))
    grain = random.Random(seed).randbytes(width * height)  # noqa: S311 (seeded: same bytes each run)
    noise = Image.frombytes("L", (width, height), grain)
    rgb = Image.merge("RGB", (red, green, blue))
    return Image.blend(rgb, Image.merge("RGB", (noise, noise, noise)), 0.15)


def jpeg(width: int = 640, height: int = 480, *, quality: int = 90, **params: object) -> bytes:
    return _save(photo(width, height), "JPEG", quality=quality, **params)


def progressive_jpeg(width: int = 640, height: int = 480) -> bytes:
    return jpeg(width, height, progressive=True, optimize=True)


def asymmetric(width: int = 400, height: int = 200) -> Image.Image:
    """Left half red, right half blue, a green square in the top-left corner.

    Every rotation and mirror of it looks different, so a thumbnail shows whether EXIF
    orientation was applied correctly.
    """
    image = Image.new("RGB", (width, height), BLUE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 2 - 1, height - 1), fill=RED)
    corner = min(width, height) // 2
    draw.rectangle((0, 0, corner - 1, corner - 1), fill=GREEN)
    return image


def srgb_icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_rotated_jpeg(width: int = 400, height: int = 200, orientation: int = 6) -> bytes:
    """`asymmetric()` stored sideways with EXIF orientation 6 (shown rotated 90° clockwise:
    displayed height x width, red on top, blue below, green in the top-right corner), plus
    camera, GPS, comment and ICC metadata that must never reach a thumbnail."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    return _save(
        asymmetric(width, height),
        "JPEG",
        quality=95,
        exif=exif.tobytes(),
        comment=b"secret comment",
        icc_profile=srgb_icc_profile(),
    )


def cmyk_jpeg(width: int = 320, height: int = 240) -> bytes:
    return _save(photo(width, height).convert("CMYK"), "JPEG", quality=90)


def png(width: int = 320, height: int = 240) -> bytes:
    return _save(photo(width, height), "PNG")


def palette_png(width: int = 320, height: int = 240) -> bytes:
    return _save(photo(width, height).quantize(64), "PNG")


def png_16bit(width: int = 320, height: int = 240) -> bytes:
    """16-bit greyscale: a left-to-right ramp over the full 0..65535 range."""
    ramp = Image.new("I;16", (width, height))
    ramp.putdata([x * 65535 // (width - 1) for _ in range(height) for x in range(width)])
    return _save(ramp, "PNG")


def png_alpha(width: int = 320, height: int = 240) -> bytes:
    """Opaque red left half, fully transparent right half."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height - 1), fill=(*RED, 255))
    return _save(image, "PNG")


def animated_gif(width: int = 120, height: int = 90) -> bytes:
    """Three frames: red, green, blue. The first one is the thumbnail."""
    frames = [Image.new("RGB", (width, height), colour) for colour in (RED, GREEN, BLUE)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def webp(width: int = 320, height: int = 240) -> bytes:
    return _save(photo(width, height), "WEBP", quality=80)


def webp_alpha(width: int = 320, height: int = 240) -> bytes:
    image = photo(width, height).convert("RGBA")
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height - 1), fill=(0, 0, 0, 0))
    return _save(image, "WEBP", lossless=True)


# Refused inputs --------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = jpeg()
    return data[: len(data) // 2]


def random_bytes(size: int = 4096, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 (seeded: same bytes each run)


def svg_with_script() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>\n'
    )


def pdf_document() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def tiff() -> bytes:
    """A real image in a format the service does not accept."""
    return _save(photo(64, 48), "TIFF")


def png_header_declaring(width: int = 30000, height: int = 30000) -> bytes:
    """A well-formed PNG whose header claims `width` x `height` (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
