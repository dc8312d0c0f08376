"""cdk-nag (AwsSolutions) findings this design accepts, each with the reason it is accepted.

The acknowledgements sit next to the constructs they concern; `tests/infra` runs the rule
pack and fails on any finding that is not acknowledged here.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
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
