"""What the synthesized stacks promise, one property per test, for every stage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from image_service.contract import catalogue_keys

from stacks.limits import MAX_RECEIVE_COUNT
from tests.infra.conftest import template_json, variant
from tests.infra.policies import allowed_statements, function_id, may

UPLOAD = "image_service.upload.handler"
DOWNLOAD_IMAGE = "image_service.download_image.handler"
DOWNLOAD_THUMBNAIL = "image_service.download_thumbnail.handler"
WORKER = "image_service.thumbnail_worker.handler"
CATALOGUE = "image_service.catalogue.handler"
TICKETS = "image_service.tickets.handler"
HANDLERS = (UPLOAD, DOWNLOAD_IMAGE, DOWNLOAD_THUMBNAIL, CATALOGUE, TICKETS, WORKER)
API_HANDLERS = (UPLOAD, DOWNLOAD_IMAGE, DOWNLOAD_THUMBNAIL, CATALOGUE, TICKETS)

# Stateful resources: a new logical id means CloudFormation replaces them, and their data
# with them. These ids must never change.
IMAGES_BUCKET = "StorageImagesCFC0E004"
ACCESS_LOG_BUCKET = "StorageAccessLogs96FB524C"
QUEUE = "ProcessingQueueA1640E9B"
DEAD_LETTER_QUEUE = "ProcessingDeadLetterQueue1893A4B8"
TABLE = "CatalogueTable05926C37"
SITE_BUCKET = "DeliverySite4B75BADB"
EDGE_LOG_BUCKET = "DeliveryLogsE7964E8F"


def resource(template: Template, logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template_json(template)["Resources"][logical_id]
    return found


def function(template: Template, handler: str) -> dict[str, Any]:
    return resource(template, function_id(template, handler))


def object_arn(key: str) -> str:
    """An object of the images bucket, as `policies.may` renders resource ARNs."""
    return f"arn:{IMAGES_BUCKET}/{key}"


# --- storage --------------------------------------------------------------------------------


def test_stateful_logical_ids_are_pinned(template: Template) -> None:
    resources = template_json(template)["Resources"]
    assert resources[IMAGES_BUCKET]["Type"] == "AWS::S3::Bucket"
    assert resources[ACCESS_LOG_BUCKET]["Type"] == "AWS::S3::Bucket"
    assert resources[QUEUE]["Type"] == "AWS::SQS::Queue"
    assert resources[DEAD_LETTER_QUEUE]["Type"] == "AWS::SQS::Queue"
    assert resources[TABLE]["Type"] == "AWS::DynamoDB::Table"
    assert resources[SITE_BUCKET]["Type"] == "AWS::S3::Bucket"
    assert resources[EDGE_LOG_BUCKET]["Type"] == "AWS::S3::Bucket"


def test_buckets_block_all_public_access(template: Template) -> None:
    buckets = template.find_resources("AWS::S3::Bucket")
    assert set(buckets) == {IMAGES_BUCKET, ACCESS_LOG_BUCKET, SITE_BUCKET, EDGE_LOG_BUCKET}
    for logical_id, bucket in buckets.items():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        # ACLs off everywhere but where CloudFront's standard logs need them (their log
        # delivery gives the bucket's owner each object by ACL).
        ownership = "ObjectWriter" if logical_id == EDGE_LOG_BUCKET else "BucketOwnerEnforced"
        assert bucket["Properties"]["OwnershipControls"] == {
            "Rules": [{"ObjectOwnership": ownership}]
        }, logical_id


def test_buckets_encrypt_at_rest(template: Template) -> None:
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        rules = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def _denies_plain_http(policy_document: dict[str, Any]) -> bool:
    return any(
        statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and statement["Principal"] == {"AWS": "*"}
        for statement in policy_document["Statement"]
    )


def test_buckets_refuse_requests_without_tls(template: Template) -> None:
    policies = template.find_resources("AWS::S3::BucketPolicy")
    protected = {
        p["Properties"]["Bucket"]["Ref"]
        for p in policies.values()
        if _denies_plain_http(p["Properties"]["PolicyDocument"])
    }
    assert protected == {IMAGES_BUCKET, ACCESS_LOG_BUCKET, SITE_BUCKET, EDGE_LOG_BUCKET}


def test_incomplete_multipart_uploads_are_aborted(template: Template) -> None:
    rules = resource(template, IMAGES_BUCKET)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        "Status": "Enabled",
    } in rules


def test_image_bucket_access_is_logged_to_the_log_bucket(template: Template) -> None:
    logging = resource(template, IMAGES_BUCKET)["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": ACCESS_LOG_BUCKET}


def test_prod_keeps_images_when_the_stack_is_deleted(templates: dict[str, Template]) -> None:
    for bucket in (IMAGES_BUCKET, ACCESS_LOG_BUCKET, SITE_BUCKET, EDGE_LOG_BUCKET):
        assert resource(templates["prod"], bucket)["DeletionPolicy"] == "Retain"
        assert resource(templates["dev"], bucket)["DeletionPolicy"] == "Delete"
    # A dev stack with images (and logs) in it can still be destroyed.
    templates["dev"].resource_count_is("Custom::S3AutoDeleteObjects", 4)
    templates["prod"].resource_count_is("Custom::S3AutoDeleteObjects", 0)


# --- queue ----------------------------------------------------------------------------------


def test_queues_encrypt_at_rest_and_refuse_requests_without_tls(template: Template) -> None:
    for queue in (QUEUE, DEAD_LETTER_QUEUE):
        assert resource(template, queue)["Properties"]["SqsManagedSseEnabled"] is True
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    protected = {
        ref["Ref"]
        for policy in policies.values()
        if _denies_plain_http(policy["Properties"]["PolicyDocument"])
        for ref in policy["Properties"]["Queues"]
    }
    assert protected == {QUEUE, DEAD_LETTER_QUEUE}


def test_queue_visibility_is_six_times_worker_timeout(template: Template) -> None:
    worker_timeout = function(template, WORKER)["Properties"]["Timeout"]
    visibility = resource(template, QUEUE)["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * worker_timeout


def test_failed_jobs_reach_the_dlq_after_at_least_five_tries(template: Template) -> None:
    redrive = resource(template, QUEUE)["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "Arn"]}
    assert redrive["maxReceiveCount"] >= 5
    # The worker gives up (writes the _failed marker) on the same try SQS does.
    environment = function(template, WORKER)["Properties"]["Environment"]["Variables"]
    assert (
        environment["MAX_RECEIVE_COUNT"]
        == str(redrive["maxReceiveCount"])
        == str(MAX_RECEIVE_COUNT)
    )


def test_dlq_keeps_failed_jobs_for_14_days(template: Template) -> None:
    assert (
        resource(template, DEAD_LETTER_QUEUE)["Properties"]["MessageRetentionPeriod"]
        == 14 * 24 * 3600
    )


def test_worker_reports_partial_batch_failures_with_bounded_batches(
    template: Template, stage: str
) -> None:
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    mapping = next(iter(mappings.values()))["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": function_id(template, WORKER)}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= mapping["BatchSize"] <= 10
    expected_concurrency = {"dev": 5, "prod": 20}[stage]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": expected_concurrency}


# --- catalogue ------------------------------------------------------------------------------


def test_table_is_on_demand_with_point_in_time_recovery_and_ttl(template: Template) -> None:
    properties = resource(template, TABLE)["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_prod_table_survives_its_stack_and_a_careless_delete(
    templates: dict[str, Template],
) -> None:
    prod, dev = resource(templates["prod"], TABLE), resource(templates["dev"], TABLE)
    assert prod["DeletionPolicy"] == prod["UpdateReplacePolicy"] == "Retain"
    assert prod["Properties"]["DeletionProtectionEnabled"] is True
    assert dev["DeletionPolicy"] == "Delete"
    assert dev["Properties"].get("DeletionProtectionEnabled") in (None, False)


def test_table_keys_are_the_ones_the_functions_expect(template: Template) -> None:
    properties = resource(template, TABLE)["Properties"]
    expected = catalogue_keys()
    assert properties["KeySchema"] == expected["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        expected["AttributeDefinitions"], key=str
    )
    assert properties["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]


def test_feed_is_a_sparse_index_newest_first_without_the_token_hash(template: Template) -> None:
    indexes = resource(template, TABLE)["Properties"]["GlobalSecondaryIndexes"]
    (index,) = [i for i in indexes if i["IndexName"] == "feed"]
    assert index["KeySchema"] == [
        {"AttributeName": "feed", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    projected = set(index["Projection"]["NonKeyAttributes"])
    assert {"name", "status", "renditions", "created_at"} <= projected
    assert "delete_token_hash" not in projected


# --- functions ------------------------------------------------------------------------------


def test_functions_have_explicit_runtime_architecture_and_memory(
    template: Template,
) -> None:
    for handler in HANDLERS:
        properties = function(template, handler)["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert 128 <= properties["MemorySize"] <= 10240


def test_nothing_is_traced_so_no_function_may_write_traces(template: Template) -> None:
    # Tracing is off on purpose (docs/PERFORMANCE.md): no X-Ray cost per trace, and no
    # X-Ray statement, whose actions take no resource ARN (a `Resource: *` grant).
    template.has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": False})
    for handler in HANDLERS:
        assert "TracingConfig" not in function(template, handler)["Properties"]
        assert not may(template, handler, "xray:PutTraceSegments", "*")


def test_api_functions_finish_before_api_gateway_gives_up(template: Template) -> None:
    for handler in API_HANDLERS:
        # API Gateway's integration timeout is 29 s: a slower function answers no one.
        assert function(template, handler)["Properties"]["Timeout"] < 29


def test_every_function_logs_to_its_own_group_with_retention(
    template: Template, stage: str
) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    for handler in HANDLERS:
        group_id = function(template, handler)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == 30
        assert groups[group_id]["DeletionPolicy"] == {"dev": "Delete", "prod": "Retain"}[stage]


def test_functions_find_their_bucket_and_table_by_reference(template: Template) -> None:
    """The variables each handler reads are pinned by test_contract; here: no name is typed in."""
    for handler in HANDLERS:
        variables = function(template, handler)["Properties"]["Environment"]["Variables"]
        assert variables["BUCKET_NAME"] == {"Ref": IMAGES_BUCKET}
        if handler != DOWNLOAD_IMAGE:
            assert variables["TABLE_NAME"] == {"Ref": TABLE}, handler


def test_upload_limit_fits_lambda_payload_after_base64(template: Template) -> None:
    limit = int(
        function(template, UPLOAD)["Properties"]["Environment"]["Variables"]["MAX_UPLOAD_BYTES"]
    )
    # Binary bodies reach Lambda base64-encoded; a synchronous invocation carries 6 MB.
    assert limit * 4 / 3 < 6 * 1024 * 1024


def test_only_image_decoding_functions_load_pillow(template: Template) -> None:
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    pillow = next(
        lid for lid, layer in layers.items() if "Pillow" in layer["Properties"]["Description"]
    )
    for handler in HANDLERS:
        refs = function(template, handler)["Properties"]["Layers"]
        assert ({"Ref": pillow} in refs) == (handler in (UPLOAD, WORKER)), handler
        assert len(refs) == (2 if handler in (UPLOAD, WORKER) else 1)


def test_layers_are_built_for_the_functions_runtime_and_architecture(template: Template) -> None:
    for logical_id, layer in template.find_resources("AWS::Lambda::LayerVersion").items():
        if logical_id.startswith("SiteDeploymentAwsCliLayer"):
            continue  # CDK's AWS CLI, for its function that copies the page: not ours to build

        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


# --- least privilege ------------------------------------------------------------------------


def test_upload_writes_and_deletes_only_originals(template: Template) -> None:
    assert may(template, UPLOAD, "s3:PutObject", object_arn("originals/A.jpg"))
    assert may(template, UPLOAD, "s3:DeleteObject", object_arn("originals/A.jpg"))
    assert not may(template, UPLOAD, "s3:PutObject", object_arn("thumbnails/thumb/A.jpg"))
    assert not may(template, UPLOAD, "s3:DeleteObject", object_arn("thumbnails/thumb/A.jpg"))
    assert not may(template, UPLOAD, "s3:GetObject", object_arn("originals/A.jpg"))


def test_worker_reads_originals_and_direct_uploads_and_writes_thumbnails(
    template: Template,
) -> None:
    assert may(template, WORKER, "s3:GetObject", object_arn("originals/A.jpg"))
    assert may(template, WORKER, "s3:GetObject", object_arn("incoming/A"))
    assert may(template, WORKER, "s3:PutObject", object_arn("thumbnails/thumb/A.jpg"))
    # A direct upload's validated bytes are written as its original; incoming/ is emptied.
    assert may(template, WORKER, "s3:PutObject", object_arn("originals/A.jpg"))
    assert may(template, WORKER, "s3:DeleteObject", object_arn("incoming/A"))
    assert not may(template, WORKER, "s3:PutObject", object_arn("incoming/A"))
    assert not may(template, WORKER, "s3:GetObject", object_arn("elsewhere/A"))


def test_tickets_sign_posts_for_incoming_only(template: Template) -> None:
    """A presigned POST carries its signer's permissions: the ticket function may only put
    under incoming/, so no ticket can ever write an original or a thumbnail."""
    assert may(template, TICKETS, "s3:PutObject", object_arn("incoming/A"))
    for key in ("originals/A.jpg", "thumbnails/thumb/A.jpg"):
        assert not may(template, TICKETS, "s3:PutObject", object_arn(key))
        assert not may(template, TICKETS, "s3:GetObject", object_arn(key))
    assert not may(template, TICKETS, "s3:DeleteObject", object_arn("incoming/A"))


def test_direct_uploads_reach_the_worker_as_bucket_events(template: Template) -> None:
    (notification,) = template.find_resources("Custom::S3BucketNotifications").values()
    properties = notification["Properties"]
    assert properties["BucketName"] == {"Ref": IMAGES_BUCKET}
    (queue,) = properties["NotificationConfiguration"]["QueueConfigurations"]
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    assert queue["QueueArn"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
    assert queue["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}
    # The queue's policy lets this bucket, and only it, send.
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    statements = [
        st
        for policy in policies.values()
        if {"Ref": QUEUE} in policy["Properties"]["Queues"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]
    assert len(statements) == 1
    assert statements[0]["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::GetAtt": [IMAGES_BUCKET, "Arn"]
    }


def test_direct_uploads_left_in_incoming_expire_after_a_day(template: Template) -> None:
    rules = resource(template, IMAGES_BUCKET)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"ExpirationInDays": 1, "Prefix": "incoming/", "Status": "Enabled"} in rules


def test_browsers_may_send_presigned_requests_to_the_bucket_from_any_origin(
    templates: dict[str, Template],
) -> None:
    """A presigned POST (a direct upload) or GET (the redirect to a large original) is its own
    permission, so the bucket takes it from any page: the first deploy's gallery, whose
    cloudfront.net name the bucket cannot know, uploads large photos at once."""
    for stage in ("dev", "prod"):
        (rule,) = resource(templates[stage], IMAGES_BUCKET)["Properties"]["CorsConfiguration"][
            "CorsRules"
        ]
        assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD", "POST"]
        assert rule["AllowedOrigins"] == ["*"]


def test_worker_may_delete_thumbnails_of_an_image_deleted_while_it_rendered(
    template: Template,
) -> None:
    assert may(template, WORKER, "s3:DeleteObject", object_arn("thumbnails/thumb/A.jpg"))


def test_deletion_removes_objects_but_never_reads_or_writes_them(template: Template) -> None:
    for key in ("originals/A.jpg", "thumbnails/thumb/A.jpg", "incoming/A"):
        assert may(template, CATALOGUE, "s3:DeleteObject", object_arn(key))
        assert not may(template, CATALOGUE, "s3:GetObject", object_arn(key))
        assert not may(template, CATALOGUE, "s3:PutObject", object_arn(key))
    assert not may(template, CATALOGUE, "s3:DeleteObject", object_arn("elsewhere/A.jpg"))


TABLE_ARN = f"arn:{TABLE}"
FEED_ARN = f"arn:{TABLE}/index/feed"
TABLE_ACTIONS = {
    UPLOAD: {"dynamodb:PutItem", "dynamodb:DeleteItem"},
    TICKETS: {"dynamodb:PutItem"},
    WORKER: {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    DOWNLOAD_IMAGE: {"dynamodb:GetItem"},
    DOWNLOAD_THUMBNAIL: {"dynamodb:GetItem"},
    CATALOGUE: {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
}
EVERY_TABLE_ACTION = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
)


def test_each_function_has_exactly_the_table_actions_it_uses(template: Template) -> None:
    for handler, actions in TABLE_ACTIONS.items():
        allowed = {a for a in EVERY_TABLE_ACTION if may(template, handler, a, TABLE_ARN)}
        assert allowed == actions, handler
    assert may(template, CATALOGUE, "dynamodb:Query", FEED_ARN)


def test_no_function_may_scan_the_table(template: Template) -> None:
    for handler in HANDLERS:
        assert not may(template, handler, "dynamodb:Scan", TABLE_ARN)
        assert not may(template, handler, "dynamodb:Scan", FEED_ARN)


def test_tickets_count_open_tickets_on_the_owner_index_only(template: Template) -> None:
    assert may(template, TICKETS, "dynamodb:Query", f"{TABLE_ARN}/index/by-owner")
    assert not may(template, TICKETS, "dynamodb:Query", FEED_ARN)
    assert not may(template, TICKETS, "dynamodb:Query", TABLE_ARN)


def test_downloads_only_read(template: Template) -> None:
    assert may(template, DOWNLOAD_IMAGE, "s3:GetObject", object_arn("originals/A.jpg"))
    assert not may(template, DOWNLOAD_IMAGE, "s3:GetObject", object_arn("thumbnails/thumb/A.jpg"))
    assert may(template, DOWNLOAD_THUMBNAIL, "s3:GetObject", object_arn("thumbnails/thumb/A.jpg"))
    for handler in (DOWNLOAD_IMAGE, DOWNLOAD_THUMBNAIL):
        for key in ("originals/A.jpg", "thumbnails/thumb/A.jpg"):
            assert not may(template, handler, "s3:PutObject", object_arn(key))
            assert not may(template, handler, "s3:DeleteObject", object_arn(key))


def test_only_upload_sends_jobs_and_only_the_worker_consumes_them(template: Template) -> None:
    queue_arn = f"arn:{QUEUE}"
    assert may(template, UPLOAD, "sqs:SendMessage", queue_arn)
    assert may(template, WORKER, "sqs:DeleteMessage", queue_arn)
    for handler in (DOWNLOAD_IMAGE, DOWNLOAD_THUMBNAIL, CATALOGUE, TICKETS):
        assert not may(template, handler, "sqs:SendMessage", queue_arn)
    assert not may(template, UPLOAD, "sqs:ReceiveMessage", queue_arn)
    assert not may(template, WORKER, "sqs:SendMessage", queue_arn)


def test_no_function_has_unscoped_storage_or_queue_access(template: Template) -> None:
    for handler in HANDLERS:
        for actions, resources in allowed_statements(template, handler):
            if any(a.startswith(("s3:", "sqs:", "dynamodb:")) for a in actions):
                assert "*" not in resources, (handler, actions)


# --- API ------------------------------------------------------------------------------------


def test_api_passes_every_body_through_as_binary(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["*/*"]})


def test_stage_is_throttled_and_access_logged(template: Template, stage: str) -> None:
    rate, burst = {"dev": (50, 100), "prod": (100, 200)}[stage]
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": stage,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": rate,
                            "ThrottlingBurstLimit": burst,
                        }
                    )
                ]
            ),
        },
    )


def _routes(template: Template) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> method properties, paths rebuilt from the resource tree."""
    resources = template.find_resources("AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Fn::GetAtt" in ref:
            return ""  # the root resource
        props = resources[ref["Ref"]]["Properties"]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"])): m["Properties"]
        for m in template.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    }


