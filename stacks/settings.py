"""Typed, validated per-stage settings.

`app.py` is the only reader of context: it hands the raw stage dictionary from `cdk.json` to
`Settings.from_context`, which fails with a message naming the offending setting.
Constructs receive the frozen result and never look at context or environment themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from image_service.contract import ContractError, Rendition, parse_renditions

RUNTIMES = ("python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("arm64", "x86_64")
REMOVAL_POLICIES = ("destroy", "retain")
# Accounts: none; signing in optional (anonymous clients keep the original contract); or a
# signed-in person needed for every write.
ACCOUNT_MODES = ("off", "optional", "required")
# Who creates accounts: anyone (self sign-up), or an administrator.
SIGN_UP_MODES = ("open", "invite")
# CloudFront's price classes: North America, Europe and Israel; then also Asia, the Middle East
# and Africa; then every edge location.
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# CloudFront uses only certificates from ACM in us-east-1, and a CLOUDFRONT-scope web ACL can
# only be created there.
CLOUDFRONT_REGION = "us-east-1"
DOMAIN_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
CERTIFICATE_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:acm:(?P<region>[a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}"
)

# A synchronous Lambda invocation carries at most 6 MB (6,291,456 bytes), and API Gateway
# hands binary bodies over base64-encoded (4/3 larger): 4.5 MB of image leaves room for headers.
MAX_UPLOAD_BYTES_CEILING = 4_500_000
# Direct uploads go to S3, not through Lambda, but the worker reads the whole original into
# memory and decodes it: its memory was measured for 50 MB / 50 MP originals (SCALING.md).
MAX_DIRECT_UPLOAD_BYTES_CEILING = 100_000_000


class SettingsError(ValueError):
    """A setting in cdk.json context is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Throttle:
    rate: float  # steady-state requests per second
    burst: int


