"""Reading a synthesized cloud assembly: what to emulate, resolved to local values.

Everything the runner serves comes from here: buckets, tables and queues with their
attributes, the functions (handler, code folder, environment, limits, layers), the user pool
with its app clients and domain, the REST API's routes with their authorizers, and the SQS
event source mappings. Intrinsic functions that name the stack's own resources resolve to the
local ones (bucket names, queue URLs on the emulator, ARNs in the local account, the ids the
emulator gave the user pool and its clients).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# CloudFormation pseudo parameters as they read locally. moto's default account, so ARNs the
# runner computes match the ones moto hands out.
LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"

# Resource types the runner deliberately does not emulate, and why that is harmless locally.
IGNORED_TYPES: Mapping[str, str] = {
    "AWS::IAM::Role": "no IAM locally: every function may call every local resource",
    "AWS::IAM::Policy": "no IAM locally",
    "AWS::IAM::ManagedPolicy": "no IAM locally",
    "AWS::S3::BucketPolicy": "TLS-only and deny policies have nothing to deny on loopback",
    "AWS::SQS::QueuePolicy": "TLS-only and deny policies have nothing to deny on loopback",
    "AWS::SNS::Topic": "alarm notifications: no alarms fire locally",
    "AWS::SNS::TopicPolicy": "alarm notifications: no alarms fire locally",
    "AWS::SNS::Subscription": "alarm notifications: no alarms fire locally",
    "AWS::CloudWatch::Alarm": "no metrics locally; each request and batch logs a line instead",
    "AWS::CloudWatch::Dashboard": "no metrics locally: the worker's EMF lines go to this terminal",
    "AWS::Logs::LogGroup": "function and access logs go to this terminal",
    "AWS::Lambda::LayerVersion": "layer contents come from the venv (same pinned packages)",
    "AWS::Lambda::Permission": "API Gateway and SQS may always invoke the local functions",
    "AWS::ApiGateway::Account": "CloudWatch role for API Gateway logging: account setting",
    "AWS::ApiGateway::Deployment": "the local API always serves the template as synthesized",
    "AWS::ApiGateway::Stage": "read for the stage name; throttling and logging not emulated",
    "AWS::ApiGateway::RequestValidator": "the functions validate their own input",
    "AWS::ApiGateway::UsagePlan": "no throttling or quotas locally",
    "AWS::ApiGateway::UsagePlanKey": "every generated API key is accepted",
    "AWS::ApiGateway::ApiKey": "the runner generates (or takes) the key it accepts",
    "AWS::CDK::Metadata": "CDK version analytics",
    "AWS::CloudFront::Distribution": "no edge locally: the runner serves the API routes and the"
    " site itself (read for the site's bucket, root object and headers); functions see no"
    " distribution (empty PUBLIC_HOST and DISTRIBUTION_ID)",
    "AWS::CloudFront::CachePolicy": "nothing is cached locally: every request reaches a function",
    "AWS::CloudFront::ResponseHeadersPolicy": "read for the site's security headers, served"
    " locally with the CSP pointed at the emulator and without HSTS; the API's are added at the"
    " edge only",
    "AWS::CloudFront::OriginAccessControl": "the distribution's access to the site bucket",
    "AWS::CloudFront::Function": "edge code (Accept reduced, public turned private) runs at the"
    " edge only",
    "AWS::WAFv2::WebACL": "the optional web ACL filters at the edge only",
    "Custom::S3AutoDeleteObjects": "the emulator's state is thrown away on exit",
}
# Resources that exist only at the edge: there is no local one for a function to call, so
# their ids and names resolve to "" (a function reading one sees "no distribution").
EDGE_ONLY_TYPES = frozenset({"AWS::CloudFront::Distribution"})
# Types the runner builds something from.
EMULATED_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        # CDK writes a bucket's notifications through a custom resource; the runner applies
        # its configuration to the emulator itself (its provider function never runs).
        "Custom::S3BucketNotifications",
        # CDK copies the site's files into a bucket through a custom resource; the runner
        # copies the same asset folders into the local bucket and serves them at `/` (its
        # provider function never runs).
        "Custom::CDKBucketDeployment",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Authorizer",
        # moto's cognito-idp holds them; the runner serves a stand-in for the domain's pages.
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
    }
)
# What Cognito applies when a user pool names no password policy.
COGNITO_DEFAULT_PASSWORD_POLICY: Mapping[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
# The ids AWS generates when it creates these (the emulator's, once they exist there).
GENERATED_ID_TYPES = frozenset({"AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"})
CDK_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")
LAMBDA_INVOKE_URI = re.compile(r":lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations$")
# The authorization types of a method the runner enforces (NONE: open).
AUTHORIZATION_TYPES = ("NONE", "COGNITO_USER_POOLS", "CUSTOM")


class TemplateError(Exception):
    """The template asks for something the runner cannot emulate; the message says what."""


@dataclass(frozen=True)
class LocalAws:
    """Where the stack's resources live locally."""

    endpoint: str  # the emulator's URL, e.g. http://127.0.0.1:5123
    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    # Logical id -> the id the emulator generated for it (user pools, app clients). Without
    # one (reading a template before the emulator runs), a stable stand-in id of that shape.
    generated_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    name: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class BucketNotifications:
    logical_id: str
    bucket: str  # the bucket's name
    configuration: Mapping[str, Any]  # S3's NotificationConfiguration, resolved