def test_every_route_reaches_its_function_through_a_proxy_integration(
    template: Template,
) -> None:
    routes = _routes(template)
    expected = {
        ("POST", "/upload"): UPLOAD,
        ("GET", "/download/{name}"): DOWNLOAD_IMAGE,
        ("GET", "/download-thumbnail/{name}"): DOWNLOAD_THUMBNAIL,
        ("GET", "/images"): CATALOGUE,
        ("GET", "/images/{id}"): CATALOGUE,
        ("DELETE", "/images/{id}"): CATALOGUE,
        ("POST", "/uploads"): TICKETS,
        # Where there are accounts (both committed stages).
        ("PATCH", "/images/{id}"): CATALOGUE,
        ("GET", "/me/images"): CATALOGUE,
    }
    assert set(routes) == set(expected)
    for route, handler in expected.items():
        integration = routes[route]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert function_id(template, handler) in json.dumps(integration["Uri"]), route


def test_requests_are_validated_before_reaching_a_function(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestParameters": True, "ValidateRequestBody": True},
    )
    for (_, path), properties in _routes(template).items():
        assert "RequestValidatorId" in properties, path
        if "{name}" in path:
            assert properties["RequestParameters"] == {"method.request.path.name": True}
        if "{id}" in path:
            assert properties["RequestParameters"] == {"method.request.path.id": True}


