"""The gallery page: what the stack deploys to the site bucket, what a deployment invalidates,
and the page's own files (small, no inline code, nowhere the API's routes are)."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template
from image_service.contract import ORIGINAL_PATH, THUMBNAIL_PATH

from local_runner.template import Assembly
from stacks import site
from stacks.settings import Settings
from tests.infra.conftest import cdk_json_context, synthesized_assembly
from tests.infra.test_delivery import behaviors, distribution
from tests.infra.test_template import SITE_BUCKET, resource

WEB = Path(__file__).resolve().parents[2] / "web"
PAGE_BUDGET_BYTES = 60_000


def deployment(template: Template) -> dict[str, Any]:
    (found,) = template.find_resources("Custom::CDKBucketDeployment").values()
    properties: dict[str, Any] = found["Properties"]
    return properties


def settings(stage: str) -> Settings:
    return Settings.from_context(stage, cdk_json_context()["stages"][stage])


def deployed_sources(stage: str) -> list[Path]:
    """The asset folders the deployment copies, in order, from the synthesized assembly."""
    assembly = Assembly.load(synthesized_assembly(stage))
    (found,) = [
        r
        for r in assembly.template["Resources"].values()
        if r["Type"] == "Custom::CDKBucketDeployment"
    ]
    return [assembly.asset_paths[key] for key in found["Properties"]["SourceObjectKeys"]]


def test_the_page_and_its_config_are_deployed_to_the_site_bucket(
    template: Template, stage: str
) -> None:
    properties = deployment(template)
    assert properties["DestinationBucketName"] == {"Ref": SITE_BUCKET}
    assert "DestinationBucketKeyPrefix" not in properties
    assert properties["Prune"] is True  # a file removed from web/ leaves the site
    web, config = deployed_sources(stage)
    assert sorted(p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file()) == sorted(
        p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()
    )
    assert [p.name for p in config.iterdir()] == ["config.json"]


def deployed_config(template: Template, stage: str) -> dict[str, Any]:
    """config.json as the deployment writes it: each deploy-time value CDK left as a marker
    replaced by the value the template gives it there (resolved here to `<Ref X>`)."""
    _, config = deployed_sources(stage)
    text = (config / "config.json").read_text()
    markers = deployment(template).get("SourceMarkers", [{}, {}])[1]
    for marker, value in markers.items():
        # A JSON string, built with Fn::Join around the references.
        parts = value["Fn::Join"][1]
        rendered = "".join(
            part if isinstance(part, str) else f"<Ref {part['Ref']}>" for part in parts
        )
        text = text.replace(marker, rendered)
    found: dict[str, Any] = json.loads(text)
    return found


def test_the_config_tells_the_page_its_stage(template: Template, stage: str) -> None:
    found = deployed_config(template, stage)
    expected = settings(stage)
    client = next(iter(template.find_resources("AWS::Cognito::UserPoolClient")))
    domain = next(iter(template.find_resources("AWS::Cognito::UserPoolDomain")))
    assert found == site.page_config(
        expected,
        client_id=f"<Ref {client}>",
        sign_in_url=f"https://<Ref {domain}>.auth.<Ref AWS::Region>.amazoncognito.com",
    )
    # Where the page signs in, as the stage's accounts setting says.
    assert found["accounts"] == {
        "mode": expected.accounts,
        "signUp": expected.sign_up == "open",
        "clientId": f"<Ref {client}>",
        "signInUrl": f"https://<Ref {domain}>.auth.<Ref AWS::Region>.amazoncognito.com",
    }
    assert found["apiKeyRequired"] is expected.api_key_required
    assert found["maxUploadBytes"] == expected.max_upload_bytes
    assert found["maxDirectUploadBytes"] == expected.max_direct_upload_bytes
    assert set(found["renditions"]) == {r.name for r in expected.renditions}


def test_browsers_revalidate_the_page_and_the_edge_keeps_it_until_the_next_deploy(
    template: Template,
) -> None:
    cache_control = deployment(template)["SystemMetadata"]["cache-control"]
    assert cache_control == "public, max-age=0, must-revalidate, s-maxage=86400"


def test_a_deploy_invalidates_the_page_and_never_an_image(template: Template) -> None:
    properties = deployment(template)
    logical_id, _ = distribution(template)
    assert properties["DistributionId"] == {"Ref": logical_id}
    paths = properties["DistributionPaths"]
    assert {"/", "/index.html", "/config.json", "/js/*", "/css/*"} <= set(paths)
    api_patterns = [p for p in behaviors(template) if p != "*"]
    for path in paths:
        for pattern in api_patterns:
            assert not fnmatchcase(path.rstrip("*") + "x", pattern), (path, pattern)
    assert not any(p.startswith((ORIGINAL_PATH, THUMBNAIL_PATH)) for p in paths)


def test_no_page_file_is_where_the_distribution_sends_the_api(template: Template) -> None:
    api_patterns = [p for p in behaviors(template) if p != "*"]
    for path in WEB.rglob("*"):
        url = "/" + path.relative_to(WEB).as_posix()
        assert not any(fnmatchcase(url, pattern) for pattern in api_patterns), url
    assert not (WEB / site.CONFIG).exists()  # the deployment writes it


def test_the_deployment_may_write_the_site_bucket_only(template: Template) -> None:
    role = deployment_role(template)
    policies = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    written = json.dumps(
        [
            s
            for p in policies
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if any(a.startswith(("s3:Put", "s3:Delete")) for a in s["Action"])
        ]
    )
    assert SITE_BUCKET in written
    assert "StorageImages" not in written


def deployment_role(template: Template) -> str:
    (token,) = [deployment(template)["ServiceToken"]["Fn::GetAtt"][0]]
    function = resource(template, token)
    role: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert function["Properties"]["LoggingConfig"]["LogGroup"]
    return role


def test_the_deployment_logs_are_kept_a_month(template: Template) -> None:
    function = resource(template, deployment(template)["ServiceToken"]["Fn::GetAtt"][0])
    group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert resource(template, group)["Properties"]["RetentionInDays"] == 30


# --- the page's own files ---------------------------------------------------------------------


class _Inline(HTMLParser):
    """Whatever in an HTML page a strict CSP (script-src and style-src 'self') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.blocked.append("inline <script>")
        if tag == "style":
            self.blocked.append("<style>")
        self.blocked += [
            f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")
        ]
        for name, value in attrs:
            if name in ("href", "src") and value and re.match(r"\s*(javascript|data):", value):
                self.blocked.append(f"{name}={value[:20]}")


def test_the_page_has_no_inline_code_a_strict_csp_would_block() -> None:
    parser = _Inline()
    parser.feed((WEB / "index.html").read_text())
    assert parser.blocked == []


def test_values_reach_the_page_as_text_never_as_markup() -> None:
    for script in (WEB / "js").glob("*.js"):
        code = script.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in code, f"{script.name} uses {sink}"


def test_the_page_is_light(stage: str) -> None:
    """Every file the page loads, its config included, uncompressed."""
    _, config = deployed_sources(stage)
    weight = sum(
        p.stat().st_size for folder in (WEB, config) for p in folder.rglob("*") if p.is_file()
    )
    assert weight < PAGE_BUDGET_BYTES, f"the page's files are {weight} bytes"
