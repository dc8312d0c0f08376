"""What the API functions share: Powertools' REST resolver set up with the service's error
contract and CORS, one log line per request, and the ETag/304 and binary image responses
that Powertools has no helper for.

Every error leaves as `{"error": {"code", "message"}}` with `Cache-Control: no-store` (unless
the route says the error may be kept briefly); an unexpected exception is an `InternalError`
whose details stay in the logs.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_service import names
from image_service.contract import EDGE_HEADER, EDGE_HEADER_VALUE, SharedCaches
from image_service.errors import (
    InternalError,
    InvalidName,
    MalformedRequest,
    NoSuchRoute,
    ServiceError,
)
from image_service.storage import StoredObject

NO_STORE = "no-store"
# A private image, to its owner: no shared cache keeps it (the edge included), and no browser
# stores it either (a shared computer).
OWNER_ONLY = "private, no-store"
EXPOSED_HEADERS = ["ETag", "Location", "Retry-After"]
JSON = "application/json"
# A name is never reused for other bytes, so an image may be kept as long as caches keep
# anything. Deletion takes it off the distribution's edge caches by invalidation.
IMAGE_MAX_AGE = 31_536_000
# "No such image" and "no thumbnail can be made" are kept briefly: long enough to spare the
# functions a burst of requests for a deleted image, short enough not to matter.
MISSING_MAX_AGE = 10

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def error_response(error: ServiceError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type=JSON,
        body={"error": {"code": error.code, "message": error.message}},
        headers={"Cache-Control": NO_STORE, **error.headers},
    )


def rest_function(
    logger: Logger, cors_origins: tuple[str, ...]
) -> tuple[APIGatewayRestResolver, LambdaHandler]:
    """A REST resolver whose every answer, including "no such route", keeps the contract, and
    the Lambda handler that serves it. Routes are added to the resolver afterwards."""
    cors = (
        CORSConfig(
            allow_origin=cors_origins[0],
            extra_origins=list(cors_origins[1:]),
            expose_headers=EXPOSED_HEADERS,
        )
        if cors_origins
        else None
    )
    app = APIGatewayRestResolver(cors=cors)

    def service_error(error: ServiceError) -> Response[Any]:
        logger.append_keys(code=error.code)
        if error.status >= 500:
            logger.exception("request failed")
        return error_response(error)

    def unexpected(error: Exception) -> Response[Any]:
        logger.append_keys(code=InternalError.code)
        logger.exception("unhandled error")
        return error_response(InternalError())

    def no_route(error: NotFoundError) -> Response[Any]:
        # API Gateway matched a resource with path parameters, but the resolver's patterns
        # did not: a parameter holds a character no name has (a decoded "/", say).
        if app.current_event.path_parameters:
            return service_error(InvalidName())
        return service_error(NoSuchRoute())

    app.exception_handler(ServiceError)(service_error)
    app.exception_handler(Exception)(unexpected)
    app.not_found(no_route)
    return app, _lambda_handler(app, logger, cors_origins)


def _lambda_handler(
    app: APIGatewayRestResolver, logger: Logger, cors_origins: tuple[str, ...]
) -> LambdaHandler:
    """Resolve the event, then log one line for the request (with the error code, if any)."""
    # Responses differ by Origin unless every origin is allowed: tell caches so.
    vary_origin = bool(cors_origins) and "*" not in cors_origins

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
    )
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        started = time.perf_counter()
        response = app.resolve(event, context)
        if vary_origin:  # beside what the route varies by (a thumbnail: Accept)
            headers = response.setdefault("multiValueHeaders", {})
            headers["Vary"] = [*headers.get("Vary", []), "Origin"]
        logger.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "path": event.get("path"),
                "status": response["statusCode"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response

    return handler


def name_parameter(event: APIGatewayProxyEvent) -> str:
    """The `{name}` path parameter as API Gateway matched it, if it is a valid image name.

    Read from `pathParameters`, not from the resolver's match on the path, whose pattern
    would accept `<name>\\n` as `<name>`.
    """
    name = names.valid_name((event.path_parameters or {}).get("name"))
    if name is None:
        raise InvalidName()
    return name


def media_type(content_type: str) -> str:
    """`Image/JPEG; charset=x` -> `image/jpeg`: a Content-Type without its parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def body_bytes(event: APIGatewayProxyEvent) -> bytes:
    """The request body as bytes; with binary media types `*/*` it always arrives base64."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as err:
        raise MalformedRequest("The request body is not valid base64.") from err


def from_edge(event: APIGatewayProxyEvent) -> bool:
    """Whether the request came through the stack's distribution (see contract.EDGE_HEADER:
    a direct caller can claim it too, so it only ever picks between two safe answers)."""
    return event.headers.get(EDGE_HEADER) == EDGE_HEADER_VALUE


def base_url(event: APIGatewayProxyEvent, public_host: str) -> str:
    """`https://<host>[/<stage>]`: where the client reached this API, from no request header.

    Through the distribution that is `https://<public_host>` (the stage path hidden), the
    host coming from the function's own environment. Otherwise it is
    `requestContext.domainName`, the API's domain as API Gateway matched the request (the
    execute-api domain or a custom domain), always over HTTPS, which is all API Gateway
    serves; only the local runner reports a loopback domain, served over plain HTTP. On the
    execute-api domain `requestContext.path` carries the stage in front of the resource path;
    behind an API Gateway custom domain it does not, so the prefix is whatever
    `requestContext.path` has in front of `path`.
    """
    if public_host and from_edge(event):
        return f"https://{public_host}"
    domain = event.request_context.domain_name or "localhost"
    scheme = "http" if is_loopback(domain) else "https"
    path = event.path or ""
    full_path = event.request_context.path or path
    prefix = full_path[: -len(path)] if path and full_path.endswith(path) else ""
    return f"{scheme}://{domain}{prefix.rstrip('/')}"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def is_loopback(domain: str) -> bool:
    """`127.0.0.1`, `localhost` or `[::1]`, with or without a port."""
    host = domain.partition("]")[0] + "]" if domain.startswith("[") else domain.partition(":")[0]
    return host.lower() in LOOPBACK_HOSTS


def created(
    event: APIGatewayProxyEvent, public_host: str, path: str, body: Mapping[str, Any]
) -> Response[Any]:
    """`201 Created` with `body` as JSON and `Location` at `path` where the client reached us;
    never kept by a cache (it carries the delete token)."""
    return Response(
        status_code=201,
        content_type=JSON,
        body=dict(body),
        headers={"Location": f"{base_url(event, public_host)}{path}", "Cache-Control": NO_STORE},
    )


def shared_scope(event: APIGatewayProxyEvent, shared_caches: str) -> str:
    """`public` where shared caches may keep the answer, else `private`.

    Where every route needs an API key, only the distribution may keep images: its cache key
    holds X-Api-Key, so a request without the same key never gets a kept copy (and it turns
    `public` back into `private` for its viewers). A direct caller that claims to be the
    distribution only gets `public` for an image its own valid key just fetched.
    """
    if shared_caches == SharedCaches.ANY or from_edge(event):
        return "public"
    return "private"


def image_cache_control(event: APIGatewayProxyEvent, shared_caches: str) -> str:
    """An original's or a thumbnail's bytes, immutable under their name."""
    return f"{shared_scope(event, shared_caches)}, max-age={IMAGE_MAX_AGE}, immutable"


def missing_cache_control(event: APIGatewayProxyEvent, shared_caches: str) -> str:
    """A 404 that will not change in the next seconds (no such image, no thumbnail possible)."""
    return f"{shared_scope(event, shared_caches)}, max-age={MISSING_MAX_AGE}"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag equal under weak comparison."""
    if not if_none_match or not etag:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def stored_image_response(
    event: APIGatewayProxyEvent,
    stored: StoredObject,
    cache_control: str,
    extra: Mapping[str, str] | None = None,
) -> Response[Any]:
    """The stored image's bytes, or 304 when the client's copy (If-None-Match) is current.

    The 304 carries the representation's own Content-Type: without one, API Gateway would
    add `application/json` to it."""
    headers = {
        "ETag": stored.etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if etag_matches(event.headers.get("If-None-Match"), stored.etag):
        stored.close()
        return Response(status_code=304, content_type=stored.content_type, headers=headers, body="")
    return Response(
        status_code=200, content_type=stored.content_type, headers=headers, body=stored.read()
    )