@dataclass(frozen=True)
class SiteDeployment:
    """What a `Custom::CDKBucketDeployment` copies into its bucket at deploy time."""

    logical_id: str
    bucket: str  # the destination bucket's name
    key_prefix: str
    sources: tuple[Path, ...]  # the asset folders, in the order they are copied
    # Per source: the deploy-time values CDK's deployment writes over each marker in the
    # files, and whether it JSON-escapes them (the markers of `Source.json_data`).
    markers: tuple[Mapping[str, str], ...]
    json_escape: tuple[bool, ...]
    metadata: Mapping[str, str]  # SystemMetadata: e.g. cache-control, lower-case names


@dataclass(frozen=True)
class SiteEdge:
    """What the distribution's default behaviour (the site) does, resolved locally."""

    bucket: str | None  # the bucket its origin is, or None for another kind of origin
    root_object: str | None  # served for `/`
    headers: tuple[tuple[str, str], ...]  # its response headers policy's security headers


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    attributes: Mapping[str, str]  # SQS API attribute names and values, resolved

    @property
    def dead_letter_arn(self) -> str | None:
        policy = self.attributes.get("RedrivePolicy")
        return str(json.loads(policy)["deadLetterTargetArn"]) if policy else None


@dataclass(frozen=True)
class Layer:
    logical_id: str
    source: Path | None  # the asset folder as the manifest names it


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    handler: str
    code: Path
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]
    layers: tuple[Layer, ...]

    @property
    def display_name(self) -> str:
        """`ApiUploadFunction7A87083A` -> `ApiUploadFunction`: short enough for log lines."""
        return CDK_HASH_SUFFIX.sub("", self.logical_id) or self.logical_id


@dataclass(frozen=True)
class UserPool:
    logical_id: str
    pool_id: str  # as the emulator generated it
    issuer: str  # the `iss` of its tokens: https://cognito-idp.<region>.amazonaws.com/<id>
    name: str
    properties: Mapping[str, Any]  # resolved

    @property
    def password_policy(self) -> Mapping[str, Any]:
        """The pool's password policy; Cognito's default when it names none."""
        policy = (self.properties.get("Policies") or {}).get("PasswordPolicy")
        return policy or COGNITO_DEFAULT_PASSWORD_POLICY

    def password_rules(self) -> str:
        """The password policy in words, e.g. for a sign-up form."""
        policy = self.password_policy
        wanted = [
            name
            for key, name in (
                ("RequireLowercase", "a lower-case letter"),
                ("RequireUppercase", "an upper-case letter"),
                ("RequireNumbers", "a number"),
                ("RequireSymbols", "a symbol"),
            )
            if flag(policy.get(key), default=True)
        ]
        rules = f"At least {int(policy.get('MinimumLength', 8))} characters"
        if wanted:
            listed = ", ".join(wanted[:-1]) + (" and " if len(wanted) > 1 else "") + wanted[-1]
            rules += f", with {listed}"
        return rules + "."

    @property
    def sign_up_open(self) -> bool:
        """Whether people may create their own accounts (not only an administrator)."""
        config = self.properties.get("AdminCreateUserConfig") or {}
        return not flag(config.get("AllowAdminCreateUserOnly"))


@dataclass(frozen=True)
class UserPoolClient:
    logical_id: str
    pool: str  # the logical id of its user pool
    client_id: str  # as the emulator generated it
    properties: Mapping[str, Any]  # resolved, without UserPoolId

    @property
    def callback_urls(self) -> tuple[str, ...]:
        return tuple(str(u) for u in self.properties.get("CallbackURLs") or ())

    @property
    def logout_urls(self) -> tuple[str, ...]:
        return tuple(str(u) for u in self.properties.get("LogoutURLs") or ())

    @property
    def oauth_flows(self) -> tuple[str, ...]:
        if not flag(self.properties.get("AllowedOAuthFlowsUserPoolClient")):
            return ()
        return tuple(str(f) for f in self.properties.get("AllowedOAuthFlows") or ())

    @property
    def oauth_scopes(self) -> tuple[str, ...]:
        return tuple(str(s) for s in self.properties.get("AllowedOAuthScopes") or ())


@dataclass(frozen=True)
class UserPoolDomain:
    logical_id: str
    pool: str  # the logical id of its user pool
    domain: str  # the prefix
    # Where its managed sign-in pages are in AWS, as CDK's `UserPoolDomain.base_url()`
    # writes it: https://<prefix>.auth.<region>.amazoncognito.com
    base_url: str
    properties: Mapping[str, Any]  # resolved, without UserPoolId


@dataclass(frozen=True)
class Authorizer:
    logical_id: str
    type: str  # COGNITO_USER_POOLS or REQUEST
    # e.g. method.request.header.Authorization: API Gateway answers 401 itself when one is
    # missing or empty, without calling the authorizer.
    identity_sources: tuple[str, ...]
    # COGNITO_USER_POOLS: the `iss` of the pools' tokens (from ProviderARNs)
    issuers: tuple[str, ...] = ()
    function: str | None = None  # REQUEST: the logical id of its function
    result_ttl_s: int = 300  # REQUEST: how long a result is reused for the same identity


