"""HEIC/HEIF and AVIF originals through the engine (`imaging.inspect`, `render_renditions`):
the type read from the container, orientation applied once, colour to sRGB, the primary image
of a multi-image file, the pixel limit checked from the header, and what is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from image_service import icc, imaging
from image_service.contract import Rendition
from image_service.errors import InvalidImage, UnsupportedMediaType
from PIL import Image, ImageChops, ImageStat

from samples import heif as heif_samples
from samples import images
from samples.images import BLUE, GREEN, RED

RENDITIONS = [Rendition("thumb", 256, 256, "contain"), Rendition("square", 320, 320, "cover")]
MAX_PIXELS = 50_000_000
ROOT = Path(__file__).resolve().parents[2]


def render(data: bytes, **options: bool) -> dict[str, imaging.Rendered]:
    return imaging.render_renditions(data, RENDITIONS, max_pixels=MAX_PIXELS, **options)


def opened(body: bytes) -> Image.Image:
    image = Image.open(BytesIO(body))
    image.load()
    return image


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


# The type, from the bytes --------------------------------------------------------------


def small_heic() -> bytes:
    return heif_samples.photo_heic(64, 48)


def small_avif() -> bytes:
    return heif_samples.photo_avif(64, 48)


TYPED: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "heic": (small_heic, "heic"),
    "heic-grid": (heif_samples.grid_heic, "heic"),
    "heic-burst": (heif_samples.burst_heic, "heic"),
    "avif": (small_avif, "avif"),
    "avif-sequence": (heif_samples.avif_sequence, "avif"),
    # mif1 with an HEVC primary image is HEIC, whatever else the brands say.
    "mif1-only-hevc": (
        lambda: heif_samples.with_brands(small_heic(), b"mif1", [b"mif1", b"mif1", b"miaf"]),
        "heic",
    ),
    # avif among the compatible brands only (the major one is a profile brand).
    "avif-compatible-brand-only": (
        lambda: heif_samples.with_brands(
            small_avif(), b"MA1B", [b"avif", b"mif1", b"miaf", b"MA1B"]
        ),
        "avif",
    ),
    # AV1 under container brands only: libavif refuses such a file, so does the service.
    "mif1-only-av1": (
        lambda: heif_samples.with_brands(
            small_avif(), b"mif1", [b"mif1", b"mif1", b"miaf", b"MA1B"]
        ),
        None,
    ),
    # heic brands, but the picture is a JPEG item: no decoder here for that.
    "heic-brand-jpeg-item": (
        lambda: heif_samples.with_item_type(small_heic(), b"hvc1", b"jpeg"),
        None,
    ),
    "mp4-video": (heif_samples.mp4_video, None),
    "unknown-brands": (heif_samples.unknown_brand, None),
    "ftyp-only": (lambda: heif_samples.box(b"ftyp", b"heic\0\0\0\0mif1heic"), "heic"),
}


@pytest.mark.parametrize("case", list(TYPED))
def test_the_type_is_read_from_brands_and_the_primary_items_codec(case: str) -> None:
    make, expected = TYPED[case]
    found = imaging.sniff(make())
    assert (found.extension if found else None) == expected


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("mp4-video", UnsupportedMediaType),
        ("unknown-brands", UnsupportedMediaType),
        ("mif1-only-av1", UnsupportedMediaType),
        ("heic-brand-jpeg-item", UnsupportedMediaType),
        ("ftyp-only", InvalidImage),  # says HEIC, holds nothing: a broken HEIC
    ],
)
def test_refused_containers_get_their_error(case: str, error: type[Exception]) -> None:
    data = TYPED[case][0]()
    with pytest.raises(error):
        imaging.inspect(data, MAX_PIXELS)
    with pytest.raises(error):
        render(data)


@pytest.mark.parametrize("kind", ["heic", "avif"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_files_are_invalid(kind: str, fraction: float) -> None:
    data = (heif_samples.photo_heic if kind == "heic" else heif_samples.photo_avif)()
    cut = data[: int(len(data) * fraction)]
    with pytest.raises(InvalidImage):
        imaging.inspect(cut, MAX_PIXELS)
    with pytest.raises(InvalidImage):
        render(cut)


# Pixels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [heif_samples.photo_heic, heif_samples.grid_heic, heif_samples.photo_avif],
    ids=["heic", "heic-grid", "avif"],
)
def test_renditions_look_like_the_photo(make: Callable[..., bytes]) -> None:
    width, height = (1024, 768) if make is heif_samples.grid_heic else (640, 480)
    data = make()
    probe = imaging.inspect(data, MAX_PIXELS)
    assert (probe.width, probe.height) == (width, height)
    rendered = render(data)
    thumb = opened(rendered["thumb"].body)
    assert rendered["thumb"].content_type == "image/jpeg"
    assert thumb.size == (256, 192)
    assert opened(rendered["square"].body).size == (320, 320)
    expected = images.photo(width, height).resize((256, 192), Image.Resampling.LANCZOS)
    error = ImageStat.Stat(ImageChops.difference(thumb, expected)).mean
    assert max(error) < 6, error  # out of 255; two lossy codecs on the way


def assert_rotated_once(thumb: Image.Image) -> None:
    """`images.asymmetric()` turned 90 degrees clockwise: red on top, green top right."""
    assert thumb.size == (128, 256)
    assert close_to(pixel(thumb, (20, 100)), RED, 40)
    assert close_to(pixel(thumb, (100, 20)), GREEN, 40)
    assert close_to(pixel(thumb, (64, 200)), BLUE, 40)


@pytest.mark.parametrize("exif_orientation", [6, 3, 1, 8])
def test_heic_follows_its_irot_and_never_applies_exif_orientation_too(
    exif_orientation: int,
) -> None:
    data = heif_samples.rotated_heic(exif_orientation)
    probe = imaging.inspect(data, MAX_PIXELS)
    assert (probe.width, probe.height) == (200, 400)
    assert_rotated_once(opened(render(data)["thumb"].body))


@pytest.mark.parametrize("exif_orientation", [6, 3, 1])
def test_avif_applies_irot_once_whatever_its_exif_says(exif_orientation: int) -> None:
    data = heif_samples.rotated_avif(exif_orientation)
    probe = imaging.inspect(data, MAX_PIXELS)
    assert (probe.width, probe.height) == (200, 400)
    assert_rotated_once(opened(render(data)["thumb"].body))


def test_a_multi_image_heic_gives_its_primary_image() -> None:
    data = heif_samples.burst_heic()  # red, green (primary), blue
    assert imaging.inspect(data, MAX_PIXELS).width == 160
    thumb = opened(render(data)["thumb"].body)
    assert close_to(pixel(thumb, (80, 60)), GREEN, 12)


def test_an_avif_sequence_gives_its_first_frame() -> None:
    thumb = opened(render(heif_samples.avif_sequence())["thumb"].body)
    assert thumb.size == (128, 96)
    assert close_to(pixel(thumb, (64, 48)), RED, 12)


def p3_to_srgb(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Display P3 to sRGB by the published matrix (same transfer curve, same white)."""

    def linear(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def encoded(v: float) -> int:
        c = min(max(v, 0.0), 1.0)
        return round(255 * (12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055))

    matrix = ((1.2249, -0.2247, 0.0), (-0.0420, 1.0419, 0.0), (-0.0197, -0.0786, 1.0979))
    lin = [linear(v) for v in colour]
    r, g, b = (encoded(sum(row[k] * lin[k] for k in range(3))) for row in matrix)
    return r, g, b


P3_COLOUR = (180, 90, 60)  # a skin tone; in sRGB it is more saturated: (193, 83, 51)


@pytest.mark.parametrize(
    "make",
    [
        lambda: heif_samples.p3_nclx_heic(P3_COLOUR),
        lambda: heif_samples.p3_nclx_avif(P3_COLOUR),
        lambda: heif_samples.p3_icc_heic(P3_COLOUR, icc.profile(12, 13)),
    ],
    ids=["heic-nclx", "avif-nclx", "heic-icc"],
)
def test_display_p3_is_converted_to_srgb(make: Callable[[], bytes]) -> None:
    rendered = render(make())["thumb"]
    thumb = opened(rendered.body)
    expected = p3_to_srgb(P3_COLOUR)
    assert close_to(pixel(thumb, (64, 48)), expected, 4), (pixel(thumb, (64, 48)), expected)
    assert not close_to(pixel(thumb, (64, 48)), P3_COLOUR, 6)  # not read as sRGB
    assert "icc_profile" not in thumb.info  # converted, then dropped with the rest


def test_srgb_nclx_pixels_are_left_alone() -> None:
    data = heif_samples.heic(heif_samples.flat(P3_COLOUR), chroma=444)  # nclx 1/13/6
    thumb = opened(render(data)["thumb"].body)
    assert close_to(pixel(thumb, (64, 48)), P3_COLOUR, 3)


def test_ten_bit_heic_becomes_an_eight_bit_ramp() -> None:
    thumb = opened(render(heif_samples.ten_bit_heic())["thumb"].body)
    assert thumb.mode == "RGB"
    for x in (16, 64, 128, 192, 240):
        value = pixel(thumb, (x, 32))[0]
        assert abs(value - x * 255 / 255) <= 4, (x, value)


def test_pq_hdr_is_tone_mapped_not_shown_as_srgb() -> None:
    # PQ 0.58 is about 200 cd/m2: diffuse white. Read as sRGB it would be a mid grey (148).
    bright = pixel(opened(render(heif_samples.pq_heic(0.58))["thumb"].body), (64, 48))
    dark = pixel(opened(render(heif_samples.pq_heic(0.30))["thumb"].body), (64, 48))  # ~10 cd/m2
    assert min(bright) >= 225, bright
    assert max(dark) <= 90, dark


def test_heic_with_alpha_becomes_webp_with_alpha() -> None:
    rendered = render(heif_samples.alpha_heic())["thumb"]
    thumb = opened(rendered.body)
    assert rendered.content_type == "image/webp"
    assert thumb.mode == "RGBA"
    assert pixel(thumb, (250, 96))[3] == 0
    assert close_to(pixel(thumb, (40, 96)), (*RED, 255), 16)


def test_thumbnails_carry_no_metadata_and_repeat_byte_for_byte() -> None:
    data = heif_samples.heic(
        images.photo(640, 480),
        exif=heif_samples.exif_bytes(1),
        icc_profile=images.srgb_icc_profile(),
    )
    assert b"TestCam" in data
    first = render(data, webp=True)
    assert render(data, webp=True) == first
    for rendition in first.values():
        for body in (rendition.body, rendition.webp):
            assert body is not None
            assert b"TestCam" not in body
            image = opened(body)
            assert not image.info.get("exif")
            assert not image.info.get("icc_profile")


# The pixel limit, before any decoding ----------------------------------------------------

PEAK_RSS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from image_service import imaging
    from image_service.errors import InvalidImage

    def peak_kb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))

    data = open(sys.argv[1], "rb").read()
    imaging.sniff(data)  # imports what the first HEIC/AVIF imports
    imaging.inspect(open(sys.argv[2], "rb").read(), 50_000_000)  # warm: a small valid file
    before = peak_kb()
    outcome = {}
    for call in ("inspect", "render"):
        try:
            if call == "inspect":
                imaging.inspect(data, 50_000_000)
            else:
                imaging.render_renditions(data, [], max_pixels=50_000_000)
            outcome[call] = "accepted"
        except InvalidImage as err:
            outcome[call] = err.message
    print(json.dumps({"grew_kb": peak_kb() - before, "outcome": outcome}))
    """
)


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_a_header_declaring_200_megapixels_is_refused_without_allocating_them(
    kind: str, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb"
    valid = tmp_path / "valid"
    if kind == "heic":
        bomb.write_bytes(heif_samples.heic_declaring(16384, 12288))
        valid.write_bytes(small_heic())
    else:
        bomb.write_bytes(heif_samples.avif_declaring(16384, 12288))
        valid.write_bytes(small_avif())
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SCRIPT, str(bomb), str(valid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(ROOT / "lambda_src"), "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(done.stdout)
    message = "The image has 16384x12288 pixels; at most 50000000 are allowed."
    assert result["outcome"] == {"inspect": message, "render": message}
    # 201 MP of RGB would be 600 MB; the header check keeps the process where it was.
    assert result["grew_kb"] < 20_000, result


def test_a_stream_larger_than_its_header_declares_is_refused() -> None:
    # libheif checks the coded size against the declared one before it decodes (its security
    # limit follows the header), so the header check above cannot be walked around this way.
    data = heif_samples.heic_understating(1024)
    with pytest.raises(InvalidImage):
        imaging.inspect(data, MAX_PIXELS)
    with pytest.raises(InvalidImage):
        render(data)
