"""Local Lambda instances: warm, isolated per function, timed out, replaced when they die."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_runner.lambdas import (
    FunctionPool,
    InvocationError,
    InvocationTimeout,
    function_environment,
    layer_contents,
)
from local_runner.sqs_source import failed_ids, sqs_record
from local_runner.template import Service
from tests.local_runner.conftest import LOCAL


@pytest.fixture
def pool_of(fixture_service: Service) -> Iterator[Any]:
    layers = {
        layer.logical_id: layer_contents(layer.source)
        for f in fixture_service.functions.values()
        for layer in f.layers
    }
    pools: list[FunctionPool] = []

    def make(logical_id: str, max_instances: int = 2) -> FunctionPool:
        function = fixture_service.functions[logical_id]
        pool = FunctionPool(function, function_environment(function, LOCAL, layers), max_instances)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def echo_body(result: Any) -> Any:
    return json.loads(result["body"])


def test_instances_stay_warm_and_see_their_function_environment(pool_of: Any) -> None:
    pool = pool_of("Echo")
    first = echo_body(pool.invoke({"n": 1}))
    second = echo_body(pool.invoke({"n": 2}))
    assert (first["calls"], second["calls"]) == (1, 2)  # module globals persisted
    assert first["pid"] == second["pid"]
    assert second["env"]["AWS_ENDPOINT_URL"] == LOCAL.endpoint
    assert second["env"]["FIXTURE_JOIN"] == "a:aws:b"
    assert second["env"]["AWS_LAMBDA_FUNCTION_NAME"].startswith("Fixture-Echo-")
    context = second["context"]
    assert context["memory_limit_in_mb"] == 128
    assert context["invoked_function_arn"].endswith(second["env"]["AWS_LAMBDA_FUNCTION_NAME"])
    assert 0 < context["remaining_ms"] <= 3000


def test_a_handler_error_keeps_the_instance(pool_of: Any) -> None:
    pool = pool_of("Boom")
    with pytest.raises(InvocationError, match="always crashes") as raised:
        pool.invoke({})
    assert raised.value.error_type == "RuntimeError"
    with pytest.raises(InvocationError):
        pool.invoke({})


def test_a_dead_instance_is_replaced(pool_of: Any) -> None:
    pool = pool_of("Exit")
    for _ in range(2):
        with pytest.raises(InvocationError) as raised:
            pool.invoke({})
        assert raised.value.error_type == "Runtime.ExitError"


def test_timeout_is_enforced_and_the_next_call_gets_a_fresh_instance(pool_of: Any) -> None:
    pool = pool_of("Slow")
    started = time.monotonic()
    with pytest.raises(InvocationTimeout, match=r"timed out after 1\.00 seconds"):
        pool.invoke({"queryStringParameters": {"s": "30"}})
    assert time.monotonic() - started < 5
    assert pool.invoke({"queryStringParameters": {"s": "0"}}) == {"statusCode": 200, "body": "done"}


def test_concurrent_invocations_run_in_parallel_instances(pool_of: Any) -> None:
    pool = pool_of("Slow", max_instances=3)
    event = {"queryStringParameters": {"s": "0"}}
    with ThreadPoolExecutor(3) as executor:  # start three instances first
        list(executor.map(lambda _: pool.invoke(event), range(3)))
    event = {"queryStringParameters": {"s": "0.6"}}
    started = time.monotonic()
    with ThreadPoolExecutor(3) as executor:
        results = list(executor.map(lambda _: pool.invoke(event), range(3)))
    assert all(r["statusCode"] == 200 for r in results)
    assert time.monotonic() - started < 1.5  # not 3 x 0.6 s one after the other


def test_a_package_only_another_functions_layer_provides_cannot_be_imported(
    pool_of: Any,
) -> None:
    with pytest.raises(InvocationError, match="No module named 'PIL'"):
        pool_of("Pillow").invoke({})


def test_sqs_record_shape(fixture_service: Service) -> None:
    queue = fixture_service.queue("Jobs")
    record = sqs_record(
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "Body": "{}",
            "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
            "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
            "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
        },
        queue,
        "us-east-1",
    )
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert (record["messageId"], record["receiptHandle"], record["awsRegion"]) == (
        "m1",
        "r1",
        "us-east-1",
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": "b"}, None),
    ],
)
def test_partial_batch_responses(result: Any, expected: set[str] | None) -> None:
    records = [{"messageId": "a"}, {"messageId": "b"}]
    assert failed_ids(result, records, report=True) == expected


def test_without_report_batch_item_failures_a_success_deletes_all() -> None:
    records = [{"messageId": "a"}]
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, records, False) == set()


def test_a_user_pools_jwks_url_names_the_emulator_and_the_issuer_stays(
    fixture_service: Service,
) -> None:
    """The optional authorizer fetches its keys from JWKS_URL: locally that is moto, which
    serves them; its tokens still carry the AWS-style issuer, so TOKEN_ISSUER stays."""
    authorize = fixture_service.functions["Authorize"]
    env = function_environment(authorize, LOCAL, {})
    pool = fixture_service.user_pools[0]
    assert env["JWKS_URL"] == f"{LOCAL.endpoint}/{pool.pool_id}/.well-known/jwks.json"
    assert authorize.environment["JWKS_URL"] == f"{pool.issuer}/.well-known/jwks.json"
    assert env["TOKEN_ISSUER"] == pool.issuer
    assert env["TOKEN_AUDIENCE"] == fixture_service.user_pool_clients[0].client_id
