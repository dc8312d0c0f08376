"""API Gateway's authorization of a method, before any function runs: a user pool authorizer
the runner checks itself, a REQUEST authorizer it invokes as a function."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import requests

from local_runner.apigw import ApiServer
from local_runner.authorizers import policy_effect
from local_runner.lambdas import InvocationError
from local_runner.template import RestApi
from local_runner.tokens import Jwks, unverified_claims
from tests.local_runner.cognito import expired, tampered
from tests.local_runner.conftest import EMAIL, LocalPool

ALLOW = "Allow"


def policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


class Functions:
    """Stands in for the functions: records each event, answers per function."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.answers: dict[str, Any] = {"Echo": {"statusCode": 200, "body": "ok"}}

    def __call__(self, function: str, event: Mapping[str, Any], timeout: float) -> Any:
        self.events.append((function, event))
        answer = self.answers[function]
        if callable(answer):
            answer = answer(event)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def called(self, function: str) -> list[Mapping[str, Any]]:
        return [event for name, event in self.events if name == function]

    def allow(self, context: Mapping[str, Any] | None = None, principal: str = "p") -> None:
        self.answers["Authorize"] = lambda event: {
            "principalId": principal,
            "policyDocument": policy(ALLOW, event["methodArn"]),
            "context": dict(context or {}),
        }


@pytest.fixture
def serve(local_pool: LocalPool) -> Iterator[Any]:
    servers: list[ApiServer] = []

    def start(api: RestApi | None = None) -> tuple[str, Functions]:
        functions = Functions()
        server = ApiServer(
            0, api or local_pool.service.apis[0], functions, jwks=Jwks(local_pool.local)
        )
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", functions

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- COGNITO_USER_POOLS ------------------------------------------------------------------


