"""The image service: storage, thumbnail processing, the API and monitoring, wired by grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.api import Api
from stacks.monitoring import Monitoring
from stacks.processing import ThumbnailProcessing
from stacks.python_layer import PythonLayer
from stacks.settings import Settings
from stacks.storage import ORIGINALS_PREFIX, THUMBNAILS_PREFIX, Storage

LAYERS = Path(__file__).resolve().parent.parent / "layers"


class ImageServiceStack(Stack):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        pillow = PythonLayer(
            self, "PillowLayer", settings=settings, source=LAYERS / "pillow",
            description="Pillow, for decoding and rendering images",
        ).layer
        powertools = PythonLayer(
            self, "PowertoolsLayer", settings=settings, source=LAYERS / "powertools",
            description="Powertools for AWS Lambda (Python)",
        ).layer

        storage = Storage(self, "Storage", settings=settings)
        bucket = storage.bucket
        processing = ThumbnailProcessing(
            self, "Processing", settings=settings, bucket=bucket, pillow=pillow, powertools=powertools
        )
        api = Api(
            self, "Api", settings=settings, bucket=bucket, queue=processing.queue,
            pillow=pillow, powertools=powertools,
        )
        Monitoring(
            self, "Monitoring", dead_letter_queue=processing.dead_letter_queue,
            functions={
                "Upload": api.upload.function,
                "DownloadImage": api.download_image.function,
                "DownloadThumbnail": api.download_thumbnail.function,
                "ThumbnailWorker": processing.worker.function,
            },
        )

        # Least privilege, by key prefix. The upload function deletes its own original when
        # the queue refuses the job, so a 503 never leaves an orphan behind.
        bucket.grant_put(api.upload.function, f"{ORIGINALS_PREFIX}*")
        bucket.grant_delete(api.upload.function, f"{ORIGINALS_PREFIX}*")
        processing.queue.grant_send_messages(api.upload.function)
        bucket.grant_read(processing.worker.function, f"{ORIGINALS_PREFIX}*")
        bucket.grant_put(processing.worker.function, f"{THUMBNAILS_PREFIX}*")
        bucket.grant_read(api.download_image.function, f"{ORIGINALS_PREFIX}*")
        bucket.grant_read(api.download_thumbnail.function, f"{THUMBNAILS_PREFIX}*")
        bucket.grant_read(api.download_thumbnail.function, f"{ORIGINALS_PREFIX}*")

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "BucketName", value=bucket.bucket_name)
        CfnOutput(self, "QueueUrl", value=processing.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=processing.dead_letter_queue.queue_url)
        if api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=api.api_key.key_id)
