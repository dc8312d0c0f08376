"""The thumbnail renderer on originals large enough to take its fast paths (DCT-scaled JPEG
decode, integer pre-reduction before Lanczos, premultiplied alpha), called as a plain function.

The worker tests use small originals, where none of these paths run.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from image_service.contract import Rendition
from image_service.imaging import Rendered, render_renditions
from PIL import Image, ImageChops, ImageDraw, ImageStat

from samples import images
from samples.images import BLUE, GREEN, RED

RENDITIONS = [Rendition("thumb", 256, 256, "contain"), Rendition("square", 320, 320, "cover")]
MAX_PIXELS = 50_000_000


def render(data: bytes) -> dict[str, Rendered]:
    return render_renditions(data, RENDITIONS, max_pixels=MAX_PIXELS)


def decoded(rendered: Rendered) -> Image.Image:
    image = Image.open(BytesIO(rendered.body))
    image.load()
    return image


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **({"quality": 95} if fmt == "JPEG" else {"compress_level": 1}))
    return out.getvalue()


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_each_rendition_crops_and_scales_a_large_original(fmt: str) -> None:
    # 2400x1200: red left half, blue right half, a 600x600 green square top left. The cover
    # rendition is the centre 1200x1200 (no green), the contain one the whole picture.
    rendered = render(encoded(images.asymmetric(2400, 1200), fmt))
    thumb, square = decoded(rendered["thumb"]), decoded(rendered["square"])
    assert thumb.size == (256, 128)
    assert square.size == (320, 320)
    assert close_to(pixel(thumb, (20, 20)), GREEN)
    assert close_to(pixel(thumb, (100, 100)), RED)
    assert close_to(pixel(thumb, (200, 64)), BLUE)
    assert close_to(pixel(square, (10, 10)), RED)  # the green corner is cropped away
    assert close_to(pixel(square, (150, 300)), RED)
    assert close_to(pixel(square, (170, 10)), BLUE)


def test_large_png_matches_a_plain_lanczos_resize() -> None:
    # The pre-reduction must not cost visible quality: compare with Lanczos on every pixel.
    photo = images.photo(2400, 1800)
    rendered = render(encoded(photo, "PNG"))
    reference = {
        "thumb": photo.resize((256, 192), Image.Resampling.LANCZOS),
        "square": photo.resize((320, 320), Image.Resampling.LANCZOS, box=(300, 0, 2100, 1800)),
    }
    for name, expected in reference.items():
        thumb = decoded(rendered[name])
        assert thumb.size == expected.size
        mean_error = ImageStat.Stat(ImageChops.difference(thumb, expected)).mean
        assert max(mean_error) < 3, (name, mean_error)  # out of 255; JPEG q82 included


def test_hidden_colour_under_transparency_does_not_bleed() -> None:
    # Opaque red left half; the right half is fully transparent but its colour is green.
    # Resampling that ignored alpha would tint the visible edge green (measured: green up to
    # 124 at this edge, which falls inside an output pixel; 25 with premultiplied alpha).
    original = Image.new("RGBA", (2400, 1800), (*GREEN, 0))
    ImageDraw.Draw(original).rectangle((0, 0, 1203, 1799), fill=(*RED, 255))
    data = encoded(original, "PNG")
    rendered = render(data)
    thumb = decoded(rendered["thumb"])
    assert rendered["thumb"].content_type == "image/webp"
    assert thumb.mode == "RGBA"
    visible = thumb.getchannel("A").point(lambda a: 255 if a >= 32 else 0)
    green = ImageStat.Stat(thumb.getchannel("G"), mask=visible)
    assert green.count[0] > 256 * 96  # the left half, at least
    assert green.extrema[0][1] <= 60  # the red's own green is 20
    assert pixel(thumb, (250, 96))[3] == 0
    assert render(data) == rendered  # same input, same bytes


def test_webp_variants_encode_the_same_pixels_as_the_primary() -> None:
    data = encoded(images.photo(2400, 1800), "PNG")
    plain = render(data)
    both = render_renditions(data, RENDITIONS, max_pixels=MAX_PIXELS, webp=True)
    assert all(r.webp is None for r in plain.values())  # only made when asked for
    for name, rendition in both.items():
        assert rendition.body == plain[name].body  # the primary does not change
        assert rendition.content_type == "image/jpeg"
        assert rendition.webp is not None
        assert rendition.webp[:4] == b"RIFF"
        assert rendition.webp[8:12] == b"WEBP"
        variant, primary = decoded_bytes(rendition.webp), decoded(rendition)
        assert variant.size == primary.size == (rendition.width, rendition.height)
        mean_error = ImageStat.Stat(ImageChops.difference(variant, primary)).mean
        assert max(mean_error) < 3, (name, mean_error)
    assert render_renditions(data, RENDITIONS, max_pixels=MAX_PIXELS, webp=True) == both


def test_a_transparent_rendition_is_webp_already_and_not_encoded_twice() -> None:
    original = Image.new("RGBA", (1200, 900), (*RED, 0))
    ImageDraw.Draw(original).ellipse((100, 100, 1100, 800), fill=(*BLUE, 255))
    rendered = render_renditions(
        encoded(original, "PNG"), RENDITIONS, max_pixels=MAX_PIXELS, webp=True
    )
    for rendition in rendered.values():
        assert rendition.content_type == "image/webp"
        assert rendition.webp is rendition.body


def decoded_bytes(body: bytes) -> Image.Image:
    image = Image.open(BytesIO(body))
    image.load()
    return image
