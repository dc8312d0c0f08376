"""Accounts in the template: the user pool, the gallery's client and its domain, which route
API Gateway guards how (per `accounts` setting), the optional authorizer's function (no
permissions at all), the owner index, and a stage without accounts left as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from image_service.contract import OWNER_INDEX, catalogue_keys

from stacks import site
from stacks.settings import Settings
from tests.infra.conftest import cdk_json_context, template_json, variant
from tests.infra.policies import allowed_statements, function_id
from tests.infra.test_delivery import behaviors, distribution
from tests.infra.test_template import HANDLERS, TABLE, _routes, function, resource

AUTHORIZER = "image_service.authorizer.handler"
USER_POOL = "AccountsUserPool6BF6C5FA"  # stateful: a new id would be a new pool, its users lost
NONE, OPTIONAL, PERSON = "none", "optional", "user pool"


def template_of(templates: dict[str, Template], name: str) -> Template:
    return templates[name] if name in templates else variant(name)


def guards(template: Template) -> dict[tuple[str, str], str]:
    """Each route and what API Gateway checks before its function runs."""
    authorizers = template.find_resources("AWS::ApiGateway::Authorizer")
    found = {}
    for route, method in _routes(template).items():
        kind = method.get("AuthorizationType", "NONE")
        if kind == "NONE":
            found[route] = NONE
            continue
        authorizer = authorizers[method["AuthorizerId"]["Ref"]]["Properties"]
        found[route] = {
            ("CUSTOM", "REQUEST"): OPTIONAL,
            ("COGNITO_USER_POOLS", "COGNITO_USER_POOLS"): PERSON,
        }[(kind, authorizer["Type"])]
    return found


WRITES = [("POST", "/upload"), ("POST", "/uploads"), ("DELETE", "/images/{id}")]
A_PERSONS = [("PATCH", "/images/{id}"), ("GET", "/me/images")]
READS = [
    ("GET", "/images"),
    ("GET", "/images/{id}"),
    ("GET", "/download/{name}"),
    ("GET", "/download-thumbnail/{name}"),
]
METHOD_TABLE = {
    # accounts: off. No authorizer anywhere, no route of a person's.
    "dev-accounts-off": dict.fromkeys(WRITES + READS, NONE),
    # optional (dev): a token where there is one; a person for their own routes.
    "dev": {**dict.fromkeys(WRITES + READS, OPTIONAL), **dict.fromkeys(A_PERSONS, PERSON)},
    # required (prod): every write needs a person; the feed and public downloads stay open.
    "prod": {
        **dict.fromkeys(WRITES + A_PERSONS, PERSON),
        **dict.fromkeys(READS, OPTIONAL),
    },
}


@pytest.mark.parametrize("name", list(METHOD_TABLE))
def test_each_route_is_guarded_as_the_stages_accounts_setting_says(
    templates: dict[str, Template], name: str
) -> None:
    assert guards(template_of(templates, name)) == METHOD_TABLE[name]


def test_an_api_key_and_accounts_are_checked_together() -> None:
    keyed = variant("prod-api-key")
    assert guards(keyed) == METHOD_TABLE["prod"]
    assert {m.get("ApiKeyRequired") for m in _routes(keyed).values()} == {True}


def test_the_optional_authorizer_has_no_identity_source_and_keeps_no_verdict(
    template: Template,
) -> None:
    """With an identity source API Gateway itself answers 401 when the header is missing,
    before the authorizer could let an anonymous request through."""
    (optional,) = template.find_resources(
        "AWS::ApiGateway::Authorizer", {"Properties": {"Type": "REQUEST"}}
    ).values()
    assert optional["Properties"].get("IdentitySource", "") == ""
    assert optional["Properties"]["AuthorizerResultTtlInSeconds"] == 0
    assert function_id(template, AUTHORIZER) in json.dumps(optional["Properties"]["AuthorizerUri"])


def test_the_user_pool_authorizer_takes_id_tokens_of_this_pool_fresh(template: Template) -> None:
    (person,) = template.find_resources(
        "AWS::ApiGateway::Authorizer", {"Properties": {"Type": "COGNITO_USER_POOLS"}}
    ).values()
    properties = person["Properties"]
    assert properties["ProviderARNs"] == [{"Fn::GetAtt": [USER_POOL, "Arn"]}]
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    # A cached verdict would outlive the token it was made for.
    assert properties["AuthorizerResultTtlInSeconds"] == 0
    # No scopes: API Gateway then takes ID tokens (and refuses access tokens).
    for method in _routes(template).values():
        assert "AuthorizationScopes" not in method


def test_the_optional_authorizer_checks_tokens_against_this_pool_and_client(
    template: Template,
) -> None:
    properties = function(template, AUTHORIZER)["Properties"]
    variables = properties["Environment"]["Variables"]
    issuer = {
        "Fn::Join": [
            "",
            [
                "https://cognito-idp.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/",
                {"Ref": USER_POOL},
            ],
        ]
    }
    assert variables["TOKEN_ISSUER"] == issuer
    jwks = variables["JWKS_URL"]["Fn::Join"]
    assert jwks[1][:-1] == issuer["Fn::Join"][1]
    assert jwks[1][-1] == "/.well-known/jwks.json"
    (client,) = template.find_resources("AWS::Cognito::UserPoolClient")
    assert variables["TOKEN_AUDIENCE"] == {"Ref": client}
    assert properties["Timeout"] < 29  # API Gateway gives up on an authorizer too
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    descriptions = sorted(
        layers[ref["Ref"]]["Properties"]["Description"] for ref in properties["Layers"]
    )
    assert descriptions[0].startswith("Powertools")
    assert descriptions[1].startswith("PyJWT and cryptography")


def test_the_optional_authorizer_may_do_nothing_in_aws(template: Template) -> None:
    """It verifies signatures with public keys: no grant, no policy, only its own logs (the
    managed basic-execution policy) and API Gateway's permission to invoke it."""
    assert allowed_statements(template, AUTHORIZER) == []
    role = resource(template, function(template, AUTHORIZER)["Properties"]["Role"]["Fn::GetAtt"][0])
    (managed,) = role["Properties"]["ManagedPolicyArns"]
    assert "AWSLambdaBasicExecutionRole" in json.dumps(managed)
    permissions = [
        p["Properties"]
        for p in template.find_resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"]
        == {"Fn::GetAtt": [function_id(template, AUTHORIZER), "Arn"]}
    ]
    assert [p["Principal"] for p in permissions] == ["apigateway.amazonaws.com"]
    assert "authorizers/" in json.dumps(permissions[0]["SourceArn"])


