"""The resolver every API function shares: error contract, CORS, routes it does not serve."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from image_service import api
from image_service.errors import PayloadTooLarge

from tests.functions.conftest import LambdaContext, download_event, error_of, headers_of


def _function(origins: tuple[str, ...]) -> Any:
    app, handler = api.rest_function(Logger(service="test"), origins)

    @app.get("/download/<name>")
    def download(name: str) -> Response[Any]:
        if name.startswith("0"):
            raise PayloadTooLarge()
        if name.startswith("1"):
            raise RuntimeError("secret detail: /var/task/image_service/x.py line 3")
        return Response(200, api.JSON, {"name": api.name_parameter(app.current_event)})

    return handler


NAME = "21JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"


def test_a_listed_origin_is_echoed_and_caches_are_told_the_answer_varies_by_origin(
    context: LambdaContext,
) -> None:
    handler = _function(("https://a.example", "https://b.example"))
    event = download_event("download", NAME, {"Origin": "https://b.example"})
    headers = headers_of(handler(event, context))
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert headers["Vary"] == "Origin"
    assert set(headers["Access-Control-Expose-Headers"].split(",")) == {
        "ETag",
        "Location",
        "Retry-After",
    }


def test_vary_origin_joins_what_the_route_varies_by(context: LambdaContext) -> None:
    app, typed_handler = api.rest_function(Logger(service="test"), ("https://a.example",))
    handler: Any = typed_handler  # called with the tests' own LambdaContext

    @app.get("/download-thumbnail/<name>")
    def thumbnail(name: str) -> Response[Any]:
        return Response(200, "image/webp", b"webp-bytes", {"Vary": "Accept"})

    event = download_event("download-thumbnail", NAME, {"Origin": "https://a.example"})
    assert handler(event, context)["multiValueHeaders"]["Vary"] == ["Accept", "Origin"]


def test_an_unlisted_origin_gets_no_cors_headers(context: LambdaContext) -> None:
    handler = _function(("https://a.example",))
    event = download_event("download", NAME, {"Origin": "https://evil.example"})
    headers = headers_of(handler(event, context))
    assert not any(name.lower().startswith("access-control-") for name in headers)
    assert headers["Vary"] == "Origin"


def test_no_configured_origins_means_no_cors_headers(context: LambdaContext) -> None:
    handler = _function(())
    event = download_event("download", NAME, {"Origin": "https://a.example"})
    headers = headers_of(handler(event, context))
    assert not any(name.lower().startswith("access-control-") for name in headers)
    assert "Vary" not in headers


def test_service_errors_keep_their_code_and_are_never_cached(context: LambdaContext) -> None:
    response = _function(("*",))(download_event("download", "0" + NAME[1:]), context)
    assert error_of(response) == (413, "PayloadTooLarge")
    assert headers_of(response)["Cache-Control"] == "no-store"


def test_an_unexpected_exception_is_a_500_without_its_details(context: LambdaContext) -> None:
    response = _function(("*",))(download_event("download", "1" + NAME[1:]), context)
    assert error_of(response) == (500, "InternalError")
    assert "secret" not in response["body"]
    assert "/var/task" not in response["body"]


def test_a_route_the_function_does_not_serve_is_a_json_404(context: LambdaContext) -> None:
    event = download_event("download", NAME)
    event["httpMethod"] = "DELETE"
    event["pathParameters"] = None
    assert error_of(_function(("*",))(event, context)) == (404, "NotFound")


@pytest.mark.parametrize("name", [f"{NAME}\n", "a/b.jpg", f"{NAME}\x00"])
def test_a_name_api_gateway_matched_but_no_route_pattern_does_is_invalid(
    context: LambdaContext, name: str
) -> None:
    response = _function(("*",))(download_event("download", name), context)
    assert error_of(response) == (400, "InvalidName")


def test_a_valid_name_reaches_the_route(context: LambdaContext) -> None:
    response = _function(("*",))(download_event("download", NAME), context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"name": NAME}
