"""Alarms a user must hear about: poison messages in the DLQ and functions failing."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        dead_letter_queue: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        notify = actions.SnsAction(self.topic)

        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterQueueNotEmpty",
            alarm_description="Thumbnail jobs gave up after every retry and wait in the DLQ",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(notify)

        self.error_alarms = {}
        for name, function in functions.items():
            alarm = cloudwatch.Alarm(
                self,
                f"{name}Errors",
                alarm_description=f"The {name} function raised errors",
                metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
            self.error_alarms[name] = alarm
