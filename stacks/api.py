"""The REST API and the functions behind it."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from image_service.contract import Env, SharedCaches, origins_to_env, renditions_to_json

from stacks.acknowledgements import APIGW_PUSH_TO_CLOUDWATCH, acknowledge, skip_checkov
from stacks.limits import API_TIMEOUT
from stacks.service_function import LOG_RETENTION, LOGS_WITHOUT_KMS, ServiceFunction
from stacks.settings import Settings


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        queue: sqs.IQueue,
        pillow: lambda_.ILayerVersion,
        powertools: lambda_.ILayerVersion,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        cors = origins_to_env(settings.cors_origins)
        # Where every route needs a key, only the distribution (whose cache key holds it) may
        # keep an image; elsewhere any cache may.
        shared_caches = SharedCaches.EDGE if settings.api_key_required else SharedCaches.ANY
        self.upload = ServiceFunction(
            self,
            "Upload",
            settings=settings,
            handler="image_service.upload.handler",
            description="POST /upload: validates an image and stores it as an original",
            # Validating a 50 MP WebP decodes it whole: about 850 MB at peak (docs/SCALING.md).
            memory_size=1536,
            timeout=API_TIMEOUT,
            environment={
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.TABLE_NAME: table.table_name,
                Env.QUEUE_URL: queue.queue_url,
                Env.MAX_UPLOAD_BYTES: str(settings.max_upload_bytes),
                Env.MAX_IMAGE_PIXELS: str(settings.max_image_pixels),
                Env.CORS_ORIGINS: cors,
            },
            layers=[pillow, powertools],
        )
        self.download_image = ServiceFunction(
            self,
            "DownloadImage",
            settings=settings,
            handler="image_service.download_image.handler",
            description="GET /download/{name}: serves an original",
            memory_size=256,
            timeout=API_TIMEOUT,
            environment={
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.CORS_ORIGINS: cors,
                Env.SHARED_CACHES: shared_caches,
            },
            layers=[powertools],
        )
        self.download_thumbnail = ServiceFunction(
            self,
            "DownloadThumbnail",
            settings=settings,
            handler="image_service.download_thumbnail.handler",
            description="GET /download-thumbnail/{name}: serves a thumbnail rendition",
            memory_size=256,
            timeout=API_TIMEOUT,
            environment={
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.TABLE_NAME: table.table_name,
                Env.RENDITIONS: renditions_to_json(settings.renditions),
                Env.DEFAULT_RENDITION: settings.default_rendition,
                Env.CORS_ORIGINS: cors,
                Env.SHARED_CACHES: shared_caches,
            },
            layers=[powertools],
        )
        self.tickets = ServiceFunction(
            self,
            "Tickets",
            settings=settings,
            handler="image_service.tickets.handler",
            description="POST /uploads: a ticket (presigned POST) for one direct upload to S3",
            memory_size=256,
            timeout=API_TIMEOUT,
            environment={
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.TABLE_NAME: table.table_name,
                Env.MAX_DIRECT_UPLOAD_BYTES: str(settings.max_direct_upload_bytes),
                Env.CORS_ORIGINS: cors,
            },
            layers=[powertools],
        )
        self.catalogue = ServiceFunction(
            self,
            "Catalogue",
            settings=settings,
            handler="image_service.catalogue.handler",
            description="GET /images, GET and DELETE /images/{id}: the feed, an image, deletion",
            memory_size=256,
            timeout=API_TIMEOUT,
            environment={
                Env.BUCKET_NAME: bucket.bucket_name,
                Env.TABLE_NAME: table.table_name,
                Env.RENDITIONS: renditions_to_json(settings.renditions),
                Env.CORS_ORIGINS: cors,
            },
            layers=[powertools],
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=settings.removal
        )
        skip_checkov(access_logs, {"CKV_AWS_158": LOGS_WITHOUT_KMS})
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # The stack's name, unique in an account and region, is the ApiName of its metrics.
            rest_api_name=Stack.of(self).stack_name,
            description=f"Image service ({settings.stage})",
            # Every body is handed to the functions base64-encoded and every isBase64Encoded
            # response is returned as bytes, whatever Accept header the client sends.
            binary_media_types=["*/*"],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Content-Type",
                    "X-Filename",
                    "X-Api-Key",
                    "X-Delete-Token",
                    "If-None-Match",
                ],
                expose_headers=["ETag", "Location", "Retry-After"],
                max_age=Duration.hours(1),
            )
            if settings.cors_origins
            else None,
            deploy_options=apigw.StageOptions(
                stage_name=settings.stage,
                throttling_rate_limit=settings.throttle.rate,
                throttling_burst_limit=settings.throttle.burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                tracing_enabled=False,  # as the functions: docs/PERFORMANCE.md, "Tracing"
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
            ),
        )
        # Parameters: the `{name}` path parameter must be present. Bodies are images (binary),
        # so no method has a body model and body validation never rejects one.
        validator = apigw.RequestValidator(
            self,
            "Validator",
            rest_api=self.rest_api,
            validate_request_parameters=True,
            validate_request_body=True,
        )
        method_options: dict[str, Any] = {
            "api_key_required": settings.api_key_required,
            "request_validator": validator,
        }
        self.rest_api.root.add_resource("upload").add_method(
            "POST",
            apigw.LambdaIntegration(self.upload.function),
            **method_options,
        )
        for path, function in (
            ("download", self.download_image),
            ("download-thumbnail", self.download_thumbnail),
        ):
            self.rest_api.root.add_resource(path).add_resource("{name}").add_method(
                "GET",
                apigw.LambdaIntegration(function.function),
                request_parameters={"method.request.path.name": True},
                **method_options,
            )

        self.rest_api.root.add_resource("uploads").add_method(
            "POST", apigw.LambdaIntegration(self.tickets.function), **method_options
        )
        catalogue = apigw.LambdaIntegration(self.catalogue.function)
        images = self.rest_api.root.add_resource("images")
        images.add_method(
            "GET",
            catalogue,
            request_parameters={
                "method.request.querystring.limit": False,
                "method.request.querystring.cursor": False,
            },
            **method_options,
        )
        image = images.add_resource("{id}")
        for http_method in ("GET", "DELETE"):
            image.add_method(
                http_method,
                catalogue,
                request_parameters={"method.request.path.id": True},
                **method_options,
            )

        self.api_key: apigw.IApiKey | None = None
        if settings.api_key_required:
            plan = self.rest_api.add_usage_plan(
                "UsagePlan",
                throttle=apigw.ThrottleSettings(
                    rate_limit=settings.throttle.rate, burst_limit=settings.throttle.burst
                ),
            )
            plan.add_api_stage(stage=self.rest_api.deployment_stage)
            self.api_key = self.rest_api.add_api_key("ApiKey")
            plan.add_api_key(self.api_key)

        acknowledge(
            self.rest_api,
            {
                APIGW_PUSH_TO_CLOUDWATCH: "API Gateway's account-level logging role; this AWS "
                "policy is the documented one for access and execution logs",
                "AwsSolutions-APIG3": "No WAF: its fixed monthly cost outweighs the risk for this "
                "service; stage throttling (and API keys with a usage plan where required) bound "
                "abuse. Attach a web ACL to the stage when exposing it widely",
            },
        )
        skip_checkov(
            self.rest_api.deployment_stage,
            {
                "CKV_AWS_120": "No API cache: its instance is billed by the hour, used or not; "
                "the distribution in front caches the downloads at the edge by their "
                "Cache-Control, and uploads must never be cached",
                "CKV_AWS_73": "Tracing is off on purpose, like the functions': the X-Ray SDK "
                "would add about half again to every cold start (docs/PERFORMANCE.md, Tracing)",
            },
        )
        auth_reason = (
            "The service is an open image store by design (see README): no user identities. "
            "Stages with apiKeyRequired gate every route with an API key and usage plan"
        )
        for method in self.rest_api.methods:
            if method.http_method != "OPTIONS":
                acknowledge(
                    method, {"AwsSolutions-APIG4": auth_reason, "AwsSolutions-COG4": auth_reason}
                )
                if not settings.api_key_required:
                    skip_checkov(
                        method,
                        {
                            "CKV_AWS_59": "apiKeyRequired is false in this stage's settings: "
                            "open on purpose. " + auth_reason
                        },
                    )
