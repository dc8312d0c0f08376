"""The runner reads the template like CloudFormation would, with local values."""

from __future__ import annotations

import copy
import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_runner.runner import LocalRunner, Options
from local_runner.template import (
    IGNORED_TYPES,
    Assembly,
    LocalAws,
    Resolver,
    Service,
    TemplateError,
    load_service,
)
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY
from tests.local_runner.conftest import LOCAL

TEMPLATE = {
    "Parameters": {"Greeting": {"Type": "String", "Default": "hello"}},
    "Resources": {
        "Images": {"Type": "AWS::S3::Bucket"},
        "Jobs": {"Type": "AWS::SQS::Queue"},
        "Worker": {"Type": "AWS::Lambda::Function"},
        "Topic": {"Type": "AWS::SNS::Topic"},
    },
}


@pytest.fixture
def resolver() -> Resolver:
    return Resolver("Demo-dev", TEMPLATE, LOCAL)


def test_ref_to_a_bucket_is_a_valid_lowercase_generated_name(resolver: Resolver) -> None:
    name = resolver.resolve({"Ref": "Images"})
    assert name.startswith("demo-dev-images-")
    assert name == name.lower()
    assert 3 <= len(name) <= 63


def test_ref_to_a_queue_is_its_url_on_the_emulator(resolver: Resolver) -> None:
    url = resolver.resolve({"Ref": "Jobs"})
    assert url.startswith("http://127.0.0.1:4566/123456789012/Demo-dev-Jobs-")


def test_names_are_stable_between_runs() -> None:
    first = Resolver("Demo-dev", TEMPLATE, LOCAL).resolve({"Ref": "Images"})
    again = Resolver("Demo-dev", TEMPLATE, LocalAws(endpoint="http://127.0.0.1:1")).resolve(
        {"Ref": "Images"}
    )
    assert first == again


def test_pseudo_parameters_and_parameter_defaults(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert resolver.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert resolver.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert resolver.resolve({"Ref": "AWS::StackName"}) == "Demo-dev"
    assert resolver.resolve({"Ref": "Greeting"}) == "hello"


def test_get_att_in_both_forms(resolver: Resolver) -> None:
    arn = resolver.resolve({"Fn::GetAtt": ["Jobs", "Arn"]})
    assert arn == resolver.resolve({"Fn::GetAtt": "Jobs.Arn"})
    queue_name = resolver.resolve({"Fn::GetAtt": ["Jobs", "QueueName"]})
    assert arn == f"arn:aws:sqs:us-east-1:123456789012:{queue_name}"
    function_name = resolver.resolve({"Ref": "Worker"})
    assert resolver.resolve({"Fn::GetAtt": ["Worker", "Arn"]}) == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    )
    bucket = resolver.resolve({"Ref": "Images"})
    assert resolver.resolve({"Fn::GetAtt": ["Images", "Arn"]}) == f"arn:aws:s3:::{bucket}"


