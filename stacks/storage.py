"""The image bucket: private, encrypted, TLS-only, with its server access logs kept apart."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.settings import Settings


class Storage(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        common: dict[str, Any] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            # SSE-S3: server access log delivery cannot write to a KMS-encrypted bucket.
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            # ACLs off; log delivery is granted by bucket policy (serverAccessLogsUseBucketPolicy).
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": settings.removal,
            # A dev stack must be deletable with images in it; prod keeps them (RETAIN).
            "auto_delete_objects": settings.removal == RemovalPolicy.DESTROY,
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            **common,
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
