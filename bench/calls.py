"""AWS calls per operation: what each request costs in S3, DynamoDB and SQS calls, against the
fewest the design needs (and CloudFront's, for a deletion).

    python -m bench.calls      (prints JSON; `make bench` writes the table)

Runs the functions in-process against moto (`mock_aws`, fake credentials), in a fresh
interpreter, and counts every call their clients make through botocore's own `before-call`
events: one upload, the worker's job for it, a page of the feed, a look-up, both downloads,
and a deletion; then a signed-in user's upload, ticket, feed page, own page, change of
visibility and deletion.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.cases import BUCKET, FUNCTION_ENVIRONMENT, QUEUE, TABLE

ROOT = Path(__file__).resolve().parent.parent

# The fewest calls each operation can make, and why.
MINIMUM: dict[str, dict[str, int]] = {
    # The bytes, the record that makes them an image, the job that makes the thumbnails.
    "upload": {"s3.PutObject": 1, "dynamodb.PutItem": 1, "sqs.SendMessage": 1},
    # Read the original once, write each of the two renditions as JPEG and as WebP, record
    # the outcome.
    "rendered job": {"s3.GetObject": 1, "s3.PutObject": 4, "dynamodb.UpdateItem": 1},
    "feed page": {"dynamodb.Query": 1},
    "look-up": {"dynamodb.GetItem": 1},
    # The record first (does the image exist, for whom, are its thumbnails made), then the
    # bytes it promises.
    "original download": {"dynamodb.GetItem": 1, "s3.GetObject": 1},
    "thumbnail download": {"dynamodb.GetItem": 1, "s3.GetObject": 1},
    # Read the record (its token's hash, compared in constant time here, and its keys), hide
    # it (one conditional write), remove every object (one batch), take it off the edge
    # caches (one invalidation of its two paths), remove the record.
    "delete": {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 1,
        "s3.DeleteObjects": 1,
        "cloudfront.CreateInvalidation": 1,
        "dynamodb.DeleteItem": 1,
    },
    # Signed in: an upload as above (the owner is in the record, no token).
    "signed-in upload": {"s3.PutObject": 1, "dynamodb.PutItem": 1, "sqs.SendMessage": 1},
    # The owner's open tickets (one Query on the owner index), then the ticket's record.
    "signed-in ticket": {"dynamodb.Query": 1, "dynamodb.PutItem": 1},
    # The page, then which of its ids are the caller's (the feed index holds no owner).
    "signed-in feed page": {"dynamodb.Query": 2},
    "own images page": {"dynamodb.Query": 1},
    # Read it (owner, status), one conditional write, and its paths off the edge caches.
    "made private": {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 1,
        "cloudfront.CreateInvalidation": 1,
    },
    "owner's delete": {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 1,
        "s3.DeleteObjects": 1,
        "cloudfront.CreateInvalidation": 1,
        "dynamodb.DeleteItem": 1,
    },
}
# The optional authorizer's context for a signed-in caller, as API Gateway hands it over.
SIGNED_IN = {
    "principalId": "b0c1d2e3-0000-4000-8000-000000000001",
    "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench",
    "sub": "b0c1d2e3-0000-4000-8000-000000000001",
    "email": "bench@example.com",
}

ENVIRONMENT = {
    **FUNCTION_ENVIRONMENT,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# DISTRIBUTION_ID is set to a distribution in moto before the functions are imported.


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"


def _event(method: str, path: str, resource: str, **parts: Any) -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {
            "Host": "bench.example",
            "X-Forwarded-Proto": "https",
            **parts.get("headers", {}),
        },
        "multiValueHeaders": None,
        "queryStringParameters": parts.get("query"),
        "multiValueQueryStringParameters": None,
        "pathParameters": parts.get("params"),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/dev{path}",
            "stage": "dev",
            "requestId": "bench",
            "domainName": "bench.example",
            "identity": {"sourceIp": "127.0.0.1"},
            **({"authorizer": parts["authorizer"]} if "authorizer" in parts else {}),
        },
        "body": parts.get("body"),
        "isBase64Encoded": parts.get("body") is not None,
    }


def _distribution(cloudfront: Any) -> str:
    """A distribution in front of the API, for the deletion to invalidate; its id."""
    origin = {
        "Id": "api",
        "DomainName": "bench.example",
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
        },
    }
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "bench",
            "Comment": "",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [origin]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "api",
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",  # CachingDisabled
            },
        }
    )
    distribution_id: str = created["Distribution"]["Id"]
    return distribution_id


def _measure_here() -> dict[str, dict[str, int]]:
    import io

    import boto3
    from image_service.contract import catalogue_keys
    from moto import mock_aws
    from PIL import Image

    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("sqs").create_queue(QueueName=QUEUE)
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **catalogue_keys())
        os.environ["DISTRIBUTION_ID"] = _distribution(boto3.client("cloudfront"))
        modules = {
            name: importlib.import_module(f"image_service.{name}")
            for name in (
                "upload",
                "thumbnail_worker",
                "catalogue",
                "download_image",
                "download_thumbnail",
                "tickets",
            )
        }
        calls: Counter[str] = Counter()

        def count(event_name: str, **kwargs: Any) -> None:
            _, service, operation = event_name.split(".")[:3]
            calls[f"{service}.{operation}"] += 1

        for module in modules.values():
            for client in (getattr(module, "s3", None), getattr(module, "sqs", None)):
                if client is not None:
                    client.meta.events.register("before-call", count)
            catalogue = getattr(module, "catalogue", None)
            if catalogue is not None:
                catalogue.client.meta.events.register("before-call", count)
        modules["catalogue"].edge_client().meta.events.register("before-call", count)
        context = Context()
        measured: dict[str, dict[str, int]] = {}

        def run(label: str, call: Any) -> Any:
            calls.clear()
            result = call()
            measured[label] = dict(sorted(calls.items()))
            return result

        photo = io.BytesIO()
        Image.new("RGB", (1600, 1200), (90, 140, 200)).save(photo, "JPEG", quality=90)
        body = base64.b64encode(photo.getvalue()).decode()
        created = run(
            "upload",
            lambda: modules["upload"].handler(
                _event(
                    "POST", "/upload", "/upload", body=body, headers={"Content-Type": "image/jpeg"}
                ),
                context,
            ),
        )
        image = json.loads(created["body"])
        job = boto3.client("sqs").receive_message(QueueUrl=ENVIRONMENT["QUEUE_URL"])["Messages"][0]
        record = {
            "messageId": "m",
            "receiptHandle": "r",
            "body": job["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        run(
            "rendered job",
            lambda: modules["thumbnail_worker"].handler({"Records": [record]}, context),
        )
        catalogue = modules["catalogue"].handler
        run("feed page", lambda: catalogue(_event("GET", "/images", "/images"), context))
        by_id = {"params": {"id": image["id"]}}
        path = f"/images/{image['id']}"
        run("look-up", lambda: catalogue(_event("GET", path, "/images/{id}", **by_id), context))
        name = image["name"]
        run(
            "original download",
            lambda: modules["download_image"].handler(
                _event("GET", f"/download/{name}", "/download/{name}", params={"name": name}),
                context,
            ),
        )
        run(
            "thumbnail download",
            lambda: modules["download_thumbnail"].handler(
                _event(
                    "GET",
                    f"/download-thumbnail/{name}",
                    "/download-thumbnail/{name}",
                    params={"name": name},
                ),
                context,
            ),
        )
        token = {"X-Delete-Token": image["delete_token"]}
        deleted = run(
            "delete",
            lambda: catalogue(
                _event("DELETE", path, "/images/{id}", headers=token, **by_id), context
            ),
        )
        if deleted["statusCode"] != 204:
            raise RuntimeError(f"delete answered {deleted['statusCode']}: {deleted['body']}")

        user = {"authorizer": SIGNED_IN}
        owned = json.loads(
            run(
                "signed-in upload",
                lambda: modules["upload"].handler(
                    _event(
                        "POST",
                        "/upload",
                        "/upload",
                        body=body,
                        headers={"Content-Type": "image/jpeg"},
                        **user,
                    ),
                    context,
                ),
            )["body"]
        )
        ticket = json.dumps({"filename": "a.jpg", "content_type": "image/jpeg", "size": 5_000_000})
        run(
            "signed-in ticket",
            lambda: modules["tickets"].handler(
                _event(
                    "POST",
                    "/uploads",
                    "/uploads",
                    body=base64.b64encode(ticket.encode()).decode(),
                    headers={"Content-Type": "application/json"},
                    **user,
                ),
                context,
            ),
        )
        run(
            "signed-in feed page",
            lambda: catalogue(_event("GET", "/images", "/images", **user), context),
        )
        run(
            "own images page",
            lambda: catalogue(_event("GET", "/me/images", "/me/images", **user), context),
        )
        by_id = {"params": {"id": owned["id"]}}
        path = f"/images/{owned['id']}"
        private = base64.b64encode(json.dumps({"visibility": "private"}).encode()).decode()
        changed = run(
            "made private",
            lambda: catalogue(
                _event("PATCH", path, "/images/{id}", body=private, **by_id, **user), context
            ),
        )
        if changed["statusCode"] != 200:
            raise RuntimeError(f"PATCH answered {changed['statusCode']}: {changed['body']}")
        deleted = run(
            "owner's delete",
            lambda: catalogue(_event("DELETE", path, "/images/{id}", **by_id, **user), context),
        )
        if deleted["statusCode"] != 204:
            raise RuntimeError(f"delete answered {deleted['statusCode']}: {deleted['body']}")
    return measured


def measure() -> dict[str, dict[str, int]]:
    """The calls of each operation, counted in a fresh interpreter (module-level clients and
    configuration are created at import, as on Lambda)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.calls", "--here"],
        cwd=ROOT,
        env={**os.environ, **ENVIRONMENT, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda_src'}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"counting calls failed:\n{done.stderr[-3000:]}")
    result: dict[str, dict[str, int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(measured: dict[str, dict[str, int]]) -> list[str]:
    lines = ["| operation | calls | minimum | at the minimum |", "|---|---|---|---|"]
    for operation, minimum in MINIMUM.items():
        made = measured.get(operation, {})

        def show(counts: dict[str, int]) -> str:
            return ", ".join(f"{n} {call}" for call, n in sorted(counts.items())) or "none"

        met = "yes" if made == minimum else "NO"
        lines.append(f"| {operation} | {show(made)} | {show(minimum)} | {met} |")
    return lines


if __name__ == "__main__":
    if "--here" in sys.argv:
        print(json.dumps(_measure_here()))
    else:
        print(json.dumps(measure(), indent=1))
