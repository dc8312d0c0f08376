"""The REST API and the functions behind it."""

from __future__ import annotations

from enum import Enum
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
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

# The optional authorizer's own limit: a cold start (the JWT layer's imports) and one fetch
# of the signing keys (at most 3 s) fit well inside it; a warm verification takes under 1 ms.
AUTHORIZER_TIMEOUT = Duration.seconds(10)


class Guard(Enum):
    """What API Gateway checks on a method before its function runs."""

    NONE = "none"  # nothing: anyone (the API key still, where the stage needs one)
    OPTIONAL = "optional"  # the optional authorizer: no token is anonymous, a bad one is 401
    PERSON = "person"  # Cognito's user-pool authorizer: a valid ID token, else 401


UPLOAD = ("POST", "/upload")
TICKETS = ("POST", "/uploads")
DOWNLOAD = ("GET", "/download/{name}")
DOWNLOAD_THUMBNAIL = ("GET", "/download-thumbnail/{name}")
FEED = ("GET", "/images")
LOOK_UP = ("GET", "/images/{id}")
DELETE = ("DELETE", "/images/{id}")
CHANGE = ("PATCH", "/images/{id}")
MY_IMAGES = ("GET", "/me/images")
# The routes only a stage with accounts has.
ACCOUNT_ROUTES = (CHANGE, MY_IMAGES)