def test_the_user_pool_signs_in_by_verified_email_and_sign_up_follows_the_stage(
    templates: dict[str, Template],
) -> None:
    for stage, open_sign_up, kept in (("dev", True, False), ("prod", False, True)):
        pool = resource(templates[stage], USER_POOL)
        properties = pool["Properties"]
        assert properties["UsernameAttributes"] == ["email"]
        assert properties["UsernameConfiguration"] == {"CaseSensitive": False}
        assert properties["AutoVerifiedAttributes"] == ["email"]
        assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is not open_sign_up
        assert properties["AccountRecoverySetting"] == {
            "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
        }
        assert properties["UserPoolTier"] == "LITE"
        assert properties["MfaConfiguration"] == "OFF"
        policy = properties["Policies"]["PasswordPolicy"]
        assert policy["MinimumLength"] >= 8
        # Accounts are kept with the stage's data.
        assert pool["DeletionPolicy"] == ("Retain" if kept else "Delete")
        assert properties["DeletionProtection"] == ("ACTIVE" if kept else "INACTIVE")


def test_the_gallery_client_is_public_and_returns_only_to_the_site(template: Template) -> None:
    ((_, client),) = template.find_resources("AWS::Cognito::UserPoolClient").items()
    properties = client["Properties"]
    assert properties["GenerateSecret"] is False
    assert properties["AllowedOAuthFlows"] == ["code"]  # with PKCE; never the implicit grant
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert properties["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert properties["SupportedIdentityProviders"] == ["COGNITO"]
    assert properties["PreventUserExistenceErrors"] == "ENABLED"
    distribution_id, _ = distribution(template)
    site_url = {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]
    }
    assert properties["CallbackURLs"] == properties["LogoutURLs"] == [site_url]
    units = properties["TokenValidityUnits"]
    assert (properties["IdTokenValidity"], units["IdToken"]) == (60, "minutes")
    assert (properties["RefreshTokenValidity"], units["RefreshToken"]) == (30 * 24 * 60, "minutes")


