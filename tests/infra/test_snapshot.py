"""One snapshot per stage: any change to the synthesized infrastructure shows up in review.

Update after an intended change with `make snapshot-update`, and read the diff.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import template_json, variant

CODE_ASSET = "<code asset>.zip"
SITE_ASSET = "<site asset>.zip"


def normalized(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template with function code and site asset hashes replaced: editing a handler or the
    page is not an infrastructure change (the page's config is pinned by tests/infra/test_site).
    Layer assets keep their hash, which is derived from the pinned requirements, the platform
    and the Python version: changing those is one."""
    result: dict[str, Any] = json.loads(json.dumps(template))
    for found in result["Resources"].values():
        if found["Type"] == "AWS::Lambda::Function" and "S3Key" in found["Properties"]["Code"]:
            found["Properties"]["Code"]["S3Key"] = CODE_ASSET
        if found["Type"] == "Custom::CDKBucketDeployment":
            keys = found["Properties"]["SourceObjectKeys"]
            found["Properties"]["SourceObjectKeys"] = [SITE_ASSET] * len(keys)
    return result


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    # Plain JSON files, so `cdk diff --template` can compare against a committed snapshot.
    return snapshot.use_extension(JSONSnapshotExtension)


def test_template_matches_snapshot(
    template: Template, stage: str, json_snapshot: SnapshotAssertion
) -> None:
    assert normalized(template_json(template)) == json_snapshot


def test_template_without_accounts_matches_snapshot(json_snapshot: SnapshotAssertion) -> None:
    """dev with `accounts: off`: a stage that does not turn accounts on keeps its template."""
    assert normalized(template_json(variant("dev-accounts-off"))) == json_snapshot


def test_snapshot_ignores_handler_code_and_the_page_but_not_layer_contents(
    templates: dict[str, Template],
) -> None:
    original = normalized(template_json(templates["dev"]))
    resources = original["Resources"]
    code_changed = copy.deepcopy(original)
    layer_changed = copy.deepcopy(original)
    page_changed = copy.deepcopy(original)
    for logical_id, found in resources.items():
        if found["Type"] == "Custom::CDKBucketDeployment":
            page_changed["Resources"][logical_id]["Properties"]["SourceObjectKeys"][0] = "new.zip"
        if found["Type"] == "AWS::Lambda::Function" and "S3Key" in found["Properties"]["Code"]:
            code_changed["Resources"][logical_id]["Properties"]["Code"]["S3Key"] = "other.zip"
        if found["Type"] == "AWS::Lambda::LayerVersion":
            layer_changed["Resources"][logical_id]["Properties"]["Content"]["S3Key"] = "other.zip"
    assert normalized(code_changed) == normalized(original)
    assert normalized(page_changed) == normalized(original)
    assert normalized(layer_changed) != normalized(original)
