"""The AWS side: moto server on loopback, holding the stack's buckets, tables, queues and user
pool (with its app clients and domain)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local_runner.s3_post import CorsRule, PostPolicyGate
from local_runner.template import (
    LOCAL_REGION,
    Bucket,
    Queue,
    Service,
    Table,
    TemplateError,
    UserPool,
    UserPoolClient,
)

log = logging.getLogger("local_runner")


# The credentials every local caller signs with (the runner, its functions, scripts through
# the harness): moto's fake ones, never real ones.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105
SESSION_TOKEN = "testing"  # noqa: S105


def local_client(endpoint: str, service: str) -> Any:
    """A boto3 client that can only ever talk to the emulator at `endpoint`."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        region_name=LOCAL_REGION,
    )
    return session.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 2}, max_pool_connections=32),
    )


class Emulator:
    """moto server on 127.0.0.1, on a free port, behind S3's POST policy checks and CORS for
    the stack's buckets (`cors`: bucket name -> its rules), which moto does not enforce."""

    def __init__(self, cors: dict[str, tuple[CorsRule, ...]] | None = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per call is noise
        moto = DomainDispatcherApplication(create_backend_app)
        app = PostPolicyGate(moto, cors or {}, {ACCESS_KEY: SECRET_KEY})
        # As moto's own ThreadedMotoServer serves it, with the gate in front.
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"

    def client(self, service: str) -> Any:
        """A client that can only ever talk to the emulator."""
        return local_client(self.endpoint, service)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


def create_resources(emulator: Emulator, service: Service) -> list[str]:
    """Create the stack's buckets, tables and queues; returns notes on what moto does not take."""
    notes: list[str] = []
    s3 = emulator.client("s3")
    for bucket in service.buckets:
        notes.extend(_create_bucket(s3, bucket))
    dynamodb = emulator.client("dynamodb")
    for table in service.tables:
        notes.extend(_create_table(dynamodb, table))
    sqs = emulator.client("sqs")
    pending = list(service.queues)
    created: set[str] = set()
    # Dead-letter queues first: a redrive policy must name an existing queue.
    while pending:
        ready = [q for q in pending if q.dead_letter_arn in (None, *created)]
        if not ready:
            names = ", ".join(q.logical_id for q in pending)
            raise RuntimeError(f"queues whose dead-letter queue is not in the stack: {names}")
        for queue in ready:
            _create_queue(sqs, queue)
            created.add(queue.arn)
            pending.remove(queue)
    # Last: S3 checks that a notification's queue exists (and sends it a test event).
    for notification in service.notifications:
        s3.put_bucket_notification_configuration(
            Bucket=notification.bucket,
            NotificationConfiguration=dict(notification.configuration),
        )
    return notes


def bucket_cors(service: Service) -> dict[str, tuple[CorsRule, ...]]:
    """Each stack bucket's CORS rules, as the template declares them."""
    return {
        bucket.name: tuple(
            CorsRule.from_template(rule)
            for rule in (bucket.properties.get("CorsConfiguration") or {}).get("CorsRules", [])
        )
        for bucket in service.buckets
    }


def _create_bucket(s3: Any, bucket: Bucket) -> list[str]:
    s3.create_bucket(Bucket=bucket.name)
    p = bucket.properties
    notes = []
    if "BucketEncryption" in p:
        # CloudFormation's names for the S3 API's fields.
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": rule["BucketKeyEnabled"]}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(
            Bucket=bucket.name, ServerSideEncryptionConfiguration={"Rules": rules}
        )
    if "PublicAccessBlockConfiguration" in p:
        s3.put_public_access_block(
            Bucket=bucket.name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in p:
        s3.put_bucket_ownership_controls(
            Bucket=bucket.name, OwnershipControls=p["OwnershipControls"]
        )
    if (p.get("VersioningConfiguration") or {}).get("Status"):
        s3.put_bucket_versioning(
            Bucket=bucket.name,
            VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]},
        )
    if p.get("Tags"):
        s3.put_bucket_tagging(Bucket=bucket.name, Tagging={"TagSet": p["Tags"]})
    for unapplied, why in (
        ("LifecycleConfiguration", "no days pass locally"),
        ("LoggingConfiguration", "no access logs locally"),
    ):
        if unapplied in p:
            notes.append(f"bucket {bucket.logical_id}: {unapplied} not applied ({why})")
    return notes


# CloudFormation's table properties that are the CreateTable API's own, under the same names.
TABLE_PARAMETERS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSESpecification",
    "TableClass",
    "DeletionProtectionEnabled",
)


