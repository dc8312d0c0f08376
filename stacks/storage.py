"""The image bucket: private, encrypted, TLS-only, with its server access logs kept apart."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct
from image_service.contract import INCOMING_LIFETIME_DAYS, INCOMING_PREFIX

from stacks.acknowledgements import skip_checkov
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
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
                # Direct uploads the worker never took (it removes every one it handles).
                s3.LifecycleRule(
                    prefix=INCOMING_PREFIX, expiration=Duration.days(INCOMING_LIFETIME_DAYS)
                ),
            ],
            # Browsers post direct uploads straight to the bucket, and a page that asked for a
            # large original with an API key follows its redirect with that header (so with
            # a preflight, and from the origin `null` a cross-origin redirect leaves). From
            # any origin: the signed request is the permission. A presigned POST's policy
            # pins the key, the size range and the type for 15 minutes, and a presigned GET
            # one object for 5; whoever holds one could send it from anywhere but a browser
            # anyway. So the first deploy's page, on a cloudfront.net name the bucket cannot
            # know (the distribution depends on it), uploads at once.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=["*"],
                    allowed_headers=["*"],
                    exposed_headers=["ETag", "Location"],
                    max_age=3000,
                )
            ],
        )
        skip_checkov(
            self.bucket,
            {
                "CKV_AWS_21": "Versioning stays off: deleting a photo must really remove it, and "
                "a versioned bucket would keep it as a noncurrent version (for days, even with "
                "noncurrent-version expiry)",
            },
        )
        skip_checkov(
            self.access_logs,
            {
                "CKV_AWS_21": "Versioning stays off: only S3 log delivery writes here and logs "
                "expire after 90 days; noncurrent versions would keep them longer for nothing",
                "CKV_AWS_18": "This is the access-log destination: logging its own access would "
                "log every log delivery, and another log bucket would need one in turn",
            },
        )
        if settings.removal == RemovalPolicy.DESTROY:
            self._skip_auto_delete_provider()

    def _skip_auto_delete_provider(self) -> None:
        """The function CDK adds (once per stack) to empty the buckets of a deleted stack."""
        provider = Stack.of(self).node.find_child(
            "Custom::S3AutoDeleteObjectsCustomResourceProvider"
        )
        skip_checkov(
            provider.node.find_child("Handler"),
            {
                "CKV_AWS_115": "CDK's auto-delete provider runs only while CloudFormation "
                "deletes the stack, one invocation per bucket: nothing to bound",
                "CKV_AWS_116": "CDK's auto-delete provider is invoked by CloudFormation, which "
                "reports a failure in the stack's events: no event to keep in a DLQ",
                "CKV_AWS_117": "CDK's auto-delete provider calls only S3's public API to empty "
                "the buckets: nothing private to reach from a VPC",
            },
        )
