"""Settings from cdk.json: a bad value fails synth with a message naming the setting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.settings import MAX_UPLOAD_BYTES_CEILING, Settings, SettingsError
from tests.infra.conftest import cdk_json_context, synthesize


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
    ],
)
def test_settings_errors_name_the_setting(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_context("dev", dev_settings(**changes))
    assert str(error.value).startswith(named) or f" {named}" in str(error.value), error.value


def test_upload_ceiling_leaves_room_in_lambdas_6_mb_payload_after_base64() -> None:
    assert MAX_UPLOAD_BYTES_CEILING * 4 / 3 < 6 * 1024 * 1024
    Settings.from_context("dev", dev_settings(maxUploadBytes=MAX_UPLOAD_BYTES_CEILING))


def test_unknown_stage_fails_synth_naming_the_stage() -> None:
    with pytest.raises(SettingsError, match="stage: 'staging'"):
        synthesize("staging")
