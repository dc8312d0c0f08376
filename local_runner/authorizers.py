"""A method's authorization, as API Gateway does it before any function runs.

- `COGNITO_USER_POOLS`: the token in the identity source (the `Authorization` header: the raw
  token or `Bearer <token>`) must be an ID token of one of the authorizer's user pools
  (signature against the pool's JWKS, issuer, token use, expiry), or an access token with one
  of the method's scopes when it names some. The function gets the token's claims in
  `requestContext.authorizer.claims`, every value a string.
- `CUSTOM` with a `REQUEST` authorizer: its function gets API Gateway's REQUEST authorizer
  event; an error whose message is `Unauthorized` is a 401, its policy must allow
  `execute-api:Invoke` on the method's ARN (an explicit Deny is a 403), and its principal and
  context (values stringified) become `requestContext.authorizer`.

A missing or empty identity source is a 401 without calling anything, for either type.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local_runner.lambdas import InvocationError
from local_runner.template import Authorizer, RestApi, Route
from local_runner.tokens import Jwks, TokenError, gateway_claims, token_from_header, verify

# (function logical id, event, timeout in seconds) -> the handler's result
Invoke = Callable[[str, Mapping[str, Any], float], Any]

UNAUTHORIZED = "Unauthorized"  # the error message that makes a Lambda authorizer's answer 401


@dataclass(frozen=True)
class Refusal:
    """An answer API Gateway gives instead of calling the method's integration."""

    status: int
    message: str | None  # the `message` of its body (null for a misconfigured authorizer)
    error_type: str  # its x-amzn-ErrorType
    reason: str  # why, for the runner's log (API Gateway tells the client nothing more)


def unauthorized(reason: str) -> Refusal:
    return Refusal(401, UNAUTHORIZED, "UnauthorizedException", reason)


def misconfigured(reason: str) -> Refusal:
    return Refusal(500, None, "AuthorizerConfigurationException", reason)


@dataclass(frozen=True)
class _Decision:
    principal: Any
    policy: Mapping[str, Any]
    context: Mapping[str, str | None]
    expires: float


class Authorization:
    """The authorizers of one REST API, applied per method."""

    def __init__(
        self,
        api: RestApi,
        invoke: Invoke,
        jwks: Jwks | None,
        timeout_of: Callable[[str], float],
    ) -> None:
        self.api = api
        self.invoke = invoke
        self.jwks = jwks
        self.timeout_of = timeout_of
        self._cache: dict[tuple[str, tuple[str, ...]], _Decision] = {}
        self._lock = threading.Lock()

    def check(self, route: Route, event: Mapping[str, Any]) -> Refusal | dict[str, Any]:
        """What API Gateway puts in `requestContext.authorizer` for this request to `route`
        (`event`: its proxy event so far), or its refusal."""
        assert route.authorizer is not None
        authorizer = self.api.authorizers[route.authorizer]
        values = []
        for source in authorizer.identity_sources:
            value = identity_value(source, event)
            if not value:
                return unauthorized(f"identity source {source} is missing or empty")
            values.append(value)
        if authorizer.type == "COGNITO_USER_POOLS":
            return self._user_pool(authorizer, route, values[0])
        return self._request(authorizer, event, tuple(values))

    def _user_pool(
        self, authorizer: Authorizer, route: Route, value: str
    ) -> Refusal | dict[str, Any]:
        token = token_from_header(value)
        if token is None:
            return unauthorized("no token")
        if self.jwks is None:
            return misconfigured("no user pool keys to check tokens against")
        use = "access" if route.scopes else "id"
        try:
            claims = verify(token, authorizer.issuers, self.jwks, token_use=use)
        except TokenError as error:
            return unauthorized(f"token refused: {error}")
        if route.scopes and not set(str(claims.get("scope", "")).split()) & set(route.scopes):
            return unauthorized(
                f"the access token has none of the scopes {', '.join(route.scopes)}"
            )
        return {"claims": gateway_claims(claims)}

    def _request(
        self, authorizer: Authorizer, event: Mapping[str, Any], identity: tuple[str, ...]
    ) -> Refusal | dict[str, Any]:
        assert authorizer.function is not None
        method_arn = (
            f"{self.api.execute_api_arn}/{self.api.stage}/{event['httpMethod']}{event['path']}"
        )
        key = (authorizer.logical_id, identity)
        cacheable = authorizer.result_ttl_s > 0 and bool(identity)
        latency_ms = 0
        with self._lock:
            decision = self._cache.get(key) if cacheable else None
            if decision is not None and decision.expires <= time.monotonic():
                del self._cache[key]
                decision = None
        if decision is None:
            started = time.monotonic()
            try:
                result = self.invoke(
                    authorizer.function,
                    authorizer_event(event, method_arn),
                    self.timeout_of(authorizer.function),
                )
            except InvocationError as error:
                if error.message == UNAUTHORIZED:
                    return unauthorized("the authorizer said Unauthorized")
                return misconfigured(f"the authorizer failed: {error}")
            latency_ms = round((time.monotonic() - started) * 1000)
            try:
                decision = _decision(result, time.monotonic() + authorizer.result_ttl_s)
            except ValueError as error:
                return misconfigured(f"the authorizer's answer is malformed: {error}")
            if cacheable:
                with self._lock:
                    self._cache[key] = decision
        effect = policy_effect(decision.policy, method_arn)
        if effect == "Deny":
            return Refusal(
                403,
                "User is not authorized to access this resource with an explicit deny",
                "AccessDeniedException",
                f"the authorizer's policy denies {method_arn}",
            )
        if effect != "Allow":
            return Refusal(
                403,
                "User is not authorized to access this resource",
                "AccessDeniedException",
                f"the authorizer's policy does not allow {method_arn}",
            )
        return {
            "principalId": decision.principal,
            **decision.context,
            "integrationLatency": latency_ms,
        }


