"""The ThumbHash encoder against the published decoder (`samples/thumbhash.py`)."""

from __future__ import annotations

import pytest
from image_service import thumbhash
from PIL import Image

from samples import images
from samples import thumbhash as reference


@pytest.mark.parametrize("colour", [(220, 20, 20, 255), (20, 200, 20, 255), (128, 128, 128, 255)])
def test_a_flat_colour_decodes_to_itself(colour: tuple[int, int, int, int]) -> None:
    hash_ = thumbhash.encode(40, 30, bytes(colour) * 40 * 30)
    average = reference.average_rgba(hash_)
    assert all(abs(round(255 * a) - c) <= 5 for a, c in zip(average, colour, strict=True))
    width, height, rgba = reference.to_rgba(hash_)
    assert (width, height) == (32, 23)  # 7:5, the nearest the hash knows to 4:3
    assert max(abs(a - b) for a, b in zip(rgba, bytes(colour) * width * height, strict=True)) < 8


@pytest.mark.parametrize(("size", "landscape"), [((100, 50), True), ((30, 90), False)])
def test_the_aspect_survives_coarsely(size: tuple[int, int], landscape: bool) -> None:
    photo = images.photo(*size).convert("RGBA")
    ratio = reference.approximate_aspect_ratio(thumbhash.encode(*size, photo.tobytes()))
    assert (ratio > 1) is landscape
    assert ratio == pytest.approx(size[0] / size[1], rel=0.25)


def test_transparency_is_kept_and_hidden_colour_ignored() -> None:
    image = Image.new("RGBA", (40, 40), (0, 255, 0, 0))  # transparent green, hidden
    image.paste((220, 20, 20, 255), (0, 0, 20, 40))
    hash_ = thumbhash.encode(40, 40, image.tobytes())
    assert reference.has_alpha(hash_)
    r, g, b, a = reference.average_rgba(hash_)
    assert a == pytest.approx(0.5, abs=0.1)
    assert r > 0.7
    assert max(g, b) < 0.2


def test_the_base64_form_is_what_a_page_decodes() -> None:
    rgba = images.photo(64, 48).convert("RGBA").tobytes()
    text = thumbhash.encode_base64(64, 48, rgba)
    assert reference.from_base64(text) == thumbhash.encode(64, 48, rgba)
    assert len(text) < 40


@pytest.mark.parametrize("size", [(101, 10), (10, 101), (0, 10)])
def test_input_over_100_pixels_a_side_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        thumbhash.encode(*size, bytes(4 * size[0] * size[1]))
