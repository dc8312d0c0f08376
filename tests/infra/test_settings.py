"""Settings from cdk.json: a bad value fails synth with a message naming the setting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.settings import MAX_UPLOAD_BYTES_CEILING, Settings, SettingsError
from tests.infra.conftest import cdk_json_context, synthesize

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def dev_settings(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(cdk_json_context()["stages"]["dev"])
    raw.update(changes)
    return raw


def test_committed_stages_are_valid() -> None:
    for stage, raw in cdk_json_context()["stages"].items():
        settings = Settings.from_context(stage, raw)
        assert settings.stage == stage


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"runtime": "python3.9"}, "runtime"),
        ({"architecture": "aarch64"}, "architecture"),
        ({"maxUploadBytes": MAX_UPLOAD_BYTES_CEILING + 1}, "maxUploadBytes"),
        ({"maxUploadBytes": "4MB"}, "maxUploadBytes"),
        ({"maxDirectUploadBytes": 100_000_001}, "maxDirectUploadBytes"),
        ({"maxDirectUploadBytes": 1_000}, "maxDirectUploadBytes"),  # below maxUploadBytes
        ({"maxDirectUploadBytes": "50MB"}, "maxDirectUploadBytes"),
        ({"maxImagePixels": 0}, "maxImagePixels"),
        ({"apiKeyRequired": "yes"}, "apiKeyRequired"),
        ({"corsOrigins": "*"}, "corsOrigins"),
        ({"corsOrigins": ["example.com/path"]}, "corsOrigins"),
        ({"throttle": {"rate": 10}}, "throttle"),
        ({"throttle": {"rate": 10, "burst": 0}}, "throttle.burst"),
        ({"thumbnailConcurrency": 1}, "thumbnailConcurrency"),
        ({"removalPolicy": "snapshot"}, "removalPolicy"),
        ({"renditions": {}}, "renditions"),
        ({"renditions": {"Thumb": {"width": 1, "height": 1, "fit": "contain"}}}, "renditions"),
        ({"renditions": {"_failed": {"width": 1, "height": 1, "fit": "contain"}}}, "renditions"),
        (
            {"renditions": {"thumb": {"width": 0, "height": 1, "fit": "contain"}}},
            "renditions.thumb.width",
        ),
        (
            {"renditions": {"thumb": {"width": 1, "height": 1, "fit": "stretch"}}},
            "renditions.thumb.fit",
        ),
        ({"defaultRendition": "huge"}, "defaultRendition"),
        ({"maxUploadByte": 1000}, "maxUploadByte"),
        ({"priceClass": "PriceClass_50"}, "priceClass"),
        ({"accounts": "yes"}, "accounts"),
        ({"accounts": None}, "accounts"),
        ({"accounts": True}, "accounts"),
        ({"signUp": "closed"}, "signUp"),
        ({"signUp": None}, "signUp"),
        ({"priceClass": None}, "priceClass"),
        ({"waf": "off"}, "waf"),
        ({"waf": None}, "waf"),
        ({"domainName": "photos.example.com"}, "domainName, certificateArn"),
        ({"certificateArn": CERTIFICATE}, "domainName, certificateArn"),
        ({"domainName": "https://photos.example.com", "certificateArn": CERTIFICATE}, "domainName"),
        ({"domainName": "Photos.Example.com", "certificateArn": CERTIFICATE}, "domainName"),
        ({"domainName": "photos", "certificateArn": CERTIFICATE}, "domainName"),
        (
            {"domainName": "photos.example.com", "certificateArn": "arn:aws:iam::1:role/x"},
            "certificateArn",
        ),
        (
            {
                "domainName": "photos.example.com",
                "certificateArn": CERTIFICATE.replace("us-east-1", "eu-west-1"),
            },
            "certificateArn",
        ),
    ],
)
def test_settings_errors_name_the_setting(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_context("dev", dev_settings(**changes))
    assert str(error.value).startswith(named) or f" {named}" in str(error.value), error.value


def test_the_distribution_settings_are_read_with_an_optional_custom_domain() -> None:
    plain = Settings.from_context("dev", dev_settings())
    assert (plain.price_class, plain.waf, plain.domain_name, plain.certificate_arn) == (
        "PriceClass_100",
        False,
        None,
        None,
    )
    named = Settings.from_context(
        "dev",
        dev_settings(domainName="photos.example.com", certificateArn=CERTIFICATE, waf=True),
    )
    assert (named.domain_name, named.certificate_arn, named.waf) == (
        "photos.example.com",
        CERTIFICATE,
        True,
    )


def test_a_certificate_outside_us_east_1_is_refused_with_its_region() -> None:
    with pytest.raises(SettingsError, match="us-east-1; this one is in eu-west-1"):
        Settings.from_context(
            "dev",
            dev_settings(
                domainName="photos.example.com",
                certificateArn=CERTIFICATE.replace("us-east-1", "eu-west-1"),
            ),
        )


def test_upload_ceiling_leaves_room_in_lambdas_6_mb_payload_after_base64() -> None:
    assert MAX_UPLOAD_BYTES_CEILING * 4 / 3 < 6 * 1024 * 1024
    Settings.from_context("dev", dev_settings(maxUploadBytes=MAX_UPLOAD_BYTES_CEILING))


def test_unknown_stage_fails_synth_naming_the_stage() -> None:
    with pytest.raises(SettingsError, match="stage: 'staging'"):
        synthesize("staging")
