"""What the three API functions share: reading a REST (v1.0) proxy event, shaping responses,
CORS, and the one place where exceptions become `{"error": {"code", "message"}}` responses.

Each function serves exactly one route, so there is no router: a router's own "no such route"
answer would escape the error contract (e.g. for a name holding a decoded `/`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_service.errors import InternalError, MalformedRequest, ServiceError
from image_service.storage import StoredObject

Response = dict[str, Any]
NO_STORE = "no-store"
EXPOSED_HEADERS = "ETag, Location, Retry-After"


@dataclass(frozen=True)
class Request:
    """The parts of an API Gateway proxy event the handlers use; header names lower-cased."""

    event: Mapping[str, Any]
    headers: Mapping[str, str]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        return cls(event=event, headers=headers)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def path_parameter(self, name: str) -> str | None:
        value = (self.event.get("pathParameters") or {}).get(name)
        return value if isinstance(value, str) else None

    def query_parameter(self, name: str) -> str | None:
        value = (self.event.get("queryStringParameters") or {}).get(name)
        return value if isinstance(value, str) else None

    @property
    def request_id(self) -> str:
        return str((self.event.get("requestContext") or {}).get("requestId", ""))

    def encoded_body_length(self) -> int:
        return len(self.event.get("body") or "")

    def body_bytes(self) -> bytes:
        body = self.event.get("body") or ""
        if not self.event.get("isBase64Encoded"):
            return body.encode("utf-8") if isinstance(body, str) else bytes(body)
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as err:
            raise MalformedRequest("The request body is not valid base64.") from err

    def base_url(self) -> str:
        """`https://<host>/<stage>`: where this API is reached, as the client called it.

        On the execute-api domain `requestContext.path` carries the stage prefix; behind a
        custom domain (or a local runner serving both) it does not, so the prefix is whatever
        `requestContext.path` has in front of the resource path.
        """
        context = self.event.get("requestContext") or {}
        host = self.header("host") or context.get("domainName") or "localhost"
        # API Gateway always sets X-Forwarded-Proto; a local runner that does not is plain HTTP.
        loopback = host.split(":")[0] in ("127.0.0.1", "localhost") or host.startswith("[::1]")
        default_scheme = "http" if loopback else "https"
        scheme = (self.header("x-forwarded-proto") or default_scheme).split(",")[0].strip()
        path = self.event.get("path") or ""
        full_path = context.get("path") or path
        prefix = full_path[: -len(path)] if path and full_path.endswith(path) else ""
        return f"{scheme}://{host}{prefix.rstrip('/')}"


def json_response(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def binary_response(status: int, body: bytes, headers: Mapping[str, str]) -> Response:
    return {
        "statusCode": status,
        "headers": dict(headers),
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def empty_response(status: int, headers: Mapping[str, str]) -> Response:
    return {"statusCode": status, "headers": dict(headers), "body": "", "isBase64Encoded": False}


def error_response(error: ServiceError) -> Response:
    return json_response(
        error.status,
        {"error": {"code": error.code, "message": error.message}},
        {"Cache-Control": NO_STORE, **error.headers},
    )


def cors_headers(origins: tuple[str, ...], request_origin: str | None) -> dict[str, str]:
    if "*" in origins:
        return {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        }
    if request_origin and request_origin in origins:
        return {
            "Access-Control-Allow-Origin": request_origin,
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }
    return {}


def api_handler(
    logger: Logger, cors_origins: tuple[str, ...]
) -> Callable[[Callable[[Request], Response]], Callable[[dict[str, Any], LambdaContext], Response]]:
    """Wrap `route(request) -> response` as a Lambda handler: errors, CORS, one log line."""

    def wrap(
        route: Callable[[Request], Response],
    ) -> Callable[[dict[str, Any], LambdaContext], Response]:
        @functools.wraps(route)
        @logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
        )
        def handler(event: dict[str, Any], context: LambdaContext) -> Response:
            started = time.perf_counter()
            request = Request.from_event(event)
            code = None
            try:
                response = route(request)
            except ServiceError as error:
                code = error.code
                if error.status >= 500:
                    logger.exception("request failed", extra={"code": code})
                response = error_response(error)
            except Exception:
                code = InternalError.code
                logger.exception("unhandled error")
                response = error_response(InternalError())
            response["headers"].update(cors_headers(cors_origins, request.header("origin")))
            logger.info(
                "request",
                extra={
                    "method": event.get("httpMethod"),
                    "path": event.get("path"),
                    "status": response["statusCode"],
                    "code": code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response

        return handler

    return wrap


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag equal under weak comparison."""
    if not if_none_match or not etag:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def stored_image_response(request: Request, stored: StoredObject, cache_control: str) -> Response:
    """The stored image's bytes, or 304 when the client's copy (If-None-Match) is current."""
    headers = {
        "ETag": stored.etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request.header("if-none-match"), stored.etag):
        stored.close()
        return empty_response(304, headers)
    return binary_response(200, stored.read(), {**headers, "Content-Type": stored.content_type})
