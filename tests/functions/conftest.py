"""Handler tests: the functions against moto's in-process S3, SQS and DynamoDB.

Each handler module reads its environment and creates its boto3 clients once, at import, as
on Lambda. So the environment is set (for this session only) before they are imported, and
moto is imported before them: moto hooks every botocore client created after its import.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from image_service import records
from image_service.contract import METRICS_NAMESPACE, catalogue_keys
from image_service.identity import Owner
from moto import mock_aws

EVENTS = Path(__file__).resolve().parent / "events"
BUCKET = "image-service-test-bucket"
TABLE = "image-service-test-catalogue"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
MAX_UPLOAD_BYTES = 1_000_000
MAX_DIRECT_UPLOAD_BYTES = 5_000_000
MAX_IMAGE_PIXELS = 10_000_000
MAX_RECEIVE_COUNT = 3
USER_POOL_ID = "us-east-1_TestPool1"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{USER_POOL_ID}"
CLIENT_ID = "gallery-client-id-0123456789"
RENDITIONS = {
    "thumb": {"width": 256, "height": 256, "fit": "contain"},
    "square": {"width": 320, "height": 320, "fit": "cover"},
}
FUNCTION_ENV = {
    "BUCKET_NAME": BUCKET,
    "TABLE_NAME": TABLE,
    "QUEUE_URL": QUEUE_URL,
    "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    "MAX_DIRECT_UPLOAD_BYTES": str(MAX_DIRECT_UPLOAD_BYTES),
    "MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
    "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    "RENDITIONS": json.dumps(RENDITIONS, separators=(",", ":")),
    "DEFAULT_RENDITION": "thumb",
    "CORS_ORIGINS": "*",
    # No distribution in front, as in the local runner (tests that need one set it).
    "PUBLIC_HOST": "",
    "DISTRIBUTION_ID": "",
    "SHARED_CACHES": "any",
    # The optional authorizer's user pool; its keys come from the tests (tests/functions/tokens).
    "TOKEN_ISSUER": ISSUER,
    "TOKEN_AUDIENCE": CLIENT_ID,
    "JWKS_URL": f"{ISSUER}/.well-known/jwks.json",
    "POWERTOOLS_SERVICE_NAME": "image-service",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
}


@dataclass(frozen=True)
class Functions:
    upload: ModuleType
    download_image: ModuleType
    download_thumbnail: ModuleType
    catalogue: ModuleType
    tickets: ModuleType
    worker: ModuleType
    authorizer: ModuleType


@pytest.fixture(scope="session")
def functions() -> Iterator[Functions]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FUNCTION_ENV.items():
            patch.setenv(name, value)
        yield Functions(
            upload=importlib.import_module("image_service.upload"),
            download_image=importlib.import_module("image_service.download_image"),
            download_thumbnail=importlib.import_module("image_service.download_thumbnail"),
            catalogue=importlib.import_module("image_service.catalogue"),
            tickets=importlib.import_module("image_service.tickets"),
            worker=importlib.import_module("image_service.thumbnail_worker"),
            authorizer=importlib.import_module("image_service.authorizer"),
        )


def create_catalogue_table(dynamodb: Any, name: str) -> None:
    """The catalogue's keys and feed index, as the stack declares them. Idempotent, like
    the bucket and queue creation: several test folders share one in-process moto."""
    if name in dynamodb.list_tables()["TableNames"]:
        return
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **catalogue_keys())


@dataclass(frozen=True)
class Aws:
    s3: Any
    sqs: Any
    dynamodb: Any

    def record(self, image_id: str) -> dict[str, Any] | None:
        """The catalogue record as the functions read it (None when there is none)."""
        found = records.Catalogue(self.dynamodb, TABLE).get(image_id)
        return found

    def add_record(
        self,
        name: str,
        status: str = "pending",
        owner: Owner | None = None,
        visibility: str = "public",
        **fields: Any,
    ) -> str:
        """A catalogue record for `name` as an upload writes it (then `status`, `fields`);
        returns the delete token (of an anonymous upload; an owned one has none)."""
        token = "token-" + name
        record = records.pending_record(
            image_id=name.split(".", 1)[0],
            name=name,
            content_type="image/jpeg",
            size=1234,
            width=64,
            height=48,
            filename="photo.jpg",
            token_hash=None if owner else records.token_hash(token),
            owner=owner,
            visibility=visibility,
        )
        record.update(status=status, **fields)
        record = {key: value for key, value in record.items() if value is not None}
        records.Catalogue(self.dynamodb, TABLE).create(record)
        return token

    def add_ready(self, name: str, *, webp: bool = True, **fields: Any) -> str:
        """A `ready` record for `name` whose thumbnails are made in both renditions (with
        their WebP copies unless `webp` is False), as the worker writes it; its delete token."""
        made = {
            rendition: {
                "content_type": "image/jpeg",
                "width": box["width"],
                "height": box["height"],
                "bytes": 100,
                **({"webp_bytes": 80} if webp else {}),
            }
            for rendition, box in RENDITIONS.items()
        }
        return self.add_record(name, "ready", renditions=made, **fields)

    def record_ids(self) -> list[str]:
        items = self.dynamodb.scan(TableName=TABLE).get("Items", [])
        return sorted(item["id"]["S"] for item in items)

    def object_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def get(self, key: str) -> dict[str, Any]:
        response = self.s3.get_object(Bucket=BUCKET, Key=key)
        response["Data"] = response["Body"].read()
        return dict(response)

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)

    def messages(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in received.get("Messages", [])]


@pytest.fixture(scope="session")
def _moto(functions: Functions) -> Iterator[Aws]:
    # One emulator for the session (starting one per test costs more than most tests);
    # `aws` empties it between tests instead.
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sqs.create_queue(QueueName="jobs")
        create_catalogue_table(dynamodb, TABLE)
        yield Aws(s3, sqs, dynamodb)


@pytest.fixture
def aws(_moto: Aws) -> Aws:
    """The session's emulator, emptied of what the test before left: in as few requests as
    it takes (each costs a few milliseconds of moto's, times every test here)."""
    keys = _moto.object_keys()
    if keys:
        _moto.s3.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
    counts = _moto.sqs.get_queue_attributes(
        QueueUrl=QUEUE_URL,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    if any(int(count) for count in counts.values()):
        # A fresh queue: PurgeQueue is limited to once a minute, also in moto.
        _moto.sqs.delete_queue(QueueUrl=QUEUE_URL)
        _moto.sqs.create_queue(QueueName="jobs")
    ids = _moto.record_ids()
    for start in range(0, len(ids), 25):  # BatchWriteItem's limit
        _moto.dynamodb.batch_write_item(
            RequestItems={
                TABLE: [
                    {"DeleteRequest": {"Key": {"id": {"S": image_id}}}}
                    for image_id in ids[start : start + 25]
                ]
            }
        )
    return _moto


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "5b6b1a5c-0000-4000-8000-000000000000"


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def upload_event(
    body: bytes, content_type: str = "image/jpeg", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST /upload as API Gateway delivers it with binaryMediaTypes */*: base64 body."""
    event = load_event("api_upload.json")
    event["headers"]["Content-Type"] = content_type
    event["headers"].update(headers or {})
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    return event


def download_event(
    route: str, name: str | None, headers: dict[str, str] | None = None, **query: str
) -> dict[str, Any]:
    """GET /<route>/{name}; `name` is the path parameter exactly as API Gateway hands it over."""
    event = copy.deepcopy(load_event("api_download.json"))
    event["resource"] = f"/{route}/{{name}}"
    event["path"] = f"/{route}/{name}"
    event["requestContext"]["path"] = f"/dev/{route}/{name}"
    event["pathParameters"] = None if name is None else {"name": name}
    event["headers"].update(headers or {})
    event["queryStringParameters"] = query or None
    return event


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    template = load_event("sqs_job.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"message-{index}"
        record["body"] = body
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def job_body(name: str, bucket: str = BUCKET) -> str:
    return json.dumps({"v": 1, "bucket": bucket, "key": f"originals/{name}", "id": name[:26]})


def body_of(response: dict[str, Any]) -> bytes:
    if response["isBase64Encoded"]:
        return base64.b64decode(response["body"])
    return str(response["body"]).encode()


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    """A proxy response's headers, whichever of `headers` / `multiValueHeaders` carries them."""
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(value) for value in values)
    return headers


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    payload = json.loads(response["body"])
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message"}
    return response["statusCode"], payload["error"]["code"]


# --- callers -------------------------------------------------------------------------------

ALICE = Owner(ISSUER, "11111111-aaaa-4aaa-8aaa-111111111111")
BOB = Owner(ISSUER, "22222222-bbbb-4bbb-8bbb-222222222222")


def as_user(event: dict[str, Any], owner: Owner | None, *, via: str = "optional") -> dict[str, Any]:
    """`event` as API Gateway hands it over after its authorizer let `owner` through (None:
    anonymously): `via` "optional" (the REQUEST authorizer's context) or "pool" (Cognito's
    user-pool authorizer: the ID token's claims, every value a string)."""
    event = copy.deepcopy(event)
    context = event.setdefault("requestContext", {})
    if via == "pool":
        if owner is None:
            raise ValueError("the user-pool authorizer lets no anonymous request through")
        context["authorizer"] = {
            "claims": {
                "sub": owner.subject,
                "iss": owner.issuer,
                "aud": CLIENT_ID,
                "token_use": "id",
                "email": f"{owner.subject[:8]}@example.com",
                "email_verified": "true",
                "auth_time": "1700000000",
                "exp": "Wed Nov 15 00:13:20 UTC 2023",
                "iat": "Tue Nov 14 23:13:20 UTC 2023",
            }
        }
    elif owner is None:
        context["authorizer"] = {"principalId": "anonymous", "integrationLatency": 12}
    else:
        context["authorizer"] = {
            "principalId": owner.subject,
            "iss": owner.issuer,
            "sub": owner.subject,
            "email": f"{owner.subject[:8]}@example.com",
            "integrationLatency": 12,
        }
    return event
