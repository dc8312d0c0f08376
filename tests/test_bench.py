"""`make bench` measures the code as it is: every case that needs only Pillow and the engine
still runs against today's modules (the full run takes minutes, so a rename would otherwise
surface only there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cases, derive
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


@pytest.fixture(scope="module")
def small_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("derive") / "photo.jpg"
    path.write_bytes(images.jpeg(640, 480))
    return path


def test_the_derive_part_times_renders_workers_and_placeholders(small_photo: Path) -> None:
    renders = derive.renders(small_photo, 1)
    assert set(renders["ms"]) >= {f"{fmt} {w}" for fmt in derive.FORMATS for w in derive.WIDTHS}
    worker = derive.worker([small_photo], 1)
    assert set(worker[0]["ms"]) == set(derive.WORKER_CASES)
    placeholder = derive.placeholder(small_photo, 1)
    assert placeholder["hash_bytes"] < 30


@pytest.mark.slow  # 10 s of encoder searches at equal SSIM: for make test, not the fast loop
def test_the_derive_part_matches_encoders_and_writes_its_tables(small_photo: Path) -> None:
    engine = cases.engine_module()
    result = {
        "renders": derive.renders(small_photo, 1),
        "encoders": derive.encoders([small_photo], 1),
        "intermediate": derive.intermediate(small_photo, 1),
        "worker": derive.worker([small_photo], 1),
        "placeholder": derive.placeholder(small_photo, 1),
    }
    lines, goals = derive.tables(result, engine)
    assert any(line.startswith("### Renders from the intermediate") for line in lines)
    assert any("AVIF render at 1280 px" in what for what, _, _ in goals)
