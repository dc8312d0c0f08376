"""The thumbnail worker: renditions, orientation, colour, metadata, failures, idempotency."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from image_service.contract import METRICS_NAMESPACE, SERVICE_NAME, MetricDimension, WorkerMetric
from PIL import Image

from samples import images
from samples.images import BLUE, GREEN, RED
from tests.functions.conftest import (
    BUCKET,
    MAX_RECEIVE_COUNT,
    Aws,
    Functions,
    LambdaContext,
    job_body,
    sqs_event,
)

ID = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"


def run(functions: Functions, context: LambdaContext, *bodies: str, receive_count: int = 1) -> Any:
    return functions.worker.handler(sqs_event(*bodies, receive_count=receive_count), context)


def store_original(aws: Aws, name: str, data: bytes, content_type: str = "image/jpeg") -> None:
    """An original as an upload leaves it: the object and its pending record."""
    aws.put(f"originals/{name}", data, content_type)
    aws.add_record(name, "pending", content_type=content_type)


def store_and_render(
    functions: Functions, aws: Aws, context: LambdaContext, data: bytes, ext: str = "jpg"
) -> dict[str, Image.Image]:
    name = f"{ID}.{ext}"
    store_original(aws, name, data)
    assert run(functions, context, job_body(name)) == {"batchItemFailures": []}
    thumbnails: dict[str, Image.Image] = {}
    for rendition in ("thumb", "square"):
        stored = aws.get(f"thumbnails/{rendition}/{name}")
        image = Image.open(BytesIO(stored["Data"]))
        assert image.format is not None  # set for every opened file; narrows the type
        assert stored["ContentType"] == Image.MIME[image.format]
        image.load()
        thumbnails[rendition] = image
    return thumbnails


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The bands of one pixel of a multi-band (RGB, RGBA) image."""
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def level(image: Image.Image, xy: tuple[int, int]) -> float:
    """The value of one pixel of a single-band (L) image."""
    value = image.getpixel(xy)
    assert isinstance(value, int | float)
    return value


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def test_every_rendition_fits_its_box(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    thumbnails = store_and_render(functions, aws, context, images.jpeg(1600, 1200))
    assert thumbnails["thumb"].size == (256, 192)  # contain: inside 256x256, aspect kept
    assert thumbnails["square"].size == (320, 320)  # cover: fills 320x320, centre crop
    assert all(t.format == "JPEG" and t.mode == "RGB" for t in thumbnails.values())


def test_small_originals_are_not_enlarged(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    thumbnails = store_and_render(functions, aws, context, images.jpeg(200, 100))
    assert thumbnails["thumb"].size == (200, 100)
    assert thumbnails["square"].size == (100, 100)


def test_exif_orientation_is_applied(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    # Stored 800x400 sideways; displayed 400x800: red top half, green top-right, blue bottom.
    thumb = store_and_render(functions, aws, context, images.exif_rotated_jpeg(800, 400))["thumb"]
    assert thumb.size == (128, 256)
    rgb = thumb.convert("RGB")
    assert close_to(pixel(rgb, (20, 100)), RED)
    assert close_to(pixel(rgb, (110, 20)), GREEN)
    assert close_to(pixel(rgb, (64, 200)), BLUE)


def test_thumbnails_carry_no_metadata(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    original = images.exif_rotated_jpeg()
    assert b"TestCam" in original
    assert b"secret comment" in original
    name = f"{ID}.jpg"
    store_original(aws, name, original)
    run(functions, context, job_body(name))
    for rendition in ("thumb", "square"):
        data = aws.get(f"thumbnails/{rendition}/{name}")["Data"]
        image = Image.open(BytesIO(data))
        assert not image.getexif()
        assert not {"exif", "icc_profile", "comment", "xmp", "XML:com.adobe.xmp"} & set(image.info)
        for marker in (b"Exif", b"TestCam", b"secret comment", b"ICC_PROFILE", b"http://ns.adobe"):
            assert marker not in data


def test_cmyk_jpeg_becomes_rgb(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    thumbnails = store_and_render(functions, aws, context, images.cmyk_jpeg())
    photo = images.photo(320, 240).resize((256, 192))
    thumb = thumbnails["thumb"]
    assert thumb.mode == "RGB"
    assert close_to(pixel(thumb, (128, 96)), pixel(photo, (128, 96)), tolerance=60)


def test_palette_png(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    thumbnails = store_and_render(functions, aws, context, images.palette_png(), "png")
    assert thumbnails["thumb"].format == "JPEG"
    assert thumbnails["thumb"].size == (256, 192)


def test_16_bit_png_keeps_its_tones(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    thumb = store_and_render(functions, aws, context, images.png_16bit(), "png")["thumb"]
    grey = thumb.convert("L")
    # A full-range ramp, scaled to 8 bits rather than clipped to white.
    assert level(grey, (5, 96)) < 20
    assert 100 < level(grey, (128, 96)) < 160
    assert level(grey, (250, 96)) > 235


def test_transparency_is_kept(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    thumbnails = store_and_render(functions, aws, context, images.png_alpha(), "png")
    thumb = thumbnails["thumb"]
    assert thumb.format == "WEBP"
    assert thumb.mode == "RGBA"
    assert pixel(thumb, (200, 96))[3] == 0  # right half transparent
    left = pixel(thumb, (40, 96))
    assert left[3] == 255
    assert close_to(left[:3], RED)


def test_webp_with_alpha(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    thumb = store_and_render(functions, aws, context, images.webp_alpha(), "webp")["thumb"]
    assert thumb.mode == "RGBA"
    assert pixel(thumb, (40, 96))[3] == 0


def test_animated_gif_uses_its_first_frame(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    thumb = store_and_render(functions, aws, context, images.animated_gif(), "gif")["thumb"]
    assert thumb.format == "JPEG"
    assert close_to(pixel(thumb, (60, 45)), RED)


@pytest.mark.parametrize("make", [images.progressive_jpeg, images.webp, images.png])
def test_other_formats_render(
    functions: Functions, aws: Aws, context: LambdaContext, make: Callable[[], bytes]
) -> None:
    thumbnails = store_and_render(functions, aws, context, make())
    assert thumbnails["thumb"].size == (256, 192)


def test_replayed_message_writes_identical_objects(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    name = f"{ID}.jpg"
    store_original(aws, name, images.exif_rotated_jpeg())
    keys = [f"thumbnails/thumb/{name}", f"thumbnails/square/{name}"]
    run(functions, context, job_body(name))
    first = [aws.get(key) for key in keys]
    run(functions, context, job_body(name), receive_count=2)
    second = [aws.get(key) for key in keys]
    assert [o["Data"] for o in first] == [o["Data"] for o in second]
    assert [o["ETag"] for o in first] == [o["ETag"] for o in second]


def test_one_bad_record_among_good_ones_is_the_only_failure(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    good = [f"0{n}JDXK9V3Q8ZJ4W6M2T5R7Y0AB.png" for n in range(1, 4)]
    for name in good:
        store_original(aws, name, images.png(64, 48), "image/png")
    bodies = [job_body(good[0]), "this is not json", job_body(good[1]), job_body(good[2])]
    response = run(functions, context, *bodies)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    for name in good:
        assert aws.get(f"thumbnails/thumb/{name}")["ContentType"] == "image/jpeg"


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        json.dumps({"v": 2, "bucket": BUCKET, "key": f"originals/{ID}.jpg", "id": ID}),
        job_body(f"{ID}.jpg", bucket="someone-elses-bucket"),
        json.dumps({"v": 1, "bucket": BUCKET, "key": f"originals/../{ID}.jpg", "id": ID}),
        json.dumps({"v": 1, "bucket": BUCKET, "key": f"thumbnails/{ID}.jpg", "id": ID}),
        json.dumps({"v": 1, "bucket": BUCKET, "key": f"originals/{ID}.jpg", "id": "X"}),
    ],
    ids=["not-an-object", "wrong-version", "other-bucket", "traversal", "wrong-prefix", "wrong-id"],
)
def test_malformed_jobs_fail_without_touching_storage(
    functions: Functions, aws: Aws, context: LambdaContext, body: str
) -> None:
    store_original(aws, f"{ID}.jpg", images.jpeg(64, 48))
    assert run(functions, context, body) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert aws.object_keys() == [f"originals/{ID}.jpg"]
    assert aws.record(ID)["status"] == "pending"  # type: ignore[index]


def test_undecodable_original_is_marked_failed_at_once(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    name = f"{ID}.jpg"
    store_original(aws, name, images.truncated_jpeg())
    assert run(functions, context, job_body(name)) == {
        "batchItemFailures": [{"itemIdentifier": "message-0"}]
    }
    record = aws.record(ID)
    assert record is not None
    assert record["status"] == "failed"
    assert record["error"]["code"] == "InvalidImage"
    assert record["error"]["message"]


@pytest.mark.parametrize(
    ("receive_count", "marked"),
    [(1, False), (MAX_RECEIVE_COUNT - 1, False), (MAX_RECEIVE_COUNT, True)],
)
def test_transient_failure_is_marked_only_on_the_last_try(
    functions: Functions, aws: Aws, context: LambdaContext, receive_count: int, marked: bool
) -> None:
    name = f"{ID}.jpg"  # the original is missing: S3 answers NoSuchKey
    aws.add_record(name, "pending")
    response = run(functions, context, job_body(name), receive_count=receive_count)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    record = aws.record(ID)
    assert record is not None
    assert record["status"] == ("failed" if marked else "pending")


def test_last_try_marks_failed_before_rendering(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-render (out of memory, timeout) runs no code afterwards: on the last
    try the image must already say ThumbnailFailed while the render runs."""
    name = f"{ID}.jpg"
    store_original(aws, name, images.jpeg())
    seen_during_render: list[bool] = []

    def killed_mid_render(*args: Any, **kwargs: Any) -> Any:
        record = aws.record(ID)
        seen_during_render.append(record is not None and record["status"] == "failed")
        raise MemoryError

    monkeypatch.setattr(functions.worker.imaging, "render_renditions", killed_mid_render)
    response = run(functions, context, job_body(name), receive_count=MAX_RECEIVE_COUNT)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert seen_during_render == [True]


def test_last_try_that_succeeds_ends_ready(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    name = f"{ID}.jpg"
    store_original(aws, name, images.jpeg())
    response = run(functions, context, job_body(name), receive_count=MAX_RECEIVE_COUNT)
    assert response == {"batchItemFailures": []}
    assert sorted(aws.object_keys()) == [
        f"originals/{name}",
        f"thumbnails/square/{name}",
        f"thumbnails/square/{name}.webp",
        f"thumbnails/thumb/{name}",
        f"thumbnails/thumb/{name}.webp",
    ]
    record = aws.record(ID)
    assert record is not None
    assert (record["status"], record.get("error")) == ("ready", None)


def test_the_record_becomes_ready_with_what_each_rendition_is(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    name = f"{ID}.png"
    store_original(aws, name, images.png_alpha(800, 600), "image/png")
    assert run(functions, context, job_body(name)) == {"batchItemFailures": []}
    record = aws.record(ID)
    assert record is not None
    assert record["status"] == "ready"
    for rendition in ("thumb", "square"):
        stored = aws.get(f"thumbnails/{rendition}/{name}")
        image = Image.open(BytesIO(stored["Data"]))
        webp = aws.get(f"thumbnails/{rendition}/{name}.webp")
        assert webp["ContentType"] == "image/webp"
        assert record["renditions"][rendition] == {
            "content_type": stored["ContentType"],
            "width": image.width,
            "height": image.height,
            "bytes": len(stored["Data"]),
            "webp_bytes": len(webp["Data"]),
        }


def test_a_replay_after_ready_on_the_last_try_stays_ready(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    name = f"{ID}.jpg"
    store_original(aws, name, images.jpeg())
    assert run(functions, context, job_body(name)) == {"batchItemFailures": []}
    replay = run(functions, context, job_body(name), receive_count=MAX_RECEIVE_COUNT)
    assert replay == {"batchItemFailures": []}
    assert aws.record(ID)["status"] == "ready"  # type: ignore[index]


# --- metrics --------------------------------------------------------------------------------


def emitted_metrics(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents among the JSON lines the worker printed."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in (document := json.loads(line)):
            documents.append(document)
    return documents


def values(document: dict[str, Any], metric: str) -> list[float]:
    """EMF writes one value as a number and several (one per job) as a list."""
    value = document.get(metric, [])
    return value if isinstance(value, list) else [value]


def the_batch_metrics(output: str, context: LambdaContext) -> dict[str, Any]:
    documents = emitted_metrics(output)
    assert len(documents) == 1, "one document per invocation"
    document = documents[0]
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    # Exactly the dimensions the stack's alarm and dashboard name (tests/infra).
    assert [sorted(names) for names in directive["Dimensions"]] == [
        sorted([MetricDimension.FUNCTION_NAME, MetricDimension.SERVICE])
    ]
    assert document[MetricDimension.FUNCTION_NAME] == context.function_name
    assert document[MetricDimension.SERVICE] == SERVICE_NAME
    document["units"] = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    return document


def test_a_rendered_job_is_counted_with_its_render_time(
    functions: Functions, aws: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{ID}.jpg"
    store_original(aws, name, images.jpeg(800, 600))
    capsys.readouterr()
    assert run(functions, context, job_body(name)) == {"batchItemFailures": []}
    metrics = the_batch_metrics(capsys.readouterr().out, context)
    assert metrics["units"] == {
        WorkerMetric.RENDERED: "Count",
        WorkerMetric.RENDER_TIME: "Milliseconds",
    }
    assert values(metrics, WorkerMetric.RENDERED) == [1]
    [render_time] = values(metrics, WorkerMetric.RENDER_TIME)
    assert 0 < render_time < 60_000
    assert values(metrics, WorkerMetric.FAILED) == []


def test_failed_jobs_are_counted_apart_from_rendered_ones(
    functions: Functions, aws: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    good, missing = f"{ID}.png", "01JDXK9V3Q8ZJ4W6M2T5R7Y0AC.jpg"  # no original for `missing`
    store_original(aws, good, images.png(64, 48), "image/png")
    aws.add_record(missing, "pending")
    capsys.readouterr()
    response = run(functions, context, "this is not json", job_body(good), job_body(missing))
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-2"}]
    }
    metrics = the_batch_metrics(capsys.readouterr().out, context)
    assert metrics["units"][WorkerMetric.FAILED] == "Count"
    assert values(metrics, WorkerMetric.FAILED) == [1, 1]
    assert values(metrics, WorkerMetric.RENDERED) == [1]
    assert len(values(metrics, WorkerMetric.RENDER_TIME)) == 1  # failed jobs have no render time


def test_a_batch_where_every_job_failed_still_reports_its_failures(
    functions: Functions, aws: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    name = f"{ID}.jpg"  # no such original: S3 answers NoSuchKey
    aws.add_record(name, "pending")
    response = run(functions, context, job_body(name), receive_count=MAX_RECEIVE_COUNT)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    metrics = the_batch_metrics(capsys.readouterr().out, context)
    assert values(metrics, WorkerMetric.FAILED) == [1]
    assert WorkerMetric.RENDERED not in metrics
    assert WorkerMetric.RENDER_TIME not in metrics


def test_a_job_for_a_deleted_image_is_neither_rendered_nor_failed(
    functions: Functions, aws: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run(functions, context, job_body(f"{ID}.jpg")) == {"batchItemFailures": []}
    assert emitted_metrics(capsys.readouterr().out) == []  # nothing to count
