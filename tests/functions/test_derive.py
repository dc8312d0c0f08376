"""Widths on demand, as plain functions: the intermediate and placeholder the worker makes
from its one decode (`imaging.derive`), renders from the intermediate (`render_width`,
`render_rendition`), and from an original that has none yet (`render_from_original`).

A small `largest_width` keeps the originals small while every path (resampling to the
intermediate, DCT-scaled decodes of it) still runs.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from image_service import icc, imaging
from image_service.contract import Rendition
from image_service.errors import InvalidImage, UnsupportedMediaType
from PIL import Image, ImageFilter, ImageMath, ImageStat

from samples import images
from samples import thumbhash as reference
from samples.images import BLUE, GREEN, RED
from tests.functions.test_heif import P3_COLOUR, p3_to_srgb

RENDITIONS = [Rendition("thumb", 256, 256, "contain"), Rendition("square", 320, 320, "cover")]
MAX_PIXELS = 50_000_000
LARGEST = 1280
LADDER = (160, 320, 480, 640, 960, 1280)


def derive(
    data: bytes, renditions: list[Rendition] = RENDITIONS, **options: bool
) -> imaging.Derived:
    return imaging.derive(data, renditions, max_pixels=MAX_PIXELS, largest_width=LARGEST, **options)


def opened(body: bytes) -> Image.Image:
    image = Image.open(BytesIO(body))
    image.load()
    return image


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def alpha_at(image: Image.Image, xy: tuple[int, int]) -> int:
    value = image.getchannel("A").getpixel(xy)
    assert isinstance(value, int)
    return value


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Luma SSIM over 8x8 blocks (1.0 = identical), from Pillow alone."""
    assert a.size == b.size
    width, height = (a.width // 8) * 8, (a.height // 8) * 8
    x, y = (i.convert("L").crop((0, 0, width, height)).convert("F") for i in (a, b))

    def mean(image: Image.Image) -> Image.Image:
        return image.resize((width // 8, height // 8), Image.Resampling.BOX)

    def product(p: Image.Image, q: Image.Image) -> Image.Image:
        out = ImageMath.lambda_eval(lambda v: v["p"] * v["q"], p=p, q=q)
        assert isinstance(out, Image.Image)
        return out

    mx, my = mean(x), mean(y)
    xx, yy, xy = mean(product(x, x)), mean(product(y, y)), mean(product(x, y))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blocks = ImageMath.lambda_eval(
        lambda v: (
            ((2 * v["mx"] * v["my"] + c1) * (2 * (v["xy"] - v["mx"] * v["my"]) + c2))
            / (
                (v["mx"] * v["mx"] + v["my"] * v["my"] + c1)
                * (v["xx"] - v["mx"] * v["mx"] + v["yy"] - v["my"] * v["my"] + c2)
            )
        ),
        mx=mx,
        my=my,
        xx=xx,
        yy=yy,
        xy=xy,
    )
    assert isinstance(blocks, Image.Image)
    value = blocks.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert isinstance(value, float)
    return value


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    # The samples' grain softened as a lens would, so SSIM compares pictures, not noise.
    out = BytesIO()
    images.photo(3000, 2250).filter(ImageFilter.GaussianBlur(1)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def derived(photo_jpeg: bytes) -> imaging.Derived:
    return derive(photo_jpeg)


# --- the intermediate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((3000, 2250), (1280, 960)),  # landscape: fit to the largest width
        ((900, 1600), (900, 1600)),  # narrower than the largest width: as it is, never enlarged
        ((2000, 3000), (1280, 1920)),  # portrait: the width is fit, the height follows
        ((1280, 4000), (1024, 3200)),  # taller than 1:2 at full width: 2 x 1280² pixels
    ],
)
def test_the_intermediate_fits_the_largest_width_and_keeps_the_aspect(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    result = derive(images.jpeg(*size), [])
    assert (result.intermediate.width, result.intermediate.height) == expected
    assert opened(result.intermediate.body).size == expected
    assert result.intermediate.content_type == "image/jpeg"


def test_the_intermediate_is_upright_srgb_and_carries_no_metadata() -> None:
    # Stored 1600x800 sideways (orientation 6), with camera, GPS, comment and ICC metadata.
    result = derive(images.exif_rotated_jpeg(1600, 800), [])
    assert (result.probe.width, result.probe.height) == (800, 1600)
    middle = opened(result.intermediate.body)
    assert middle.size == (800, 1600)
    assert close_to(pixel(middle, (100, 500)), RED)  # red on top
    assert close_to(pixel(middle, (400, 1500)), BLUE)  # blue below
    assert close_to(pixel(middle, (760, 40)), GREEN)  # the green corner, top right
    assert not middle.getexif()
    for key in ("exif", "icc_profile", "comment", "xmp"):
        assert key not in middle.info


def test_a_display_p3_original_becomes_an_srgb_intermediate() -> None:
    flat = Image.new("RGB", (1600, 1200), P3_COLOUR)
    out = BytesIO()
    flat.save(out, "JPEG", quality=95, icc_profile=icc.profile(12, 13))
    middle = opened(derive(out.getvalue()).intermediate.body)
    assert close_to(pixel(middle, (640, 480)), p3_to_srgb(P3_COLOUR), 3)
    assert "icc_profile" not in middle.info


def test_a_transparent_original_gets_a_webp_intermediate_with_alpha() -> None:
    result = derive(images.png_alpha(1600, 1200))
    assert result.intermediate.content_type == "image/webp"
    middle = opened(result.intermediate.body)
    assert middle.mode == "RGBA"
    assert middle.size == (1280, 960)
    assert close_to(pixel(middle, (100, 480)), RED, 8)
    assert alpha_at(middle, (100, 480)) == 255
    assert alpha_at(middle, (1200, 480)) == 0


def test_renditions_are_unchanged_when_the_original_fits_the_largest_width() -> None:
    # The intermediate is the decode itself (a PNG: a JPEG's renditions alone would be made
    # from a DCT-scaled decode, which the intermediate's resolution rules out).
    data = images.png(1024, 768)
    assert derive(data).renditions == imaging.render_renditions(
        data, RENDITIONS, max_pixels=MAX_PIXELS
    )
    assert derive(data, webp=True).renditions == imaging.render_renditions(
        data, RENDITIONS, max_pixels=MAX_PIXELS, webp=True
    )


def test_renditions_from_the_intermediate_look_like_renditions_from_the_original(
    photo_jpeg: bytes, derived: imaging.Derived
) -> None:
    direct = imaging.render_renditions(photo_jpeg, RENDITIONS, max_pixels=MAX_PIXELS)
    assert derived.probe == imaging.inspect(photo_jpeg, MAX_PIXELS)
    for name, rendered in derived.renditions.items():
        made, expected = opened(rendered.body), opened(direct[name].body)
        assert made.size == expected.size
        assert ssim(made, expected) > 0.97, name


def test_a_rendition_larger_than_the_intermediate_is_made_from_the_decode() -> None:
    big = Rendition("poster", 2048, 2048, "contain")
    result = derive(images.jpeg(3000, 2250), [big])
    assert (result.renditions["poster"].width, result.renditions["poster"].height) == (2048, 1536)
    assert result.intermediate.width == LARGEST


def test_everything_repeats_byte_for_byte(photo_jpeg: bytes, derived: imaging.Derived) -> None:
    assert derive(photo_jpeg) == derived
    middle = derived.intermediate.body
    for fmt in imaging.RENDER_FORMATS:
        once = imaging.render_width(middle, 480, fmt, max_pixels=MAX_PIXELS)
        assert imaging.render_width(middle, 480, fmt, max_pixels=MAX_PIXELS) == once


# --- renders from the intermediate -----------------------------------------------------------


@pytest.mark.parametrize("width", [*LADDER, 1920, 2560])
def test_each_width_is_exact_and_never_larger_than_the_intermediate(
    derived: imaging.Derived, width: int
) -> None:
    render = imaging.render_width(derived.intermediate.body, width, "jpeg", max_pixels=MAX_PIXELS)
    expected_width = min(width, LARGEST)
    expected = (expected_width, round(expected_width * 2250 / 3000))
    assert (render.width, render.height) == expected
    assert opened(render.body).size == expected


@pytest.mark.parametrize(
    ("fmt", "content_type", "pillow_format"),
    [
        ("avif", "image/avif", "AVIF"),
        ("webp", "image/webp", "WEBP"),
        ("jpeg", "image/jpeg", "JPEG"),
    ],
)
def test_each_format_is_what_it_says(
    derived: imaging.Derived, fmt: str, content_type: str, pillow_format: str
) -> None:
    render = imaging.render_width(derived.intermediate.body, 320, fmt, max_pixels=MAX_PIXELS)
    assert render.content_type == content_type
    image = opened(render.body)
    assert image.format == pillow_format
    assert image.mode == "RGB"
    assert not image.info.get("exif")
    assert not image.info.get("icc_profile")


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("avif", "image/avif"), ("webp", "image/webp"), ("jpeg", "image/webp")],
)
def test_a_transparent_image_keeps_its_alpha_in_every_format(fmt: str, content_type: str) -> None:
    middle = derive(images.png_alpha(1600, 1200)).intermediate.body
    render = imaging.render_width(middle, 320, fmt, max_pixels=MAX_PIXELS)
    assert render.content_type == content_type  # no JPEG for a transparent image
    image = opened(render.body)
    assert image.mode == "RGBA"
    assert alpha_at(image, (40, 120)) > 240
    assert alpha_at(image, (300, 120)) < 15
    assert close_to(pixel(image, (40, 120)), RED, 30)


def test_a_width_from_the_intermediate_looks_like_the_same_width_from_the_original(
    photo_jpeg: bytes, derived: imaging.Derived
) -> None:
    # Widths below the intermediate's: at its own width a render is a re-encode of it.
    original = Image.open(BytesIO(photo_jpeg)).convert("RGB")
    for width in (320, 640, 960):
        made = opened(
            imaging.render_width(
                derived.intermediate.body, width, "jpeg", max_pixels=MAX_PIXELS
            ).body
        )
        direct = opened(imaging.render_width(photo_jpeg, width, "jpeg", max_pixels=MAX_PIXELS).body)
        reference_pixels = original.resize(made.size, Image.Resampling.LANCZOS)
        # The intermediate costs next to nothing on top of the render's own JPEG encoding.
        assert ssim(made, direct) > 0.97, width
        assert ssim(made, reference_pixels) > ssim(direct, reference_pixels) - 0.005, width


def test_orientation_and_colour_survive_the_intermediate() -> None:
    middle = derive(images.exif_rotated_jpeg(1600, 800)).intermediate.body
    render = opened(imaging.render_width(middle, 160, "avif", max_pixels=MAX_PIXELS).body)
    assert render.size == (160, 320)
    assert close_to(pixel(render, (30, 30)), RED)
    assert close_to(pixel(render, (80, 300)), BLUE)
    assert close_to(pixel(render, (150, 10)), GREEN)


@pytest.mark.parametrize(
    ("rendition", "expected"),
    [
        (Rendition("thumb", 256, 256, "contain"), (256, 192)),
        (Rendition("square", 320, 320, "cover"), (320, 320)),
        (Rendition("banner", 1200, 300, "cover"), (1200, 300)),
        (Rendition("poster", 2048, 2048, "contain"), (1280, 960)),  # never over the intermediate
    ],
)
def test_a_named_rendition_on_demand(
    derived: imaging.Derived, rendition: Rendition, expected: tuple[int, int]
) -> None:
    render = imaging.render_rendition(
        derived.intermediate.body, rendition, "webp", max_pixels=MAX_PIXELS
    )
    assert (render.width, render.height) == expected
    assert opened(render.body).size == expected


def test_a_cover_rendition_on_demand_crops_the_centre() -> None:
    middle = derive(images.exif_rotated_jpeg(1600, 800)).intermediate.body  # red over blue
    square = opened(
        imaging.render_rendition(
            middle, Rendition("square", 320, 320, "cover"), "jpeg", max_pixels=MAX_PIXELS
        ).body
    )
    assert square.size == (320, 320)
    assert close_to(pixel(square, (160, 20)), RED)
    assert close_to(pixel(square, (160, 300)), BLUE)


# --- images older than their intermediate ----------------------------------------------------


def test_a_render_from_an_original_comes_with_its_intermediate_and_placeholder(
    photo_jpeg: bytes, derived: imaging.Derived
) -> None:
    made = imaging.render_from_original(
        photo_jpeg, 640, "avif", max_pixels=MAX_PIXELS, largest_width=LARGEST
    )
    assert made.intermediate == derived.intermediate
    assert made.placeholder == derived.placeholder
    assert made.probe == derived.probe
    later = imaging.render_width(derived.intermediate.body, 640, "avif", max_pixels=MAX_PIXELS)
    assert (made.render.width, made.render.height) == (later.width, later.height) == (640, 480)
    assert made.render.content_type == "image/avif"
    assert ssim(opened(made.render.body), opened(later.body)) > 0.98


def test_a_rendition_from_a_rotated_original() -> None:
    made = imaging.render_from_original(
        images.exif_rotated_jpeg(1600, 800),
        Rendition("thumb", 256, 256, "contain"),
        "jpeg",
        max_pixels=MAX_PIXELS,
        largest_width=LARGEST,
    )
    thumb = opened(made.render.body)
    assert thumb.size == (128, 256)
    assert close_to(pixel(thumb, (60, 20)), RED)
    assert (made.intermediate.width, made.intermediate.height) == (800, 1600)


# --- the placeholder -------------------------------------------------------------------------


def test_the_placeholder_decodes_to_the_photos_average_colour_and_aspect(
    photo_jpeg: bytes, derived: imaging.Derived
) -> None:
    placeholder = reference.from_base64(derived.placeholder)
    assert len(placeholder) < 30
    assert not reference.has_alpha(placeholder)
    assert reference.approximate_aspect_ratio(placeholder) == pytest.approx(4 / 3, rel=0.1)
    average = Image.open(BytesIO(photo_jpeg)).convert("RGB").resize((1, 1), Image.Resampling.BOX)
    expected = pixel(average, (0, 0))
    decoded = tuple(round(255 * c) for c in reference.average_rgba(placeholder)[:3])
    assert close_to(decoded, expected, 6)


def test_the_placeholder_shows_where_the_colours_are_upright() -> None:
    placeholder = reference.from_base64(derive(images.exif_rotated_jpeg(1600, 800)).placeholder)
    assert reference.approximate_aspect_ratio(placeholder) < 1  # portrait, as displayed
    width, height, rgba = reference.to_rgba(placeholder)
    picture = Image.frombytes("RGBA", (width, height), rgba)
    red, blue = pixel(picture, (width // 4, height // 8)), pixel(picture, (width // 4, height - 3))
    assert red[0] > red[2] + 60  # the top is red
    assert blue[2] > blue[0] + 60  # the bottom is blue


def test_a_transparent_images_placeholder_has_alpha() -> None:
    placeholder = reference.from_base64(derive(images.png_alpha(1600, 1200)).placeholder)
    assert reference.has_alpha(placeholder)
    r, g, b, a = reference.average_rgba(placeholder)
    assert 0.3 < a < 0.7  # half of it is transparent
    assert r > 0.6  # and what is not is red
    assert max(g, b) < 0.3


# --- hostile input gets today's errors -------------------------------------------------------

HOSTILE = {
    "bomb": (images.png_header_declaring(30000, 30000), InvalidImage),
    "truncated": (images.truncated_jpeg(), InvalidImage),
    "not an image": (images.random_bytes(), UnsupportedMediaType),
    "svg": (images.svg_with_script(), UnsupportedMediaType),
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize(
    "call",
    [
        lambda data: derive(data),
        lambda data: imaging.render_width(data, 320, "avif", max_pixels=MAX_PIXELS),
        lambda data: imaging.render_rendition(data, RENDITIONS[1], "jpeg", max_pixels=MAX_PIXELS),
        lambda data: imaging.render_from_original(
            data, 320, "webp", max_pixels=MAX_PIXELS, largest_width=LARGEST
        ),
    ],
    ids=["derive", "render_width", "render_rendition", "render_from_original"],
)
def test_hostile_input_gets_the_same_errors_as_today(case: str, call: object) -> None:
    data, error = HOSTILE[case]
    with pytest.raises(error):
        call(data)  # type: ignore[operator]


def test_the_pixel_limit_holds_for_renders() -> None:
    data = images.jpeg(1600, 1200)
    with pytest.raises(InvalidImage):
        imaging.render_width(data, 160, "jpeg", max_pixels=1_000_000)


@pytest.mark.parametrize(("width", "fmt"), [(0, "jpeg"), (-5, "jpeg"), (320, "png"), (320, "")])
def test_a_bad_width_or_format_is_a_programming_error(
    derived: imaging.Derived, width: int, fmt: str
) -> None:
    with pytest.raises(ValueError):
        imaging.render_width(derived.intermediate.body, width, fmt, max_pixels=MAX_PIXELS)


def test_ssim_helper_tells_alike_from_unlike() -> None:
    photo = images.photo(256, 192)
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert ssim(photo, images.photo(256, 192, seed=2)) < 0.9
    assert ImageStat.Stat(photo).mean  # a real picture, not a flat one
