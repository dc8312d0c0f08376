"""Helpers for the tests of accounts: tokens as moto signs them, PKCE, the stand-in's forms."""

from __future__ import annotations

import base64
import functools
import hashlib
import html.parser
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from local_runner.harness import RunnerProcess


@functools.cache
def moto_key() -> RSAKey:
    """The one private key moto signs every user pool's tokens with (it ships with moto)."""
    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def forged(claims: dict[str, Any], key: RSAKey | None = None, kid: str = "dummy") -> str:
    """A token signed as moto signs them (or with `key`), with exactly `claims`."""
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key or moto_key())


def expired(token_claims: dict[str, Any]) -> str:
    """The token with these claims, signed by moto's key, that expired a minute ago."""
    now = int(time.time())
    return forged({**token_claims, "iat": now - 3660, "exp": now - 60})


def tampered(token: str) -> str:
    """The token with its payload changed (another `sub`), the signature left as it was."""
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, moto_key()).claims
    changed = {**claims, "sub": "someone-else"}
    forged_payload = forged(changed).split(".")[1]
    assert forged_payload != payload
    return f"{header}.{forged_payload}.{signature}"


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Form(html.parser.HTMLParser):
    """What a person sees of a page: its form's action, fields by label, buttons, links."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.labels: dict[str, str] = {}  # label text -> the field's id
        self.fields: dict[str, dict[str, str]] = {}  # id -> attributes
        self.buttons: list[str] = []
        self.links: dict[str, str] = {}  # text -> href
        self.alerts: list[str] = []
        self.scripts = 0
        self._label: str | None = None
        self._text: list[str] = []
        self._in: str | None = None
        self._href = ""
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = attributes.get("action")
        elif tag == "label":
            self._label, self._text, self._in = attributes.get("for", ""), [], "label"
        elif tag == "input":
            self.fields[attributes.get("id", "")] = attributes
        elif tag in ("button", "a") or (tag == "p" and attributes.get("role") == "alert"):
            self._text, self._in, self._href = [], tag, attributes.get("href", "")
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        if tag == "label" and self._in == "label" and self._label is not None:
            self.labels[text] = self._label
        elif tag == "button" and self._in == "button":
            self.buttons.append(text)
        elif tag == "a" and self._in == "a":
            self.links[text] = self._href
        elif tag == "p" and self._in == "p":
            self.alerts.append(text)
        if tag in ("label", "button", "a", "p"):
            self._in = None

    def field(self, label: str) -> dict[str, str]:
        return self.fields[self.labels[label]]


def other_pool_token(runner: RunnerProcess, email: str, password: str) -> str:
    """An ID token of another user pool in the runner's emulator: signed by the same key as
    the stack's own pool's tokens, so only its issuer and audience give it away."""
    cognito = runner.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="elsewhere", UsernameAttributes=["email"])
    pool_id = pool["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="elsewhere")
    cognito.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=email, Password=password, Permanent=True
    )
    answer = cognito.initiate_auth(
        ClientId=client["UserPoolClient"]["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return str(answer["AuthenticationResult"]["IdToken"])
