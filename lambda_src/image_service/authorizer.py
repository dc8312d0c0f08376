"""The optional authorizer: API Gateway's REQUEST authorizer on the routes where signing in is
optional.

Cognito's own user-pool authorizer answers 401 to a request without a token, so it cannot
guard a route that anonymous clients may use too. This one lets a request without an
`Authorization` header through as anonymous, and verifies a present token exactly as a
signed-in route would: an RS256 signature by one of the user pool's keys, its issuer, this
app client as its audience, an ID token (never an access token), not expired. Anything else
raises `Exception("Unauthorized")`, which API Gateway answers with 401
`{"message": "Unauthorized"}` before any function runs.

What the functions then see (`requestContext.authorizer`): `principalId`, and for a signed-in
caller its `iss`, `sub` and `email`, which `identity.caller` reads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import jwt
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_service.config import AuthorizerConfig

CONFIG = AuthorizerConfig.from_environ(os.environ)
logger = Logger()

ALGORITHMS = ["RS256"]  # what Cognito signs with; "none" and HMAC can never be chosen
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "token_use"]
ID_TOKEN = "id"  # noqa: S105 (the token_use of an ID token)
ANONYMOUS = "anonymous"
# A fetch of the signing keys that takes longer fails (401): the function times out at 10 s.
JWKS_TIMEOUT_SECONDS = 3


def signing_keys(url: str) -> jwt.PyJWKClient:
    """The user pool's signing keys (its JWKS), fetched at the first signed request and kept
    for the life of the execution environment. A token signed by a key not among them makes
    the client fetch them once more (at most every 30 s, so made-up key ids cannot turn
    every request into a fetch): that is how a new Cognito key is picked up."""
    return jwt.PyJWKClient(url, lifespan=math.inf, timeout=JWKS_TIMEOUT_SECONDS)


# Tests replace it with keys of their own: nothing here reaches the network before then.
keys = signing_keys(CONFIG.jwks_url)


def token_of(headers: Mapping[str, Any] | None) -> str | None:
    """The token of an `Authorization` header (any case): the raw token or `Bearer <token>`.
    None when there is no header or it is empty: an anonymous request."""
    for name, value in (headers or {}).items():
        if name.lower() != "authorization":
            continue
        text = str(value or "").strip()
        if not text:
            return None
        scheme, _, rest = text.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else text
    return None


def verify(token: str) -> dict[str, Any]:
    """The token's claims if it is an ID token of this pool for this client, else an error."""
    claims: dict[str, Any] = jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token),
        algorithms=ALGORITHMS,
        audience=CONFIG.token_audience,
        issuer=CONFIG.token_issuer,
        options={"require": REQUIRED_CLAIMS},
    )
    if claims["token_use"] != ID_TOKEN:
        raise jwt.InvalidTokenError(f"token_use is {str(claims['token_use'])[:20]!r}, not 'id'")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise jwt.InvalidTokenError("sub is not a string")
    return claims


def allow(principal: str, method_arn: str, context: Mapping[str, str]) -> dict[str, Any]:
    """An authorizer answer that lets this one request through (results are never cached)."""
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}
            ],
        },
        "context": dict(context),
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method_arn = str(event.get("methodArn", ""))
    token = token_of(event.get("headers"))
    if token is None:
        return allow(ANONYMOUS, method_arn, {})
    try:
        claims = verify(token)
    except jwt.PyJWKClientConnectionError:
        # Our side: the keys could not be fetched. Still 401, as the contract says, but
        # logged as the error it is.
        logger.exception("signing keys unavailable; token refused")
        raise Exception("Unauthorized") from None
    # Any other failure refuses the token, never lets it through. "Unauthorized", exactly, is
    # what API Gateway turns into its 401.
    except Exception as err:
        logger.info("token refused", extra={"reason": f"{type(err).__name__}: {err}"[:200]})
        raise Exception("Unauthorized") from None
    subject = claims["sub"]
    return allow(
        subject,
        method_arn,
        {"iss": str(claims["iss"]), "sub": subject, "email": str(claims.get("email", ""))},
    )
