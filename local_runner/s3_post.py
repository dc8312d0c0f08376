"""What S3 checks on a browser's POST upload, and its CORS answers, in front of moto.

moto stores a presigned POST's file without reading its policy. S3 refuses it unless the
signature matches, the policy has not expired, every condition holds (exact key, declared
Content-Type, `content-length-range`) and no form field is left uncovered. This WSGI
middleware checks exactly that before moto sees the request, and answers violations with
S3's XML errors; it also answers CORS preflights and decorates responses from the bucket's
CORS rules, as S3 does for a page on another origin. Everything else passes through untouched.

Not checked (S3 does, rarely matters here): fields after the file (S3 ignores them), the
`success_action_*` and `${filename}` features, and POST policies signed with SigV2.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import io
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Bodies beyond this are refused before they are read into memory (locally, not by S3).
MAX_BODY_BYTES = 256 * 1024 * 1024
# Fields S3 never asks the policy to cover.
UNCOVERED = frozenset({"policy", "x-amz-signature", "file"})


@dataclass(frozen=True)
class CorsRule:
    """One rule of a bucket's `CorsConfiguration`, as CloudFormation writes it."""

    methods: tuple[str, ...]
    origins: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None

    @classmethod
    def from_template(cls, rule: Mapping[str, Any]) -> CorsRule:
        return cls(
            methods=tuple(str(m).upper() for m in rule.get("AllowedMethods", ())),
            origins=tuple(rule.get("AllowedOrigins", ())),
            headers=tuple(rule.get("AllowedHeaders", ())),
            expose=tuple(rule.get("ExposedHeaders", ())),
            max_age=int(rule["MaxAge"]) if "MaxAge" in rule else None,
        )

    def allows(self, origin: str, method: str, headers: Iterable[str] = ()) -> bool:
        return (
            any(fnmatch.fnmatchcase(origin, pattern) for pattern in self.origins)
            and method.upper() in self.methods
            and all(
                any(fnmatch.fnmatchcase(h.lower(), p.lower()) for p in self.headers)
                for h in headers
                if h
            )
        )

    def answer(self, origin: str, requested_headers: Iterable[str] = ()) -> list[tuple[str, str]]:
        headers = [
            ("Access-Control-Allow-Origin", "*" if self.origins == ("*",) else origin),
            ("Access-Control-Allow-Methods", ", ".join(self.methods)),
            ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
        ]
        requested = [h for h in requested_headers if h]
        if requested:
            headers.append(("Access-Control-Allow-Headers", ", ".join(requested)))
        if self.expose:
            headers.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        return headers


