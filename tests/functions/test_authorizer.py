"""The optional authorizer: no token is anonymous, a valid ID token of this pool and client is
a person, and anything else is API Gateway's 401, before any function runs.

Its keys are made here (tests/functions/tokens.py) and served through its one network call,
the JWKS fetch: nothing reaches Cognito.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from image_service import identity

from tests.functions.conftest import ALICE, Functions, LambdaContext
from tests.functions.tokens import KeysServed, Pool, jwks, serve

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/images"
POOL = Pool()


def authorizer_event(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A REQUEST authorizer's event, as API Gateway sends it (no identity sources)."""
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/images",
        "path": "/images",
        "httpMethod": "GET",
        "headers": dict(headers or {}),
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {"stage": "dev", "requestId": "r", "apiId": "abc123"},
    }


@pytest.fixture
def keys(functions: Functions, monkeypatch: pytest.MonkeyPatch) -> KeysServed:
    return serve(monkeypatch, functions.authorizer, POOL)


def authorize(functions: Functions, context: LambdaContext, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = functions.authorizer.handler(authorizer_event(headers), context)
    return answer


def refused(functions: Functions, context: LambdaContext, **headers: str) -> None:
    """API Gateway answers 401 only to this exact error message."""
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorize(functions, context, **headers)
    assert type(raised.value) is Exception


def allows_this_request_only(answer: dict[str, Any]) -> None:
    assert answer["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}],
    }


# --- who gets through ------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"authorization": "   "}])
def test_a_request_without_a_token_passes_as_anonymous(
    functions: Functions, context: LambdaContext, keys: KeysServed, headers: dict[str, str]
) -> None:
    answer = authorize(functions, context, **headers)
    assert answer["principalId"] == "anonymous"
    assert answer["context"] == {}
    allows_this_request_only(answer)
    assert keys.fetches == 0  # nothing to verify, nothing fetched


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("Authorization", ""), ("Authorization", "Bearer "), ("authorization", "bearer ")],
)
def test_a_valid_id_token_passes_as_its_user_raw_or_bearer_in_any_case(
    functions: Functions, context: LambdaContext, keys: KeysServed, name: str, prefix: str
) -> None:
    token = POOL.id_token(ALICE.subject)
    answer = authorize(functions, context, **{name: prefix + token})
    assert answer["principalId"] == ALICE.subject
    assert answer["context"] == {
        "iss": POOL.issuer,
        "sub": ALICE.subject,
        "email": f"{ALICE.subject[:8]}@example.com",
    }
    assert all(isinstance(value, str) for value in answer["context"].values())
    allows_this_request_only(answer)


def test_the_function_behind_sees_the_user_the_token_names(
    functions: Functions, context: LambdaContext, keys: KeysServed
) -> None:
    """API Gateway passes the context on as requestContext.authorizer (plus principalId and
    its own integrationLatency); the one helper reads the same person from it."""
    answer = authorize(functions, context, Authorization=POOL.id_token(ALICE.subject))
    event = {
        "requestContext": {
            "authorizer": {
                "principalId": answer["principalId"],
                **answer["context"],
                "integrationLatency": 31,
            }
        }
    }
    assert identity.caller(event) == ALICE
    anonymous = authorize(functions, context)
    event["requestContext"]["authorizer"] = {"principalId": "anonymous", "integrationLatency": 2}
    assert anonymous["context"] == {}
    assert identity.caller(event) is None


# --- who is refused --------------------------------------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, key="", algorithm="none", headers={"kid": POOL.kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_with_the_public_key(token: str) -> str:
    """The classic confusion: HS256 keyed with the (public) RSA key's bytes, signed by hand
    (PyJWT refuses to make such a token)."""
    _, payload, _ = token.split(".")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": POOL.kid}).encode())
    public = POOL.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


OTHER_POOL = Pool(
    issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool",
    key_label="other pool",
)
IMPOSTOR = Pool(key_label="impostor")  # our issuer and kid, another key
IMPOSTOR.kid = POOL.kid

