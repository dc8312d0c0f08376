"""Test-only functions for the runner's own tests; never part of the product."""

import contextlib
import json
import os
import time
import urllib.request
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


# The REQUEST authorizer, as the stack's optional one works: a present token must be a valid
# ID token of the pool (signature against the JWKS at JWKS_URL, issuer, audience, token use,
# expiry); no token is let through as anonymous. Test knobs: `?deny=1` answers Deny, and
# `?broken=1` a context API Gateway refuses. The context names what the event held, so a
# test sees it in the function's `requestContext.authorizer`.
_JWKS: dict[str, Any] = {}


def authorize(event: Event, context: Context) -> Response:
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    query = event.get("queryStringParameters") or {}
    token = (headers.get("authorization") or "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    seen = {
        "eventType": event["type"],
        "eventKeys": ",".join(sorted(event)),
        "methodArn": event["methodArn"],
        "eventPath": event["path"],
    }
    if not token:
        principal, values = "anonymous", seen
    else:
        if "keys" not in _JWKS:
            with urllib.request.urlopen(os.environ["JWKS_URL"], timeout=5) as answer:
                _JWKS["keys"] = KeySet.import_key_set(json.load(answer))
        try:
            claims = jwt.decode(token, _JWKS["keys"], algorithms=["RS256"]).claims
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": os.environ["TOKEN_ISSUER"]},
                aud={"essential": True, "value": os.environ["TOKEN_AUDIENCE"]},
                token_use={"essential": True, "value": "id"},
                exp={"essential": True},
            ).validate(claims)
        except (JoseError, ValueError) as error:
            raise Exception("Unauthorized") from error  # API Gateway: 401
        principal = claims["sub"]
        values = {**seen, "iss": claims["iss"], "sub": claims["sub"], "email": claims["email"]}
    if query.get("broken"):
        values = {**values, "nested": {"not": "allowed"}}
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny" if query.get("deny") else "Allow",
                    "Resource": event["methodArn"],
                }
            ],
        },
        "context": {**values, "number": 7, "flag": True},
    }