class Refused(Exception):
    """What S3 answers instead of storing the upload."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_post(
    bucket: str,
    fields: Mapping[str, str],
    file_size: int | None,
    secrets_by_key: Mapping[str, str],
    now: float,
) -> None:
    """Raise `Refused` unless S3 would store this POST upload (field names lower-case)."""
    if file_size is None:
        raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    for required in ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-signature"):
        if required not in fields:
            raise Refused(
                400, "InvalidArgument", f"Bucket POST must contain a field named '{required}'."
            )
    if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise Refused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 signed policies are taken.")
    try:
        access_key, date, region, service, terminal = fields["x-amz-credential"].split("/")
    except ValueError as err:
        raise Refused(400, "InvalidArgument", "Malformed x-amz-credential.") from err
    if access_key not in secrets_by_key:
        raise Refused(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    key = _signing_key(secrets_by_key[access_key], date, region, service)
    expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    if terminal != "aws4_request" or not hmac.compare_digest(expected, fields["x-amz-signature"]):
        raise Refused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = policy["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: malformed.") from err
    if expiration.astimezone(UTC).timestamp() < now:
        raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")

    values = {**fields, "bucket": bucket}
    covered: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, wanted),) = condition.items()
            condition = ["eq", f"${name}", wanted]
        if not isinstance(condition, list) or len(condition) != 3:
            raise Refused(400, "InvalidPolicyDocument", f"Invalid Policy: {condition!r}.")
        op, subject, value = condition
        if op == "content-length-range":
            assert file_size is not None
            if file_size > int(value):
                raise Refused(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if file_size < int(subject):
                raise Refused(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                )
            continue
        name = str(subject).removeprefix("$").lower()
        covered.add(name)
        actual = values.get(name, "")
        held = actual == value if op == "eq" else op == "starts-with" and actual.startswith(value)
        if not held:
            raise Refused(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
            )
    extra = sorted(
        name
        for name in fields
        if name not in covered and name not in UNCOVERED and not name.startswith("x-ignore-")
    )
    if extra:
        raise Refused(
            403,
            "AccessDenied",
            f"Invalid according to Policy: Extra input fields: {', '.join(extra)}",
        )


def _error_body(refused: Refused) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(refused.code)}</Code><Message>{escape(refused.message)}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId>"
        f"<HostId>{base64.b64encode(secrets.token_bytes(24)).decode()}</HostId></Error>"
    ).encode()


class PostPolicyGate:
    """WSGI middleware for moto's app: S3's POST policy checks and CORS for the stack's
    buckets (`cors`: bucket name -> its CORS rules, empty when it has none)."""

    def __init__(
        self,
        app: WsgiApp,
        cors: Mapping[str, tuple[CorsRule, ...]],
        secrets_by_key: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.cors = cors
        self.secrets_by_key = secrets_by_key
        self.clock = clock

    def _bucket(self, environ: Mapping[str, Any]) -> str | None:
        """The stack bucket a request is for (path-style, as the local endpoint is used)."""
        first = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        return first if first in self.cors else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        bucket = self._bucket(environ)
        if bucket is None:
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"].upper()
        origin = environ.get("HTTP_ORIGIN")
        rules = self.cors[bucket]
        if method == "OPTIONS" and origin and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
            requested = [h.strip() for h in asked.split(",")]
            wanted = environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"]
            rule = next((r for r in rules if r.allows(origin, wanted, requested)), None)
            if rule is None:
                refused = Refused(
                    403,
                    "AccessForbidden",
                    "CORSResponse: This CORS request is not allowed. This is usually because "
                    "the evalution of Origin, request method / Access-Control-Request-Method or "
                    "Access-Control-Request-Headers are not whitelisted by the resource's CORS "
                    "spec.",
                )
                return self._refuse(refused, [], start_response)
            start_response("200 OK", [*rule.answer(origin, requested), ("Content-Length", "0")])
            return [b""]
        cors = []
        if origin:
            rule = next((r for r in rules if r.allows(origin, method)), None)
            cors = rule.answer(origin) if rule else []
        content_type = environ.get("CONTENT_TYPE", "")
        if method == "POST" and content_type.startswith("multipart/form-data"):
            violation = self._check_upload(environ, bucket)
            if violation is not None:
                return self._refuse(violation, cors, start_response)

        def with_cors(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            names = {name.lower() for name, _ in headers}
            extra = [(n, v) for n, v in cors if n.lower() not in names]
            return start_response(status, headers + extra, *args)

        return self.app(environ, with_cors)

    def _check_upload(self, environ: dict[str, Any], bucket: str) -> Refused | None:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY_BYTES:
            return Refused(400, "MaxMessageLengthExceeded", "Your request was too big.")
        body = environ["wsgi.input"].read(length)
        parse = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        _, form, files = parse_form_data(parse)
        environ["wsgi.input"] = io.BytesIO(body)  # for moto, as it arrived
        fields = {name.lower(): value for name, value in form.items(multi=True)}
        upload = files.get("file")
        size = None
        if upload is not None and len(files) == 1:
            size = upload.stream.seek(0, io.SEEK_END)  # its length, without a copy of it
        try:
            check_post(bucket, fields, size, self.secrets_by_key, self.clock())
        except Refused as refused:
            return refused
        return None

    def _refuse(
        self, refused: Refused, cors: list[tuple[str, str]], start_response: Callable[..., Any]
    ) -> list[bytes]:
        body = _error_body(refused)
        start_response(
            f"{refused.status} {HTTPStatus(refused.status).phrase}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body))), *cors],
        )
        return [body]
