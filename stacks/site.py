"""The gallery page: `web/` and the stage's `config.json`, deployed to the site bucket.

CDK's `BucketDeployment` copies both into the bucket on every deploy that changes them
(removing files that left `web/`) and then invalidates the page's own paths on the
distribution, never the API's: a new page must not cost every edge its cached images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct
from image_service.contract import renditions_spec

from stacks.acknowledgements import (
    LAMBDA_BASIC_EXECUTION,
    acknowledge,
    s3_prefix_finding,
    skip_checkov,
)
from stacks.service_function import LOG_RETENTION, LOGS_WITHOUT_KMS
from stacks.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "web"
CONFIG = "config.json"
# The id CDK gives the deployment's provider function (one per stack, whatever the number of
# deployments).
PROVIDER_ID = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
# Browsers revalidate every file on each visit (a 304 from the edge when nothing changed): the
# modules have no hashed names, so a page must never mix two deployments' files. The edge
# keeps them a day; a deployment invalidates them.
SITE_CACHE_CONTROL = (
    s3deploy.CacheControl.set_public(),
    s3deploy.CacheControl.max_age(Duration.seconds(0)),
    s3deploy.CacheControl.must_revalidate(),
    s3deploy.CacheControl.s_max_age(Duration.days(1)),
)


def page_config(
    settings: Settings, *, client_id: str | None = None, sign_in_url: str | None = None
) -> dict[str, Any]:
    """What the page needs to know about its stage. The API is on the page's own origin (the
    distribution routes it), so no URL is needed. Where there are accounts: the app client it
    signs in with and the base URL of the managed sign-in pages (deploy-time values)."""
    accounts: dict[str, Any] = {"mode": settings.accounts}
    if settings.has_accounts:
        if client_id is None or sign_in_url is None:
            raise ValueError("a stage with accounts needs the app client and the sign-in URL")
        accounts.update(
            signUp=settings.sign_up == "open", clientId=client_id, signInUrl=sign_in_url
        )
    return {
        "stage": settings.stage,
        "apiKeyRequired": settings.api_key_required,
        "maxUploadBytes": settings.max_upload_bytes,
        "maxDirectUploadBytes": settings.max_direct_upload_bytes,
        "renditions": renditions_spec(settings.renditions),
        "defaultRendition": settings.default_rendition,
        "accounts": accounts,
    }


def invalidation_paths(web: Path = WEB) -> list[str]:
    """The page's paths on the distribution: `/`, the config, and each top-level file or
    folder of `web/` (a folder as `/<name>/*`, which CloudFront counts as one path)."""
    paths = ["/", f"/{CONFIG}"]
    for entry in sorted(web.iterdir()):
        paths.append(f"/{entry.name}/*" if entry.is_dir() else f"/{entry.name}")
    return paths


class Site(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        bucket: s3.IBucket,
        distribution: cloudfront.IDistribution,
        client_id: str | None = None,
        sign_in_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`client_id`, `sign_in_url`: the gallery's app client and the managed sign-in pages,
        where the stage has accounts."""
        super().__init__(scope, id, **kwargs)
        # The deployment function's logs, kept as long as the service's own (CDK's default
        # group keeps them two years).
        log_group = logs.LogGroup(
            self, "DeploymentLogs", retention=LOG_RETENTION, removal_policy=settings.removal
        )
        skip_checkov(log_group, {"CKV_AWS_158": LOGS_WITHOUT_KMS})
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            destination_bucket=bucket,
            sources=[
                s3deploy.Source.asset(str(WEB)),
                s3deploy.Source.json_data(
                    CONFIG, page_config(settings, client_id=client_id, sign_in_url=sign_in_url)
                ),
            ],
            cache_control=list(SITE_CACHE_CONTROL),
            distribution=distribution,
            distribution_paths=invalidation_paths(),
            log_group=log_group,
        )
        self._review_provider(bucket)

    def _review_provider(self, bucket: s3.IBucket) -> None:
        """The function and layer (the AWS CLI) CDK adds to copy the files at deploy time."""
        stack = Stack.of(self)
        provider = stack.node.find_child(PROVIDER_ID)
        bucket_id = stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            provider,
            {
                LAMBDA_BASIC_EXECUTION: "AWS-maintained, logs only: CDK's deployment function "
                "writes its own logs",
                "AwsSolutions-IAM5[Action::s3:GetBucket*]": "CDK's read grant on the CDK asset "
                "bucket and the site bucket: the deployment reads the page's zip files and lists "
                "the site to prune it",
                "AwsSolutions-IAM5[Action::s3:GetObject*]": "CDK's read grant: the deployment "
                "reads the page's zip files from the CDK asset bucket",
                "AwsSolutions-IAM5[Action::s3:List*]": "CDK's read grant: the deployment lists "
                "the asset and site buckets to sync and prune the page's files",
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-"
                "<AWS::AccountId>-<AWS::Region>/*]": "The CDK bootstrap's asset bucket, where the "
                "CLI uploads the page's zip files before the deployment copies them",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "CDK's write grant on the site bucket: "
                "aborting the deployment's own multipart uploads",
                "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "CDK's write grant on the site "
                "bucket: files removed from web/ are removed from the site (prune)",
                s3_prefix_finding(bucket_id, ""): "Every object of the site bucket, which holds "
                "only the page this deployment writes",
                "AwsSolutions-IAM5[Resource::*]": "CDK writes cloudfront:CreateInvalidation and "
                "GetInvalidation with Resource *; the function invalidates only the page's paths "
                "on this stack's distribution",
                "AwsSolutions-L1": "CDK picks the deployment function's runtime and moves it "
                "forward with aws-cdk-lib releases; it runs only while CloudFormation deploys",
            },
        )
        skip_checkov(
            self.deployment.handler_role.node.find_child("DefaultPolicy"),
            {
                "CKV_AWS_111": "CDK's invalidation statement (cloudfront:CreateInvalidation with "
                "Resource *); the function invalidates only the page's paths on this stack's "
                "distribution",
            },
        )
        skip_checkov(
            provider,
            {
                "CKV_AWS_115": "CDK's deployment function runs only when CloudFormation "
                "deploys a change to the page: nothing to bound",
                "CKV_AWS_116": "CDK's deployment function is invoked by CloudFormation, which "
                "reports a failure in the stack's events: no event to keep in a DLQ",
                "CKV_AWS_117": "CDK's deployment function calls only S3's and CloudFront's "
                "public APIs: nothing private to reach from a VPC",
                "CKV_AWS_173": "CDK's deployment function's one variable names the CA bundle "
                "path: nothing secret in it to encrypt",
            },
        )
