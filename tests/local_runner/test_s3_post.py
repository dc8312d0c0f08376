"""The POST policy gate in front of moto: what S3 refuses, the local runner refuses too."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from werkzeug.test import Client

from local_runner.s3_post import CorsRule, PostPolicyGate

BUCKET = "images"
KEY = "incoming/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"
LIMIT = 1000
ORIGIN = "http://127.0.0.1:3000"


class Moto:
    """Stands in for moto's app: records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("204 No Content", [("ETag", '"abc"')])
        return [b""]


def presigned(expires_in: int = 900) -> dict[str, Any]:
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1",  # never contacted: presigning is local
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        config=Config(signature_version="s3v4"),
    )
    post: dict[str, Any] = s3.generate_presigned_post(
        Bucket=BUCKET,
        Key=KEY,
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, LIMIT]],
        ExpiresIn=expires_in,
    )
    return post


@pytest.fixture
def gate() -> tuple[Client, Moto]:
    moto = Moto()
    rules = (CorsRule(methods=("POST",), origins=(ORIGIN,), headers=("*",), expose=("ETag",)),)
    app = PostPolicyGate(moto, {BUCKET: rules}, {"testing": "testing"})
    return Client(app), moto


def upload(
    client: Client,
    fields: dict[str, str],
    data: bytes | None = b"\xff\xd8\xffjpeg",
    headers: dict[str, str] | None = None,
) -> Any:
    form: dict[str, Any] = dict(fields)
    if data is not None:
        form["file"] = (io.BytesIO(data), "photo.jpg", "image/jpeg")
    # A browser's form upload is multipart even without a file in it.
    return client.post(
        f"/{BUCKET}", data=form, headers=headers or {}, content_type="multipart/form-data"
    )


def error(response: Any) -> tuple[int, str]:
    body = response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/xml"
    code = body.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return response.status_code, code


def test_a_valid_upload_reaches_the_bucket(gate: tuple[Client, Moto]) -> None:
    client, moto = gate
    response = upload(client, presigned()["fields"])
    assert response.status_code == 204
    assert moto.calls == [f"POST /{BUCKET}"]


@pytest.mark.parametrize(
    ("change", "data", "expected"),
    [
        ({}, b"x" * (LIMIT + 1), (400, "EntityTooLarge")),
        ({}, b"", (400, "EntityTooSmall")),
        ({}, None, (400, "InvalidArgument")),
        ({"key": "incoming/01JDXK9V3Q8ZJ4W6M2T5R7Y0AC"}, b"x", (403, "AccessDenied")),
        ({"key": "originals/x.jpg"}, b"x", (403, "AccessDenied")),
        ({"Content-Type": "text/html"}, b"x", (403, "AccessDenied")),
        ({"x-amz-signature": "0" * 64}, b"x", (403, "SignatureDoesNotMatch")),
        ({"acl": "public-read"}, b"x", (403, "AccessDenied")),
        (
            {"x-amz-credential": "someone/20261129/us-east-1/s3/aws4_request"},
            b"x",
            (403, "InvalidAccessKeyId"),
        ),
    ],
    ids=[
        "oversize",
        "empty",
        "no-file",
        "another-ticket-key",
        "another-prefix",
        "wrong-type",
        "tampered-signature",
        "extra-field",
        "unknown-access-key",
    ],
)
def test_a_violation_gets_s3s_error_and_stores_nothing(
    gate: tuple[Client, Moto], change: dict[str, str], data: bytes | None, expected: Any
) -> None:
    client, moto = gate
    fields = {**presigned()["fields"], **change}
    assert error(upload(client, fields, data)) == expected
    assert moto.calls == []


def test_a_loosened_policy_no_longer_matches_its_signature(gate: tuple[Client, Moto]) -> None:
    client, moto = gate
    fields = presigned()["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [
        c
        for c in policy["conditions"]
        if not (isinstance(c, list) and c[0] == "content-length-range")
    ]
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    assert error(upload(client, fields, b"x" * (LIMIT + 1))) == (403, "SignatureDoesNotMatch")
    assert moto.calls == []


def test_an_expired_ticket_is_refused() -> None:
    moto = Moto()
    later = time.time() + 901
    app = PostPolicyGate(moto, {BUCKET: ()}, {"testing": "testing"}, clock=lambda: later)
    response = upload(Client(app), presigned(expires_in=900)["fields"])
    status, code = error(response)
    assert (status, code) == (403, "AccessDenied")
    assert "Policy expired" in response.get_data(as_text=True)
    assert moto.calls == []


def test_cors_preflight_and_answer_for_the_allowed_origin(gate: tuple[Client, Moto]) -> None:
    client, _ = gate
    preflight = client.options(
        f"/{BUCKET}",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    response = upload(client, presigned()["fields"], headers={"Origin": ORIGIN})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"


def test_cors_refuses_another_origin(gate: tuple[Client, Moto]) -> None:
    client, _ = gate
    preflight = client.options(
        f"/{BUCKET}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert error(preflight) == (403, "AccessForbidden")
    response = upload(client, presigned()["fields"], headers={"Origin": "https://evil.example"})
    assert response.status_code == 204  # S3 stores it; the browser withholds the answer
    assert "Access-Control-Allow-Origin" not in response.headers


def test_other_buckets_and_requests_pass_through() -> None:
    moto = Moto()
    client = Client(PostPolicyGate(moto, {BUCKET: ()}, {"testing": "testing"}))
    client.post("/another-bucket", data={"file": (io.BytesIO(b"x"), "a")})
    client.get(f"/{BUCKET}/{KEY}")
    assert moto.calls == ["POST /another-bucket", f"GET /{BUCKET}/{KEY}"]