def test_no_token_on_a_user_pool_method_is_401_before_any_function_runs(serve: Any) -> None:
    url, functions = serve()
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer "}):
        answer = requests.get(f"{url}/me", headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json() == {"message": "Unauthorized"}
        assert answer.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert functions.events == []


@pytest.mark.parametrize("form", ["raw", "Bearer"])
def test_a_signed_in_request_reaches_the_function_with_the_claims_as_strings(
    serve: Any, local_pool: LocalPool, form: str
) -> None:
    url, functions = serve()
    token = local_pool.tokens()["IdToken"]
    header = token if form == "raw" else f"Bearer {token}"
    assert requests.get(f"{url}/me", headers={"Authorization": header}, timeout=5).ok
    ((event,),) = [functions.called("Echo")]
    claims = event["requestContext"]["authorizer"]["claims"]
    assert set(event["requestContext"]["authorizer"]) == {"claims"}
    assert all(isinstance(value, str) for value in claims.values())
    expected = unverified_claims(token)
    assert (claims["sub"], claims["iss"], claims["email"]) == (
        expected["sub"],
        local_pool.pool.issuer,
        EMAIL,
    )
    assert (claims["token_use"], claims["aud"]) == ("id", local_pool.client.client_id)
    assert claims["exp"].endswith(" UTC " + claims["exp"][-4:])  # "Fri Dec 04 03:18:04 UTC 2026"
    assert claims["auth_time"] == str(expected["auth_time"])


@pytest.mark.parametrize("kind", ["tampered", "expired", "other pool", "access", "malformed"])
def test_a_bad_token_on_a_user_pool_method_is_401(
    serve: Any, local_pool: LocalPool, kind: str
) -> None:
    url, functions = serve()
    tokens = local_pool.tokens()
    make: dict[str, Callable[[], str]] = {
        "tampered": lambda: tampered(tokens["IdToken"]),
        "expired": lambda: expired(unverified_claims(tokens["IdToken"])),
        "other pool": local_pool.foreign_token,
        "access": lambda: tokens["AccessToken"],
        "malformed": lambda: "eyJhbGciOi.not-json.x",
    }
    token = make[kind]()
    answer = requests.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert functions.events == []


def test_a_method_with_scopes_wants_an_access_token_with_one_of_them(
    serve: Any, local_pool: LocalPool
) -> None:
    api = local_pool.service.apis[0]
    scoped = tuple(
        dataclasses.replace(r, scopes=("aws.cognito.signin.user.admin",))
        if r.resource_path == "/me"
        else r
        for r in api.routes
    )
    url, functions = serve(dataclasses.replace(api, routes=scoped))
    tokens = local_pool.tokens()
    refused = requests.get(f"{url}/me", headers={"Authorization": tokens["IdToken"]}, timeout=5)
    assert refused.status_code == 401
    allowed = requests.get(f"{url}/me", headers={"Authorization": tokens["AccessToken"]}, timeout=5)
    assert allowed.status_code == 200
    ((event,),) = [functions.called("Echo")]
    assert event["requestContext"]["authorizer"]["claims"]["token_use"] == "access"


# --- REQUEST authorizers -----------------------------------------------------------------


def test_the_authorizer_gets_api_gateways_request_authorizer_event(
    serve: Any, local_pool: LocalPool
) -> None:
    url, functions = serve()
    functions.allow()
    answer = requests.get(
        f"{url}/test/maybe?q=1&q=2", headers={"Authorization": "Bearer t", "X-One": "1"}, timeout=5
    )
    assert answer.status_code == 200
    ((event,),) = [functions.called("Authorize")]
    api = local_pool.service.apis[0]
    assert set(event) == {
        "type",
        "methodArn",
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    }
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == (
        f"arn:aws:execute-api:us-east-1:123456789012:{api.api_id}/test/GET/maybe"
    )
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/maybe", "/maybe", "GET")
    assert event["headers"]["Authorization"] == "Bearer t"
    assert event["multiValueHeaders"]["X-One"] == ["1"]
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["requestContext"]["resourcePath"] == "/maybe"
    assert "authorizer" not in event["requestContext"]


def test_its_principal_and_context_reach_the_function_as_strings(serve: Any) -> None:
    url, functions = serve()
    functions.allow({"sub": "abc", "number": 7, "flag": True, "nothing": None}, principal="abc")
    assert requests.get(f"{url}/maybe", timeout=5).status_code == 200
    ((event,),) = [functions.called("Echo")]
    authorizer = dict(event["requestContext"]["authorizer"])
    latency = authorizer.pop("integrationLatency")
    assert isinstance(latency, int)
    assert latency >= 0
    assert authorizer == {
        "principalId": "abc",
        "sub": "abc",
        "number": "7",
        "flag": "true",
        "nothing": None,
    }


def test_unauthorized_from_the_authorizer_is_401_and_the_function_never_runs(serve: Any) -> None:
    url, functions = serve()
    functions.answers["Authorize"] = InvocationError("Exception", "Unauthorized")
    answer = requests.get(f"{url}/maybe", headers={"Authorization": "x"}, timeout=5)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert functions.called("Echo") == []


def test_an_explicit_deny_is_403(serve: Any) -> None:
    url, functions = serve()
    functions.answers["Authorize"] = lambda event: {
        "principalId": "p",
        "policyDocument": policy("Deny", event["methodArn"]),
    }
    answer = requests.get(f"{url}/maybe", timeout=5)
    assert answer.status_code == 403
    assert answer.json() == {
        "message": "User is not authorized to access this resource with an explicit deny"
    }
    assert functions.called("Echo") == []


def test_a_policy_that_does_not_cover_the_method_is_403(serve: Any) -> None:
    url, functions = serve()
    functions.answers["Authorize"] = {
        "principalId": "p",
        "policyDocument": policy(ALLOW, "arn:aws:execute-api:us-east-1:123456789012:x/*/POST/*"),
    }
    answer = requests.get(f"{url}/maybe", timeout=5)
    assert (answer.status_code, answer.json()) == (
        403,
        {"message": "User is not authorized to access this resource"},
    )
    assert functions.called("Echo") == []


@pytest.mark.parametrize(
    "answer",
    [
        InvocationError("RuntimeError", "boom"),
        None,
        {"principalId": "p"},
        "allow",
        lambda event: {
            "principalId": "p",
            "policyDocument": policy(ALLOW, event["methodArn"]),
            "context": {"nested": {"a": 1}},
        },
    ],
)
def test_a_failing_or_malformed_authorizer_is_500(serve: Any, answer: Any) -> None:
    url, functions = serve()
    functions.answers["Authorize"] = answer
    reply = requests.get(f"{url}/maybe", timeout=5)
    assert (reply.status_code, reply.json()) == (500, {"message": None})
    assert reply.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert functions.called("Echo") == []


def test_a_declared_identity_source_that_is_missing_is_401_without_calling_it(
    serve: Any, local_pool: LocalPool
) -> None:
    """Why the optional authorizer declares none: API Gateway answers 401 itself."""
    api = local_pool.service.apis[0]
    declared = dataclasses.replace(
        api.authorizers["OptionalAuthorizer"],
        identity_sources=("method.request.header.Authorization",),
    )
    url, functions = serve(
        dataclasses.replace(api, authorizers={**api.authorizers, "OptionalAuthorizer": declared})
    )
    functions.allow()
    assert requests.get(f"{url}/maybe", timeout=5).status_code == 401
    assert functions.events == []
    assert requests.get(f"{url}/maybe", headers={"authorization": "t"}, timeout=5).ok
    assert len(functions.called("Authorize")) == 1


def test_with_a_ttl_a_result_is_reused_for_the_same_identity(
    serve: Any, local_pool: LocalPool
) -> None:
    api = local_pool.service.apis[0]
    cached = dataclasses.replace(
        api.authorizers["OptionalAuthorizer"],
        identity_sources=("method.request.header.Authorization",),
        result_ttl_s=300,
    )
    url, functions = serve(
        dataclasses.replace(api, authorizers={**api.authorizers, "OptionalAuthorizer": cached})
    )
    functions.allow()
    for token in ("one", "one", "two"):
        assert requests.get(f"{url}/maybe", headers={"Authorization": token}, timeout=5).ok
    assert [e["headers"]["Authorization"] for e in functions.called("Authorize")] == ["one", "two"]


def test_policy_statements_match_with_wildcards_and_deny_wins() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/test/GET/images/1"
    assert policy_effect(policy(ALLOW, arn), arn) == "Allow"
    assert policy_effect(policy(ALLOW, "arn:aws:execute-api:*:*:abc/*/GET/*"), arn) == "Allow"
    assert policy_effect(policy(ALLOW, "arn:aws:execute-api:*:*:abc/*/POST/*"), arn) is None
    both = {
        "Statement": [
            {"Action": "execute-api:*", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [arn]},
        ]
    }
    assert policy_effect(both, arn) == "Deny"
    single = {"Statement": {"Action": "*", "Effect": "Allow", "Resource": "*"}}
    assert policy_effect(single, arn) == "Allow"
    assert (
        policy_effect({"Statement": [{"Action": "s3:*", "Effect": ALLOW, "Resource": "*"}]}, arn)
        is None
    )