@dataclass(frozen=True)
class Route:
    resource_path: str  # e.g. /download/{name}
    method: str  # GET, POST, ..., or ANY
    api_key_required: bool
    function: str | None  # logical id of the proxied function; None for a MOCK integration
    mock_status: int = 200
    mock_headers: Mapping[str, str] = field(default_factory=dict)
    authorization: str = "NONE"  # NONE, COGNITO_USER_POOLS or CUSTOM
    authorizer: str | None = None  # the logical id of its authorizer
    scopes: tuple[str, ...] = ()  # AuthorizationScopes: an access token with one of them


@dataclass(frozen=True)
class RestApi:
    logical_id: str
    api_id: str
    stage: str
    binary_media_types: tuple[str, ...]
    routes: tuple[Route, ...]
    authorizers: Mapping[str, Authorizer] = field(default_factory=dict)  # by logical id
    # arn:aws:execute-api:<region>:<account>:<api id>, the start of every method ARN
    execute_api_arn: str = ""


@dataclass(frozen=True)
class EventSourceMapping:
    logical_id: str
    function: str  # logical id
    queue: str  # logical id
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    maximum_concurrency: int
    enabled: bool


@dataclass(frozen=True)
class Ignored:
    logical_id: str
    type: str
    reason: str


@dataclass(frozen=True)
class Service:
    """Everything the runner emulates for one stack."""

    stack_name: str
    buckets: tuple[Bucket, ...]
    notifications: tuple[BucketNotifications, ...]
    tables: tuple[Table, ...]
    queues: tuple[Queue, ...]
    functions: Mapping[str, Function]  # by logical id
    apis: tuple[RestApi, ...]
    event_sources: tuple[EventSourceMapping, ...]
    ignored: tuple[Ignored, ...]
    unknown: tuple[Ignored, ...]  # types nobody told the runner about
    sites: tuple[SiteDeployment, ...]
    site_edge: SiteEdge | None  # None when the stack has no distribution
    user_pools: tuple[UserPool, ...] = ()
    user_pool_clients: tuple[UserPoolClient, ...] = ()
    user_pool_domains: tuple[UserPoolDomain, ...] = ()

    def queue(self, logical_id: str) -> Queue:
        return next(q for q in self.queues if q.logical_id == logical_id)


@dataclass(frozen=True)
class Assembly:
    """One stack of a cloud assembly (a `cdk.out` folder)."""

    directory: Path
    stack_name: str
    template: Mapping[str, Any]
    asset_paths: Mapping[str, Path]  # S3 object key of an asset -> its folder

    @classmethod
    def load(cls, directory: Path, stack_name: str | None = None) -> Assembly:
        if not (directory / "manifest.json").is_file():
            raise TemplateError(f"{directory} is not a synthesized cdk.out folder")
        manifest = json.loads((directory / "manifest.json").read_text())
        artifacts = manifest.get("artifacts", {})
        stacks = {
            props.get("stackName", name): (name, props)
            for name, artifact in artifacts.items()
            if artifact.get("type") == "aws:cloudformation:stack"
            for props in [artifact.get("properties", {})]
        }
        if stack_name is None:
            if len(stacks) != 1:
                raise TemplateError(
                    f"{directory} holds {len(stacks)} stacks ({', '.join(stacks)}): pick one"
                )
            stack_name = next(iter(stacks))
        if stack_name not in stacks:
            raise TemplateError(f"no stack {stack_name!r} in {directory}")
        artifact_id, props = stacks[stack_name]
        template = json.loads((directory / props["templateFile"]).read_text())
        asset_paths: dict[str, Path] = {}
        for dependency in artifacts[artifact_id].get("dependencies", []):
            dep = artifacts.get(dependency, {})
            if dep.get("type") != "cdk:asset-manifest":
                continue
            assets = json.loads((directory / dep["properties"]["file"]).read_text())
            for asset in assets.get("files", {}).values():
                source = directory / asset["source"]["path"]  # absolute paths stay absolute
                for destination in asset.get("destinations", {}).values():
                    asset_paths[destination["objectKey"]] = source
        return cls(directory, stack_name, template, asset_paths)


def physical_name(stack: str, logical_id: str, *, lower: bool, max_length: int) -> str:
    """A generated name in CloudFormation's style: `<stack>-<logical id>-<suffix>`.

    The suffix is derived from the names, so the same template gets the same names each run.
    """
    base = CDK_HASH_SUFFIX.sub("", logical_id) or logical_id
    suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:12]
    name = f"{stack}-{base}"
    if lower:
        name = re.sub(r"[^a-z0-9-]", "-", name.lower())
        suffix = suffix.lower()
    name = name[: max_length - len(suffix) - 1].rstrip("-")
    return f"{name}-{suffix}"


