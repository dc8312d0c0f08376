"""The image service: storage, the catalogue, thumbnail processing, accounts, the API,
delivery through CloudFront and monitoring, wired by grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct
from image_service.contract import (
    INCOMING_PREFIX,
    ORIGINALS_PREFIX,
    OWNER_INDEX,
    THUMBNAILS_PREFIX,
    Env,
)

from stacks.accounts import Accounts
from stacks.acknowledgements import (
    LAMBDA_BASIC_EXECUTION,
    acknowledge,
    s3_prefix_finding,
    skip_checkov,
)
from stacks.api import Api
from stacks.catalogue import Catalogue
from stacks.delivery import Delivery
from stacks.monitoring import Monitoring
from stacks.processing import ThumbnailProcessing
from stacks.python_layer import PythonLayer
from stacks.service_function import ServiceFunction
from stacks.settings import Settings
from stacks.site import Site
from stacks.storage import Storage

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

        # Accounts, where the stage has them: the user pool, and the JWT layer the optional
        # authorizer verifies its tokens with.
        accounts = Accounts(self, "Accounts", settings=settings) if settings.has_accounts else None
        jwt = (
            PythonLayer(
                self,
                "JwtLayer",
                settings=settings,
                source=LAYERS / "jwt",
                description="PyJWT and cryptography, for verifying Cognito's ID tokens",
                manylinux2014=True,
            ).layer
            if accounts
            else None
        )

        storage = Storage(self, "Storage", settings=settings)
        bucket = storage.bucket
        table = Catalogue(self, "Catalogue", settings=settings).table
        processing = ThumbnailProcessing(
            self,
            "Processing",
            settings=settings,
            bucket=bucket,
            table=table,
            pillow=pillow,
            powertools=powertools,
        )
        api = Api(
            self,
            "Api",
            settings=settings,
            bucket=bucket,
            table=table,
            queue=processing.queue,
            pillow=pillow,
            powertools=powertools,
            user_pool=accounts.user_pool if accounts else None,
            jwt=jwt,
        )
        delivery = Delivery(
            self,
            "Delivery",
            settings=settings,
            rest_api=api.rest_api,
            images=bucket,
            access_logs=storage.access_logs,
        )
        # The page's app client returns to the public host, which the distribution names: it
        # comes after the distribution, which comes after the API, whose authorizer therefore
        # learns the client's id (its tokens' audience) only now.
        client = accounts.add_gallery_client(public_host=delivery.public_host) if accounts else None
        if client is not None and api.authorizer is not None:
            api.authorizer.function.add_environment(Env.TOKEN_AUDIENCE, client.user_pool_client_id)
        # The gallery page, in the site bucket the distribution serves at `/`.
        Site(
            self,
            "Site",
            settings=settings,
            bucket=delivery.site_bucket,
            distribution=delivery.distribution,
            client_id=client.user_pool_client_id if client else None,
            sign_in_url=accounts.domain_url if accounts else None,
        )
        # Not the optional authorizer: every refused token is a Lambda error by API Gateway's
        # contract (it raises "Unauthorized"), so its Errors would page on expired tokens; a
        # crash or timeout of it answers 500, which the API's 5xx alarm reports.
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
                "Catalogue": api.catalogue.function,
                "Tickets": api.tickets.function,
                "ThumbnailWorker": processing.worker.function,
            },
        )

        # Least privilege: objects by key prefix, the table by single action. Uploads take back
        # their original and record when a later step fails (no orphans); the worker removes
        # the thumbnails it wrote for an image deleted meanwhile; deletion removes everything.
        grants: dict[ServiceFunction, Access] = {
            api.upload: Access(
                put=[ORIGINALS_PREFIX],
                delete=[ORIGINALS_PREFIX],
                table=["dynamodb:PutItem", "dynamodb:DeleteItem"],
            ),
            # It only signs: the presigned POST it hands out can write incoming/<id> alone.
            api.tickets: Access(put=[INCOMING_PREFIX], table=["dynamodb:PutItem"]),
            # A direct upload's bytes, once validated, are written to originals/ and removed
            # from incoming/; an image deleted while it was ingested loses its original again.
            processing.worker: Access(
                read=[ORIGINALS_PREFIX, INCOMING_PREFIX],
                put=[THUMBNAILS_PREFIX, ORIGINALS_PREFIX],
                delete=[THUMBNAILS_PREFIX, INCOMING_PREFIX, ORIGINALS_PREFIX],
                table=["dynamodb:GetItem", "dynamodb:UpdateItem"],
            ),
            # The record first: whether the image exists, and for whom.
            api.download_image: Access(read=[ORIGINALS_PREFIX], table=["dynamodb:GetItem"]),
            api.download_thumbnail: Access(read=[THUMBNAILS_PREFIX], table=["dynamodb:GetItem"]),
            api.catalogue: Access(
                delete=[ORIGINALS_PREFIX, THUMBNAILS_PREFIX, INCOMING_PREFIX],
                table=[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
            ),
        }
        for service_function, access in grants.items():
            grantee = service_function.function
            for prefix in access.read:
                bucket.grant_read(grantee, f"{prefix}*")
            for prefix in access.put:
                bucket.grant_put(grantee, f"{prefix}*")
            for prefix in access.delete:
                bucket.grant_delete(grantee, f"{prefix}*")
            if access.table:
                table.grant(grantee, *access.table)
            self._acknowledge_grants(service_function, storage, table, access)
        if settings.has_accounts:
            # The open-ticket cap counts one owner's tickets on the owner index, and only there.
            iam.Grant.add_to_principal(
                grantee=api.tickets.function,
                actions=["dynamodb:Query"],
                resource_arns=[f"{table.table_arn}/index/{OWNER_INDEX}"],
            )
        processing.queue.grant_send_messages(api.upload.function)
        # Direct uploads reach the worker as the bucket's own events, on the same queue.
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(processing.queue),
            s3.NotificationKeyFilter(prefix=INCOMING_PREFIX),
        )
        self._review_notifications_handler()
        # A new image's Location names the public host for clients that came through the
        # distribution; a deletion takes the image off its edge caches.
        for linked in (api.upload, api.tickets):
            linked.function.add_environment(Env.PUBLIC_HOST, delivery.public_host)
        api.catalogue.function.add_environment(
            Env.DISTRIBUTION_ID, delivery.distribution.distribution_id
        )
        delivery.distribution.grant_create_invalidation(api.catalogue.function)

        outputs = {
            # Where clients go: the site, and every route with the downloads cached.
            "DistributionUrl": delivery.url,
            "DistributionId": delivery.distribution.distribution_id,
            "SiteBucketName": delivery.site_bucket.bucket_name,
            # The API's own URL, straight to API Gateway (the stage in its path, nothing cached).
            "ApiUrl": api.rest_api.url,
            "BucketName": bucket.bucket_name,
            "TableName": table.table_name,
            "QueueUrl": processing.queue.queue_url,
            "DeadLetterQueueUrl": processing.dead_letter_queue.queue_url,
            "AlarmTopicArn": monitoring.topic.topic_arn,
            "DashboardUrl": monitoring.dashboard_url,
            "UploadFunctionName": api.upload.function.function_name,
            "DownloadImageFunctionName": api.download_image.function.function_name,
            "DownloadThumbnailFunctionName": api.download_thumbnail.function.function_name,
            "CatalogueFunctionName": api.catalogue.function.function_name,
            "TicketsFunctionName": api.tickets.function.function_name,
            "ThumbnailWorkerFunctionName": processing.worker.function.function_name,
        }
        if api.api_key is not None:
            outputs["ApiKeyId"] = api.api_key.key_id
        if accounts is not None and client is not None and api.authorizer is not None:
            outputs["UserPoolId"] = accounts.user_pool.user_pool_id
            outputs["UserPoolClientId"] = client.user_pool_client_id
            outputs["SignInUrl"] = accounts.domain_url
            outputs["AuthorizerFunctionName"] = api.authorizer.function.function_name
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

    def _review_notifications_handler(self) -> None:
        """The function CDK adds (once per stack) to write the bucket's notification
        configuration, which CloudFormation has no property for."""
        handler = self.node.find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        acknowledge(
            handler,
            {
                LAMBDA_BASIC_EXECUTION: "AWS-maintained, logs only: CDK's notification handler "
                "writes its own logs",
                "AwsSolutions-IAM5[Resource::*]": "CDK's notification handler calls "
                "s3:PutBucketNotification for the stack's bucket; CDK writes its policy with "
                "Resource * and gives the function no other permission",
            },
        )
        skip_checkov(
            handler.node.default_child,  # type: ignore[arg-type]
            {
                "CKV_AWS_115": "CDK's notification handler runs only when CloudFormation "
                "creates, updates or deletes the bucket's notifications: nothing to bound",
                "CKV_AWS_116": "CDK's notification handler is invoked by CloudFormation, which "
                "reports a failure in the stack's events: no event to keep in a DLQ",
                "CKV_AWS_117": "CDK's notification handler calls only S3's public API: "
                "nothing private to reach from a VPC",
                "CKV_AWS_173": "CDK's notification handler has no environment variables at all, so "
                "nothing in them to encrypt",
            },
        )

    def _acknowledge_grants(
        self,
        service_function: ServiceFunction,
        storage: Storage,
        table: dynamodb.ITable,
        access: Access,
    ) -> None:
        """The wildcards CDK's grants write, which cdk-nag reports one by one."""
        bucket_id = self.get_logical_id(storage.bucket.node.default_child)  # type: ignore[arg-type]
        findings = {
            s3_prefix_finding(bucket_id, prefix): f"Objects under {prefix} only, by the design"
            for prefix in (*access.read, *access.put, *access.delete)
        }
        if access.read:
            reason = "CDK's read grant (GetObject*, GetBucket*, List*), scoped to the bucket"
            for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*"):
                findings[f"AwsSolutions-IAM5[Action::{action}]"] = reason
        if access.put:
            findings["AwsSolutions-IAM5[Action::s3:Abort*]"] = (
                "CDK's put grant: aborting its own multipart uploads under the granted prefix"
            )
        if access.delete:
            findings["AwsSolutions-IAM5[Action::s3:DeleteObject*]"] = (
                "CDK's delete grant, under the granted prefixes only"
            )
        if access.table:
            table_id = self.get_logical_id(table.node.default_child)  # type: ignore[arg-type]
            findings[f"AwsSolutions-IAM5[Resource::<{table_id}.Arn>/index/*]"] = (
                "CDK's table grant adds the table's indexes: the feed index, and the owner index "
                "where the stage has accounts; no other exists"
            )
        acknowledge(service_function, findings)


@dataclass(frozen=True)
class Access:
    """What one function may do: objects by key prefix, and single table actions."""

    read: list[str] = field(default_factory=list)
    put: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    table: list[str] = field(default_factory=list)
