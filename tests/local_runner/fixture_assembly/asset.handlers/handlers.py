"""Test-only functions for the runner's own tests; never part of the product."""

import json
import os
import time

CALLS = {"count": 0}  # module global: survives between warm invocations


def echo(event, context):
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


def binary(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": event["body"] or "",
        "isBase64Encoded": True,
    }


def boom(event, context):
    raise RuntimeError("this handler always crashes")


def exit_process(event, context):
    os._exit(3)


def slow(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("s", "5")))
    return {"statusCode": 200, "body": "done"}


def malformed(event, context):
    return "not a proxy response"


def import_pillow(event, context):
    import PIL  # noqa: F401  (this function has no layer that provides Pillow)

    return {"statusCode": 200, "body": "imported"}


def collect(event, context):
    return {"batchItemFailures": []}
