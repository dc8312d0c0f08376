"""The runner checks user pool tokens as API Gateway does, against the JWKS moto serves."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

import pytest
from joserfc.jwk import RSAKey

from local_runner.template import LocalAws
from local_runner.tokens import (
    Jwks,
    TokenError,
    gateway_claims,
    local_jwks_url,
    token_from_header,
    unverified_claims,
    verify,
)
from tests.local_runner.cognito import expired, forged, tampered
from tests.local_runner.conftest import EMAIL, LocalPool


def test_moto_issues_tokens_with_the_pools_issuer_for_the_local_region(
    local_pool: LocalPool,
) -> None:
    claims = unverified_claims(local_pool.tokens()["IdToken"])
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{local_pool.pool.pool_id}"
    assert claims["iss"] == local_pool.pool.issuer
    assert (claims["aud"], claims["token_use"], claims["email"]) == (
        local_pool.client.client_id,
        "id",
        EMAIL,
    )


def test_a_valid_id_token_gives_its_claims(local_pool: LocalPool) -> None:
    token = local_pool.tokens()["IdToken"]
    claims = verify(token, [local_pool.pool.issuer], Jwks(local_pool.local))
    assert claims["sub"] == unverified_claims(token)["sub"]
    assert claims["email"] == EMAIL


@pytest.mark.parametrize("kind", ["tampered", "expired", "other pool", "access", "garbage"])
def test_tokens_the_authorizer_refuses(local_pool: LocalPool, kind: str) -> None:
    tokens = local_pool.tokens()
    make: dict[str, Callable[[], str]] = {
        "tampered": lambda: tampered(tokens["IdToken"]),
        "expired": lambda: expired(unverified_claims(tokens["IdToken"])),
        "other pool": local_pool.foreign_token,
        "access": lambda: tokens["AccessToken"],
        "garbage": lambda: "not.a.jwt",
    }
    token = make[kind]()
    with pytest.raises(TokenError):
        verify(token, [local_pool.pool.issuer], Jwks(local_pool.local))


def test_a_token_signed_by_another_key_is_refused(local_pool: LocalPool) -> None:
    claims = unverified_claims(local_pool.tokens()["IdToken"])
    with pytest.raises(TokenError, match="bad_signature"):
        verify(
            forged(claims, RSAKey.generate_key(2048)),
            [local_pool.pool.issuer],
            Jwks(local_pool.local),
        )


def test_expiry_has_no_leeway(local_pool: LocalPool) -> None:
    token = local_pool.tokens()["IdToken"]
    exp = unverified_claims(token)["exp"]
    verify(token, [local_pool.pool.issuer], Jwks(local_pool.local), now=exp - 1)
    with pytest.raises(TokenError, match="expired"):
        verify(token, [local_pool.pool.issuer], Jwks(local_pool.local), now=exp + 1)


def test_an_access_token_passes_where_access_tokens_are_wanted(local_pool: LocalPool) -> None:
    access = local_pool.tokens()["AccessToken"]
    claims = verify(access, [local_pool.pool.issuer], Jwks(local_pool.local), token_use="access")
    assert claims["client_id"] == local_pool.client.client_id


def test_the_jwks_is_served_by_the_emulator_at_the_rewritten_url(local_pool: LocalPool) -> None:
    aws = f"{local_pool.pool.issuer}/.well-known/jwks.json"
    local = local_jwks_url(aws, local_pool.local)
    assert (
        local == f"{local_pool.emulator.endpoint}/{local_pool.pool.pool_id}/.well-known/jwks.json"
    )
    with urllib.request.urlopen(local, timeout=5) as answer:  # a plain GET, as a function's
        keys = json.load(answer)["keys"]
    assert [(k["kty"], k["alg"], k["kid"]) for k in keys] == [("RSA", "RS256", "dummy")]
    # Anything else stays as written, the issuer included.
    assert local_jwks_url(local_pool.pool.issuer, local_pool.local) == local_pool.pool.issuer
    other_region = aws.replace("us-east-1", "eu-west-1")
    assert local_jwks_url(other_region, LocalAws(endpoint="http://127.0.0.1:1")) == other_region


def test_the_header_may_hold_the_raw_token_or_bearer() -> None:
    assert token_from_header("eyJ.a.b") == "eyJ.a.b"
    assert token_from_header("Bearer eyJ.a.b") == "eyJ.a.b"
    assert token_from_header("bearer  eyJ.a.b ") == "eyJ.a.b"
    assert token_from_header("Bearer ") is None
    assert token_from_header("") is None
    assert token_from_header(None) is None


def test_claims_are_handed_on_as_strings_as_api_gateway_does() -> None:
    moment = 1513495692  # Sun Dec 17 07:28:12 UTC 2017
    strings = gateway_claims(
        {
            "sub": "s",
            "exp": moment,
            "iat": moment - 3600,
            "auth_time": moment - 3600,
            "email_verified": True,
            "cognito:groups": ["a", "b"],
        }
    )
    assert strings == {
        "sub": "s",
        "exp": "Sun Dec 17 07:28:12 UTC 2017",
        "iat": "Sun Dec 17 06:28:12 UTC 2017",
        "auth_time": "1513492092",
        "email_verified": "true",
        "cognito:groups": "a,b",
    }
    assert all(isinstance(v, str) for v in strings.values())
    assert time.strftime("%Y", time.gmtime(moment)) == "2017"
