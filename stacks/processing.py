"""Thumbnail processing: the job queue, its dead-letter queue and the worker function."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from image_service.contract import METRICS_NAMESPACE, Env, renditions_to_json

from stacks.acknowledgements import skip_checkov
from stacks.limits import (
    BATCH_SIZE,
    MAX_RECEIVE_COUNT,
    VISIBILITY_TIMEOUT,
    WORKER_MEMORY_MB,
    WORKER_TIMEOUT,
)
from stacks.service_function import ServiceFunction
from stacks.settings import Settings


class ThumbnailProcessing(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
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
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.TABLE_NAME: table.table_name,
                Env.RENDITIONS: renditions_to_json(settings.renditions),
                Env.MAX_DIRECT_UPLOAD_BYTES: str(settings.max_direct_upload_bytes),
                Env.MAX_IMAGE_PIXELS: str(settings.max_image_pixels),
                Env.MAX_RECEIVE_COUNT: str(MAX_RECEIVE_COUNT),
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
