"""POST /upload and the worker with phone formats (HEIC, AVIF): accepted ones are stored under
their own extension and type and get JPEG thumbnails; refused ones get their status and code
and leave nothing behind (no original, no job)."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from local_runner.harness import object_keys, queue_depth
from samples import heif as heif_samples
from samples.images import RED
from tests.functions.conftest import (
    BUCKET,
    QUEUE_URL,
    Aws,
    Functions,
    LambdaContext,
    body_of,
    download_event,
    error_of,
    headers_of,
    sqs_event,
    upload_event,
)
from tests.functions.test_upload import multipart


def upload_and_render(
    functions: Functions, aws: Aws, context: LambdaContext, event: dict[str, Any]
) -> dict[str, Any]:
    response = functions.upload.handler(event, context)
    assert response["statusCode"] == 201, response["body"]
    (message,) = aws.sqs.receive_message(QueueUrl=QUEUE_URL)["Messages"]
    assert functions.worker.handler(sqs_event(message["Body"]), context) == {
        "batchItemFailures": []
    }
    body: dict[str, Any] = json.loads(response["body"])
    return body


@pytest.mark.parametrize(
    ("make", "ext", "content_type", "size"),
    [
        (heif_samples.photo_heic, "heic", "image/heic", (640, 480)),
        (heif_samples.grid_heic, "heic", "image/heic", (1024, 768)),
        (heif_samples.photo_avif, "avif", "image/avif", (640, 480)),
    ],
    ids=["heic", "heic-grid", "avif"],
)
def test_phone_formats_are_stored_as_uploaded_and_get_jpeg_thumbnails(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    make: Callable[[], bytes],
    ext: str,
    content_type: str,
    size: tuple[int, int],
) -> None:
    data = make()
    event = upload_event(data, "application/octet-stream", {"X-Filename": f"IMG_0001.{ext}"})
    body = upload_and_render(functions, aws, context, event)

    assert body["name"] == f"{body['id']}.{ext}"
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == size
    stored = aws.get(f"originals/{body['name']}")
    assert stored["Data"] == data
    assert stored["ContentType"] == content_type
    for rendition in ("thumb", "square"):
        thumbnail = aws.get(f"thumbnails/{rendition}/{body['name']}")
        assert thumbnail["ContentType"] == "image/jpeg"
        assert Image.open(BytesIO(thumbnail["Data"])).format == "JPEG"

    download = functions.download_image.handler(download_event("download", body["name"]), context)
    assert download["statusCode"] == 200
    assert headers_of(download)["Content-Type"] == content_type
    assert body_of(download) == data


def test_a_heic_labelled_jpeg_in_a_multipart_form_is_a_heic(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = heif_samples.photo_heic()
    form, form_type = multipart(data, filename="IMG_0001.jpg")
    form = form.replace(b"Content-Type: application/octet-stream", b"Content-Type: image/jpeg")
    event = upload_event(form, form_type)
    body = upload_and_render(functions, aws, context, event)
    assert body["name"].endswith(".heic")
    assert body["content_type"] == "image/heic"
    assert body["filename"] == "IMG_0001.jpg"
    assert aws.get(f"originals/{body['name']}")["ContentType"] == "image/heic"


def test_an_avif_sequence_uploads_and_its_thumbnail_is_the_first_frame(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = heif_samples.avif_sequence()
    body = upload_and_render(functions, aws, context, upload_event(data, "image/avif"))
    assert body["content_type"] == "image/avif"
    thumb = Image.open(BytesIO(aws.get(f"thumbnails/thumb/{body['name']}")["Data"]))
    value = thumb.convert("RGB").getpixel((64, 48))
    assert isinstance(value, tuple)
    assert all(abs(a - b) <= 12 for a, b in zip(value, RED, strict=True)), value


def _truncated_heic() -> bytes:
    data = heif_samples.photo_heic()
    return data[: len(data) // 2]


REFUSED: dict[str, tuple[Callable[[], dict[str, Any]], int, str]] = {
    "heic-declaring-200mp": (
        lambda: upload_event(heif_samples.heic_declaring(16384, 12288), "image/heic"),
        422,
        "InvalidImage",
    ),
    "avif-declaring-200mp": (
        lambda: upload_event(heif_samples.avif_declaring(16384, 12288), "image/avif"),
        422,
        "InvalidImage",
    ),
    "truncated-heic": (lambda: upload_event(_truncated_heic(), "image/heic"), 422, "InvalidImage"),
    "ftyp-of-an-unknown-brand": (
        lambda: upload_event(heif_samples.unknown_brand(), "image/heic"),
        415,
        "UnsupportedMediaType",
    ),
    "mp4-video-named-heic": (
        lambda: upload_event(heif_samples.mp4_video(), "image/heic", {"X-Filename": "clip.heic"}),
        415,
        "UnsupportedMediaType",
    ),
    "mp4-video-in-a-form-as-heic": (
        lambda: upload_event(*multipart(heif_samples.mp4_video(), filename="IMG_0002.HEIC")),
        415,
        "UnsupportedMediaType",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_phone_format_uploads_leave_nothing_behind(
    functions: Functions, aws: Aws, context: LambdaContext, case: str
) -> None:
    make_event, status, code = REFUSED[case]
    response = functions.upload.handler(make_event(), context)
    assert error_of(response) == (status, code), response["body"]
    message = json.loads(response["body"])["error"]["message"]
    if code == "UnsupportedMediaType":
        assert "HEIC" in message
        assert "AVIF" in message
    assert object_keys(aws.s3, BUCKET) == []
    assert queue_depth(aws.sqs, QUEUE_URL) == 0
