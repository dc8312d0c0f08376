"""POST /uploads: a ticket for one direct upload, or a refusal before anything is signed."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any

import pytest

from tests.faults.test_unit_faults import FAULTS, flaky
from tests.functions.conftest import (
    MAX_DIRECT_UPLOAD_BYTES,
    Aws,
    Functions,
    LambdaContext,
    error_of,
    headers_of,
)
from tests.functions.test_catalogue import catalogue_event


def post_uploads(functions: Functions, context: LambdaContext, body: Any) -> dict[str, Any]:
    event = catalogue_event("POST", None)
    event.update(resource="/uploads", path="/uploads", pathParameters=None)
    event["requestContext"].update(resourcePath="/uploads", path="/dev/uploads")
    event["headers"]["Content-Type"] = "application/json"
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    response: dict[str, Any] = functions.tickets.handler(event, context)
    return response


def test_a_ticket_signs_one_post_for_exactly_its_key_size_and_type(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    started = time.time()
    request = {"filename": "../DCIM/IMG_0042.HEIC", "content_type": "image/heic", "size": 12345}
    response = post_uploads(functions, context, request)
    assert response["statusCode"] == 201, response["body"]
    body = json.loads(response["body"])
    image_id = body["id"]
    assert headers_of(response)["Location"].endswith(f"/images/{image_id}")
    assert headers_of(response)["Cache-Control"] == "no-store"
    assert (body["status"], body["name"], body["filename"]) == ("uploading", None, "IMG_0042.HEIC")
    assert body["links"] == {"image": None, "thumbnail": None, "status": f"/images/{image_id}"}
    assert len(base64.urlsafe_b64decode(body["delete_token"] + "==")) * 8 >= 128

    upload = body["upload"]
    fields = upload["fields"]
    assert fields["key"] == f"incoming/{image_id}"
    assert fields["Content-Type"] == "image/heic"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"key": f"incoming/{image_id}"} in policy["conditions"]
    assert {"Content-Type": "image/heic"} in policy["conditions"]
    assert ["content-length-range", 1, MAX_DIRECT_UPLOAD_BYTES] in policy["conditions"]
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
    assert 14 * 60 < expiration - started < 16 * 60
    shown = datetime.fromisoformat(upload["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(shown - expiration) <= 2

    record = aws.record(image_id)
    assert record is not None
    assert record["status"] == "uploading"
    assert "feed" not in record  # not listed until its bytes are an image
    assert 86_000 < record["expires_at"] - started < 87_000  # TTL: the bucket's one day


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "filename": "a.jpg",
                "content_type": "image/jpeg",
                "size": MAX_DIRECT_UPLOAD_BYTES + 1,
            },
            (413, "PayloadTooLarge"),
        ),
        (
            {"filename": "a.svg", "content_type": "image/svg+xml", "size": 10},
            (415, "UnsupportedMediaType"),
        ),
        (
            {"filename": "a.tif", "content_type": "image/tiff", "size": 10},
            (415, "UnsupportedMediaType"),
        ),
        (
            {"filename": "a.html", "content_type": "text/html", "size": 10},
            (415, "UnsupportedMediaType"),
        ),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, (400, "MalformedRequest")),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": "12"},
            (400, "MalformedRequest"),
        ),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": True},
            (400, "MalformedRequest"),
        ),
        ({"filename": "a.jpg", "content_type": "image/jpeg"}, (400, "MalformedRequest")),
        ({"filename": "a.jpg", "size": 10}, (400, "MalformedRequest")),
        ({"filename": 7, "content_type": "image/jpeg", "size": 10}, (400, "MalformedRequest")),
        ("[1, 2]", (400, "MalformedRequest")),
        ("{not json", (400, "MalformedRequest")),
        ("[" * 100_000, (400, "MalformedRequest")),
    ],
    ids=[
        "too-large",
        "svg",
        "tiff",
        "html",
        "size-zero",
        "size-string",
        "size-bool",
        "no-size",
        "no-type",
        "filename-number",
        "not-an-object",
        "broken-json",
        "nested-json",
    ],
)
def test_a_ticket_out_of_bounds_is_refused_before_anything_is_signed_or_written(
    functions: Functions, aws: Aws, context: LambdaContext, body: Any, expected: Any
) -> None:
    assert error_of(post_uploads(functions, context, body)) == expected
    assert aws.record_ids() == []


def test_a_heif_declaration_is_accepted(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    request = {"filename": "a.heif", "content_type": "image/heif", "size": 10}
    assert post_uploads(functions, context, request)["statusCode"] == 201


@pytest.mark.parametrize("fault", ["ServiceUnavailable-503", "connection-refused"])
def test_a_table_fault_is_a_503_and_no_ticket(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str
) -> None:
    client = functions.tickets.catalogue.client
    request = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}
    with flaky(client, "put_item", FAULTS[fault]("PutItem")):
        response = post_uploads(functions, context, request)
    assert error_of(response) == (503, "ServiceUnavailable")
    assert aws.record_ids() == []
