"""What a user must hear about (alarms to one SNS topic) and one dashboard to look at.

A handled failure raises no Lambda error: an API handler answers a JSON 5xx, and a failed
job is reported in `batchItemFailures`. So besides each function's `Errors` (crashes,
timeouts, out of memory) the alarms watch what a user notices: the API's 5xx share and its
latency, the worker's failed renders, a queue that is not drained, and jobs given up on.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from image_service.contract import METRICS_NAMESPACE, SERVICE_NAME, MetricDimension, WorkerMetric

from stacks.acknowledgements import skip_checkov
from stacks.limits import API_TIMEOUT, MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT

PERIOD = Duration.minutes(5)
# The API pages when more than 5% of its answers in five minutes are 5xx, judged only over at
# least 20 requests: in a quiet period one failed request would be a 100% rate, and the
# functions' own Errors alarms still report crashes at any traffic.
SERVER_ERROR_PERCENT = 5
MIN_REQUESTS = 20
# Half the API functions' timeout, for ten minutes: requests are that close to failing. The
# slowest legitimate request (validating a 50 MP WebP upload: a full decode) takes about 1 s.
LATENCY_P99 = Duration.millis(API_TIMEOUT.to_milliseconds() // 2)
# One job fails at most once per five minutes: SQS hands it out again only after the
# visibility timeout (6 min), and its final failure is the dead-letter alarm's to report. Two
# failures in five minutes are therefore two jobs failing at once: a broken deploy, S3
# refusing access, a bad layer.
FAILED_RENDERS = 2
# Every job is received or given up on within MAX_RECEIVE_COUNT visibility timeouts (30 min),
# however often it fails; an older message is not being received at all (the event source
# disabled, the worker throttled, or more jobs than its maximum concurrency can drain).
QUEUE_AGE = Duration.seconds(VISIBILITY_TIMEOUT.to_seconds() * MAX_RECEIVE_COUNT)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api_stage: apigw.Stage,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        worker: lambda_.IFunction,
        functions: dict[str, lambda_.IFunction],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        skip_checkov(
            self.topic,
            {
                "CKV_AWS_26": "Alarm notifications carry no user data, and CloudWatch can "
                "publish only to a topic under a customer-managed key ($1/month), not under the "
                "AWS-managed aws/sns key",
            },
        )
        self._notify = actions.SnsAction(self.topic)

        def worker_metric(name: str, statistic: str) -> cloudwatch.Metric:
            # Exactly the dimensions the worker publishes (contract.MetricDimension).
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={
                    MetricDimension.SERVICE: SERVICE_NAME,
                    MetricDimension.FUNCTION_NAME: worker.function_name,
                },
                statistic=statistic,
                period=PERIOD,
            )

        requests = api_stage.metric_count(period=PERIOD, statistic="Sum")
        client_errors = api_stage.metric_client_error(period=PERIOD, statistic="Sum")
        server_errors = api_stage.metric_server_error(period=PERIOD, statistic="Sum")
        rendered = worker_metric(WorkerMetric.RENDERED, "Sum")
        failed = worker_metric(WorkerMetric.FAILED, "Sum")
        queue_age = queue.metric_approximate_age_of_oldest_message(
            period=PERIOD, statistic="Maximum"
        )
        dead_letters = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum"
        )

        self.dead_letter_alarm = self._alarm(
            "DeadLetterQueueNotEmpty",
            "Thumbnail jobs gave up after every retry and wait in the DLQ",
            dead_letters,
            threshold=0,
        )
        self.error_alarms = {
            name: self._alarm(
                f"{name}Errors",
                f"The {name} function crashed, timed out or ran out of memory",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
            )
            for name, function in functions.items()
        }
        self.server_error_alarm = self._alarm(
            "ApiServerErrorRate",
            f"More than {SERVER_ERROR_PERCENT}% of API answers were 5xx in 5 minutes "
            f"(judged from {MIN_REQUESTS} requests on)",
            cloudwatch.MathExpression(
                expression=f"IF(requests >= {MIN_REQUESTS}, 100 * errors / requests, 0)",
                using_metrics={"errors": server_errors, "requests": requests},
                label="5xx, % of requests",
                period=PERIOD,
            ),
            threshold=SERVER_ERROR_PERCENT,
        )
        self.latency_alarm = self._alarm(
            "ApiLatencyP99",
            f"The API's p99 latency stayed above {LATENCY_P99.to_seconds()} s for 10 minutes "
            f"(functions time out at {API_TIMEOUT.to_seconds()} s)",
            api_stage.metric_latency(period=PERIOD, statistic="p99"),
            threshold=LATENCY_P99.to_milliseconds(),
            evaluation_periods=2,
        )
        self.render_failure_alarm = self._alarm(
            "WorkerRenderFailures",
            f"{FAILED_RENDERS} or more thumbnail jobs failed within 5 minutes",
            failed,
            threshold=FAILED_RENDERS,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.queue_age_alarm = self._alarm(
            "QueueBacklogAge",
            f"A thumbnail job has waited over {QUEUE_AGE.to_minutes()} minutes: "
            "the queue is not being drained",
            queue_age,
            threshold=QUEUE_AGE.to_seconds(),
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3)
        )
        self.dashboard.add_widgets(
            graph("API requests", [requests]),
            graph("API errors", [client_errors, server_errors]),
            graph(
                "API latency (ms)",
                [
                    api_stage.metric_latency(period=PERIOD, statistic="p50", label="p50"),
                    api_stage.metric_latency(period=PERIOD, statistic="p99", label="p99"),
                ],
                annotation=self.latency_alarm,
            ),
        )
        self.dashboard.add_widgets(
            graph("Thumbnail jobs", [rendered, failed]),
            graph(
                "Render time per job (ms)",
                [
                    worker_metric(WorkerMetric.RENDER_TIME, "p50").with_(label="p50"),
                    worker_metric(WorkerMetric.RENDER_TIME, "p99").with_(label="p99"),
                ],
            ),
            graph(
                "Worker duration per batch (ms)",
                [
                    worker.metric_duration(period=PERIOD, statistic="p50", label="p50"),
                    worker.metric_duration(period=PERIOD, statistic="Maximum", label="max"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Worker errors and throttles",
                [
                    worker.metric_errors(period=PERIOD, statistic="Sum"),
                    worker.metric_throttles(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            graph(
                "Worker concurrency",
                [worker.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Queue: jobs waiting and in flight",
                [
                    queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="waiting"
                    ),
                    queue.metric_approximate_number_of_messages_not_visible(
                        period=PERIOD, statistic="Maximum", label="in flight"
                    ),
                ],
            ),
            graph("Queue: age of the oldest job (s)", [queue_age], annotation=self.queue_age_alarm),
            graph("Dead-letter queue: jobs given up on", [dead_letters]),
        )
        self.dashboard_url = (
            f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        return [
            self.dead_letter_alarm,
            *self.error_alarms.values(),
            self.server_error_alarm,
            self.latency_alarm,
            self.render_failure_alarm,
            self.queue_age_alarm,
        ]

    def _alarm(
        self,
        id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            # No data means no traffic, which is nothing to report.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._notify)
        return alarm


def graph(
    title: str,
    metrics: list[cloudwatch.IMetric],
    *,
    annotation: cloudwatch.Alarm | None = None,
    width: int = 8,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=metrics,
        left_annotations=[annotation.to_annotation()] if annotation else None,
        width=width,
        height=6,
    )
