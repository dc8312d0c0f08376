"""Valid images that carry something hostile: accepted, but nothing they carry gets out.

Polyglots (a JPEG with a ZIP or HTML appended) are valid JPEGs/PNGs, so they are accepted and
the original is stored exactly as uploaded; it is only ever served as `image/*` with
`nosniff`, and its thumbnails are re-encoded from pixels, so the appended payload cannot
survive into them. File names with CR/LF become metadata without control characters and
never reach a response header.
"""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from image_service import names
from PIL import Image

from local_runner.harness import object_keys
from samples import images
from tests.functions.conftest import (
    BUCKET,
    Aws,
    Functions,
    LambdaContext,
    body_of,
    download_event,
    headers_of,
    sqs_event,
    upload_event,
)
from tests.hostile import corpus

POLYGLOTS = {
    "jpeg+zip": (corpus.jpeg_zip_polyglot, "image/jpeg"),
    "jpeg+html": (corpus.jpeg_html_polyglot, "image/jpeg"),
    "png+html": (corpus.png_html_polyglot, "image/png"),
}
PAYLOAD_TRACES = (b"PK\x03\x04", b"PK\x05\x06", corpus.ZIP_MARKER, b"<script", b"<html", b"alert(")
CONTROL = ("\r", "\n", "\x00", "\u2028", "\u2029", "\x85")


def upload_and_process(
    functions: Functions, aws: Aws, context: LambdaContext, event: dict[str, Any]
) -> dict[str, Any]:
    """POST /upload, then the worker run on exactly the message the upload queued."""
    response = functions.upload.handler(event, context)
    assert response["statusCode"] == 201, response["body"]
    received = aws.sqs.receive_message(QueueUrl=functions.upload.CONFIG.queue_url)
    (message,) = received["Messages"]
    result = functions.worker.handler(sqs_event(message["Body"]), context)
    assert result == {"batchItemFailures": []}
    return dict(response)


def jpeg_segments(data: bytes) -> list[int]:
    """The marker of every segment before the scan data (APPn, COM, DQT, ...)."""
    assert data[:2] == b"\xff\xd8"
    markers, offset = [], 2
    while data[offset] == 0xFF and data[offset + 1] != 0xDA:
        marker = data[offset + 1]
        markers.append(marker)
        offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    return markers


def assert_clean_thumbnail(data: bytes, content_type: str) -> None:
    for trace in PAYLOAD_TRACES:
        assert trace not in data
    if content_type == "image/jpeg":
        assert data.endswith(b"\xff\xd9")  # nothing after the end-of-image marker
        segments = jpeg_segments(data)
        # Only JFIF's APP0 and coding tables: no EXIF/XMP (APP1), ICC (APP2), comment (COM).
        assert {m for m in segments if 0xE1 <= m <= 0xEF or m == 0xFE} == set()
    with Image.open(io.BytesIO(data)) as thumbnail:
        assert not thumbnail.info.get("exif")
        assert not thumbnail.info.get("icc_profile")
        assert not thumbnail.info.get("comment")


@pytest.mark.parametrize("kind", list(POLYGLOTS))
def test_polyglot_is_stored_as_uploaded_and_its_payload_never_reaches_a_thumbnail(
    functions: Functions, aws: Aws, context: LambdaContext, kind: str
) -> None:
    make, content_type = POLYGLOTS[kind]
    data = make()
    response = upload_and_process(functions, aws, context, upload_event(data, content_type))
    name = json.loads(response["body"])["name"]

    assert aws.get(f"originals/{name}")["Data"] == data
    download = functions.download_image.handler(download_event("download", name), context)
    assert download["statusCode"] == 200
    assert headers_of(download)["Content-Type"] == content_type
    assert headers_of(download)["X-Content-Type-Options"] == "nosniff"
    assert body_of(download) == data

    for rendition in ("thumb", "square"):
        stored = aws.get(f"thumbnails/{rendition}/{name}")
        assert stored["ContentType"] in ("image/jpeg", "image/webp")
        assert_clean_thumbnail(stored["Data"], stored["ContentType"])
        event = download_event("download-thumbnail", name, size=rendition)
        served = functions.download_thumbnail.handler(event, context)
        assert headers_of(served)["Content-Type"] == stored["ContentType"]
        assert headers_of(served)["X-Content-Type-Options"] == "nosniff"