def test_the_sign_in_pages_are_on_a_cognito_domain_unique_to_the_stack(
    template: Template,
) -> None:
    ((_, domain),) = template.find_resources("AWS::Cognito::UserPoolDomain").items()
    properties = domain["Properties"]
    assert properties["UserPoolId"] == {"Ref": USER_POOL}
    assert properties["ManagedLoginVersion"] == 1  # the classic hosted UI
    assert properties["Domain"] == {
        "Fn::Join": [
            "-",
            ["photos", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}],
        ]
    }


def test_the_owner_index_is_sparse_newest_first_and_holds_no_token_hash(
    template: Template,
) -> None:
    indexes = resource(template, TABLE)["Properties"]["GlobalSecondaryIndexes"]
    (index,) = [i for i in indexes if i["IndexName"] == OWNER_INDEX]
    assert index["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    projected = set(index["Projection"]["NonKeyAttributes"])
    assert {"name", "status", "renditions", "visibility"} <= projected
    assert "delete_token_hash" not in projected


def test_refused_tokens_page_nobody_but_a_failing_authorizer_does(template: Template) -> None:
    """Every refused token is an error of the authorizer's (API Gateway's contract), so its
    Errors would page on expired tokens; its crashes and timeouts answer 500, which the API's
    5xx alarm counts."""
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in template.find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "Errors"}}
        ).values()
    }
    assert function_id(template, AUTHORIZER) not in alarmed
    assert alarmed == {function_id(template, handler) for handler in HANDLERS}
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmDescription": _starts("More than 5% of API answers")}
    )


def _starts(text: str) -> Any:
    from aws_cdk.assertions import Match

    return Match.string_like_regexp(f"^{text}")


def test_no_resource_depends_on_itself_through_others(template: Template) -> None:
    """The client names the distribution, the distribution the API, the API's methods the
    authorizers, whose function names the client: a cycle CloudFormation would refuse, were
    the distribution built from anything but the API's id."""
    resources = template_json(template)["Resources"]

    def references(value: Any) -> set[str]:
        if isinstance(value, dict):
            if "Ref" in value and value["Ref"] in resources:
                return {value["Ref"]}
            if "Fn::GetAtt" in value:
                return {value["Fn::GetAtt"][0]}
            return set().union(*(references(v) for v in value.values())) if value else set()
        if isinstance(value, list):
            return set().union(*(references(v) for v in value)) if value else set()
        return set()

    edges = {
        logical_id: references(found.get("Properties", {}))
        | set(found.get("DependsOn", []) if isinstance(found.get("DependsOn"), list) else [])
        | ({found["DependsOn"]} if isinstance(found.get("DependsOn"), str) else set())
        for logical_id, found in resources.items()
    }
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            raise AssertionError(" -> ".join((*path, node)))
        if node in done:
            return
        for target in edges.get(node, ()):
            visit(target, (*path, node))
        done.add(node)

    for logical_id in resources:
        visit(logical_id, ())


# --- a stage without accounts ----------------------------------------------------------------


def test_without_accounts_there_is_no_pool_no_authorizer_and_no_owner_index() -> None:
    off = variant("dev-accounts-off")
    for kind in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::ApiGateway::Authorizer",
    ):
        off.resource_count_is(kind, 0)
    handlers = {
        f["Properties"].get("Handler") for f in off.find_resources("AWS::Lambda::Function").values()
    }
    assert AUTHORIZER not in handlers
    layers = [
        layer["Properties"]["Description"]
        for layer in off.find_resources("AWS::Lambda::LayerVersion").values()
    ]
    assert not any("PyJWT" in description for description in layers)
    table = resource(off, TABLE)["Properties"]
    assert (
        table["GlobalSecondaryIndexes"]
        == catalogue_keys(owner_index=False)["GlobalSecondaryIndexes"]
    )
    assert "/me/*" not in behaviors(off)
    assert not any(
        name.startswith(("UserPool", "SignIn", "Authorizer")) for name in off.find_outputs("*")
    )


def test_without_accounts_the_page_is_told_so() -> None:
    settings = Settings.from_context(
        "dev", {**cdk_json_context()["stages"]["dev"], "accounts": "off"}
    )
    assert site.page_config(settings)["accounts"] == {"mode": "off"}