def method_guards(settings: Settings) -> dict[tuple[str, str], Guard]:
    """Each route and what guards it, by the stage's `accounts`: with none, nothing; optional,
    writes and reads take a token if there is one; required, every write needs a person. The
    routes that only make sense for a person (changing an image, one's own images) always
    need one."""
    if not settings.has_accounts:
        return dict.fromkeys(
            (UPLOAD, TICKETS, DOWNLOAD, DOWNLOAD_THUMBNAIL, FEED, LOOK_UP, DELETE), Guard.NONE
        )
    write = Guard.PERSON if settings.accounts_required else Guard.OPTIONAL
    return {
        UPLOAD: write,
        TICKETS: write,
        DELETE: write,
        CHANGE: Guard.PERSON,
        MY_IMAGES: Guard.PERSON,
        FEED: Guard.OPTIONAL,
        LOOK_UP: Guard.OPTIONAL,
        DOWNLOAD: Guard.OPTIONAL,
        DOWNLOAD_THUMBNAIL: Guard.OPTIONAL,
    }


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
        user_pool: cognito.IUserPool | None = None,
        jwt: lambda_.ILayerVersion | None = None,
        **kwargs: Any,
    ) -> None:
        """`user_pool` and `jwt` (the JWT layer): where the stage has accounts."""
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
                Env.TABLE_NAME: table.table_name,
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
            description="GET /images, GET and DELETE /images/{id}: the feed, an image, deletion"
            + (", GET /me/images, PATCH /images/{id}" if settings.has_accounts else ""),
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
                allow_methods=[
                    "GET",
                    "POST",
                    "DELETE",
                    *(["PATCH"] if settings.has_accounts else []),
                    "OPTIONS",
                ],
                allow_headers=[
                    "Content-Type",
                    "X-Filename",
                    "X-Api-Key",
                    "X-Delete-Token",
                    "If-None-Match",
                    *(["Authorization", "X-Visibility"] if settings.has_accounts else []),
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
        self.authorizer: ServiceFunction | None = None
        guarded = self._authorizers(settings, user_pool, jwt, powertools)
        guards = method_guards(settings)

        def add(
            resource: apigw.IResource,
            route: tuple[str, str],
            function: ServiceFunction,
            **options: Any,
        ) -> None:
            guard = guards[route]
            method = resource.add_method(
                route[0],
                apigw.LambdaIntegration(function.function),
                api_key_required=settings.api_key_required,
                request_validator=validator,
                **guarded[guard],
                **options,
            )
            self._accept_method_findings(method, guard, settings)

        add(self.rest_api.root.add_resource("upload"), UPLOAD, self.upload)
        for path, function, route in (
            ("download", self.download_image, DOWNLOAD),
            ("download-thumbnail", self.download_thumbnail, DOWNLOAD_THUMBNAIL),
        ):
            add(
                self.rest_api.root.add_resource(path).add_resource("{name}"),
                route,
                function,
                request_parameters={"method.request.path.name": True},
            )
        add(self.rest_api.root.add_resource("uploads"), TICKETS, self.tickets)
        images = self.rest_api.root.add_resource("images")
        paging = {
            "method.request.querystring.limit": False,
            "method.request.querystring.cursor": False,
        }
        add(images, FEED, self.catalogue, request_parameters=paging)
        image = images.add_resource("{id}")
        for route in (LOOK_UP, DELETE, *((CHANGE,) if settings.has_accounts else ())):
            add(image, route, self.catalogue, request_parameters={"method.request.path.id": True})
        if settings.has_accounts:
            mine = self.rest_api.root.add_resource("me").add_resource("images")
            add(mine, MY_IMAGES, self.catalogue, request_parameters=paging)

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

    def _authorizers(
        self,
        settings: Settings,
        user_pool: cognito.IUserPool | None,
        jwt: lambda_.ILayerVersion | None,
        powertools: lambda_.ILayerVersion,
    ) -> dict[Guard, dict[str, Any]]:
        """The method options of each guard: the two authorizers, where there are accounts."""
        options: dict[Guard, dict[str, Any]] = {Guard.NONE: {}}
        if not settings.has_accounts:
            return options
        if user_pool is None or jwt is None:
            raise ValueError("a stage with accounts needs the user pool and the JWT layer")
        stack = Stack.of(self)
        # What Cognito writes as the ID tokens' `iss`, and where it publishes its keys.
        issuer = f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{user_pool.user_pool_id}"
        self.authorizer = ServiceFunction(
            self,
            "Authorizer",
            settings=settings,
            handler="image_service.authorizer.handler",
            description="The optional authorizer: verifies a present ID token, lets none through",
            # Lambda's CPU share grows with memory (1,769 MB is one vCPU): a cold start (about
            # 0.1 s of CPU, mostly PyJWT and cryptography) delays a user's request, and costs
            # the same GB-seconds at any memory; a warm call (0.2 ms) is billed 1 ms either way
            # (docs/PERFORMANCE.md, "The optional authorizer").
            memory_size=1024,
            timeout=AUTHORIZER_TIMEOUT,
            # TOKEN_AUDIENCE, the app client's id, is added by the stack once the client exists.
            environment={
                Env.TOKEN_ISSUER: issuer,
                Env.JWKS_URL: f"{issuer}/.well-known/jwks.json",
            },
            layers=[powertools, jwt],
            reaches="Fetches only the user pool's public signing keys (its JWKS URL) over TLS",
        )
        # No identity source: with one, API Gateway itself would answer 401 to a request
        # without it, before the authorizer could let it through as anonymous. Without one,
        # API Gateway cannot cache a verdict, so none is kept (TTL 0).
        optional = apigw.RequestAuthorizer(
            self,
            "OptionalAuthorizer",
            handler=self.authorizer.function,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        # No scopes: API Gateway then accepts ID tokens only. No cached verdicts either, so a
        # token is refused the moment it expires.
        person = apigw.CognitoUserPoolsAuthorizer(
            self,
            "UserPoolAuthorizer",
            cognito_user_pools=[user_pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(0),
        )
        options[Guard.OPTIONAL] = {
            "authorizer": optional,
            "authorization_type": apigw.AuthorizationType.CUSTOM,
        }
        options[Guard.PERSON] = {
            "authorizer": person,
            "authorization_type": apigw.AuthorizationType.COGNITO,
        }
        return options

    @staticmethod
    def _accept_method_findings(method: apigw.Method, guard: Guard, settings: Settings) -> None:
        if guard is Guard.PERSON:
            return  # Cognito's user-pool authorizer: what both checkers ask for
        if guard is Guard.OPTIONAL:
            acknowledge(
                method,
                {
                    "AwsSolutions-COG4": "Signing in is optional on this route (the stage's "
                    "accounts setting): anonymous clients may use it too, which Cognito's "
                    "user-pool authorizer cannot allow (it answers 401 without a token). A "
                    "REQUEST authorizer verifies any token present against the same pool's "
                    "keys, issuer and app client, and refuses a bad one with 401",
                },
            )
            return
        # accounts: off.
        reason = (
            "The service is an open image store by design (see README): no user identities. "
            "Stages with apiKeyRequired gate every route with an API key and usage plan"
        )
        acknowledge(method, {"AwsSolutions-APIG4": reason, "AwsSolutions-COG4": reason})
        if not settings.api_key_required:
            skip_checkov(
                method,
                {
                    "CKV_AWS_59": "apiKeyRequired is false in this stage's settings: "
                    "open on purpose. " + reason
                },
            )
