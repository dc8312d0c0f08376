"""The distribution: one host name for the site and the API, images cached at the edge.

The default behaviour serves the site bucket through Origin Access Control. The API's routes
go to the REST API, its stage path hidden: the downloads cached as their `Cache-Control`
says, every other route uncached with every viewer header but `Host`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnRule, CfnRuleAssertion, Duration, Fn, Names, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from image_service.contract import (
    EDGE_HEADER,
    EDGE_HEADER_VALUE,
    ORIGINAL_PATH,
    THUMBNAIL_PATH,
    THUMBNAIL_QUERY,
)

from stacks.acknowledgements import acknowledge, skip_checkov
from stacks.settings import CLOUDFRONT_REGION, Settings

EDGE_FUNCTIONS = Path(__file__).resolve().parent / "edge"
PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}
# The REST API's routes that are never cached. `/uploads` (direct uploads' tickets) is routed
# already, so the route needs no change to the distribution when it exists.
UNCACHED_API_PATHS = ("/upload", "/uploads", "/images", "/images/*")
# A signed-in person's own routes, where the stage has accounts.
ACCOUNT_API_PATHS = ("/me/*",)
# How long an edge keeps an image at most, whatever its Cache-Control says: the backstop for
# an invalidation that did not happen (a deletion that failed half-way and was never retried).
# Popular images are fetched again once a day per regional edge cache: a few requests.
EDGE_TTL = Duration.days(1)
# Where every route needs an API key: a key taken out of the usage plan stops getting kept
# images within the hour (at once with an invalidation of /*).
KEYED_EDGE_TTL = Duration.hours(1)
# Errors CloudFront would otherwise keep for 10 s on its own, whatever the origin said (it
# honours no-store only on 404, 410, 414 and 501): with 0, only the origin's Cache-Control
# decides, so a 503 from a storage hiccup or API Gateway's 403 for a missing key is never
# served to anyone else.
ERRORS_NOT_KEPT = (400, 403, 404, 405, 414, 500, 501, 502, 503, 504)
HSTS_MAX_AGE = Duration.days(730)
# WAF: requests per IP in any 5 minutes before it blocks; a feed page is about 31 requests.
WAF_REQUESTS_PER_5_MINUTES = 2000
# Direct-upload tickets per IP in any 5 minutes: each holds a record for a day and is worth
# 50 MB in incoming/ (docs/SCALING.md, "A flood of tickets"); 100 is a card of photos at once.
WAF_TICKETS_PER_5_MINUTES = 100
TICKETS_PATH = "/uploads"
# The common rule set's rules that read the body: an upload is image bytes (up to 4.5 MB),
# which the size rule would block outright and the pattern rules could match by chance.
WAF_BODY_RULES_COUNTED = (
    "SizeRestrictions_BODY",
    "CrossSiteScripting_BODY",
    "GenericLFI_BODY",
    "GenericRFI_BODY",
    "EC2MetaDataSSRF_BODY",
)


class Delivery(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        rest_api: apigw.IRestApi,
        images: s3.IBucket,
        access_logs: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        stack = Stack.of(self)
        self.site_bucket = s3.Bucket(
            self,
            "Site",
            **_private_bucket(settings),
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="site/",
        )
        # CloudFront's standard log delivery writes through a grant that CloudFront adds to the
        # bucket's ACL: that needs ACLs, which the other buckets have off (BucketOwnerEnforced).
        # So a bucket of their own, holding nothing else, where only the log delivery writes.
        self.log_bucket = s3.Bucket(
            self,
            "Logs",
            **_private_bucket(settings),
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        )

        # The API's own host and stage, not `rest_api.url`: that names the stage resource,
        # which depends on every method and so on the functions, whose environment names this
        # distribution.
        api_origin = origins.HttpOrigin(
            f"{rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            origin_path=f"/{settings.stage}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={EDGE_HEADER: EDGE_HEADER_VALUE},
        )
        api_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "ApiHeaders",
            response_headers_policy_name=self._policy_name("ApiHeaders"),
            comment="HSTS, nosniff and the referrer policy on every API answer",
            security_headers_behavior=_security_headers(),
        )
        uncached = cloudfront.BehaviorOptions(
            origin=api_origin,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=api_headers,
            # Bodies and keys: a client configured with http:// fails instead of being
            # redirected (a redirected POST arrives as a GET, without its body).
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        )

        # What changes a download: the path; the size and format of a thumbnail, and the
        # Accept header once a function has reduced it to the one type that can change it;
        # the Origin, which decides the CORS headers; the API key where a stage needs one, so
        # that a request without the same key never gets a kept copy; the token where there
        # are accounts: CloudFront passes Authorization on only when it is in the cache key,
        # and a request without one shares the one public copy.
        shared_headers = [
            *(["Origin"] if settings.cors_origins else []),
            *(["X-Api-Key"] if settings.api_key_required else []),
            *(["Authorization"] if settings.has_accounts else []),
        ]
        edge_ttl = KEYED_EDGE_TTL if settings.api_key_required else EDGE_TTL
        self.originals_cache = self._download_cache(
            "OriginalsCache", "Originals", edge_ttl, shared_headers, ()
        )
        self.thumbnails_cache = self._download_cache(
            "ThumbnailsCache", "Thumbnails", edge_ttl, ["Accept", *shared_headers], THUMBNAIL_QUERY
        )
        thumbnail_request = self._edge_function(
            "ThumbnailRequest",
            "thumbnail_request.js",
            "Reduces Accept to image/webp or nothing before the cache key",
        )
        private_response = (
            self._edge_function(
                "PrivateResponse",
                "private_response.js",
                "Images kept here under the API key are private to every later cache",
            )
            if settings.api_key_required
            else None
        )

        def download(
            cache: cloudfront.ICachePolicy, request: cloudfront.IFunction | None
        ) -> cloudfront.BehaviorOptions:
            functions = [
                cloudfront.FunctionAssociation(function=function, event_type=event_type)
                for function, event_type in (
                    (request, cloudfront.FunctionEventType.VIEWER_REQUEST),
                    (private_response, cloudfront.FunctionEventType.VIEWER_RESPONSE),
                )
                if function is not None
            ]
            return cloudfront.BehaviorOptions(
                origin=api_origin,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache,
                response_headers_policy=api_headers,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                compress=False,  # images are compressed already
                function_associations=functions or None,
            )

        behaviors = {
            path: uncached
            for path in (*UNCACHED_API_PATHS, *(ACCOUNT_API_PATHS if settings.has_accounts else ()))
        }
        behaviors[f"{ORIGINAL_PATH}*"] = download(self.originals_cache, None)
        behaviors[f"{THUMBNAIL_PATH}*"] = download(self.thumbnails_cache, thumbnail_request)

        site = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(self.site_bucket),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            response_headers_policy=cloudfront.ResponseHeadersPolicy(
                self,
                "SiteHeaders",
                response_headers_policy_name=self._policy_name("SiteHeaders"),
                comment="The site's strict CSP, HSTS, nosniff, referrer policy, no framing",
                security_headers_behavior=_security_headers(site_csp(images)),
            ),
        )
        self.web_acl = _web_acl(self, settings) if settings.waf else None
        custom_domain = settings.domain_name is not None and settings.certificate_arn is not None
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Image service ({settings.stage})",
            default_behavior=site,
            additional_behaviors=behaviors,
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=PRICE_CLASSES[settings.price_class],
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="distribution/",
            error_responses=[
                cloudfront.ErrorResponse(http_status=status, ttl=Duration.seconds(0))
                for status in ERRORS_NOT_KEPT
            ],
            domain_names=[settings.domain_name] if settings.domain_name else None,
            certificate=acm.Certificate.from_certificate_arn(
                self, "Certificate", settings.certificate_arn
            )
            if settings.certificate_arn
            else None,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021
            if custom_domain
            else None,
            web_acl_id=self.web_acl.attr_arn if self.web_acl else None,
        )
        # Where clients reach the service: the custom name, or the one CloudFront gives.
        self.public_host: str = settings.domain_name or self.distribution.distribution_domain_name
        self.url = f"https://{self.public_host}"
        self._accept_findings(settings, custom_domain)

    def _policy_name(self, id: str) -> str:
        """Response headers policies are named per account, not per region (CDK's default
        name would clash between two regions' copies of a stack): the region is in it."""
        return f"{Names.unique_id(self)}{id}-{Stack.of(self).region}"

    def _edge_function(self, id: str, file: str, comment: str) -> cloudfront.Function:
        """A CloudFront Function from `stacks/edge/<file>`."""
        return cloudfront.Function(
            self,
            id,
            code=cloudfront.FunctionCode.from_file(file_path=str(EDGE_FUNCTIONS / file)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment=comment,
        )

    def _download_cache(
        self,
        id: str,
        what: str,
        edge_ttl: Duration,
        headers: list[str],
        query: tuple[str, ...],
    ) -> cloudfront.CachePolicy:
        """Kept as the origin's Cache-Control says: min and default TTL 0, so `no-store` and
        `private` are honoured and an answer without Cache-Control is not kept at all."""
        return cloudfront.CachePolicy(
            self,
            id,
            comment=f"{what}: as their Cache-Control says, at most {edge_ttl.to_human_string()}",
            min_ttl=Duration.seconds(0),
            default_ttl=Duration.seconds(0),
            max_ttl=edge_ttl,
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list(*headers)
            if headers
            else cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list(*query)
            if query
            else cloudfront.CacheQueryStringBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=False,
            enable_accept_encoding_brotli=False,
        )

    def _accept_findings(self, settings: Settings, custom_domain: bool) -> None:
        findings = {
            "AwsSolutions-CFR1": "No geo restriction: an image service for anyone, anywhere; "
            "nothing it holds is bound to a country",
        }
        if self.web_acl is None:
            findings["AwsSolutions-CFR2"] = (
                "No WAF unless the stage's `waf` setting asks for one: a web ACL costs $5 a month "
                "plus $1 per rule and $0.60 per million requests; the API's stage throttle and "
                "API keys bound abuse"
            )
        if not custom_domain:
            findings["AwsSolutions-CFR4"] = (
                "The cloudfront.net name's default certificate cannot set a minimum TLS version "
                "(CloudFront then allows TLS 1.0 for old clients); with domainName and "
                "certificateArn the distribution requires TLS 1.2 (TLSv1.2_2021)"
            )
        acknowledge(self.distribution, findings)
        checks: dict[str, str] = {}
        if self.web_acl is None:
            checks["CKV_AWS_68"] = (
                "No WAF unless the stage's `waf` setting asks for one ($5 a month plus rules and "
                "requests); stage throttling and API keys bound abuse"
            )
        if not custom_domain:
            checks["CKV_AWS_174"] = (
                "The default cloudfront.net certificate cannot set a minimum TLS version; "
                "domainName and certificateArn switch the distribution to TLSv1.2_2021"
            )
        if checks:
            skip_checkov(self.distribution, checks)
        skip_checkov(
            self.site_bucket,
            {
                "CKV_AWS_21": "Versioning stays off: the site is deployed from the repository's "
                "web/ folder, whose history git keeps",
            },
        )
        skip_checkov(
            self.log_bucket,
            {
                "CKV_AWS_21": "Versioning stays off: only CloudFront's log delivery writes here "
                "and logs expire after 90 days; noncurrent versions would keep them longer",
                "CKV_AWS_18": "This is the distribution's log destination: logging its own "
                "access would log every log delivery, and another log bucket would need one",
            },
        )
        acknowledge(
            self.log_bucket,
            {
                "AwsSolutions-S1": "This is the distribution's log destination: logging its own "
                "access would log every log delivery, and another log bucket would need one",
            },
        )


def _private_bucket(settings: Settings) -> dict[str, Any]:
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "removal_policy": settings.removal,
        "auto_delete_objects": settings.removal == RemovalPolicy.DESTROY,
    }


def site_csp(images: s3.IBucket) -> str:
    """The site's Content-Security-Policy: its own files only, no inline script or style, and
    the images bucket for what the API hands out to go straight to it (presigned uploads and
    the redirects to large originals)."""
    bucket = f"https://{images.bucket_domain_name} https://{images.bucket_regional_domain_name}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' blob: {bucket}",
            f"connect-src 'self' {bucket}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "upgrade-insecure-requests",
        )
    )