REFUSED = {
    "expired": lambda: POOL.id_token(ALICE.subject, exp=int(time.time()) - 1),
    "tampered": lambda: _tampered(POOL.id_token(ALICE.subject)),
    "another pool, its own key": lambda: OTHER_POOL.id_token(ALICE.subject),
    "another pool's issuer, our key": lambda: POOL.id_token(ALICE.subject, iss=OTHER_POOL.issuer),
    "another client": lambda: POOL.id_token(ALICE.subject, aud="someone-elses-client"),
    "an access token": lambda: POOL.access_token(ALICE.subject),
    "another token_use": lambda: POOL.id_token(ALICE.subject, token_use="refresh"),
    "signed by an impostor under our kid": lambda: IMPOSTOR.id_token(ALICE.subject),
    "an unknown kid": lambda: POOL.sign(POOL.claims(ALICE.subject), kid="unknown"),
    "alg none": lambda: _unsigned(POOL.id_token(ALICE.subject)),
    "HS256 with the public key": lambda: _hmac_with_the_public_key(POOL.id_token(ALICE.subject)),
    "no exp": lambda: POOL.id_token(ALICE.subject, exp=None),
    "no iat": lambda: POOL.id_token(ALICE.subject, iat=None),
    "no sub": lambda: POOL.sign(
        {k: v for k, v in POOL.claims(ALICE.subject).items() if k != "sub"}
    ),
    "issued in the future": lambda: POOL.id_token(ALICE.subject, iat=int(time.time()) + 3600),
    "not a JWT": lambda: "not-a-jwt",
    "three dots of nothing": lambda: "..",
    "Bearer and nothing": lambda: "Bearer",
}


@pytest.mark.parametrize("make", list(REFUSED.values()), ids=list(REFUSED))
def test_every_token_but_a_valid_id_token_of_this_pool_and_client_is_refused(
    functions: Functions, context: LambdaContext, keys: KeysServed, make: Any
) -> None:
    refused(functions, context, Authorization=make())


def test_a_token_is_refused_the_moment_it_expires(
    functions: Functions, context: LambdaContext, keys: KeysServed
) -> None:
    """No leeway: a token whose exp has passed by a second is refused (PyJWT's default)."""
    now = int(time.time())
    authorize(functions, context, Authorization=POOL.id_token(ALICE.subject, exp=now + 2))
    refused(functions, context, Authorization=POOL.id_token(ALICE.subject, exp=now - 1))


def test_unreachable_signing_keys_refuse_tokens_and_still_pass_anonymous_requests(
    functions: Functions, context: LambdaContext, keys: KeysServed
) -> None:
    keys.down = True
    refused(functions, context, Authorization=POOL.id_token(ALICE.subject))
    assert authorize(functions, context)["principalId"] == "anonymous"


# --- the signing keys ------------------------------------------------------------------


def test_the_keys_are_fetched_at_the_first_token_and_kept(
    functions: Functions, context: LambdaContext, keys: KeysServed
) -> None:
    assert keys.fetches == 0  # lazily: a cold start without tokens fetches nothing
    for _ in range(5):
        authorize(functions, context, Authorization=POOL.id_token(ALICE.subject))
    assert keys.fetches == 1


def test_a_new_key_of_the_pool_is_fetched_once_and_made_up_kids_cannot_force_fetches(
    functions: Functions, context: LambdaContext, keys: KeysServed, monkeypatch: Any
) -> None:
    authorize(functions, context, Authorization=POOL.id_token(ALICE.subject))
    rotated = Pool(key_label="rotated")
    keys.served = jwks(POOL, rotated)
    # Cognito adds a key. Right after a fetch, an unknown kid waits out the cooldown ...
    refused(functions, context, Authorization=rotated.id_token(ALICE.subject))
    assert keys.fetches == 1
    # ... after it, one fetch finds the new key, which is then kept.
    functions.authorizer.keys._last_successful_fetch = time.monotonic() - 31
    for _ in range(3):
        authorize(functions, context, Authorization=rotated.id_token(ALICE.subject))
    assert keys.fetches == 2
    # A stream of made-up kids costs one fetch per cooldown at most.
    for number in range(10):
        refused(
            functions, context, Authorization=POOL.sign(POOL.claims("x"), kid=f"made-up-{number}")
        )
    assert keys.fetches == 2