def authorizer_event(event: Mapping[str, Any], method_arn: str) -> dict[str, Any]:
    """API Gateway's REQUEST authorizer event for the request whose proxy event is `event`."""
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **{
            key: copy.deepcopy(event.get(key))
            for key in (
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
            )
        },
    }


def identity_value(source: str, event: Mapping[str, Any]) -> str | None:
    """The value an identity source mapping expression names in the request, or None."""
    for prefix, member in (
        ("method.request.header.", "headers"),
        ("method.request.multivalueheader.", "multiValueHeaders"),
        ("method.request.querystring.", "queryStringParameters"),
        ("method.request.multivaluequerystring.", "multiValueQueryStringParameters"),
        ("stageVariables.", "stageVariables"),
    ):
        if source.startswith(prefix):
            name = source[len(prefix) :]
            values = event.get(member) or {}
            if member.endswith("eaders"):  # header names are case-insensitive
                found = next((v for k, v in values.items() if k.lower() == name.lower()), None)
            else:
                found = values.get(name)
            if isinstance(found, list):
                found = ",".join(found) if found else None
            return str(found) if found not in (None, "") else None
    if source.startswith("context."):
        value: Any = event.get("requestContext") or {}
        for part in source[len("context.") :].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return str(value) if value not in (None, "") else None
    return None


def _decision(result: Any, expires: float) -> _Decision:
    if not isinstance(result, dict):
        raise ValueError(f"a {type(result).__name__}, not an object")
    policy = result.get("policyDocument")
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list | dict):
        raise ValueError("no policyDocument with a Statement")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise ValueError("context is not an object")
    strings: dict[str, str | None] = {}
    for name, value in context.items():
        if value is None:
            strings[name] = None
        elif isinstance(value, bool):
            strings[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            strings[name] = str(value)
        else:  # API Gateway takes strings, numbers and booleans only
            raise ValueError(f"context.{name} is a {type(value).__name__}")
    return _Decision(result.get("principalId"), policy, strings, expires)


def policy_effect(policy: Mapping[str, Any], method_arn: str) -> str | None:
    """ "Deny" if a statement denies invoking `method_arn`, else "Allow" if one allows it,
    else None. Actions and resources match with IAM's `*` and `?` wildcards."""
    statements = policy["Statement"]
    effects = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        actions = _listed(statement.get("Action"))
        resources = _listed(statement.get("Resource"))
        if any(_matches(a, "execute-api:Invoke", case=False) for a in actions) and any(
            _matches(r, method_arn, case=True) for r in resources
        ):
            effects.add(str(statement.get("Effect")))
    if "Deny" in effects:
        return "Deny"
    return "Allow" if "Allow" in effects else None


def _listed(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def _matches(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None