class Resolver:
    """Resolves intrinsic functions against the stack's resources as they exist locally."""

    def __init__(self, stack_name: str, template: Mapping[str, Any], local: LocalAws) -> None:
        self.stack_name = stack_name
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.parameters: Mapping[str, Any] = template.get("Parameters", {})
        self.local = local

    # --- physical ids and attributes of the stack's own resources ---------------------------

    def type_of(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"reference to {logical_id!r}, which the template does not declare")
        return str(self.resources[logical_id]["Type"])

    def name(self, logical_id: str) -> str:
        kind = self.type_of(logical_id)
        if kind == "AWS::S3::Bucket":
            return physical_name(self.stack_name, logical_id, lower=True, max_length=63)
        if kind == "AWS::Lambda::Function":
            return physical_name(self.stack_name, logical_id, lower=False, max_length=64)
        if kind == "AWS::SQS::Queue":
            return physical_name(self.stack_name, logical_id, lower=False, max_length=80)
        if kind == "AWS::DynamoDB::Table":
            return physical_name(self.stack_name, logical_id, lower=False, max_length=255)
        if kind in GENERATED_ID_TYPES:
            return self.generated_id(logical_id)
        if kind == "AWS::Cognito::UserPoolDomain":
            return self.string(self.resources[logical_id]["Properties"]["Domain"])
        # API ids, resource ids and the like: opaque strings, stable per logical id.
        return hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:10]

    def generated_id(self, logical_id: str) -> str:
        """The id the emulator gave a user pool or app client; before it exists, a stand-in
        of the same shape (`us-east-1_...` for a pool, 26 characters for a client)."""
        if logical_id in self.local.generated_ids:
            return self.local.generated_ids[logical_id]
        digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()
        if self.type_of(logical_id) == "AWS::Cognito::UserPool":
            return f"{self.local.region}_{digest[:9]}"
        return digest[:26]

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = f"{self.local.region}:{self.local.account}" if region else ":"
        return f"arn:{self.local.partition}:{service}:{where}:{resource}"

    def ref(self, logical_id: str) -> str:
        if logical_id in self.resources and self.type_of(logical_id) in EDGE_ONLY_TYPES:
            return ""
        pseudo = {
            "AWS::Region": self.local.region,
            "AWS::AccountId": self.local.account,
            "AWS::Partition": self.local.partition,
            "AWS::URLSuffix": self.local.url_suffix,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.arn("cloudformation", f"stack/{self.stack_name}/local"),
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id in self.parameters:
            default = self.parameters[logical_id].get("Default")
            if default is None:
                raise TemplateError(f"parameter {logical_id!r} has no default to run with")
            return str(default)
        kind = self.type_of(logical_id)
        if kind == "AWS::SQS::Queue":
            return self.get_att(logical_id, "QueueUrl")
        if kind in ("AWS::SNS::Topic", "AWS::Lambda::LayerVersion"):
            return self.get_att(logical_id, "Arn")
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.type_of(logical_id)
        if kind in EDGE_ONLY_TYPES:
            return ""
        name = self.name(logical_id)
        service = kind.split("::")[1].lower()
        attributes: dict[str, str] = {}
        if kind == "AWS::S3::Bucket":
            attributes = {
                "Arn": f"arn:{self.local.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.{self.local.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{self.local.region}.{self.local.url_suffix}",
            }
        elif kind == "AWS::SQS::Queue":
            attributes = {
                "Arn": self.arn("sqs", name),
                "QueueName": name,
                "QueueUrl": f"{self.local.endpoint}/{self.local.account}/{name}",
            }
        elif kind == "AWS::Lambda::Function":
            attributes = {"Arn": self.arn("lambda", f"function:{name}")}
        elif kind == "AWS::DynamoDB::Table":
            attributes = {"Arn": self.arn("dynamodb", f"table/{name}")}
        elif kind == "AWS::ApiGateway::RestApi":
            attributes = {"RootResourceId": f"{name}-root"}
        elif kind == "AWS::IAM::Role":
            attributes = {"Arn": self.arn("iam", f"role/{name}", region=False)}
        elif kind == "AWS::Lambda::LayerVersion":
            attributes = {"Arn": self.arn("lambda", f"layer:{name}:1")}
        elif kind == "AWS::Cognito::UserPool":
            provider = f"cognito-idp.{self.local.region}.{self.local.url_suffix}/{name}"
            attributes = {
                "Arn": self.arn("cognito-idp", f"userpool/{name}"),
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
                "UserPoolId": name,
            }
        elif kind == "AWS::Cognito::UserPoolClient":
            attributes = {"ClientId": name}
        else:
            attributes = {"Arn": self.arn(service, name)}
        if attribute not in attributes:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute} ({kind}): the runner does not know this"
                " attribute locally"
            )
        return attributes[attribute]

    # --- intrinsic functions ----------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its local value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(logical_id, self.resolve(attribute))
            if key == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(i) for i in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                delimiter, text = self.resolve(arg)
                return str(text).split(delimiter)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not supported by the local runner")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        resolved = {k: str(self.resolve(v)) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays literal
            if name in resolved:
                return resolved[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def string(self, value: Any) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        return str(resolved)


def referenced_id(token: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` token names, or None for any other value."""
    if not isinstance(token, dict) or len(token) != 1:
        return None
    ((key, arg),) = token.items()
    if key == "Ref" and isinstance(arg, str):
        return arg
    if key == "Fn::GetAtt":
        if isinstance(arg, str):
            return arg.split(".", 1)[0]
        if isinstance(arg, list) and arg and isinstance(arg[0], str):
            return arg[0]
    return None


def flag(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def load_service(
    assembly: Assembly, local: LocalAws, *, visibility_timeout_override: int | None = None
) -> Service:
    """Everything to emulate for `assembly`'s stack, resolved against `local`."""
    resolver = Resolver(assembly.stack_name, assembly.template, local)
    resources: Mapping[str, Any] = assembly.template.get("Resources", {})
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        by_type.setdefault(resource["Type"], []).append(logical_id)

    def props(logical_id: str) -> Mapping[str, Any]:
        return resources[logical_id].get("Properties", {}) or {}

    ignored: list[Ignored] = []
    unknown: list[Ignored] = []
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind in EMULATED_TYPES:
            continue
        if kind in IGNORED_TYPES:
            ignored.append(Ignored(logical_id, kind, IGNORED_TYPES[kind]))
        elif kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            unknown.append(Ignored(logical_id, kind, "custom resource: its provider never runs"))
        else:
            unknown.append(Ignored(logical_id, kind, "not emulated"))

    buckets = tuple(
        Bucket(logical_id, resolver.name(logical_id), resolver.resolve(props(logical_id)))
        for logical_id in by_type.get("AWS::S3::Bucket", [])
    )
    notifications = tuple(
        BucketNotifications(
            logical_id,
            resolver.string(props(logical_id)["BucketName"]),
            resolver.resolve(props(logical_id).get("NotificationConfiguration") or {}),
        )
        for logical_id in by_type.get("Custom::S3BucketNotifications", [])
    )
    tables = tuple(
        Table(logical_id, resolver.name(logical_id), resolver.resolve(props(logical_id)))
        for logical_id in by_type.get("AWS::DynamoDB::Table", [])
    )
    queues = tuple(
        _queue(resolver, logical_id, props(logical_id), visibility_timeout_override)
        for logical_id in by_type.get("AWS::SQS::Queue", [])
    )

    # Functions that only back a custom resource the runner ignores or applies itself never
    # run locally.
    providers = {
        referenced_id(props(logical_id).get("ServiceToken"))
        for logical_id, resource in resources.items()
        if resource["Type"].startswith("Custom::")
        and (resource["Type"] in IGNORED_TYPES or resource["Type"] in EMULATED_TYPES)
    }
    functions: dict[str, Function] = {}
    for logical_id in by_type.get("AWS::Lambda::Function", []):
        if logical_id in providers:
            reason = "provider of a custom resource the runner ignores or applies itself"
            ignored.append(Ignored(logical_id, "AWS::Lambda::Function", reason))
            continue
        functions[logical_id] = _function(assembly, resolver, logical_id, resources[logical_id])

    user_pools = tuple(
        UserPool(
            logical_id=logical_id,
            pool_id=resolver.ref(logical_id),
            issuer=resolver.get_att(logical_id, "ProviderURL"),
            name=resolver.string(
                props(logical_id).get("UserPoolName")
                or physical_name(assembly.stack_name, logical_id, lower=False, max_length=128)
            ),
            properties=resolver.resolve(props(logical_id)),
        )
        for logical_id in by_type.get("AWS::Cognito::UserPool", [])
    )
    user_pool_clients = tuple(
        UserPoolClient(
            logical_id=logical_id,
            pool=_own_user_pool(resolver, logical_id, props(logical_id)),
            client_id=resolver.ref(logical_id),
            properties=_without_pool(resolver.resolve(props(logical_id))),
        )
        for logical_id in by_type.get("AWS::Cognito::UserPoolClient", [])
    )
    user_pool_domains = tuple(
        UserPoolDomain(
            logical_id=logical_id,
            pool=_own_user_pool(resolver, logical_id, props(logical_id)),
            domain=resolver.ref(logical_id),
            base_url=(
                f"https://{resolver.ref(logical_id)}.auth.{resolver.local.region}.amazoncognito.com"
            ),
            properties=_without_pool(resolver.resolve(props(logical_id))),
        )
        for logical_id in by_type.get("AWS::Cognito::UserPoolDomain", [])
    )
    for domain in user_pool_domains:
        if domain.properties.get("CustomDomainConfig"):
            raise TemplateError(
                f"{domain.logical_id}: a custom domain for the sign-in pages; the runner serves"
                " a stand-in for a Cognito prefix domain only"
            )

    apis = tuple(
        _rest_api(resolver, resources, logical_id, functions)
        for logical_id in by_type.get("AWS::ApiGateway::RestApi", [])
    )

    queue_by_arn = {q.arn: q.logical_id for q in queues}
    function_by_name = {f.name: f.logical_id for f in functions.values()}
    function_by_name.update({f.arn: f.logical_id for f in functions.values()})
    event_sources = []
    for logical_id in by_type.get("AWS::Lambda::EventSourceMapping", []):
        p = props(logical_id)
        source = resolver.string(p.get("EventSourceArn"))
        if source not in queue_by_arn:
            raise TemplateError(
                f"{logical_id}: event source {source} is not one of the stack's SQS queues;"
                " the runner only drives SQS event sources"
            )
        target = resolver.string(p["FunctionName"])
        if target not in function_by_name:
            raise TemplateError(f"{logical_id}: function {target} is not in the stack")
        scaling = p.get("ScalingConfig") or {}
        event_sources.append(
            EventSourceMapping(
                logical_id=logical_id,
                function=function_by_name[target],
                queue=queue_by_arn[source],
                batch_size=int(p.get("BatchSize", 10)),
                batching_window_s=float(p.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (p.get("FunctionResponseTypes") or []),
                # Lambda's SQS poller scales out to 1,000 concurrent batches without a cap;
                # locally 5 pollers stand in for "no cap".
                maximum_concurrency=int(scaling.get("MaximumConcurrency", 5)),
                enabled=flag(p.get("Enabled"), default=True),
            )
        )

    sites = tuple(
        _site_deployment(assembly, resolver, logical_id, props(logical_id))
        for logical_id in by_type.get("Custom::CDKBucketDeployment", [])
    )
    distributions = by_type.get("AWS::CloudFront::Distribution", [])
    site_edge = _site_edge(resolver, resources, distributions[0]) if distributions else None

    return Service(
        stack_name=assembly.stack_name,
        buckets=buckets,
        notifications=notifications,
        tables=tables,
        queues=queues,
        functions=functions,
        apis=apis,
        event_sources=tuple(event_sources),
        ignored=tuple(ignored),
        unknown=tuple(unknown),
        sites=sites,
        site_edge=site_edge,
        user_pools=user_pools,
        user_pool_clients=user_pool_clients,
        user_pool_domains=user_pool_domains,
    )


def _own_user_pool(resolver: Resolver, logical_id: str, p: Mapping[str, Any]) -> str:
    """The logical id of the stack's user pool that `p`'s UserPoolId names."""
    pool = referenced_id(p.get("UserPoolId"))
    if pool is None or resolver.type_of(pool) != "AWS::Cognito::UserPool":
        raise TemplateError(
            f"{logical_id}: its UserPoolId is not a Ref to one of the stack's user pools; the"
            " runner only emulates the stack's own pools"
        )
    return pool


def _without_pool(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if key != "UserPoolId"}


# Properties of a bucket deployment the runner does not reproduce: refused rather than ignored,
# so that the local site never differs silently from the deployed one.
UNSUPPORTED_DEPLOYMENT_PROPERTIES = ("Exclude", "Include", "UserMetadata")


def _site_deployment(
    assembly: Assembly, resolver: Resolver, logical_id: str, p: Mapping[str, Any]
) -> SiteDeployment:
    unsupported = [key for key in UNSUPPORTED_DEPLOYMENT_PROPERTIES if p.get(key)]
    if flag(p.get("Extract"), default=True) is False:
        unsupported.append("Extract: false")
    if unsupported:
        raise TemplateError(
            f"{logical_id}: the runner does not reproduce {', '.join(unsupported)} of a bucket"
            " deployment"
        )
    sources = []
    for key in p.get("SourceObjectKeys") or []:
        folder = assembly.asset_paths.get(str(key))
        if folder is None or not folder.is_dir():
            raise TemplateError(
                f"{logical_id}: its source {key} is not an asset folder of {assembly.directory}"
            )
        sources.append(folder)
    markers = p.get("SourceMarkers") or [{} for _ in sources]
    configs = p.get("SourceMarkersConfig") or [{} for _ in sources]
    return SiteDeployment(
        logical_id=logical_id,
        bucket=resolver.string(p["DestinationBucketName"]),
        key_prefix=resolver.string(p.get("DestinationBucketKeyPrefix") or ""),
        sources=tuple(sources),
        markers=tuple(
            {marker: resolver.string(value) for marker, value in (found or {}).items()}
            for found in markers
        ),
        json_escape=tuple(flag((config or {}).get("jsonEscape")) for config in configs),
        metadata={
            str(name).lower(): resolver.string(value)
            for name, value in (p.get("SystemMetadata") or {}).items()
        },
    )


def _site_edge(resolver: Resolver, resources: Mapping[str, Any], distribution: str) -> SiteEdge:
    config = resources[distribution]["Properties"]["DistributionConfig"]
    default = config["DefaultCacheBehavior"]
    origin = next(o for o in config["Origins"] if o["Id"] == default["TargetOriginId"])
    bucket = None
    bucket_id = referenced_id(origin.get("DomainName"))
    if (
        "S3OriginConfig" in origin
        and bucket_id is not None
        and resolver.type_of(bucket_id) == "AWS::S3::Bucket"
    ):
        bucket = resolver.name(bucket_id)
    headers: list[tuple[str, str]] = []
    policy_id = referenced_id(default.get("ResponseHeadersPolicyId"))
    if policy_id is not None and policy_id in resources:
        policy = resources[policy_id]["Properties"]["ResponseHeadersPolicyConfig"]
        security = policy.get("SecurityHeadersConfig") or {}
        if "ContentSecurityPolicy" in security:
            csp = resolver.string(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
            headers.append(("Content-Security-Policy", csp))
        if "ContentTypeOptions" in security:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if "FrameOptions" in security:
            headers.append(("X-Frame-Options", str(security["FrameOptions"]["FrameOption"])))
        if "ReferrerPolicy" in security:
            headers.append(("Referrer-Policy", str(security["ReferrerPolicy"]["ReferrerPolicy"])))
        # Strict-Transport-Security is left out: browsers ignore it over plain HTTP.
    root = config.get("DefaultRootObject")
    return SiteEdge(bucket=bucket, root_object=str(root) if root else None, headers=tuple(headers))


# CloudFormation property -> SQS API attribute.
QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "MaximumMessageSize": "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled": "SqsManagedSseEnabled",
    "KmsMasterKeyId": "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "FifoQueue": "FifoQueue",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
}


def _queue(
    resolver: Resolver,
    logical_id: str,
    properties: Mapping[str, Any],
    visibility_timeout_override: int | None,
) -> Queue:
    resolved = resolver.resolve(properties)
    attributes = {
        QUEUE_ATTRIBUTES[key]: resolver.string(value)
        for key, value in resolved.items()
        if key in QUEUE_ATTRIBUTES
    }
    if "RedrivePolicy" in resolved:
        attributes["RedrivePolicy"] = json.dumps(resolved["RedrivePolicy"])
    if visibility_timeout_override is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout_override)
    name = resolver.name(logical_id)
    if flag(resolved.get("FifoQueue")):
        name = name[:75] + ".fifo"
    return Queue(
        logical_id=logical_id,
        name=name,
        url=resolver.get_att(logical_id, "QueueUrl"),
        arn=resolver.get_att(logical_id, "Arn"),
        attributes=attributes,
    )


def _function(
    assembly: Assembly, resolver: Resolver, logical_id: str, resource: Mapping[str, Any]
) -> Function:
    p = resource.get("Properties", {})
    runtime = str(p.get("Runtime", ""))
    if not runtime.startswith("python"):
        raise TemplateError(
            f"{logical_id}: runtime {runtime or 'container image'} - the runner only runs Python"
            " functions"
        )
    code = _asset_folder(assembly, resource, p.get("Code", {}), logical_id)
    if code is None:
        raise TemplateError(f"{logical_id}: cannot find its code asset in {assembly.directory}")
    environment = {
        key: resolver.string(value)
        for key, value in ((p.get("Environment") or {}).get("Variables") or {}).items()
    }
    resources = assembly.template["Resources"]
    layers = []
    for ref in p.get("Layers", []):
        layer_id = ref.get("Ref") if isinstance(ref, dict) else None
        if layer_id is None or layer_id not in resources:
            raise TemplateError(f"{logical_id}: layer {ref} is not one of the stack's layers")
        layer = resources[layer_id]
        content = layer.get("Properties", {}).get("Content", {})
        layers.append(Layer(layer_id, _asset_folder(assembly, layer, content, layer_id)))
    return Function(
        logical_id=logical_id,
        name=resolver.name(logical_id),
        arn=resolver.get_att(logical_id, "Arn"),
        handler=str(p["Handler"]),
        code=code,
        runtime=runtime,
        timeout_s=int(p.get("Timeout", 3)),
        memory_mb=int(p.get("MemorySize", 128)),
        environment=environment,
        layers=tuple(layers),
    )


def _asset_folder(
    assembly: Assembly, resource: Mapping[str, Any], code: Mapping[str, Any], logical_id: str
) -> Path | None:
    # The CLI adds `aws:asset:path` metadata; a plain `python app.py` synth does not, but the
    # asset manifest always maps the S3 key to the folder.
    metadata_path = (resource.get("Metadata") or {}).get("aws:asset:path")
    if isinstance(metadata_path, str):
        return assembly.directory / metadata_path
    key = code.get("S3Key")
    if isinstance(key, str) and key in assembly.asset_paths:
        return assembly.asset_paths[key]
    if "ZipFile" in code:
        raise TemplateError(f"{logical_id}: inline code (ZipFile) is not supported")
    return None


def _rest_api(
    resolver: Resolver,
    resources: Mapping[str, Any],
    api_id: str,
    functions: Mapping[str, Function],
) -> RestApi:
    api_props = resources[api_id].get("Properties", {})
    root = resolver.get_att(api_id, "RootResourceId")

    def belongs(props: Mapping[str, Any]) -> bool:
        return props.get("RestApiId") == {"Ref": api_id}

    # Resource id (local) -> path, built parent first.
    parents = {
        resolver.ref(lid): (
            resolver.string(r["Properties"]["ParentId"]),
            r["Properties"]["PathPart"],
        )
        for lid, r in resources.items()
        if r["Type"] == "AWS::ApiGateway::Resource" and belongs(r["Properties"])
    }

    def path_of(resource_id: str, depth: int = 0) -> str:
        if resource_id == root:
            return "/"
        if resource_id not in parents or depth > 50:
            raise TemplateError(f"API resource {resource_id} does not lead to the API's root")
        parent, part = parents[resource_id]
        parent_path = path_of(parent, depth + 1)
        return f"{parent_path.rstrip('/')}/{part}"

    function_by_arn = {f.arn: f.logical_id for f in functions.values()}
    authorizers = {
        lid: _authorizer(resolver, lid, r.get("Properties", {}), function_by_arn)
        for lid, r in resources.items()
        if r["Type"] == "AWS::ApiGateway::Authorizer" and belongs(r.get("Properties", {}))
    }
    routes = []
    for logical_id, resource in resources.items():
        p = resource.get("Properties", {})
        if resource["Type"] != "AWS::ApiGateway::Method" or not belongs(p):
            continue
        path = path_of(resolver.string(p["ResourceId"]))
        method = str(p["HttpMethod"]).upper()
        integration = p.get("Integration") or {}
        kind = integration.get("Type")
        api_key_required = flag(resolver.resolve(p.get("ApiKeyRequired")))
        authorization = _method_authorization(logical_id, method, path, p, authorizers)
        if kind == "AWS_PROXY":
            match = LAMBDA_INVOKE_URI.search(resolver.string(integration.get("Uri")))
            if not match or match.group("arn") not in function_by_arn:
                raise TemplateError(
                    f"{logical_id}: {method} {path} proxies to something other than a stack"
                    " function"
                )
            routes.append(
                Route(
                    path,
                    method,
                    api_key_required,
                    function_by_arn[match["arn"]],
                    **authorization,
                )
            )
        elif kind == "MOCK":
            response = (integration.get("IntegrationResponses") or [{}])[0]
            headers = {
                key.removeprefix("method.response.header."): str(value).strip("'")
                for key, value in (response.get("ResponseParameters") or {}).items()
                if key.startswith("method.response.header.")
            }
            routes.append(
                Route(
                    path,
                    method,
                    api_key_required,
                    None,
                    mock_status=int(response.get("StatusCode", 200)),
                    mock_headers=headers,
                    **authorization,
                )
            )
        else:
            raise TemplateError(
                f"{logical_id}: {method} {path} has a {kind} integration; the runner emulates"
                " AWS_PROXY (Lambda) and MOCK integrations"
            )

    stages = [
        str(r["Properties"]["StageName"])
        for r in resources.values()
        if r["Type"] == "AWS::ApiGateway::Stage" and belongs(r["Properties"])
    ]
    return RestApi(
        logical_id=api_id,
        api_id=resolver.ref(api_id),
        stage=stages[0] if stages else "prod",
        binary_media_types=tuple(api_props.get("BinaryMediaTypes") or ()),
        routes=tuple(sorted(routes, key=lambda r: (r.resource_path, r.method))),
        authorizers=authorizers,
        execute_api_arn=resolver.arn("execute-api", resolver.ref(api_id)),
    )


def _authorizer(
    resolver: Resolver,
    logical_id: str,
    p: Mapping[str, Any],
    function_by_arn: Mapping[str, str],
) -> Authorizer:
    kind = str(p.get("Type", ""))
    sources = tuple(
        source.strip()
        for source in resolver.string(p.get("IdentitySource") or "").split(",")
        if source.strip()
    )
    if kind == "COGNITO_USER_POOLS":
        issuers = []
        for arn in resolver.resolve(p.get("ProviderARNs") or []):
            prefix = resolver.arn("cognito-idp", "userpool/")
            if not str(arn).startswith(prefix):
                raise TemplateError(
                    f"{logical_id}: provider {arn} is not a user pool of this stack's region"
                )
            pool_id = str(arn).removeprefix(prefix)
            issuers.append(
                f"https://cognito-idp.{resolver.local.region}.{resolver.local.url_suffix}/{pool_id}"
            )
        return Authorizer(
            logical_id,
            kind,
            sources or ("method.request.header.Authorization",),
            issuers=tuple(issuers),
        )
    if kind == "REQUEST":
        match = LAMBDA_INVOKE_URI.search(resolver.string(p.get("AuthorizerUri")))
        if not match or match.group("arn") not in function_by_arn:
            raise TemplateError(f"{logical_id}: its function is not one of the stack's functions")
        return Authorizer(
            logical_id,
            kind,
            sources,
            function=function_by_arn[match["arn"]],
            result_ttl_s=int(p.get("AuthorizerResultTtlInSeconds", 300)),
        )
    raise TemplateError(
        f"{logical_id}: a {kind or 'typeless'} authorizer; the runner emulates COGNITO_USER_POOLS"
        " and REQUEST authorizers"
    )


def _method_authorization(
    logical_id: str,
    method: str,
    path: str,
    p: Mapping[str, Any],
    authorizers: Mapping[str, Authorizer],
) -> dict[str, Any]:
    """The method's Route fields for authorization, checked against its authorizer."""
    kind = str(p.get("AuthorizationType") or "NONE")
    if kind not in AUTHORIZATION_TYPES:
        raise TemplateError(
            f"{logical_id}: {method} {path} has AuthorizationType {kind}; the runner enforces"
            f" {', '.join(AUTHORIZATION_TYPES)}"
        )
    if kind == "NONE":
        return {}
    authorizer = referenced_id(p.get("AuthorizerId"))
    expected = "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "REQUEST"
    if (
        authorizer is None
        or authorizer not in authorizers
        or authorizers[authorizer].type != expected
    ):
        raise TemplateError(
            f"{logical_id}: {method} {path} is {kind} but its AuthorizerId is not a {expected}"
            " authorizer of this API"
        )
    scopes = tuple(str(s) for s in p.get("AuthorizationScopes") or ())
    return {"authorization": kind, "authorizer": authorizer, "scopes": scopes}