@dataclass(frozen=True)
class Settings:
    stage: str
    runtime: str
    architecture: str
    renditions: tuple[Rendition, ...]
    default_rendition: str
    max_upload_bytes: int
    max_direct_upload_bytes: int
    max_image_pixels: int
    api_key_required: bool
    cors_origins: tuple[str, ...]
    throttle: Throttle
    thumbnail_concurrency: int
    removal_policy: str
    price_class: str
    waf: bool
    # The distribution's own name on the web, with its certificate; None: the cloudfront.net
    # name CloudFront gives it.
    domain_name: str | None = None
    certificate_arn: str | None = None
    accounts: str = "off"
    sign_up: str = "invite"

    @property
    def has_accounts(self) -> bool:
        """A user pool exists and API Gateway checks tokens (`accounts` optional or required)."""
        return self.accounts != "off"

    @property
    def accounts_required(self) -> bool:
        return self.accounts == "required"

    @property
    def removal(self) -> RemovalPolicy:
        """What deleting the stack does to data and logs: kept in prod, gone in dev."""
        return RemovalPolicy.RETAIN if self.removal_policy == "retain" else RemovalPolicy.DESTROY

    @property
    def python_version(self) -> str:
        """`python3.13` -> `3.13`: the version the layer's wheels are chosen for."""
        return self.runtime.removeprefix("python")

    @classmethod
    def from_context(cls, stage: str, raw: Mapping[str, Any]) -> Settings:
        """Build settings for `stage` from its `cdk.json` context dictionary."""
        if not isinstance(raw, Mapping):
            raise SettingsError(f"stage '{stage}': settings must be an object")
        known = {
            "runtime",
            "architecture",
            "renditions",
            "defaultRendition",
            "maxUploadBytes",
            "maxDirectUploadBytes",
            "maxImagePixels",
            "apiKeyRequired",
            "corsOrigins",
            "throttle",
            "thumbnailConcurrency",
            "removalPolicy",
            "priceClass",
            "waf",
            "domainName",
            "certificateArn",
            "accounts",
            "signUp",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"stage '{stage}': unknown setting(s) {', '.join(unknown)}")

        try:
            renditions = parse_renditions(raw.get("renditions"))
        except ContractError as err:
            raise SettingsError(str(err)) from err
        default_rendition = raw.get("defaultRendition", renditions[0].name)
        if default_rendition not in {r.name for r in renditions}:
            raise SettingsError(
                f"defaultRendition: '{default_rendition}' is not one of the configured renditions"
            )
        throttle = raw.get("throttle")
        if not isinstance(throttle, Mapping) or set(throttle) != {"rate", "burst"}:
            raise SettingsError("throttle: expected an object {rate, burst}")
        rate = _number("throttle.rate", throttle["rate"], minimum=1, maximum=10_000)
        burst = _integer("throttle.burst", throttle["burst"], minimum=1, maximum=5_000)

        cors = raw.get("corsOrigins")
        if not isinstance(cors, list) or not all(isinstance(o, str) and o for o in cors):
            raise SettingsError("corsOrigins: expected a list of origins (or [] for none)")
        for origin in cors:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise SettingsError(f"corsOrigins: '{origin}' is not '*' or a scheme://host origin")

        api_key_required = raw.get("apiKeyRequired")
        if not isinstance(api_key_required, bool):
            raise SettingsError("apiKeyRequired: expected true or false")
        waf = raw.get("waf")
        if not isinstance(waf, bool):
            raise SettingsError("waf: expected true or false")
        domain_name, certificate_arn = _custom_domain(raw)

        max_upload_bytes = _integer(
            "maxUploadBytes",
            raw.get("maxUploadBytes"),
            minimum=1_024,
            maximum=MAX_UPLOAD_BYTES_CEILING,
        )
        max_direct_upload_bytes = _integer(
            "maxDirectUploadBytes",
            raw.get("maxDirectUploadBytes"),
            minimum=max_upload_bytes,
            maximum=MAX_DIRECT_UPLOAD_BYTES_CEILING,
        )
        return cls(
            stage=stage,
            runtime=_choice("runtime", raw.get("runtime"), RUNTIMES),
            architecture=_choice("architecture", raw.get("architecture"), ARCHITECTURES),
            renditions=renditions,
            default_rendition=default_rendition,
            max_upload_bytes=max_upload_bytes,
            max_direct_upload_bytes=max_direct_upload_bytes,
            max_image_pixels=_integer(
                "maxImagePixels", raw.get("maxImagePixels"), minimum=1, maximum=200_000_000
            ),
            api_key_required=api_key_required,
            cors_origins=tuple(cors),
            throttle=Throttle(rate=rate, burst=burst),
            thumbnail_concurrency=_integer(
                "thumbnailConcurrency", raw.get("thumbnailConcurrency"), minimum=2, maximum=1_000
            ),
            removal_policy=_choice("removalPolicy", raw.get("removalPolicy"), REMOVAL_POLICIES),
            price_class=_choice("priceClass", raw.get("priceClass"), PRICE_CLASSES),
            waf=waf,
            domain_name=domain_name,
            certificate_arn=certificate_arn,
            accounts=_choice("accounts", raw.get("accounts"), ACCOUNT_MODES),
            sign_up=_choice("signUp", raw.get("signUp"), SIGN_UP_MODES),
        )


def _custom_domain(raw: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """`domainName` and `certificateArn`: both (the distribution answers to that name with that
    certificate) or neither."""
    domain, certificate = raw.get("domainName"), raw.get("certificateArn")
    if (domain is None) != (certificate is None):
        raise SettingsError("domainName, certificateArn: set both or neither")
    if domain is None or certificate is None:
        return None, None
    if not isinstance(domain, str) or not DOMAIN_NAME.fullmatch(domain):
        raise SettingsError(
            f"domainName: {domain!r} is not a lower-case host name such as photos.example.com"
        )
    match = CERTIFICATE_ARN.fullmatch(certificate) if isinstance(certificate, str) else None
    if match is None:
        raise SettingsError(f"certificateArn: {certificate!r} is not an ACM certificate ARN")
    if match["region"] != CLOUDFRONT_REGION:
        raise SettingsError(
            f"certificateArn: CloudFront only uses ACM certificates in {CLOUDFRONT_REGION}; "
            f"this one is in {match['region']}"
        )
    return domain, certificate


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _integer(name: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise SettingsError(f"{name}: {value!r} is not a whole number from {minimum} to {maximum}")
    return value


def _number(name: str, value: Any, minimum: float, maximum: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not minimum <= value <= maximum
    ):
        raise SettingsError(f"{name}: {value!r} is not a number from {minimum} to {maximum}")
    return float(value)
