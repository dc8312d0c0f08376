"""The distribution: what it routes where, what it keeps and for how long, and who may read the
site bucket. Each stage as committed, and a variant with every optional setting on."""

from __future__ import annotations

import functools
import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint
from image_service import api
from image_service.contract import (
    EDGE_HEADER,
    EDGE_HEADER_VALUE,
    ORIGINAL_PATH,
    THUMBNAIL_PATH,
    THUMBNAIL_QUERY,
)

import app as cdk_app
from stacks import delivery
from stacks.image_service_stack import ImageServiceStack
from stacks.settings import SettingsError
from tests.infra.conftest import (
    cdk_json_context,
    stage_settings,
    synthesize,
    template_json,
    variant,
)
from tests.infra.policies import function_id, may
from tests.infra.test_template import (
    CATALOGUE,
    HANDLERS,
    SITE_BUCKET,
    UPLOAD,
    _routes,
    function,
    resource,
)

EDGE = Path(__file__).resolve().parents[2] / "stacks" / "edge"
CACHING_DISABLED = cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id
ALL_VIEWER_EXCEPT_HOST = (
    cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.origin_request_policy_id
)
DOMAIN = "photos.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


@functools.cache
def everything_on_stack() -> ImageServiceStack:
    """dev with a custom domain and the WAF: every optional part of the distribution."""
    stages = stage_settings("dev", domainName=DOMAIN, certificateArn=CERTIFICATE, waf=True)
    return synthesize("dev", stages=stages)


def everything_on() -> Template:
    return Template.from_stack(everything_on_stack())


def distribution(template: Template) -> tuple[str, dict[str, Any]]:
    (logical_id, found), *others = template.find_resources("AWS::CloudFront::Distribution").items()
    assert others == []
    config: dict[str, Any] = found["Properties"]["DistributionConfig"]
    return logical_id, config


def behaviors(template: Template) -> dict[str, dict[str, Any]]:
    """Path pattern -> cache behaviour; the default one under "*"."""
    _, config = distribution(template)
    found = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    found["*"] = config["DefaultCacheBehavior"]
    return found


