"""The catalogue table: one record per image, the single truth about which images exist."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from image_service.contract import (
    EXPIRES_AT,
    FEED_INDEX,
    FEED_PARTITION,
    FEED_PROJECTION,
    OWNER,
    OWNER_INDEX,
    OWNER_PROJECTION,
    TABLE_KEY,
)

from stacks.acknowledgements import skip_checkov
from stacks.settings import Settings


class Catalogue(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        keep = settings.removal == RemovalPolicy.RETAIN
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=TABLE_KEY, type=dynamodb.AttributeType.STRING),
            # On demand: a photo service's traffic comes in bursts, and idle costs nothing.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Tickets for direct uploads that never receive their bytes expire by themselves.
            time_to_live_attribute=EXPIRES_AT,
            deletion_protection=keep,
            removal_policy=settings.removal,
        )
        # The feed, newest first: only listed records carry the partition attribute (a
        # sparse index), and the id's leading bits are its upload time.
        self.table.add_global_secondary_index(
            index_name=FEED_INDEX,
            partition_key=dynamodb.Attribute(
                name=FEED_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=TABLE_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(FEED_PROJECTION),
        )
        if settings.has_accounts:
            # Each owner's images, newest first: only owned records carry `owner`, so
            # anonymous uploads cost this index nothing.
            self.table.add_global_secondary_index(
                index_name=OWNER_INDEX,
                partition_key=dynamodb.Attribute(name=OWNER, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=TABLE_KEY, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(OWNER_PROJECTION),
            )
        skip_checkov(
            self.table,
            {
                "CKV_AWS_119": "Encrypted at rest with DynamoDB's AWS-owned key, at no cost. A "
                "customer managed key bills $1/month plus every request, and the records hold "
                "no secret: a delete token is stored only as its SHA-256",
            },
        )