def test_an_api_key_only_where_the_stage_asks_for_one(templates: dict[str, Template]) -> None:
    """Neither committed stage does (accounts gate prod's writes); the machinery stays."""
    keyed = variant("prod-api-key")
    for template, required in (
        (templates["dev"], False),
        (templates["prod"], False),
        (keyed, True),
    ):
        routes = _routes(template)
        assert {p.get("ApiKeyRequired", False) for p in routes.values()} == {required}
    keyed.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    keyed.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 100, "BurstLimit": 200}, "ApiStages": Match.any_value()},
    )
    keyed.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    for stage in ("dev", "prod"):
        templates[stage].resource_count_is("AWS::ApiGateway::ApiKey", 0)
        templates[stage].resource_count_is("AWS::ApiGateway::UsagePlan", 0)


def test_cors_preflight_answers_the_configured_origins_without_an_api_key(
    templates: dict[str, Template],
) -> None:
    for stage, origin in (("dev", "'*'"), ("prod", "'https://example.com'")):
        preflights = [
            m["Properties"]
            for m in templates[stage].find_resources("AWS::ApiGateway::Method").values()
            if m["Properties"]["HttpMethod"] == "OPTIONS"
        ]
        # root, /upload, /uploads, /download, /download/{name}, the same for thumbnails,
        # /images, /images/{id}, /me, /me/images
        assert len(preflights) == 11
        for preflight in preflights:
            assert not preflight.get("ApiKeyRequired", False)
            assert preflight["AuthorizationType"] == "NONE"  # a preflight carries no token
            headers = preflight["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
            assert headers["method.response.header.Access-Control-Allow-Origin"] == origin
            methods = headers["method.response.header.Access-Control-Allow-Methods"]
            assert {"DELETE", "PATCH"} <= set(methods.strip("'").split(","))
            allowed = headers["method.response.header.Access-Control-Allow-Headers"]
            assert {"X-Delete-Token", "Authorization", "X-Visibility"} <= set(
                allowed.strip("'").split(",")
            )
    upload = function(templates["prod"], UPLOAD)["Properties"]["Environment"]["Variables"]
    assert upload["CORS_ORIGINS"] == "https://example.com"


# --- monitoring and outputs -----------------------------------------------------------------


def test_alarm_fires_as_soon_as_the_dlq_holds_a_message(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "QueueName"]}}
            ],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [{"Ref": Match.any_value()}],
        },
    )