def origin_of(template: Template, behavior: dict[str, Any]) -> dict[str, Any]:
    _, config = distribution(template)
    (origin,) = [o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"]]
    found: dict[str, Any] = origin
    return found


def is_api_origin(origin: dict[str, Any]) -> bool:
    return "CustomOriginConfig" in origin and "execute-api" in json.dumps(origin["DomainName"])


def cache_policy(template: Template, behavior: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = resource(template, behavior["CachePolicyId"]["Ref"])["Properties"][
        "CachePolicyConfig"
    ]
    return config


def cache_key(policy: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(headers, query strings) in the cache key."""
    parameters = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert parameters["CookiesConfig"] == {"CookieBehavior": "none"}
    headers = parameters["HeadersConfig"]
    query = parameters["QueryStringsConfig"]
    return set(headers.get("Headers", [])), set(query.get("QueryStrings", []))


def function_code(template: Template, association: dict[str, Any]) -> str:
    logical_id = association["FunctionARN"]["Fn::GetAtt"][0]
    properties = resource(template, logical_id)["Properties"]
    assert properties["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert properties["AutoPublish"] is True
    code: str = properties["FunctionCode"]
    return code


# --- routing --------------------------------------------------------------------------------


def test_every_api_route_reaches_the_rest_api_with_its_stage_hidden(
    template: Template, stage: str
) -> None:
    found = behaviors(template)
    for _, path in _routes(template):
        public = path.replace("{name}", "A.jpg").replace("{id}", "A")
        patterns = [p for p in found if p != "*" and fnmatchcase(public, p)]
        assert len(patterns) == 1, path
        origin = origin_of(template, found[patterns[0]])
        assert is_api_origin(origin), path
    api_origin = origin_of(template, found["/upload"])
    # The stage's own path: https://<domain>/upload reaches .../<stage>/upload.
    (stage_resource,) = template.find_resources("AWS::ApiGateway::Stage").values()
    assert (
        api_origin["OriginPath"] == f"/{stage_resource['Properties']['StageName']}" == f"/{stage}"
    )
    rest_api = next(iter(template.find_resources("AWS::ApiGateway::RestApi")))
    assert api_origin["DomainName"]["Fn::Join"][1][0] == {"Ref": rest_api}
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api_origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_direct_uploads_are_routed_before_the_route_exists(template: Template) -> None:
    assert is_api_origin(origin_of(template, behaviors(template)["/uploads"]))


def test_the_api_learns_that_a_request_came_through_the_edge(template: Template) -> None:
    origin = origin_of(template, behaviors(template)["/upload"])
    assert origin["OriginCustomHeaders"] == [
        {"HeaderName": EDGE_HEADER, "HeaderValue": EDGE_HEADER_VALUE}
    ]


def test_uncached_routes_get_every_viewer_header_but_host(template: Template) -> None:
    found = behaviors(template)
    # Both committed stages have accounts: a person's own routes too.
    for path in (*delivery.UNCACHED_API_PATHS, *delivery.ACCOUNT_API_PATHS):
        behavior = found[path]
        assert is_api_origin(origin_of(template, behavior))
        assert behavior["CachePolicyId"] == CACHING_DISABLED, path
        # X-Api-Key, X-Delete-Token, Authorization (forwarded where nothing is cached),
        # Content-Type, X-Filename and the rest, as sent.
        assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST, path
        assert {"POST", "DELETE", "PATCH", "GET", "OPTIONS"} <= set(behavior["AllowedMethods"])
        # A POST redirected from http:// would arrive as a GET without its body.
        assert behavior["ViewerProtocolPolicy"] == "https-only"


def test_the_site_is_the_default_behaviour_through_origin_access_control(
    template: Template,
) -> None:
    default = behaviors(template)["*"]
    origin = origin_of(template, default)
    assert origin["DomainName"] == {"Fn::GetAtt": [SITE_BUCKET, "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    control = resource(template, origin["OriginAccessControlId"]["Fn::GetAtt"][0])
    assert control["Properties"]["OriginAccessControlConfig"] | {"Name": None} == {
        "Name": None,
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    _, config = distribution(template)
    assert config["DefaultRootObject"] == "index.html"


def test_only_this_distribution_may_read_the_site_bucket(template: Template) -> None:
    distribution_id, _ = distribution(template)
    (policy,) = [
        p
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": SITE_BUCKET}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    readers = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and any(fnmatchcase("s3:GetObject", a) for a in _listed(s["Action"]))
    ]
    # (In dev, CDK's auto-delete provider may also list and delete: to empty a deleted stack.)
    (statement,) = readers
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert source["Fn::Join"][1][-2:] == [":distribution/", {"Ref": distribution_id}]


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


# --- caching --------------------------------------------------------------------------------


def test_downloads_are_kept_only_as_their_cache_control_says(
    template: Template, stage: str
) -> None:
    found = behaviors(template)
    for path in (f"{ORIGINAL_PATH}*", f"{THUMBNAIL_PATH}*"):
        behavior = found[path]
        assert is_api_origin(origin_of(template, behavior))
        assert behavior["CachedMethods"] == ["GET", "HEAD"]
        policy = cache_policy(template, behavior)
        # Min TTL 0: no-store and private are honoured (a pending thumbnail, a redirect to a
        # presigned URL). Default TTL 0: an answer without Cache-Control is not kept at all.
        assert policy["MinTTL"] == 0
        assert policy["DefaultTTL"] == 0
        edge_ttl = 86_400  # a day; an hour where an API key is needed (below)
        assert policy["MaxTTL"] == edge_ttl
        # The cap sits below what images announce, so it, not the header, bounds the edge.
        assert api.MISSING_MAX_AGE < edge_ttl < api.IMAGE_MAX_AGE


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("dev", {"Origin", "Authorization"}),
        ("prod", {"Origin", "Authorization"}),
        # Without accounts no request carries a token: one copy for everyone.
        ("dev-accounts-off", {"Origin"}),
        ("prod-api-key", {"Origin", "X-Api-Key", "Authorization"}),
    ],
)
def test_cache_keys_hold_only_what_changes_a_download(
    templates: dict[str, Template], name: str, key: set[str]
) -> None:
    template = templates[name] if name in templates else variant(name)
    found = behaviors(template)
    assert cache_key(cache_policy(template, found[f"{ORIGINAL_PATH}*"])) == (key, set())
    assert cache_key(cache_policy(template, found[f"{THUMBNAIL_PATH}*"])) == (
        key | {"Accept"},
        set(THUMBNAIL_QUERY),
    )
    assert set(THUMBNAIL_QUERY) == {"size", "format"}


def test_where_a_key_is_required_the_edge_keeps_images_an_hour_at_most() -> None:
    for path in (f"{ORIGINAL_PATH}*", f"{THUMBNAIL_PATH}*"):
        keyed = variant("prod-api-key")
        assert cache_policy(keyed, behaviors(keyed)[path])["MaxTTL"] == 3_600


def test_thumbnails_accept_is_reduced_before_the_cache_key(template: Template) -> None:
    behavior = behaviors(template)[f"{THUMBNAIL_PATH}*"]
    (request,) = [a for a in behavior["FunctionAssociations"] if a["EventType"] == "viewer-request"]
    assert function_code(template, request) == (EDGE / "thumbnail_request.js").read_text()


def test_where_a_key_is_required_images_kept_at_the_edge_are_private_to_viewers(
    templates: dict[str, Template],
) -> None:
    keyed_template = variant("prod-api-key")
    for path in (f"{ORIGINAL_PATH}*", f"{THUMBNAIL_PATH}*"):
        keyed = behaviors(keyed_template)[path]
        (response,) = [
            a for a in keyed["FunctionAssociations"] if a["EventType"] == "viewer-response"
        ]
        assert function_code(keyed_template, response) == (EDGE / "private_response.js").read_text()
        for stage in ("dev", "prod"):
            open_stage = behaviors(templates[stage])[path]
            events = [a["EventType"] for a in open_stage.get("FunctionAssociations", [])]
            assert "viewer-response" not in events
    # The functions behind them know which stage they serve.
    for template, scope in (
        (templates["dev"], "any"),
        (templates["prod"], "any"),
        (keyed_template, "edge"),
    ):
        for handler in (
            "image_service.download_image.handler",
            "image_service.download_thumbnail.handler",
        ):
            variables = function(template, handler)["Properties"]["Environment"]["Variables"]
            assert variables["SHARED_CACHES"] == scope


def test_no_error_is_kept_unless_the_origin_says_so(template: Template) -> None:
    _, config = distribution(template)
    responses = {r["ErrorCode"]: r for r in config["CustomErrorResponses"]}
    # Every status CloudFront would otherwise keep for 10 s on its own.
    assert set(responses) == {400, 403, 404, 405, 414, 500, 501, 502, 503, 504}
    for response in responses.values():
        assert response == {"ErrorCode": response["ErrorCode"], "ErrorCachingMinTTL": 0}


# --- headers, protocol, logs ----------------------------------------------------------------


def test_every_answer_carries_hsts_nosniff_and_a_referrer_policy(template: Template) -> None:
    for path, behavior in behaviors(template).items():
        policy = resource(template, behavior["ResponseHeadersPolicyId"]["Ref"])
        security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
        hsts = security["StrictTransportSecurity"]
        assert hsts["AccessControlMaxAgeSec"] >= 31_536_000, path
        assert hsts["Override"] is True
        assert security["ContentTypeOptions"] == {"Override": True}
        assert security["ReferrerPolicy"]["ReferrerPolicy"] == "same-origin"
        assert security["FrameOptions"]["FrameOption"] == "DENY"


def test_the_site_has_a_strict_content_security_policy(template: Template) -> None:
    policy = resource(template, behaviors(template)["*"]["ResponseHeadersPolicyId"]["Ref"])
    csp = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]
    assert csp["Override"] is True
    text = "".join(
        p if isinstance(p, str) else "<bucket>" for p in csp["ContentSecurityPolicy"]["Fn::Join"][1]
    )
    directives = dict(d.split(" ", 1) for d in text.split("; ") if " " in d)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self' https://<bucket> https://<bucket>"
    assert "unsafe" not in text
    # The API's answers are not pages: no CSP of the site's on them.
    for path in (f"{THUMBNAIL_PATH}*", "/upload"):
        api_policy = resource(template, behaviors(template)[path]["ResponseHeadersPolicyId"]["Ref"])
        assert "ContentSecurityPolicy" not in json.dumps(api_policy)


def test_http2_and_3_price_class_from_settings_and_logs(template: Template, stage: str) -> None:
    _, config = distribution(template)
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == {"dev": "PriceClass_100", "prod": "PriceClass_All"}[stage]
    log_bucket = config["Logging"]["Bucket"]["Fn::GetAtt"][0]
    properties = resource(template, log_bucket)["Properties"]
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    assert {"ExpirationInDays": 90, "Status": "Enabled"} in properties["LifecycleConfiguration"][
        "Rules"
    ]


def test_no_custom_domain_or_waf_by_default(template: Template) -> None:
    _, config = distribution(template)
    assert "Aliases" not in config
    assert (
        "ViewerCertificate" not in config or "AcmCertificateArn" not in config["ViewerCertificate"]
    )
    assert "WebACLId" not in config
    template.resource_count_is("AWS::WAFv2::WebACL", 0)


def test_a_custom_domain_has_its_certificate_and_requires_tls_1_2() -> None:
    template = everything_on()
    _, config = distribution(template)
    assert config["Aliases"] == [DOMAIN]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CERTIFICATE,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    outputs = template.find_outputs("*")
    assert outputs["DistributionUrl"]["Value"] == f"https://{DOMAIN}"
    variables = function(template, UPLOAD)["Properties"]["Environment"]["Variables"]
    assert variables["PUBLIC_HOST"] == DOMAIN


def test_the_waf_setting_adds_a_rate_limit_and_the_common_rule_set() -> None:
    template = everything_on()
    (acl_id, acl), *others = template.find_resources("AWS::WAFv2::WebACL").items()
    assert others == []
    properties = acl["Properties"]
    assert properties["Scope"] == "CLOUDFRONT"
    assert properties["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    rate = rules["RequestsPerIp"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["Limit"] == delivery.WAF_REQUESTS_PER_5_MINUTES
    assert rules["RequestsPerIp"]["Action"] == {"Block": {}}
    managed = rules["CommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert (managed["VendorName"], managed["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    # Uploads are image bytes: the 8 KB body limit would refuse every one.
    counted = {
        o["Name"] for o in managed["RuleActionOverrides"] if o["ActionToUse"] == {"Count": {}}
    }
    assert "SizeRestrictions_BODY" in counted
    assert counted == set(delivery.WAF_BODY_RULES_COUNTED)
    _, config = distribution(template)
    assert config["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    # A stack in any other region stops before anything is created.
    (rule,) = [r for name, r in template_json(template)["Rules"].items() if "WafRegion" in name]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert assertion["AssertDescription"].startswith("waf:")


def test_the_waf_holds_each_ip_to_fewer_tickets_than_other_requests() -> None:
    """A ticket holds a record for a day and is worth 50 MB of upload: `POST /uploads` has a
    per-IP rate of its own, below the one for every request."""
    ((_, acl),) = everything_on().find_resources("AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    tickets = rules["TicketsPerIp"]
    assert tickets["Action"] == {"Block": {}}
    rate = tickets["Statement"]["RateBasedStatement"]
    assert (rate["AggregateKeyType"], rate["EvaluationWindowSec"]) == ("IP", 300)
    assert rate["Limit"] == delivery.WAF_TICKETS_PER_5_MINUTES
    assert rate["Limit"] < delivery.WAF_REQUESTS_PER_5_MINUTES
    matches = {
        next(iter(m["FieldToMatch"])): m
        for m in (
            s["ByteMatchStatement"]
            for s in rate["ScopeDownStatement"]["AndStatement"]["Statements"]
        )
    }
    assert set(matches) == {"Method", "UriPath"}
    assert (matches["Method"]["SearchString"], matches["Method"]["PositionalConstraint"]) == (
        "POST",
        "EXACTLY",
    )
    path = matches["UriPath"]
    assert (path["SearchString"], path["PositionalConstraint"]) == ("/uploads", "EXACTLY")
    assert [t["Type"] for t in path["TextTransformations"]] == ["URL_DECODE", "NORMALIZE_PATH"]
    # The distribution sends exactly this path to the API, at its root.
    assert "/uploads" in delivery.UNCACHED_API_PATHS
    # WAF refuses a web ACL whose rules share a priority.
    priorities = [rule["Priority"] for rule in properties["Rules"]]
    assert len(set(priorities)) == len(priorities)


def test_every_option_on_is_still_clean_for_cdk_nag() -> None:
    report = AwsSolutionsChecks().validate_scope(everything_on_stack())
    assert report.success, [v.rule_name for v in report.violations]


@pytest.mark.slow  # cfn-lint loads its schemas: seconds, for make test, not the fast loop
def test_every_option_on_is_still_clean_for_cfn_lint() -> None:
    matches = lint(
        json.dumps(template_json(everything_on())), config=ManualArgs(regions=["us-east-1"])
    )
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"] == []


def test_the_waf_in_another_known_region_fails_synth_naming_the_setting() -> None:
    environ = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}

    def app(waf: bool) -> cdk.App:
        stages = stage_settings("dev", waf=waf)
        return cdk.App(
            context={**cdk_json_context(), "stages": stages, "aws:cdk:bundling-stacks": []}
        )

    with pytest.raises(SettingsError, match=r"^waf: .*us-east-1.*eu-west-1"):
        cdk_app.build(app(waf=True), environ)
    assert cdk_app.build(app(waf=False), environ).region == "eu-west-1"


# --- the functions' side ------------------------------------------------------------------


def test_deletion_may_invalidate_this_distribution_and_nothing_else(template: Template) -> None:
    distribution_id, _ = distribution(template)
    arn = (
        f"arn:ref:AWS::Partition:cloudfront::ref:AWS::AccountId:distribution/ref:{distribution_id}"
    )
    assert may(template, CATALOGUE, "cloudfront:CreateInvalidation", arn)
    assert not may(template, CATALOGUE, "cloudfront:CreateInvalidation", "*")
    assert not may(template, CATALOGUE, "cloudfront:UpdateDistribution", arn)
    for handler in HANDLERS:
        if handler != CATALOGUE:
            assert not may(template, handler, "cloudfront:CreateInvalidation", arn), handler
    variables = function(template, CATALOGUE)["Properties"]["Environment"]["Variables"]
    assert variables["DISTRIBUTION_ID"] == {"Ref": distribution_id}


def test_uploads_know_the_public_host_for_their_location(template: Template) -> None:
    distribution_id, _ = distribution(template)
    variables = function(template, UPLOAD)["Properties"]["Environment"]["Variables"]
    assert variables["PUBLIC_HOST"] == {"Fn::GetAtt": [distribution_id, "DomainName"]}
    assert function_id(template, UPLOAD)
