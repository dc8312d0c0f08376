"""One of the service's functions, configured the same way throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from image_service.contract import SERVICE_NAME

from stacks.acknowledgements import LAMBDA_BASIC_EXECUTION, acknowledge, skip_checkov
from stacks.settings import Settings

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
LATEST_PYTHON = lambda_.Runtime.PYTHON_3_14
# Log groups, for checkov's CKV_AWS_158.
LOGS_WITHOUT_KMS = (
    "CloudWatch Logs encrypts every log group at rest; these hold request metadata, never image "
    "bytes or secrets, so a customer-managed key would add $1/month and a key policy for nothing"
)


def lambda_runtime(settings: Settings) -> lambda_.Runtime:
    return lambda_.Runtime(settings.runtime, lambda_.RuntimeFamily.PYTHON)


def lambda_architecture(settings: Settings) -> lambda_.Architecture:
    if settings.architecture == "arm64":
        return lambda_.Architecture.ARM_64
    return lambda_.Architecture.X86_64


class ServiceFunction(Construct):
    """A function from `lambda_src/` with its own log group and explicit limits."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        handler: str,
        description: str,
        memory_size: int,
        timeout: Duration,
        environment: dict[str, str],
        layers: list[lambda_.ILayerVersion],
        reaches: str = "Calls only S3 and SQS through their public, IAM-authorised TLS endpoints",
        **kwargs: Any,
    ) -> None:
        """`reaches`: what the function calls over the network (why it needs no VPC)."""
        super().__init__(scope, id, **kwargs)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION,
            removal_policy=settings.removal,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_runtime(settings),
            architecture=lambda_architecture(settings),
            handler=handler,
            code=lambda_.Code.from_asset(
                str(LAMBDA_SRC),
                exclude=["**/__pycache__", "**/*.pyc", "requirements*.txt"],
            ),
            description=description,
            memory_size=memory_size,
            timeout=timeout,
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
            layers=layers,
            log_group=self.log_group,
            # No X-Ray: its SDK would add about half again to every cold start; request ids in
            # the logs, the metrics and the alarms cover this short path (docs/PERFORMANCE.md).
            tracing=lambda_.Tracing.DISABLED,
        )
        acknowledge(
            self,
            {
                LAMBDA_BASIC_EXECUTION: "AWS-maintained, logs:CreateLogGroup/CreateLogStream/"
                "PutLogEvents only: what every function needs to write its logs",
            },
        )
        skip_checkov(self.log_group, {"CKV_AWS_158": LOGS_WITHOUT_KMS})
        skip_checkov(
            self.function,
            {
                "CKV_AWS_115": "Concurrency is bounded where it is decided: stage throttling for "
                "the API functions, the event source's maximum concurrency for the worker. "
                "Reserving it would take it from the account's other functions, and Lambda "
                "refuses reservations that leave under 100 unreserved (a new account has 10)",
                "CKV_AWS_116": "A Lambda DLQ keeps failed asynchronous invocations only: API "
                "Gateway invokes the API functions synchronously (the client gets the error) and "
                "the SQS event source the worker, whose failed jobs go to the queue's DLQ",
                "CKV_AWS_117": f"{reaches}: nothing private to reach, and a VPC would need NAT "
                "or endpoints, billed by the hour",
                "CKV_AWS_173": "The environment holds resource names and limits, no secret; "
                "Lambda already encrypts it at rest with its AWS-managed key",
            },
        )
        if settings.runtime != LATEST_PYTHON.name:
            acknowledge(
                self,
                {
                    "AwsSolutions-L1": f"The runtime is the stage's `runtime` setting "
                    f"({settings.runtime}), which the layers are built for; "
                    f"{LATEST_PYTHON.name} is one setting away",
                },
            )
