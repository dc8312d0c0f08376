"""Who is calling: the one place that reads the authorizer's verdict from an API event.

API Gateway checks the token before any function runs and hands over what it found:
Cognito's user-pool authorizer as `requestContext.authorizer.claims` (the ID token's claims,
every value a string), the optional authorizer as `requestContext.authorizer` itself (`iss`
and `sub` for a signed-in caller, only `principalId: "anonymous"` for anyone else). A client
cannot write either: API Gateway builds the request context.

A person is the pair (issuer, subject): the subject is unique and never reassigned within
one user pool, the issuer names the pool. Never the email or the username, which can change
or be given to someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Owner:
    issuer: str
    subject: str

    @property
    def key(self) -> str:
        """What the catalogue stores as a record's `owner`."""
        return f"{self.issuer}|{self.subject}"


def caller(event: Mapping[str, Any]) -> Owner | None:
    """The signed-in caller of an API Gateway proxy event, or None for an anonymous one (and
    on every route of a stage without accounts, which has no authorizer)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    if not isinstance(authorizer, Mapping):
        return None
    claims = authorizer.get("claims")
    found = claims if isinstance(claims, Mapping) else authorizer
    issuer, subject = found.get("iss"), found.get("sub")
    if isinstance(issuer, str) and issuer and isinstance(subject, str) and subject:
        return Owner(issuer, subject)
    return None
