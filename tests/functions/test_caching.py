"""What every route tells caches, for every status it answers; where a new image's Location
points for a client that came through the distribution; and the invalidation of a deletion.

The distribution keeps what these headers allow and nothing else (its cache policies have a
minimum TTL of 0, tests/infra/test_delivery.py), so these are the caching rules themselves.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from image_service.contract import EDGE_HEADER, EDGE_HEADER_VALUE

from samples import images
from tests.functions.conftest import (
    ALICE,
    BOB,
    Aws,
    Functions,
    LambdaContext,
    as_user,
    download_event,
    error_of,
    headers_of,
    upload_event,
)
from tests.functions.test_catalogue import catalogue_event

ID = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"
NAME = f"{ID}.jpg"
YEAR = 31_536_000
EDGE = {EDGE_HEADER: EDGE_HEADER_VALUE}
PUBLIC_HOST = "d111111abcdef8.cloudfront.net"

# What a cache may do with an answer: keep the image for a year, keep a 404 for 10 seconds,
# keep nothing, or (a private image, to its owner) keep nothing and share nothing.
IMAGE, MISSING, NOTHING, OWNER_ONLY = "image", "missing", "nothing", "owner only"


def expected_cache_control(kind: str, scope: str) -> str:
    return {
        IMAGE: f"{scope}, max-age={YEAR}, immutable",
        MISSING: f"{scope}, max-age=10",
        NOTHING: "no-store",
        OWNER_ONLY: "private, no-store",
    }[kind]


def failing(client: Any, operation: str) -> Callable[[], None]:
    """Make `operation` on `client` fail as an S3 or DynamoDB outage would; returns the undo."""
    event = f"before-call.{client.meta.service_model.service_name}.{operation}"

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, operation)

    client.meta.events.register(event, fail)
    return lambda: client.meta.events.unregister(event, fail)


@dataclasses.dataclass(frozen=True)
class Case:
    status: int
    code: str | None  # the error code, None for a success
    kind: str
    call: Callable[[Functions, Aws, LambdaContext, dict[str, str]], dict[str, Any]]


def original(headers: dict[str, str], **extra: str) -> dict[str, Any]:
    return download_event("download", NAME, {**headers, **extra})


def thumb(headers: dict[str, str], name: str = NAME, **query: str) -> dict[str, Any]:
    return download_event("download-thumbnail", name, dict(headers), **query)


def _private(aws: Aws) -> None:
    """A private image of Alice's, whose thumbnails are made."""
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.put(f"thumbnails/thumb/{NAME}", b"thumb-bytes")
    aws.put(f"thumbnails/thumb/{NAME}.webp", b"webp-bytes", content_type="image/webp")
    aws.add_ready(NAME, owner=ALICE, visibility="private")


def _download_ok(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME)
    response: dict[str, Any] = f.download_image.handler(original(h), c)
    return response


def _download_304(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.put(f"originals/{NAME}", images.jpeg(32, 32))
    aws.add_record(NAME)
    etag = aws.get(f"originals/{NAME}")["ETag"]
    response: dict[str, Any] = f.download_image.handler(original(h, **{"If-None-Match": etag}), c)
    return response


def _download_307(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.put(f"originals/{NAME}", b"\xff\xd8\xff" + bytes(4_000_000))
    aws.add_record(NAME)
    response: dict[str, Any] = f.download_image.handler(original(h), c)
    return response


def _private_download(caller: Any, **extra: str) -> Callable[..., dict[str, Any]]:
    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        _private(aws)
        if extra.get("If-None-Match") == "current":
            extra["If-None-Match"] = aws.get(f"originals/{NAME}")["ETag"]
        event = as_user(original(h, **extra), caller)
        response: dict[str, Any] = f.download_image.handler(event, c)
        return response

    return call


def _private_thumbnail(
    caller: Any, status: str = "ready", *, made: bool = True, **query: str
) -> Callable[..., dict[str, Any]]:
    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        if status == "ready" and made:
            _private(aws)
        else:
            aws.add_record(NAME, status, owner=ALICE, visibility="private")
        event = as_user(thumb(h, **query), caller)
        response: dict[str, Any] = f.download_thumbnail.handler(event, c)
        return response

    return call


def _download_invalid(
    f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]
) -> dict[str, Any]:
    response: dict[str, Any] = f.download_image.handler(
        download_event("download", "../x.jpg", dict(h)), c
    )
    return response


def _download_missing(
    f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]
) -> dict[str, Any]:
    response: dict[str, Any] = f.download_image.handler(original(h), c)
    return response


