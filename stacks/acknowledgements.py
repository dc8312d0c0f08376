"""Policy-check findings this design accepts, each with the reason it is accepted.

Two checkers read the stack: cdk-nag's AwsSolutions pack (`acknowledge`) and checkov
(`skip_checkov`). The acknowledgements and skips sit next to the constructs they concern;
`tests/infra` and `make lint` fail on any finding that is neither acknowledged nor skipped.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

# Finding ids as cdk-nag v3 reports them: one id per finding, `Rule[Finding]`.
LAMBDA_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)
APIGW_PUSH_TO_CLOUDWATCH = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]"
)


def acknowledge(scope: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge each finding id on `scope` (and the resources below it) with its reason."""
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
    )


def s3_prefix_finding(bucket_logical_id: str, prefix: str) -> str:
    return f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/{prefix}*]"


def skip_checkov(scope: IConstruct, checks: dict[str, str]) -> None:
    """Skip each checkov check id on the CloudFormation resource `scope` is (or wraps), with
    the reason it does not apply; checkov reads them from the resource's `Metadata`."""
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} is not a CloudFormation resource")
    earlier = resource.get_metadata("checkov") or {"skip": []}
    skips = [{"id": check, "comment": reason} for check, reason in checks.items()]
    resource.add_metadata("checkov", {"skip": [*earlier["skip"], *skips]})
