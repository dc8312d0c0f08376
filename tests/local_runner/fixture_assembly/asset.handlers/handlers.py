"""Test-only functions for the runner's own tests; never part of the product."""

import contextlib
import json
import os
import time
from typing import Any, NoReturn, Protocol

# Typed like user code would be: the event is API Gateway's JSON, the context is whatever
# object the runtime hands over (only the attributes `echo` reports are relied upon).
Event = dict[str, Any]
Response = dict[str, Any]


class Context(Protocol):
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int
    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


CALLS = {"count": 0}  # module global: survives between warm invocations


def echo(event: Event, context: Context) -> Response:
    CALLS["count"] += 1
    body = {
        "event": event,
        "calls": CALLS["count"],
        "pid": os.getpid(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("FIXTURE_", "AWS_"))},
        "context": {
            "function_name": context.function_name,
            "aws_request_id": context.aws_request_id,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def binary(event: Event, context: Context) -> Response:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": event["body"] or "",
        "isBase64Encoded": True,
    }


def boom(event: Event, context: Context) -> NoReturn:
    raise RuntimeError("this handler always crashes")


def exit_process(event: Event, context: Context) -> NoReturn:
    os._exit(3)


def slow(event: Event, context: Context) -> Response:
    time.sleep(float((event.get("queryStringParameters") or {}).get("s", "5")))
    return {"statusCode": 200, "body": "done"}


def malformed(event: Event, context: Context) -> str:
    return "not a proxy response"


def import_pillow(event: Event, context: Context) -> Response:
    import PIL  # noqa: F401  (this function has no layer that provides Pillow)

    return {"statusCode": 200, "body": "imported"}


def collect(event: Event, context: Context) -> Response:
    return {"batchItemFailures": []}


def aws_calls(event: Event, context: Context) -> Response:
    """`event["calls"]` S3 ListBuckets calls, each allowed to fail: what a fault plan counts."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client(
        "s3", config=Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})
    )
    for _ in range(event["calls"]):
        with contextlib.suppress(BotoCoreError, ClientError):  # only the attempt counts
            s3.list_buckets()
    return {"statusCode": 200, "body": "made every call"}
