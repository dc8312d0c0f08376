"""The runner serves the site as the stack deploys it: the bucket deployment's files, the
deployment's Cache-Control, the distribution's security headers pointed at the local bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_runner.apigw import ApiServer
from local_runner.site import Site, deployed_files, load_site, local_csp, with_local_origin
from local_runner.template import LocalAws, Service, SiteDeployment, TemplateError
from tests.local_runner.conftest import LOCAL
from tests.local_runner.test_apigw import allow

WEB = Path(__file__).resolve().parents[2] / "web"


@pytest.fixture(scope="module")
def dev_site(dev_service: Service) -> Site:
    found = load_site(dev_service, LOCAL)
    assert found is not None
    return found


def test_the_dev_stage_deploys_the_page_and_its_config_to_the_site_bucket(
    dev_service: Service,
) -> None:
    (deployment,) = dev_service.sites
    (site_bucket,) = [b for b in dev_service.buckets if b.logical_id.startswith("DeliverySite")]
    assert deployment.bucket == site_bucket.name
    assert dev_service.site_edge is not None
    assert dev_service.site_edge.bucket == site_bucket.name
    assert dev_service.site_edge.root_object == "index.html"
    # Its provider function never runs locally.
    assert all(not f.handler.startswith("index.") for f in dev_service.functions.values())


def test_the_files_are_those_of_web_plus_the_generated_config(dev_site: Site) -> None:
    web = {p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()}
    assert set(dev_site.files) == web | {"config.json"}
    for name in web:
        assert dev_site.files[name].body == (WEB / name).read_bytes()
    config = json.loads(dev_site.files["config.json"].body)
    assert config["stage"] == "dev"
    assert config["apiKeyRequired"] is False


def test_answers_carry_type_cache_control_etag_and_the_local_csp(dev_site: Site) -> None:
    page = dev_site.reply("GET", "/", [])
    assert page is not None
    assert page.status == 200
    headers = dict(page.headers)
    assert headers["Content-Type"] == "text/html"
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=86400"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert f"connect-src 'self' {LOCAL.endpoint};" in csp
    assert "amazonaws.com" not in csp
    assert "upgrade-insecure-requests" not in csp
    assert page.body == (WEB / "index.html").read_bytes()
    script = dev_site.reply("GET", "/js/main.js?v=1", [])
    assert script is not None
    assert dict(script.headers)["Content-Type"] in ("text/javascript", "application/javascript")
    assert dict(dev_site.reply("GET", "/css/gallery.css", []).headers)["Content-Type"] == "text/css"  # type: ignore[union-attr]


def test_a_revalidation_of_an_unchanged_file_is_304(dev_site: Site) -> None:
    first = dev_site.reply("HEAD", "/index.html", [])
    assert first is not None
    etag = dict(first.headers)["ETag"]
    again = dev_site.reply("GET", "/index.html", [("If-None-Match", etag)])
    assert again is not None
    assert (again.status, again.body) == (304, b"")
    changed = dev_site.reply("GET", "/index.html", [("If-None-Match", '"other"')])
    assert changed is not None
    assert changed.status == 200


def test_only_files_of_the_site_are_answered(dev_site: Site) -> None:
    assert dev_site.reply("GET", "/nothing.html", []) is None
    assert dev_site.reply("GET", "/js/", []) is None  # no index document below the root
    assert dev_site.reply("POST", "/index.html", []) is None


def test_api_routes_take_precedence_over_the_site(dev_service: Service, dev_site: Site) -> None:
    (api,) = dev_service.apis
    calls: list[str] = []

    def invoke(function: str, event: Any, timeout: float) -> object:
        if event.get("type") == "REQUEST":  # the route's authorizer
            return allow(event)
        calls.append(function)
        return {"statusCode": 200, "body": "{}"}

    server = ApiServer(0, api, invoke, site=dev_site)
    try:
        assert server.respond("GET", "/", [], b"", "127.0.0.1").status == 200
        assert calls == []
        assert server.respond("GET", "/images", [], b"", "127.0.0.1").status == 200
        assert len(calls) == 1
        missing = server.respond("GET", "/nothing.html", [], b"", "127.0.0.1")
        assert (missing.status, json.loads(missing.body)) == (404, {"message": "Not Found"})
    finally:
        server.server_close()


def test_markers_get_their_deploy_time_values(tmp_path: Path) -> None:
    source = tmp_path / "asset"
    source.mkdir()
    (source / "config.json").write_text('{"api": "<<marker:0xbaba:0>>"}')
    deployment = SiteDeployment(
        logical_id="Site",
        bucket="site",
        key_prefix="app/",
        sources=(source,),
        markers=({"<<marker:0xbaba:0>>": 'https://x.example/"v1"'},),
        json_escape=(True,),
        metadata={},
    )
    files = deployed_files(deployment)
    assert json.loads(files["app/config.json"].body) == {"api": 'https://x.example/"v1"'}
    assert files["app/config.json"].content_type == "application/json"


def test_the_local_csp_names_the_emulator_instead_of_s3() -> None:
    local = LocalAws(endpoint="http://127.0.0.1:5000")
    csp = local_csp(
        "default-src 'self'; img-src 'self' blob: https://b.s3.amazonaws.com"
        " https://b.s3.us-east-1.amazonaws.com; upgrade-insecure-requests",
        ["b"],
        local,
    )
    assert csp == "default-src 'self'; img-src 'self' blob: http://127.0.0.1:5000"


def test_deployments_to_two_buckets_are_refused(
    dev_service: Service,
) -> None:
    (deployment,) = dev_service.sites
    other = SiteDeployment(**{**deployment.__dict__, "logical_id": "Other", "bucket": "elsewhere"})
    service = Service(**{**dev_service.__dict__, "sites": (deployment, other)})
    with pytest.raises(TemplateError, match="one site"):
        load_site(service, LOCAL)


def test_the_page_config_names_the_local_client_and_the_sign_in_stand_in(
    fixture_service: Service,
) -> None:
    """config.json's clientId is the client's Ref (the id moto gave it) and its signInUrl,
    the domain's address in AWS, becomes the stand-in's."""
    (domain,) = fixture_service.user_pool_domains
    site = load_site(fixture_service, LOCAL, {domain.base_url: "http://127.0.0.1:5000"})
    assert site is not None
    config = json.loads(site.files["config.json"].body)
    assert config["accounts"] == {
        "mode": "optional",
        "signUp": True,
        "clientId": fixture_service.user_pool_clients[0].client_id,
        "signInUrl": "http://127.0.0.1:5000",
    }
    as_deployed = load_site(fixture_service, LOCAL)
    assert as_deployed is not None
    assert json.loads(as_deployed.files["config.json"].body)["accounts"]["signInUrl"] == (
        "https://fixture-gallery.auth.us-east-1.amazoncognito.com"
    )


def test_the_local_csp_names_the_sign_in_stand_in_for_the_cognito_domain() -> None:
    local = LocalAws(endpoint="http://127.0.0.1:5000")
    domain = "https://g.auth.us-east-1.amazoncognito.com"
    csp = local_csp(
        f"connect-src 'self' {domain}; form-action 'self' {domain}/oauth2/authorize",
        [],
        local,
        {domain: "http://127.0.0.1:6000"},
    )
    assert csp == (
        "connect-src 'self' http://127.0.0.1:6000;"
        " form-action 'self' http://127.0.0.1:6000/oauth2/authorize"
    )
    assert with_local_origin(f"{domain}.evil.example", {domain: "x"}) == f"{domain}.evil.example"