def test_every_function_has_an_error_alarm(template: Template) -> None:
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in template.find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "Errors"}}
        ).values()
    }
    assert alarmed == {function_id(template, handler) for handler in HANDLERS}


def test_outputs_name_what_a_user_needs_after_deploying(templates: dict[str, Template]) -> None:
    common = {
        "DistributionUrl",
        "DistributionId",
        "SiteBucketName",
        "ApiUrl",
        "BucketName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "AlarmTopicArn",
        "DashboardUrl",
        "UploadFunctionName",
        "DownloadImageFunctionName",
        "DownloadThumbnailFunctionName",
        "CatalogueFunctionName",
        "TicketsFunctionName",
        "ThumbnailWorkerFunctionName",
        "TableName",
        # Where there are accounts: what a script signs in with, and the optional authorizer.
        "UserPoolId",
        "UserPoolClientId",
        "SignInUrl",
        "AuthorizerFunctionName",
    }
    assert common <= set(templates["dev"].find_outputs("*"))
    assert common <= set(templates["prod"].find_outputs("*"))
    assert common | {"ApiKeyId"} <= set(variant("prod-api-key").find_outputs("*"))
    assert "ApiKeyId" not in templates["dev"].find_outputs("*")
    outputs = templates["dev"].find_outputs("*")
    assert outputs["BucketName"]["Value"] == {"Ref": IMAGES_BUCKET}
    assert outputs["QueueUrl"]["Value"] == {"Ref": QUEUE}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTER_QUEUE}
    assert outputs["TableName"]["Value"] == {"Ref": TABLE}
    assert outputs["SiteBucketName"]["Value"] == {"Ref": SITE_BUCKET}
    # The API's own URL names its stage; the distribution's is the public one.
    assert "execute-api" in json.dumps(outputs["ApiUrl"]["Value"])
    distribution = next(iter(templates["dev"].find_resources("AWS::CloudFront::Distribution")))
    assert outputs["DistributionUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]
    }
    assert outputs["DistributionId"]["Value"] == {"Ref": distribution}


PHYSICAL_NAME_PROPERTIES = {
    "BucketName",
    "QueueName",
    "FunctionName",
    "RoleName",
    "TopicName",
    "LogGroupName",
    "LayerName",
    "AlarmName",
    "DashboardName",
    "ManagedPolicyName",
    "TableName",
}


@pytest.mark.parametrize("name_property", sorted(PHYSICAL_NAME_PROPERTIES))
def test_no_physical_names_anywhere(template: Template, name_property: str) -> None:
    # Generated names let two stages (or two copies) live in one account, and let
    # CloudFormation replace a resource without a name clash. A reference to another
    # resource's generated name (`{"Ref": ...}`) is fine; a literal string is not.
    for logical_id, found in template_json(template)["Resources"].items():
        value = found.get("Properties", {}).get(name_property)
        assert value is None or isinstance(value, dict), f"{logical_id}: {value!r}"


def test_stack_names_follow_the_stage(stacks: dict[str, Any]) -> None:
    assert {stage: stack.stack_name for stage, stack in stacks.items()} == {
        "dev": "ImageService-dev",
        "prod": "ImageService-prod",
    }
