"""checkov, a second policy checker: no finding that is not skipped with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.infra.checkov_scan import Report, scan
from tests.infra.conftest import template_json, variant
from tests.infra.test_delivery import everything_on

pytestmark = pytest.mark.slow  # checkov takes 15 s; `make lint` runs it too

# Checks the design accepts (reasons in the resources' metadata, from stacks/). A new skip
# must be added here too, so it is reviewed rather than slipped in.
ACCEPTED = {
    "CKV_AWS_18",  # access-log bucket without access logs of its own
    "CKV_AWS_21",  # buckets without versioning: deleted photos must be gone
    "CKV_AWS_26",  # SNS alarm topic without a customer-managed key
    "CKV_AWS_27",  # queues with SQS-managed SSE, which the check does not recognise
    "CKV_AWS_68",  # distribution without WAF unless the stage's `waf` setting asks for one
    "CKV_AWS_73",  # API stage without X-Ray: tracing is off on purpose
    "CKV_AWS_111",  # CDK's site deployment function: CreateInvalidation on Resource *
    "CKV_AWS_115",  # no reserved concurrency: throttling and the event source bound it
    "CKV_AWS_116",  # no Lambda DLQ: no function is invoked asynchronously
    "CKV_AWS_117",  # no VPC: only public, IAM-authorised AWS endpoints
    "CKV_AWS_119",  # catalogue table under the AWS-owned key: no secret in it
    "CKV_AWS_120",  # no API Gateway cache
    "CKV_AWS_158",  # log groups without a customer-managed key
    "CKV_AWS_173",  # environment variables hold no secret
    "CKV_AWS_174",  # the cloudfront.net default certificate cannot require TLS 1.2
}


# dev with the WAF and a custom domain: the checks only they bring.
EVERY_OPTION = "dev-every-option"
# dev without accounts: its routes are open, as the settings say.
ACCOUNTS_OFF = "dev-accounts-off"


@pytest.fixture(scope="module")
def reports(
    templates: dict[str, Template], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Report]:
    folder = tmp_path_factory.mktemp("checkov")
    paths: dict[str, Path] = {}
    every = {**templates, EVERY_OPTION: everything_on(), ACCOUNTS_OFF: variant(ACCOUNTS_OFF)}
    for stage, template in every.items():
        paths[stage] = folder / f"ImageService-{stage}.template.json"
        paths[stage].write_text(json.dumps(template_json(template)))
    return scan(paths)


def test_checkov_finds_nothing_that_is_not_skipped(reports: dict[str, Report]) -> None:
    for stage, report in reports.items():
        assert report.failed == [], stage
        assert report.passed > 100, f"{stage}: checkov ran its CloudFormation checks"


def test_checkov_skips_only_accepted_checks_each_with_a_reason(
    reports: dict[str, Report],
) -> None:
    for stage, report in reports.items():
        skipped = {finding.split(" ", 1)[0] for finding in report.skipped}
        # Open routes are accepted only where the stage's settings say so: no accounts and no
        # API key. Where there are accounts, every route has an authorizer.
        expected = ACCEPTED | ({"CKV_AWS_59"} if stage == ACCOUNTS_OFF else set())
        if stage == EVERY_OPTION:
            # The WAF and the custom domain's TLS 1.2 are there; the web ACL has no Log4j rules.
            expected = expected - {"CKV_AWS_68", "CKV_AWS_174"} | {"CKV_AWS_192"}
        assert skipped == expected, stage
        for finding in report.skipped:
            reason = finding.split(": ", 1)[1]
            assert len(reason) >= 60, f"{stage}: {finding}"
