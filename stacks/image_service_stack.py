"""The image service: storage, thumbnail processing, the API and monitoring, wired by grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.acknowledgements import acknowledge, s3_prefix_finding
from stacks.api import Api
from stacks.monitoring import Monitoring
from stacks.processing import ThumbnailProcessing
from stacks.python_layer import PythonLayer
from stacks.service_function import ServiceFunction
from stacks.settings import Settings
from stacks.storage import FAILED_MARKERS_PREFIX, ORIGINALS_PREFIX, THUMBNAILS_PREFIX, Storage

LAYERS = Path(__file__).resolve().parent.parent / "layers"


class ImageServiceStack(Stack):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        pillow = PythonLayer(
            self,
            "PillowLayer",
            settings=settings,
            source=LAYERS / "pillow",
            description="Pillow, for decoding and rendering images",
        ).layer
        powertools = PythonLayer(
            self,
            "PowertoolsLayer",
            settings=settings,
            source=LAYERS / "powertools",
            description="Powertools for AWS Lambda (Python)",
        ).layer

        storage = Storage(self, "Storage", settings=settings)
        bucket = storage.bucket
        processing = ThumbnailProcessing(
            self,
            "Processing",
            settings=settings,
            bucket=bucket,
            pillow=pillow,
            powertools=powertools,
        )
        api = Api(
            self,
            "Api",
            settings=settings,
            bucket=bucket,
            queue=processing.queue,
            pillow=pillow,
            powertools=powertools,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            api_stage=api.rest_api.deployment_stage,
            queue=processing.queue,
            dead_letter_queue=processing.dead_letter_queue,
            worker=processing.worker.function,
            functions={
                "Upload": api.upload.function,
                "DownloadImage": api.download_image.function,
                "DownloadThumbnail": api.download_thumbnail.function,
                "ThumbnailWorker": processing.worker.function,
            },
        )

        # Least privilege, by key prefix. The upload function deletes its own original when
        # the queue refuses the job, so a 503 never leaves an orphan behind. The thumbnail
        # download reads originals/ only to tell "pending" from "no such image".
        grants = {
            api.upload: {"put": [ORIGINALS_PREFIX], "delete": [ORIGINALS_PREFIX]},
            processing.worker: {
                "read": [ORIGINALS_PREFIX],
                "put": [THUMBNAILS_PREFIX],
                # Its last try marks the image failed first, and takes the mark back on success.
                "delete": [FAILED_MARKERS_PREFIX],
            },
            api.download_image: {"read": [ORIGINALS_PREFIX]},
            api.download_thumbnail: {"read": [THUMBNAILS_PREFIX, ORIGINALS_PREFIX]},
        }
        for service_function, access in grants.items():
            for prefix in access.get("read", []):
                bucket.grant_read(service_function.function, f"{prefix}*")
            for prefix in access.get("put", []):
                bucket.grant_put(service_function.function, f"{prefix}*")
            for prefix in access.get("delete", []):
                bucket.grant_delete(service_function.function, f"{prefix}*")
            self._acknowledge_prefix_grants(service_function, storage, access)
        processing.queue.grant_send_messages(api.upload.function)

        outputs = {
            "ApiUrl": api.rest_api.url,
            "BucketName": bucket.bucket_name,
            "QueueUrl": processing.queue.queue_url,
            "DeadLetterQueueUrl": processing.dead_letter_queue.queue_url,
            "AlarmTopicArn": monitoring.topic.topic_arn,
            "DashboardUrl": monitoring.dashboard_url,
            "UploadFunctionName": api.upload.function.function_name,
            "DownloadImageFunctionName": api.download_image.function.function_name,
            "DownloadThumbnailFunctionName": api.download_thumbnail.function.function_name,
            "ThumbnailWorkerFunctionName": processing.worker.function.function_name,
        }
        if api.api_key is not None:
            outputs["ApiKeyId"] = api.api_key.key_id
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

    def _acknowledge_prefix_grants(
        self, service_function: ServiceFunction, storage: Storage, access: dict[str, list[str]]
    ) -> None:
        """The wildcards CDK's prefix grants write, which cdk-nag reports one by one."""
        bucket_id = self.get_logical_id(storage.bucket.node.default_child)  # type: ignore[arg-type]
        findings = {
            s3_prefix_finding(bucket_id, prefix): f"Objects under {prefix} only, by design"
            for prefixes in access.values()
            for prefix in prefixes
        }
        if "read" in access:
            reason = "CDK's read grant (GetObject*, GetBucket*, List*), scoped to the bucket"
            for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*"):
                findings[f"AwsSolutions-IAM5[Action::{action}]"] = reason
        if "put" in access:
            findings["AwsSolutions-IAM5[Action::s3:Abort*]"] = (
                "CDK's put grant: aborting its own multipart uploads under the granted prefix"
            )
        if "delete" in access:
            findings["AwsSolutions-IAM5[Action::s3:DeleteObject*]"] = (
                "Removes its own original when the job cannot be queued (no orphans)"
            )
        acknowledge(service_function, findings)
