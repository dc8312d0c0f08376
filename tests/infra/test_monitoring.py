"""Alarms that see every failure a user would notice, and the dashboard, for every stage."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk.assertions import Template
from image_service.contract import METRICS_NAMESPACE, SERVICE_NAME, MetricDimension, WorkerMetric

from tests.infra.policies import function_id
from tests.infra.test_template import (
    API_HANDLERS,
    DEAD_LETTER_QUEUE,
    QUEUE,
    WORKER,
    function,
    resource,
)

FIVE_MINUTES = 300


def alarm(template: Template, name: str) -> dict[str, Any]:
    """The alarm the Monitoring construct creates with id `name`."""
    pattern = re.compile(rf"Monitoring{name}[0-9A-F]{{8}}")
    found: list[dict[str, Any]] = [
        properties["Properties"]
        for logical_id, properties in template.find_resources("AWS::CloudWatch::Alarm").items()
        if pattern.fullmatch(logical_id)
    ]
    assert len(found) == 1, name
    return found[0]


def stage_dimensions(template: Template) -> list[dict[str, Any]]:
    """API Gateway's metrics of this stack's stage: its API's name and the stage's."""
    [api] = template.find_resources("AWS::ApiGateway::RestApi").values()
    [stage_id] = template.find_resources("AWS::ApiGateway::Stage")
    return [
        {"Name": "ApiName", "Value": api["Properties"]["Name"]},
        {"Name": "Stage", "Value": {"Ref": stage_id}},
    ]


def test_every_alarm_notifies_the_alarm_topic(template: Template) -> None:
    [topic] = template.find_resources("AWS::SNS::Topic")
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    # DLQ, four functions' errors, API 5xx rate and latency, worker failures, queue age.
    assert len(alarms) == 11
    for logical_id, found in alarms.items():
        assert found["Properties"]["AlarmActions"] == [{"Ref": topic}], logical_id
        assert found["Properties"]["TreatMissingData"] == "notBreaching", logical_id


def test_metrics_of_two_stacks_in_one_account_never_mix(
    templates: dict[str, Template],
) -> None:
    # API Gateway's metrics are keyed by API name: the stack's name, unique per account and
    # region (the default would be "RestApi" in every copy). The worker's, by function name.
    names = {
        stage: next(iter(t.find_resources("AWS::ApiGateway::RestApi").values()))["Properties"][
            "Name"
        ]
        for stage, t in templates.items()
    }
    assert names == {"dev": "ImageService-dev", "prod": "ImageService-prod"}


def test_api_5xx_alarm_is_a_rate_judged_only_with_enough_traffic(template: Template) -> None:
    found = alarm(template, "ApiServerErrorRate")
    expression, *inputs = found["Metrics"]
    # One failed request in a quiet period is not a 100% failure rate worth a page.
    assert expression["Expression"] == "IF(requests >= 20, 100 * errors / requests, 0)"
    assert expression["ReturnData"] is True
    stats = {m["Id"]: m["MetricStat"] for m in inputs}
    assert {m["ReturnData"] for m in inputs} == {False}
    for metric_id, metric_name in (("errors", "5XXError"), ("requests", "Count")):
        assert stats[metric_id] == {
            "Metric": {
                "Namespace": "AWS/ApiGateway",
                "MetricName": metric_name,
                "Dimensions": stage_dimensions(template),
            },
            "Period": FIVE_MINUTES,
            "Stat": "Sum",
        }
    assert found["ComparisonOperator"] == "GreaterThanThreshold"
    assert found["Threshold"] == 5  # percent
    assert found["EvaluationPeriods"] == 1


def test_api_latency_alarm_fires_well_before_requests_time_out(template: Template) -> None:
    found = alarm(template, "ApiLatencyP99")
    assert found["Namespace"] == "AWS/ApiGateway"
    assert found["MetricName"] == "Latency"
    assert found["Dimensions"] == stage_dimensions(template)
    assert found["ExtendedStatistic"] == "p99"
    assert found["Period"] == FIVE_MINUTES
    assert found["EvaluationPeriods"] == 2
    shortest_timeout_ms = (
        min(function(template, handler)["Properties"]["Timeout"] for handler in API_HANDLERS) * 1000
    )
    assert found["ComparisonOperator"] == "GreaterThanThreshold"
    assert found["Threshold"] == shortest_timeout_ms / 2 == 10_000


def test_worker_failure_alarm_reads_exactly_what_the_worker_emits(template: Template) -> None:
    found = alarm(template, "WorkerRenderFailures")
    environment = function(template, WORKER)["Properties"]["Environment"]["Variables"]
    # tests/functions/test_worker.py checks the worker publishes under these names.
    assert found["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert found["MetricName"] == WorkerMetric.FAILED
    assert sorted(found["Dimensions"], key=lambda d: d["Name"]) == sorted(
        [
            {
                "Name": MetricDimension.FUNCTION_NAME,
                "Value": {"Ref": function_id(template, WORKER)},
            },
            {"Name": MetricDimension.SERVICE, "Value": environment["POWERTOOLS_SERVICE_NAME"]},
        ],
        key=lambda d: d["Name"],
    )
    assert environment["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME
    assert found["Statistic"] == "Sum"
    assert found["Period"] == FIVE_MINUTES
    assert found["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert found["Threshold"] == 2
    # One job is handed out again only after the visibility timeout, so it fails at most once
    # per period: two failures are two jobs (a poison message is the DLQ alarm's business).
    assert resource(template, QUEUE)["Properties"]["VisibilityTimeout"] > found["Period"]


def test_queue_age_alarm_leaves_room_for_every_retry_of_a_job(template: Template) -> None:
    found = alarm(template, "QueueBacklogAge")
    assert found["Namespace"] == "AWS/SQS"
    assert found["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert found["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [QUEUE, "QueueName"]}}
    ]
    assert found["Statistic"] == "Maximum"
    assert found["Period"] == FIVE_MINUTES
    queue = resource(template, QUEUE)["Properties"]
    # A job that keeps failing is received every visibility timeout until the DLQ takes it;
    # only a message older than all its tries means nobody is receiving.
    every_try = queue["VisibilityTimeout"] * queue["RedrivePolicy"]["maxReceiveCount"]
    assert found["ComparisonOperator"] == "GreaterThanThreshold"
    assert found["Threshold"] == every_try == 1800


def _rendered(value: Any) -> str:
    """A Fn::Join'ed string with its references written as <Ref:X> / <X.Attribute>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    separator, parts = value["Fn::Join"]
    return str(separator).join(_rendered(part) for part in parts)