def test_metadata_rich_photo_gives_thumbnails_without_any(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.exif_rotated_jpeg()
    assert b"secret comment" in data
    assert b"TestCam" in data
    name = json.loads(upload_and_process(functions, aws, context, upload_event(data))["body"])[
        "name"
    ]
    for rendition in ("thumb", "square"):
        thumbnail = aws.get(f"thumbnails/{rendition}/{name}")["Data"]
        assert_clean_thumbnail(thumbnail, "image/jpeg")
        for secret in (b"secret comment", b"TestCam", b"Model X", b"GPS"):
            assert secret not in thumbnail


def crlf_events(filename: str) -> dict[str, dict[str, Any]]:
    data = corpus.small_png()
    # RFC 2231 lets a form carry any byte in the file name, CR and LF included.
    disposition = f"form-data; name=\"file\"; filename*=UTF-8''{quote(filename, safe='')}"
    form = (
        f"--{corpus.BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        + data
        + f"\r\n--{corpus.BOUNDARY}--\r\n".encode()
    )
    return {
        "x-filename": upload_event(data, "image/png", {"X-Filename": filename}),
        "json": upload_event(corpus.json_form(corpus.b64(data), filename), "application/json"),
        "multipart": upload_event(form, corpus.MULTIPART),
    }


@pytest.mark.parametrize("label", list(corpus.CRLF_FILENAMES))
@pytest.mark.parametrize("form", ["x-filename", "json", "multipart"])
def test_file_names_with_line_breaks_never_reach_headers_or_the_record(
    functions: Functions, aws: Aws, context: LambdaContext, label: str, form: str
) -> None:
    event = crlf_events(corpus.CRLF_FILENAMES[label])[form]
    response = functions.upload.handler(event, context)

    assert response["statusCode"] == 201, response["body"]
    for header, value in headers_of(response).items():
        assert not any(c in header + str(value) for c in CONTROL), (header, value)
    assert not any(h.lower() in ("set-cookie", "x-injected") for h in headers_of(response))
    body = json.loads(response["body"])
    assert body["filename"]  # kept, cleaned: not silently dropped
    assert not any(c in body["filename"] for c in CONTROL)
    assert "/" not in body["filename"]
    assert "\\" not in body["filename"]
    assert aws.get(f"originals/{body['name']}")["Metadata"] == {}
    record = aws.record(body["id"])
    assert record is not None
    assert record["filename"] == body["filename"]


def test_thousands_of_frames_cost_one_frame(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = corpus.many_frame_gif(frames=3000)
    with Image.open(io.BytesIO(data)) as gif:
        assert getattr(gif, "n_frames", 1) == 3000
    started = time.perf_counter()
    response = functions.upload.handler(upload_event(data, "image/gif"), context)
    upload_s = time.perf_counter() - started
    assert response["statusCode"] == 201, response["body"]
    name = json.loads(response["body"])["name"]
    (message,) = aws.sqs.receive_message(QueueUrl=functions.upload.CONFIG.queue_url)["Messages"]

    started = time.perf_counter()
    result = functions.worker.handler(sqs_event(message["Body"]), context)
    render_s = time.perf_counter() - started

    assert result == {"batchItemFailures": []}
    # Decoding all 3000 frames takes seconds; the first frame alone takes milliseconds
    # (measured ~5 ms each). The bound leaves room for a busy machine.
    assert upload_s < 1.0, upload_s
    assert render_s < 1.0, render_s
    with Image.open(io.BytesIO(aws.get(f"thumbnails/thumb/{name}")["Data"])) as thumb:
        assert getattr(thumb, "n_frames", 1) == 1
    assert object_keys(aws.s3, BUCKET) == sorted(names.image_keys(name, ("thumb", "square")))


def test_base64_body_is_decoded_once_never_twice(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """A raw upload of base64 text is text, not an image: API Gateway already decoded it."""
    text = base64.b64encode(corpus.small_png())
    response = functions.upload.handler(upload_event(text, "image/png"), context)
    assert response["statusCode"] == 415
    assert object_keys(aws.s3, BUCKET) == []
