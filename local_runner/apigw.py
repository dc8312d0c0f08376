"""Local API Gateway: a REST API's routes served over HTTP as Lambda proxy (v1.0) calls, each
method's authorization (`local_runner.authorizers`) checked before its function runs."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_runner.authorizers import Authorization, Refusal
from local_runner.lambdas import InvocationError, InvocationTimeout
from local_runner.template import RestApi, Route
from local_runner.tokens import Jwks

if TYPE_CHECKING:  # the site's answers are this module's Replies
    from local_runner.site import Site

log = logging.getLogger("local_runner")

HOST = "127.0.0.1"  # the only address the runner listens on
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway's default (and, for REST, usual) limit
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # read and drop an oversized body up to this, then hang up

# (function logical id, event, timeout in seconds) -> the handler's result
Invoke = Callable[[str, Mapping[str, Any], float], Any]


class MalformedResponse(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str | None, error_type: str) -> Reply:
    """An answer API Gateway itself gives, in its own `{"message": ...}` shape."""
    return Reply(
        status,
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)],
        json.dumps({"message": message}).encode(),
    )


class Router:
    """Matches request paths against the API's resources, most specific first."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self.methods: dict[str, dict[str, Route]] = {}
        for route in api.routes:
            self.methods.setdefault(route.resource_path, {})[route.method] = route
        # Literal parts beat {param}, which beats {proxy+}; longer paths first.
        self.resources = sorted(
            self.methods,
            key=lambda path: [
                (0 if not p.startswith("{") else 2 if p.endswith("+}") else 1)
                for p in path.strip("/").split("/")
            ],
        )

    def strip_stage(self, raw_path: str) -> str:
        """`/dev/upload` -> `/upload`, so URLs copied from a deployment work."""
        prefix = f"/{self.api.stage}"
        if raw_path == prefix:
            return "/"
        if raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :]
        return raw_path

    def match(self, raw_path: str) -> tuple[str, dict[str, str]] | None:
        """The resource path and its (URL-decoded) path parameters, or None."""
        if raw_path != "/" and raw_path.endswith("/"):
            raw_path = raw_path[:-1]
        segments = raw_path.strip("/").split("/") if raw_path != "/" else []
        for resource in self.resources:
            parts = resource.strip("/").split("/") if resource != "/" else []
            params = _match_parts(parts, segments)
            if params is not None:
                return resource, params
        return None


def _match_parts(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or any(s == "" for s in rest):
                return None
            params[part[1:-2]] = unquote("/".join(rest))
            return params
        if index >= len(segments) or segments[index] == "":
            return None
        if part.startswith("{") and part.endswith("}"):
            # Matched on the raw segment: an encoded slash stays inside the parameter.
            params[part[1:-1]] = unquote(segments[index])
        elif part != unquote(segments[index]):
            return None
    return params if len(parts) == len(segments) else None


def is_binary(content_type: str | None, binary_media_types: tuple[str, ...]) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return any(
        pattern == "*/*" or fnmatch.fnmatchcase(media_type, pattern.lower())
        for pattern in binary_media_types
    )


def build_event(
    *,
    api: RestApi,
    route: Route,
    method: str,
    raw_path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: Mapping[str, str],
    source_ip: str,
    request_id: str,
    domain_name: str,
    requested_path: str | None = None,
) -> dict[str, Any]:
    """The REST API Lambda proxy event (payload version 1.0).

    `domain_name` is the API's own (here, the address the runner listens on), never the
    client's Host header: API Gateway reports the domain it matched the request to.
    `requested_path` is the path as the client sent it: with the stage in front, as on the
    execute-api domain, or without, as behind a custom domain mapped at its root. It becomes
    `requestContext.path`, from which a function tells how the client reached it.
    """
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    binary = is_binary(content_type, api.binary_media_types)
    if not body:
        body_text, encoded = None, False
    elif binary:
        body_text, encoded = base64.b64encode(body).decode(), True
    else:
        body_text, encoded = body.decode("utf-8", errors="replace"), False
    now = datetime.now(UTC)
    path = unquote(raw_path)
    return {
        "resource": route.resource_path,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": api.api_id,
            "resourceId": route.resource_path,
            "resourcePath": route.resource_path,
            "httpMethod": method,
            "path": unquote(requested_path) if requested_path else f"/{api.stage}{path}",
            "protocol": "HTTP/1.1",
            "stage": api.stage,
            "domainName": domain_name,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                "apiKey": next((v for k, v in headers if k.lower() == "x-api-key"), None),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        },
        "body": body_text,
        "isBase64Encoded": encoded,
    }