def dashboard(template: Template) -> list[dict[str, Any]]:
    [found] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert "DashboardName" not in found["Properties"]  # generated, as every other name
    widgets: list[dict[str, Any]] = json.loads(_rendered(found["Properties"]["DashboardBody"]))[
        "widgets"
    ]
    return widgets


def graphed(widget: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, metric name, statistic) of each line of a graph widget."""
    lines = []
    for line in widget["properties"]["metrics"]:
        namespace, metric_name, *_, options = line
        lines.append((namespace, metric_name, options["stat"]))
    return lines


def test_dashboard_shows_the_api_the_worker_the_queue_and_the_dlq(template: Template) -> None:
    widgets = dashboard(template)
    [status] = [w for w in widgets if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == 11  # every alarm's state at the top
    graphs = {w["properties"]["title"]: graphed(w) for w in widgets if w["type"] == "metric"}
    api, sqs, lambda_, ours = "AWS/ApiGateway", "AWS/SQS", "AWS/Lambda", METRICS_NAMESPACE
    assert graphs == {
        "API requests": [(api, "Count", "Sum")],
        "API errors": [(api, "4XXError", "Sum"), (api, "5XXError", "Sum")],
        "API latency (ms)": [(api, "Latency", "p50"), (api, "Latency", "p99")],
        "Thumbnail jobs": [
            (ours, WorkerMetric.RENDERED, "Sum"),
            (ours, WorkerMetric.FAILED, "Sum"),
        ],
        "Render time per job (ms)": [
            (ours, WorkerMetric.RENDER_TIME, "p50"),
            (ours, WorkerMetric.RENDER_TIME, "p99"),
        ],
        "Worker duration per batch (ms)": [
            (lambda_, "Duration", "p50"),
            (lambda_, "Duration", "Maximum"),
        ],
        "Worker errors and throttles": [(lambda_, "Errors", "Sum"), (lambda_, "Throttles", "Sum")],
        "Worker concurrency": [(lambda_, "ConcurrentExecutions", "Maximum")],
        "Queue: jobs waiting and in flight": [
            (sqs, "ApproximateNumberOfMessagesVisible", "Maximum"),
            (sqs, "ApproximateNumberOfMessagesNotVisible", "Maximum"),
        ],
        "Queue: age of the oldest job (s)": [(sqs, "ApproximateAgeOfOldestMessage", "Maximum")],
        "Dead-letter queue: jobs given up on": [
            (sqs, "ApproximateNumberOfMessagesVisible", "Maximum")
        ],
    }


def test_dashboard_graphs_this_stacks_resources(template: Template) -> None:
    worker = f"<Ref:{function_id(template, WORKER)}>"
    api = stage_dimensions(template)
    expected_dimensions = {
        "AWS/ApiGateway": {"ApiName": api[0]["Value"], "Stage": f"<Ref:{api[1]['Value']['Ref']}>"},
        "AWS/Lambda": {"FunctionName": worker},
        METRICS_NAMESPACE: {
            MetricDimension.FUNCTION_NAME: worker,
            MetricDimension.SERVICE: SERVICE_NAME,
        },
    }
    queues = {f"<{QUEUE}.QueueName>", f"<{DEAD_LETTER_QUEUE}.QueueName>"}
    graphed_queues = set()
    for widget in dashboard(template):
        if widget["type"] != "metric":
            continue
        for namespace, _, *pairs, _ in widget["properties"]["metrics"]:
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            if namespace == "AWS/SQS":
                graphed_queues.add(dimensions["QueueName"])
                assert set(dimensions) == {"QueueName"}
            else:
                assert dimensions == expected_dimensions[namespace], widget["properties"]["title"]
    assert graphed_queues == queues


def test_dashboard_url_opens_this_stacks_dashboard(template: Template) -> None:
    [dashboard_id] = template.find_resources("AWS::CloudWatch::Dashboard")
    url = _rendered(template.find_outputs("DashboardUrl")["DashboardUrl"]["Value"])
    assert url == (
        "https://console.aws.amazon.com/cloudwatch/home?region=<Ref:AWS::Region>"
        f"#dashboards/dashboard/<Ref:{dashboard_id}>"
    )