def _security_headers(csp: str | None = None) -> cloudfront.ResponseSecurityHeadersBehavior:
    return cloudfront.ResponseSecurityHeadersBehavior(
        # No includeSubDomains: a custom domainName's parent may have hosts without HTTPS.
        strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
            access_control_max_age=HSTS_MAX_AGE, include_subdomains=False, override=True
        ),
        content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
        referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
            referrer_policy=cloudfront.HeadersReferrerPolicy.SAME_ORIGIN, override=True
        ),
        frame_options=cloudfront.ResponseHeadersFrameOptions(
            frame_option=cloudfront.HeadersFrameOption.DENY, override=True
        ),
        content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
            content_security_policy=csp, override=True
        )
        if csp
        else None,
    )


def _tickets_requested() -> wafv2.CfnWebACL.StatementProperty:
    """`POST /uploads`, its path as the API routes it (percent-decoded, dot segments and
    doubled slashes normalized)."""

    def exactly(
        search: str, field: wafv2.CfnWebACL.FieldToMatchProperty, transformations: list[str]
    ) -> wafv2.CfnWebACL.StatementProperty:
        return wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=field,
                positional_constraint="EXACTLY",
                search_string=search,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=index, type=kind)
                    for index, kind in enumerate(transformations)
                ],
            )
        )

    return wafv2.CfnWebACL.StatementProperty(
        and_statement=wafv2.CfnWebACL.AndStatementProperty(
            statements=[
                exactly("POST", wafv2.CfnWebACL.FieldToMatchProperty(method={}), ["NONE"]),
                exactly(
                    TICKETS_PATH,
                    wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    ["URL_DECODE", "NORMALIZE_PATH"],
                ),
            ]
        )
    )


