"""Thumbnail processing: the job queue, its dead-letter queue and the worker function."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from image_service.contract import METRICS_NAMESPACE

from stacks.acknowledgements import skip_checkov
from stacks.service_function import ServiceFunction
from stacks.settings import Settings

WORKER_TIMEOUT = Duration.seconds(60)
# Measured (docs/SCALING.md): the worst render (50 MP WebP with alpha) peaks near 850 MB with
# the imports; past 1,769 MB (one vCPU) a single-threaded render gains no CPU, so more memory
# would only bill the S3 waits at a higher rate.
WORKER_MEMORY_MB = 1536
# Lambda's guidance: a visibility timeout of at least six times the function's timeout, so a
# batch still being retried by the event source is never handed to a second worker.
VISIBILITY_TIMEOUT = Duration.seconds(WORKER_TIMEOUT.to_seconds() * 6)
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 5


def renditions_json(settings: Settings) -> str:
    return json.dumps(
        {r.name: {"width": r.width, "height": r.height, "fit": r.fit} for r in settings.renditions},
        separators=(",", ":"),
    )


class ThumbnailProcessing(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        bucket: s3.IBucket,
        pillow: lambda_.ILayerVersion,
        powertools: lambda_.ILayerVersion,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )
        skip_checkov(
            self.queue,
            {
                "CKV_AWS_27": "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), "
                "which this check does not recognise; S3 event notifications cannot reach a "
                "queue under the AWS-managed aws/sqs key, and a customer key costs $1/month",
            },
        )
        skip_checkov(
            self.dead_letter_queue,
            {
                "CKV_AWS_27": "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), "
                "which this check does not recognise; the same encryption as its job queue",
            },
        )
        self.worker = ServiceFunction(
            self,
            "Worker",
            settings=settings,
            handler="image_service.thumbnail_worker.handler",
            description="Renders every configured thumbnail rendition of an uploaded original",
            memory_size=WORKER_MEMORY_MB,
            timeout=WORKER_TIMEOUT,
            environment={
                "BUCKET_NAME": bucket.bucket_name,
                "RENDITIONS": renditions_json(settings),
                "MAX_IMAGE_PIXELS": str(settings.max_image_pixels),
                "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            layers=[pillow, powertools],
        )
        self.worker.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=Duration.seconds(0),  # a job is worth starting at once
                report_batch_item_failures=True,
                max_concurrency=settings.thumbnail_concurrency,
            )
        )
