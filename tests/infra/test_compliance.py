"""Best-practice and validity checks on the synthesized templates: cdk-nag and cfn-lint."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from stacks.image_service_stack import ImageServiceStack
from tests.infra.conftest import template_json

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(
    stacks: dict[str, ImageServiceStack],
) -> None:
    for stage, stack in stacks.items():
        report = AwsSolutionsChecks().validate_scope(stack)
        findings = [
            f"{violation.rule_name} at {resource.construct_path}"
            for violation in report.violations
            for resource in violation.violating_resources
        ]
        assert report.success, f"{stage}:\n" + "\n".join(findings)
        assert findings == [], stage


def test_every_acknowledgement_gives_a_specific_reason(
    stacks: dict[str, ImageServiceStack],
) -> None:
    acknowledged: dict[str, str] = {}
    for construct in stacks["prod"].node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED:
                acknowledged.update(entry.data)
    assert acknowledged, "the stack acknowledges the findings its design accepts"
    for finding, reason in acknowledged.items():
        # A reason a reviewer can check: what the wildcard or exception is for.
        assert len(reason) >= 40, f"{finding}: {reason!r}"


@pytest.mark.slow  # cfn-lint loads its schemas: seconds, for make test, not the fast loop
def test_cfn_lint_finds_no_error(templates: dict[str, Template]) -> None:
    config = ManualArgs(regions=["us-east-1"])
    for stage, template in templates.items():
        matches = lint(json.dumps(template_json(template)), config=config)
        errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"]
        assert errors == [], stage
