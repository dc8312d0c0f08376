"""Tokens as a Cognito user pool issues them, signed by keys made here: the optional
authorizer's tests point its JWKS at these keys (`serve`), never at the network."""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.functions.conftest import CLIENT_ID, ISSUER


@functools.cache
def _private_key(label: str) -> rsa.RSAPrivateKey:
    """One 2048-bit RSA key per label and session (Cognito's size; making one takes ~50 ms)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Pool:
    """A user pool's signing key and the tokens it issues."""

    issuer: str = ISSUER
    client_id: str = CLIENT_ID
    key_label: str = "pool"
    kid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return _private_key(self.key_label)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def claims(self, subject: str, **changes: Any) -> dict[str, Any]:
        """An ID token's claims, as Cognito writes them."""
        now = int(time.time())
        claims = {
            "sub": subject,
            "email_verified": True,
            "iss": self.issuer,
            "cognito:username": subject,
            "origin_jti": str(uuid.uuid4()),
            "aud": self.client_id,
            "event_id": str(uuid.uuid4()),
            "token_use": "id",
            "auth_time": now - 60,
            "exp": now + 3600,
            "iat": now - 60,
            "jti": str(uuid.uuid4()),
            "email": f"{subject[:8]}@example.com",
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(self, subject: str, **changes: Any) -> str:
        return self.sign(self.claims(subject, **changes))

    def access_token(self, subject: str) -> str:
        """An access token: no audience, the client in `client_id`, token_use `access`."""
        claims = self.claims(subject, aud=None, token_use="access", email=None)
        claims.update(client_id=self.client_id, scope="openid email profile", username=subject)
        return self.sign(claims)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, **headers})


def jwks(*pools: Pool) -> dict[str, Any]:
    return {"keys": [pool.jwk() for pool in pools]}


@dataclass
class KeysServed:
    """What the authorizer fetched: how often, and what it gets next."""

    served: dict[str, Any]
    fetches: int = 0
    down: bool = False


def serve(monkeypatch: pytest.MonkeyPatch, authorizer: Any, *pools: Pool) -> KeysServed:
    """Give the authorizer fresh signing keys, configured as it configures them, whose one
    network call (the JWKS fetch) answers `pools`' keys instead."""
    keys = authorizer.signing_keys(authorizer.CONFIG.jwks_url)
    state = KeysServed(jwks(*pools))

    def fetch_data() -> Any:
        state.fetches += 1
        if state.down:
            raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url, err: down")
        keys._last_successful_fetch = time.monotonic()
        return state.served

    monkeypatch.setattr(keys, "fetch_data", fetch_data)
    monkeypatch.setattr(authorizer, "keys", keys)
    return state