def _download_down(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.add_record(NAME)
    undo = failing(f.download_image.s3, "GetObject")
    try:
        response: dict[str, Any] = f.download_image.handler(original(h), c)
    finally:
        undo()
    return response


def _thumb_ok(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.put(f"thumbnails/square/{NAME}", b"square-bytes")
    aws.add_ready(NAME, webp=False)
    response: dict[str, Any] = f.download_thumbnail.handler(thumb(h, size="square"), c)
    return response


def _thumb_304(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.put(f"thumbnails/thumb/{NAME}", b"thumb-bytes")
    aws.add_ready(NAME, webp=False)
    etag = aws.get(f"thumbnails/thumb/{NAME}")["ETag"]
    response: dict[str, Any] = f.download_thumbnail.handler(thumb({**h, "If-None-Match": etag}), c)
    return response


def _thumb_with(status: str | None, **fields: Any) -> Callable[..., dict[str, Any]]:
    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        if status is not None:
            aws.add_record(NAME, status, **fields)
        response: dict[str, Any] = f.download_thumbnail.handler(thumb(h), c)
        return response

    return call


def _thumb_invalid(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    response: dict[str, Any] = f.download_thumbnail.handler(thumb(h, name=NAME.lower()), c)
    return response


def _thumb_unknown_size(
    f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]
) -> dict[str, Any]:
    response: dict[str, Any] = f.download_thumbnail.handler(thumb(h, size="huge"), c)
    return response


def _thumb_down(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    aws.add_ready(NAME)
    undo = failing(f.download_thumbnail.s3, "GetObject")
    try:
        response: dict[str, Any] = f.download_thumbnail.handler(thumb(h), c)
    finally:
        undo()
    return response


def _upload(body: bytes) -> Callable[..., dict[str, Any]]:
    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        response: dict[str, Any] = f.upload.handler(upload_event(body, headers=h), c)
        return response

    return call


def _upload_down(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    undo = failing(f.upload.s3, "PutObject")
    try:
        response: dict[str, Any] = f.upload.handler(upload_event(images.png(), headers=h), c)
    finally:
        undo()
    return response


def _catalogue(
    method: str, image_id: str | None, token: str | None = None, **query: str
) -> Callable[..., dict[str, Any]]:
    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        stored = aws.add_record(NAME, "ready")
        headers = {**h, "X-Delete-Token": stored if token == "own" else (token or "")}
        response: dict[str, Any] = f.catalogue.handler(
            catalogue_event(method, image_id, headers, **query), c
        )
        return response

    return call


def _owned(
    method: str, caller: Any, body: dict[str, str] | None = None, *, mine: bool = False
) -> Callable[..., dict[str, Any]]:
    """A route a person calls (PATCH /images/{id}, GET /me/images) on Alice's image."""

    def call(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
        aws.add_record(NAME, "ready", owner=ALICE, visibility="private")
        event = catalogue_event(method, None if mine else ID, dict(h))
        if mine:
            event.update(resource="/me/images", path="/me/images")
        if body is not None:
            event["body"] = json.dumps(body)
        response: dict[str, Any] = f.catalogue.handler(as_user(event, caller, via="pool"), c)
        return response

    return call


def _catalogue_down(f: Functions, aws: Aws, c: LambdaContext, h: dict[str, str]) -> dict[str, Any]:
    undo = failing(f.catalogue.catalogue.client, "Query")
    try:
        response: dict[str, Any] = f.catalogue.handler(catalogue_event("GET", None, dict(h)), c)
    finally:
        undo()
    return response


CASES: dict[str, Case] = {
    # GET /download/{name}
    "download 200": Case(200, None, IMAGE, _download_ok),
    "download 304": Case(304, None, IMAGE, _download_304),
    # Never kept: the presigned URL it points to lives 300 s.
    "download 307": Case(307, None, NOTHING, _download_307),
    "download 400 InvalidName": Case(400, "InvalidName", NOTHING, _download_invalid),
    "download 404 NotFound": Case(404, "NotFound", MISSING, _download_missing),
    "download 503": Case(503, "ServiceUnavailable", NOTHING, _download_down),
    # GET /download-thumbnail/{name}
    "thumbnail 200": Case(200, None, IMAGE, _thumb_ok),
    "thumbnail 304": Case(304, None, IMAGE, _thumb_304),
    "thumbnail 400 InvalidName": Case(400, "InvalidName", NOTHING, _thumb_invalid),
    "thumbnail 400 UnknownRendition": Case(400, "UnknownRendition", NOTHING, _thumb_unknown_size),
    # Never kept: the thumbnail is moments away.
    "thumbnail 404 ThumbnailPending": Case(
        404, "ThumbnailPending", NOTHING, _thumb_with("pending")
    ),
    "thumbnail 404 ThumbnailPending uploading": Case(
        404, "ThumbnailPending", NOTHING, _thumb_with("uploading")
    ),
    "thumbnail 404 ThumbnailFailed": Case(
        404,
        "ThumbnailFailed",
        MISSING,
        _thumb_with("failed", error={"code": "InvalidImage", "message": "x"}),
    ),
    "thumbnail 404 NotFound": Case(404, "NotFound", MISSING, _thumb_with(None)),
    "thumbnail 404 NotFound deleting": Case(404, "NotFound", MISSING, _thumb_with("deleting")),
    "thumbnail 404 NotFound in this size": Case(404, "NotFound", MISSING, _thumb_with("ready")),
    "thumbnail 503": Case(503, "ServiceUnavailable", NOTHING, _thumb_down),
    # POST /upload
    "upload 201": Case(201, None, NOTHING, _upload(images.png())),
    "upload 400": Case(400, "MalformedRequest", NOTHING, _upload(b"")),
    "upload 413": Case(
        413, "PayloadTooLarge", NOTHING, _upload(b"\xff\xd8\xff" + bytes(1_000_001))
    ),
    "upload 415": Case(415, "UnsupportedMediaType", NOTHING, _upload(images.random_bytes())),
    "upload 422": Case(422, "InvalidImage", NOTHING, _upload(images.truncated_jpeg())),
    "upload 503": Case(503, "ServiceUnavailable", NOTHING, _upload_down),
    # GET /images, GET and DELETE /images/{id}
    "feed 200": Case(200, None, NOTHING, _catalogue("GET", None)),
    "feed 400 InvalidLimit": Case(400, "InvalidLimit", NOTHING, _catalogue("GET", None, limit="0")),
    "feed 400 InvalidCursor": Case(
        400, "InvalidCursor", NOTHING, _catalogue("GET", None, cursor="eyJ2IjoxfQ")
    ),
    "feed 503": Case(503, "ServiceUnavailable", NOTHING, _catalogue_down),
    "look-up 200": Case(200, None, NOTHING, _catalogue("GET", ID)),
    "look-up 400": Case(400, "InvalidName", NOTHING, _catalogue("GET", ID.lower())),
    "look-up 404": Case(404, "NotFound", NOTHING, _catalogue("GET", "01JDXK9V3Q8ZJ4W6M2T5R7Y0AC")),
    "delete 204": Case(204, None, NOTHING, _catalogue("DELETE", ID, "own")),
    "delete 403": Case(403, "Forbidden", NOTHING, _catalogue("DELETE", ID, "wrong")),
    "delete 404": Case(
        404, "NotFound", NOTHING, _catalogue("DELETE", "01JDXK9V3Q8ZJ4W6M2T5R7Y0AC")
    ),
    # A private image: never kept by a shared cache, whoever asks. To its owner, not kept at
    # all; to anyone else exactly what an unknown image gets.
    "private download 200, owner": Case(200, None, OWNER_ONLY, _private_download(ALICE)),
    "private download 304, owner": Case(
        304, None, OWNER_ONLY, _private_download(ALICE, **{"If-None-Match": "current"})
    ),
    "private download 404, another user": Case(404, "NotFound", MISSING, _private_download(BOB)),
    "private download 404, anonymous": Case(404, "NotFound", MISSING, _private_download(None)),
    "private thumbnail 200, owner": Case(200, None, OWNER_ONLY, _private_thumbnail(ALICE)),
    "private thumbnail 200 WebP, owner": Case(
        200, None, OWNER_ONLY, _private_thumbnail(ALICE, format="webp")
    ),
    "private thumbnail 404 ThumbnailPending, owner": Case(
        404, "ThumbnailPending", NOTHING, _private_thumbnail(ALICE, "pending")
    ),
    "private thumbnail 404 ThumbnailFailed, owner": Case(
        404, "ThumbnailFailed", OWNER_ONLY, _private_thumbnail(ALICE, "failed")
    ),
    "private thumbnail 404 NotFound in this size, owner": Case(
        404, "NotFound", OWNER_ONLY, _private_thumbnail(ALICE, made=False)
    ),
    "private thumbnail 404, another user": Case(404, "NotFound", MISSING, _private_thumbnail(BOB)),
    "private thumbnail 404, anonymous": Case(404, "NotFound", MISSING, _private_thumbnail(None)),
    # The routes only a person calls.
    "change 200": Case(200, None, NOTHING, _owned("PATCH", ALICE, {"visibility": "public"})),
    "change 404, another user": Case(
        404, "NotFound", NOTHING, _owned("PATCH", BOB, {"visibility": "public"})
    ),
    "change 400 InvalidVisibility": Case(
        400, "InvalidVisibility", NOTHING, _owned("PATCH", ALICE, {"visibility": "friends"})
    ),
    "own images 200": Case(200, None, NOTHING, _owned("GET", ALICE, mine=True)),
}

# (the stage's SHARED_CACHES, whether the request came through the distribution) -> the scope
# of what may be kept.
STAGES = {
    "open stage, direct": ("any", False, "public"),
    "open stage, through the edge": ("any", True, "public"),
    "key required, direct": ("edge", False, "private"),
    "key required, through the edge": ("edge", True, "public"),
}


@pytest.fixture(params=list(STAGES), ids=list(STAGES))
def stage(
    request: pytest.FixtureRequest, functions: Functions, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], str]:
    shared_caches, through_edge, scope = STAGES[request.param]
    for module in (functions.download_image, functions.download_thumbnail):
        config = dataclasses.replace(module.CONFIG, shared_caches=shared_caches)
        monkeypatch.setattr(module, "CONFIG", config)
    return (EDGE if through_edge else {}), scope


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_every_route_and_status_tells_caches_what_they_may_keep(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    stage: tuple[dict[str, str], str],
    case: Case,
) -> None:
    headers, scope = stage
    response = case.call(functions, aws, context, headers)
    if case.code is None:
        assert response["statusCode"] == case.status, response["body"]
    else:
        assert error_of(response) == (case.status, case.code)
    assert headers_of(response)["Cache-Control"] == expected_cache_control(case.kind, scope)


def test_the_headers_table_covers_every_status_the_contract_names() -> None:
    covered = {(case.status, case.code) for case in CASES.values()}
    assert {
        (200, None),
        (304, None),
        (307, None),
        (404, "ThumbnailPending"),
        (404, "ThumbnailFailed"),
        (404, "NotFound"),
        (201, None),
        (204, None),
    } <= covered


# --- Location through the distribution -----------------------------------------------------


@pytest.fixture
def behind_a_distribution(functions: Functions, monkeypatch: pytest.MonkeyPatch) -> str:
    config = dataclasses.replace(functions.upload.CONFIG, public_host=PUBLIC_HOST)
    monkeypatch.setattr(functions.upload, "CONFIG", config)
    return PUBLIC_HOST


def location(functions: Functions, context: LambdaContext, headers: dict[str, str]) -> str:
    response = functions.upload.handler(upload_event(images.png(), headers=headers), context)
    assert response["statusCode"] == 201, response["body"]
    name = json.loads(response["body"])["name"]
    found = headers_of(response)["Location"]
    assert found.endswith(f"/download/{name}")
    return found.removesuffix(f"/download/{name}")


def test_through_the_distribution_location_names_its_host_without_the_stage(
    functions: Functions, aws: Aws, context: LambdaContext, behind_a_distribution: str
) -> None:
    assert location(functions, context, EDGE) == f"https://{PUBLIC_HOST}"


def test_called_directly_location_names_the_api_and_its_stage(
    functions: Functions, aws: Aws, context: LambdaContext, behind_a_distribution: str
) -> None:
    assert location(functions, context, {}) == (
        "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
    )


def test_no_header_can_put_another_host_in_location(
    functions: Functions, aws: Aws, context: LambdaContext, behind_a_distribution: str
) -> None:
    forged = {
        **EDGE,
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "http",
    }
    assert location(functions, context, forged) == f"https://{PUBLIC_HOST}"
    # A wrong value of the edge header is no edge at all.
    other = {EDGE_HEADER: "evil.example"}
    assert location(functions, context, other).startswith("https://abc123.execute-api.")


def test_without_a_distribution_the_edge_header_changes_nothing(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    # As in the local runner: PUBLIC_HOST is empty.
    assert functions.upload.CONFIG.public_host == ""
    assert location(functions, context, EDGE) == (
        "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
    )


# --- deletion takes the image off the edge -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Distribution:
    cloudfront: Any
    id: str

    def invalidations(self) -> list[dict[str, Any]]:
        listed = self.cloudfront.list_invalidations(DistributionId=self.id)["InvalidationList"]
        return [
            self.cloudfront.get_invalidation(DistributionId=self.id, Id=item["Id"])["Invalidation"][
                "InvalidationBatch"
            ]
            for item in listed.get("Items", [])
        ]


@pytest.fixture
def distribution(functions: Functions, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Distribution:
    """A distribution of its own in moto, and the catalogue function configured with its id."""
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": str(uuid.uuid4()),
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "api",
                        "DomainName": "abc123.execute-api.us-east-1.amazonaws.com",
                        "CustomOriginConfig": {
                            "HTTPPort": 80,
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "api",
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            },
        }
    )["Distribution"]
    catalogue = functions.catalogue
    config = dataclasses.replace(catalogue.CONFIG, distribution_id=created["Id"])
    monkeypatch.setattr(catalogue, "CONFIG", config)
    monkeypatch.setattr(catalogue, "edge_client", lambda: cloudfront)
    return Distribution(cloudfront, created["Id"])


def uploaded(functions: Functions, context: LambdaContext) -> dict[str, Any]:
    response = functions.upload.handler(upload_event(images.png()), context)
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_a_deletion_invalidates_the_original_and_every_thumbnail_variant(
    functions: Functions, aws: Aws, context: LambdaContext, distribution: Distribution
) -> None:
    image = uploaded(functions, context)
    headers = {"X-Delete-Token": image["delete_token"]}
    response = functions.catalogue.handler(catalogue_event("DELETE", image["id"], headers), context)
    assert response["statusCode"] == 204
    assert distribution.invalidations() == [
        {
            "Paths": {
                "Quantity": 2,
                "Items": [
                    f"/download/{image['name']}",
                    # Every size and format: the query strings are in the cache key.
                    f"/download-thumbnail/{image['name']}*",
                ],
            },
            # A retried deletion sends the same batch, which CloudFront does not repeat.
            "CallerReference": f"delete-{image['id']}",
        }
    ]


def test_a_refused_deletion_invalidates_nothing(
    functions: Functions, aws: Aws, context: LambdaContext, distribution: Distribution
) -> None:
    image = uploaded(functions, context)
    refused = {"X-Delete-Token": "wrong"}
    response = functions.catalogue.handler(catalogue_event("DELETE", image["id"], refused), context)
    assert error_of(response) == (403, "Forbidden")
    assert distribution.invalidations() == []


def test_a_failed_invalidation_answers_503_and_the_retry_finishes_the_deletion(
    functions: Functions, aws: Aws, context: LambdaContext, distribution: Distribution
) -> None:
    image = uploaded(functions, context)
    headers = {"X-Delete-Token": image["delete_token"]}
    event = catalogue_event("DELETE", image["id"], headers)
    undo = failing(distribution.cloudfront, "CreateInvalidation")
    try:
        response = functions.catalogue.handler(event, context)
    finally:
        undo()
    assert error_of(response) == (503, "ServiceUnavailable")
    assert int(headers_of(response)["Retry-After"]) > 0
    # Hidden and its bytes gone, but the record stays until the edge is told.
    assert aws.record(image["id"])["status"] == "deleting"  # type: ignore[index]
    assert not [k for k in aws.object_keys() if image["id"] in k]
    assert distribution.invalidations() == []
    assert functions.catalogue.handler(event, context)["statusCode"] == 204
    assert aws.record(image["id"]) is None
    assert len(distribution.invalidations()) == 1


def test_without_a_distribution_a_deletion_calls_no_cloudfront(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the local runner: DISTRIBUTION_ID is empty, so there is no CloudFront client.
    assert functions.catalogue.CONFIG.distribution_id == ""

    def no_client() -> None:
        raise AssertionError("a CloudFront client was asked for")

    monkeypatch.setattr(functions.catalogue, "edge_client", no_client)
    image = uploaded(functions, context)
    headers = {"X-Delete-Token": image["delete_token"]}
    response = functions.catalogue.handler(catalogue_event("DELETE", image["id"], headers), context)
    assert response["statusCode"] == 204
