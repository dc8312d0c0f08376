"""POST /upload: body forms, accepted formats, refusals, and the no-orphan rule."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from samples import images
from tests.functions.conftest import (
    BUCKET,
    MAX_UPLOAD_BYTES,
    QUEUE_URL,
    Aws,
    Functions,
    LambdaContext,
    error_of,
    headers_of,
    upload_event,
)

NAME_PATTERN = r"[0-7][0-9A-HJKMNP-TV-Z]{25}\.(jpg|png|gif|webp)"


BOUNDARY = "----form-boundary-7MA4YWxkTrZu0gW"


def multipart(data: bytes, field: str = "file", filename: str = "holiday.jpg") -> tuple[bytes, str]:
    boundary = BOUNDARY
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="caption"\r\n\r\n'
            "a caption\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def json_form(data: bytes, filename: str = "beach.jpg") -> bytes:
    content = base64.b64encode(data).decode()
    return json.dumps(
        {"file": {"filename": filename, "content": content, "content_type": "image/png"}}
    ).encode()


def assert_created(
    response: dict[str, Any], aws: Aws, data: bytes, ext: str, content_type: str
) -> dict[str, Any]:
    assert response["statusCode"] == 201, response["body"]
    body: dict[str, Any] = json.loads(response["body"])
    assert set(body) == {
        "id",
        "name",
        "status",
        "content_type",
        "size",
        "width",
        "height",
        "filename",
        "created_at",
        "renditions",
        "error",
        "visibility",
        "mine",
        "links",
        "delete_token",
        "thumbnail_status",
    }
    # Anonymous, so public, and nobody's.
    assert (body["visibility"], body["mine"]) == ("public", False)
    name = body["name"]
    assert name == f"{body['id']}.{ext}"
    assert body["content_type"] == content_type
    assert body["size"] == len(data)
    assert (body["status"], body["thumbnail_status"]) == ("pending", "pending")
    assert (body["renditions"], body["error"]) == ({}, None)
    assert body["links"] == {
        "image": f"/download/{name}",
        "thumbnail": f"/download-thumbnail/{name}",
        "status": f"/images/{body['id']}",
    }
    assert headers_of(response)["Location"].endswith(f"/download/{name}")

    stored = aws.get(f"originals/{name}")
    assert stored["Data"] == data
    assert stored["ContentType"] == content_type
    assert stored["Metadata"] == {}  # the bytes only: everything else is in the record

    record = aws.record(body["id"])
    assert record is not None
    public = {k: v for k, v in body.items() if k not in ("delete_token", "thumbnail_status")}
    assert {k: record.get(k) for k in public if k not in ("links", "renditions", "mine")} == {
        k: v for k, v in public.items() if k not in ("links", "renditions", "mine")
    }
    assert "owner" not in record
    # The token is shown once and never stored: only its SHA-256 is.
    assert len(base64.urlsafe_b64decode(body["delete_token"] + "==")) * 8 >= 128
    assert record["delete_token_hash"] == hashlib.sha256(body["delete_token"].encode()).hexdigest()
    assert body["delete_token"] not in json.dumps(record)
    assert aws.messages() == [
        {"v": 1, "bucket": BUCKET, "key": f"originals/{name}", "id": body["id"]}
    ]
    return body


@pytest.mark.parametrize(
    ("make", "ext", "content_type", "size"),
    [
        (images.jpeg, "jpg", "image/jpeg", (640, 480)),
        (images.progressive_jpeg, "jpg", "image/jpeg", (640, 480)),
        (images.cmyk_jpeg, "jpg", "image/jpeg", (320, 240)),
        (images.png, "png", "image/png", (320, 240)),
        (images.palette_png, "png", "image/png", (320, 240)),
        (images.png_16bit, "png", "image/png", (320, 240)),
        (images.png_alpha, "png", "image/png", (320, 240)),
        (images.animated_gif, "gif", "image/gif", (120, 90)),
        (images.webp, "webp", "image/webp", (320, 240)),
        (images.webp_alpha, "webp", "image/webp", (320, 240)),
    ],
)
def test_each_accepted_format_is_stored_and_queued(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    make: Callable[[], bytes],
    ext: str,
    content_type: str,
    size: tuple[int, int],
) -> None:
    data = make()
    # The declared type is deliberately wrong: only the bytes decide.
    response = functions.upload.handler(upload_event(data, "application/octet-stream"), context)
    body = assert_created(response, aws, data, ext, content_type)
    assert (body["width"], body["height"]) == size


def test_raw_body_keeps_the_client_file_name_as_metadata_only(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.jpeg()
    event = upload_event(data, headers={"X-Filename": "../../etc/pl%C3%A4ge%20photo.jpg"})
    body = assert_created(functions.upload.handler(event, context), aws, data, "jpg", "image/jpeg")
    assert body["filename"] == "pläge photo.jpg"
    assert body["name"] != body["filename"]
    record = aws.record(body["id"])
    assert record is not None
    assert record["filename"] == "pläge photo.jpg"


def test_multipart_form_field_file(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    data = images.png()
    form, content_type = multipart(data, filename="holiday.png")
    response = functions.upload.handler(upload_event(form, content_type), context)
    body = assert_created(response, aws, data, "png", "image/png")
    assert body["filename"] == "holiday.png"


def test_json_base64_form(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    data = images.webp()
    response = functions.upload.handler(upload_event(json_form(data), "application/json"), context)
    body = assert_created(response, aws, data, "webp", "image/webp")
    assert body["filename"] == "beach.jpg"


def test_json_form_also_arrives_as_plain_text(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.animated_gif()
    event = upload_event(b"", "application/json")
    event["body"], event["isBase64Encoded"] = json_form(data).decode(), False
    assert_created(functions.upload.handler(event, context), aws, data, "gif", "image/gif")


def test_header_names_in_any_case(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    data = images.png()
    form, content_type = multipart(data)
    event = upload_event(form)
    event["headers"] = {"HOST": "images.example.com", "content-TYPE": content_type}
    response = functions.upload.handler(event, context)
    assert_created(response, aws, data, "png", "image/png")


def test_exif_rotated_jpeg_reports_displayed_dimensions(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.exif_rotated_jpeg(400, 200)
    response = functions.upload.handler(upload_event(data), context)
    body = assert_created(response, aws, data, "jpg", "image/jpeg")
    assert (body["width"], body["height"]) == (200, 400)


@pytest.mark.parametrize(
    ("host_path", "expected"),
    [
        ("/dev/upload", "https://abc123.execute-api.us-east-1.amazonaws.com/dev/download/"),
        ("/upload", "https://abc123.execute-api.us-east-1.amazonaws.com/download/"),
    ],
    ids=["execute-api-with-stage", "custom-domain-without-stage"],
)
def test_location_is_absolute_as_the_client_called_the_api(
    functions: Functions, aws: Aws, context: LambdaContext, host_path: str, expected: str
) -> None:
    event = upload_event(images.png())
    event["requestContext"]["path"] = host_path
    response = functions.upload.handler(event, context)
    name = json.loads(response["body"])["name"]
    assert headers_of(response)["Location"] == expected + name


def test_responses_to_a_cross_origin_request_carry_cors_headers(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    origin = {"Origin": "https://photos.example.org"}
    ok = functions.upload.handler(upload_event(images.png(), headers=origin), context)
    refused = functions.upload.handler(upload_event(b"", headers=origin), context)
    for response in (ok, refused):
        assert headers_of(response)["Access-Control-Allow-Origin"] == "*"
        assert "Location" in headers_of(response)["Access-Control-Expose-Headers"]


def _oversized() -> bytes:
    return b"\xff\xd8\xff" + bytes(MAX_UPLOAD_BYTES)


REFUSED: dict[str, tuple[Callable[[], dict[str, Any]], int, str]] = {
    "empty-body": (lambda: upload_event(b""), 400, "MalformedRequest"),
    "truncated-jpeg": (lambda: upload_event(images.truncated_jpeg()), 422, "InvalidImage"),
    "random-bytes-as-jpeg": (
        lambda: upload_event(images.random_bytes()),
        415,
        "UnsupportedMediaType",
    ),
    "svg-with-script": (
        lambda: upload_event(images.svg_with_script(), "image/svg+xml"),
        415,
        "UnsupportedMediaType",
    ),
    "pdf": (
        lambda: upload_event(images.pdf_document(), "application/pdf"),
        415,
        "UnsupportedMediaType",
    ),
    "tiff": (lambda: upload_event(images.tiff(), "image/tiff"), 415, "UnsupportedMediaType"),
    "png-declaring-30000x30000": (
        lambda: upload_event(images.png_header_declaring(30000, 30000), "image/png"),
        422,
        "InvalidImage",
    ),
    "png-just-over-pixel-limit": (
        lambda: upload_event(images.png_header_declaring(5000, 2001), "image/png"),
        422,
        "InvalidImage",
    ),
    "oversized-raw-body": (lambda: upload_event(_oversized()), 413, "PayloadTooLarge"),
    "oversized-inside-json": (
        lambda: upload_event(json_form(_oversized()), "application/json"),
        413,
        "PayloadTooLarge",
    ),
    "broken-json": (
        lambda: upload_event(b'{"file": ', "application/json"),
        400,
        "MalformedRequest",
    ),
    "json-bad-base64": (
        lambda: upload_event(b'{"file": {"content": "***"}}', "application/json"),
        400,
        "MalformedRequest",
    ),
    "json-without-file": (
        lambda: upload_event(b'{"image": 1}', "application/json"),
        400,
        "MalformedRequest",
    ),
    "multipart-without-file": (
        lambda: upload_event(*multipart(images.png(), field="picture")),
        400,
        "MalformedRequest",
    ),
    "multipart-without-boundary": (
        lambda: upload_event(b"--x\r\n\r\n", "multipart/form-data"),
        400,
        "MalformedRequest",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_uploads_leave_nothing_behind(
    functions: Functions, aws: Aws, context: LambdaContext, case: str
) -> None:
    make_event, status, code = REFUSED[case]
    response = functions.upload.handler(make_event(), context)
    assert error_of(response) == (status, code)
    assert aws.object_keys() == []
    assert aws.messages() == []


@pytest.mark.parametrize(
    "cut",
    [1, 2, 3, len(BOUNDARY) + 3, len(BOUNDARY) + 6],
    ids=["last-dash", "both-dashes", "into-the-boundary", "all-but-a-dash", "all-of-it"],
)
def test_a_multipart_body_cut_short_of_its_closing_boundary_is_malformed(
    functions: Functions, aws: Aws, context: LambdaContext, cut: int
) -> None:
    """A body whose closing boundary is cut short would otherwise end the file with what is
    left of it (`\\r\\n-`, say): nothing of it is stored."""
    form, content_type = multipart(images.jpeg())
    body = form.removesuffix(b"\r\n")  # what `cut` counts from: `...\r\n--<boundary>--`
    response = functions.upload.handler(upload_event(body[:-cut], content_type), context)
    assert error_of(response) == (400, "MalformedRequest")
    assert aws.object_keys() == []
    assert aws.messages() == []


def test_a_multipart_body_ends_with_its_closing_boundary_and_optional_line_breaks(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.png()
    form, content_type = multipart(data)
    for body in (form.removesuffix(b"\r\n"), form + b"\r\n"):
        response = functions.upload.handler(upload_event(body, content_type), context)
        assert_created(response, aws, data, "png", "image/png")


def test_body_that_is_not_base64_is_malformed(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    event = upload_event(b"")
    event["body"] = "not base64!"
    assert error_of(functions.upload.handler(event, context)) == (400, "MalformedRequest")


def test_queue_failure_answers_503_and_removes_the_original(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    refusal = ClientError(
        {"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage"
    )
    with mock.patch.object(functions.upload.sqs, "send_message", side_effect=refusal) as send:
        response = functions.upload.handler(upload_event(images.jpeg()), context)
    assert send.call_args.kwargs["QueueUrl"] == QUEUE_URL
    assert error_of(response) == (503, "ServiceUnavailable")
    assert int(headers_of(response)["Retry-After"]) > 0
    assert aws.object_keys() == []


def test_storage_failure_answers_503_and_queues_nothing(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    refusal = ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")
    with mock.patch.object(functions.upload.s3, "put_object", side_effect=refusal):
        response = functions.upload.handler(upload_event(images.jpeg()), context)
    assert error_of(response) == (503, "ServiceUnavailable")
    assert "Retry-After" in headers_of(response)
    assert aws.messages() == []


def test_unexpected_errors_never_reach_the_client(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    with mock.patch.object(
        functions.upload.imaging, "inspect", side_effect=RuntimeError("secret internals at 0xdead")
    ):
        response = functions.upload.handler(upload_event(images.jpeg()), context)
    assert error_of(response) == (500, "InternalError")
    assert "secret" not in response["body"]
    assert "Traceback" not in response["body"]


def test_ids_are_unique_and_unguessable(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.png(16, 16)
    names = {
        json.loads(functions.upload.handler(upload_event(data), context)["body"])["name"]
        for _ in range(5)
    }
    assert len(names) == 5
    for name in names:
        assert re.fullmatch(NAME_PATTERN, name)


@pytest.mark.parametrize(
    "forged",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Proto": "http"},
        {"Host": "evil.example", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "x"},
    ],
    ids=["host", "proto-javascript", "proto-http", "all"],
)
def test_no_request_header_puts_its_host_or_scheme_in_location(
    functions: Functions, aws: Aws, context: LambdaContext, forged: dict[str, str]
) -> None:
    """Location names the API's own domain as API Gateway reports it, over HTTPS."""
    event = upload_event(images.png(), "image/png", forged)
    response = functions.upload.handler(event, context)
    name = json.loads(response["body"])["name"]
    expected = f"https://abc123.execute-api.us-east-1.amazonaws.com/dev/download/{name}"
    assert headers_of(response)["Location"] == expected


@pytest.mark.parametrize(
    ("domain", "scheme"),
    [
        ("127.0.0.1:3000", "http"),
        ("localhost:3000", "http"),
        ("[::1]:3000", "http"),
        ("127.0.0.1", "http"),
        ("photos.example.com", "https"),
        ("127.0.0.1.example.com", "https"),
        ("localhost.example.com:3000", "https"),
    ],
)
def test_only_a_loopback_api_domain_is_plain_http(
    functions: Functions, aws: Aws, context: LambdaContext, domain: str, scheme: str
) -> None:
    """The local runner reports its own loopback address; API Gateway serves HTTPS only."""
    event = upload_event(images.png(), "image/png", {"X-Forwarded-Proto": "https"})
    event["requestContext"]["domainName"] = domain
    response = functions.upload.handler(event, context)
    name = json.loads(response["body"])["name"]
    assert headers_of(response)["Location"] == f"{scheme}://{domain}/dev/download/{name}"
