"""API Gateway behaviour of the local API, with a stand-in for the functions."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from local_runner.apigw import ApiServer, Router, build_event, decode_response, is_binary
from local_runner.lambdas import InvocationError, InvocationTimeout
from local_runner.template import RestApi, Service


def allow(event: Mapping[str, Any]) -> dict[str, Any]:
    """A REQUEST authorizer's answer that lets the request through as anonymous."""
    return {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
    }


class Recorder:
    """Stands in for the functions: records events, answers what a test asks for."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.authorized: list[Mapping[str, Any]] = []  # authorizer events, answered Allow
        self.timeouts: list[float] = []
        self.answer: Any = {"statusCode": 200, "body": "ok"}

    def __call__(self, function: str, event: Mapping[str, Any], timeout: float) -> Any:
        if event.get("type") == "REQUEST":  # a route's authorizer: it lets every request in
            self.authorized.append(event)
            return allow(event)
        self.events.append((function, event))
        self.timeouts.append(timeout)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ApiServer] = []

    def start(api: RestApi, keys: frozenset[str] = frozenset()) -> tuple[str, Recorder, ApiServer]:
        recorder = Recorder()
        server = ApiServer(0, api, recorder, keys)  # port 0: the system picks a free one
        # A short poll interval: shutdown() waits for it, once per test.
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", recorder, server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_literal_segments_beat_parameters_which_beat_greedy(fixture_service: Service) -> None:
    router = Router(fixture_service.apis[0])
    assert router.match("/items/special") == ("/items/special", {})
    assert router.match("/items/42") == ("/items/{id}", {"id": "42"})
    assert router.match("/files/a/b%20c") == ("/files/{path+}", {"path": "a/b c"})
    assert router.match("/items/") == ("/items", {})
    assert router.match("/nowhere") is None
    assert router.match("/items/1/2") is None


def test_an_encoded_slash_stays_inside_the_path_parameter(fixture_service: Service) -> None:
    router = Router(fixture_service.apis[0])
    assert router.match("/items/..%2Fsecret") == ("/items/{id}", {"id": "../secret"})


def test_stage_prefix_is_accepted(fixture_service: Service) -> None:
    router = Router(fixture_service.apis[0])
    assert router.strip_stage("/test/items/1") == "/items/1"
    assert router.strip_stage("/items/1") == "/items/1"


def test_binary_media_type_patterns() -> None:
    assert is_binary("image/png", ("image/*",))
    assert not is_binary("application/json", ("image/*",))
    assert is_binary("application/json; charset=utf-8", ("*/*",))
    assert is_binary(None, ("*/*",))


def test_event_has_the_rest_proxy_shape(fixture_service: Service) -> None:
    api = fixture_service.apis[0]
    route = next(r for r in api.routes if r.resource_path == "/items/{id}")
    event = build_event(
        api=api,
        route=route,
        method="GET",
        raw_path="/items/a%20b",
        query="q=1&q=2&x=",
        headers=[("X-Thing", "1"), ("x-thing", "2"), ("Content-Type", "image/png")],
        body=b"\x89PNG",
        path_parameters={"id": "a b"},
        source_ip="127.0.0.1",
        request_id="req-1",
        domain_name="127.0.0.1:3000",
    )
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/a b"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"q": "2", "x": ""}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "x": [""]}
    assert event["multiValueHeaders"]["X-Thing"] == ["1"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG"
    context = event["requestContext"]
    assert (context["stage"], context["requestId"], context["resourcePath"]) == (
        "test",
        "req-1",
        "/items/{id}",
    )
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert event["stageVariables"] is None


def test_text_body_outside_binary_media_types_is_passed_as_text(fixture_service: Service) -> None:
    api = fixture_service.apis[0]
    event = build_event(
        api=api,
        route=api.routes[0],
        method="POST",
        raw_path="/x",
        query="",
        headers=[("Content-Type", "application/json")],
        body=b'{"a": 1}',
        path_parameters={},
        source_ip="127.0.0.1",
        request_id="r",
        domain_name="127.0.0.1:3000",
    )
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)
    assert event["queryStringParameters"] is None
    assert event["pathParameters"] is None


def test_response_decoding_base64_and_multi_value_headers() -> None:
    reply = decode_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-One": 1},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\xff").decode(),
            "isBase64Encoded": True,
        },
        ("*/*",),
        None,
    )
    assert reply.status == 201
    assert reply.body == b"\x00\xff"
    assert ("Set-Cookie", "a=1") in reply.headers
    assert ("Set-Cookie", "b=2") in reply.headers
    assert ("X-One", "1") in reply.headers


@pytest.mark.parametrize(
    "result",
    [
        "text",
        {"body": "no status"},
        {"statusCode": "abc"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": "***",
            "isBase64Encoded": True,
        },
    ],
)
def test_malformed_proxy_responses_become_502(
    serve: Any, fixture_service: Service, result: Any
) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    recorder.answer = result
    response = requests.get(f"{url}/items/1", timeout=5)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_a_failed_or_timed_out_function(serve: Any, fixture_service: Service) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    recorder.answer = InvocationError("RuntimeError", "boom")
    assert requests.get(f"{url}/items/1", timeout=5).status_code == 502
    recorder.answer = InvocationTimeout("Sandbox.Timedout", "Task timed out")
    assert requests.get(f"{url}/items/1", timeout=5).status_code == 502


def test_integration_timeout_is_504_when_the_function_may_run_longer(
    serve: Any, fixture_service: Service
) -> None:
    url, recorder, server = serve(fixture_service.apis[0])
    server.integration_timeout_s = 1.0
    server.function_timeouts = {"Echo": 60.0}
    recorder.answer = InvocationTimeout("Sandbox.Timedout", "Task timed out")
    response = requests.get(f"{url}/items/1", timeout=5)
    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}
    assert recorder.timeouts == [1.0]


def test_unknown_routes_and_methods(serve: Any, fixture_service: Service) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    missing = requests.get(f"{url}/nowhere", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}
    wrong = requests.delete(f"{url}/items", timeout=5)
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    assert recorder.events == []


def test_cors_preflight_is_answered_from_the_mock_integration(
    serve: Any, fixture_service: Service
) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    response = requests.options(f"{url}/items", timeout=5)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert recorder.events == []


def test_request_over_10_mb_is_refused_before_the_function(
    serve: Any, fixture_service: Service
) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    response = requests.post(f"{url}/upload", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert response.status_code == 413
    assert recorder.events == []


def test_binary_body_round_trip(serve: Any, fixture_service: Service) -> None:
    url, recorder, _ = serve(fixture_service.apis[0])
    payload = bytes(range(256))
    recorder.answer = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(payload).decode(),
        "isBase64Encoded": True,
    }
    response = requests.post(
        f"{url}/test/upload", data=payload, headers={"Content-Type": "image/png"}, timeout=5
    )
    assert response.status_code == 200
    assert response.content == payload
    ((function, event),) = recorder.events
    assert function == "Binary"
    assert base64.b64decode(event["body"]) == payload


def test_request_context_path_is_the_path_the_client_sent(
    serve: Any, fixture_service: Service
) -> None:
    """As API Gateway: the stage is in `requestContext.path` only when the client sent it (the
    execute-api domain); a URL without it is what a custom domain at its root receives."""
    url, recorder, _ = serve(fixture_service.apis[0])
    for path in ("/test/items/a", "/items/a"):
        assert requests.get(f"{url}{path}", timeout=5).status_code == 200
    paths = [(e["path"], e["requestContext"]["path"]) for _, e in recorder.events]
    assert paths == [("/items/a", "/test/items/a"), ("/items/a", "/items/a")]
    forwarded = {e["headers"]["X-Forwarded-Proto"] for _, e in recorder.events}
    assert forwarded == {"http"}


def test_the_api_domain_and_forwarded_headers_are_the_gateways_not_the_clients(
    serve: Any, fixture_service: Service
) -> None:
    """As API Gateway: `requestContext.domainName` is the API's own domain (here the runner's
    address), X-Forwarded-Proto and -Port replace what the client sent, and the caller's
    address is appended to the client's X-Forwarded-For."""
    url, recorder, server = serve(fixture_service.apis[0])
    port = server.server_address[1]
    forged = {
        "Host": "evil.example",
        "X-Forwarded-Proto": "javascript",
        "X-Forwarded-Port": "1",
        "X-Forwarded-For": "10.9.8.7",
    }
    assert requests.get(f"{url}/items/a", headers=forged, timeout=5).status_code == 200
    ((_, event),) = recorder.events
    assert event["requestContext"]["domainName"] == f"127.0.0.1:{port}"
    headers = event["multiValueHeaders"]
    assert headers["X-Forwarded-Proto"] == ["http"]
    assert headers["X-Forwarded-Port"] == [str(port)]
    assert headers["X-Forwarded-For"] == ["10.9.8.7, 127.0.0.1"]
    assert headers["Host"] == ["evil.example"]  # passed on as sent; no function reads it


def test_a_keyed_stage_requires_the_api_key(serve: Any, keyed_service: Service) -> None:
    url, recorder, _ = serve(keyed_service.apis[0], frozenset({"the-key"}))
    for headers in ({}, {"x-api-key": "wrong"}):
        response = requests.get(f"{url}/download/x.jpg", headers=headers, timeout=5)
        assert response.status_code == 403
        assert response.json() == {"message": "Forbidden"}
    assert recorder.events == []
    allowed = requests.get(f"{url}/download/x.jpg", headers={"X-Api-Key": "the-key"}, timeout=5)
    assert allowed.status_code == 200
    ((_, event),) = recorder.events
    assert event["pathParameters"] == {"name": "x.jpg"}
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
