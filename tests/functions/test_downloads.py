"""GET /download/{name} and GET /download-thumbnail/{name}."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from samples import images
from tests.functions.conftest import (
    BUCKET,
    FUNCTION_ENV,
    Aws,
    Functions,
    LambdaContext,
    body_of,
    download_event,
    error_of,
    headers_of,
)

ID = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"
NAME = f"{ID}.jpg"
ROOT = Path(__file__).resolve().parents[2]

INVALID_NAMES = {
    "dot-dot": "..",
    "traversal": "../originals/" + NAME,
    "encoded-slash": f"..%2F..%2F{NAME}",
    "encoded-slash-lower": f"..%2f{NAME}",
    "slash": f"a/{NAME}",
    "backslash": f"..\\{NAME}",
    "nul": f"{ID}\x00.jpg",
    "encoded-nul": f"{ID}%00.jpg",
    "space": f"{ID} .jpg",
    "encoded-space": f"{ID}%20.jpg",
    "cyrillic-look-alike": NAME.replace("A", "\u0410"),
    "fullwidth-digit": "\uff10" + NAME[1:],
    "lowercase-id": NAME.lower(),
    "letter-U-not-in-alphabet": "U" + NAME[1:],
    "id-too-short": NAME[1:],
    "id-too-long": "0" + NAME,
    "overlong": "A" * 5000 + ".jpg",
    "unknown-extension": f"{ID}.bmp",
    "uppercase-extension": f"{ID}.JPG",
    "double-extension": f"{NAME}.png",
    "no-extension": ID,
    "trailing-newline": NAME + "\n",
    "empty": "",
    "bad-percent-encoding": f"{ID}%ZZ.jpg",
    "invalid-utf8-encoding": f"{ID}%C0%AF.jpg",
}


@pytest.mark.parametrize("route", ["download", "download-thumbnail"])
@pytest.mark.parametrize("name", list(INVALID_NAMES.values()), ids=list(INVALID_NAMES))
def test_invalid_names_are_refused_before_any_storage_call(
    functions: Functions, aws: Aws, context: LambdaContext, route: str, name: str
) -> None:
    module = functions.download_image if route == "download" else functions.download_thumbnail
    calls: list[str] = []
    module.s3.meta.events.register("before-call.s3", lambda **kw: calls.append(kw["event_name"]))
    try:
        response = module.handler(download_event(route, name), context)
    finally:
        module.s3.meta.events.unregister("before-call.s3")
    assert error_of(response) == (400, "InvalidName")
    assert calls == []


def test_missing_path_parameter_is_invalid(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    response = functions.download_image.handler(download_event("download", None), context)
    assert error_of(response) == (400, "InvalidName")


def test_percent_encoded_valid_name_is_accepted(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME)
    event = download_event("download", NAME.replace(".", "%2E"))
    assert functions.download_image.handler(event, context)["statusCode"] == 200


def test_original_is_returned_with_its_headers(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.jpeg(64, 48)
    aws.put(f"originals/{NAME}", data)
    aws.add_record(NAME)
    event = download_event("download", NAME, {"Origin": "https://photos.example.org"})
    response = functions.download_image.handler(event, context)
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert body_of(response) == data
    headers = headers_of(response)
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["ETag"] == aws.get(f"originals/{NAME}")["ETag"]
    assert "max-age=" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_unexpected_stored_type_is_served_as_opaque_bytes(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", b"<html><script>", content_type="text/html")
    aws.add_record(NAME)
    response = functions.download_image.handler(download_event("download", NAME), context)
    assert headers_of(response)["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
        ('W/"other", "another"', 200),
    ],
)
def test_conditional_get(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    if_none_match: str,
    status: int,
) -> None:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME)
    etag = aws.get(f"originals/{NAME}")["ETag"]
    headers = {"if-none-match": if_none_match.format(etag=etag)}
    response = functions.download_image.handler(download_event("download", NAME, headers), context)
    assert response["statusCode"] == status
    assert headers_of(response)["ETag"] == etag
    # The representation's own type, on a 304 too (never the JSON type of an error).
    assert headers_of(response)["Content-Type"] == "image/jpeg"
    if status == 304:
        assert response["body"] == ""


def test_large_original_redirects_to_a_short_lived_presigned_url(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", b"\xff\xd8\xff" + bytes(4_000_000))
    aws.add_record(NAME)
    response = functions.download_image.handler(download_event("download", NAME), context)
    assert response["statusCode"] == 307
    assert response["body"] == ""
    url = urlsplit(headers_of(response)["Location"])
    assert url.path.endswith(f"/originals/{NAME}")
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["300"]
    # S3 answers the URL with these, whatever the object's metadata says (signed, so fixed).
    assert query["response-content-type"] == ["image/jpeg"]
    assert query["response-content-disposition"] == [f'inline; filename="{NAME}"']


def test_a_large_original_of_an_unexpected_stored_type_redirects_as_opaque_bytes(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", b"<html>" + bytes(4_000_000), content_type="text/html")
    aws.add_record(NAME)
    response = functions.download_image.handler(download_event("download", NAME), context)
    assert response["statusCode"] == 307
    query = parse_qs(urlsplit(headers_of(response)["Location"]).query)
    assert query["response-content-type"] == ["application/octet-stream"]


def test_unknown_original_is_not_found(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    response = functions.download_image.handler(download_event("download", NAME), context)
    assert error_of(response) == (404, "NotFound")
    assert "Retry-After" not in headers_of(response)


def thumbnail(functions: Functions, context: LambdaContext, **query: str) -> dict[str, Any]:
    # `headers` is named so mypy does not take the query keywords for it.
    response: dict[str, Any] = functions.download_thumbnail.handler(
        download_event("download-thumbnail", NAME, headers=None, **query), context
    )
    return response


def test_default_and_named_renditions(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", images.jpeg(64, 48))
    aws.put(f"thumbnails/thumb/{NAME}", b"thumb-bytes")
    aws.put(f"thumbnails/square/{NAME}", b"square-bytes", content_type="image/webp")
    aws.add_ready(NAME, webp=False)
    default = thumbnail(functions, context)
    square = thumbnail(functions, context, size="square")
    assert (default["statusCode"], body_of(default)) == (200, b"thumb-bytes")
    assert headers_of(default)["Content-Type"] == "image/jpeg"
    assert (square["statusCode"], body_of(square)) == (200, b"square-bytes")
    assert headers_of(square)["Content-Type"] == "image/webp"
    for response in (default, square):
        assert headers_of(response)["X-Content-Type-Options"] == "nosniff"
        assert headers_of(response)["ETag"]
        assert "max-age=" in headers_of(response)["Cache-Control"]


def test_thumbnail_conditional_get(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    aws.put(f"thumbnails/thumb/{NAME}", b"thumb-bytes")
    aws.add_ready(NAME, webp=False)
    etag = aws.get(f"thumbnails/thumb/{NAME}")["ETag"]
    event = download_event("download-thumbnail", NAME, {"If-None-Match": etag})
    response = functions.download_thumbnail.handler(event, context)
    assert response["statusCode"] == 304
    assert headers_of(response)["Content-Type"] == "image/jpeg"


def test_a_large_originals_304_carries_its_own_type(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", b"\xff\xd8\xff" + bytes(4_000_000))
    aws.add_record(NAME)
    etag = aws.get(f"originals/{NAME}")["ETag"]
    event = download_event("download", NAME, {"If-None-Match": etag})
    response = functions.download_image.handler(event, context)
    assert response["statusCode"] == 304
    assert headers_of(response)["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("size", ["huge", "_failed", "../thumb", "THUMB", ""])
def test_unknown_rendition(
    functions: Functions, aws: Aws, context: LambdaContext, size: str
) -> None:
    response = thumbnail(functions, context, size=size)
    if size == "":  # an empty ?size= means the default
        assert error_of(response) == (404, "NotFound")
    else:
        assert error_of(response) == (400, "UnknownRendition")


def test_pending_while_the_original_waits_for_its_thumbnail(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME, "pending")
    response = thumbnail(functions, context)
    assert error_of(response) == (404, "ThumbnailPending")
    assert int(headers_of(response)["Retry-After"]) > 0
    assert headers_of(response)["Cache-Control"] == "no-store"


def test_failed_once_the_worker_gave_up(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", images.truncated_jpeg())
    aws.add_record(NAME, "failed", error={"code": "InvalidImage", "message": "x"})
    response = thumbnail(functions, context, size="square")
    assert error_of(response) == (404, "ThumbnailFailed")
    assert "Retry-After" not in headers_of(response)


def test_unknown_image_has_no_thumbnail(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    response = thumbnail(functions, context)
    assert error_of(response) == (404, "NotFound")
    assert "Retry-After" not in headers_of(response)


def test_an_image_being_deleted_has_no_thumbnail(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME, "deleting")
    assert error_of(thumbnail(functions, context)) == (404, "NotFound")


def test_the_status_comes_from_the_catalogue_not_from_the_bucket(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """A record is the truth: an original without a record (a half-deleted image, say) is no
    image, and a pending record needs no original to answer ThumbnailPending."""
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    assert error_of(thumbnail(functions, context)) == (404, "NotFound")
    aws.s3.delete_object(Bucket=BUCKET, Key=f"originals/{NAME}")
    aws.add_record(NAME, "pending")
    assert error_of(thumbnail(functions, context)) == (404, "ThumbnailPending")


def test_download_functions_never_load_pillow() -> None:
    code = (
        "import sys, image_service.download_image, image_service.download_thumbnail;"
        "loaded = sorted(m for m in sys.modules if m == 'PIL' or m.startswith('PIL.'));"
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    env = {**os.environ, **FUNCTION_ENV, "PYTHONPATH": str(ROOT / "lambda_src")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _both_formats(aws: Aws) -> None:
    aws.put(f"thumbnails/thumb/{NAME}", b"jpeg-bytes", content_type="image/jpeg")
    aws.put(f"thumbnails/thumb/{NAME}.webp", b"webp-bytes", content_type="image/webp")
    aws.add_ready(NAME)


@pytest.mark.parametrize(
    ("query", "accept", "served", "varies"),
    [
        ({}, "image/avif,image/webp,image/apng,image/*,*/*;q=0.8", b"webp-bytes", True),
        ({}, "image/*", b"jpeg-bytes", True),
        ({}, "image/webp;q=0", b"jpeg-bytes", True),
        ({}, None, b"jpeg-bytes", True),
        ({"format": "webp"}, None, b"webp-bytes", False),
        ({"format": "jpeg"}, "image/webp", b"jpeg-bytes", False),
    ],
    ids=[
        "browser-accepts-webp",
        "no-webp",
        "webp-refused",
        "no-accept",
        "asked-webp",
        "asked-jpeg",
    ],
)
def test_webp_when_the_client_takes_it(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    query: dict[str, str],
    accept: str | None,
    served: bytes,
    varies: bool,
) -> None:
    _both_formats(aws)
    headers = {"Accept": accept} if accept else {}
    event = download_event("download-thumbnail", NAME, headers, **query)
    response = functions.download_thumbnail.handler(event, context)
    assert response["statusCode"] == 200
    assert body_of(response) == served
    content_type = "image/webp" if served == b"webp-bytes" else "image/jpeg"
    assert headers_of(response)["Content-Type"] == content_type
    assert (headers_of(response).get("Vary") == "Accept") is varies


def test_a_thumbnail_made_before_webp_copies_is_served_as_it_is(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    aws.put(f"thumbnails/thumb/{NAME}", b"jpeg-bytes", content_type="image/jpeg")
    aws.add_ready(NAME, webp=False)  # its record lists no WebP copy
    event = download_event("download-thumbnail", NAME, None, format="webp")
    response = functions.download_thumbnail.handler(event, context)
    assert (response["statusCode"], body_of(response)) == (200, b"jpeg-bytes")


@pytest.mark.parametrize("value", ["png", "WEBP", "../webp", "avif"])
def test_an_unknown_format_is_refused(
    functions: Functions, aws: Aws, context: LambdaContext, value: str
) -> None:
    _both_formats(aws)
    event = download_event("download-thumbnail", NAME, None, format=value)
    assert error_of(functions.download_thumbnail.handler(event, context)) == (
        400,
        "UnknownFormat",
    )