def _create_table(dynamodb: Any, table: Table) -> list[str]:
    p = table.properties
    params = {key: p[key] for key in TABLE_PARAMETERS if key in p}
    if "SSESpecification" in params:
        params["SSESpecification"] = {
            key: value
            for key, value in params["SSESpecification"].items()
            if key in ("Enabled", "SSEType", "KMSMasterKeyId")
        }
    dynamodb.create_table(TableName=table.name, **params)
    notes = []
    ttl = p.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
        notes.append(
            f"table {table.logical_id}: TTL on {ttl['AttributeName']!r} recorded, but moto"
            " does not expire items"
        )
    if (p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
        notes.append(f"table {table.logical_id}: point-in-time recovery not emulated")
    return notes


def _create_queue(sqs: Any, queue: Queue) -> None:
    attributes = dict(queue.attributes)
    sqs.create_queue(QueueName=queue.name, Attributes=attributes)


# CloudFormation's user pool properties that CreateUserPool takes under the same names.
USER_POOL_PARAMETERS = (
    "Policies",
    "AutoVerifiedAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "UsernameConfiguration",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "MfaConfiguration",
    "UserAttributeUpdateSettings",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolTags",
    "AdminCreateUserConfig",
    "Schema",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "UserPoolTier",
    "DeletionProtection",
)
# CloudFormation's app client properties that CreateUserPoolClient takes under the same names.
USER_POOL_CLIENT_PARAMETERS = (
    "ClientName",
    "GenerateSecret",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
)


def create_user_pools(emulator: Emulator, service: Service) -> tuple[dict[str, str], list[str]]:
    """Create the stack's user pools, their app clients and domains in moto's cognito-idp.

    Returns the ids moto generated (logical id -> pool id or client id), which is what `Ref`
    of them resolves to from then on, and notes on what moto does not enforce."""
    cognito = emulator.client("cognito-idp")
    ids: dict[str, str] = {}
    notes: list[str] = []
    try:
        for pool in service.user_pools:
            ids[pool.logical_id] = _create_user_pool(cognito, pool, notes)
        for client in service.user_pool_clients:
            ids[client.logical_id] = _create_client(cognito, ids[client.pool], client, notes)
        for domain in service.user_pool_domains:
            extra = {
                key: domain.properties[key]
                for key in ("ManagedLoginVersion",)
                if key in domain.properties
            }
            cognito.create_user_pool_domain(
                Domain=domain.domain, UserPoolId=ids[domain.pool], **extra
            )
    except (ClientError, ParamValidationError) as error:
        raise TemplateError(f"creating the user pool in the emulator failed: {error}") from error
    return ids, notes


def _create_user_pool(cognito: Any, pool: UserPool, notes: list[str]) -> str:
    p = pool.properties
    params: dict[str, Any] = {key: p[key] for key in USER_POOL_PARAMETERS if key in p}
    # moto's default policy is looser than Cognito's.
    params["Policies"] = {**params.get("Policies", {}), "PasswordPolicy": pool.password_policy}
    created = cognito.create_user_pool(PoolName=pool.name, **params)["UserPool"]
    if p.get("MfaConfiguration", "OFF") != "OFF" or p.get("EnabledMfas"):
        notes.append(f"user pool {pool.logical_id}: MFA is not asked for locally")
    if p.get("LambdaConfig"):
        notes.append(f"user pool {pool.logical_id}: its Lambda triggers do not run locally")
    return str(created["Id"])


def _create_client(cognito: Any, pool_id: str, client: UserPoolClient, notes: list[str]) -> str:
    p = client.properties
    params = {key: p[key] for key in USER_POOL_CLIENT_PARAMETERS if key in p}
    params.setdefault("ClientName", client.logical_id)
    created = cognito.create_user_pool_client(UserPoolId=pool_id, **params)["UserPoolClient"]
    if p.get("GenerateSecret"):
        notes.append(f"app client {client.logical_id}: its secret is not asked for locally")
    return str(created["ClientId"])


class SeedError(TemplateError):
    """A user given on the command line cannot be created; the message says why."""


def add_user(emulator: Emulator, pool: UserPool, email: str, password: str) -> None:
    """A confirmed user with a verified email and a permanent password, as an administrator
    creates one (no invitation is sent)."""
    cognito = emulator.client("cognito-idp")
    pool_id = pool.pool_id
    try:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
        )
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=email, Password=password, Permanent=True
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidPasswordException":
            raise SeedError(
                f"--user {email}: the password does not meet the user pool's policy:"
                f" {pool.password_rules()}"
            ) from error
        if code == "UsernameExistsException":
            raise SeedError(f"--user {email}: given twice") from error
        raise SeedError(f"--user {email}: {error}") from error
