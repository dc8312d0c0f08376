"""One of the service's four functions, configured the same way throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.acknowledgements import LAMBDA_BASIC_EXECUTION, acknowledge
from stacks.settings import Settings

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
LATEST_PYTHON = lambda_.Runtime.PYTHON_3_14


def lambda_runtime(settings: Settings) -> lambda_.Runtime:
    return lambda_.Runtime(settings.runtime, lambda_.RuntimeFamily.PYTHON)


def lambda_architecture(settings: Settings) -> lambda_.Architecture:
    if settings.architecture == "arm64":
        return lambda_.Architecture.ARM_64
    return lambda_.Architecture.X86_64


class ServiceFunction(Construct):
    """A function from `lambda_src/` with its own log group, tracing and explicit limits."""

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
        **kwargs: Any,
    ) -> None:
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
                "POWERTOOLS_SERVICE_NAME": "image-service",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
            layers=layers,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            self,
            {
                LAMBDA_BASIC_EXECUTION: "AWS-maintained, logs:CreateLogGroup/CreateLogStream/"
                "PutLogEvents only: what every function needs to write its logs",
                "AwsSolutions-IAM5[Resource::*]": "Active tracing: X-Ray's PutTraceSegments and "
                "PutTelemetryRecords accept no resource ARN",
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
