"""The image bucket: private, encrypted, TLS-only, with its server access logs kept apart."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.settings import Settings

ORIGINALS_PREFIX = "originals/"
THUMBNAILS_PREFIX = "thumbnails/"


class Storage(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        removal = RemovalPolicy.RETAIN if settings.removal_policy == "retain" else RemovalPolicy.DESTROY
        disposable = removal == RemovalPolicy.DESTROY
        common: dict[str, Any] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal,
            "auto_delete_objects": disposable,
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            **{**common, "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_PREFERRED},
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        )
        self.bucket = s3.Bucket(
            self,
            "Images",
            **common,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="images/",
            lifecycle_rules=[
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1))
            ],
        )