def decode_response(result: Any, binary_media_types: tuple[str, ...], accept: str | None) -> Reply:
    """What API Gateway sends back for a proxy integration's result; raises if malformed."""
    if not isinstance(result, dict):
        raise MalformedResponse(f"the function returned {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponse(f"body is {type(body).__name__}, not a string")
    headers: list[tuple[str, str]] = []
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    for name, value in single.items():
        if isinstance(value, dict | list):
            raise MalformedResponse(f"header {name} is not a scalar")
        headers.append((str(name), _header_value(value)))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders.{name} is not a list")
        headers.extend((str(name), _header_value(v)) for v in values)
    payload = (body or "").encode()
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    if result.get("isBase64Encoded") is True and (
        is_binary(content_type, binary_media_types) or is_binary(accept, binary_media_types)
    ):
        try:
            payload = base64.b64decode(body or "", validate=True)
        except binascii.Error as error:
            raise MalformedResponse("isBase64Encoded but the body is not base64") from error
    if content_type is None:
        headers.append(("Content-Type", "application/json"))
    return Reply(status, headers, payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"})


def forwarded_headers(
    headers: list[tuple[str, str]], source_ip: str, port: int
) -> list[tuple[str, str]]:
    """The request's headers as API Gateway passes them on: X-Forwarded-For is what the
    client sent with the caller's address appended; X-Forwarded-Proto and X-Forwarded-Port
    are the gateway's own, whatever the client sent (here: plain HTTP on the runner's port)."""
    sent_for = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    return [(name, value) for name, value in headers if name.lower() not in FORWARDED] + [
        ("X-Forwarded-For", ", ".join([*sent_for, source_ip])),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", "http"),
    ]


class ApiServer(ThreadingHTTPServer):
    """One REST API on 127.0.0.1:port."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: twenty clients connecting at once would see
    # connections dropped before a request is read. API Gateway never refuses that way.
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        api: RestApi,
        invoke: Invoke,
        api_keys: frozenset[str] = frozenset(),
        site: Site | None = None,
        jwks: Jwks | None = None,
    ) -> None:
        self.api = api
        # The site's files, served where no API route answers the path and method: the
        # distribution sends the API's routes to the API and everything else to the site.
        self.site = site
        self.router = Router(api)
        self.invoke = invoke
        self.api_keys = api_keys
        self.integration_timeout_s = INTEGRATION_TIMEOUT_S
        self.function_timeouts: dict[str, float] = {}
        # `jwks`: the user pools' keys, for COGNITO_USER_POOLS methods.
        self.authorization = Authorization(
            api,
            invoke,
            jwks,
            lambda function: min(
                self.function_timeouts.get(function, self.integration_timeout_s),
                self.integration_timeout_s,
            ),
        )
        super().__init__((HOST, port), _Handler)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        thread.start()
        return thread

    def respond(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> Reply:
        """The whole API Gateway request flow, independent of the HTTP plumbing."""
        request_id = str(uuid.uuid4())
        split = urlsplit(target)
        raw_path = self.router.strip_stage(split.path or "/")
        found = self.router.match(raw_path)
        routes = self.router.methods[found[0]] if found else {}
        route = routes.get(method) or routes.get("ANY")
        if route is None and self.site is not None:
            page = self.site.reply(method, target, headers)
            if page is not None:
                return page
        if found is None:
            return gateway_error(404, "Not Found", "NotFoundException")
        path_parameters = found[1]
        if route is None:
            reply = gateway_error(405, "Method Not Allowed", "MethodNotAllowedException")
            reply.headers.append(("Allow", ", ".join(sorted(routes))))
            return reply
        port = self.server_address[1]
        event = build_event(
            api=self.api,
            route=route,
            method=method,
            raw_path=raw_path,
            query=split.query,
            headers=forwarded_headers(headers, source_ip, port),
            body=body,
            path_parameters=path_parameters,
            source_ip=source_ip,
            request_id=request_id,
            domain_name=f"{HOST}:{port}",
            requested_path=split.path or "/",
        )
        # The authorizer first: API Gateway checks the API key after it (an authorizer may
        # supply the key).
        if route.authorization != "NONE":
            granted = self.authorization.check(route, event)
            if isinstance(granted, Refusal):
                log.info("%s %s: %d (%s)", method, split.path, granted.status, granted.reason)
                return gateway_error(granted.status, granted.message, granted.error_type)
            event["requestContext"]["authorizer"] = granted
        if route.api_key_required:
            key = next((v for k, v in headers if k.lower() == "x-api-key"), None)
            if key is None or not any(secrets.compare_digest(key, k) for k in self.api_keys):
                return gateway_error(403, "Forbidden", "ForbiddenException")
        if route.function is None:  # a MOCK integration, e.g. the CORS preflight
            return Reply(route.mock_status, list(route.mock_headers.items()), b"")
        function_timeout = self.function_timeouts.get(route.function, self.integration_timeout_s)
        try:
            result = self.invoke(
                route.function, event, min(function_timeout, self.integration_timeout_s)
            )
        except InvocationTimeout:
            if function_timeout <= self.integration_timeout_s:
                log.warning("%s %s: the function timed out", method, split.path)
                return gateway_error(502, "Internal server error", "InternalServerErrorException")
            return gateway_error(504, "Endpoint request timed out", "IntegrationTimeout")
        except InvocationError as error:
            log.warning("%s %s: the function failed: %s", method, split.path, error)
            return gateway_error(502, "Internal server error", "InternalServerErrorException")
        accept = next((v for k, v in headers if k.lower() == "accept"), None)
        try:
            reply = decode_response(result, self.api.binary_media_types, accept)
        except MalformedResponse as error:
            log.warning("%s %s: malformed Lambda proxy response: %s", method, split.path, error)
            return gateway_error(502, "Internal server error", "InternalServerErrorException")
        reply.headers.append(("x-amzn-RequestId", request_id))
        return reply


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        started = time.monotonic()
        body, too_large = self._read_body()
        if too_large:
            reply = gateway_error(413, "Request Too Long", "RequestTooLarge")
            self.close_connection = True
        elif body is None:
            reply = gateway_error(400, "Bad Request", "BadRequestException")
            self.close_connection = True
        else:
            reply = self.server.respond(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info("%s %s %d %.0f ms", self.command, self.path, reply.status, elapsed_ms)

    def _read_body(self) -> tuple[bytes | None, bool]:
        """(body, too large). None when the framing is broken."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None, False
        if length > MAX_REQUEST_BYTES:
            self._drain(length)
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self) -> tuple[bytes | None, bool]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return None, False
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            total += size
            if total > MAX_REQUEST_BYTES:
                return b"", True
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        return b"".join(chunks), False

    def _drain(self, length: int) -> None:
        # Reading what the client is still sending lets it see the 413 instead of a reset.
        remaining = min(length, DRAIN_LIMIT_BYTES)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request comes from _serve