def _web_acl(scope: Construct, settings: Settings) -> wafv2.CfnWebACL:
    """A rate limit per IP, a lower one on direct-upload tickets, and AWS's common rule set,
    in front of everything."""
    stack = Stack.of(scope)
    # A CLOUDFRONT web ACL exists only in us-east-1. app.py refuses another region it knows
    # of; this rule stops a deployment to any other region before anything is created.
    CfnRule(
        scope,
        "WafRegion",
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_equals(stack.region, CLOUDFRONT_REGION),
                assert_description=f"waf: a CloudFront web ACL can only be created in "
                f"{CLOUDFRONT_REGION}; deploy this stage there, or set waf to false",
            )
        ],
    )

    def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        # Metric names carry the stack's: two stages never share a metric.
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=f"{stack.stack_name}-{metric}",
            sampled_requests_enabled=True,
        )

    acl = wafv2.CfnWebACL(
        scope,
        "Firewall",
        scope="CLOUDFRONT",
        description=f"Image service {settings.stage}: rate limits per IP, common rule set",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility("waf"),
        rules=[
            wafv2.CfnWebACL.RuleProperty(
                name="RequestsPerIp",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=WAF_REQUESTS_PER_5_MINUTES,
                        evaluation_window_sec=300,
                    )
                ),
                visibility_config=visibility("requests-per-ip"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="TicketsPerIp",
                priority=1,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=WAF_TICKETS_PER_5_MINUTES,
                        evaluation_window_sec=300,
                        scope_down_statement=_tickets_requested(),
                    )
                ),
                visibility_config=visibility("tickets-per-ip"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="CommonRuleSet",
                priority=2,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name="AWSManagedRulesCommonRuleSet",
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule,
                                action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                            )
                            for rule in WAF_BODY_RULES_COUNTED
                        ],
                    )
                ),
                visibility_config=visibility("common-rule-set"),
            ),
        ],
    )
    skip_checkov(
        acl,
        {
            "CKV_AWS_192": "No Log4j rule group: nothing here runs Java, so a JNDI lookup in a "
            "request has nothing to exploit",
        },
    )
    return acl
