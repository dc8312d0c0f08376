"""User pool tokens as API Gateway checks them: signature against the pool's JWKS (which moto
serves), issuer, token use and expiry; and the claims as API Gateway hands them on.

moto signs every pool's tokens with one RS256 key that ships with moto (its JWKS has the one
key `kid: dummy`), so a token of another pool passes the signature check: it is the issuer
that tells the pools apart, as the pools' own keys do in AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import urllib.request
from collections.abc import Collection, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from local_runner.template import LocalAws

JWKS_FETCH_TIMEOUT_S = 5.0
# A function's environment value naming a pool's JWKS in AWS; the runner points it at moto.
AWS_JWKS_URL = re.compile(
    r"^https://cognito-idp\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<pool>[\w-]+)/\.well-known/jwks\.json$"
)


class TokenError(Exception):
    """The token is not one the authorizer accepts; the message says why (for the log)."""


def token_from_header(value: str | None) -> str | None:
    """The token of an Authorization header: the raw token or `Bearer <token>`."""
    if value is None:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def local_jwks_url(value: str, local: LocalAws) -> str:
    """`value` pointed at the emulator if it is a pool's JWKS URL in AWS (moto serves it at
    `/<pool id>/.well-known/jwks.json`, unsigned); any other value as it is."""
    found = AWS_JWKS_URL.match(value)
    if found is None or found["region"] != local.region:
        return value
    return f"{local.endpoint}/{found['pool']}/.well-known/jwks.json"


class Jwks:
    """Each pool's key set, fetched from the emulator once and again for an unknown key."""

    def __init__(self, local: LocalAws) -> None:
        self.local = local
        self._keys: dict[str, KeySet] = {}
        self._lock = threading.Lock()

    def url(self, issuer: str) -> str:
        return local_jwks_url(f"{issuer}/.well-known/jwks.json", self.local)

    def keys(self, issuer: str, *, refresh: bool = False) -> KeySet:
        with self._lock:
            if refresh or issuer not in self._keys:
                with urllib.request.urlopen(  # noqa: S310  (the emulator, on loopback)
                    self.url(issuer), timeout=JWKS_FETCH_TIMEOUT_S
                ) as answer:
                    self._keys[issuer] = KeySet.import_key_set(json.load(answer))
            return self._keys[issuer]


def verify(
    token: str,
    issuers: Collection[str],
    jwks: Jwks,
    *,
    token_use: str = "id",  # noqa: S107  (a claim value, not a secret)
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims if it is a valid `token_use` token of one of `issuers`' pools:
    an RS256 signature by one of the pool's keys, its issuer, token use, issue time and
    expiry (no leeway). Raises TokenError."""
    issuer = unverified_claims(token).get("iss")
    if not isinstance(issuer, str) or issuer not in issuers:
        raise TokenError(f"issued by {issuer!r}, not by a user pool of this authorizer")
    try:
        try:
            claims = dict(jwt.decode(token, jwks.keys(issuer), algorithms=["RS256"]).claims)
        except InvalidKeyIdError:  # a key the pool has since added: fetched once more
            claims = dict(
                jwt.decode(token, jwks.keys(issuer, refresh=True), algorithms=["RS256"]).claims
            )
        jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
            iat={"essential": True},
            token_use={"essential": True, "value": token_use},
        ).validate(claims)
    except (JoseError, ValueError) as error:
        raise TokenError(f"refused: {error}") from error
    return claims


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, before any check (to pick the key set by its issuer)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error) as error:
        raise TokenError("not a readable JWT") from error
    if not isinstance(payload, dict):
        raise TokenError("not a readable JWT")
    return payload


API_GATEWAY_TIME = "%a %b %d %H:%M:%S UTC %Y"  # how it writes a token's exp and iat


def gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims as a COGNITO_USER_POOLS authorizer puts them in
    `requestContext.authorizer.claims`: every value a string, `exp` and `iat` as dates
    (`Sun Dec 17 07:28:12 UTC 2017`), other numbers as digits."""
    strings: dict[str, str] = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float):
            strings[name] = time.strftime(API_GATEWAY_TIME, time.gmtime(value))
        elif isinstance(value, bool):
            strings[name] = "true" if value else "false"
        elif isinstance(value, list):
            strings[name] = ",".join(str(item) for item in value)
        elif isinstance(value, dict):
            strings[name] = json.dumps(value)
        else:
            strings[name] = str(value)
    return strings