def test_join_resolves_its_parts(resolver: Resolver) -> None:
    joined = resolver.resolve(
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Images"}, "/*"]]}
    )
    assert joined == f"arn:aws:s3:::{resolver.resolve({'Ref': 'Images'})}/*"


def test_sub_string_form_with_refs_attributes_and_literals(resolver: Resolver) -> None:
    text = resolver.resolve({"Fn::Sub": "${AWS::Region}|${Images}|${Jobs.QueueName}|${!Literal}"})
    queue_name = resolver.resolve({"Fn::GetAtt": ["Jobs", "QueueName"]})
    assert text == f"us-east-1|{resolver.resolve({'Ref': 'Images'})}|{queue_name}|${{Literal}}"


def test_sub_list_form_with_its_own_variables(resolver: Resolver) -> None:
    text = resolver.resolve(
        {"Fn::Sub": ["${Bucket}/${Greeting}-${AWS::AccountId}", {"Bucket": {"Ref": "Images"}}]}
    )
    assert text == f"{resolver.resolve({'Ref': 'Images'})}/hello-123456789012"


def test_select_and_split(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Select": [2, {"Fn::Split": [":", "a:b:c"]}]}) == "c"


def test_nested_structures_resolve_throughout(resolver: Resolver) -> None:
    resolved = resolver.resolve({"A": [{"Ref": "AWS::Region"}, {"B": {"Ref": "Greeting"}}]})
    assert resolved == {"A": ["us-east-1", {"B": "hello"}]}


def test_what_cannot_be_resolved_is_named(resolver: Resolver) -> None:
    with pytest.raises(TemplateError, match="Missing"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match=r"Images\.WebsiteURL"):
        resolver.resolve({"Fn::GetAtt": ["Images", "WebsiteURL"]})
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "Elsewhere"})


# --- the hand-made fixture assembly --------------------------------------------------------


def test_routes_from_a_hand_made_template(fixture_service: Service) -> None:
    (api,) = fixture_service.apis
    routes = {(r.method, r.resource_path): r for r in api.routes}
    assert routes[("GET", "/items/{id}")].function == "Echo"
    assert routes[("GET", "/items/special")].function == "Binary"
    assert routes[("ANY", "/files/{path+}")].function == "Echo"
    assert routes[("POST", "/upload")].function == "Binary"
    assert routes[("GET", "/secure")].api_key_required
    assert not routes[("GET", "/items")].api_key_required
    preflight = routes[("OPTIONS", "/items")]
    assert preflight.function is None
    assert preflight.mock_status == 204
    assert preflight.mock_headers["Access-Control-Allow-Origin"] == "*"
    assert api.stage == "test"
    assert api.binary_media_types == ("image/*",)


def test_function_environment_resolves_to_local_resources(fixture_service: Service) -> None:
    env = fixture_service.functions["Echo"].environment
    bucket = fixture_service.buckets[0].name
    jobs = fixture_service.queue("Jobs")
    assert env["FIXTURE_BUCKET"] == bucket
    assert env["FIXTURE_QUEUE_URL"] == jobs.url
    assert env["FIXTURE_QUEUE_ARN"] == jobs.arn
    assert env["FIXTURE_SUB"] == f"us-east-1/{jobs.name}/${{Literal}}"
    assert env["FIXTURE_SUB_VARS"] == f"{bucket}-123456789012"
    assert env["FIXTURE_JOIN"] == "a:aws:b"
    assert env["FIXTURE_SELECT"] == "y"


def test_functions_carry_handler_code_and_limits(fixture_service: Service) -> None:
    slow = fixture_service.functions["Slow"]
    assert slow.handler == "handlers.slow"
    assert slow.code == FIXTURE_ASSEMBLY / "asset.handlers"
    assert (slow.timeout_s, slow.memory_mb) == (1, 128)
    assert [layer.logical_id for layer in fixture_service.functions["Collect"].layers] == [
        "PillowLayer"
    ]


def test_queue_attributes_and_redrive(fixture_service: Service) -> None:
    jobs = fixture_service.queue("Jobs")
    assert jobs.attributes["VisibilityTimeout"] == "30"
    assert jobs.dead_letter_arn == fixture_service.queue("DeadLetters").arn
    assert json.loads(jobs.attributes["RedrivePolicy"])["maxReceiveCount"] == 3


def test_visibility_override_applies_to_every_queue() -> None:
    service = load_service(Assembly.load(FIXTURE_ASSEMBLY), LOCAL, visibility_timeout_override=2)
    assert {q.attributes["VisibilityTimeout"] for q in service.queues} == {"2"}


def test_event_source_mapping_settings(fixture_service: Service) -> None:
    (mapping,) = fixture_service.event_sources
    assert (mapping.function, mapping.queue) == ("Collect", "Jobs")
    assert mapping.batch_size == 4
    assert mapping.batching_window_s == 2
    assert mapping.report_batch_item_failures
    assert mapping.maximum_concurrency == 2


def test_unknown_resource_types_are_reported_by_name(tmp_path: Path) -> None:
    assembly = Assembly.load(FIXTURE_ASSEMBLY)
    template = copy.deepcopy(dict(assembly.template))
    template["Resources"]["Stream"] = {"Type": "AWS::Kinesis::Stream", "Properties": {}}
    changed = Assembly(assembly.directory, "Fixture", template, assembly.asset_paths)
    service = load_service(changed, LOCAL)
    assert [(u.logical_id, u.type) for u in service.unknown] == [("Stream", "AWS::Kinesis::Stream")]


def test_an_integration_the_runner_cannot_serve_is_refused() -> None:
    assembly = Assembly.load(FIXTURE_ASSEMBLY)
    template = copy.deepcopy(dict(assembly.template))
    template["Resources"]["ItemsGet"]["Properties"]["Integration"] = {"Type": "HTTP_PROXY"}
    changed = Assembly(assembly.directory, "Fixture", template, assembly.asset_paths)
    with pytest.raises(TemplateError, match="HTTP_PROXY"):
        load_service(changed, LOCAL)


# --- the real synthesized stages ----------------------------------------------------------


def test_dev_template_routes(dev_service: Service) -> None:
    (api,) = dev_service.apis
    served = {
        (r.method, r.resource_path): dev_service.functions[r.function].handler
        for r in api.routes
        if r.function
    }
    assert served == {
        ("POST", "/upload"): "image_service.upload.handler",
        ("GET", "/download/{name}"): "image_service.download_image.handler",
        ("GET", "/download-thumbnail/{name}"): "image_service.download_thumbnail.handler",
        ("GET", "/images"): "image_service.catalogue.handler",
        ("GET", "/images/{id}"): "image_service.catalogue.handler",
        ("DELETE", "/images/{id}"): "image_service.catalogue.handler",
        ("POST", "/uploads"): "image_service.tickets.handler",
        ("PATCH", "/images/{id}"): "image_service.catalogue.handler",
        ("GET", "/me/images"): "image_service.catalogue.handler",
    }
    assert api.stage == "dev"
    assert api.binary_media_types == ("*/*",)
    assert not any(r.api_key_required for r in api.routes)
    # Accounts are optional in dev: a person only where the route is the person's own.
    authorization = {(r.method, r.resource_path): r.authorization for r in api.routes if r.function}
    assert {route for route, kind in authorization.items() if kind == "COGNITO_USER_POOLS"} == {
        ("PATCH", "/images/{id}"),
        ("GET", "/me/images"),
    }
    assert {kind for kind in authorization.values()} == {"COGNITO_USER_POOLS", "CUSTOM"}


def test_dev_functions_get_the_local_table(dev_service: Service) -> None:
    (table,) = dev_service.tables
    assert table.logical_id.startswith("CatalogueTable")
    catalogue = next(
        f for f in dev_service.functions.values() if f.handler.endswith("catalogue.handler")
    )
    assert catalogue.environment["TABLE_NAME"] == table.name
    assert table.properties["GlobalSecondaryIndexes"][0]["IndexName"] == "feed"


def test_dev_functions_get_local_bucket_and_queue(dev_service: Service) -> None:
    (images,) = [b for b in dev_service.buckets if b.logical_id.startswith("StorageImages")]
    upload = next(f for f in dev_service.functions.values() if f.handler.endswith("upload.handler"))
    assert upload.environment["BUCKET_NAME"] == images.name
    assert images.name.startswith("imageservice-dev-storageimages-")
    (queue,) = [q for q in dev_service.queues if q.dead_letter_arn]
    assert upload.environment["QUEUE_URL"] == queue.url
    assert (upload.code / "image_service" / "upload.py").is_file()


def test_dev_functions_see_no_distribution_locally(dev_service: Service) -> None:
    """CloudFront is not emulated: the functions get the empty values that mean "none" (a
    Location as the client called, no invalidation), not a made-up id they would call."""
    by_handler = {f.handler: f for f in dev_service.functions.values()}
    assert by_handler["image_service.upload.handler"].environment["PUBLIC_HOST"] == ""
    assert by_handler["image_service.catalogue.handler"].environment["DISTRIBUTION_ID"] == ""
    distribution = {i.type for i in dev_service.ignored}
    assert "AWS::CloudFront::Distribution" in distribution
    # The site bucket and the distribution's log bucket are ordinary local buckets.
    assert {b.logical_id[:12] for b in dev_service.buckets} >= {"DeliverySite", "DeliveryLogs"}


def test_dev_thumbnail_worker_is_driven_by_the_queue(dev_service: Service) -> None:
    (mapping,) = dev_service.event_sources
    worker = dev_service.functions[mapping.function]
    assert worker.handler == "image_service.thumbnail_worker.handler"
    queue = dev_service.queue(mapping.queue)
    assert int(queue.attributes["VisibilityTimeout"]) >= 6 * worker.timeout_s
    assert json.loads(queue.attributes["RedrivePolicy"])["maxReceiveCount"] >= 5
    assert mapping.report_batch_item_failures


def test_dev_template_has_no_type_the_runner_does_not_know(dev_service: Service) -> None:
    assert dev_service.unknown == ()
    assert {i.type for i in dev_service.ignored} <= set(IGNORED_TYPES) | {"AWS::Lambda::Function"}


def test_prod_writes_require_a_person_and_reads_stay_open(prod_service: Service) -> None:
    (api,) = prod_service.apis
    routes = {(r.method, r.resource_path): r for r in api.routes if r.function}
    person = {route for route, r in routes.items() if r.authorization == "COGNITO_USER_POOLS"}
    assert person == {
        ("POST", "/upload"),
        ("POST", "/uploads"),
        ("DELETE", "/images/{id}"),
        ("PATCH", "/images/{id}"),
        ("GET", "/me/images"),
    }
    assert all(r.authorization == "CUSTOM" for route, r in routes.items() if route not in person)
    assert not any(r.api_key_required for r in routes.values())
    assert api.stage == "prod"


def test_a_keyed_stage_needs_the_key_on_every_route(keyed_service: Service) -> None:
    (api,) = keyed_service.apis
    assert all(r.api_key_required for r in api.routes if r.function)


def test_the_runner_refuses_to_start_on_an_unknown_type_and_names_it(tmp_path: Path) -> None:
    assembly = tmp_path / "assembly"
    shutil.copytree(FIXTURE_ASSEMBLY, assembly)
    template_file = assembly / "Fixture.template.json"
    template = json.loads(template_file.read_text())
    template["Resources"]["Stream"] = {"Type": "AWS::Kinesis::Stream", "Properties": {}}
    template_file.write_text(json.dumps(template))
    runner = LocalRunner(Options(assembly=assembly, port=0))
    with pytest.raises(TemplateError, match=r"Stream: AWS::Kinesis::Stream\n.*--allow-unknown"):
        runner.start()
    assert runner.emulator is None  # refused before starting anything


def test_the_runner_refuses_a_taken_port_before_starting_anything() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = LocalRunner(Options(assembly=FIXTURE_ASSEMBLY, port=port))
        with pytest.raises(TemplateError, match=rf"port {port} on 127.0.0.1 is taken .*--port"):
            runner.start()
    assert runner.emulator is None


def test_the_buckets_notifications_are_applied_by_the_runner_itself(
    dev_service: Service,
) -> None:
    (notification,) = dev_service.notifications
    (images,) = [b for b in dev_service.buckets if b.logical_id.startswith("StorageImages")]
    (queue,) = [q for q in dev_service.queues if q.logical_id.startswith("ProcessingQueue")]
    assert notification.bucket == images.name
    (target,) = notification.configuration["QueueConfigurations"]
    assert target["QueueArn"] == queue.arn
    assert target["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]
    # Its provider (CDK's inline-code notification handler) never runs locally.
    handlers = {f.handler for f in dev_service.functions.values()}
    assert all(handler.startswith("image_service.") for handler in handlers)
    assert any(i.logical_id.startswith("BucketNotificationsHandler") for i in dev_service.ignored)


# --- accounts: the user pool, its client and domain, the authorizers ----------------------


def test_the_user_pool_client_and_domain_are_read_with_their_settings(
    fixture_service: Service,
) -> None:
    (pool,) = fixture_service.user_pools
    assert pool.logical_id == "Pool"
    assert pool.properties["UsernameAttributes"] == ["email"]
    assert pool.sign_up_open
    assert pool.password_rules() == (
        "At least 10 characters, with a lower-case letter, an upper-case letter and a number."
    )
    (client,) = fixture_service.user_pool_clients
    assert (client.pool, client.callback_urls) == ("Pool", ("https://example.cloudfront.net/",))
    assert client.oauth_flows == ("code",)
    assert "UserPoolId" not in client.properties
    (domain,) = fixture_service.user_pool_domains
    assert domain.domain == "fixture-gallery"
    assert domain.base_url == "https://fixture-gallery.auth.us-east-1.amazoncognito.com"


def test_refs_and_attributes_of_the_pool_are_the_ids_the_emulator_gave() -> None:
    """`Ref` of the pool is its id and of the client its client id, as moto created them; the
    environment of the authorizer function is written from them as the stack writes it."""
    ids = {"Pool": "us-east-1_abc123", "PoolGallery": "client0123456789abcdefghij"}
    local = LocalAws(endpoint="http://127.0.0.1:4566", generated_ids=ids)
    service = load_service(Assembly.load(FIXTURE_ASSEMBLY), local)
    env = service.functions["Authorize"].environment
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc123"
    assert env["TOKEN_ISSUER"] == issuer
    assert env["TOKEN_AUDIENCE"] == "client0123456789abcdefghij"
    assert env["JWKS_URL"] == f"{issuer}/.well-known/jwks.json"
    assert env["FIXTURE_PROVIDER_URL"] == issuer
    assert env["FIXTURE_PROVIDER_NAME"] == issuer.removeprefix("https://")
    assert env["FIXTURE_POOL_ARN"] == (
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc123"
    )
    assert env["FIXTURE_SIGN_IN_URL"] == "https://fixture-gallery.auth.us-east-1.amazoncognito.com"
    assert service.user_pools[0].issuer == issuer
    (api,) = service.apis
    assert api.authorizers["UserPoolAuthorizer"].issuers == (issuer,)


def test_before_the_emulator_runs_the_ids_are_stand_ins_of_their_shape(
    fixture_service: Service,
) -> None:
    (pool,) = fixture_service.user_pools
    assert pool.pool_id.startswith("us-east-1_")
    assert len(fixture_service.user_pool_clients[0].client_id) == 26


def test_methods_carry_their_authorization_and_authorizer(fixture_service: Service) -> None:
    (api,) = fixture_service.apis
    routes = {(r.method, r.resource_path): r for r in api.routes}
    me = routes[("GET", "/me")]
    assert (me.authorization, me.authorizer, me.function) == (
        "COGNITO_USER_POOLS",
        "UserPoolAuthorizer",
        "Echo",
    )
    maybe = routes[("GET", "/maybe")]
    assert (maybe.authorization, maybe.authorizer) == ("CUSTOM", "OptionalAuthorizer")
    assert routes[("GET", "/items")].authorization == "NONE"
    user_pool = api.authorizers["UserPoolAuthorizer"]
    assert user_pool.identity_sources == ("method.request.header.Authorization",)
    optional = api.authorizers["OptionalAuthorizer"]
    assert (optional.type, optional.function) == ("REQUEST", "Authorize")
    assert optional.identity_sources == ()  # so a request without a token reaches it
    assert optional.result_ttl_s == 0
    assert api.execute_api_arn == f"arn:aws:execute-api:us-east-1:123456789012:{api.api_id}"


def edited_fixture(edit: Callable[[dict[str, Any]], None]) -> Assembly:
    assembly = Assembly.load(FIXTURE_ASSEMBLY)
    template = copy.deepcopy(dict(assembly.template))
    edit(template["Resources"])
    return Assembly(assembly.directory, "Fixture", template, assembly.asset_paths)


def test_an_unknown_cognito_resource_type_is_reported_by_name() -> None:
    def add_group(resources: dict[str, Any]) -> None:
        resources["Admins"] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "Pool"}},
        }

    service = load_service(edited_fixture(add_group), LOCAL)
    assert [(u.logical_id, u.type) for u in service.unknown] == [
        ("Admins", "AWS::Cognito::UserPoolGroup")
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["MeGet"]["Properties"].update(AuthorizationType="AWS_IAM"),
            "AuthorizationType AWS_IAM",
        ),
        (
            lambda r: r["OptionalAuthorizer"]["Properties"].update(Type="TOKEN"),
            "a TOKEN authorizer",
        ),
        (
            lambda r: r["MeGet"]["Properties"].update(AuthorizerId={"Ref": "OptionalAuthorizer"}),
            "not a COGNITO_USER_POOLS authorizer",
        ),
        (
            lambda r: r["PoolGallery"]["Properties"].update(UserPoolId="us-east-1_elsewhere"),
            "not a Ref to one of the stack's user pools",
        ),
    ],
)
def test_authorization_the_runner_cannot_enforce_is_refused(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        load_service(edited_fixture(edit), LOCAL)
