"""`make bench` measures the code as it is: every case that needs only Pillow and the engine
still runs against today's modules (the full run takes minutes, so a rename would otherwise
surface only there)."""

from __future__ import annotations

import pytest

from bench import cases
from samples import images

PILLOW_ONLY = (
    cases.NAIVE,
    cases.PIL_THUMBNAIL,
    cases.FLOOR_DRAFT,
    cases.FLOOR_DECODE,
    cases.ENGINE_ONE,
    cases.ENGINE_ALL,
    cases.ENGINE_ALL_WEBP,
    cases.ENGINE_INSPECT,
)


@pytest.mark.parametrize("name", PILLOW_ONLY)
def test_each_case_renders_a_photo(name: str) -> None:
    result = cases.prepare(name)(images.jpeg(640, 480))
    assert result is not None


def test_the_engine_cases_make_every_rendition() -> None:
    rendered = cases.outputs(cases.prepare(cases.ENGINE_ALL_WEBP)(images.jpeg(640, 480)))
    assert {cases.rendition_of(output) for output in rendered} == set(cases.RENDITIONS)
    assert any(output.endswith(cases.WEBP_SUFFIX) for output in rendered)
